// The worker's permissions: the single source of the ECS task role's policy, of the member role's, and
// of the IAM policy document published for users who run cloud-unmap elsewhere
// (cloudformation/worker-iam-policy.json).
import { Stack } from 'aws-cdk-lib';
import { acknowledge } from './acknowledge';
import * as iam from 'aws-cdk-lib/aws-iam';
import { IConstruct } from 'constructs';

export interface WorkerPolicyInput {
  /** ARN of the event queue (receive, delete, change visibility, attributes). */
  queueArn: string;
  /** ARN of the state table the replicas share (the reconcile lease, each service's last success). */
  stateTableArn?: string;
  /** Roles the worker may assume in member accounts (none: no sts:AssumeRole statement). */
  memberRoleArns: string[];
  /** The audit bus the worker sends removals' undo records to (none: no events:PutEvents statement). */
  auditBusArn?: string;
  /**
   * When every selected service is known (service ids, no namespaces): their ARNs. The instance calls
   * (ListInstances, GetInstance, DeregisterInstance) are then allowed only on them, through the
   * `servicediscovery:ServiceArn` condition key, and GetService only on them (its resource type).
   */
  serviceArns?: string[];
  /** Organization mode: sts:AssumeRole only into roles of this organization (aws:ResourceOrgID). */
  organizationId?: string;
  /** Organization mode: the role (management account or delegated administrator) listing the organization's accounts. */
  organizationReaderRoleArn?: string;
  /** The customer-managed key of the queue and the state table, when one is given. */
  kmsKeyArn?: string;
  /** Lifecycle actions only on groups carrying this tag (key and value). */
  lifecycleGroupTag?: GroupTag;
  /**
   * Where the worker runs: write actions are then scoped to this account's resources (Route 53 health
   * checks, Cloud Map services of the home region, Auto Scaling groups) instead of "*". @default "*" (the standalone document)
   */
  scope?: PolicyScope;
}

/** A partition, account and region (tokens in a stack) to scope write actions to. */
export interface PolicyScope {
  partition: string;
  account: string;
  region: string;
}

/** The ARNs write actions are scoped to, or "*" without a scope. */
function arns(scope?: PolicyScope) {
  if (scope === undefined) return { healthChecks: '*', services: '*', groups: '*' };
  const { partition, account, region } = scope;
  return {
    healthChecks: `arn:${partition}:route53:::healthcheck/*`,
    services: `arn:${partition}:servicediscovery:${region}:${account}:service/*`,
    // Any instance region of this account.
    groups: `arn:${partition}:autoscaling:*:${account}:autoScalingGroup:*:autoScalingGroupName/*`,
  };
}

/** The wildcard resources a scoped policy names (for cdk-nag's acknowledgements). */
export function scopedWildcards(scope: PolicyScope): string[] {
  const a = arns(scope);
  return [a.healthChecks, a.services, a.groups];
}

/** An Auto Scaling group tag: CompleteLifecycleAction and heartbeats are allowed only on groups with it. */
export interface GroupTag {
  /** The tag's key, e.g. `cloud-unmap`. */
  readonly key: string;
  /** The value it must have, e.g. `enabled`. */
  readonly value: string;
}

/**
 * Least privilege for cloud-unmap. DescribeInstances and the Cloud Map calls that name no service support
 * no resource-level scoping, hence "*" there; the queue, the member roles and (when known) the services
 * are named exactly. DeregisterInstance needs the Route 53 health-check calls (Cloud Map's API permissions
 * reference); RegisterInstance, for a scheduled reboot's put-back, also ChangeResourceRecordSets (limited
 * to the record types Cloud Map writes) and CreateHealthCheck.
 */
export function workerStatements(input: WorkerPolicyInput): iam.PolicyStatement[] {
  const statements = [
    ...cloudMapStatements(input.serviceArns, arns(input.scope).services),
    new iam.PolicyStatement({
      sid: 'CloudMapHealthChecks',
      actions: ['route53:GetHealthCheck', 'route53:DeleteHealthCheck', 'route53:UpdateHealthCheck'],
      resources: [arns(input.scope).healthChecks],
    }),
    // RegisterInstance (a scheduled reboot's put-back) makes Cloud Map write the service's DNS records and
    // health check as the caller: Cloud Map's API permissions reference requires these with it. Only DNS
    // record types Cloud Map writes; drop this statement with --on-scheduled-reboot ignore.
    new iam.PolicyStatement({
      sid: 'CloudMapPutBack',
      actions: ['route53:ChangeResourceRecordSets', 'route53:CreateHealthCheck'],
      resources: ['*'],
      conditions: {
        'ForAllValues:StringEquals': { 'route53:ChangeResourceRecordSetsRecordTypes': ['A', 'AAAA', 'SRV', 'CNAME'] },
      },
    }),
    ec2Statement(),
    new iam.PolicyStatement({
      sid: 'EventQueue',
      // SendMessage: a lifecycle action's drain waits in the queue as a delayed record.
      actions: [
        'sqs:ReceiveMessage',
        'sqs:DeleteMessage',
        'sqs:ChangeMessageVisibility',
        'sqs:GetQueueAttributes',
        'sqs:SendMessage',
      ],
      resources: [input.queueArn],
    }),
    ...lifecycleStatements(input.lifecycleGroupTag, arns(input.scope).groups),
  ];
  if (input.stateTableArn !== undefined) {
    statements.push(
      new iam.PolicyStatement({ sid: 'StateTable', actions: ['dynamodb:UpdateItem', 'dynamodb:Scan'], resources: [input.stateTableArn] }),
    );
  }
  if (input.auditBusArn !== undefined) {
    statements.push(new iam.PolicyStatement({ sid: 'AuditBus', actions: ['events:PutEvents'], resources: [input.auditBusArn] }));
  }
  if (input.memberRoleArns.length > 0) {
    statements.push(
      new iam.PolicyStatement({
        sid: 'MemberAccounts',
        actions: ['sts:AssumeRole'],
        resources: input.memberRoleArns,
        conditions: input.organizationId ? { StringEquals: { 'aws:ResourceOrgID': input.organizationId } } : undefined,
      }),
    );
  }
  if (input.organizationReaderRoleArn !== undefined) {
    statements.push(
      new iam.PolicyStatement({ sid: 'OrganizationAccounts', actions: ['sts:AssumeRole'], resources: [input.organizationReaderRoleArn] }),
    );
  }
  if (input.kmsKeyArn !== undefined) {
    // Receiving from (and sending to) a KMS-encrypted queue, reading and writing the encrypted table.
    statements.push(
      new iam.PolicyStatement({ sid: 'Encryption', actions: ['kms:Decrypt', 'kms:GenerateDataKey', 'kms:Encrypt'], resources: [input.kmsKeyArn] }),
    );
  }
  return statements;
}

/** What a member account's role lets the worker do there. */
export function memberStatements(lifecycleGroupTag?: GroupTag, scope?: PolicyScope): iam.PolicyStatement[] {
  return [ec2Statement(), ...lifecycleStatements(lifecycleGroupTag, arns(scope).groups)];
}

/**
 * Cloud Map. ListServices, GetOperation, GetNamespace and ListTagsForResource cannot be scoped to what the
 * worker selects (no resource type, or namespaces resolved at run time). With `serviceArns`, the
 * instance calls carry a `servicediscovery:ServiceArn` condition and GetService names the services.
 */
function cloudMapStatements(serviceArns: string[] | undefined, services: string): iam.PolicyStatement[] {
  const instanceActions = [
    'servicediscovery:ListInstances',
    'servicediscovery:DeregisterInstance',
    'servicediscovery:GetInstance',
    // A scheduled reboot's registration put back once the instance runs again (--on-scheduled-reboot).
    'servicediscovery:RegisterInstance',
  ];
  // DiscoverInstancesRevision: the event path's cheap check that a service's registrations did not change.
  const read = [
    'servicediscovery:DiscoverInstancesRevision',
    'servicediscovery:ListServices',
    'servicediscovery:GetOperation',
    'servicediscovery:GetNamespace',
    'servicediscovery:ListTagsForResource',
  ];
  if ((serviceArns === undefined || serviceArns.length === 0) && services !== '*') {
    // Services known at run time only (namespaces, parameters): this account's services of the home region.
    return [
      new iam.PolicyStatement({ sid: 'CloudMap', actions: read, resources: ['*'] }),
      new iam.PolicyStatement({ sid: 'CloudMapInstances', actions: [...instanceActions, 'servicediscovery:GetService'], resources: [services] }),
    ];
  }
  if (serviceArns === undefined || serviceArns.length === 0) {
    return [
      new iam.PolicyStatement({
        sid: 'CloudMap',
        actions: [
          'servicediscovery:DiscoverInstancesRevision',
          'servicediscovery:ListServices',
          'servicediscovery:ListInstances',
          'servicediscovery:DeregisterInstance',
          'servicediscovery:RegisterInstance',
          'servicediscovery:GetOperation',
          'servicediscovery:GetNamespace',
          'servicediscovery:GetService',
          'servicediscovery:GetInstance',
          'servicediscovery:ListTagsForResource',
        ],
        resources: ['*'],
      }),
    ];
  }
  return [
    new iam.PolicyStatement({ sid: 'CloudMap', actions: read, resources: ['*'] }),
    new iam.PolicyStatement({ sid: 'CloudMapServices', actions: ['servicediscovery:GetService'], resources: serviceArns }),
    new iam.PolicyStatement({
      sid: 'CloudMapInstances',
      actions: instanceActions,
      resources: ['*'],
      conditions: { ArnLike: { 'servicediscovery:ServiceArn': serviceArns } },
    }),
  ];
}

/** EC2: instances, and their scheduled events (retirement, stop, reboot, maintenance). */
function ec2Statement(): iam.PolicyStatement {
  return new iam.PolicyStatement({
    sid: 'Ec2',
    actions: ['ec2:DescribeInstances', 'ec2:DescribeInstanceStatus'],
    resources: ['*'],
  });
}

/**
 * Lifecycle actions: (read-only) is the instance terminating, the hook's heartbeat timeout, the groups
 * carrying the hooks (`cloud-unmap check`); and heartbeats and CONTINUE, on every group or, with `tag`,
 * only on groups carrying it (`autoscaling:ResourceTag/<key>`): a team opts its groups in by tagging them.
 */
function lifecycleStatements(tag: GroupTag | undefined, groups: string): iam.PolicyStatement[] {
  const read = new iam.PolicyStatement({
    sid: 'LifecycleHooksRead',
    actions: [
      'autoscaling:DescribeAutoScalingGroups',
      'autoscaling:DescribeAutoScalingInstances',
      'autoscaling:DescribeLifecycleHooks',
    ],
    resources: ['*'],
  });
  const act = new iam.PolicyStatement({
    sid: 'LifecycleActions',
    actions: ['autoscaling:RecordLifecycleActionHeartbeat', 'autoscaling:CompleteLifecycleAction'],
    resources: [groups],
    conditions: tag ? { StringEquals: { [`autoscaling:ResourceTag/${tag.key}`]: tag.value } } : undefined,
  });
  return [read, act];
}

/** The policy document for users outside CDK, with placeholders for the deployment's names. */
export function workerPolicyDocument(): iam.PolicyDocument {
  return new iam.PolicyDocument({
    statements: workerStatements({
      queueArn: 'arn:aws:sqs:REGION:ACCOUNT:QUEUE',
      stateTableArn: 'arn:aws:dynamodb:REGION:ACCOUNT:table/STATE_TABLE',
      memberRoleArns: ['arn:aws:iam::MEMBER_ACCOUNT:role/cloud-unmap-reader'],
      auditBusArn: 'arn:aws:events:REGION:ACCOUNT:event-bus/cloud-unmap-audit',
    }),
  });
}

/** cdk-nag: why a policy of ours may name "*" (and, in the published template, a role-name pattern). */
export function acknowledgeWildcards(policy: IConstruct, extraResources: string[] = []): void {
  extraResources = extraResources.map((r) => nagResource(Stack.of(policy).resolve(r)));
  const reason =
    'ec2:DescribeInstances, the Cloud Map list/get/deregister/operation calls, the Route 53 health-check calls ' +
    'DeregisterInstance makes and the Auto Scaling lifecycle calls do not support resource-level permissions for what cloud-unmap ' +
    'touches (instances, services and groups come and go); the queue and the member roles are named exactly.';
  for (const resource of ['*', ...extraResources]) {
    acknowledge(policy, { id: `AwsSolutions-IAM5[Resource::${resource}]`, reason });
  }
}

/** A resolved resource as cdk-nag names it in a finding (references as <Name>, pseudo parameters as <AWS::…>). */
function nagResource(resolved: unknown): string {
  if (typeof resolved === 'string') return resolved;
  const join = (resolved as { 'Fn::Join'?: [string, unknown[]] })['Fn::Join'];
  if (join === undefined) return JSON.stringify(resolved);
  return join[1].map((p) => (typeof p === 'string' ? p : `<${(p as { Ref: string }).Ref}>`)).join(join[0]);
}
