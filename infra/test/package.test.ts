// The construct package as users get it: `npm pack` in construct/ (jsii compiles it: jsii-compatible
// props), the tarball installed into a scratch CDK app (JavaScript, and TypeScript typechecked against the
// shipped declarations), which synthesizes. Also: the CLI, the library and the package's peer range agree.
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

test('the CDK CLI and library are pinned exactly, and the package asks for the library the app uses', () => {
  const dev = manifest(INFRA).devDependencies;
  for (const name of ['aws-cdk', 'aws-cdk-lib', 'constructs', 'jsii']) assert.match(dev[name], /^\d+\.\d+\.\d+$/, name);
  const peers = manifest(PACKAGE).peerDependencies;
  assert.equal(peers['aws-cdk-lib'], `^${dev['aws-cdk-lib']}`);
  assert.equal(peers.constructs, `^${dev.constructs}`);
});

test('npm pack makes a package that a scratch app imports and synthesizes', () => {
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'cloud-unmap-consumer-'));
  try {
    const out = execFileSync('npm', ['pack', '--silent', '--pack-destination', scratch], { cwd: PACKAGE, encoding: 'utf8' });
    const tarball = path.join(scratch, out.trim().split('\n').pop()!);
    const listing = execFileSync('tar', ['-tzf', tarball], { encoding: 'utf8' }).split('\n');
    for (const file of ['package/lib/index.js', 'package/lib/index.d.ts', 'package/event-rules.json', 'package/.jsii', 'package/README.md']) {
      assert.ok(listing.includes(file), `${file} is not in the package`);
    }
    assert.ok(!listing.some((f) => f.startsWith('package/src/')), 'sources are not shipped');
    const modules = path.join(scratch, 'node_modules');
    fs.mkdirSync(modules);
    execFileSync('tar', ['-xzf', tarball, '-C', modules]);
    fs.renameSync(path.join(modules, 'package'), path.join(modules, 'cloud-unmap-cdk'));
    for (const dep of ['aws-cdk-lib', 'constructs']) fs.symlinkSync(path.join(INFRA, 'node_modules', dep), path.join(modules, dep));

    const consumer = `
import { App, Stack } from 'aws-cdk-lib';
import * as ecr from 'aws-cdk-lib/aws-ecr';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import { CloudUnmap, CloudUnmapForwarder, CloudUnmapMemberRole, NetworkMode } from 'cloud-unmap-cdk';

declare const process: { argv: string[] };
const app = new App({ outdir: process.argv[2] });
const home = new Stack(app, 'Home', { env: { account: '111111111111', region: 'eu-west-1' } });
const repo = ecr.Repository.fromRepositoryName(home, 'Repo', 'cloud-unmap');
new CloudUnmap(home, 'CloudUnmap', {
  image: ecs.ContainerImage.fromEcrRepository(repo, '0.1.0'),
  serviceIds: ['srv-abcdef0123456789'],
  instanceRegions: ['eu-west-1'],
  network: NetworkMode.NAT_GATEWAY,
});
const member = new Stack(app, 'Member', { env: { account: '222222222222', region: 'eu-west-1' } });
new CloudUnmapMemberRole(member, 'Reader', { homeAccount: '111111111111', homeRegion: 'eu-west-1' });
new CloudUnmapForwarder(member, 'Forwarder', { homeAccount: '111111111111', homeRegion: 'eu-west-1' });
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
    for (const type of ['AWS::SQS::Queue', 'AWS::ECS::Service', 'AWS::ECS::TaskDefinition', 'AWS::EC2::NatGateway']) {
      assert.ok(types.includes(type), type);
    }
    const memberTemplate = JSON.parse(fs.readFileSync(path.join(assembly, 'Member.template.json'), 'utf8'));
    assert.ok(Object.values(memberTemplate.Resources).some((r: any) => r.Properties?.RoleName === 'cloud-unmap-reader'));
  } finally {
    fs.rmSync(scratch, { recursive: true, force: true });
  }
});
