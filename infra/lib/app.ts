// Assembles the stacks: from a CloudUnmapConfig (CDK deployments), or with CloudFormation parameters
// (the published templates in cloudformation/). cdk-nag's AwsSolutions checks run on both. Stack names:
// CloudUnmapHome; CloudUnmapForwarder-<region> (home account only); CloudUnmapMember-<account>[-<region>];
// CloudUnmapOrganizationReader (organization mode, in the management account or a delegated administrator).
import { App, BootstraplessSynthesizer, Stack, IPolicyValidationContext, IPolicyValidationPlugin, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { CloudUnmapConfig } from './config';
import { ForwarderStack, HomeStack, MemberStack, OrganizationReaderStack } from './stacks';
import { ForwarderTemplateStack, HomeTemplateStack, MemberTemplateStack, OrganizationReaderTemplateStack } from './template-stacks';

export interface Built {
  app: App;
  home: Stack;
  forwarders: Stack[];
  members: Stack[];
}

/**
 * cdk-nag's AwsSolutions pack on every stack; its acknowledgements sit beside the constructs they concern.
 * Its EventBusOpenAccess rule reads the deprecated `CfnEventBusPolicy#principal` of every bus policy
 * (ours set only `statement`), which would print a deprecation warning at every synth: jsii's
 * deprecation notices are quiet while the pack runs, and only then.
 */
function finish(app: App): void {
  const pack = new AwsSolutionsChecks(app, { verbose: true });
  const quietly: IPolicyValidationPlugin = {
    name: pack.name,
    version: pack.version,
    ruleIds: pack.ruleIds,
    validate(context: IPolicyValidationContext) {
      const before = process.env.JSII_DEPRECATED;
      process.env.JSII_DEPRECATED = 'quiet';
      try {
        return pack.validate(context);
      } finally {
        if (before === undefined) delete process.env.JSII_DEPRECATED;
        else process.env.JSII_DEPRECATED = before;
      }
    },
  };
  Validations.of(app).addPlugins(quietly);
}

/** Every stack of a deployment described by `config`. */
export function buildApp(config: CloudUnmapConfig, app: App = new App()): Built {
  const env = (account: string, region: string) => ({ account, region });
  const forwarding = 'cloud-unmap: forwards EC2 and Auto Scaling events to the home region';
  const home = new HomeStack(app, 'CloudUnmapHome', {
    env: env(config.homeAccount, config.homeRegion),
    config,
    description: 'cloud-unmap: event queue, rules and the worker on ECS Fargate',
  });
  const forwarders: Stack[] = [];
  const members: Stack[] = [];
  for (const region of config.instanceRegions.filter((r) => r !== config.homeRegion)) {
    forwarders.push(new ForwarderStack(app, `CloudUnmapForwarder-${region}`, { env: env(config.homeAccount, region), config, description: forwarding }));
  }
  for (const account of config.memberAccounts) {
    config.instanceRegions.forEach((region, i) => {
      const stack = new MemberStack(app, i === 0 ? `CloudUnmapMember-${account}` : `CloudUnmapMember-${account}-${region}`, {
        env: env(account, region),
        config,
        withRole: i === 0,
        description: i === 0 ? 'cloud-unmap: reader role for the worker and event forwarder' : forwarding,
      });
      (i === 0 ? members : forwarders).push(stack);
    });
  }
  if (config.organizationReaderAccount !== undefined) {
    members.push(
      new OrganizationReaderStack(app, 'CloudUnmapOrganizationReader', {
        env: env(config.organizationReaderAccount, config.homeRegion),
        config,
        description: "cloud-unmap: lists the organization's accounts for the worker",
      }),
    );
  }
  finish(app);
  return { app, home, forwarders, members };
}

/** The parameterized stacks published as plain CloudFormation templates. */
export function buildTemplateApp(app: App = new App()): Built {
  const synthesizer = () => new BootstraplessSynthesizer({});
  const home = new HomeTemplateStack(app, 'home', {
    existingVpc: false,
    synthesizer: synthesizer(),
    description: 'cloud-unmap: event queue, rules and the worker on ECS Fargate (in a VPC it creates)',
  });
  const inVpc = new HomeTemplateStack(app, 'home-existing-vpc', {
    existingVpc: true,
    synthesizer: synthesizer(),
    description: 'cloud-unmap: event queue, rules and the worker on ECS Fargate (in the VPC and subnets given)',
  });
  const forwarder = new ForwarderTemplateStack(app, 'forwarder', {
    synthesizer: synthesizer(),
    description: 'cloud-unmap: forwards EC2 and Auto Scaling events to the home region',
  });
  const member = new MemberTemplateStack(app, 'member', {
    synthesizer: synthesizer(),
    description: 'cloud-unmap: reader role (in one region) and event forwarder of a member account; StackSet-ready',
  });
  const reader = new OrganizationReaderTemplateStack(app, 'organization-reader', {
    synthesizer: synthesizer(),
    description: "cloud-unmap: lets the worker list the organization's accounts (management account or delegated administrator)",
  });
  finish(app);
  return { app, home, forwarders: [forwarder, inVpc], members: [member, reader] };
}
