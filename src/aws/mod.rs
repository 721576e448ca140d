//! The AWS edge: every AWS call the program makes passes here, one module per service family
//! (`cloudmap`, `ec2`, `sqs`, `autoscaling`, `dynamodb`, `eventbridge`, `organizations`; STS inside the member
//! accounts' credentials below), with `endpoint` the loopback plumbing for `AWS_ENDPOINT_URL`.
//! This file owns the SDK configuration and clients: one shared config for the home account,
//! assumed-role configs for member accounts, and one EC2 client per (account, region) lookup
//! target. Imports only the model and the error type.

pub mod autoscaling;
pub mod breaker;
pub mod cloudmap;
pub mod dynamodb;
pub mod ec2;
pub mod endpoint;
pub mod eventbridge;
pub mod organizations;
pub mod sqs;
pub mod sts;

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::sts::AssumeRoleProvider;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_ec2::config::retry::RetryPartition;
use aws_sdk_ec2::config::SharedCredentialsProvider;

use std::sync::Arc;

use aws_sdk_ec2::config::interceptors::FinalizerInterceptorContextRef;
use aws_sdk_ec2::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_ec2::error::BoxError;

use crate::model::domain::Account;
use crate::model::domain::MemberRole;

/// An SDK interceptor that reports every request attempt's outcome (AWS reachable or not) to a
/// listener, so readiness follows AWS reachability at once (operation-level errors surface only
/// after the SDK's retries, and a long poll in flight can hide an outage for 20 s).
#[derive(Clone)]
pub struct Reachability(pub Arc<dyn Fn(bool) + Send + Sync>);

impl std::fmt::Debug for Reachability {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Reachability")
    }
}

impl Intercept for Reachability {
    fn name(&self) -> &'static str {
        "cloud-unmap-reachability"
    }

    fn read_after_attempt(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        // An answer below 500 (including throttling and client errors) means AWS is reachable; no
        // answer counts only when the network failed or timed out. An attempt that never left (a
        // member account's role refused while resolving its credentials) says nothing about it.
        let ok = match context.response() {
            Some(r) => r.status().as_u16() < 500,
            None => match context.output_or_error() {
                Some(Err(e)) if e.is_connector_error() || e.is_timeout_error() => false,
                _ => return Ok(()),
            },
        };
        (self.0)(ok);
        Ok(())
    }
}

/// The behaviour version is pinned so an SDK upgrade never silently changes retries or timeouts.
pub fn behavior_version() -> BehaviorVersion {
    BehaviorVersion::v2026_01_12()
}

/// Loads the home account's configuration (credentials chain, `AWS_ENDPOINT_URL`) for `region`.
/// Throttling and transient errors are retried by the SDK with exponential backoff and jitter.
pub async fn load_home(region: &str) -> SdkConfig {
    let mut loader = aws_config::defaults(behavior_version());
    if let Some(client) = crate::aws::endpoint::loopback_client() {
        loader = loader.http_client(client);
    }
    loader
        .region(Region::new(region.to_string()))
        .retry_config(RetryConfig::standard().with_max_attempts(5))
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(5))
                .operation_attempt_timeout(Duration::from_secs(20))
                .operation_timeout(Duration::from_secs(90))
                .build(),
        )
        .load()
        .await
}

/// Credentials of a member account, through sts:AssumeRole from the home credentials. The STS call
/// is made lazily and its credentials cached and refreshed by the SDK.
pub async fn assume_role(home: &SdkConfig, role: &MemberRole) -> SharedCredentialsProvider {
    let provider = AssumeRoleProvider::builder(role.arn.clone())
        .configure(home)
        .session_name("cloud-unmap")
        .build()
        .await;
    SharedCredentialsProvider::new(provider)
}

/// The same configuration with another region (and, for a member account, other credentials).
pub fn derive(
    home: &SdkConfig,
    region: &str,
    credentials: Option<&SharedCredentialsProvider>,
) -> SdkConfig {
    let mut builder = home.to_builder().region(Region::new(region.to_string()));
    if let Some(creds) = credentials {
        builder = builder.credentials_provider(creds.clone());
    }
    builder.build()
}

/// Where instances are looked up: one account in one region, with its own SDK retry partition.
#[derive(Clone, Debug)]
pub struct Target {
    pub account: Account,
    pub region: String,
    pub ec2: aws_sdk_ec2::Client,
    pub autoscaling: aws_sdk_autoscaling::Client,
    /// The account's circuit breaker (`with_breakers`; none for the home account and commands).
    pub breaker: Option<Arc<breaker::Breaker>>,
}

impl Target {
    fn new(
        account: Account,
        region: &str,
        config: &SdkConfig,
        watch: Option<&Reachability>,
    ) -> Target {
        // One retry token bucket per account and region: the SDK partitions its bucket by service
        // and region only, so one throttled or failing account would spend every other account's
        // retries in that region.
        let partition =
            |service: &str| RetryPartition::new(format!("{service}-{account}-{region}"));
        let mut ec2 = aws_sdk_ec2::config::Builder::from(config).retry_partition(partition("ec2"));
        let mut autoscaling = aws_sdk_autoscaling::config::Builder::from(config)
            .retry_partition(partition("autoscaling"));
        if let Some(w) = watch {
            ec2 = ec2.interceptor(w.clone());
            autoscaling = autoscaling.interceptor(w.clone());
        }
        Target {
            account,
            region: region.to_string(),
            ec2: aws_sdk_ec2::Client::from_conf(ec2.build()),
            autoscaling: aws_sdk_autoscaling::Client::from_conf(autoscaling.build()),
            breaker: None,
        }
    }

    /// Calls `call` unless the account's breaker is open (then its error, no call made), and
    /// records the outcome in the breaker.
    pub async fn guarded<T, F>(&self, call: F) -> Result<T, crate::error::Error>
    where
        F: std::future::Future<Output = Result<T, crate::error::Error>>,
    {
        let Some(b) = &self.breaker else {
            return call.await;
        };
        b.check(std::time::Instant::now())?;
        let result = call.await;
        b.record(&result, std::time::Instant::now());
        result
    }
}

/// Gives each member account's targets one circuit breaker (shared across its regions), its pause
/// bounded by `max`.
pub fn with_breakers(mut targets: Vec<Target>, max: Duration) -> Vec<Target> {
    let mut made: Vec<(Account, Arc<breaker::Breaker>)> = Vec::new();
    for t in targets.iter_mut() {
        let Account::Member(id) = &t.account else {
            continue;
        };
        let b = match made.iter().find(|(a, _)| a == &t.account) {
            Some((_, b)) => b.clone(),
            None => {
                let b = Arc::new(breaker::Breaker::new(id, max));
                made.push((t.account.clone(), b.clone()));
                b
            }
        };
        t.breaker = Some(b);
    }
    targets
}

/// The Cloud Map client, watched for reachability when `watch` is given.
pub fn cloudmap(
    config: &SdkConfig,
    watch: Option<&Reachability>,
) -> aws_sdk_servicediscovery::Client {
    let mut b = aws_sdk_servicediscovery::config::Builder::from(config);
    if let Some(w) = watch {
        b = b.interceptor(w.clone());
    }
    aws_sdk_servicediscovery::Client::from_conf(b.build())
}

/// The DynamoDB client of the state table (`--state-table`), watched for reachability.
pub fn dynamodb(home: &SdkConfig, watch: Option<&Reachability>) -> aws_sdk_dynamodb::Client {
    let mut b = aws_sdk_dynamodb::config::Builder::from(home);
    if let Some(w) = watch {
        b = b.interceptor(w.clone());
    }
    aws_sdk_dynamodb::Client::from_conf(b.build())
}

/// The SQS client: its attempt timeout must outlast a 20 s long poll.
pub fn sqs(home: &SdkConfig, watch: Option<&Reachability>) -> aws_sdk_sqs::Client {
    let mut config = aws_sdk_sqs::config::Builder::from(home);
    if let Some(w) = watch {
        config = config.interceptor(w.clone());
    }
    let config = config
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(5))
                .operation_attempt_timeout(Duration::from_secs(30))
                .operation_timeout(Duration::from_secs(90))
                .build(),
        )
        .build();
    aws_sdk_sqs::Client::from_conf(config)
}

/// Every (account, region) pair: the home account in each region (unless `include_home` is false),
/// then each member account in each region.
pub async fn targets(
    home: &SdkConfig,
    regions: &[String],
    roles: &[MemberRole],
    include_home: bool,
    watch: Option<&Reachability>,
) -> Vec<Target> {
    let mut out = Vec::with_capacity(regions.len() * (roles.len() + 1));
    for region in regions.iter().filter(|_| include_home) {
        out.push(Target::new(
            Account::Home,
            region,
            &derive(home, region, None),
            watch,
        ));
    }
    for role in roles {
        let creds = assume_role(home, role).await;
        for region in regions {
            out.push(Target::new(
                Account::Member(role.account_id.clone()),
                region,
                &derive(home, region, Some(&creds)),
                watch,
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_account_and_region_retries_from_its_own_token_bucket() {
        let config = SdkConfig::builder()
            .behavior_version(behavior_version())
            .region(Region::new("eu-west-1"))
            .build();
        let member = || Account::Member("222222222222".into());
        let targets = [
            Target::new(Account::Home, "eu-west-1", &config, None),
            Target::new(member(), "eu-west-1", &config, None),
            Target::new(Account::Home, "us-east-1", &config, None),
            Target::new(member(), "us-east-1", &config, None),
        ];
        let ec2: Vec<_> = targets
            .iter()
            .map(|t| t.ec2.config().retry_partition().cloned().unwrap())
            .collect();
        let asg: Vec<_> = targets
            .iter()
            .map(|t| t.autoscaling.config().retry_partition().cloned().unwrap())
            .collect();
        for (i, a) in ec2.iter().enumerate() {
            for b in &ec2[i + 1..] {
                assert_ne!(a, b, "two targets share an EC2 retry bucket");
            }
            for (j, c) in asg[i + 1..].iter().enumerate() {
                assert_ne!(
                    &asg[i],
                    c,
                    "targets {i} and {} share an Auto Scaling bucket",
                    i + j + 1
                );
            }
        }
        // The same target built again (a restart) keeps its partition's name.
        let again = Target::new(member(), "eu-west-1", &config, None);
        assert_eq!(again.ec2.config().retry_partition(), Some(&ec2[1]));
    }
}
