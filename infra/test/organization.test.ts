// Across an organization (issue 26): organization mode (the worker derives member roles, lists the
// accounts through a reader role), member alarms off, the task role's trust surviving a redeploy, the
// service started after its policies, logs kept, Prometheus discovery, the app-level alarms, a
// customer-managed key.
process.env.CDK_VALIDATION = 'false';

import * as assert from 'node:assert/strict';
import { test } from 'node:test';
import { App, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as kms from 'aws-cdk-lib/aws-kms';
import { CloudUnmap } from '../construct/src';
import { LOG_FILTERS } from '../construct/src/app-alarms';
import { parseConfig } from '../lib/config';
import { built, exampleConfig, resources, template } from './helpers';

const org = parseConfig({ ...exampleConfig, organizationId: 'o-abcdef0123', organizationReaderAccount: '333333333333', memberAlarms: false });
const b = built(org);
const home = template(b.home);
const envOf = (t: Template) =>
  Object.fromEntries(resources(t, 'AWS::ECS::TaskDefinition')[0][1].Properties.ContainerDefinitions[0].Environment.map((e: any) => [e.Name, e.Value]));
const taskStatements = (t: Template) =>
  resources(t, 'AWS::IAM::Policy').filter(([id]) => id.startsWith('CloudUnmapTaskPolicy')).flatMap(([, p]) => p.Properties.PolicyDocument.Statement);

test('organization mode: the worker is told the organization, the role name and the reader role; no account list needed', () => {
  const env = envOf(home);
  assert.equal(env.CLOUD_UNMAP_ORGANIZATION_ID, 'o-abcdef0123');
  assert.equal(env.CLOUD_UNMAP_INSTANCES_ROLE_NAME, 'cloud-unmap-reader');
  assert.match(JSON.stringify(env.CLOUD_UNMAP_ORGANIZATION_ROLE_ARN), /:iam::333333333333:role\/cloud-unmap-organization-reader/);
  const bySid = Object.fromEntries(taskStatements(home).map((s: any) => [s.Sid, s]));
  // Any account's role of that name, inside the organization only.
  assert.ok(JSON.stringify(bySid.MemberAccounts.Resource).includes(':iam::*:role/cloud-unmap-reader'));
  assert.deepEqual(bySid.MemberAccounts.Condition, { StringEquals: { 'aws:ResourceOrgID': 'o-abcdef0123' } });
  assert.match(JSON.stringify(bySid.OrganizationAccounts.Resource), /:iam::333333333333:role\/cloud-unmap-organization-reader/);
});

test('the organization reader: in the account named, trusting the task role by ARN inside the organization, list calls only', () => {
  const stack = b.members.find((s) => s.stackName === 'CloudUnmapOrganizationReader')!;
  assert.equal(stack.account, '333333333333');
  const t = template(stack);
  const [[, role]] = resources(t, 'AWS::IAM::Role');
  assert.equal(role.Properties.RoleName, 'cloud-unmap-organization-reader');
  const [trust] = role.Properties.AssumeRolePolicyDocument.Statement;
  assert.match(JSON.stringify(trust.Principal), /iam::111111111111:root/);
  assert.match(JSON.stringify(trust.Condition.ArnEquals['aws:PrincipalArn']), /role\/cloud-unmap-task-eu-west-1/);
  assert.deepEqual(trust.Condition.StringEquals, { 'aws:PrincipalOrgID': 'o-abcdef0123' });
  const actions = resources(t, 'AWS::IAM::Policy').flatMap(([, p]) => p.Properties.PolicyDocument.Statement.flatMap((s: any) => [s.Action].flat()));
  assert.ok(actions.every((a: string) => /^organizations:(List|Describe)/.test(a)), actions.join());
});

test('member roles in organization mode also require the organization (aws:PrincipalOrgID)', () => {
  const t = template(b.members.find((s) => s.stackName === 'CloudUnmapMember-222222222222')!);
  const [, reader] = resources(t, 'AWS::IAM::Role').find(([, r]) => r.Properties.RoleName === 'cloud-unmap-reader')!;
  assert.deepEqual(reader.Properties.AssumeRolePolicyDocument.Statement[0].Condition.StringEquals, { 'aws:PrincipalOrgID': 'o-abcdef0123' });
});

test('memberAlarms false: no key, topic or alarm in member accounts; the home account keeps its alarms', () => {
  for (const stack of [...b.forwarders, ...b.members].filter((s) => s.account === '222222222222')) {
    const t = template(stack);
    for (const type of ['AWS::KMS::Key', 'AWS::SNS::Topic', 'AWS::CloudWatch::Alarm']) assert.equal(resources(t, type).length, 0, `${stack.stackName} ${type}`);
  }
  const homeForwarder = template(b.forwarders.find((s) => s.account === '111111111111')!);
  assert.ok(resources(homeForwarder, 'AWS::CloudWatch::Alarm').length > 0);
});

test('the service starts after the task and execution policies; tags reach the tasks', () => {
  const [, service] = resources(home, 'AWS::ECS::Service')[0];
  const policies = resources(home, 'AWS::IAM::Policy').map(([id]) => id);
  const task = policies.find((id) => id.startsWith('CloudUnmapTaskPolicy'))!;
  const execution = policies.find((id) => id.startsWith('CloudUnmapTaskExecutionRoleDefaultPolicy'))!;
  assert.ok(execution, 'the execution role has a policy (ECR pull, logs)');
  for (const id of [task, execution]) assert.ok(service.DependsOn.includes(id), id);
  assert.equal(service.Properties.PropagateTags, 'SERVICE');
  assert.equal(service.Properties.EnableECSManagedTags, true);
});

test("the worker's log group is kept when the stack goes, unless told; the flow logs are not", () => {
  const [, logs] = resources(home, 'AWS::Logs::LogGroup').find(([id]) => id.startsWith('CloudUnmapLogs'))!;
  assert.equal(logs.DeletionPolicy, 'Retain');
  assert.equal(logs.UpdateReplacePolicy, 'Retain');
  const dropped = template(built(parseConfig({ ...exampleConfig, retainLogs: false })).home);
  assert.equal(resources(dropped, 'AWS::Logs::LogGroup').find(([id]) => id.startsWith('CloudUnmapLogs'))![1].DeletionPolicy, 'Delete');
});

test('metrics discovery: the tasks in a Cloud Map service of their own (SRV, port 9100) in a private DNS namespace', () => {
  assert.equal(resources(home, 'AWS::ServiceDiscovery::Service').length, 0, 'off unless asked');
  const t = template(built(parseConfig({ ...exampleConfig, metricsDiscovery: true })).home);
  const [[nsId, ns]] = resources(t, 'AWS::ServiceDiscovery::PrivateDnsNamespace');
  assert.equal(ns.Properties.Name, 'cloud-unmap.internal');
  const [[svcId, svc]] = resources(t, 'AWS::ServiceDiscovery::Service');
  assert.equal(svc.Properties.Name, 'metrics');
  assert.deepEqual(svc.Properties.DnsConfig.DnsRecords, [{ TTL: 10, Type: 'SRV' }]);
  assert.deepEqual(svc.Properties.DnsConfig.NamespaceId, { 'Fn::GetAtt': [nsId, 'Id'] });
  const [, service] = resources(t, 'AWS::ECS::Service')[0];
  assert.deepEqual(service.Properties.ServiceRegistries, [{ ContainerName: 'worker', ContainerPort: 9100, RegistryArn: { 'Fn::GetAtt': [svcId, 'Arn'] } }]);
});

test('app-level alarms from log metric filters: guard holding, reconcile stale (2 x the period), not ready', () => {
  const filters = resources(home, 'AWS::Logs::MetricFilter').map(([, f]) => f.Properties);
  assert.deepEqual(filters.map((f) => f.FilterPattern).sort(), Object.values(LOG_FILTERS).sort());
  const alarms = resources(home, 'AWS::CloudWatch::Alarm').map(([, a]) => a.Properties);
  const byMetric = (name: string) => alarms.find((a) => a.MetricName === name);
  assert.equal(byMetric('GuardHolds').ComparisonOperator, 'GreaterThanThreshold');
  const stale = byMetric('Reconciled');
  assert.equal(stale.Period, 2 * 300);
  assert.equal(stale.TreatMissingData, 'breaching');
  assert.equal(byMetric('Ready').ComparisonOperator, 'LessThanThreshold');
  assert.equal(filters.find((f) => f.FilterPattern === LOG_FILTERS.readiness).MetricTransformations[0].MetricValue, '$.ready');
});

test('a customer-managed key encrypts the queues, the state table and the log groups, and the worker may use it', () => {
  const stack = new Stack(new App(), 'S', { env: { account: '111111111111', region: 'eu-west-1' } });
  const key = new kms.Key(stack, 'Key');
  new CloudUnmap(stack, 'C', {
    image: ecs.ContainerImage.fromRegistry('example/cloud-unmap:1'),
    serviceIds: ['srv-abcdef0123456789'],
    instanceRegions: ['eu-west-1'],
    encryptionKey: key,
    logRemovalPolicy: RemovalPolicy.DESTROY,
  });
  const t = Template.fromStack(stack);
  const [[keyId]] = resources(t, 'AWS::KMS::Key');
  const ref = { 'Fn::GetAtt': [keyId, 'Arn'] };
  for (const [, q] of resources(t, 'AWS::SQS::Queue')) assert.deepEqual(q.Properties.KmsMasterKeyId, ref);
  const [[, table]] = resources(t, 'AWS::DynamoDB::Table');
  assert.deepEqual(table.Properties.SSESpecification.KMSMasterKeyId, ref);
  for (const [, g] of resources(t, 'AWS::Logs::LogGroup')) assert.deepEqual(g.Properties.KmsKeyId, ref);
  const statements = resources(t, 'AWS::IAM::Policy').filter(([id]) => id.startsWith('CTaskPolicy')).flatMap(([, p]) => p.Properties.PolicyDocument.Statement);
  assert.deepEqual(statements.find((s: any) => s.Sid === 'Encryption').Resource, ref);
  // No checkov skip for encryption where the key is used.
  const skipped = Object.values(t.toJSON().Resources).flatMap((r: any) => r.Metadata?.checkov?.skip ?? []).map((s: any) => s.id);
  for (const id of ['CKV_AWS_27', 'CKV_AWS_119', 'CKV_AWS_158']) assert.ok(!skipped.includes(id), id);
});
