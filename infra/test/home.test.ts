// Fine-grained assertions on the home stack: queue and DLQ, rules, bus policy, the worker's task
// and service, its role, logs and alarms.
process.env.CDK_VALIDATION = 'false'; // the one validated synth is in nag.test.ts

import * as assert from 'node:assert/strict';
import { test } from 'node:test';
import { CloudUnmap } from '../construct/src';
import { loadRules, withHookNames } from '../construct/src/rules';
import { workerStatements } from '../construct/src/policy';
import { built, exampleConfig, resources, template } from './helpers';

const b = built();
const t = template(b.home);
const queues = resources(t, 'AWS::SQS::Queue');
const queue = queues.find(([id]) => id.startsWith('CloudUnmapEventQueue'))!;
const dlq = queues.find(([id]) => id.startsWith('CloudUnmapDeadLetterQueue'))!;

test('event queue redrives to a DLQ after at least 5 receives; the DLQ keeps messages longer', () => {
  const redrive = queue[1].Properties.RedrivePolicy;
  assert.ok(redrive.maxReceiveCount >= 5);
  assert.deepEqual(redrive.deadLetterTargetArn, { 'Fn::GetAtt': [dlq[0], 'Arn'] });
  assert.ok(dlq[1].Properties.MessageRetentionPeriod > queue[1].Properties.MessageRetentionPeriod);
});

test('every queue is encrypted and refuses plain-text transport', () => {
  for (const [, q] of queues) assert.equal(q.Properties.SqsManagedSseEnabled, true);
  const policies = resources(t, 'AWS::SQS::QueuePolicy');
  for (const [id] of queues) {
    const guarded = policies.some(([, p]) =>
      p.Properties.PolicyDocument.Statement.some(
        (s: any) =>
          s.Effect === 'Deny' &&
          s.Condition?.Bool?.['aws:SecureTransport'] === 'false' &&
          JSON.stringify(s.Resource).includes(id),
      ),
    );
    assert.ok(guarded, `${id} has no TLS-only policy`);
  }
});

test('one rule per entry of event-rules.json on the default bus and on the forwarded bus, into the queue with retries and a DLQ', () => {
  const rules = resources(t, 'AWS::Events::Rule');
  const specs = withHookNames(loadRules(), exampleConfig.lifecycleHookNames);
  assert.equal(rules.length, 2 * specs.length);
  const [[busId, bus]] = resources(t, 'AWS::Events::EventBus');
  assert.equal(bus.Properties.Name, 'cloud-unmap-forwarded');
  for (const spec of specs) {
    const matches = rules.filter(([, r]) => JSON.stringify(r.Properties.EventPattern) === JSON.stringify(spec.pattern));
    assert.deepEqual(matches.map(([, r]) => r.Properties.EventBusName ?? 'default').sort(), ['cloud-unmap-forwarded', 'default']);
    // Named, so created after the bus.
    for (const [, r] of matches) if (r.Properties.EventBusName) assert.ok(r.DependsOn.includes(busId));
  }
  for (const [, match] of rules) {
    const target = match.Properties.Targets[0];
    assert.deepEqual(target.Arn, { 'Fn::GetAtt': [queue[0], 'Arn'] });
    assert.ok(target.DeadLetterConfig.Arn, 'rule target has a dead-letter queue');
    assert.ok(target.RetryPolicy.MaximumRetryAttempts > 0);
  }
});

test('only the configured lifecycle hooks are forwarded and owned, and the drain is passed on', () => {
  const config = { ...exampleConfig, lifecycleHookNames: ['cloud-unmap', 'web-drain'], lifecycleDrainSeconds: 60 };
  const b = built(config);
  for (const stack of [b.home, ...b.forwarders, ...b.members]) {
    const patterns = resources(template(stack), 'AWS::Events::Rule').map(([, r]) => r.Properties.EventPattern);
    const lifecycle = patterns.filter((p) => p['detail-type'].includes('EC2 Instance-terminate Lifecycle Action'));
    assert.equal(lifecycle.length, stack === b.home ? 2 : 1, stack.stackName);
    for (const l of lifecycle) assert.deepEqual(l.detail.LifecycleHookName, ['cloud-unmap', 'web-drain'], stack.stackName);
  }
  const [, task] = resources(template(b.home), 'AWS::ECS::TaskDefinition')[0];
  const env = Object.fromEntries(task.Properties.ContainerDefinitions[0].Environment.map((e: any) => [e.Name, e.Value]));
  assert.equal(env.CLOUD_UNMAP_LIFECYCLE_HOOK_NAME, 'cloud-unmap,web-drain');
  assert.equal(env.CLOUD_UNMAP_LIFECYCLE_DRAIN_SECONDS, '60');
});

test('the forwarded bus (not the default one) admits each member account\'s forwarders, for their sources only', () => {
  const policies = resources(t, 'AWS::Events::EventBusPolicy').map(([, p]) => p.Properties);
  for (const account of exampleConfig.memberAccounts) {
    const p = policies.find((x) => JSON.stringify(x.Statement.Principal).includes(`:iam::${account}:root`));
    assert.ok(p, `no bus policy for ${account}`);
    assert.equal(p.EventBusName, 'cloud-unmap-forwarded');
    assert.match(JSON.stringify(p.Statement.Resource), /:events:eu-west-1:111111111111:event-bus\/cloud-unmap-forwarded/);
    assert.equal(p.Statement.Action, 'events:PutEvents');
    assert.equal(p.Statement.Effect, 'Allow');
    assert.deepEqual(p.Statement.Condition, { StringEquals: { 'events:source': ['aws.autoscaling', 'aws.ec2', 'aws.health'] } });
  }
  assert.ok(!policies.some((p) => p.EventBusName === 'default'), 'the default bus is left alone');
  // The sources are exactly those of event-rules.json.
  assert.deepEqual([...new Set(loadRules().flatMap((r) => r.pattern.source))].sort(), ['aws.autoscaling', 'aws.ec2', 'aws.health']);
});

test('the worker runs on Fargate with the configured replicas, health check, read-only root and non-root user', () => {
  t.hasResourceProperties('AWS::ECS::Service', {
    DesiredCount: exampleConfig.desiredCount,
    LaunchType: 'FARGATE',
  });
  const [, task] = resources(t, 'AWS::ECS::TaskDefinition')[0];
  const [c] = task.Properties.ContainerDefinitions;
  assert.deepEqual(c.HealthCheck.Command, ['CMD', CloudUnmap.BINARY, 'healthcheck']);
  assert.equal(c.ReadonlyRootFilesystem, true);
  assert.ok(c.User && c.User !== '0' && c.User !== 'root');
  assert.ok(c.StopTimeout >= 35);
  assert.equal(c.LogConfiguration.LogDriver, 'awslogs');
  const env = Object.fromEntries(c.Environment.map((e: any) => [e.Name, e.Value]));
  assert.equal(env.CLOUD_UNMAP_SERVICE_ID, exampleConfig.serviceIds.join(','));
  assert.equal(env.CLOUD_UNMAP_INSTANCES_REGION, exampleConfig.instanceRegions.join(','));
  assert.match(JSON.stringify(env.CLOUD_UNMAP_INSTANCES_ROLE_ARN), /AWS::Partition"},":iam::222222222222:role\/cloud-unmap-reader/);
  assert.equal(env.CLOUD_UNMAP_ORGANIZATION_ID, undefined, 'organization mode is off');
  assert.deepEqual(env.CLOUD_UNMAP_QUEUE_URL, { Ref: queue[0] });
});

test('logs are kept for a bounded time', () => {
  for (const [, g] of resources(t, 'AWS::Logs::LogGroup')) assert.ok(g.Properties.RetentionInDays > 0);
});

test('the task role has exactly the worker policy, the queue and member roles named', () => {
  const [, role] = resources(t, 'AWS::IAM::Role').find(([, r]) =>
    JSON.stringify(r.Properties.AssumeRolePolicyDocument).includes('ecs-tasks.amazonaws.com') &&
    r.Properties.RoleName === `cloud-unmap-task-${exampleConfig.homeRegion}`,
  )!;
  assert.ok(role);
  const policies = resources(t, 'AWS::IAM::Policy').filter(([id]) => id.startsWith('CloudUnmapTaskPolicy'));
  assert.equal(policies.length, 1);
  const statements = policies[0][1].Properties.PolicyDocument.Statement;
  const scope = { partition: 'aws', account: 'A', region: 'R' };
  const expected = workerStatements({ queueArn: 'QUEUE', stateTableArn: 'TABLE', memberRoleArns: ['ROLE'], serviceArns: ['SERVICE'], scope }).map((s) =>
    s.toStatementJson(),
  );
  assert.deepEqual(
    statements.map((s: any) => [s.Sid, [s.Action].flat().sort()]),
    expected.map((s: any) => [s.Sid, [s.Action].flat().sort()]),
  );
  const bySid = Object.fromEntries(statements.map((s: any) => [s.Sid, s]));
  assert.deepEqual(bySid.EventQueue.Resource, { 'Fn::GetAtt': [queue[0], 'Arn'] });
  const [[tableId]] = resources(t, 'AWS::DynamoDB::Table');
  assert.deepEqual(bySid.StateTable.Resource, { 'Fn::GetAtt': [tableId, 'Arn'] });
  assert.match(JSON.stringify(bySid.MemberAccounts.Resource), /:iam::222222222222:role\/cloud-unmap-reader/);
  // Write actions name this account's resources, never "*" (checkov CKV_AWS_111).
  assert.match(JSON.stringify(bySid.CloudMapHealthChecks.Resource), /:route53:::healthcheck\/\*/);
  assert.match(JSON.stringify(bySid.LifecycleActions.Resource), /:autoscaling:\*:111111111111:autoScalingGroup:\*:autoScalingGroupName\/\*/);
  // DeregisterInstance needs Route 53's health-check calls (Cloud Map's permissions reference).
  assert.deepEqual(bySid.CloudMapHealthChecks.Action.sort(), ['route53:DeleteHealthCheck', 'route53:GetHealthCheck', 'route53:UpdateHealthCheck']);
  // A scheduled reboot's put-back (RegisterInstance) changes records only of the types Cloud Map writes.
  const changers = statements.filter((s: any) => JSON.stringify(s.Action).includes('route53:ChangeResourceRecordSets'));
  assert.deepEqual(changers.map((s: any) => s.Sid), ['CloudMapPutBack']);
  assert.deepEqual(bySid.CloudMapPutBack.Condition, {
    'ForAllValues:StringEquals': { 'route53:ChangeResourceRecordSetsRecordTypes': ['A', 'AAAA', 'SRV', 'CNAME'] },
  });
});

test('alarms on dead letters, undelivered and failed events, the oldest event and the running tasks, all notifying a topic', () => {
  const alarms = resources(t, 'AWS::CloudWatch::Alarm').map(([, a]) => a.Properties);
  const visible = alarms.filter((a) => a.MetricName === 'ApproximateNumberOfMessagesVisible');
  const queuesWatched = visible.map((a) => JSON.stringify(a.Dimensions[0].Value));
  assert.ok(queuesWatched.includes(JSON.stringify({ 'Fn::GetAtt': [dlq[0], 'QueueName'] })));
  assert.ok(queuesWatched.some((q) => q.includes('UndeliveredEvents')));
  assert.ok(visible.every((a) => a.Threshold === 0));
  assert.ok(alarms.find((a) => a.MetricName === 'ApproximateAgeOfOldestMessage'));
  // NoWorker on AWS/ECS (published with or without Container Insights); missing data (no task) is the alarm.
  const tasks = alarms.find((a) => a.Namespace === 'AWS/ECS' && a.MetricName === 'CPUUtilization');
  assert.ok(tasks);
  assert.equal(tasks.Statistic, 'SampleCount');
  assert.equal(tasks.ComparisonOperator, 'LessThanThreshold');
  assert.equal(tasks.TreatMissingData, 'breaching');
  assert.ok(!alarms.some((a) => a.Namespace === 'ECS/ContainerInsights' && a.MetricName === 'RunningTaskCount'));
  // Running below the desired count: Container Insights' counts (the cluster created has it); missing is not breaching.
  const below = alarms.find((a) => JSON.stringify(a.Metrics ?? []).includes('DesiredTaskCount'));
  assert.ok(below && below.TreatMissingData === 'notBreaching');
  // One failed-invocations alarm per bus, summing its rules.
  const failed = alarms.filter((a) => JSON.stringify(a.Metrics ?? []).includes('FailedInvocations'));
  assert.equal(failed.length, 2);
  for (const f of failed) assert.equal(f.Metrics.filter((m: any) => m.MetricStat).length, loadRules().length);
  // Every alarm notifies the stack's encrypted topic, when it fires and when it recovers.
  const [[topicId, topic]] = resources(t, 'AWS::SNS::Topic');
  assert.ok(topic.Properties.KmsMasterKeyId, 'the topic is encrypted');
  for (const a of alarms) {
    assert.deepEqual(a.AlarmActions, [{ Ref: topicId }]);
    assert.deepEqual(a.OKActions, [{ Ref: topicId }]);
  }
  // Forwarders: a dead-letter queue on every target, alarmed, and a topic of their own region.
  for (const stack of b.forwarders) {
    const ft = template(stack);
    const [[ftopic]] = resources(ft, 'AWS::SNS::Topic');
    for (const [, rule] of resources(ft, 'AWS::Events::Rule')) {
      assert.ok(rule.Properties.Targets[0].DeadLetterConfig.Arn, 'forwarding target has a dead-letter queue');
    }
    const falarms = resources(ft, 'AWS::CloudWatch::Alarm').map(([, a]) => a.Properties);
    assert.ok(falarms.some((a) => a.MetricName === 'ApproximateNumberOfMessagesVisible'));
    assert.ok(falarms.some((a) => JSON.stringify(a.Metrics ?? []).includes('FailedInvocations')));
    assert.ok(falarms.every((a) => JSON.stringify(a.AlarmActions) === JSON.stringify([{ Ref: ftopic }])));
  }
});

test('the audit bus: only when asked, with its archive, passed to the worker, the one bus it may put on', () => {
  assert.equal(resources(t, 'AWS::Events::EventBus').filter(([, b]) => b.Properties.Name === 'cloud-unmap-audit').length, 0);
  const env = (tt: ReturnType<typeof template>) =>
    resources(tt, 'AWS::ECS::TaskDefinition')[0][1].Properties.ContainerDefinitions[0].Environment.find(
      (e: any) => e.Name === 'CLOUD_UNMAP_AUDIT_EVENT_BUS',
    ).Value;
  assert.equal(env(t), '');
  const audited = template(built({ ...exampleConfig, auditBus: true, auditArchiveDays: 30 }).home);
  const [[busId, bus]] = resources(audited, 'AWS::Events::EventBus').filter(([, b]) => b.Properties.Name === 'cloud-unmap-audit');
  assert.equal(bus.Properties.Name, 'cloud-unmap-audit');
  const [[, archive]] = resources(audited, 'AWS::Events::Archive');
  assert.deepEqual(archive.Properties.SourceArn, { 'Fn::GetAtt': [busId, 'Arn'] });
  assert.equal(archive.Properties.RetentionDays, 30);
  assert.deepEqual(archive.Properties.EventPattern, { source: ['cloud-unmap'] });
  assert.match(JSON.stringify(env(audited)), /event-bus\/cloud-unmap-audit/);
  const statements = resources(audited, 'AWS::IAM::Policy').flatMap(([, p]) => p.Properties.PolicyDocument.Statement);
  const put = statements.filter((s: any) => [s.Action].flat().includes('events:PutEvents'));
  assert.equal(put.length, 1);
  assert.match(JSON.stringify(put[0].Resource), /event-bus\/cloud-unmap-audit/);
});

test('Cloud Map instance calls are scoped to the selected services when no namespace is selected', () => {
  const statementsOf = (config: typeof exampleConfig) =>
    resources(template(built(config).home), 'AWS::IAM::Policy')
      .filter(([id]) => id.startsWith('CloudUnmapTaskPolicy'))
      .flatMap(([, p]) => p.Properties.PolicyDocument.Statement);
  const scoped = Object.fromEntries(statementsOf(exampleConfig).map((s: any) => [s.Sid, s]));
  const arn = ':servicediscovery:eu-west-1:111111111111:service/srv-abcdef0123456789';
  const condition = scoped.CloudMapInstances.Condition.ArnLike['servicediscovery:ServiceArn'];
  assert.match(JSON.stringify(condition), new RegExp(arn));
  assert.deepEqual(
    [scoped.CloudMapInstances.Action].flat().sort(),
    ['servicediscovery:DeregisterInstance', 'servicediscovery:GetInstance', 'servicediscovery:ListInstances', 'servicediscovery:RegisterInstance'],
  );
  assert.match(JSON.stringify(scoped.CloudMapServices.Resource), new RegExp(arn));
  assert.ok(![scoped.CloudMap.Action].flat().some((a: string) => a.endsWith('Instance') || a.endsWith('Instances')));
  assert.ok([scoped.CloudMap.Action].flat().includes('servicediscovery:DiscoverInstancesRevision'));
  // With a namespace the services are known only at run time: every service of this account and region.
  const wide = Object.fromEntries(statementsOf({ ...exampleConfig, namespaceIds: ['ns-abcdef0123456789'] }).map((s: any) => [s.Sid, s]));
  assert.ok([wide.CloudMapInstances.Action].flat().includes('servicediscovery:DeregisterInstance'));
  assert.match(JSON.stringify(wide.CloudMapInstances.Resource), /:servicediscovery:eu-west-1:111111111111:service\/\*/);
  assert.equal(wide.CloudMapInstances.Condition, undefined);
  assert.ok(![wide.CloudMap.Action].flat().includes('servicediscovery:DeregisterInstance'));
  // Organization mode: member roles only inside the organization.
  const org = statementsOf({ ...exampleConfig, organizationId: 'o-abcdef0123' });
  const assume = org.find((s: any) => s.Sid === 'MemberAccounts');
  assert.deepEqual(assume.Condition, { StringEquals: { 'aws:ResourceOrgID': 'o-abcdef0123' } });
});

test('/metrics is reachable only from the scraper named, on the worker port', () => {
  const ingress = (config: typeof exampleConfig) =>
    resources(template(built(config).home), 'AWS::EC2::SecurityGroup')
      .flatMap(([, g]) => g.Properties.SecurityGroupIngress ?? [])
      .concat(resources(template(built(config).home), 'AWS::EC2::SecurityGroupIngress').map(([, i]) => i.Properties));
  assert.deepEqual(ingress(exampleConfig), []);
  const named = ingress({ ...exampleConfig, metricsScrapeCidr: '10.1.0.0/16', metricsScraperSecurityGroupId: 'sg-0123456789abcdef0' });
  assert.ok(named.some((r: any) => r.CidrIp === '10.1.0.0/16' && r.FromPort === 9100 && r.ToPort === 9100));
  assert.ok(named.some((r: any) => r.SourceSecurityGroupId === 'sg-0123456789abcdef0' && r.FromPort === 9100));
  assert.equal(named.length, 2);
});
