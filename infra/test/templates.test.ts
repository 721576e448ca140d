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
  assert.ok(resources.every((r) => r.Condition === 'CreateRole' || r.Condition === 'CreateForwarder'));
  // Nothing a StackSet cannot give: no asset, no bootstrap, parameters with defaults but the home's.
  const required = Object.entries(t.Parameters).filter(([, p]: any) => p.Default === undefined).map(([k]) => k).sort();
  assert.deepEqual(required, ['HomeAccountId', 'HomeRegion']);
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
