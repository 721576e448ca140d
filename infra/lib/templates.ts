// The published artifacts for users without CDK: parameterized CloudFormation templates and the
// worker's IAM policy document, all synthesized from the same constructs as the CDK deployment.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { App } from 'aws-cdk-lib';
import { buildTemplateApp } from './app';
import { CloudUnmap } from '../construct/src';

export const TEMPLATE_DIR = path.resolve(__dirname, '..', 'cloudformation');

/** File name → content of every published artifact. */
export function renderTemplates(): Map<string, string> {
  const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'cloud-unmap-templates-'));
  try {
    const { app } = buildTemplateApp(new App({ outdir }));
    const assembly = app.synth();
    const out = new Map<string, string>();
    for (const stack of assembly.stacks) {
      out.set(`${stack.stackName}.json`, formatTemplate(stack.template));
    }
    out.set('worker-iam-policy.json', JSON.stringify(CloudUnmap.standalonePolicy().toJSON(), null, 2) + '\n');
    return out;
  } finally {
    fs.rmSync(outdir, { recursive: true, force: true });
  }
}

/**
 * CloudFormation takes at most 51,200 bytes of template in a request (`--template-body`, and `aws
 * cloudformation deploy` without an S3 bucket): one line per parameter, condition and resource keeps the
 * templates small and their diffs readable.
 */
export const TEMPLATE_BODY_LIMIT = 51_200;

export function formatTemplate(template: Record<string, unknown>): string {
  const sections = Object.entries(template).map(([key, value]) => {
    if (value === null || typeof value !== 'object' || Array.isArray(value)) return `  ${JSON.stringify(key)}: ${JSON.stringify(value)}`;
    const entries = Object.entries(value as Record<string, unknown>).map(([k, v]) => `    ${JSON.stringify(k)}: ${JSON.stringify(v)}`);
    return `  ${JSON.stringify(key)}: {\n${entries.join(',\n')}\n  }`;
  });
  return `{\n${sections.join(',\n')}\n}\n`;
}
