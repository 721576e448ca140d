// The worker's permissions: the single source of the ECS task role's policy and of the IAM policy
// document published for users who run cloud-unmap elsewhere (cloudformation/worker-iam-policy.json).
import { Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import { IConstruct } from 'constructs';

export interface WorkerPolicyInput {
  /** ARN of the event queue (receive, delete, change visibility, attributes). */
  queueArn: string;
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
}

/**
 * Least privilege for cloud-unmap. DescribeInstances, the Cloud Map read/deregister calls and
 * CompleteLifecycleAction support no resource-level scoping (or are scoped by the caller's input
 * at run time), hence "*" there; the queue and the member roles are named exactly.
 */
export function workerStatements(input: WorkerPolicyInput): iam.PolicyStatement[] {
  const statements = [
    ...cloudMapStatements(input.serviceArns),
    new iam.PolicyStatement({
      sid: 'CloudMapDnsAndHealthChecks',
      actions: [
        'route53:ChangeResourceRecordSets',
        'route53:GetHealthCheck',
        'route53:DeleteHealthCheck',
        'route53:UpdateHealthCheck',
      ],
      resources: ['*'],
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
    lifecycleStatement(),
  ];
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
  return statements;
}

/** What a member account's role lets the worker do there. */
export function memberStatements(): iam.PolicyStatement[] {
  return [
    ec2Statement(),
    lifecycleStatement(),
  ];
}

/**
 * Cloud Map. ListServices, GetOperation, GetNamespace and ListTagsForResource cannot be scoped to what the
 * worker selects (no resource type, or namespaces resolved at run time). With `serviceArns`, the
 * instance calls carry a `servicediscovery:ServiceArn` condition and GetService names the services.
 */
function cloudMapStatements(serviceArns?: string[]): iam.PolicyStatement[] {
  const instanceActions = [
    'servicediscovery:ListInstances',
    'servicediscovery:DeregisterInstance',
    'servicediscovery:GetInstance',
  ];
  const read = [
    'servicediscovery:ListServices',
    'servicediscovery:GetOperation',
    'servicediscovery:GetNamespace',
    'servicediscovery:ListTagsForResource',
  ];
  if (serviceArns === undefined || serviceArns.length === 0) {
    return [
      new iam.PolicyStatement({
        sid: 'CloudMap',
        actions: [
          'servicediscovery:ListServices',
          'servicediscovery:ListInstances',
          'servicediscovery:DeregisterInstance',
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
 * Lifecycle actions: is the instance terminating, the hook's heartbeat timeout, heartbeats, CONTINUE;
 * and (read-only) the groups carrying the hooks, which `cloud-unmap check` reports.
 */
function lifecycleStatement(): iam.PolicyStatement {
  return new iam.PolicyStatement({
    sid: 'LifecycleHooks',
    actions: [
      'autoscaling:DescribeAutoScalingGroups',
      'autoscaling:DescribeAutoScalingInstances',
      'autoscaling:DescribeLifecycleHooks',
      'autoscaling:RecordLifecycleActionHeartbeat',
      'autoscaling:CompleteLifecycleAction',
    ],
    resources: ['*'],
  });
}

/** The policy document for users outside CDK, with placeholders for the deployment's names. */
export function workerPolicyDocument(): Record<string, unknown> {
  const doc = new iam.PolicyDocument({
    statements: workerStatements({
      queueArn: 'arn:aws:sqs:REGION:ACCOUNT:QUEUE',
      memberRoleArns: ['arn:aws:iam::MEMBER_ACCOUNT:role/cloud-unmap-reader'],
      auditBusArn: 'arn:aws:events:REGION:ACCOUNT:event-bus/cloud-unmap-audit',
    }),
  });
  return doc.toJSON() as Record<string, unknown>;
}

/** cdk-nag: why a policy of ours may name "*" (and, in the published template, a role-name pattern). */
export function acknowledgeWildcards(policy: IConstruct, extraResources: string[] = []): void {
  const reason =
    'ec2:DescribeInstances, the Cloud Map list/get/deregister/operation calls, the route53 calls Cloud Map makes ' +
    'and the Auto Scaling lifecycle calls do not support resource-level permissions for what cloud-unmap ' +
    'touches (instances, services and groups come and go); the queue and the member roles are named exactly.';
  for (const resource of ['*', ...extraResources]) {
    Validations.of(policy).acknowledge({ id: `AwsSolutions-IAM5[Resource::${resource}]`, reason });
  }
}
