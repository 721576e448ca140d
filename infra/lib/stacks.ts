// The CDK deployment's stacks, thin wrappers of the cloud-unmap-cdk constructs (../construct): the home
// stack, forwarder stacks, member stacks (reader role, or a forwarder in a member's other region), and in
// organization mode the organization reader's stack.
import { Fn, RemovalPolicy, Stack, StackProps } from 'aws-cdk-lib';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecr from 'aws-cdk-lib/aws-ecr';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import { CloudUnmap, CloudUnmapForwarder, CloudUnmapMemberRole, CloudUnmapOrganizationReader, NetworkMode } from '../construct/src';
import { ORGANIZATION_READER_ROLE_NAME } from '../construct/src/member-role';
import { CloudUnmapConfig } from './config';

export interface ConfigStackProps extends StackProps {
  config: CloudUnmapConfig;
}

/** The topic named in the config, in this stack's account and region (undefined: the construct creates one). */
function alarmTopic(stack: Stack, config: CloudUnmapConfig): sns.ITopic | undefined {
  if (config.alarmTopicName === undefined) return undefined;
  return sns.Topic.fromTopicArn(stack, 'AlarmTopic', `arn:${stack.partition}:sns:${stack.region}:${stack.account}:${config.alarmTopicName}`);
}

export function memberRoleArns(stack: Stack, c: CloudUnmapConfig): string[] {
  return c.memberAccounts.map((a) => `arn:${stack.partition}:iam::${a}:role/${c.memberRoleName}`);
}

/** The organization reader's role, in the account the config names (organization mode). */
function organizationReaderRoleArn(stack: Stack, c: CloudUnmapConfig): string | undefined {
  if (c.organizationReaderAccount === undefined) return undefined;
  return `arn:${stack.partition}:iam::${c.organizationReaderAccount}:role/${ORGANIZATION_READER_ROLE_NAME}`;
}

export class HomeStack extends Stack {
  readonly cloudUnmap: CloudUnmap;

  constructor(scope: Construct, id: string, props: ConfigStackProps) {
    super(scope, id, props);
    const c = props.config;
    const image =
      c.imageRepository === undefined
        ? ecs.ContainerImage.fromRegistry(c.imageUri!)
        : ecs.ContainerImage.fromEcrRepository(
            c.imageRepository.startsWith('arn:')
              ? ecr.Repository.fromRepositoryArn(this, 'Repository', c.imageRepository)
              : ecr.Repository.fromRepositoryName(this, 'Repository', c.imageRepository),
            c.imageTag,
          );
    const vpc =
      c.vpcId === undefined
        ? undefined
        : ec2.Vpc.fromVpcAttributes(this, 'Vpc', { vpcId: c.vpcId, availabilityZones: Fn.getAzs() });
    const scrapers: ec2.IPeer[] = [];
    if (c.metricsScrapeCidr) scrapers.push(ec2.Peer.ipv4(c.metricsScrapeCidr));
    if (c.metricsScraperSecurityGroupId) {
      scrapers.push(ec2.SecurityGroup.fromSecurityGroupId(this, 'Scraper', c.metricsScraperSecurityGroupId));
    }
    this.cloudUnmap = new CloudUnmap(this, 'CloudUnmap', {
      image,
      cpuArchitecture: c.cpuArchitecture === 'ARM64' ? ecs.CpuArchitecture.ARM64 : ecs.CpuArchitecture.X86_64,
      serviceIds: c.serviceIds,
      namespaceIds: c.namespaceIds,
      instanceRegions: c.instanceRegions,
      memberRoleArns: memberRoleArns(this, c),
      forwarderAccounts: c.organizationId === undefined ? c.memberAccounts : [],
      organizationId: c.organizationId,
      memberRoleName: c.organizationId === undefined ? undefined : c.memberRoleName,
      organizationReaderRoleArn: organizationReaderRoleArn(this, c),
      encryptionKey: c.kmsKeyArn === undefined ? undefined : kms.Key.fromKeyArn(this, 'Key', c.kmsKeyArn),
      logRemovalPolicy: c.retainLogs ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY,
      metricsDiscovery: c.metricsDiscovery,
      desiredCount: c.desiredCount,
      frequencySeconds: c.frequencySeconds,
      lifecycleHookNames: c.lifecycleHookNames,
      lifecycleDrainSeconds: c.lifecycleDrainSeconds,
      lifecycleGroupTag: c.lifecycleGroupTag,
      auditBus: c.auditBus,
      auditArchiveDays: c.auditArchiveDays,
      alarmTopic: alarmTopic(this, c),
      network: { public: NetworkMode.PUBLIC_SUBNETS, nat: NetworkMode.NAT_GATEWAY, endpoints: NetworkMode.VPC_ENDPOINTS }[c.network],
      vpc,
      vpcSubnets: vpc && { subnets: c.subnetIds.map((s, i) => ec2.Subnet.fromSubnetId(this, `Subnet${i}`, s)) },
      cluster: vpc && c.clusterName ? ecs.Cluster.fromClusterAttributes(this, 'Cluster', { clusterName: c.clusterName, vpc }) : undefined,
      metricsScrapers: scrapers,
    });
  }
}

/** The home account's forwarder in one of its other instance regions. */
export class ForwarderStack extends Stack {
  constructor(scope: Construct, id: string, props: ConfigStackProps) {
    super(scope, id, props);
    const c = props.config;
    new CloudUnmapForwarder(this, 'Forwarder', {
      homeAccount: c.homeAccount,
      homeRegion: c.homeRegion,
      lifecycleHookNames: c.lifecycleHookNames,
      alarmTopic: alarmTopic(this, c),
    });
  }
}

export interface MemberStackProps extends ConfigStackProps {
  /** Create the reader role here (once per account: IAM names are global). */
  withRole: boolean;
}

/** A member account in one region: its forwarder, and in its first region the reader role. */
export class MemberStack extends Stack {
  readonly reader?: CloudUnmapMemberRole;

  constructor(scope: Construct, id: string, props: MemberStackProps) {
    super(scope, id, props);
    const c = props.config;
    if (props.withRole) {
      this.reader = new CloudUnmapMemberRole(this, 'Reader', {
        homeAccount: c.homeAccount,
        homeRegion: c.homeRegion,
        roleName: c.memberRoleName,
        lifecycleGroupTag: c.lifecycleGroupTag,
        organizationId: c.organizationId,
      });
    }
    new CloudUnmapForwarder(this, 'Forwarder', {
      homeAccount: c.homeAccount,
      homeRegion: c.homeRegion,
      lifecycleHookNames: c.lifecycleHookNames,
      alarmTopic: alarmTopic(this, c),
      alarms: c.memberAlarms,
    });
  }
}

/** Organization mode: the role listing the organization's accounts (management account or delegated administrator). */
export class OrganizationReaderStack extends Stack {
  constructor(scope: Construct, id: string, props: ConfigStackProps) {
    super(scope, id, props);
    const c = props.config;
    new CloudUnmapOrganizationReader(this, 'OrganizationReader', {
      homeAccount: c.homeAccount,
      homeRegion: c.homeRegion,
      organizationId: c.organizationId!,
    });
  }
}
