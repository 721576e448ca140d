// The deployment's configuration (cdk.json context key "cloudUnmap", or -c cloudUnmap='{…}'),
// validated before anything is synthesized.

export interface CloudUnmapConfig {
  /** Account and region of Cloud Map, the queue and the worker. */
  homeAccount: string;
  homeRegion: string;
  /** Regions where EC2 instances live; every one but the home region gets a forwarder stack. */
  instanceRegions: string[];
  serviceIds: string[];
  namespaceIds: string[];
  /** Member accounts whose instances are looked up (a reader role and forwarders are deployed there). */
  memberAccounts: string[];
  /** Alternatively, admit forwarders from every account of this organization on the home bus. */
  organizationId?: string;
  /** Name of the role the worker assumes in member accounts. */
  memberRoleName: string;
  /**
   * Organization mode: the account (management, or a delegated administrator) where the role listing the
   * organization's accounts is deployed (stack CloudUnmapOrganizationReader); the worker then covers every
   * account of the organization with no change here.
   */
  organizationReaderAccount?: string;
  /** Alarms (and a topic and key, unless alarmTopicName) in each member account and region; default true. */
  memberAlarms: boolean;
  /** A customer-managed KMS key (ARN, home region) for the queues, the state table and the log groups. */
  kmsKeyArn?: string;
  /** Keep the worker's log group (removals' undo records) when the home stack is deleted; default true. */
  retainLogs: boolean;
  /** Register the tasks in a Cloud Map service of their own (private DNS namespace) for Prometheus; default false. */
  metricsDiscovery: boolean;
  /** The worker image in ECR: a repository name (this account) or ARN (another account), and a tag or digest. */
  imageRepository?: string;
  imageTag?: string;
  /** Or an image any registry serves without credentials (public registry mode). */
  imageUri?: string;
  /** The image's CPU architecture; default ARM64. */
  cpuArchitecture: 'ARM64' | 'X86_64';
  /** How a created VPC reaches AWS: public subnets (default), a NAT gateway, or VPC endpoints. */
  network: 'public' | 'nat' | 'endpoints';
  /** An existing VPC and its subnets for the worker instead (and optionally an existing ECS cluster). */
  vpcId?: string;
  subnetIds: string[];
  clusterName?: string;
  /** Alarms notify the topic of this name in each stack's account and region (default: one created per stack). */
  alarmTopicName?: string;
  /** Lifecycle actions only on Auto Scaling groups with this tag (default: every group). */
  lifecycleGroupTag?: { key: string; value: string };
  /** Worker replicas sharing the queue. */
  desiredCount: number;
  frequencySeconds: number;
  /** Auto Scaling lifecycle hooks cloud-unmap owns (completes after the drain); default ['cloud-unmap']. */
  lifecycleHookNames: string[];
  /** Seconds between deregistration and CONTINUE; absent: the services' largest DNS TTL. */
  lifecycleDrainSeconds?: number;
  /** Create the audit bus `cloud-unmap-audit` (every removal's undo record) and pass it to the worker. */
  auditBus: boolean;
  /** Days the audit bus's archive keeps the records (0: indefinitely); default 90. */
  auditArchiveDays: number;
  /** Who may scrape the worker's /metrics (port 9100): an IPv4 CIDR, and/or a security group id. */
  metricsScrapeCidr?: string;
  metricsScraperSecurityGroupId?: string;
}

const REGION = /^[a-z]{2}(-[a-z]+)+-[1-9][0-9]*$/;
const ACCOUNT = /^[0-9]{12}$/;
/** Auto Scaling's LifecycleHookName. */
const HOOK = /^[A-Za-z0-9\-_/]{1,255}$/;

function fail(message: string): never {
  throw new Error(`cloudUnmap config: ${message}`);
}

function list(value: unknown, name: string, pattern: RegExp): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value) || value.some((v) => typeof v !== 'string' || !pattern.test(v))) {
    fail(`${name} must be a list of strings matching ${pattern}`);
  }
  return value as string[];
}

/** Validates the raw context value. */
export function parseConfig(raw: unknown): CloudUnmapConfig {
  if (typeof raw === 'string') raw = JSON.parse(raw);
  if (raw === null || typeof raw !== 'object') fail('missing: set the "cloudUnmap" context in cdk.json');
  const c = raw as Record<string, unknown>;
  const homeAccount = String(c.homeAccount ?? '');
  if (!ACCOUNT.test(homeAccount)) fail('homeAccount must be a 12-digit account id');
  const homeRegion = String(c.homeRegion ?? '');
  if (!REGION.test(homeRegion)) fail('homeRegion must be a region like eu-west-1');
  const instanceRegions = list(c.instanceRegions, 'instanceRegions', REGION);
  if (instanceRegions.length === 0) fail('instanceRegions must name at least one region');
  const serviceIds = list(c.serviceIds, 'serviceIds', /^srv-[a-zA-Z0-9]+$/);
  const namespaceIds = list(c.namespaceIds, 'namespaceIds', /^ns-[a-zA-Z0-9]+$/);
  if (serviceIds.length + namespaceIds.length === 0) fail('select at least one of serviceIds, namespaceIds');
  const memberAccounts = list(c.memberAccounts, 'memberAccounts', ACCOUNT);
  const organizationId = c.organizationId === undefined ? undefined : String(c.organizationId);
  if (organizationId !== undefined && !/^o-[a-z0-9]{10,32}$/.test(organizationId)) fail('organizationId must look like o-abcdef0123');
  if (organizationId === undefined && memberAccounts.length > 40) {
    fail(`${memberAccounts.length} memberAccounts exceed what the default bus policy holds (10 KB, about 45 statements): set organizationId`);
  }
  const organizationReaderAccount = c.organizationReaderAccount === undefined ? undefined : String(c.organizationReaderAccount);
  if (organizationReaderAccount !== undefined && (!ACCOUNT.test(organizationReaderAccount) || organizationId === undefined)) {
    fail('organizationReaderAccount must be a 12-digit account id, and needs organizationId');
  }
  const flag = (name: string, fallback: boolean): boolean => {
    const v = c[name] ?? fallback;
    if (typeof v !== 'boolean') fail(`${name} must be true or false`);
    return v as boolean;
  };
  const memberAlarms = flag('memberAlarms', true);
  const retainLogs = flag('retainLogs', true);
  const metricsDiscovery = flag('metricsDiscovery', false);
  const kmsKeyArn = c.kmsKeyArn === undefined ? undefined : String(c.kmsKeyArn);
  if (kmsKeyArn !== undefined && !/^arn:aws[\w-]*:kms:[a-z0-9-]+:[0-9]{12}:key\/[\w-]+$/.test(kmsKeyArn)) fail('kmsKeyArn must be a KMS key ARN');
  const memberRoleName = String(c.memberRoleName ?? 'cloud-unmap-reader');
  if (!/^[\w+=,.@-]{1,64}$/.test(memberRoleName)) fail('memberRoleName is not a valid role name');
  const imageUri = c.imageUri === undefined ? undefined : String(c.imageUri);
  const imageRepository = c.imageRepository === undefined ? undefined : String(c.imageRepository);
  const imageTag = c.imageTag === undefined ? undefined : String(c.imageTag);
  if ((imageUri === undefined) === (imageRepository === undefined)) {
    fail('give the image as imageRepository + imageTag (ECR) or as imageUri (public registry), not both');
  }
  if (imageUri !== undefined && imageUri.length === 0) fail('imageUri must not be empty');
  if (imageRepository !== undefined && !/^(arn:aws[\w-]*:ecr:[a-z0-9-]+:[0-9]{12}:repository\/)?[a-z0-9][a-z0-9._\/-]*$/.test(imageRepository)) {
    fail('imageRepository must be an ECR repository name or ARN');
  }
  if (imageRepository !== undefined && (imageTag === undefined || !/^([\w][\w.-]{0,127}|sha256:[0-9a-f]{64})$/.test(imageTag))) {
    fail('imageTag must be a tag (e.g. 0.1.0) or a digest (sha256:…) of imageRepository');
  }
  const cpuArchitecture = String(c.cpuArchitecture ?? 'ARM64');
  if (cpuArchitecture !== 'ARM64' && cpuArchitecture !== 'X86_64') fail('cpuArchitecture must be ARM64 or X86_64');
  const network = String(c.network ?? 'public');
  if (!['public', 'nat', 'endpoints'].includes(network)) fail('network must be public, nat or endpoints');
  if (network === 'endpoints' && instanceRegions.some((r) => r !== homeRegion)) {
    fail('network "endpoints" reaches only the home region\'s APIs (EC2 has no cross-region endpoint): use "nat"');
  }
  if (network === 'endpoints' && imageRepository === undefined) fail('network "endpoints" pulls only from ECR: give imageRepository');
  const vpcId = c.vpcId === undefined ? undefined : String(c.vpcId);
  if (vpcId !== undefined && !/^vpc-[0-9a-f]{8,17}$/.test(vpcId)) fail('vpcId must be a VPC id like vpc-0123456789abcdef0');
  const subnetIds = list(c.subnetIds, 'subnetIds', /^subnet-[0-9a-f]{8,17}$/);
  if ((vpcId === undefined) !== (subnetIds.length === 0)) fail('vpcId and subnetIds go together');
  const clusterName = c.clusterName === undefined ? undefined : String(c.clusterName);
  if (clusterName !== undefined && (vpcId === undefined || !/^[\w-]{1,255}$/.test(clusterName))) {
    fail('clusterName must be a cluster name, and needs vpcId (the cluster\'s VPC)');
  }
  const alarmTopicName = c.alarmTopicName === undefined ? undefined : String(c.alarmTopicName);
  if (alarmTopicName !== undefined && !/^[\w-]{1,256}$/.test(alarmTopicName)) fail('alarmTopicName must be an SNS topic name');
  const tag = c.lifecycleGroupTag as { key?: unknown; value?: unknown } | undefined;
  if (tag !== undefined && (typeof tag.key !== 'string' || typeof tag.value !== 'string' || tag.key.length === 0)) {
    fail('lifecycleGroupTag must be {"key": "…", "value": "…"}');
  }
  const lifecycleGroupTag = tag === undefined ? undefined : { key: tag.key as string, value: tag.value as string };
  const desiredCount = Number(c.desiredCount ?? 1);
  if (!Number.isInteger(desiredCount) || desiredCount < 1) fail('desiredCount must be a whole number ≥ 1');
  const frequencySeconds = Number(c.frequencySeconds ?? 300);
  if (!Number.isInteger(frequencySeconds) || frequencySeconds < 60) {
    fail('frequencySeconds must be a whole number ≥ 60 (the reconcile schedule runs at most once a minute)');
  }
  const lifecycleHookNames = c.lifecycleHookNames === undefined ? ['cloud-unmap'] : list(c.lifecycleHookNames, 'lifecycleHookNames', HOOK);
  if (lifecycleHookNames.length === 0) fail('lifecycleHookNames must name at least one hook');
  const lifecycleDrainSeconds = c.lifecycleDrainSeconds === undefined ? undefined : Number(c.lifecycleDrainSeconds);
  if (lifecycleDrainSeconds !== undefined && (!Number.isInteger(lifecycleDrainSeconds) || lifecycleDrainSeconds < 0 || lifecycleDrainSeconds > 172800)) {
    fail('lifecycleDrainSeconds must be a whole number from 0 to 172800');
  }
  const auditBus = c.auditBus === undefined ? false : c.auditBus;
  if (typeof auditBus !== 'boolean') fail('auditBus must be true or false');
  const auditArchiveDays = Number(c.auditArchiveDays ?? 90);
  if (!Number.isInteger(auditArchiveDays) || auditArchiveDays < 0) fail('auditArchiveDays must be a whole number ≥ 0 (0: indefinitely)');
  const metricsScrapeCidr = c.metricsScrapeCidr === undefined ? undefined : String(c.metricsScrapeCidr);
  if (metricsScrapeCidr !== undefined && !/^(\d{1,3}\.){3}\d{1,3}\/\d{1,2}$/.test(metricsScrapeCidr)) {
    fail('metricsScrapeCidr must be an IPv4 CIDR like 10.0.0.0/16');
  }
  const metricsScraperSecurityGroupId =
    c.metricsScraperSecurityGroupId === undefined ? undefined : String(c.metricsScraperSecurityGroupId);
  if (metricsScraperSecurityGroupId !== undefined && !/^sg-[0-9a-f]{8,17}$/.test(metricsScraperSecurityGroupId)) {
    fail('metricsScraperSecurityGroupId must be a security group id like sg-0123456789abcdef0');
  }
  return {
    homeAccount,
    homeRegion,
    instanceRegions,
    serviceIds,
    namespaceIds,
    memberAccounts,
    organizationId,
    memberRoleName,
    organizationReaderAccount,
    memberAlarms,
    kmsKeyArn,
    retainLogs,
    metricsDiscovery,
    imageUri,
    imageRepository,
    imageTag,
    cpuArchitecture: cpuArchitecture as 'ARM64' | 'X86_64',
    network: network as 'public' | 'nat' | 'endpoints',
    vpcId,
    subnetIds,
    clusterName,
    alarmTopicName,
    lifecycleGroupTag,
    desiredCount,
    frequencySeconds,
    lifecycleHookNames,
    lifecycleDrainSeconds,
    auditBus,
    auditArchiveDays,
    metricsScrapeCidr,
    metricsScraperSecurityGroupId,
  };
}
