// CloudUnmap: the home of a deployment (the Cloud Map region): the event queue and its dead-letter
// queue, the EventBridge rules of event-rules.json (on the default bus for this account and region, and on
// a bus of its own for what forwarders send, admitting only the forwarders and only EC2, Auto Scaling and
// Health events), the audit bus, and cloud-unmap on ECS Fargate (worker.ts) with its alarms.
import { Duration, RemovalPolicy, Stack, Token } from 'aws-cdk-lib';
import { acknowledge } from './acknowledge';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as servicediscovery from 'aws-cdk-lib/aws-servicediscovery';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { Alarms, queueEncryption, undeliveredQueue } from './alarms';
import { skipCheckov, SSE_SQS } from './checkov';
import { FORWARDED_BUS_NAME } from './forwarder';
import { NetworkMode } from './network';
import { GroupTag, workerPolicyDocument } from './policy';
import { SharedReconcile } from './shared-reconcile';
import { DEFAULT_HOOK_NAMES, eventPattern, loadRules, withHookNames } from './rules';
import { addWorker, BINARY, HTTP_PORT } from './worker';

/** The name of the audit bus (one per account and region). */
export const AUDIT_BUS_NAME = 'cloud-unmap-audit';

/** The sources forwarders send (event-rules.json): the only ones the forwarded bus admits. */
export const FORWARDED_SOURCES = ['aws.autoscaling', 'aws.ec2', 'aws.health'];

/** A bus policy holds about 45 one-account statements (10 KB); past this, admit the organization. */
export const MAX_FORWARDER_ACCOUNTS = 40;

export interface CloudUnmapProps {
  /** The worker image, e.g. `ecs.ContainerImage.fromEcrRepository(repo, tag)` (pull permission is granted). */
  readonly image: ecs.ContainerImage;
  /** The image's CPU architecture. @default ecs.CpuArchitecture.ARM64 */
  readonly cpuArchitecture?: ecs.CpuArchitecture;
  /** Cloud Map service ids (or ARNs of shared services) to keep clean. */
  readonly serviceIds?: string[];
  /** Cloud Map namespace ids whose every service is kept clean. */
  readonly namespaceIds?: string[];
  /** Regions where the EC2 instances live. */
  readonly instanceRegions: string[];
  /** Roles the worker assumes in member accounts (see CloudUnmapMemberRole). @default none */
  readonly memberRoleArns?: string[];
  /**
   * Organization mode: the name of the role in every member account (CloudUnmapMemberRole's `roleName`).
   * The worker derives an account's role from its id and this name, for events from any account of the
   * organization and for every account `organizationReaderRoleArn` lists: a new account needs no change
   * here. Needs `organizationId`. @default none (only `memberRoleArns`)
   */
  readonly memberRoleName?: string;
  /**
   * Organization mode: the role (CloudUnmapOrganizationReader, in the management account or a delegated
   * administrator) through which the worker lists the organization's accounts for the reconcile. @default none
   */
  readonly organizationReaderRoleArn?: string;
  /** Accounts whose forwarders may put events on the home bus, one statement each. @default none */
  readonly forwarderAccounts?: string[];
  /** Admit every account of this organization instead (one statement, aws:PrincipalOrgID). @default none */
  readonly organizationId?: string;
  /** Worker replicas sharing the queue. @default 1 */
  readonly desiredCount?: number;
  /** Seconds between reconciles (at least 60: the schedule's rate is whole minutes, rounded up). @default 300 */
  readonly frequencySeconds?: number;
  /** The reconcile schedule, when `frequencySeconds` is a token (its rate must match it). @default rate(frequencySeconds) */
  readonly reconcileSchedule?: scheduler.ScheduleExpression;
  /** Auto Scaling lifecycle hooks cloud-unmap owns. @default ['cloud-unmap'] */
  readonly lifecycleHookNames?: string[];
  /** Seconds from deregistration to CONTINUE. @default the services' largest DNS TTL */
  readonly lifecycleDrainSeconds?: number;
  /** Lifecycle actions only on groups carrying this tag. @default every group */
  readonly lifecycleGroupTag?: GroupTag;
  /** Create the audit bus `cloud-unmap-audit` with an archive, and send removals' undo records there. @default false */
  readonly auditBus?: boolean;
  /** Days the audit archive keeps records (0: indefinitely). @default 90 */
  readonly auditArchiveDays?: number;
  /** The topic every alarm notifies. @default a topic is created (encrypted) */
  readonly alarmTopic?: sns.ITopic;
  /** An existing VPC for the worker. @default a VPC is created as `network` says */
  readonly vpc?: ec2.IVpc;
  /** Subnets of `vpc` for the tasks. @default the VPC's private subnets */
  readonly vpcSubnets?: ec2.SubnetSelection;
  /** How a created VPC reaches AWS. @default NetworkMode.PUBLIC_SUBNETS */
  readonly network?: NetworkMode;
  /** Give tasks a public IP. @default true in PUBLIC_SUBNETS mode, false otherwise */
  readonly assignPublicIp?: boolean;
  /** An existing ECS cluster (in `vpc`). @default a cluster with Container Insights */
  readonly cluster?: ecs.ICluster;
  /** Who may scrape /metrics on port 9100 (security groups or CIDRs). @default nobody */
  readonly metricsScrapers?: ec2.IPeer[];
  /** A CloudWatch dashboard of the queue, the dead letters and the tasks. @default true */
  readonly dashboard?: boolean;
  /** A customer-managed key for the queues, the state table and the log groups. @default AWS-owned keys (SSE-SQS, DynamoDB's, CloudWatch Logs') */
  readonly encryptionKey?: kms.IKey;
  /** What happens to the worker's log group (removals' undo records) when the stack is deleted. @default RemovalPolicy.RETAIN */
  readonly logRemovalPolicy?: RemovalPolicy;
  /** Register the tasks in a Cloud Map service `metrics` (SRV records, port 9100) of a private DNS namespace it creates, for Prometheus. @default false */
  readonly metricsDiscovery?: boolean;
  /** The created namespace's name. @default 'cloud-unmap.internal' */
  readonly metricsNamespaceName?: string;
  /** Or an existing private DNS namespace of the VPC to register the tasks in (implies metricsDiscovery). @default none */
  readonly metricsNamespace?: servicediscovery.INamespace;
  /** The cluster has Container Insights (the BelowDesired alarm). @default true for the cluster created, false for one given */
  readonly containerInsights?: boolean;
  /** Seconds without a successful reconcile before the ReconcileStale alarm. @default 2 × the reconcile period */
  readonly reconcileStaleSeconds?: number;
}

export class CloudUnmap extends Construct {
  /** The audit bus's name (one per account and region). */
  static readonly AUDIT_BUS_NAME = AUDIT_BUS_NAME;
  /** Where the image holds the worker binary (the health check runs it). */
  static readonly BINARY = BINARY;
  /** The worker's HTTP port (/metrics, /healthz, /readyz). */
  static readonly HTTP_PORT = HTTP_PORT;

  /** The worker's IAM policy for running cloud-unmap outside this construct, with placeholders for names. */
  static standalonePolicy(): iam.PolicyDocument {
    return workerPolicyDocument();
  }

  readonly queue: sqs.Queue;
  readonly deadLetterQueue: sqs.Queue;
  /** Events EventBridge could not deliver to the queue. */
  readonly undeliveredQueue: sqs.Queue;
  /** The worker's ECS service, task definition, container and task role (`cloud-unmap-task-<region>`). */
  readonly service: ecs.FargateService;
  readonly taskDefinition: ecs.FargateTaskDefinition;
  readonly container: ecs.ContainerDefinition;
  readonly taskRole: iam.IRole;
  /** The task role's policy (generated from the one policy source). */
  readonly taskPolicy: iam.Policy;
  /** The service's running tasks (Container Insights). */
  readonly runningTasks: cloudwatch.IMetric;
  /** The topic every alarm of the home notifies (the home's alarms are always on). */
  readonly alarmTopic: sns.ITopic;
  /** The organization's bus-policy statement, when `organizationId` is set. */
  readonly organizationPolicy?: events.CfnEventBusPolicy;
  /** The bus forwarders put events on (`cloud-unmap-forwarded`): only theirs, so the default bus is left alone. */
  readonly forwardedBus: events.EventBus;
  /** The worker's log group (kept on stack deletion by default). */
  readonly logGroup: logs.ILogGroup;
  /** The Cloud Map service the tasks register in for Prometheus (with metricsDiscovery or metricsNamespace). */
  readonly metricsService?: servicediscovery.IService;
  readonly auditBus?: events.CfnEventBus;
  readonly auditArchive?: events.CfnArchive;
  /** The replicas' shared state: the reconcile lease and each service's last success. */
  readonly stateTable: dynamodb.Table;
  /** Puts the reconcile message in the queue every period: one cycle among all replicas. */
  readonly reconcileSchedule: scheduler.Schedule;

  constructor(scope: Construct, id: string, props: CloudUnmapProps) {
    super(scope, id);
    const stack = Stack.of(this);
    const forwarderAccounts = props.forwarderAccounts ?? [];
    if (props.organizationId === undefined && forwarderAccounts.length > MAX_FORWARDER_ACCOUNTS) {
      throw new Error(
        `CloudUnmap: ${forwarderAccounts.length} forwarder accounts exceed what the default bus policy holds ` +
          `(10 KB, about 45 statements): set organizationId to admit the organization in one statement`,
      );
    }
    if (props.memberRoleName !== undefined && props.organizationId === undefined) {
      throw new Error('CloudUnmap: memberRoleName (a role in every account of the organization) needs organizationId');
    }
    const hookNames = props.lifecycleHookNames ?? DEFAULT_HOOK_NAMES;
    const key = props.encryptionKey;

    // Queue + DLQ: unreadable messages land in the DLQ after 5 receives; the DLQ keeps them longest.
    this.deadLetterQueue = new sqs.Queue(this, 'DeadLetterQueue', {
      ...queueEncryption(key),
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    this.queue = new sqs.Queue(this, 'EventQueue', {
      ...queueEncryption(key),
      enforceSSL: true,
      retentionPeriod: Duration.days(4),
      visibilityTimeout: Duration.seconds(60),
      deadLetterQueue: { queue: this.deadLetterQueue, maxReceiveCount: 5 },
    });
    if (key === undefined) for (const q of [this.deadLetterQueue, this.queue]) skipCheckov(q, 'CKV_AWS_27', SSE_SQS);
    this.undeliveredQueue = undeliveredQueue(this, 'UndeliveredEvents', "the rules' target DLQ for events EventBridge could not deliver", key);

    const alarms = new Alarms(this, 'Alarms', props.alarmTopic);
    this.alarmTopic = alarms.topic!;
    // The same rules on the default bus (this account and region) and on the forwarded bus (the rest).
    this.forwardedBus = new events.EventBus(this, 'ForwardedBus', { eventBusName: FORWARDED_BUS_NAME });
    // Rules and policies name the bus by its (fixed) name and depend on it: moto's CloudFormation cannot Ref a bus.
    const forwardedByName = events.EventBus.fromEventBusName(this, 'ForwardedBusByName', FORWARDED_BUS_NAME);
    for (const [prefix, eventBus] of [['Rule', undefined], ['Forwarded', forwardedByName]] as const) {
      const rules: events.Rule[] = [];
      for (const rule of withHookNames(loadRules(), hookNames)) {
        const r = new events.Rule(this, `${prefix}-${rule.name}`, {
          description: prefix === 'Rule' ? rule.description : `${rule.description} (forwarded)`,
          eventPattern: eventPattern(rule),
          eventBus,
          targets: [
            new targets.SqsQueue(this.queue, { deadLetterQueue: this.undeliveredQueue, retryAttempts: 8, maxEventAge: Duration.hours(2) }),
          ],
        });
        if (eventBus !== undefined) r.node.addDependency(this.forwardedBus);
        rules.push(r);
      }
      alarms.failedInvocations(this, prefix === 'Rule' ? 'FailedInvocations' : 'FailedForwardedInvocations', rules);
    }
    alarms.notEmpty(this, 'Undelivered', this.undeliveredQueue, 'Events EventBridge could not deliver to the queue');
    const shared = new SharedReconcile(this, 'SharedReconcile', {
      queue: this.queue,
      undelivered: this.undeliveredQueue,
      frequencySeconds: props.frequencySeconds ?? 300,
      schedule: props.reconcileSchedule,
      encryptionKey: key,
    });
    this.stateTable = shared.table;
    this.reconcileSchedule = shared.schedule;

    // Forwarders put events on the forwarded bus: by organization (one statement), or by account; only
    // the sources of event-rules.json (events:source), which no one but AWS services may send.
    if (props.organizationId !== undefined) {
      this.organizationPolicy = organizationBusPolicy(this, props.organizationId, forwardedByName);
      this.organizationPolicy.node.addDependency(this.forwardedBus);
    } else {
      for (const account of forwarderAccounts) {
        const policy = new events.CfnEventBusPolicy(this, `Forwarder-${account}`, {
          eventBusName: forwardedByName.eventBusName,
          statementId: `cloud-unmap-forwarder-${account}`,
          statement: {
            Effect: 'Allow',
            Principal: { AWS: `arn:${stack.partition}:iam::${account}:root` },
            Action: 'events:PutEvents',
            Resource: forwardedByName.eventBusArn,
            Condition: { StringEquals: { 'events:source': FORWARDED_SOURCES } },
          },
        });
        policy.node.addDependency(this.forwardedBus);
      }
    }

    let auditBusArn: string | undefined;
    if (props.auditBus === true) {
      this.auditBus = new events.CfnEventBus(this, 'AuditBus', { name: AUDIT_BUS_NAME });
      this.auditArchive = new events.CfnArchive(this, 'AuditArchive', {
        sourceArn: this.auditBus.attrArn,
        description: "cloud-unmap: every removal's undo record (replayable, readable by cloud-unmap restore)",
        eventPattern: { source: ['cloud-unmap'] },
        retentionDays: props.auditArchiveDays ?? 90,
      });
      auditBusArn = `arn:${stack.partition}:events:${stack.region}:${stack.account}:event-bus/${AUDIT_BUS_NAME}`;
    }

    const mode = props.network ?? NetworkMode.PUBLIC_SUBNETS;
    if (props.vpc === undefined && mode === NetworkMode.VPC_ENDPOINTS) {
      const elsewhere = props.instanceRegions.filter((r) => !Token.isUnresolved(r) && r !== stack.region);
      if (elsewhere.length > 0) {
        throw new Error(
          `CloudUnmap: NetworkMode.VPC_ENDPOINTS reaches only ${stack.region}'s APIs (EC2 has no cross-region ` +
            `endpoint), but instances live in ${elsewhere.join(', ')}: use NetworkMode.NAT_GATEWAY`,
        );
      }
      if (!(props.image instanceof ecs.EcrImage)) {
        throw new Error('CloudUnmap: NetworkMode.VPC_ENDPOINTS pulls only from ECR: give an image from an ECR repository');
      }
    }
    // Organization mode with a role name: every account's role of that name (aws:ResourceOrgID keeps it inside).
    const roleArns = [...(props.memberRoleArns ?? [])];
    if (props.memberRoleName !== undefined) roleArns.push(`arn:${stack.partition}:iam::*:role/${props.memberRoleName}`);
    const staleSeconds = props.reconcileStaleSeconds ?? 2 * shared.every;
    const worker = addWorker(this, { ...props, network: mode, hookNames, queue: this.queue, stateTable: this.stateTable, auditBusArn, alarms, staleSeconds, roleArns });
    if (props.memberRoleName !== undefined) {
      acknowledge(worker.taskPolicy, {
        id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:iam::*:role/${props.memberRoleName}]`,
        reason: "Organization mode: the member role of every account of the organization (aws:ResourceOrgID), whose trust names this task role.",
      });
    }
    this.logGroup = worker.logGroup;
    this.metricsService = worker.metricsService;
    this.service = worker.service;
    this.taskDefinition = worker.taskDefinition;
    this.container = worker.container;
    this.taskRole = worker.taskRole;
    this.taskPolicy = worker.taskPolicy;
    this.runningTasks = worker.runningTasks;

    // Alarms, each notifying the topic: something a person must read, events waiting too long.
    alarms.notEmpty(this, 'DeadLetters', this.deadLetterQueue, 'Unreadable events are waiting in the dead-letter queue');
    alarms.notify(
      new cloudwatch.Alarm(this, 'OldestEvent', {
        alarmDescription: 'Events wait in the queue for more than 5 minutes',
        metric: this.queue.metricApproximateAgeOfOldestMessage({ period: Duration.minutes(1), statistic: 'Maximum' }),
        threshold: 300,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 3,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
    );
    if (props.dashboard !== false) this.addDashboard();
  }

  private addDashboard(): void {
    const minute = { period: Duration.minutes(1) };
    new cloudwatch.Dashboard(this, 'Dashboard', {
      widgets: [
        [
          new cloudwatch.GraphWidget({
            title: 'Events waiting and their age',
            left: [this.queue.metricApproximateNumberOfMessagesVisible(minute)],
            right: [this.queue.metricApproximateAgeOfOldestMessage({ ...minute, statistic: 'Maximum' })],
          }),
          new cloudwatch.GraphWidget({
            title: 'Events handled',
            left: [this.queue.metricNumberOfMessagesDeleted({ ...minute, statistic: 'Sum' })],
          }),
        ],
        [
          new cloudwatch.GraphWidget({
            title: 'Dead letters and undelivered events',
            left: [
              this.deadLetterQueue.metricApproximateNumberOfMessagesVisible(minute),
              this.undeliveredQueue.metricApproximateNumberOfMessagesVisible(minute),
            ],
          }),
          new cloudwatch.GraphWidget({ title: 'Running tasks', left: [this.runningTasks] }),
        ],
      ],
    });
  }
}

/** The forwarded bus's one statement admitting every account of `organizationId` (aws:PrincipalOrgID), for the forwarded sources only. */
export function organizationBusPolicy(scope: Construct, organizationId: string, bus: events.IEventBus): events.CfnEventBusPolicy {
  return new events.CfnEventBusPolicy(scope, 'ForwarderOrganization', {
    eventBusName: bus.eventBusName,
    statementId: 'cloud-unmap-forwarder-organization',
    statement: {
      Effect: 'Allow',
      Principal: '*',
      Action: 'events:PutEvents',
      Resource: bus.eventBusArn,
      Condition: { StringEquals: { 'aws:PrincipalOrgID': organizationId, 'events:source': FORWARDED_SOURCES } },
    },
  });
}
