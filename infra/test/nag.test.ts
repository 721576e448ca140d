// The one fully validated synth: CDK's CloudFormation validator and cdk-nag's AwsSolutions pack on
// the CDK deployment and on the published templates. Synthesis throws on any unacknowledged finding.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { App } from 'aws-cdk-lib';
import { buildApp, buildTemplateApp } from '../lib/app';
import { parseConfig } from '../lib/config';
import { exampleConfig } from './helpers';

function synthClean(build: (app: App) => unknown): void {
  const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'nag-'));
  try {
    const app = new App({ outdir });
    build(app);
    assert.doesNotThrow(() => app.synth());
  } finally {
    fs.rmSync(outdir, { recursive: true, force: true });
  }
}

test('the CDK deployment passes cdk-nag AwsSolutions (acknowledgements carry reasons)', () => {
  synthClean((app) => buildApp(exampleConfig, app));
});

test('the private networking modes pass cdk-nag AwsSolutions', () => {
  for (const network of ['nat', 'endpoints']) {
    synthClean((app) => buildApp(parseConfig({ ...exampleConfig, network, instanceRegions: ['eu-west-1'], memberAccounts: [] }), app));
  }
});

test('organization mode, metrics discovery, a customer-managed key and no member alarms pass cdk-nag AwsSolutions', () => {
  const config = {
    ...exampleConfig,
    organizationId: 'o-abcdef0123',
    organizationReaderAccount: '333333333333',
    memberAlarms: false,
    metricsDiscovery: true,
    kmsKeyArn: 'arn:aws:kms:eu-west-1:111111111111:key/0a1b2c3d-4e5f-6789-abcd-ef0123456789',
  };
  synthClean((app) => buildApp(parseConfig(config), app));
});

test('the published templates pass cdk-nag AwsSolutions', () => {
  synthClean((app) => buildTemplateApp(app));
});
