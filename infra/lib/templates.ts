// The published artifacts for users without CDK: parameterized CloudFormation templates and the
// worker's IAM policy document, all synthesized from the same constructs as the CDK deployment.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { App } from 'aws-cdk-lib';
import { buildTemplateApp } from './app';
import { workerPolicyDocument } from './policy';

export const TEMPLATE_DIR = path.resolve(__dirname, '..', 'cloudformation');

/** File name → content of every published artifact. */
export function renderTemplates(): Map<string, string> {
  const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'cloud-unmap-templates-'));
  try {
    const { app } = buildTemplateApp(new App({ outdir }));
    const assembly = app.synth();
    const out = new Map<string, string>();
    for (const stack of assembly.stacks) {
      out.set(`${stack.stackName}.json`, JSON.stringify(stack.template, null, 2) + '\n');
    }
    out.set('worker-iam-policy.json', JSON.stringify(workerPolicyDocument(), null, 2) + '\n');
    return out;
  } finally {
    fs.rmSync(outdir, { recursive: true, force: true });
  }
}
