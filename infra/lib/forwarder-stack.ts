// Forwarder stack: deployed in every instance region other than the home region (and in member
// accounts' other regions).
import { CfnParameter, Stack, StackProps } from 'aws-cdk-lib';
import { Construct } from 'constructs';
import { Forwarder, hookNamesParameter } from './forwarder';

export interface ForwarderStackProps extends StackProps {
  /** The home account and region with the hook names, or 'parameters' for the published template. */
  home: { account: string; region: string; hookNames: string[] } | 'parameters';
}

export class ForwarderStack extends Stack {
  constructor(scope: Construct, id: string, props: ForwarderStackProps) {
    super(scope, id, props);
    const home =
      props.home === 'parameters'
        ? {
            account: new CfnParameter(this, 'HomeAccountId', {
              type: 'String',
              allowedPattern: '[0-9]{12}',
              description: 'Account of the cloud-unmap home stack',
            }).valueAsString,
            region: new CfnParameter(this, 'HomeRegion', {
              type: 'String',
              description: 'Region of the cloud-unmap home stack',
            }).valueAsString,
            hookNames: hookNamesParameter(this).valueAsList,
          }
        : props.home;
    new Forwarder(this, 'Forwarder', { homeAccount: home.account, homeRegion: home.region, hookNames: home.hookNames });
  }
}
