// Member-account stack: the read-only role the worker assumes (trusting only the worker's task
// role), and a forwarder of this region's events to the home bus.
import { CfnParameter, Stack, StackProps } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import { taskRoleName } from './config';
import { Forwarder, hookNamesParameter } from './forwarder';
import { acknowledgeWildcards, memberStatements } from './policy';

export interface MemberStackProps extends StackProps {
  /** Home account, home region and reader role name, or 'parameters' for the published template. */
  settings: { homeAccount: string; homeRegion: string; roleName: string; hookNames: string[] } | 'parameters';
}

export class MemberStack extends Stack {
  readonly reader: iam.Role;

  constructor(scope: Construct, id: string, props: MemberStackProps) {
    super(scope, id, props);
    const s =
      props.settings === 'parameters'
        ? {
            homeAccount: new CfnParameter(this, 'HomeAccountId', {
              type: 'String',
              allowedPattern: '[0-9]{12}',
              description: 'Account of the cloud-unmap home stack',
            }).valueAsString,
            homeRegion: new CfnParameter(this, 'HomeRegion', {
              type: 'String',
              description: 'Region of the cloud-unmap home stack',
            }).valueAsString,
            roleName: new CfnParameter(this, 'RoleName', {
              type: 'String',
              default: 'cloud-unmap-reader',
              description: 'Name of the role the worker assumes here',
            }).valueAsString,
            hookNames: hookNamesParameter(this).valueAsList,
          }
        : props.settings;
    const worker = `arn:${this.partition}:iam::${s.homeAccount}:role/${taskRoleName(s.homeRegion)}`;
    this.reader = new iam.Role(this, 'Reader', {
      roleName: s.roleName,
      assumedBy: new iam.ArnPrincipal(worker),
      description: 'Lets cloud-unmap read this account\'s EC2 instances and complete lifecycle actions',
    });
    const policy = new iam.Policy(this, 'ReaderPolicy', { statements: memberStatements() });
    this.reader.attachInlinePolicy(policy);
    acknowledgeWildcards(policy);
    new Forwarder(this, 'Forwarder', { homeAccount: s.homeAccount, homeRegion: s.homeRegion, hookNames: s.hookNames });
  }
}
