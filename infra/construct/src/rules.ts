// The EventBridge rules of event-rules.json (shipped in this package; the worker's tests load the same file). The
// lifecycle rule names cloud-unmap's own hooks: `withHookNames` puts the configured names there, so
// another team's hook never even reaches the queue (the worker checks the names again).
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as events from 'aws-cdk-lib/aws-events';

export interface RuleSpec {
  name: string;
  description: string;
  pattern: { source: string[]; 'detail-type': string[]; detail?: Record<string, unknown> };
}

/** The rules file, beside `src/` and `lib/` in the package. */
export const RULES_FILE = path.resolve(__dirname, '..', 'event-rules.json');

/** The worker's default hook name (--lifecycle-hook-name). */
export const DEFAULT_HOOK_NAMES = ['cloud-unmap'];

export function loadRules(file: string = RULES_FILE): RuleSpec[] {
  const parsed = JSON.parse(fs.readFileSync(file, 'utf8')) as { rules: RuleSpec[] };
  for (const r of parsed.rules) {
    const extra = Object.keys(r.pattern).filter((k) => !['source', 'detail-type', 'detail'].includes(k));
    if (extra.length > 0) throw new Error(`rule ${r.name}: unsupported pattern keys ${extra.join(', ')}`);
  }
  return parsed.rules;
}

/** The rules with the lifecycle rule's hook names replaced (names may be a list token in templates). */
export function withHookNames(rules: RuleSpec[], hookNames: string[]): RuleSpec[] {
  return rules.map((r) =>
    r.pattern.detail?.LifecycleHookName === undefined
      ? r
      : { ...r, pattern: { ...r.pattern, detail: { ...r.pattern.detail, LifecycleHookName: hookNames } } },
  );
}

/** The CDK form of a pattern (CDK renders `detailType` as `detail-type`). */
export function eventPattern(spec: RuleSpec): events.EventPattern {
  return { source: spec.pattern.source, detailType: spec.pattern['detail-type'], detail: spec.pattern.detail };
}
