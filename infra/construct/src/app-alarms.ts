// What only the worker knows, as CloudWatch alarms without Prometheus: log metric filters on its JSON log
// (CLOUD_UNMAP_LOG_FORMAT=json, one object a line, the message in `message`) for a guard holding
// deregistrations back, a reconcile gone stale and readiness; and the ECS service's own metrics (AWS/ECS,
// published for every service with running tasks, Container Insights or not) for a worker that is not running.
import { Duration, Stack, Token } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { Alarms } from './alarms';

/** The log lines the filters count (the worker's messages). */
export const LOG_FILTERS = {
  /** The never-empty guard and the not-found surge guard (one line per held plan). */
  guardHolds: '{ ($.message = "never-empty guard*") || ($.message = "not-found surge*") }',
  /** A service reconciled successfully (one line per service and cycle). */
  reconciled: '{ $.message = "reconciled" }',
  /** The worker's readiness (`ready` 1 or 0), logged each cycle. */
  readiness: '{ $.message = "readiness" }',
};

export interface AppAlarmsInput {
  logGroup: logs.ILogGroup;
  service: ecs.FargateService;
  cluster: ecs.ICluster;
  /** The period after which no successful reconcile is an alarm (2 × the schedule's). */
  staleSeconds: number;
  /** The cluster has Container Insights (running below the desired count can be told). */
  containerInsights: boolean;
  alarms: Alarms;
}

/** The worker's tasks reporting to AWS/ECS (one CPUUtilization sample per task and minute; none: no task). */
export function reportingTasks(cluster: ecs.ICluster, service: ecs.FargateService): cloudwatch.Metric {
  return new cloudwatch.Metric({
    namespace: 'AWS/ECS',
    metricName: 'CPUUtilization',
    dimensionsMap: { ClusterName: cluster.clusterName, ServiceName: service.serviceName },
    period: Duration.minutes(1),
    statistic: 'SampleCount',
  });
}

export function addAppAlarms(scope: Construct, input: AppAlarmsInput): void {
  const a = input.alarms;
  // No task running: AWS/ECS publishes no service metric then, so missing data is the alarm.
  a.notify(
    new cloudwatch.Alarm(scope, 'NoWorker', {
      alarmDescription: 'No cloud-unmap task is running',
      metric: reportingTasks(input.cluster, input.service),
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
      evaluationPeriods: 3,
      treatMissingData: cloudwatch.TreatMissingData.BREACHING,
    }),
  );
  if (input.containerInsights) {
    const ci = (metricName: string) =>
      new cloudwatch.Metric({
        namespace: 'ECS/ContainerInsights',
        metricName,
        dimensionsMap: { ClusterName: input.cluster.clusterName, ServiceName: input.service.serviceName },
        period: Duration.minutes(5),
        statistic: 'Minimum',
      });
    a.notify(
      new cloudwatch.Alarm(scope, 'BelowDesired', {
        alarmDescription: 'Fewer cloud-unmap tasks run than desired for 15 minutes',
        metric: new cloudwatch.MathExpression({
          expression: 'desired - running',
          usingMetrics: { desired: ci('DesiredTaskCount'), running: ci('RunningTaskCount') },
          period: Duration.minutes(5),
        }),
        threshold: 0,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 3,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
    );
  }

  const namespace = `CloudUnmap/${Stack.of(scope).stackName}`;
  const metric = (id: string, pattern: string, metricName: string, metricValue: string) => {
    input.logGroup.addMetricFilter(id, { filterPattern: logs.FilterPattern.literal(pattern), metricNamespace: namespace, metricName, metricValue });
    return (period: Duration, statistic: string) => new cloudwatch.Metric({ namespace, metricName, period, statistic });
  };
  const holds = metric('GuardHoldsFilter', LOG_FILTERS.guardHolds, 'GuardHolds', '1');
  const reconciled = metric('ReconciledFilter', LOG_FILTERS.reconciled, 'Reconciled', '1');
  const ready = metric('ReadinessFilter', LOG_FILTERS.readiness, 'Ready', '$.ready');
  a.notify(
    new cloudwatch.Alarm(scope, 'GuardHolding', {
      alarmDescription: 'A guard holds deregistrations back: run cloud-unmap check',
      metric: holds(Duration.minutes(15), 'Sum'),
      threshold: 0,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    }),
  );
  // A token (a template's parameter) is set on the alarm itself: the metric checks its period's value.
  const stale = Token.isUnresolved(input.staleSeconds) ? 600 : input.staleSeconds;
  const staleAlarm = a.notify(
    new cloudwatch.Alarm(scope, 'ReconcileStale', {
      alarmDescription: 'No reconcile succeeded in 2 x its period',
      metric: reconciled(Duration.seconds(stale), 'Sum'),
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.BREACHING,
    }),
  );
  if (stale !== input.staleSeconds) (staleAlarm.node.defaultChild as cloudwatch.CfnAlarm).period = input.staleSeconds;
  a.notify(
    new cloudwatch.Alarm(scope, 'NotReady', {
      alarmDescription: 'The worker is not ready (/readyz)',
      metric: ready(Duration.minutes(5), 'Maximum'),
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
      evaluationPeriods: 2,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    }),
  );
}
