// The construct package as users get it: `npm pack` in construct/ (jsii compiles it: jsii-compatible
// props), the tarball installed into a scratch CDK app (JavaScript, and TypeScript typechecked against the
// shipped declarations), which synthesizes, with the app's aws-cdk-lib and with the oldest the package
// supports (its peer floor, installed as aws-cdk-lib-floor). Also: the CLI and the library are pinned, the
// package follows Construct Hub's conventions, and API.md is what jsii-docgen makes of the sources.
process.env.JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION = '1';

import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';

const INFRA = path.resolve(__dirname, '..');
const PACKAGE = path.join(INFRA, 'construct');
/** Runs a command; on failure the error carries its output (a compiler's diagnostics). */
function run(command: string, args: string[], cwd: string): string {
  try {
    return execFileSync(command, args, { cwd, encoding: 'utf8', stdio: 'pipe' });
  } catch (e: any) {
    throw new Error(`${path.basename(command)} failed:\n${e.stdout ?? ''}${e.stderr ?? ''}`);
  }
}
const manifest = (dir: string) => JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8'));

const FLOOR = manifest(INFRA).devDependencies['aws-cdk-lib-floor'].replace('npm:aws-cdk-lib@', '');

test('the CDK CLI and library are pinned exactly; the package asks for the oldest aws-cdk-lib it is tested with', () => {
  const dev = manifest(INFRA).devDependencies;
  for (const name of ['aws-cdk', 'aws-cdk-lib', 'constructs', 'jsii', 'jsii-docgen']) assert.match(dev[name], /^\d+\.\d+\.\d+$/, name);
  assert.match(FLOOR, /^\d+\.\d+\.\d+$/);
  const peers = manifest(PACKAGE).peerDependencies;
  assert.equal(peers['aws-cdk-lib'], `^${FLOOR}`, 'the peer floor is the version the scratch app is built against');
  assert.equal(peers.constructs, '^10.0.0');
  // jsii's convention: the package's own devDependencies are its peer floor.
  assert.deepEqual(manifest(PACKAGE).devDependencies, { 'aws-cdk-lib': FLOOR, constructs: '10.0.0' });
});

test('Construct Hub conventions: awscdk keyword, engines, license, repository (the image\'s source), API.md', () => {
  const m = manifest(PACKAGE);
  assert.ok(m.keywords.includes('awscdk'));
  assert.ok(m.engines.node);
  assert.equal(m.license, 'MIT');
  assert.match(fs.readFileSync(path.join(PACKAGE, 'LICENSE'), 'utf8'), /^MIT License/);
  const source = fs.readFileSync(path.resolve(INFRA, '..', 'Dockerfile'), 'utf8').match(/org\.opencontainers\.image\.source="([^"]+)"/)![1];
  assert.equal(m.repository.url, `${source}.git`, 'one repository URL: the image label and the package');
  assert.equal(m.repository.directory, 'infra/construct');
  for (const file of ['API.md', 'LICENSE']) assert.ok(m.files.includes(file), file);
});

const packed = fs.mkdtempSync(path.join(os.tmpdir(), 'cloud-unmap-pack-'));
/** `npm pack` once (its prepack compiles with jsii): the tarball. */
const tarball = (() => {
  const out = execFileSync('npm', ['pack', '--silent', '--pack-destination', packed], { cwd: PACKAGE, encoding: 'utf8' });
  return path.join(packed, out.trim().split('\n').pop()!);
})();
process.on('exit', () => fs.rmSync(packed, { recursive: true, force: true }));

test('API.md is what jsii-docgen makes of the compiled package (regenerate: make templates, or npm run docgen in infra/)', () => {
  // jsii-docgen finds aws-cdk-lib's assembly beside the package's: a scratch copy with node_modules linked.
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'cloud-unmap-docgen-'));
  try {
    execFileSync('tar', ['-xzf', tarball, '-C', scratch]);
    const pkg = path.join(scratch, 'package');
    fs.symlinkSync(path.join(INFRA, 'node_modules'), path.join(pkg, 'node_modules'));
    run(path.join(INFRA, 'node_modules', '.bin', 'jsii-docgen'), ['-o', 'API.fresh.md'], pkg);
    assert.equal(fs.readFileSync(path.join(PACKAGE, 'API.md'), 'utf8'), fs.readFileSync(path.join(pkg, 'API.fresh.md'), 'utf8'), 'API.md is stale');
  } finally {
    fs.rmSync(scratch, { recursive: true, force: true });
  }
});

for (const [label, lib] of [['the app\'s aws-cdk-lib', 'aws-cdk-lib'], [`the peer floor (aws-cdk-lib ${FLOOR})`, 'aws-cdk-lib-floor']]) {
test(`npm pack makes a package that a scratch app imports and synthesizes, with ${label}`, () => {
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'cloud-unmap-consumer-'));
  try {
    const listing = execFileSync('tar', ['-tzf', tarball], { encoding: 'utf8' }).split('\n');
    for (const file of ['package/lib/index.js', 'package/lib/index.d.ts', 'package/event-rules.json', 'package/.jsii', 'package/README.md', 'package/API.md', 'package/LICENSE']) {
      assert.ok(listing.includes(file), `${file} is not in the package`);
    }
    assert.ok(!listing.some((f) => f.startsWith('package/src/')), 'sources are not shipped');
    const modules = path.join(scratch, 'node_modules');
    fs.mkdirSync(modules);
    execFileSync('tar', ['-xzf', tarball, '-C', modules]);
    fs.renameSync(path.join(modules, 'package'), path.join(modules, 'cloud-unmap-cdk'));
    fs.symlinkSync(path.join(INFRA, 'node_modules', lib), path.join(modules, 'aws-cdk-lib'));
    fs.symlinkSync(path.join(INFRA, 'node_modules', 'constructs'), path.join(modules, 'constructs'));

    const consumer = `
import { App, Stack } from 'aws-cdk-lib';
import * as ecr from 'aws-cdk-lib/aws-ecr';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import { CloudUnmap, CloudUnmapForwarder, CloudUnmapMemberRole, CloudUnmapOrganizationReader, NetworkMode } from 'cloud-unmap-cdk';

declare const process: { argv: string[] };
const app = new App({ outdir: process.argv[2] });
const home = new Stack(app, 'Home', { env: { account: '111111111111', region: 'eu-west-1' } });
const repo = ecr.Repository.fromRepositoryName(home, 'Repo', 'cloud-unmap');
new CloudUnmap(home, 'CloudUnmap', {
  image: ecs.ContainerImage.fromEcrRepository(repo, '0.1.0'),
  serviceIds: ['srv-abcdef0123456789'],
  instanceRegions: ['eu-west-1'],
  network: NetworkMode.NAT_GATEWAY,
  organizationId: 'o-abcdef0123',
  memberRoleName: 'cloud-unmap-reader',
  metricsDiscovery: true,
});
const member = new Stack(app, 'Member', { env: { account: '222222222222', region: 'eu-west-1' } });
new CloudUnmapMemberRole(member, 'Reader', { homeAccount: '111111111111', homeRegion: 'eu-west-1', organizationId: 'o-abcdef0123' });
new CloudUnmapForwarder(member, 'Forwarder', { homeAccount: '111111111111', homeRegion: 'eu-west-1', alarms: false });
new CloudUnmapOrganizationReader(member, 'Organization', { homeAccount: '111111111111', homeRegion: 'eu-west-1', organizationId: 'o-abcdef0123' });
app.synth();
`;
    fs.writeFileSync(path.join(scratch, 'app.ts'), consumer);
    fs.writeFileSync(
      path.join(scratch, 'tsconfig.json'),
      JSON.stringify({ compilerOptions: { target: 'ES2022', module: 'commonjs', strict: true, skipLibCheck: true, types: [], outDir: 'out' }, files: ['app.ts'] }),
    );
    // TypeScript against the shipped declarations, then the compiled JavaScript under plain node.
    run(path.join(INFRA, 'node_modules', '.bin', 'tsc'), ['-p', scratch], scratch);
    const assembly = path.join(scratch, 'cdk.out');
    run(process.execPath, [path.join(scratch, 'out', 'app.js'), assembly], scratch);

    const homeTemplate = JSON.parse(fs.readFileSync(path.join(assembly, 'Home.template.json'), 'utf8'));
    const types = Object.values(homeTemplate.Resources).map((r: any) => r.Type);
    const rules = JSON.parse(fs.readFileSync(path.join(modules, 'cloud-unmap-cdk', 'event-rules.json'), 'utf8')).rules;
    assert.equal(types.filter((t) => t === 'AWS::Events::Rule').length, 2 * rules.length, 'one rule per shipped event rule on each bus');
    for (const type of ['AWS::SQS::Queue', 'AWS::ECS::Service', 'AWS::ECS::TaskDefinition', 'AWS::EC2::NatGateway', 'AWS::ServiceDiscovery::Service']) {
      assert.ok(types.includes(type), type);
    }
    const memberTemplate = JSON.parse(fs.readFileSync(path.join(assembly, 'Member.template.json'), 'utf8'));
    assert.ok(Object.values(memberTemplate.Resources).some((r: any) => r.Properties?.RoleName === 'cloud-unmap-reader'));
    assert.ok(!Object.values(memberTemplate.Resources).some((r: any) => ['AWS::SNS::Topic', 'AWS::KMS::Key', 'AWS::CloudWatch::Alarm'].includes(r.Type)));
  } finally {
    fs.rmSync(scratch, { recursive: true, force: true });
  }
});
}
