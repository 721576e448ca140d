// CloudUnmapForwarder: the rules of event-rules.json in one instance region (and account), sending what
// they match to the home's own bus (cloud-unmap-forwarded), with a dead-letter queue and, optionally, alarms.
import { Stack } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { Alarms, undeliveredQueue } from './alarms';
import { DEFAULT_HOOK_NAMES, eventPattern, loadRules, withHookNames } from './rules';

/** The home's bus for forwarded events (one per home account and region). */
export const FORWARDED_BUS_NAME = 'cloud-unmap-forwarded';

export interface CloudUnmapForwarderProps {
  /** Account of the CloudUnmap construct (its queue and worker). */
  readonly homeAccount: string;
  /** Region of the CloudUnmap construct. */
  readonly homeRegion: string;
  /** cloud-unmap's lifecycle hook names: only their actions are forwarded. @default ['cloud-unmap'] */
  readonly lifecycleHookNames?: string[];
  /** A topic of this region that the alarms notify (none is created then). @default a topic is created */
  readonly alarmTopic?: sns.ITopic;
  /**
   * Alarms in this account and region (undelivered events, failed invocations). False: no alarm, no topic,
   * no key (for a StackSet over hundreds of accounts, where nobody subscribes to each one's topic). @default true
   */
  readonly alarms?: boolean;
  /** The home bus the events go to. @default 'cloud-unmap-forwarded' (the CloudUnmap construct's own bus) */
  readonly homeEventBusName?: string;
}

/**
 * Forwards EC2 and Auto Scaling events of this account and region to cloud-unmap's home bus (a bus of its
 * own, not the default bus other teams' rules read). The home bus must admit this account (CloudUnmap's
 * `forwarderAccounts` or `organizationId`). EventBridge retries
 * delivery to an event-bus target by its own policy (a retry policy cannot be set on such targets);
 * what it finally cannot deliver lands in `deadLetterQueue`, and an alarm says so.
 */
export class CloudUnmapForwarder extends Construct {
  /** The role EventBridge uses to put events on the home bus. */
  readonly role: iam.Role;
  /** Events that could not be forwarded. */
  readonly deadLetterQueue: sqs.Queue;
  /** The topic every alarm notifies (undefined with `alarms: false`). */
  readonly alarmTopic?: sns.ITopic;

  constructor(scope: Construct, id: string, props: CloudUnmapForwarderProps) {
    super(scope, id);
    const stack = Stack.of(this);
    const busName = props.homeEventBusName ?? FORWARDED_BUS_NAME;
    const busArn = `arn:${stack.partition}:events:${props.homeRegion}:${props.homeAccount}:event-bus/${busName}`;
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
    this.deadLetterQueue = undeliveredQueue(this, 'Undelivered', "the forwarding rules' target DLQ");
    const alarms = new Alarms(this, 'Alarms', props.alarmTopic, props.alarms ?? true);
    this.alarmTopic = alarms.topic;
    alarms.notEmpty(this, 'UndeliveredAlarm', this.deadLetterQueue, 'Events could not be forwarded to the cloud-unmap home region');
    const rules: events.Rule[] = [];
    for (const rule of withHookNames(loadRules(), props.lifecycleHookNames ?? DEFAULT_HOOK_NAMES)) {
      const r = new events.Rule(this, `Rule-${rule.name}`, {
        description: `${rule.description} (forwarded to the home region)`,
        eventPattern: eventPattern(rule),
        targets: [new targets.EventBus(homeBus, { role: this.role, deadLetterQueue: this.deadLetterQueue })],
      });
      rules.push(r);
    }
    alarms.failedInvocations(this, 'FailedInvocations', rules);
  }
}
