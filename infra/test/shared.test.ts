// The reconcile the replicas share: the state table, the schedule that puts the reconcile message in the
// event queue every period, the worker told about the table, the period's bounds.
process.env.CDK_VALIDATION = 'false'; // the one validated synth is in nag.test.ts

import * as assert from 'node:assert/strict';
import { test } from 'node:test';
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import { CloudUnmap } from '../construct/src';
import { built, exampleConfig, resources, template } from './helpers';

const t = template(built().home);

test('a state table: string key pk, on demand, deleted with the stack (coordination state only)', () => {
  const tables = resources(t, 'AWS::DynamoDB::Table');
  assert.equal(tables.length, 1);
  const [[id, table]] = tables;
  assert.deepEqual(table.Properties.KeySchema, [{ AttributeName: 'pk', KeyType: 'HASH' }]);
  assert.deepEqual(table.Properties.AttributeDefinitions, [{ AttributeName: 'pk', AttributeType: 'S' }]);
  assert.equal(table.Properties.BillingMode, 'PAY_PER_REQUEST');
  assert.equal(table.DeletionPolicy, 'Delete');
  const [, task] = resources(t, 'AWS::ECS::TaskDefinition')[0];
  const env = Object.fromEntries(task.Properties.ContainerDefinitions[0].Environment.map((e: any) => [e.Name, e.Value]));
  assert.deepEqual(env.CLOUD_UNMAP_STATE_TABLE, { Ref: id });
  assert.ok(env.CLOUD_UNMAP_QUEUE_URL, 'the table goes with the queue (the worker refuses one without the other)');
});

test('a schedule puts the reconcile message with its period in the event queue every --frequency', () => {
  const schedules = resources(t, 'AWS::Scheduler::Schedule');
  assert.equal(schedules.length, 1);
  const s = schedules[0][1].Properties;
  const minutes = Math.ceil(exampleConfig.frequencySeconds / 60);
  assert.equal(s.ScheduleExpression, `rate(${minutes} minute${minutes === 1 ? '' : 's'})`);
  assert.deepEqual(s.FlexibleTimeWindow, { Mode: 'OFF' });
  const queue = resources(t, 'AWS::SQS::Queue').find(([id]) => id.startsWith('CloudUnmapEventQueue'))!;
  assert.deepEqual(s.Target.Arn, { 'Fn::GetAtt': [queue[0], 'Arn'] });
  assert.deepEqual(JSON.parse(s.Target.Input), { 'cloud-unmap': 'reconcile', every: minutes * 60 });
  assert.ok(JSON.stringify(s.Target.DeadLetterConfig).includes('UndeliveredEvents'), 'undelivered messages reach the alarmed queue');
  // The schedule's role may send to the queue and nothing else of the worker's.
  const [, role] = resources(t, 'AWS::IAM::Role').find(([, r]) => JSON.stringify(r.Properties.AssumeRolePolicyDocument).includes('scheduler.amazonaws.com'))!;
  assert.ok(role);
  const sends = resources(t, 'AWS::IAM::Policy')
    .filter(([, p]) => JSON.stringify(p.Properties.Roles).includes(JSON.stringify(s.Target.RoleArn['Fn::GetAtt'][0])))
    .flatMap(([, p]) => p.Properties.PolicyDocument.Statement.flatMap((st: any) => [st.Action].flat()));
  assert.deepEqual([...new Set(sends)], ['sqs:SendMessage']);
});

test('a period under a minute, or not whole, is refused (EventBridge Scheduler rates are whole minutes)', () => {
  const make = (frequencySeconds: number) => () =>
    new CloudUnmap(new Stack(new App(), 'S', { env: { account: '111111111111', region: 'eu-west-1' } }), 'C', {
      image: ecs.ContainerImage.fromRegistry('example/cloud-unmap:1'),
      serviceIds: ['srv-abcdef0123456789'],
      instanceRegions: ['eu-west-1'],
      frequencySeconds,
    });
  assert.throws(make(30), /at least 60/);
  assert.throws(make(90.5), /at least 60/);
  const stack = Stack.of(make(90)());
  const s = resources(Template.fromStack(stack), 'AWS::Scheduler::Schedule')[0][1].Properties;
  assert.equal(s.ScheduleExpression, 'rate(2 minutes)');
  assert.equal(JSON.parse(s.Target.Input).every, 120, 'the message says the rate the schedule really has');
});
