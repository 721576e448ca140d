// Home stack (the Cloud Map region): event queue and dead-letter queue, the EventBridge rules of
// event-rules.json, the bus policy admitting forwarders, and cloud-unmap on ECS Fargate with its
// least-privilege task role, log group and alarms.
import { CfnCondition, CfnParameter, Duration, Fn, RemovalPolicy, Stack, StackProps, Validations } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { AUDIT_BUS_NAME, CloudUnmapConfig, taskRoleName } from './config';
import { acknowledgeWildcards, workerStatements } from './policy';
import { Alarms, undeliveredQueue } from './alarms';
import { hookNamesParameter } from './forwarder';
import { eventPattern, loadRules, withHookNames } from './rules';

/** Where the worker binary lives in the image (see the Dockerfile). */
export const BINARY = '/usr/local/bin/cloud-unmap';
export const HTTP_PORT = 9100;

/** What the home stack needs; strings may be CloudFormation tokens (template mode). */
export interface HomeSettings {
  serviceIds: string;
  namespaceIds: string;
  instanceRegions: string;
  /** Comma-separated role ARNs for the worker's --instances-role-arn. */
  memberRoleArnsEnv: string;
  /** The same roles as IAM resources for sts:AssumeRole. */
  memberRoleArns: string[];
  /** Accounts whose forwarders may put events on the home bus. */
  forwarderAccounts: string[];
  /** Or every account of this organization (with an optional condition in template mode). */
  organizationId?: string;
  organizationCondition?: CfnCondition;
  imageUri: string;
  desiredCount: number;
  frequencySeconds: string;
  /** Lifecycle hook names cloud-unmap owns (a list token in template mode), and the same for the env. */
  hookNames: string[];
  hookNamesEnv: string;
  /** --lifecycle-drain-seconds, or '' for the services' largest DNS TTL. */
  drainSeconds: string;
  /** Who may reach /metrics on the worker's port (CDK deployments). */
  metricsScrapeCidr?: string;
  metricsScraperSecurityGroupId?: string;
  /** The selected service ids when no namespace is selected (the policy is then scoped to them). */
  scopedServiceIds?: string[];
  /** Create the audit bus and its archive (a condition in template mode). */
  auditBus: boolean | CfnCondition;
  /** Archive retention in days (0: indefinitely); a token in template mode. */
  auditArchiveDays: number;
}

export interface HomeStackProps extends StackProps {
  /** Concrete settings (CDK), or 'parameters' to expose them as CloudFormation parameters. */
  settings: HomeSettings | 'parameters';
}

/** Settings of a CDK deployment. */
export function homeSettings(c: CloudUnmapConfig): HomeSettings {
  const roles = c.memberAccounts.map((a) => `arn:aws:iam::${a}:role/${c.memberRoleName}`);
  return {
    serviceIds: c.serviceIds.join(','),
    namespaceIds: c.namespaceIds.join(','),
    instanceRegions: c.instanceRegions.join(','),
    memberRoleArnsEnv: roles.join(','),
    memberRoleArns: roles,
    forwarderAccounts: c.memberAccounts,
    organizationId: c.organizationId,
    imageUri: c.imageUri,
    desiredCount: c.desiredCount,
    frequencySeconds: String(c.frequencySeconds),
    hookNames: c.lifecycleHookNames,
    hookNamesEnv: c.lifecycleHookNames.join(','),
    drainSeconds: c.lifecycleDrainSeconds === undefined ? '' : String(c.lifecycleDrainSeconds),
    auditBus: c.auditBus,
    auditArchiveDays: c.auditArchiveDays,
    scopedServiceIds: c.namespaceIds.length === 0 ? c.serviceIds : undefined,
    metricsScrapeCidr: c.metricsScrapeCidr,
    metricsScraperSecurityGroupId: c.metricsScraperSecurityGroupId,
  };
}

function parameterSettings(stack: Stack): HomeSettings {
  const p = (id: string, description: string, extra: Partial<{ default: string; type: string; allowedPattern: string }> = {}) =>
    new CfnParameter(stack, id, { type: 'String', description, ...extra });
  const image = p('ImageUri', 'cloud-unmap container image URI');
  const serviceIds = p('ServiceIds', 'Cloud Map service ids, comma-separated (or empty)', { default: '' });
  const namespaceIds = p('NamespaceIds', 'Cloud Map namespace ids, comma-separated (or empty)', { default: '' });
  const regions = p('InstanceRegions', 'Regions where EC2 instances live, comma-separated');
  const memberRoles = p('MemberRoleArns', 'Roles to assume in member accounts, comma-separated (or empty)', {
    default: '',
  });
  const memberRoleName = p('MemberRoleName', 'Name of the reader role in member accounts', {
    default: 'cloud-unmap-reader',
  });
  const org = p('OrganizationId', 'Organization whose accounts may forward events here (or empty)', { default: '' });
  const desired = new CfnParameter(stack, 'DesiredCount', {
    type: 'Number',
    default: 1,
    minValue: 1,
    description: 'Worker replicas sharing the queue',
  });
  const frequency = new CfnParameter(stack, 'FrequencySeconds', {
    type: 'Number',
    default: 300,
    minValue: 1,
    description: 'Seconds between reconciles',
  });
  const hookNames = hookNamesParameter(stack);
  const drain = p('LifecycleDrainSeconds', 'Seconds from deregistration to CONTINUE (empty: the services\' largest DNS TTL)', {
    default: '',
    allowedPattern: '^[0-9]{0,6}$',
  });
  const audit = p('CreateAuditBus', 'Create the audit bus cloud-unmap-audit (every removal\'s undo record) with an archive', {
    default: 'false',
    allowedPattern: '^(true|false)$',
  });
  const archiveDays = new CfnParameter(stack, 'AuditArchiveDays', {
    type: 'Number',
    default: 90,
    minValue: 0,
    description: 'Days the audit archive keeps records (0: indefinitely)',
  });
  const hasAudit = new CfnCondition(stack, 'HasAuditBus', { expression: Fn.conditionEquals(audit.valueAsString, 'true') });
  const hasOrg = new CfnCondition(stack, 'HasOrganization', {
    expression: Fn.conditionNot(Fn.conditionEquals(org.valueAsString, '')),
  });
  return {
    serviceIds: serviceIds.valueAsString,
    namespaceIds: namespaceIds.valueAsString,
    instanceRegions: regions.valueAsString,
    memberRoleArnsEnv: memberRoles.valueAsString,
    // Any account's role of that name: the member side's trust policy names this task role.
    memberRoleArns: [`arn:${stack.partition}:iam::*:role/${memberRoleName.valueAsString}`],
    forwarderAccounts: [],
    organizationId: org.valueAsString,
    organizationCondition: hasOrg,
    imageUri: image.valueAsString,
    desiredCount: desired.valueAsNumber,
    frequencySeconds: frequency.valueAsString,
    hookNames: hookNames.valueAsList,
    hookNamesEnv: Fn.join(',', hookNames.valueAsList),
    drainSeconds: drain.valueAsString,
    auditBus: hasAudit,
    auditArchiveDays: archiveDays.valueAsNumber,
  };
}

export class HomeStack extends Stack {
  readonly queue: sqs.Queue;
  readonly deadLetterQueue: sqs.Queue;
  readonly taskRole: iam.Role;
  readonly service: ecs.FargateService;
  readonly alarms: Alarms;

  constructor(scope: Construct, id: string, props: HomeStackProps) {
    super(scope, id, props);
    const s = props.settings === 'parameters' ? parameterSettings(this) : props.settings;

    // Queue + DLQ: unreadable messages land in the DLQ after 5 receives; the DLQ keeps them longest.
    this.deadLetterQueue = new sqs.Queue(this, 'DeadLetterQueue', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    this.queue = new sqs.Queue(this, 'EventQueue', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(4),
      visibilityTimeout: Duration.seconds(60),
      deadLetterQueue: { queue: this.deadLetterQueue, maxReceiveCount: 5 },
    });
    // Events EventBridge could not deliver to the queue.
    const undelivered = undeliveredQueue(this, 'UndeliveredEvents', "the rules' target DLQ for events EventBridge could not deliver");

    this.alarms = new Alarms(this, 'Alarms');
    for (const rule of withHookNames(loadRules(), s.hookNames)) {
      const r = new events.Rule(this, `Rule-${rule.name}`, {
        description: rule.description,
        eventPattern: eventPattern(rule),
        targets: [
          new targets.SqsQueue(this.queue, {
            deadLetterQueue: undelivered,
            retryAttempts: 8,
            maxEventAge: Duration.hours(2),
          }),
        ],
      });
      this.alarms.failedInvocations(this, `Failed-${rule.name}`, r);
    }
    this.alarms.notEmpty(this, 'Undelivered', undelivered, 'Events EventBridge could not deliver to the queue');

    // Forwarders in member accounts put events on this region's default bus.
    for (const account of s.forwarderAccounts) {
      new events.CfnEventBusPolicy(this, `Forwarder-${account}`, {
        eventBusName: 'default',
        statementId: `cloud-unmap-forwarder-${account}`,
        statement: {
          Effect: 'Allow',
          Principal: { AWS: `arn:${this.partition}:iam::${account}:root` },
          Action: 'events:PutEvents',
          Resource: `arn:${this.partition}:events:${this.region}:${this.account}:event-bus/default`,
        },
      });
    }
    if (s.organizationId !== undefined) {
      const orgPolicy = new events.CfnEventBusPolicy(this, 'ForwarderOrganization', {
        eventBusName: 'default',
        statementId: 'cloud-unmap-forwarder-organization',
        statement: {
          Effect: 'Allow',
          Principal: '*',
          Action: 'events:PutEvents',
          Resource: `arn:${this.partition}:events:${this.region}:${this.account}:event-bus/default`,
          Condition: { StringEquals: { 'aws:PrincipalOrgID': s.organizationId } },
        },
      });
      if (s.organizationCondition) orgPolicy.cfnOptions.condition = s.organizationCondition;
    }

    // The worker.
    const vpc = new ec2.Vpc(this, 'Vpc', {
      maxAzs: 2,
      natGateways: 0,
      subnetConfiguration: [{ name: 'public', subnetType: ec2.SubnetType.PUBLIC }],
    });
    vpc.addFlowLog('FlowLog', {
      destination: ec2.FlowLogDestination.toCloudWatchLogs(
        new logs.LogGroup(this, 'FlowLogs', {
          retention: logs.RetentionDays.ONE_MONTH,
          removalPolicy: RemovalPolicy.DESTROY,
        }),
      ),
      trafficType: ec2.FlowLogTrafficType.REJECT,
    });
    const cluster = new ecs.Cluster(this, 'Cluster', {
      vpc,
      containerInsightsV2: ecs.ContainerInsights.ENABLED,
    });
    this.taskRole = new iam.Role(this, 'TaskRole', {
      roleName: taskRoleName(this.region),
      assumedBy: new iam.ServicePrincipal('ecs-tasks.amazonaws.com'),
      description: 'cloud-unmap worker: read EC2, deregister from Cloud Map, consume the event queue',
    });
    const auditBusEnv = this.auditBus(s);
    const policy = new iam.Policy(this, 'TaskPolicy', {
      statements: workerStatements({
        queueArn: this.queue.queueArn,
        memberRoleArns: s.memberRoleArns,
        auditBusArn: s.auditBus === false ? undefined : this.auditBusArn(),
        serviceArns: s.scopedServiceIds?.map(
          (id) => `arn:${this.partition}:servicediscovery:${this.region}:${this.account}:service/${id}`,
        ),
        organizationId: props.settings === 'parameters' ? undefined : s.organizationId,
      }),
    });
    this.taskRole.attachInlinePolicy(policy);
    // In the published template the member roles are "any account's role of that name" (cdk-nag renders
    // the tokens as <…>): the member side's trust policy, naming this task role, is what restricts it.
    acknowledgeWildcards(policy, props.settings === 'parameters' ? ['arn:<AWS::Partition>:iam::*:role/<MemberRoleName>'] : []);

    const logGroup = new logs.LogGroup(this, 'Logs', {
      retention: logs.RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    const task = new ecs.FargateTaskDefinition(this, 'Task', {
      cpu: 256,
      memoryLimitMiB: 512,
      taskRole: this.taskRole,
    });
    Validations.of(task).acknowledge({
      id: 'AwsSolutions-ECS2',
      reason: 'The environment holds configuration only (ids, regions, the queue URL); no secret is passed.',
    });
    task.addContainer('worker', {
      image: ecs.ContainerImage.fromRegistry(s.imageUri),
      logging: ecs.LogDrivers.awsLogs({ streamPrefix: 'cloud-unmap', logGroup }),
      environment: {
        CLOUD_UNMAP_SERVICE_ID: s.serviceIds,
        CLOUD_UNMAP_NAMESPACE_ID: s.namespaceIds,
        CLOUD_UNMAP_SERVICE_REGION: this.region,
        CLOUD_UNMAP_INSTANCES_REGION: s.instanceRegions,
        CLOUD_UNMAP_INSTANCES_ROLE_ARN: s.memberRoleArnsEnv,
        CLOUD_UNMAP_QUEUE_URL: this.queue.queueUrl,
        CLOUD_UNMAP_FREQUENCY: s.frequencySeconds,
        CLOUD_UNMAP_PROMETHEUS_PORT: String(HTTP_PORT),
        CLOUD_UNMAP_LOG_FORMAT: 'json',
        CLOUD_UNMAP_LIFECYCLE_HOOK_NAME: s.hookNamesEnv,
        CLOUD_UNMAP_LIFECYCLE_DRAIN_SECONDS: s.drainSeconds,
        CLOUD_UNMAP_AUDIT_EVENT_BUS: auditBusEnv,
      },
      portMappings: [{ containerPort: HTTP_PORT }],
      healthCheck: {
        command: ['CMD', BINARY, 'healthcheck'],
        interval: Duration.seconds(15),
        timeout: Duration.seconds(5),
        retries: 3,
        startPeriod: Duration.seconds(30),
      },
      readonlyRootFilesystem: true,
      user: '65532',
      // More than the worker's 25 s grace period for the work in progress.
      stopTimeout: Duration.seconds(40),
    });
    this.service = new ecs.FargateService(this, 'Service', {
      cluster,
      taskDefinition: task,
      desiredCount: s.desiredCount,
      assignPublicIp: true,
      vpcSubnets: { subnetType: ec2.SubnetType.PUBLIC },
      minHealthyPercent: 100,
      circuitBreaker: { rollback: true },
    });
    // Prometheus: nothing reaches the worker's port unless a scraper is named.
    const metricsPort = ec2.Port.tcp(HTTP_PORT);
    if (s.metricsScrapeCidr) {
      this.service.connections.allowFrom(ec2.Peer.ipv4(s.metricsScrapeCidr), metricsPort, 'Prometheus scrapes /metrics');
    }
    if (s.metricsScraperSecurityGroupId) {
      const scraper = ec2.SecurityGroup.fromSecurityGroupId(this, 'Scraper', s.metricsScraperSecurityGroupId);
      this.service.connections.allowFrom(scraper, metricsPort, 'Prometheus scrapes /metrics');
    }

    // Alarms, each notifying the topic: something a person must read, events waiting too long, no worker.
    this.alarms.notEmpty(this, 'DeadLetters', this.deadLetterQueue, 'Unreadable events are waiting in the dead-letter queue');
    this.alarms.notify(
      new cloudwatch.Alarm(this, 'OldestEvent', {
        alarmDescription: 'Events wait in the queue for more than 5 minutes',
        metric: this.queue.metricApproximateAgeOfOldestMessage({ period: Duration.minutes(1), statistic: 'Maximum' }),
        threshold: 300,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 3,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
    );
    this.alarms.notify(
      new cloudwatch.Alarm(this, 'NoWorker', {
        alarmDescription: 'No cloud-unmap task is running',
        metric: new cloudwatch.Metric({
          namespace: 'ECS/ContainerInsights',
          metricName: 'RunningTaskCount',
          dimensionsMap: { ClusterName: cluster.clusterName, ServiceName: this.service.serviceName },
          period: Duration.minutes(1),
          statistic: 'Minimum',
        }),
        threshold: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
        evaluationPeriods: 3,
        treatMissingData: cloudwatch.TreatMissingData.BREACHING,
      }),
    );
  }

  private auditBusArn(): string {
    return `arn:${this.partition}:events:${this.region}:${this.account}:event-bus/${AUDIT_BUS_NAME}`;
  }

  /** The audit bus and its archive when asked for; returns the worker's --audit-event-bus value. */
  private auditBus(s: HomeSettings): string {
    if (s.auditBus === false) return '';
    const bus = new events.CfnEventBus(this, 'AuditBus', { name: AUDIT_BUS_NAME });
    const archive = new events.CfnArchive(this, 'AuditArchive', {
      sourceArn: bus.attrArn,
      description: 'cloud-unmap: every removal\'s undo record (replayable, readable by cloud-unmap restore)',
      eventPattern: { source: ['cloud-unmap'] },
      retentionDays: s.auditArchiveDays,
    });
    if (s.auditBus instanceof CfnCondition) {
      bus.cfnOptions.condition = s.auditBus;
      archive.cfnOptions.condition = s.auditBus;
      return Fn.conditionIf(s.auditBus.logicalId, this.auditBusArn(), '').toString();
    }
    return this.auditBusArn();
  }
}
