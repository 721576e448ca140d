// CloudUnmapMemberRole: the read-only role the worker assumes in a member account, trusting only the
// worker's task role.
import { Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import { acknowledgeWildcards, GroupTag, memberStatements } from './policy';

/** The name of the worker's task role in a home region (fixed, so member accounts can trust it by ARN). */
export function workerRoleName(homeRegion: string): string {
  return `cloud-unmap-task-${homeRegion}`;
}

export interface CloudUnmapMemberRoleProps {
  /** Account of the CloudUnmap construct. */
  readonly homeAccount: string;
  /** Region of the CloudUnmap construct (its task role is `cloud-unmap-task-<region>`). */
  readonly homeRegion: string;
  /** The role's name; IAM names are global, so create it in one region per account. @default 'cloud-unmap-reader' */
  readonly roleName?: string;
  /** Lifecycle actions only on Auto Scaling groups carrying this tag. @default every group */
  readonly lifecycleGroupTag?: GroupTag;
}

/** Lets cloud-unmap read this account's EC2 instances and complete its lifecycle actions. */
export class CloudUnmapMemberRole extends Construct {
  /** The worker's task role name in `homeRegion`, the one principal the member role trusts. */
  static workerRoleName(homeRegion: string): string {
    return workerRoleName(homeRegion);
  }

  readonly role: iam.Role;

  constructor(scope: Construct, id: string, props: CloudUnmapMemberRoleProps) {
    super(scope, id);
    const worker = `arn:${Stack.of(this).partition}:iam::${props.homeAccount}:role/${workerRoleName(props.homeRegion)}`;
    this.role = new iam.Role(this, 'Reader', {
      roleName: props.roleName ?? 'cloud-unmap-reader',
      assumedBy: new iam.ArnPrincipal(worker),
      description: "Lets cloud-unmap read this account's EC2 instances and complete lifecycle actions",
    });
    const policy = new iam.Policy(this, 'ReaderPolicy', { statements: memberStatements(props.lifecycleGroupTag) });
    this.role.attachInlinePolicy(policy);
    acknowledgeWildcards(policy);
  }
}
