// CloudUnmapMemberRole: the read-only role the worker assumes in a member account, trusting only the
// worker's task role: by the home account as principal with an aws:PrincipalArn condition naming the task
// role (IAM keeps a role principal as its unique id, so a recreated task role would no longer be trusted;
// a condition is compared by ARN at each request), and aws:PrincipalOrgID in organization mode.
import { Stack } from 'aws-cdk-lib';
import { acknowledge } from './acknowledge';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import { acknowledgeWildcards, GroupTag, memberStatements, scopedWildcards } from './policy';

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
  /** Organization mode: the worker must also belong to this organization (aws:PrincipalOrgID). @default none */
  readonly organizationId?: string;
}

/** The member role's trust: the home account, only for the worker's task role (by ARN), in the organization. */
export function workerTrust(partition: string, homeAccount: string, homeRegion: string, organizationId?: string): iam.PrincipalBase {
  const worker = `arn:${partition}:iam::${homeAccount}:role/${workerRoleName(homeRegion)}`;
  const conditions: Record<string, unknown> = { ArnEquals: { 'aws:PrincipalArn': worker } };
  if (organizationId !== undefined) conditions.StringEquals = { 'aws:PrincipalOrgID': organizationId };
  return new iam.AccountPrincipal(homeAccount).withConditions(conditions);
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
    this.role = new iam.Role(this, 'Reader', {
      roleName: props.roleName ?? 'cloud-unmap-reader',
      assumedBy: workerTrust(Stack.of(this).partition, props.homeAccount, props.homeRegion, props.organizationId),
      description: "Lets cloud-unmap read this account's EC2 instances and complete lifecycle actions",
    });
    const stack = Stack.of(this);
    const where = { partition: stack.partition, account: stack.account, region: stack.region };
    const policy = new iam.Policy(this, 'ReaderPolicy', { statements: memberStatements(props.lifecycleGroupTag, where) });
    this.role.attachInlinePolicy(policy);
    acknowledgeWildcards(policy, scopedWildcards(where));
  }
}

/** The organization reader role's default name. */
export const ORGANIZATION_READER_ROLE_NAME = 'cloud-unmap-organization-reader';

export interface CloudUnmapOrganizationReaderProps {
  /** Account of the CloudUnmap construct. */
  readonly homeAccount: string;
  /** Region of the CloudUnmap construct. */
  readonly homeRegion: string;
  /** The organization (the worker must belong to it). */
  readonly organizationId: string;
  /** The role's name. @default 'cloud-unmap-organization-reader' */
  readonly roleName?: string;
}

/**
 * Organization mode: lets the worker list the organization's accounts (Organizations' ListAccounts and
 * ListAccountsForParent), so an account added to the organization is covered without a parameter
 * change. Deploy it in the management account or in a delegated administrator (Organizations answers
 * those calls only there), and give its ARN to CloudUnmap's `organizationReaderRoleArn`.
 */
export class CloudUnmapOrganizationReader extends Construct {
  readonly role: iam.Role;

  constructor(scope: Construct, id: string, props: CloudUnmapOrganizationReaderProps) {
    super(scope, id);
    this.role = new iam.Role(this, 'Role', {
      roleName: props.roleName ?? ORGANIZATION_READER_ROLE_NAME,
      assumedBy: workerTrust(Stack.of(this).partition, props.homeAccount, props.homeRegion, props.organizationId),
      description: "Lets cloud-unmap list the organization's accounts (which member accounts it covers)",
    });
    const policy = new iam.Policy(this, 'Policy', {
      statements: [
        new iam.PolicyStatement({
          sid: 'ListAccounts',
          actions: [
            'organizations:DescribeOrganization',
            'organizations:ListAccounts',
            'organizations:ListAccountsForParent',
            'organizations:ListChildren',
          ],
          resources: ['*'],
        }),
      ],
    });
    this.role.attachInlinePolicy(policy);
    acknowledge(policy, {
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason: "Organizations' list calls are read-only; ListAccounts and DescribeOrganization support no resource-level permissions.",
    });
  }
}
