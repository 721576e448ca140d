// The worker on ECS Fargate: its network (network.ts), cluster, least-privilege task role (the queue, the
// state table), log group (kept when the stack goes: removals' undo records are in it), task definition
// (ARM64 by default), container with health check, service (started only once its policies exist, tags
// propagated to the tasks), /metrics ingress, the tasks registered in a Cloud Map service of their own for
// Prometheus, and the alarms of app-alarms.ts.
import { Duration, Fn, RemovalPolicy, Stack, Tokenization } from 'aws-cdk-lib';
import { acknowledge } from './acknowledge';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as servicediscovery from 'aws-cdk-lib/aws-servicediscovery';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { Alarms } from './alarms';
import { addAppAlarms, reportingTasks } from './app-alarms';
import { skipCheckov } from './checkov';
import type { CloudUnmapProps } from './cloud-unmap';
import { workerRoleName } from './member-role';
import { NetworkMode, workerNetwork } from './network';
import { acknowledgeWildcards, scopedWildcards, workerStatements } from './policy';

/** Where the worker binary lives in the image (see the Dockerfile). */
export const BINARY = '/usr/local/bin/cloud-unmap';
export const HTTP_PORT = 9100;

const LOGS_SSE =
  'CloudWatch Logs encrypts every log group at rest with its own keys; a customer-managed key is optional ' +
  '(the encryptionKey prop, the KmsKeyArn parameter; its key policy must admit logs.<region>.amazonaws.com).';

export interface WorkerInput extends CloudUnmapProps {
  network: NetworkMode;
  hookNames: string[];
  queue: sqs.IQueue;
  stateTable: dynamodb.ITable;
  auditBusArn?: string;
  alarms: Alarms;
  /** Seconds without a successful reconcile before the ReconcileStale alarm (2 × the schedule's period). */
  staleSeconds: number;
  /** The member roles' ARNs (organization mode: every account's role of the name given). */
  roleArns: string[];
}

export interface WorkerParts {
  service: ecs.FargateService;
  taskDefinition: ecs.FargateTaskDefinition;
  container: ecs.ContainerDefinition;
  taskRole: iam.Role;
  taskPolicy: iam.Policy;
  runningTasks: cloudwatch.Metric;
  logGroup: logs.LogGroup;
  /** The Cloud Map service the tasks register in (for Prometheus), when asked. */
  metricsService?: servicediscovery.IService;
}

/** A list for an environment variable, comma-separated (a list token included). */
const join = (list: string[] = []) => (list.length === 0 ? '' : Fn.join(',', list));
const number = (n: number | undefined, fallback: string) => (n === undefined ? fallback : Tokenization.stringifyNumber(n));

export function addWorker(scope: Construct, input: WorkerInput): WorkerParts {
  const stack = Stack.of(scope);
  const net = workerNetwork(scope, {
    mode: input.network,
    vpc: input.vpc,
    vpcSubnets: input.vpcSubnets,
    assignPublicIp: input.assignPublicIp,
    // Organizations has an endpoint in us-east-1 only: organization mode needs NAT_GATEWAY elsewhere.
    extraEndpoints: input.auditBusArn ? [ec2.InterfaceVpcEndpointAwsService.EVENTBRIDGE] : [],
    encryptionKey: input.encryptionKey,
  });
  const cluster = input.cluster ?? new ecs.Cluster(scope, 'Cluster', { vpc: net.vpc, containerInsightsV2: ecs.ContainerInsights.ENABLED });
  const taskRole = new iam.Role(scope, 'TaskRole', {
    roleName: workerRoleName(stack.region),
    assumedBy: new iam.ServicePrincipal('ecs-tasks.amazonaws.com'),
    description: 'cloud-unmap worker: read EC2, deregister from Cloud Map, consume the event queue',
  });
  const policyScope = { partition: stack.partition, account: stack.account, region: stack.region };
  const services = input.serviceIds ?? [];
  const scoped = (input.namespaceIds ?? []).length === 0 && services.length > 0;
  const taskPolicy = new iam.Policy(scope, 'TaskPolicy', {
    statements: workerStatements({
      queueArn: input.queue.queueArn,
      stateTableArn: input.stateTable.tableArn,
      memberRoleArns: input.roleArns,
      auditBusArn: input.auditBusArn,
      serviceArns: scoped
        ? services.map((id) =>
            id.startsWith('arn:') ? id : `arn:${stack.partition}:servicediscovery:${stack.region}:${stack.account}:service/${id}`,
          )
        : undefined,
      organizationId: input.organizationId,
      organizationReaderRoleArn: input.organizationReaderRoleArn,
      kmsKeyArn: input.encryptionKey?.keyArn,
      lifecycleGroupTag: input.lifecycleGroupTag,
      scope: policyScope,
    }),
  });
  taskRole.attachInlinePolicy(taskPolicy);
  acknowledgeWildcards(taskPolicy, scopedWildcards(policyScope));

  // Kept on stack deletion unless told: removals' undo records (cloud-unmap restore) are in it.
  const logGroup = new logs.LogGroup(scope, 'Logs', {
    retention: logs.RetentionDays.ONE_MONTH,
    removalPolicy: input.logRemovalPolicy ?? RemovalPolicy.RETAIN,
    encryptionKey: input.encryptionKey,
  });
  if (input.encryptionKey === undefined) skipCheckov(logGroup, 'CKV_AWS_158', LOGS_SSE);
  const taskDefinition = new ecs.FargateTaskDefinition(scope, 'Task', {
    cpu: 256,
    memoryLimitMiB: 512,
    taskRole,
    runtimePlatform: {
      cpuArchitecture: input.cpuArchitecture ?? ecs.CpuArchitecture.ARM64,
      operatingSystemFamily: ecs.OperatingSystemFamily.LINUX,
    },
  });
  acknowledge(taskDefinition, {
    id: 'AwsSolutions-ECS2',
    reason: 'The environment holds configuration only (ids, regions, the queue URL); no secret is passed.',
  });
  acknowledge(taskDefinition, {
    id: 'AwsSolutions-IAM5[Resource::*]',
    reason: "The execution role's ecr:GetAuthorizationToken (granted with an ECR image) has no resource type.",
  });
  const container = taskDefinition.addContainer('worker', {
    image: input.image,
    logging: ecs.LogDrivers.awsLogs({ streamPrefix: 'cloud-unmap', logGroup }),
    environment: {
      CLOUD_UNMAP_SERVICE_ID: join(input.serviceIds),
      CLOUD_UNMAP_NAMESPACE_ID: join(input.namespaceIds),
      CLOUD_UNMAP_SERVICE_REGION: stack.region,
      CLOUD_UNMAP_INSTANCES_REGION: join(input.instanceRegions),
      CLOUD_UNMAP_INSTANCES_ROLE_ARN: join(input.memberRoleArns),
      ...(input.organizationId === undefined
        ? {}
        : {
            CLOUD_UNMAP_ORGANIZATION_ID: input.organizationId,
            CLOUD_UNMAP_INSTANCES_ROLE_NAME: input.memberRoleName ?? 'cloud-unmap-reader',
            CLOUD_UNMAP_ORGANIZATION_ROLE_ARN: input.organizationReaderRoleArn ?? '',
          }),
      CLOUD_UNMAP_QUEUE_URL: input.queue.queueUrl,
      CLOUD_UNMAP_STATE_TABLE: input.stateTable.tableName,
      CLOUD_UNMAP_FREQUENCY: number(input.frequencySeconds, '300'),
      CLOUD_UNMAP_PROMETHEUS_PORT: String(HTTP_PORT),
      CLOUD_UNMAP_LOG_FORMAT: 'json',
      CLOUD_UNMAP_LIFECYCLE_HOOK_NAME: join(input.hookNames),
      CLOUD_UNMAP_LIFECYCLE_DRAIN_SECONDS: number(input.lifecycleDrainSeconds, ''),
      CLOUD_UNMAP_AUDIT_EVENT_BUS: input.auditBusArn ?? '',
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
  const service = new ecs.FargateService(scope, 'Service', {
    cluster,
    taskDefinition,
    desiredCount: input.desiredCount ?? 1,
    assignPublicIp: net.assignPublicIp,
    vpcSubnets: net.subnets,
    minHealthyPercent: 100,
    circuitBreaker: { rollback: true },
    propagateTags: ecs.PropagatedTagSource.SERVICE,
    enableECSManagedTags: true,
  });
  // The first tasks start only once the task role's policy and the execution role's exist (no AccessDenied
  // for the circuit breaker to roll back).
  service.node.addDependency(taskPolicy);
  const executionPolicy = taskDefinition.executionRole?.node.tryFindChild('DefaultPolicy');
  if (executionPolicy !== undefined) service.node.addDependency(executionPolicy);
  let metricsService: servicediscovery.IService | undefined;
  if (input.metricsNamespace !== undefined || input.metricsDiscovery === true) {
    const namespace =
      input.metricsNamespace ??
      new servicediscovery.PrivateDnsNamespace(scope, 'MetricsNamespace', {
        name: input.metricsNamespaceName ?? 'cloud-unmap.internal',
        vpc: net.vpc,
        description: "cloud-unmap's tasks, for Prometheus (dns_sd_configs, SRV)",
      });
    metricsService = service.enableCloudMap({
      cloudMapNamespace: namespace,
      name: 'metrics',
      dnsRecordType: servicediscovery.DnsRecordType.SRV,
      dnsTtl: Duration.seconds(10),
      container,
      containerPort: HTTP_PORT,
    });
  }
  // Prometheus: nothing reaches the worker's port unless a scraper is named.
  for (const peer of input.metricsScrapers ?? []) {
    service.connections.allowFrom(peer, ec2.Port.tcp(HTTP_PORT), 'Prometheus scrapes /metrics');
  }
  const runningTasks = reportingTasks(cluster, service);
  addAppAlarms(scope, {
    logGroup,
    service,
    cluster,
    staleSeconds: input.staleSeconds,
    containerInsights: input.containerInsights ?? input.cluster === undefined,
    alarms: input.alarms,
  });
  return { service, taskDefinition, container, taskRole, taskPolicy, runningTasks, logGroup, metricsService };
}
