//! Organization mode on the event path: an event from an account of the organization that is not a
//! target yet (it joined since the last listing) brings that account in with its derived role; a
//! claim in an organization account whose role cannot be used yet (a StackSet still deploying)
//! waits: its message goes back on the queue, delayed, and is never sent to the dead-letter queue
//! for that, but not forever: an event older than `wait_limit` (by its own `time`, which every copy
//! keeps) is settled as left to the reconcile. Reachability is probed at most once a minute per
//! account and logged when it changes.

use std::collections::{BTreeSet, HashSet};
use std::time::{Duration, Instant, SystemTime};

use tracing::{info, warn};

use super::{Received, Worker};
use crate::aws::{ec2, sqs};
use crate::engine::targets::Reach;
use crate::model::claims::{Claim, Rules};
use crate::model::domain::Account;
use crate::model::event;

/// How long a waiting message stays out of sight before it is read again.
pub(super) const WAIT_DELAY: Duration = Duration::from_secs(300);
/// How long an event may wait for its account, by its own `time` (at least twice the listing's
/// refresh): each copy put back on the queue starts a new retention clock, so the queue cannot
/// bound it.
pub(super) const WAIT_LIMIT: Duration = Duration::from_secs(24 * 3600);
/// How long a probe's answer is trusted: a failure is probed again after this, a success too.
const PROBE_AGAIN: Duration = Duration::from_secs(60);

impl Worker {
    /// The rules of this batch: the targets as they are now, after bringing in (organization mode)
    /// the accounts of the batch's events that are not targets yet, unless a listing taken after
    /// the event does not name them (such an event cannot come from the organization).
    pub(super) async fn rules_now(&self, messages: &[Received]) -> Rules {
        if let Some(lister) = &self.ctx.organization {
            let regions = &self.ctx.config.instances_regions;
            let mut seen = BTreeSet::new();
            for m in messages {
                let Ok(ev) = event::parse(&m.body) else {
                    continue;
                };
                let (Some(account), Some(region)) = (ev.account.as_deref(), ev.region.as_deref())
                else {
                    continue;
                };
                let when = ev.time.or(m.sent_at).unwrap_or_else(SystemTime::now);
                let new = account != self.rules.home_account
                    && regions.iter().any(|r| r == region)
                    && !self.ctx.targets.is_derived(account)
                    && !self.ctx.targets.unlisted_since(account, when);
                if new && seen.insert(account.to_string()) {
                    let org = &lister.organization;
                    if self.ctx.targets.admit(org, account).await {
                        info!(account, organization = %org.id, "event from an organization account not listed yet; its role derived and assumed");
                    }
                }
            }
        }
        Rules {
            watched: self
                .ctx
                .targets
                .current()
                .iter()
                .map(|t| (t.account.clone(), t.region.clone()))
                .collect(),
            ..self.rules.clone()
        }
    }

    /// How long an event may wait: `WAIT_LIMIT`, or twice the organization's refresh when longer.
    pub(super) fn wait_limit(&self) -> Duration {
        let refresh = self
            .ctx
            .organization
            .as_ref()
            .map_or(Duration::ZERO, |l| l.organization.refresh);
        WAIT_LIMIT.max(refresh * 2)
    }

    /// Of the waiting messages, those whose event is older than `wait_limit`: they are settled as
    /// left to the reconcile (logged), not put back.
    pub(super) fn waited_enough(
        &self,
        claims: &[Claim],
        waiting: &HashSet<usize>,
        now: SystemTime,
    ) -> HashSet<usize> {
        let limit = self.wait_limit();
        let mut out = HashSet::new();
        for c in claims.iter().filter(|c| waiting.contains(&c.message)) {
            let Some(time) = c.event_time.or(c.sent_at) else {
                continue;
            };
            let age = now.duration_since(time).unwrap_or_default();
            if age > limit && out.insert(c.message) {
                warn!(instance_id = %c.instance_id, account = %c.account, age_s = age.as_secs(), limit_s = limit.as_secs(),
                    "an event waited for its account longer than the limit; left to the reconcile");
            }
        }
        out
    }

    /// The messages whose claims wait: those of organization accounts that cannot be reached now.
    pub(super) async fn waiting(&self, claims: &[Claim]) -> HashSet<usize> {
        let mut accounts = BTreeSet::new();
        for c in claims {
            if let Account::Member(id) = &c.account {
                if self.ctx.targets.is_derived(id) {
                    accounts.insert((id.clone(), c.region.clone()));
                }
            }
        }
        let mut unreachable = HashSet::new();
        let mut probed = HashSet::new();
        for (id, region) in accounts {
            if !probed.insert(id.clone()) {
                continue;
            }
            if !self.reachable(&id, &region).await {
                unreachable.insert(id);
            }
        }
        claims
            .iter()
            .filter(|c| matches!(&c.account, Account::Member(id) if unreachable.contains(id)))
            .map(|c| c.message)
            .collect()
    }

    /// Whether an organization account's role can be used (one DescribeInstances through it),
    /// probed at most once a minute; a change is logged once.
    async fn reachable(&self, id: &str, region: &str) -> bool {
        let targets = &self.ctx.targets;
        if let Some(r) = targets.reach(id).filter(|r| r.at.elapsed() < PROBE_AGAIN) {
            return r.ok;
        }
        let account = Account::Member(id.to_string());
        let Some(target) = targets.find(&account, region) else {
            return false;
        };
        let result = ec2::probe(&target).await;
        let reach = Reach {
            ok: result.is_ok(),
            at: Instant::now(),
            reason: result
                .as_ref()
                .err()
                .map(|e| e.reason())
                .unwrap_or_default(),
        };
        if let Err(e) = &result {
            self.ctx.counted(e);
        }
        if targets.set_reach(id, reach.clone()) {
            if reach.ok {
                info!(
                    account = id,
                    "organization account reachable: its events are handled"
                );
            } else {
                warn!(account = id, reason = %reach.reason, wait_s = WAIT_DELAY.as_secs(),
                    "cannot reach an organization account (its role cannot be assumed or used yet): its events wait");
            }
        }
        reach.ok
    }

    /// Puts a copy of each waiting message back on the queue, delayed; returns those copied (the
    /// caller deletes them). A message that could not be copied stays as it is.
    pub(super) async fn requeue<'m>(&self, messages: &[&'m Received]) -> Vec<&'m Received> {
        let mut copied = Vec::with_capacity(messages.len());
        for m in messages {
            match sqs::send(
                &self.events.sqs,
                &self.queue.url,
                m.body.clone(),
                WAIT_DELAY,
            )
            .await
            {
                Ok(()) => copied.push(*m),
                Err(e) => {
                    warn!(message_id = %m.message_id, error = %e, "cannot put a waiting event back on the queue; left for redelivery");
                    self.ctx.counted(&e);
                }
            }
        }
        copied
    }
}
