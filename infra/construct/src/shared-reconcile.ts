// The reconcile the replicas share: the state table (DynamoDB: the cycle's lease, each service's last
// success) and the EventBridge Scheduler schedule that puts {"cloud-unmap":"reconcile","every":N} in the
// event queue every period, so N replicas run one cycle between them, not N.
import { Duration, RemovalPolicy, Stack, Token, Tokenization } from 'aws-cdk-lib';
import { acknowledge } from './acknowledge';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as schedulerTargets from 'aws-cdk-lib/aws-scheduler-targets';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { skipCheckov } from './checkov';

/** EventBridge Scheduler's shortest rate: a minute. */
export const MIN_FREQUENCY_SECONDS = 60;

export interface SharedReconcileProps {
  /** The event queue the reconcile messages go to. */
  queue: sqs.IQueue;
  /** Where messages the schedule could not deliver go (alarmed). */
  undelivered: sqs.IQueue;
  /** Seconds between reconciles (a number of at least 60, or a token with `schedule` given). */
  frequencySeconds: number;
  /** The schedule, when `frequencySeconds` is a token (a template parameter). */
  schedule?: scheduler.ScheduleExpression;
  /** A customer-managed key for the table. @default DynamoDB's own */
  encryptionKey?: kms.IKey;
}

/** The schedule's rate for a frequency: whole minutes, rounded up (EventBridge has no seconds). */
export function scheduleMinutes(frequencySeconds: number): number {
  return Math.ceil(frequencySeconds / 60);
}

export class SharedReconcile extends Construct {
  readonly table: dynamodb.Table;
  readonly schedule: scheduler.Schedule;
  /** The schedule's period in seconds (whole minutes; a token with a template's schedule). */
  readonly every: number;

  constructor(scope: Construct, id: string, props: SharedReconcileProps) {
    super(scope, id);
    const f = props.frequencySeconds;
    let expression = props.schedule;
    let every: number = f;
    if (expression === undefined) {
      if (Token.isUnresolved(f)) {
        throw new Error('CloudUnmap: a frequencySeconds token needs reconcileSchedule (EventBridge rates are whole minutes)');
      }
      if (!Number.isInteger(f) || f < MIN_FREQUENCY_SECONDS) {
        throw new Error(`CloudUnmap: frequencySeconds ${f} must be whole seconds, at least 60 (EventBridge Scheduler's shortest rate is a minute)`);
      }
      every = scheduleMinutes(f) * 60;
      expression = scheduler.ScheduleExpression.rate(Duration.minutes(scheduleMinutes(f)));
    }
    // Coordination state only: the next cycle rewrites it, so no backups and no retention.
    this.table = new dynamodb.Table(this, 'StateTable', {
      partitionKey: { name: 'pk', type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      removalPolicy: RemovalPolicy.DESTROY,
      ...(props.encryptionKey ? { encryption: dynamodb.TableEncryption.CUSTOMER_MANAGED, encryptionKey: props.encryptionKey } : {}),
    });
    const nothingToRestore = "the replicas' reconcile lease and each service's last success: the next cycle rewrites it, nothing to restore";
    skipCheckov(this.table, 'CKV_AWS_28', `No point-in-time recovery: ${nothingToRestore}.`);
    if (props.encryptionKey === undefined) {
      skipCheckov(this.table, 'CKV_AWS_119', `Encrypted at rest with DynamoDB's own key; a customer-managed key is optional (encryptionKey, KmsKeyArn): ${nothingToRestore}.`);
    }
    acknowledge(this.table, {
      id: 'AwsSolutions-DDB3',
      reason: "The table holds the replicas' reconcile lease and each service's last success; the next cycle rewrites it, nothing to restore.",
    });
    this.every = every;
    this.schedule = new scheduler.Schedule(this, 'Schedule', {
      description: `cloud-unmap: one reconcile cycle among the worker replicas (${Stack.of(this).stackName})`,
      schedule: expression,
      target: new schedulerTargets.SqsSendMessage(props.queue, {
        // Written as text, so a parameter's number (a token) stays a JSON number in the message.
        input: scheduler.ScheduleTargetInput.fromText(`{"cloud-unmap":"reconcile","every":${Tokenization.stringifyNumber(every)}}`),
        deadLetterQueue: props.undelivered,
        retryAttempts: 3,
        // A message older than the period is of no use: the next one is on its way.
        maxEventAge: Duration.minutes(5),
      }),
    });
    if (props.encryptionKey !== undefined) {
      // The schedule's role (made by the target at the stack's root) encrypts what it sends to the KMS queue.
      for (const c of Stack.of(this).node.children.filter((x) => x.node.id.startsWith('SchedulerRoleForTarget'))) {
        acknowledge(c, {
          id: 'AwsSolutions-IAM5[Action::kms:GenerateDataKey*]',
          reason: "Sending to a queue encrypted with the customer-managed key needs its data keys (the key is named; GenerateDataKey* is CDK's grant).",
        });
      }
    }
  }
}
