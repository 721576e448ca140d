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
  /** The worker image, pulled from its registry. */
  imageUri: string;
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
  const memberRoleName = String(c.memberRoleName ?? 'cloud-unmap-reader');
  if (!/^[\w+=,.@-]{1,64}$/.test(memberRoleName)) fail('memberRoleName is not a valid role name');
  const imageUri = String(c.imageUri ?? '');
  if (imageUri.length === 0) fail('imageUri is required');
  const desiredCount = Number(c.desiredCount ?? 1);
  if (!Number.isInteger(desiredCount) || desiredCount < 1) fail('desiredCount must be a whole number ≥ 1');
  const frequencySeconds = Number(c.frequencySeconds ?? 300);
  if (!Number.isInteger(frequencySeconds) || frequencySeconds < 1) fail('frequencySeconds must be a whole number ≥ 1');
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
    imageUri,
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

/** The name of the audit bus (one per account and region). */
export const AUDIT_BUS_NAME = 'cloud-unmap-audit';

/** The name of the worker's task role (fixed, so member accounts can trust it by ARN). */
export function taskRoleName(homeRegion: string): string {
  return `cloud-unmap-task-${homeRegion}`;
}
