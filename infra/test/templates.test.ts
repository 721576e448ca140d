// The published artifacts are current: cloudformation/ matches a fresh synthesis, and the README
// shows the generated IAM policy.
process.env.CDK_VALIDATION = 'false';

import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { renderTemplates, TEMPLATE_BODY_LIMIT, TEMPLATE_DIR } from '../lib/templates';

const rendered = renderTemplates();

test('cloudformation/ is up to date (regenerate with `npm run synth` in infra/)', () => {
  const committed = fs.readdirSync(TEMPLATE_DIR).sort();
  assert.deepEqual(committed, [...rendered.keys()].sort());
  for (const [name, content] of rendered) {
    assert.equal(fs.readFileSync(path.join(TEMPLATE_DIR, name), 'utf8'), content, `${name} is stale`);
  }
});

test('the IAM reference page shows the policy generated from the task role\'s source', () => {
  const readme = fs.readFileSync(path.resolve(__dirname, '..', '..', 'docs', 'reference', 'iam.md'), 'utf8');
  const block = readme.match(/<!-- worker-iam-policy -->\n```json\n([\s\S]*?)```/);
  assert.ok(block, 'docs/reference/iam.md has no worker-iam-policy block');
  assert.deepEqual(JSON.parse(block![1]), JSON.parse(rendered.get('worker-iam-policy.json')!));
});

test('the published templates need no CDK bootstrap and carry no code assets', () => {
  for (const [name, content] of rendered) {
    if (name === 'worker-iam-policy.json') continue;
    const t = JSON.parse(content);
    assert.equal(t.Parameters?.BootstrapVersion, undefined, name);
    assert.ok(!JSON.stringify(t).includes('AWS::Lambda::Function'), name);
  }
});

test('every template fits in one CloudFormation request (--template-body, create-stack-set)', () => {
  for (const [name, content] of rendered) assert.ok(Buffer.byteLength(content) <= TEMPLATE_BODY_LIMIT, `${name}: ${Buffer.byteLength(content)} bytes`);
});

test('member.json is one StackSet template: the global reader role in one region, forwarders everywhere else', () => {
  const t = JSON.parse(rendered.get('member.json')!);
  const resources = Object.values(t.Resources) as any[];
  const role = resources.find((r) => r.Type === 'AWS::IAM::Role' && r.Properties.RoleName);
  assert.equal(role.Condition, 'CreateRole');
  // The role only where AWS::Region is RoleRegion (or HomeRegion when RoleRegion is empty).
  const createRole = JSON.stringify(t.Conditions.CreateRole);
  for (const ref of ['AWS::Region', 'RoleRegion', 'HomeRegion']) assert.ok(createRole.includes(ref), ref);
  // Everything else is the forwarder, absent in the home account's home region (the home stack's rules are there).
  const rules = resources.filter((r) => r.Type === 'AWS::Events::Rule');
  assert.ok(rules.length > 0 && rules.every((r) => r.Condition === 'CreateForwarder'));
  const createForwarder = JSON.stringify(t.Conditions.CreateForwarder);
  for (const ref of ['AWS::AccountId', 'HomeAccountId', 'AWS::Region', 'HomeRegion']) assert.ok(createForwarder.includes(ref), ref);
  // Alarms only with AlarmTopicArn (and a topic and key of their own only with "create"), never in the home region of the home account.
  const alarms = resources.filter((r) => r.Type === 'AWS::CloudWatch::Alarm');
  assert.ok(alarms.length > 0 && alarms.every((r) => r.Condition === 'HasAlarmsHere'));
  for (const type of ['AWS::SNS::Topic', 'AWS::KMS::Key']) {
    assert.ok(resources.filter((r) => r.Type === type).every((r) => r.Condition === 'CreateAlarmTopicHere'), type);
  }
  assert.equal(t.Parameters.AlarmTopicArn.Default, '');
  assert.deepEqual(t.Conditions.HasAlarmsHere, { 'Fn::And': [{ Condition: 'HasAlarms' }, { Condition: 'CreateForwarder' }] });
  assert.ok(resources.every((r) => ['CreateRole', 'CreateForwarder', 'HasAlarmsHere', 'CreateAlarmTopicHere'].includes(r.Condition)));
  // The trust: the home account, the task role by aws:PrincipalArn, and aws:PrincipalOrgID only with an organization.
  const trust = role.Properties.AssumeRolePolicyDocument.Statement[0];
  assert.match(JSON.stringify(trust.Principal), /:iam::",\{"Ref":"HomeAccountId"\},":root"/);
  const [cond, withOrg, without] = trust.Condition['Fn::If'];
  assert.equal(cond, 'HasOrganization');
  assert.deepEqual(withOrg.StringEquals, { 'aws:PrincipalOrgID': { Ref: 'OrganizationId' } });
  assert.match(JSON.stringify(withOrg.ArnEquals['aws:PrincipalArn']), /cloud-unmap-task-/);
  assert.deepEqual(without, { ArnEquals: withOrg.ArnEquals });
  // Nothing a StackSet cannot give: no asset, no bootstrap, parameters with defaults but the home's.
  const required = Object.entries(t.Parameters).filter(([, p]: any) => p.Default === undefined).map(([k]) => k).sort();
  assert.deepEqual(required, ['HomeAccountId', 'HomeRegion']);
});

test('forwarder.json: no alarm, topic or key unless AlarmTopicArn says so', () => {
  const t = JSON.parse(rendered.get('forwarder.json')!);
  const resources = Object.values(t.Resources) as any[];
  assert.ok(resources.filter((r) => r.Type === 'AWS::CloudWatch::Alarm').every((r) => r.Condition === 'HasAlarms'));
  assert.ok(resources.filter((r) => ['AWS::SNS::Topic', 'AWS::KMS::Key'].includes(r.Type)).every((r) => r.Condition === 'CreateAlarmTopic'));
  const alarm = resources.find((r) => r.Type === 'AWS::CloudWatch::Alarm');
  assert.deepEqual(alarm.Properties.AlarmActions[0]['Fn::If'][2], { Ref: 'AlarmTopicArn' });
  const rule = resources.find((r) => r.Type === 'AWS::Events::Rule');
  assert.match(JSON.stringify(rule.Properties.Targets[0].Arn), /event-bus\/cloud-unmap-forwarded/);
});

test('home.json: organization mode from parameters, policies before the service, logs kept, checkov skips with reasons', () => {
  const t = JSON.parse(rendered.get('home.json')!);
  const entries = Object.entries(t.Resources) as [string, any][];
  const [, task] = entries.find(([, r]) => r.Type === 'AWS::ECS::TaskDefinition')!;
  const env = Object.fromEntries(task.Properties.ContainerDefinitions[0].Environment.map((e: any) => [e.Name, e.Value]));
  assert.deepEqual(env.CLOUD_UNMAP_ORGANIZATION_ID, { Ref: 'OrganizationId' });
  assert.deepEqual(env.CLOUD_UNMAP_INSTANCES_ROLE_NAME, { 'Fn::If': ['HasOrganization', { Ref: 'MemberRoleName' }, ''] });
  assert.deepEqual(env.CLOUD_UNMAP_ORGANIZATION_ROLE_ARN, { Ref: 'OrganizationReaderRoleArn' });
  const [taskPolicy, policy] = entries.find(([id]) => id.startsWith('CloudUnmapTaskPolicy'))!;
  const [execution, executionPolicy] = entries.find(([id]) => id.startsWith('CloudUnmapTaskExecutionRoleDefaultPolicy'))!;
  // Conditional statements inside policies the service waits for (a DependsOn on a conditional resource would fail).
  const members = policy.Properties.PolicyDocument.Statement.find((x: any) => x.Sid === 'MemberAccounts');
  assert.deepEqual(members.Condition, {
    'Fn::If': ['HasOrganization', { StringEquals: { 'aws:ResourceOrgID': { Ref: 'OrganizationId' } } }, { Ref: 'AWS::NoValue' }],
  });
  const reader = policy.Properties.PolicyDocument.Statement.find((x: any) => x.Sid === 'OrganizationAccounts');
  assert.deepEqual(reader.Resource['Fn::If'].slice(0, 2), ['HasOrganizationReader', { Ref: 'OrganizationReaderRoleArn' }]);
  const pull = executionPolicy.Properties.PolicyDocument.Statement.find((x: any) => [x.Action].flat().includes('ecr:BatchGetImage'));
  assert.match(JSON.stringify(pull.Resource), /"Fn::If":\["HasImageRepository",\{"Ref":"ImageRepositoryName"\},"-"\]/);
  const [, service] = entries.find(([, r]) => r.Type === 'AWS::ECS::Service')!;
  for (const id of [taskPolicy, execution]) assert.ok(service.DependsOn.includes(id), id);
  for (const id of service.DependsOn) assert.equal(t.Resources[id].Condition, undefined, `${id} is always created`);
  assert.deepEqual(service.Properties.ServiceRegistries['Fn::If'][0], 'HasMetricsDiscovery');
  assert.equal(service.Properties.PropagateTags, 'SERVICE');
  const [, logs] = entries.find(([id, r]) => r.Type === 'AWS::Logs::LogGroup' && id.startsWith('CloudUnmapLogs'))!;
  assert.equal(logs.DeletionPolicy, 'Retain');
  // ReconcileStale: twice the FrequencySeconds chosen (the mapping's Stale), not a fixed period.
  const [, stale] = entries.find(([, r]) => r.Type === 'AWS::CloudWatch::Alarm' && r.Properties.MetricName === 'Reconciled')!;
  assert.deepEqual(stale.Properties.Period, { 'Fn::FindInMap': ['ReconcileRates', { Ref: 'FrequencySeconds' }, 'Stale'] });
  assert.equal(t.Mappings.ReconcileRates['300'].Stale, 600);
  // Every checkov skip names its check and says why.
  const skips = entries.flatMap(([, r]) => r.Metadata?.checkov?.skip ?? []);
  assert.ok(skips.length >= 5);
  for (const skip of skips) assert.ok(/^CKV_AWS_\d+$/.test(skip.id) && skip.comment.length > 40, JSON.stringify(skip));
});

test('home-existing-vpc.json creates no network and runs in the subnets given', () => {
  const t = JSON.parse(rendered.get('home-existing-vpc.json')!);
  const types = Object.values(t.Resources).map((r: any) => r.Type);
  for (const type of ['AWS::EC2::VPC', 'AWS::EC2::Subnet', 'AWS::EC2::InternetGateway', 'AWS::EC2::NatGateway']) assert.ok(!types.includes(type), type);
  const service = (Object.values(t.Resources) as any[]).find((r) => r.Type === 'AWS::ECS::Service');
  assert.deepEqual(service.Properties.NetworkConfiguration.AwsvpcConfiguration.Subnets, { Ref: 'SubnetIds' });
  assert.equal(t.Parameters.SubnetIds.Type, 'List<AWS::EC2::Subnet::Id>');
  assert.equal(t.Parameters.AssignPublicIp.Default, 'false');
});

test('every parameter of every published template is documented, and the StackSet recipe is complete', () => {
  const root = path.resolve(__dirname, '..', '..');
  const docs = [path.join(root, 'README.md'), ...fs.readdirSync(path.join(root, 'docs'), { recursive: true }).map(String).filter((f) => f.endsWith('.md')).map((f) => path.join(root, 'docs', f))]
    .map((f) => fs.readFileSync(f, 'utf8'))
    .join('\n');
  for (const [name, content] of rendered) {
    if (name === 'worker-iam-policy.json') continue;
    for (const parameter of Object.keys(JSON.parse(content).Parameters ?? {})) assert.ok(docs.includes(`\`${parameter}\``), `${name}: ${parameter} is not documented`);
  }
  const deploy = fs.readFileSync(path.join(root, 'docs', 'operations', 'deploy.md'), 'utf8');
  for (const step of ['activate-organizations-access', 'register-delegated-administrator', '--call-as DELEGATED_ADMIN', 'cdk bootstrap aws://222222222222', '--trust 111111111111', 'organization-reader.json', 'dns_sd_configs']) {
    assert.ok(deploy.includes(step), step);
  }
});
