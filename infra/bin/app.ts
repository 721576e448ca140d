// CDK entry point: `npx cdk deploy --all` with the "cloudUnmap" context of cdk.json (or -c cloudUnmap='{…}').
import { App } from 'aws-cdk-lib';
import { buildApp } from '../lib/app';
import { parseConfig } from '../lib/config';

const app = new App();
buildApp(parseConfig(app.node.tryGetContext('cloudUnmap')), app);
