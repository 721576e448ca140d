//! `ConfigError`: every way the command line can be wrong, for the worker (and `check`, which takes
//! its flags), `decommission` and `restore` alike. One style: the flag, the value as given, and what
//! was expected; `main` prints it as one line `cloud-unmap: <message> (see --help)` and exits 2,
//! before any AWS call.

/// A configuration problem, reported as one line on stderr with exit code 2.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    // Shared by the worker and the subcommands.
    #[error(
        "invalid --service-id {0:?}: expected a Cloud Map service id like srv-abcdef0123456789, or its ARN"
    )]
    ServiceId(String),
    #[error(
        "invalid --namespace-id {0:?}: expected a Cloud Map namespace id like ns-abcdef0123456789, or its ARN"
    )]
    NamespaceId(String),
    #[error("invalid {flag} {value:?}: expected an AWS region like eu-west-1")]
    Region { flag: &'static str, value: String },
    #[error("invalid {flag} {value:?}: expected arn:aws:iam::<12-digit account>:role/<name>")]
    RoleArn { flag: &'static str, value: String },
    #[error("missing --service-region (or AWS_REGION): the region of the Cloud Map services")]
    NoServiceRegion,
    #[error("missing --instances-region: at least one region where EC2 instances live")]
    NoInstancesRegion,
    #[error("invalid {0} 0: must be at least 1")]
    Zero(&'static str),
    #[error("invalid {flag} {value}: at most {max} seconds")]
    TooLong {
        flag: &'static str,
        value: u64,
        max: u64,
    },
    #[error("invalid --log-level {0:?}: expected TRACE, DEBUG, INFO, WARNING, ERROR or CRITICAL")]
    LogLevel(String),

    // The worker's flags.
    #[error("{flag} {value:?} names region {region}, not --service-region {service_region}: Cloud Map is regional")]
    ArnRegion {
        flag: &'static str,
        value: String,
        region: String,
        service_region: String,
    },
    #[error("nothing selected: give at least one --service-id, --namespace-id or --service-tag")]
    NothingSelected,
    #[error("invalid --service-tag {0:?}: expected KEY=VALUE (a key of 1 to 128 characters, a value of at most 256)")]
    ServiceTag(String),
    #[error("invalid --frequency {0}: the reconcile period must be 1 to 86400 seconds")]
    Frequency(u64),
    #[error("invalid --max-not-found {0:?}: expected a percentage like 10% (0% to 100%) or a count like 5")]
    MaxNotFound(String),
    #[error("invalid --not-found-grace {0}: at most 3600 seconds")]
    NotFoundGrace(u64),
    #[error("invalid --shutdown-timeout {0}: at most 3600 seconds")]
    ShutdownTimeout(u64),
    #[error("invalid --stall-timeout {0}: 1 to 3600 seconds")]
    StallTimeout(u64),
    #[error("invalid --scheduled-lead-seconds {0}: at most 86400 (a day)")]
    ScheduledLead(u64),
    #[error("invalid --prometheus-host {0:?}: expected an IP address or a host name")]
    Host(String),
    #[error("invalid --queue-url {0:?}: expected an SQS queue URL like https://sqs.eu-west-1.amazonaws.com/111111111111/name")]
    QueueUrl(String),
    #[error("--dry-run cannot be combined with --queue-url: a dry replica would consume events the real one needs")]
    DryRunQueue,
    #[error("invalid --lifecycle-hook-name {0:?}: expected 1 to 255 characters of A-Z, a-z, 0-9, -, _ and /")]
    HookName(String),
    #[error("invalid --lifecycle-drain-seconds {0:?}: expected whole seconds from 0 to 172800 (48 h, the longest a lifecycle action can wait)")]
    DrainSeconds(String),
    #[error("invalid --audit-event-bus {0:?}: expected an event bus name (1 to 256 of A-Z, a-z, 0-9, ., -, _, /) or its ARN")]
    AuditBus(String),
    #[error("invalid --state-table {0:?}: expected a DynamoDB table name (3 to 255 of A-Z, a-z, 0-9, _, -, .) or its ARN")]
    StateTable(String),
    #[error("--state-table needs --queue-url: the table coordinates replicas that share the queue's reconcile")]
    StateTableWithoutQueue,
    #[error("--single-run cannot be combined with --queue-url: the event loop only runs in long-running mode")]
    SingleRunQueue,
    #[error("invalid --organization-id {0:?}: expected an organization id like o-a1b2c3d4e5 (o- and 10 to 32 of a-z, 0-9)")]
    OrganizationId(String),
    #[error("invalid --instances-role-name {0:?}: expected an IAM role name (1 to 64 of A-Z, a-z, 0-9, +=,.@_-)")]
    RoleName(String),
    #[error("{given} needs {missing}: organization mode takes --organization-id, --instances-role-name and --organization-role-arn together")]
    OrganizationIncomplete {
        given: &'static str,
        missing: &'static str,
    },
    #[error("invalid --organization-refresh {0:?}: expected whole seconds from 5 to 3600")]
    OrganizationRefresh(String),
    #[error("invalid --organization-exclude-account {0:?}: expected a 12-digit account id")]
    ExcludeAccount(String),

    // `decommission`.
    #[error("invalid --tag {0:?}: expected KEY=VALUE")]
    Tag(String),
    #[error("invalid --instance-id {0:?}: expected an EC2 instance id like i-0123456789abcdef0")]
    InstanceId(String),
    #[error("nothing selected: give at least one --tag KEY=VALUE or --instance-id")]
    NoInstanceSelected,
    #[error("missing --instances-region (or --region, --service-region, AWS_REGION): at least one region to look in")]
    NoRegion,
    #[error("--skip-home-account leaves no account to look in: add --instances-role-arn")]
    NoAccount,
    #[error("--service-id/--namespace-id need --service-region (or AWS_REGION)")]
    DrainWithoutServiceRegion,

    // `restore`.
    #[error("missing --from FILE (or - for standard input)")]
    NoFrom,
    #[error("invalid --since {0:?}: expected an RFC 3339 time or an age like 30m, 2h, 7d")]
    Since(String),
}
