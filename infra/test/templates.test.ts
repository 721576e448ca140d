// The published artifacts are current: cloudformation/ matches a fresh synthesis, and the README
// shows the generated IAM policy.
process.env.CDK_VALIDATION = 'false';

import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { renderTemplates, TEMPLATE_DIR } from '../lib/templates';

const rendered = renderTemplates();

test('cloudformation/ is up to date (regenerate with `npm run synth` in infra/)', () => {
  const committed = fs.readdirSync(TEMPLATE_DIR).sort();
  assert.deepEqual(committed, [...rendered.keys()].sort());
  for (const [name, content] of rendered) {
    assert.equal(fs.readFileSync(path.join(TEMPLATE_DIR, name), 'utf8'), content, `${name} is stale`);
  }
});

test('the README shows the IAM policy generated from the task role\'s source', () => {
  const readme = fs.readFileSync(path.resolve(__dirname, '..', '..', 'README.md'), 'utf8');
  const block = readme.match(/<!-- worker-iam-policy -->\n```json\n([\s\S]*?)```/);
  assert.ok(block, 'README has no worker-iam-policy block');
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
