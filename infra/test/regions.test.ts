// Forwarder and member-account stacks, and configuration validation.
process.env.CDK_VALIDATION = 'false';

import * as assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseConfig } from '../lib/config';
import { loadRules } from '../construct/src/rules';
import { built, exampleConfig, resources, template } from './helpers';

const b = built();

test('a forwarder for every instance region but the home one, and for member accounts\' other regions', () => {
  const names = b.forwarders.map((f) => `${f.account}/${f.region}`).sort();
  assert.deepEqual(names, ['111111111111/us-east-1', '222222222222/us-east-1']);
  assert.deepEqual(b.members.map((m) => `${m.account}/${m.region}`), ['222222222222/eu-west-1']);
});

test('forwarders send the same patterns to the home region\'s forwarded bus, through their role', () => {
  for (const stack of [...b.forwarders, ...b.members]) {
    const rules = resources(template(stack), 'AWS::Events::Rule');
    assert.equal(rules.length, loadRules().length);
    for (const [, r] of rules) {
      const [target] = r.Properties.Targets;
      assert.match(JSON.stringify(target.Arn), /events:eu-west-1:111111111111:event-bus\/cloud-unmap-forwarded/);
      assert.ok(target.RoleArn);
    }
  }
});

test('the member role trusts only the worker\'s task role and may only read EC2 and work lifecycle actions', () => {
  const t = template(b.members[0]);
  const [, reader] = resources(t, 'AWS::IAM::Role').find(([, r]) => r.Properties.RoleName === 'cloud-unmap-reader')!;
  const [trust] = reader.Properties.AssumeRolePolicyDocument.Statement;
  // The home account as principal, the task role by ARN in a condition: a recreated task role stays trusted.
  assert.match(JSON.stringify(trust.Principal), /iam::111111111111:root/);
  assert.match(JSON.stringify(trust.Condition.ArnEquals['aws:PrincipalArn']), /iam::111111111111:role\/cloud-unmap-task-eu-west-1/);
  assert.equal(trust.Condition.StringEquals, undefined, 'no organization condition outside organization mode');
  const [, policy] = resources(t, 'AWS::IAM::Policy').find(([id]) => id.startsWith('ReaderReaderPolicy'))!;
  const actions = policy.Properties.PolicyDocument.Statement.flatMap((s: any) => [s.Action].flat()).sort();
  assert.deepEqual(actions, [
    'autoscaling:CompleteLifecycleAction',
    'autoscaling:DescribeAutoScalingGroups',
    'autoscaling:DescribeAutoScalingInstances',
    'autoscaling:DescribeLifecycleHooks',
    'autoscaling:RecordLifecycleActionHeartbeat',
    'ec2:DescribeInstanceStatus',
    'ec2:DescribeInstances',
  ]);
});

test('bad configuration is refused with the field named', () => {
  const bad: [Record<string, unknown>, RegExp][] = [
    [{ homeAccount: '12' }, /homeAccount/],
    [{ homeRegion: 'europe' }, /homeRegion/],
    [{ instanceRegions: [] }, /instanceRegions/],
    [{ serviceIds: [], namespaceIds: [] }, /select at least one/],
    [{ lifecycleHookNames: ['drain hook'] }, /lifecycleHookNames/],
    [{ lifecycleDrainSeconds: -1 }, /lifecycleDrainSeconds/],
    [{ serviceIds: ['svc-1'] }, /serviceIds/],
    [{ desiredCount: 0 }, /desiredCount/],
    [{ imageUri: '' }, /imageUri/],
    [{ memberAccounts: ['x'] }, /memberAccounts/],
    [{ auditBus: 'yes' }, /auditBus/],
    [{ auditArchiveDays: -1 }, /auditArchiveDays/],
    [{ metricsScrapeCidr: '10.0.0.0' }, /metricsScrapeCidr/],
    [{ metricsScraperSecurityGroupId: 'group' }, /metricsScraperSecurityGroupId/],
  ];
  for (const [change, message] of bad) {
    assert.throws(() => parseConfig({ ...exampleConfig, ...change }), message);
  }
  assert.throws(() => parseConfig(undefined), /missing/);
});
