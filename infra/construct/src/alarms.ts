// Who hears an alarm: the SNS topic given, or one created per construct (encrypted with a key CloudWatch
// may use, TLS only), that every alarm notifies, plus the alarms every stack with rules needs: a rule's failed
// invocations, and a dead-letter queue that is not empty. Or nobody: with alarms off, none is created
// (a member account × region of a large organization needs no key, topic and alarms of its own).
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import { acknowledge } from './acknowledge';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { skipCheckov, SSE_SQS } from './checkov';

export class Alarms extends Construct {
  /** The topic every alarm notifies; undefined when alarms are off. */
  readonly topic?: sns.ITopic;
  /** False: no alarm is created (`failedInvocations` and `notEmpty` return undefined). */
  readonly enabled: boolean;

  /** `topic`: an existing topic of this region to notify; none: one is created; `enabled` false: no alarms. */
  constructor(scope: Construct, id: string, topic?: sns.ITopic, enabled: boolean = true) {
    super(scope, id);
    this.enabled = enabled;
    if (!enabled) return;
    if (topic !== undefined) {
      this.topic = topic;
      return;
    }
    const key = new kms.Key(this, 'Key', {
      description: 'cloud-unmap alarm topic',
      enableKeyRotation: true,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    // CloudWatch publishes alarm notifications to the encrypted topic.
    key.addToResourcePolicy(
      new iam.PolicyStatement({
        actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        resources: ['*'],
      }),
    );
    this.topic = new sns.Topic(this, 'Topic', {
      displayName: 'cloud-unmap alarms',
      masterKey: key,
      enforceSSL: true,
    });
  }

  /** Makes `alarm` notify the topic when it fires and when it recovers. */
  notify(alarm: cloudwatch.Alarm): cloudwatch.Alarm {
    if (this.topic === undefined) return alarm;
    const action = new actions.SnsAction(this.topic);
    alarm.addAlarmAction(action);
    alarm.addOkAction(action);
    return alarm;
  }

  /** One alarm on any failed invocation of `rules` (EventBridge could not deliver to a target): their sum. */
  failedInvocations(scope: Construct, id: string, rules: events.Rule[]): cloudwatch.Alarm | undefined {
    if (!this.enabled) return undefined;
    const usingMetrics = Object.fromEntries(
      rules.map((rule, i) => [
        `r${i}`,
        new cloudwatch.Metric({
          namespace: 'AWS/Events',
          metricName: 'FailedInvocations',
          dimensionsMap: { RuleName: rule.ruleName },
          period: Duration.minutes(5),
          statistic: 'Sum',
        }),
      ]),
    );
    return this.notify(
      new cloudwatch.Alarm(scope, id, {
        alarmDescription: 'EventBridge could not deliver events of a cloud-unmap rule to its target',
        metric: new cloudwatch.MathExpression({ expression: `SUM([${Object.keys(usingMetrics).join(',')}])`, usingMetrics, period: Duration.minutes(5) }),
        threshold: 0,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
    );
  }

  /** An alarm while `queue` (a dead-letter queue) holds anything. */
  notEmpty(scope: Construct, id: string, queue: sqs.IQueue, description: string): cloudwatch.Alarm | undefined {
    if (!this.enabled) return undefined;
    return this.notify(
      new cloudwatch.Alarm(scope, id, {
        alarmDescription: description,
        metric: queue.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(1), statistic: 'Maximum' }),
        threshold: 0,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
    );
  }
}

/** A rules' target dead-letter queue (encrypted, TLS only, 14 days) for events EventBridge could not deliver. */
export function undeliveredQueue(scope: Construct, id: string, what: string, key?: kms.IKey): sqs.Queue {
  const queue = new sqs.Queue(scope, id, {
    ...queueEncryption(key),
    enforceSSL: true,
    retentionPeriod: Duration.days(14),
  });
  if (key === undefined) skipCheckov(queue, 'CKV_AWS_27', SSE_SQS);
  acknowledge(queue, {
    id: 'AwsSolutions-SQS3',
    reason: `This queue is itself a dead-letter queue: ${what}.`,
  });
  return queue;
}

/** SSE-SQS, or SSE-KMS with the customer-managed key given (checkov recognizes only the latter). */
export function queueEncryption(key?: kms.IKey): Pick<sqs.QueueProps, 'encryption' | 'encryptionMasterKey'> {
  return key === undefined
    ? { encryption: sqs.QueueEncryption.SQS_MANAGED }
    : { encryption: sqs.QueueEncryption.KMS, encryptionMasterKey: key };
}
