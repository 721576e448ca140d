// Shared by the infra tests: the example configuration of cdk.json and the synthesized stacks.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { buildApp, Built } from '../lib/app';
import { CloudUnmapConfig, parseConfig } from '../lib/config';

export const exampleConfig: CloudUnmapConfig = parseConfig(
  JSON.parse(fs.readFileSync(path.resolve(__dirname, '..', 'cdk.json'), 'utf8')).context.cloudUnmap,
);

export function built(config: CloudUnmapConfig = exampleConfig): Built {
  return buildApp(config, new App());
}

export function template(stack: import('aws-cdk-lib').Stack): Template {
  return Template.fromStack(stack);
}

/** Every resource of a type, as [logicalId, resource]. */
export function resources(t: Template, type: string): [string, any][] {
  return Object.entries(t.findResources(type));
}
