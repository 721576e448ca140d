// The EventBridge rules of ../event-rules.json: the one file the worker's tests also load.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as events from 'aws-cdk-lib/aws-events';

export interface RuleSpec {
  name: string;
  description: string;
  pattern: { source: string[]; 'detail-type': string[]; detail?: Record<string, unknown> };
}

export const RULES_FILE = path.resolve(__dirname, '..', '..', 'event-rules.json');

export function loadRules(file: string = RULES_FILE): RuleSpec[] {
  const parsed = JSON.parse(fs.readFileSync(file, 'utf8')) as { rules: RuleSpec[] };
  for (const r of parsed.rules) {
    const extra = Object.keys(r.pattern).filter((k) => !['source', 'detail-type', 'detail'].includes(k));
    if (extra.length > 0) throw new Error(`rule ${r.name}: unsupported pattern keys ${extra.join(', ')}`);
  }
  return parsed.rules;
}

/** The CDK form of a pattern (CDK renders `detailType` as `detail-type`). */
export function eventPattern(spec: RuleSpec): events.EventPattern {
  return { source: spec.pattern.source, detailType: spec.pattern['detail-type'], detail: spec.pattern.detail };
}
