//! Which lookup targets (account × region) answer: a target that stops answering EC2's
//! DescribeInstances is named in one warning when it starts failing and one line when it answers
//! again (not once per service or cycle), and each failed lookup is counted by account and region
//! (a bounded label set: the configured targets). While it fails, only `not-found` decisions wait:
//! terminated, stopped and ip-mismatch answers from the targets that answered still act.

use std::collections::{BTreeSet, HashSet};
use std::sync::Mutex;

use tracing::{info, warn};

use crate::aws::ec2::Lookup;
use crate::aws::Target;
use crate::telemetry::metrics::{Metrics, TargetLabels};

/// The targets failing now, by `account/region`.
#[derive(Debug, Default)]
pub struct Failing(Mutex<HashSet<String>>);

impl Failing {
    /// Records what a lookup over `asked` came to: counts each target that did not answer, and logs
    /// the targets whose state changed.
    pub fn note(&self, metrics: &Metrics, asked: &[Target], lookup: &Lookup) {
        let mut failing = self.0.lock().unwrap_or_else(|e| e.into_inner());
        // A target no longer asked (an account that left) is not failing any more.
        failing.retain(|k| {
            asked
                .iter()
                .any(|t| *k == format!("{}/{}", t.account, t.region))
        });
        for t in asked {
            let key = format!("{}/{}", t.account, t.region);
            let unanswered = lookup
                .unanswered
                .iter()
                .find(|u| u.account == t.account && u.region == t.region);
            match unanswered {
                Some(u) => {
                    metrics
                        .target_failures
                        .get_or_create(&TargetLabels {
                            account: t.account.to_string(),
                            region: t.region.clone(),
                        })
                        .inc();
                    if failing.insert(key) {
                        warn!(account = %t.account, region = %t.region, error = %u.error,
                            "an account and region does not answer instance lookups; its not-found registrations wait");
                    }
                }
                None if failing.remove(&key) => {
                    info!(account = %t.account, region = %t.region, "an account and region answers instance lookups again");
                }
                None => {}
            }
        }
    }

    /// The targets failing now, `account/region`.
    pub fn names(&self) -> BTreeSet<String> {
        let failing = self.0.lock().unwrap_or_else(|e| e.into_inner());
        failing.iter().cloned().collect()
    }
}
