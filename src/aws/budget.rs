//! Request budgets at the edge: every budgeted AWS call first spends a token of its family's bucket
//! for its (account, region) — the key AWS's own quotas have — waiting for its turn when the bucket
//! is empty (`model::budget` holds the arithmetic). The buckets are process-wide, as AWS's are
//! account-wide: every client of the process that calls one family in one account and region draws
//! on one bucket. Time spent waiting is reported to an observer (the worker's metric).
//! SQS, DynamoDB, EventBridge and STS are not budgeted (see docs/concepts/budgets.md).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use crate::model::budget::{Bucket, Family, Limits};
use crate::model::domain::Account;

/// Told of every wait: the family, account and region, and how long the call waited.
pub type Observer = Arc<dyn Fn(Family, &Account, &str, Duration) + Send + Sync>;

#[derive(Default)]
struct Budgets {
    limits: Limits,
    buckets: HashMap<(Family, Account, String), Bucket>,
    observer: Option<Observer>,
}

fn budgets() -> &'static Mutex<Budgets> {
    static BUDGETS: OnceLock<Mutex<Budgets>> = OnceLock::new();
    BUDGETS.get_or_init(Default::default)
}

/// Sets the rates (`--budget-*`); buckets already in use keep theirs. Called once at start.
pub fn configure(limits: Limits) {
    let mut b = budgets().lock().expect("budgets lock");
    b.limits = limits;
    b.buckets.clear();
}

/// Sets who is told of the time calls wait for budget.
pub fn observe(observer: Observer) {
    budgets().lock().expect("budgets lock").observer = Some(observer);
}

/// Spends one request of `family` in `account` and `region`, waiting for its turn if the budget
/// is spent. Never refuses: a call that must wait is late, never lost.
pub async fn spend(family: Family, account: &Account, region: &str) {
    let (wait, observer) = {
        let mut b = budgets().lock().expect("budgets lock");
        let rate = b.limits.rate(family);
        let now = tokio::time::Instant::now().into_std();
        let wait = b
            .buckets
            .entry((family, account.clone(), region.to_string()))
            .or_insert_with(|| Bucket::new(family, rate, now))
            .take(now);
        (wait, b.observer.clone())
    };
    if wait.is_zero() {
        return;
    }
    if let Some(observe) = observer {
        observe(family, account, region, wait);
    }
    tokio::time::sleep(wait).await;
}

/// Spends one Cloud Map request: Cloud Map is always called with the home account's credentials,
/// in the client's region.
pub async fn spend_cloudmap(family: Family, client: &aws_sdk_servicediscovery::Client) {
    let region = client
        .config()
        .region()
        .map(|r| r.as_ref().to_string())
        .unwrap_or_default();
    spend(family, &Account::Home, &region).await
}

/// A client of one account and region: what it is, and where its calls spend their budget. Derefs
/// to the SDK client, so callers build requests as usual; the edge calls `spend` before `send`.
#[derive(Clone, Debug)]
pub struct Budgeted<C> {
    client: C,
    account: Account,
    region: String,
}

impl<C> Budgeted<C> {
    pub fn new(client: C, account: Account, region: &str) -> Budgeted<C> {
        Budgeted {
            client,
            account,
            region: region.to_string(),
        }
    }

    /// Spends one request of `family` from this client's account and region.
    pub async fn spend(&self, family: Family) {
        spend(family, &self.account, &self.region).await
    }
}

impl<C> std::ops::Deref for Budgeted<C> {
    type Target = C;
    fn deref(&self) -> &C {
        &self.client
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_spent_budget_makes_calls_wait_and_reports_the_wait() {
        let family = Family::Ec2Mutate;
        let account = Account::Member("999999999999".into());
        let waited = Arc::new(Mutex::new(Duration::ZERO));
        let seen = waited.clone();
        observe(Arc::new(move |f, a, r, d| {
            if f == Family::Ec2Mutate && r == "test-budget-1" && matches!(a, Account::Member(_)) {
                *seen.lock().unwrap() += d;
            }
        }));
        // The default 5/s with a burst of 10: the fifteenth call waits a second.
        let started = tokio::time::Instant::now();
        for _ in 0..15 {
            spend(family, &account, "test-budget-1").await;
        }
        assert!(started.elapsed() >= Duration::from_millis(900));
        assert!(*waited.lock().unwrap() >= Duration::from_millis(900));
    }
}
