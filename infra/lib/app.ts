// Assembles the stacks: from a CloudUnmapConfig (CDK deployments), or with CloudFormation
// parameters (the published templates in cloudformation/). cdk-nag's AwsSolutions checks run on both.
import { App, BootstraplessSynthesizer, IPolicyValidationContext, IPolicyValidationPlugin, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { CloudUnmapConfig } from './config';
import { ForwarderStack } from './forwarder-stack';
import { HomeStack, homeSettings } from './home-stack';
import { MemberStack } from './member-stack';

export interface Built {
  app: App;
  home: HomeStack;
  forwarders: ForwarderStack[];
  members: MemberStack[];
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
  const home = new HomeStack(app, 'CloudUnmapHome', {
    env: env(config.homeAccount, config.homeRegion),
    settings: homeSettings(config),
    description: 'cloud-unmap: event queue, rules and the worker on ECS Fargate',
  });
  const forwarders: ForwarderStack[] = [];
  const members: MemberStack[] = [];
  const homeRef = { account: config.homeAccount, region: config.homeRegion, hookNames: config.lifecycleHookNames };
  for (const region of config.instanceRegions.filter((r) => r !== config.homeRegion)) {
    forwarders.push(
      new ForwarderStack(app, `CloudUnmapForwarder-${region}`, {
        env: env(config.homeAccount, region),
        home: homeRef,
        description: 'cloud-unmap: forwards EC2 and Auto Scaling events to the home region',
      }),
    );
  }
  for (const account of config.memberAccounts) {
    const [first, ...others] = config.instanceRegions;
    members.push(
      new MemberStack(app, `CloudUnmapMember-${account}`, {
        env: env(account, first),
        settings: {
          homeAccount: config.homeAccount,
          homeRegion: config.homeRegion,
          roleName: config.memberRoleName,
          hookNames: config.lifecycleHookNames,
        },
        description: 'cloud-unmap: reader role for the worker and event forwarder',
      }),
    );
    for (const region of others) {
      forwarders.push(
        new ForwarderStack(app, `CloudUnmapForwarder-${account}-${region}`, {
          env: env(account, region),
          home: homeRef,
          description: 'cloud-unmap: forwards EC2 and Auto Scaling events to the home region',
        }),
      );
    }
  }
  finish(app);
  return { app, home, forwarders, members };
}

/** The parameterized stacks published as plain CloudFormation templates. */
export function buildTemplateApp(app: App = new App()): Built {
  const synthesizer = () => new BootstraplessSynthesizer({});
  const home = new HomeStack(app, 'home', {
    settings: 'parameters',
    synthesizer: synthesizer(),
    description: 'cloud-unmap: event queue, rules and the worker on ECS Fargate',
  });
  const forwarder = new ForwarderStack(app, 'forwarder', {
    home: 'parameters',
    synthesizer: synthesizer(),
    description: 'cloud-unmap: forwards EC2 and Auto Scaling events to the home region',
  });
  const member = new MemberStack(app, 'member', {
    settings: 'parameters',
    synthesizer: synthesizer(),
    description: 'cloud-unmap: reader role for the worker and event forwarder',
  });
  finish(app);
  return { app, home, forwarders: [forwarder], members: [member] };
}
