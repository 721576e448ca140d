// The deployment's options: the image and its architecture, networking, organization mode, the alarm
// topic, tag-scoped lifecycle actions, stack names, the dashboard, and the Dockerfile the task runs.
process.env.CDK_VALIDATION = 'false';

import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { CloudUnmap } from '../construct/src';
import { parseConfig } from '../lib/config';
import { built, exampleConfig, resources, template } from './helpers';

const home = (change: Record<string, unknown> = {}) => template(built(parseConfig({ ...exampleConfig, ...change })).home);
const taskOf = (t: ReturnType<typeof template>) => resources(t, 'AWS::ECS::TaskDefinition')[0][1].Properties;
const serviceOf = (t: ReturnType<typeof template>) => resources(t, 'AWS::ECS::Service')[0][1].Properties;
const statements = (t: ReturnType<typeof template>, prefix: string) =>
  resources(t, 'AWS::IAM::Policy').filter(([id]) => id.startsWith(prefix)).flatMap(([, p]) => p.Properties.PolicyDocument.Statement);

test('an ECR image is pulled with permissions granted to the execution role; ARM64 unless told', () => {
  const t = home();
  const task = taskOf(t);
  assert.deepEqual(task.RuntimePlatform, { CpuArchitecture: 'ARM64', OperatingSystemFamily: 'LINUX' });
  const image = JSON.stringify(task.ContainerDefinitions[0].Image);
  assert.match(image, /111111111111\.dkr\.ecr\.eu-west-1\./);
  assert.match(image, /\/cloud-unmap:0\.1\.0/);
  const pull = statements(t, 'CloudUnmapTaskExecutionRoleDefaultPolicy');
  const batch = pull.find((s: any) => [s.Action].flat().includes('ecr:BatchGetImage'));
  assert.match(JSON.stringify(batch.Resource), /:ecr:eu-west-1:111111111111:repository\/cloud-unmap/);
  assert.ok(pull.some((s: any) => [s.Action].flat().includes('ecr:GetAuthorizationToken')));
  // A digest, another account's repository, x86_64.
  const digest = 'sha256:' + 'a'.repeat(64);
  const other = home({
    imageRepository: 'arn:aws:ecr:eu-west-1:333333333333:repository/tools/cloud-unmap',
    imageTag: digest,
    cpuArchitecture: 'X86_64',
  });
  assert.equal(taskOf(other).RuntimePlatform.CpuArchitecture, 'X86_64');
  assert.match(JSON.stringify(taskOf(other).ContainerDefinitions[0].Image), new RegExp(`333333333333\\.dkr\\.ecr\\.eu-west-1\\..*tools/cloud-unmap@${digest}`));
  // Public registry mode: the URI as given, no ECR permission.
  const pub = home({ imageRepository: undefined, imageTag: undefined, imageUri: 'public.ecr.aws/example/cloud-unmap:0.1.0' });
  assert.equal(taskOf(pub).ContainerDefinitions[0].Image, 'public.ecr.aws/example/cloud-unmap:0.1.0');
  assert.ok(!JSON.stringify(statements(pub, 'CloudUnmapTaskExecutionRole')).includes('ecr:'));
});

test('networking: public subnets by default, a NAT gateway, or isolated subnets with the endpoints the worker needs', () => {
  const pub = home();
  assert.equal(serviceOf(pub).NetworkConfiguration.AwsvpcConfiguration.AssignPublicIp, 'ENABLED');
  assert.equal(resources(pub, 'AWS::EC2::NatGateway').length, 0);
  const nat = home({ network: 'nat' });
  assert.equal(resources(nat, 'AWS::EC2::NatGateway').length, 1);
  assert.equal(serviceOf(nat).NetworkConfiguration.AwsvpcConfiguration.AssignPublicIp, 'DISABLED');
  const isolated = home({ network: 'endpoints', instanceRegions: ['eu-west-1'], auditBus: true });
  assert.equal(resources(isolated, 'AWS::EC2::InternetGateway').length, 0);
  assert.equal(resources(isolated, 'AWS::EC2::NatGateway').length, 0);
  assert.equal(serviceOf(isolated).NetworkConfiguration.AwsvpcConfiguration.AssignPublicIp, 'DISABLED');
  const names = resources(isolated, 'AWS::EC2::VPCEndpoint').map(([, e]) => JSON.stringify(e.Properties.ServiceName));
  for (const service of ['sqs', 'ec2', 'servicediscovery', 'data-servicediscovery', 'sts', 'autoscaling', 'logs', 'ecr.api', 'ecr.dkr', 'events', 's3', 'dynamodb']) {
    assert.ok(names.some((n) => n.includes(`.${service}"`)), `no ${service} endpoint in ${names}`);
  }
  // The state table through a gateway endpoint on the worker subnets' route tables.
  const [[, ddb]] = resources(isolated, 'AWS::EC2::VPCEndpoint').filter(([, e]) => JSON.stringify(e.Properties.ServiceName).includes('.dynamodb"'));
  assert.equal(ddb.Properties.VpcEndpointType, 'Gateway');
  assert.ok(ddb.Properties.RouteTableIds.length >= 2);
  assert.throws(() => home({ network: 'endpoints' }), /EC2 has no cross-region endpoint/);
  assert.throws(() => home({ network: 'endpoints', instanceRegions: ['eu-west-1'], imageRepository: undefined, imageTag: undefined, imageUri: 'x/y:1' }), /ECR/);
});

test('an existing VPC, subnets and cluster: nothing of the network is created', () => {
  const t = home({ vpcId: 'vpc-0123456789abcdef0', subnetIds: ['subnet-0123456789abcdef0', 'subnet-0fedcba9876543210'], clusterName: 'platform' });
  for (const type of ['AWS::EC2::VPC', 'AWS::EC2::Subnet', 'AWS::EC2::InternetGateway', 'AWS::ECS::Cluster']) {
    assert.equal(resources(t, type).length, 0, type);
  }
  const net = serviceOf(t).NetworkConfiguration.AwsvpcConfiguration;
  assert.deepEqual(net.Subnets, ['subnet-0123456789abcdef0', 'subnet-0fedcba9876543210']);
  assert.equal(net.AssignPublicIp, 'DISABLED');
  assert.equal(serviceOf(t).Cluster, 'platform');
  assert.equal(resources(t, 'AWS::EC2::SecurityGroup')[0][1].Properties.VpcId, 'vpc-0123456789abcdef0');
  assert.throws(() => home({ vpcId: 'vpc-0123456789abcdef0' }), /vpcId and subnetIds go together/);
});

test('organization mode admits every account in one bus-policy statement; many accounts without it are refused', () => {
  const accounts = Array.from({ length: 41 }, (_, i) => String(300000000000 + i));
  assert.throws(() => parseConfig({ ...exampleConfig, memberAccounts: accounts }), /set organizationId/);
  const t = template(built(parseConfig({ ...exampleConfig, memberAccounts: accounts, organizationId: 'o-abcdef0123' })).home);
  const [[, policy], ...more] = resources(t, 'AWS::Events::EventBusPolicy');
  assert.equal(more.length, 0);
  assert.deepEqual(policy.Properties.Statement.Condition, {
    StringEquals: { 'aws:PrincipalOrgID': 'o-abcdef0123', 'events:source': ['aws.autoscaling', 'aws.ec2', 'aws.health'] },
  });
  assert.equal(policy.Properties.EventBusName, 'cloud-unmap-forwarded');
});

test('alarms notify the topic named (in each stack\'s own region); none is created then', () => {
  const b = built(parseConfig({ ...exampleConfig, alarmTopicName: 'platform-alerts' }));
  for (const stack of [b.home, ...b.forwarders, ...b.members]) {
    const t = template(stack);
    assert.equal(resources(t, 'AWS::SNS::Topic').length, 0, stack.stackName);
    const arn = `arn:aws:sns:${stack.region}:${stack.account}:platform-alerts`;
    for (const [, a] of resources(t, 'AWS::CloudWatch::Alarm')) {
      assert.match(JSON.stringify(a.Properties.AlarmActions), new RegExp(`:sns:${stack.region}:${stack.account}:platform-alerts`), arn);
    }
  }
});

test('lifecycle actions can be limited to groups carrying a tag, in the task role and the member role', () => {
  const b = built(parseConfig({ ...exampleConfig, lifecycleGroupTag: { key: 'cloud-unmap', value: 'enabled' } }));
  const task = statements(template(b.home), 'CloudUnmapTaskPolicy').find((s: any) => s.Sid === 'LifecycleActions');
  const member = statements(template(b.members[0]), 'ReaderReaderPolicy').find((s: any) => s.Sid === 'LifecycleActions');
  for (const s of [task, member]) {
    assert.deepEqual([s.Action].flat().sort(), ['autoscaling:CompleteLifecycleAction', 'autoscaling:RecordLifecycleActionHeartbeat']);
    assert.deepEqual(s.Condition, { StringEquals: { 'autoscaling:ResourceTag/cloud-unmap': 'enabled' } });
  }
  const open = statements(template(built().home), 'CloudUnmapTaskPolicy').find((s: any) => s.Sid === 'LifecycleActions');
  assert.equal(open.Condition, undefined);
});

test("stack names: 'CloudUnmapForwarder-*' is the home account's alone; each member account's stacks share a prefix", () => {
  const b = built();
  const all = [b.home, ...b.forwarders, ...b.members];
  for (const s of all.filter((x) => x.stackName.startsWith('CloudUnmapForwarder-'))) assert.equal(s.account, exampleConfig.homeAccount);
  for (const s of all.filter((x) => x.account === '222222222222')) assert.match(s.stackName, /^CloudUnmapMember-222222222222/);
  // The reader role (a global name) once per account.
  const roles = all.flatMap((s) => resources(template(s), 'AWS::IAM::Role').map(([, r]) => r.Properties.RoleName)).filter((n) => n === 'cloud-unmap-reader');
  assert.equal(roles.length, 1);
});

test('a CloudWatch dashboard of the queue, the dead letters and the running tasks', () => {
  const [[, dash]] = resources(home(), 'AWS::CloudWatch::Dashboard');
  const body = JSON.stringify(dash.Properties.DashboardBody);
  for (const metric of ['ApproximateNumberOfMessagesVisible', 'ApproximateAgeOfOldestMessage', 'NumberOfMessagesDeleted', 'CPUUtilization']) {
    assert.ok(body.includes(metric), metric);
  }
});

test('the Dockerfile cross-builds from the build platform, pins its bases by digest and installs the binary the health check runs', () => {
  const dockerfile = fs.readFileSync(path.resolve(__dirname, '..', '..', 'Dockerfile'), 'utf8');
  const froms = dockerfile.split('\n').filter((l) => l.startsWith('FROM '));
  assert.ok(froms.length >= 2);
  for (const from of froms) assert.match(from, /@sha256:[0-9a-f]{64}/, from);
  assert.match(froms[0], /--platform=\$BUILDPLATFORM/);
  for (const target of ['aarch64-unknown-linux-gnu', 'x86_64-unknown-linux-gnu']) assert.ok(dockerfile.includes(target), target);
  assert.match(dockerfile, new RegExp(`COPY --from=build \\S+ ${CloudUnmap.BINARY}\\n`));
  assert.match(dockerfile, new RegExp(`ENTRYPOINT \\["${CloudUnmap.BINARY}"\\]`));
  for (const label of ['org.opencontainers.image.source', 'org.opencontainers.image.version', 'org.opencontainers.image.licenses']) {
    assert.ok(dockerfile.includes(label), label);
  }
});
