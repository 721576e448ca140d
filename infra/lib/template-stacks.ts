// The published CloudFormation templates (cloudformation/): the same constructs with their settings as
// parameters. home.json creates its VPC; home-existing-vpc.json runs in the VPC and subnets given;
// member.json is one template for every account and region of an organization (a StackSet): the reader
// role only in one region, a forwarder everywhere but the home account's home region.
import { Aws, CfnCondition, Lazy, CfnMapping, CfnParameter, CfnResource, Fn, Stack, StackProps, Token, Validations } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import { Construct, IConstruct } from 'constructs';
import { CloudUnmap, CloudUnmapForwarder, CloudUnmapMemberRole, CloudUnmapOrganizationReader, FORWARDED_BUS_NAME } from '../construct/src';
import { organizationBusPolicy } from '../construct/src/cloud-unmap';

/**
 * The alarms of a forwarder (and member) template: AlarmTopicArn empty: none (no key, no topic: the default
 * for a StackSet over hundreds of accounts); "create": a topic (and key) of the stack's own; an ARN: that topic.
 */
function parameterizedAlarms(s: Stack, forwarder: CloudUnmapForwarder, only?: CfnCondition): void {
  const topic = str(s, 'AlarmTopicArn', 'SNS topic (of each stack instance\'s region) its alarms notify; "create": a topic and key of its own; empty: no alarms', {
    default: '',
    allowedPattern: '^(|create|arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:[\\w-]+)$',
  });
  const create = new CfnCondition(s, 'CreateAlarmTopic', { expression: Fn.conditionEquals(topic.valueAsString, 'create') });
  const has = new CfnCondition(s, 'HasAlarms', { expression: Fn.conditionNot(Fn.conditionEquals(topic.valueAsString, '')) });
  const both = (c: CfnCondition, id: string) =>
    only === undefined ? c : new CfnCondition(s, id, { expression: Fn.conditionAnd(c, only) });
  onlyIf(forwarder.alarmTopic!.node.scope!, both(create, 'CreateAlarmTopicHere'));
  const target = Fn.conditionIf(create.logicalId, forwarder.alarmTopic!.topicArn, topic.valueAsString);
  const alarmed = both(has, 'HasAlarmsHere');
  for (const c of forwarder.node.findAll()) {
    if (c instanceof CfnResource && c.cfnResourceType === 'AWS::CloudWatch::Alarm') {
      c.cfnOptions.condition = alarmed;
      c.addPropertyOverride('AlarmActions', [target]);
      c.addPropertyOverride('OKActions', [target]);
    }
  }
}

/** The periods the templates offer, in seconds, and the schedule's rate for each. */
const RATES: Record<string, string> = {
  '60': 'rate(1 minute)',
  '120': 'rate(2 minutes)',
  '300': 'rate(5 minutes)',
  '600': 'rate(10 minutes)',
  '900': 'rate(15 minutes)',
  '1800': 'rate(30 minutes)',
  '3600': 'rate(1 hour)',
};

type P = { default?: string; allowedPattern?: string; allowedValues?: string[] };
const str = (s: Stack, id: string, description: string, extra: P = {}) => new CfnParameter(s, id, { type: 'String', description, ...extra });
const hookNames = (s: Stack) =>
  new CfnParameter(s, 'LifecycleHookNames', {
    type: 'CommaDelimitedList',
    default: 'cloud-unmap',
    description: 'Auto Scaling lifecycle hooks cloud-unmap owns, comma-separated: only their terminate actions are forwarded and completed',
  });
const homeAccount = (s: Stack) => str(s, 'HomeAccountId', 'Account of the cloud-unmap home stack', { allowedPattern: '[0-9]{12}' });
const homeRegion = (s: Stack) => str(s, 'HomeRegion', 'Region of the cloud-unmap home stack');
const ifSet = (s: Stack, id: string, p: CfnParameter) =>
  new CfnCondition(s, id, { expression: Fn.conditionNot(Fn.conditionEquals(p.valueAsString, '')) });

/** Appends `statements` (conditional ones included) to an existing policy's document, at synthesis. */
function appendStatements(policy: iam.Policy, statements: unknown[], edit: (s: any) => any = (s) => s): void {
  const cfn = policy.node.defaultChild as iam.CfnPolicy;
  const stack = Stack.of(policy);
  cfn.addPropertyOverride('PolicyDocument.Statement', Lazy.any({ produce: () => [...stack.resolve(cfn.policyDocument).Statement.map(edit), ...statements] }));
}

/** Puts every CloudFormation resource under `scope` under `condition`. */
function onlyIf(scope: IConstruct, condition: CfnCondition): void {
  for (const c of scope.node.findAll()) if (c instanceof CfnResource) c.cfnOptions.condition = condition;
}

export interface HomeTemplateProps extends StackProps {
  /** Run in an existing VPC (parameters VpcId, SubnetIds) instead of creating one. */
  existingVpc: boolean;
}

export class HomeTemplateStack extends Stack {
  constructor(scope: Construct, id: string, props: HomeTemplateProps) {
    super(scope, id, props);
    const image = str(this, 'ImageUri', 'cloud-unmap image URI (tag or @sha256 digest)');
    const repository = str(this, 'ImageRepositoryName', 'ECR repository of ImageUri in this account, for pull permission (empty: a public registry)', { default: '' });
    const arch = str(this, 'CpuArchitecture', 'CPU architecture of the image', { default: 'ARM64', allowedValues: ['ARM64', 'X86_64'] });
    const serviceIds = str(this, 'ServiceIds', 'Cloud Map service ids, comma-separated (or empty)', { default: '' });
    const namespaceIds = str(this, 'NamespaceIds', 'Cloud Map namespace ids, comma-separated (or empty)', { default: '' });
    const regions = str(this, 'InstanceRegions', 'Regions where EC2 instances live, comma-separated');
    const memberRoles = str(this, 'MemberRoleArns', 'Roles to assume in member accounts, comma-separated (or empty)', { default: '' });
    const memberRoleName = str(this, 'MemberRoleName', 'Name of the reader role in member accounts', { default: 'cloud-unmap-reader' });
    const org = str(this, 'OrganizationId', 'Organization mode: its id (or empty)', { default: '' });
    const orgReader = str(this, 'OrganizationReaderRoleArn', "Organization mode: the role listing its accounts (or empty)", { default: '' });
    const discovery = str(this, 'MetricsDiscovery', 'Tasks in Cloud Map for Prometheus', {
      default: 'false',
      allowedValues: ['true', 'false'],
    });
    const desired = new CfnParameter(this, 'DesiredCount', { type: 'Number', default: 1, minValue: 1, description: 'Worker replicas sharing the queue' });
    const frequency = new CfnParameter(this, 'FrequencySeconds', {
      type: 'Number',
      default: '300',
      allowedValues: Object.keys(RATES),
      description: 'Seconds between reconciles (the schedule that shares one cycle among the replicas runs in whole minutes)',
    });
    new CfnMapping(this, 'ReconcileRates', {
      mapping: Object.fromEntries(Object.entries(RATES).map(([k, v]) => [k, { Expression: v, Stale: 2 * Number(k) }])),
    });
    const hooks = hookNames(this);
    const drain = str(this, 'LifecycleDrainSeconds', "Seconds from deregistration to CONTINUE (empty: the services' largest DNS TTL)", {
      default: '',
      allowedPattern: '^[0-9]{0,6}$',
    });
    const audit = str(this, 'CreateAuditBus', "Create the audit bus cloud-unmap-audit (every removal's undo record) with an archive", {
      default: 'false',
      allowedValues: ['true', 'false'],
    });
    const archiveDays = new CfnParameter(this, 'AuditArchiveDays', { type: 'Number', default: 90, minValue: 0, description: 'Days the audit archive keeps records (0: indefinitely)' });
    const topic = str(this, 'AlarmTopicArn', 'SNS topic every alarm notifies (empty: one is created)', { default: '' });
    const scrapeCidr = str(this, 'MetricsScrapeCidr', 'IPv4 CIDR allowed to scrape /metrics on port 9100 (empty: nobody)', {
      default: '',
      allowedPattern: '^((\\d{1,3}\\.){3}\\d{1,3}/\\d{1,2})?$',
    });
    let vpc: ec2.IVpc | undefined;
    let subnets: CfnParameter | undefined;
    if (props.existingVpc) {
      const vpcId = new CfnParameter(this, 'VpcId', { type: 'AWS::EC2::VPC::Id', description: 'VPC for the worker' });
      subnets = new CfnParameter(this, 'SubnetIds', { type: 'List<AWS::EC2::Subnet::Id>', description: 'Subnets of VpcId for the tasks (private, with a route or endpoints to AWS)' });
      vpc = ec2.Vpc.fromVpcAttributes(this, 'Vpc', { vpcId: vpcId.valueAsString, availabilityZones: Fn.getAzs() });
    }
    const publicIp = str(this, 'AssignPublicIp', 'Give tasks a public IP', { default: props.existingVpc ? 'false' : 'true', allowedValues: ['true', 'false'] });

    const hasAudit = new CfnCondition(this, 'HasAuditBus', { expression: Fn.conditionEquals(audit.valueAsString, 'true') });
    const home = new CloudUnmap(this, 'CloudUnmap', {
      image: ecs.ContainerImage.fromRegistry(image.valueAsString),
      cpuArchitecture: ecs.CpuArchitecture.of(arch.valueAsString),
      serviceIds: [serviceIds.valueAsString],
      namespaceIds: [namespaceIds.valueAsString],
      instanceRegions: [regions.valueAsString],
      // Any account's role of that name: the member side's trust policy, naming this task role, restricts it.
      memberRoleArns: [`arn:${this.partition}:iam::*:role/${memberRoleName.valueAsString}`],
      desiredCount: desired.valueAsNumber,
      frequencySeconds: frequency.valueAsNumber,
      reconcileSchedule: scheduler.ScheduleExpression.expression(Fn.findInMap('ReconcileRates', frequency.valueAsString, 'Expression')),
      lifecycleHookNames: hooks.valueAsList,
      lifecycleDrainSeconds: Token.asNumber(drain.valueAsString),
      auditBus: true,
      auditArchiveDays: archiveDays.valueAsNumber,
      reconcileStaleSeconds: Token.asNumber(Fn.findInMap('ReconcileRates', frequency.valueAsString, 'Stale')),
      metricsDiscovery: true,
      // BelowDesired (Container Insights' counts) in CDK deployments only: a template has 51,200 bytes; NoWorker stays.
      containerInsights: false,
      vpc,
      vpcSubnets: vpc && { subnets: [ec2.Subnet.fromSubnetId(this, 'Subnet', 'subnet-00000000')] },
    });
    // The parameters that are lists or may be empty, set where a construct prop cannot say so.
    home.container.addEnvironment('CLOUD_UNMAP_INSTANCES_ROLE_ARN', memberRoles.valueAsString);
    home.container.addEnvironment('CLOUD_UNMAP_AUDIT_EVENT_BUS', Fn.conditionIf(hasAudit.logicalId, home.auditBus!.attrArn, '').toString());
    onlyIf(home.auditBus!, hasAudit);
    onlyIf(home.auditArchive!, hasAudit);
    const service = home.service.node.defaultChild as ecs.CfnService;
    service.addPropertyOverride('NetworkConfiguration.AwsvpcConfiguration.AssignPublicIp', Fn.conditionIf(
      new CfnCondition(this, 'PublicIp', { expression: Fn.conditionEquals(publicIp.valueAsString, 'true') }).logicalId, 'ENABLED', 'DISABLED'));
    if (subnets) service.addPropertyOverride('NetworkConfiguration.AwsvpcConfiguration.Subnets', subnets.valueAsList);
    Validations.of(home.taskPolicy).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:iam::*:role/<MemberRoleName>]',
      reason: "Member accounts are parameters: any account's role of that name, whose trust policy names this task role.",
    });

    // Forwarders of the organization (one statement), when one is named.
    // (Not the construct's organizationId: its AssumeRole condition would then name an empty organization.)
    const hasOrg = ifSet(this, 'HasOrganization', org);
    const orgPolicy = organizationBusPolicy(this, org.valueAsString, events.EventBus.fromEventBusName(this, 'ForwardedBusByName', FORWARDED_BUS_NAME));
    orgPolicy.cfnOptions.condition = hasOrg;
    orgPolicy.node.addDependency(home.forwardedBus);
    // Organization mode: the worker derives each account's role from MemberRoleName, lists the accounts through the reader.
    home.container.addEnvironment('CLOUD_UNMAP_ORGANIZATION_ID', org.valueAsString);
    home.container.addEnvironment('CLOUD_UNMAP_INSTANCES_ROLE_NAME', Fn.conditionIf(hasOrg.logicalId, memberRoleName.valueAsString, '').toString());
    home.container.addEnvironment('CLOUD_UNMAP_ORGANIZATION_ROLE_ARN', orgReader.valueAsString);
    // (In policies the service already waits for: a DependsOn on a conditional resource would fail when its
    // condition is false. Without a reader, the statement names a role nobody creates.)
    appendStatements(home.taskPolicy, [{
      Sid: 'OrganizationAccounts', Effect: 'Allow', Action: 'sts:AssumeRole',
      Resource: Fn.conditionIf(ifSet(this, 'HasOrganizationReader', orgReader).logicalId, orgReader.valueAsString,
        `arn:${this.partition}:iam::${this.account}:role/cloud-unmap-no-organization-reader`),
    }], (st) =>
      // Organization mode: member roles only inside the organization (aws:ResourceOrgID), as the CDK app's.
      st.Sid === 'MemberAccounts'
        ? { ...st, Condition: Fn.conditionIf(hasOrg.logicalId, { StringEquals: { 'aws:ResourceOrgID': org.valueAsString } }, Aws.NO_VALUE) }
        : st,
    );

    // The Cloud Map service Prometheus discovers the tasks in, when asked.
    const hasDiscovery = new CfnCondition(this, 'HasMetricsDiscovery', { expression: Fn.conditionEquals(discovery.valueAsString, 'true') });
    onlyIf(home.node.findChild('MetricsNamespace'), hasDiscovery);
    onlyIf(home.metricsService!, hasDiscovery);
    const registries = [{ ContainerName: home.container.containerName, ContainerPort: CloudUnmap.HTTP_PORT, RegistryArn: home.metricsService!.serviceArn }];
    service.addPropertyOverride('ServiceRegistries', Fn.conditionIf(hasDiscovery.logicalId, registries, Aws.NO_VALUE));

    // Pull permission on the ECR repository named (the execution role), when one is.
    const hasRepo = ifSet(this, 'HasImageRepository', repository);
    const executionPolicy = home.taskDefinition.obtainExecutionRole().node.findChild('DefaultPolicy') as iam.Policy;
    appendStatements(executionPolicy, [
      { Effect: 'Allow', Action: 'ecr:GetAuthorizationToken', Resource: '*' },
      {
        Effect: 'Allow',
        Action: ['ecr:BatchCheckLayerAvailability', 'ecr:GetDownloadUrlForLayer', 'ecr:BatchGetImage'],
        // Without a repository, a name ECR refuses (so no repository's layers).
        Resource: `arn:${this.partition}:ecr:${this.region}:${this.account}:repository/${Fn.conditionIf(hasRepo.logicalId, repository.valueAsString, '-')}`,
      },
    ]);

    // The topic given, or the one the construct created.
    const hasTopic = ifSet(this, 'HasAlarmTopic', topic);
    const created = home.alarmTopic.node.scope!;
    onlyIf(created, new CfnCondition(this, 'CreateAlarmTopic', { expression: Fn.conditionEquals(topic.valueAsString, '') }));
    const target = Fn.conditionIf(hasTopic.logicalId, topic.valueAsString, home.alarmTopic.topicArn);
    for (const c of this.node.findAll()) {
      if (c instanceof CfnResource && c.cfnResourceType === 'AWS::CloudWatch::Alarm') {
        c.addPropertyOverride('AlarmActions', [target]);
        c.addPropertyOverride('OKActions', [target]);
        Validations.of(c).acknowledge({
          id: 'CloudFormation-Validate::W1030',
          reason: 'AlarmTopicArn is used only when it is set (Fn::If on HasAlarmTopic); otherwise the created topic.',
        });
      }
    }

    // Prometheus, when a CIDR is named.
    const ingress = new ec2.CfnSecurityGroupIngress(this, 'MetricsIngress', {
      groupId: home.service.connections.securityGroups[0].securityGroupId,
      ipProtocol: 'tcp',
      fromPort: CloudUnmap.HTTP_PORT,
      toPort: CloudUnmap.HTTP_PORT,
      cidrIp: scrapeCidr.valueAsString,
      description: 'Prometheus scrapes /metrics',
    });
    ingress.cfnOptions.condition = ifSet(this, 'HasMetricsScraper', scrapeCidr);
    Validations.of(ingress).acknowledge({
      id: 'AwsSolutions::AwsSolutions-EC23',
      reason: 'The CIDR is a parameter (a pattern-checked IPv4 CIDR, port 9100 only), created only when set.',
    });
  }
}

/** A forwarder in one region (of the home account, or of any account without member.json). */
export class ForwarderTemplateStack extends Stack {
  constructor(scope: Construct, id: string, props?: StackProps) {
    super(scope, id, props);
    const forwarder = new CloudUnmapForwarder(this, 'Forwarder', {
      homeAccount: homeAccount(this).valueAsString,
      homeRegion: homeRegion(this).valueAsString,
      lifecycleHookNames: hookNames(this).valueAsList,
    });
    parameterizedAlarms(this, forwarder);
  }
}

/** One template for every account and region of an organization (service-managed StackSet). */
export class MemberTemplateStack extends Stack {
  constructor(scope: Construct, id: string, props?: StackProps) {
    super(scope, id, props);
    const account = homeAccount(this);
    const region = homeRegion(this);
    const roleName = str(this, 'RoleName', 'Name of the role the worker assumes here', { default: 'cloud-unmap-reader' });
    const roleRegion = str(this, 'RoleRegion', 'The one region where the (global) reader role is created (empty: HomeRegion)', { default: '' });
    const hooks = hookNames(this);
    const org = str(this, 'OrganizationId', 'Organization mode: the worker must belong to this organization too (aws:PrincipalOrgID; or empty)', { default: '' });
    const reader = new CloudUnmapMemberRole(this, 'Reader', {
      homeAccount: account.valueAsString,
      homeRegion: region.valueAsString,
      roleName: roleName.valueAsString,
      organizationId: org.valueAsString,
    });
    // aws:PrincipalOrgID only when an organization is named (an empty one would match no principal).
    const trust = this.resolve((reader.role.node.defaultChild as iam.CfnRole).assumeRolePolicyDocument).Statement[0].Condition;
    (reader.role.node.defaultChild as iam.CfnRole).addPropertyOverride(
      'AssumeRolePolicyDocument.Statement.0.Condition',
      Fn.conditionIf(ifSet(this, 'HasOrganization', org).logicalId, trust, { ArnEquals: trust.ArnEquals }),
    );
    onlyIf(reader, new CfnCondition(this, 'CreateRole', {
      expression: Fn.conditionOr(
        Fn.conditionAnd(Fn.conditionEquals(roleRegion.valueAsString, ''), Fn.conditionEquals(this.region, region.valueAsString)),
        Fn.conditionEquals(this.region, roleRegion.valueAsString),
      ),
    }));
    const forwarder = new CloudUnmapForwarder(this, 'Forwarder', {
      homeAccount: account.valueAsString,
      homeRegion: region.valueAsString,
      lifecycleHookNames: hooks.valueAsList,
    });
    // The home account's home region has the rules already (the home stack): nothing to forward there.
    const createForwarder = new CfnCondition(this, 'CreateForwarder', {
      expression: Fn.conditionNot(
        Fn.conditionAnd(Fn.conditionEquals(this.account, account.valueAsString), Fn.conditionEquals(this.region, region.valueAsString)),
      ),
    });
    onlyIf(forwarder, createForwarder);
    parameterizedAlarms(this, forwarder, createForwarder);
  }
}

/** organization-reader.json: the role listing the organization's accounts (management account or delegated administrator). */
export class OrganizationReaderTemplateStack extends Stack {
  constructor(scope: Construct, id: string, props?: StackProps) {
    super(scope, id, props);
    new CloudUnmapOrganizationReader(this, 'OrganizationReader', {
      homeAccount: homeAccount(this).valueAsString,
      homeRegion: homeRegion(this).valueAsString,
      organizationId: str(this, 'OrganizationId', 'The organization (the worker must belong to it)', { allowedPattern: '^o-[a-z0-9]{10,32}$' }).valueAsString,
    });
  }
}
