// A forwarder: the rules of event-rules.json in one instance region (and account), sending what
// they match to the home region's default event bus.
import { CfnParameter, Stack } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import { Alarms, undeliveredQueue } from './alarms';
import { eventPattern, loadRules, withHookNames } from './rules';

export interface ForwarderProps {
  homeAccount: string;
  homeRegion: string;
  /** cloud-unmap's lifecycle hook names: only their actions are forwarded. */
  hookNames: string[];
}

export class Forwarder extends Construct {
  readonly role: iam.Role;

  constructor(scope: Construct, id: string, props: ForwarderProps) {
    super(scope, id);
    const stack = Stack.of(this);
    const busArn = `arn:${stack.partition}:events:${props.homeRegion}:${props.homeAccount}:event-bus/default`;
    const homeBus = events.EventBus.fromEventBusArn(this, 'HomeBus', busArn);
    this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('events.amazonaws.com'),
      description: 'Forwards EC2 and Auto Scaling events to cloud-unmap in the home region',
    });
    this.role.attachInlinePolicy(
      new iam.Policy(this, 'PutEvents', {
        statements: [new iam.PolicyStatement({ actions: ['events:PutEvents'], resources: [busArn] })],
      }),
    );
    // Events the home bus refused (or could not be reached for) land here, and an alarm says so.
    const undelivered = undeliveredQueue(this, 'Undelivered', "the forwarding rules' target DLQ");
    const alarms = new Alarms(this, 'Alarms');
    alarms.notEmpty(this, 'UndeliveredAlarm', undelivered, 'Events could not be forwarded to the cloud-unmap home region');
    for (const rule of withHookNames(loadRules(), props.hookNames)) {
      const r = new events.Rule(this, `Rule-${rule.name}`, {
        description: `${rule.description} (forwarded to the home region)`,
        eventPattern: eventPattern(rule),
        targets: [new targets.EventBus(homeBus, { role: this.role, deadLetterQueue: undelivered })],
      });
      alarms.failedInvocations(this, `Failed-${rule.name}`, r);
    }
  }
}

/** The published templates' parameter for cloud-unmap's lifecycle hook names. */
export function hookNamesParameter(stack: Stack): CfnParameter {
  return new CfnParameter(stack, 'LifecycleHookNames', {
    type: 'CommaDelimitedList',
    default: 'cloud-unmap',
    description: 'Auto Scaling lifecycle hooks cloud-unmap owns, comma-separated: only their terminate actions are forwarded and completed',
  });
}
