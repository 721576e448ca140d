//! The event path's EC2 lookups, coalesced per account and region: at most two DescribeInstances in
//! flight per target, and a call takes, once its budget lets it go, every id the batches in flight
//! asked for meanwhile. A burst of events thus costs calls at the budget's rate, not one per batch;
//! a claim waits at most for a call in flight and its own, and one call that hangs (until its
//! attempts time out) leaves the other free. A request the other call took while it waited for a
//! call of its own spends no token; one taken while its own call waited for its token still sends
//! that call, for the requests asked since (the token is paid). The futures are never dropped
//! midway (a batch always runs to its end): a call dropped after gathering would leave the requests
//! it took waiting. A request is only ever answered by a call sent after it was made: a claim is
//! verified by what EC2 said after the claim was received.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::{Notify, Semaphore};

use crate::aws::ec2::{self, Observed};
use crate::aws::Target;
use crate::error::Error;
use crate::model::domain::Account;

/// What a call said, shared by every request it took: EC2's answer, or `None` when it failed.
type Answer = Arc<Option<Observed>>;

/// The lanes of every account and region looked up so far (bounded by the targets).
#[derive(Default)]
pub struct Lookups {
    lanes: Mutex<HashMap<(Account, String), Arc<Lane>>>,
}

/// Calls in flight (or waiting for their budget) per account and region.
const CALLS: usize = 2;

/// One account and region's requests.
struct Lane {
    /// A permit per call in flight or waiting for its budget (FIFO: requests queue in order).
    calls: Semaphore,
    /// Told whenever a call is answered.
    done: Notify,
    queue: Mutex<Queue>,
}

impl Default for Lane {
    fn default() -> Lane {
        Lane {
            calls: Semaphore::new(CALLS),
            done: Notify::new(),
            queue: Mutex::default(),
        }
    }
}

#[derive(Default)]
struct Queue {
    next: u64,
    /// Requests no call has taken yet, with their ids.
    waiting: Vec<(u64, Vec<String>)>,
    /// The answers of requests a call took, until each collects its own.
    answered: HashMap<u64, Answer>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Lookups {
    /// What EC2 says in `target` of `ids`, from a call sent after this request was made (`Err`: that
    /// call failed), and the error of the call this request sent, if it sent one that failed (for
    /// the caller to report: each failed call is reported once, by its sender).
    pub async fn look_up(
        &self,
        target: &Target,
        ids: &[String],
    ) -> (Result<Observed, ()>, Option<Error>) {
        let lane = {
            let mut lanes = lock(&self.lanes);
            let key = (target.account.clone(), target.region.clone());
            lanes.entry(key).or_default().clone()
        };
        let me = {
            let mut q = lock(&lane.queue);
            let me = q.next;
            q.next += 1;
            q.waiting.push((me, ids.to_vec()));
            me
        };
        let mut sent_error = None;
        loop {
            // Registered before the state is read: an answer given meanwhile is not missed.
            let done = lane.done.notified();
            tokio::pin!(done);
            done.as_mut().enable();
            if let Some(answer) = lock(&lane.queue).answered.remove(&me) {
                let answer = answer.as_ref().as_ref().map(|o| only(o, ids)).ok_or(());
                return (answer, sent_error);
            }
            if !waiting(&lane, me) {
                // A call in flight took it.
                done.await;
                continue;
            }
            tokio::select! {
                biased;
                _ = &mut done => {}
                permit = lane.calls.acquire() => {
                    let Ok(_permit) = permit else { continue };
                    // The other call may have taken it meanwhile: then no token is spent for it.
                    if waiting(&lane, me) {
                        sent_error = call(&lane, target).await.or(sent_error);
                    }
                }
            }
        }
    }
}

/// Whether request `me` waits for a call to take it.
fn waiting(lane: &Lane, me: u64) -> bool {
    lock(&lane.queue).waiting.iter().any(|(n, _)| *n == me)
}

/// Sends the next call, for every request waiting once its budget lets it go (its token is paid: it
/// sends also when the other call took its sender's request meanwhile, for those asked since), and
/// leaves each request taken its answer; returns the call's error, if it failed.
async fn call(lane: &Lane, target: &Target) -> Option<Error> {
    let mut taken = Vec::new();
    let (_, answer) = ec2::describe_gathered(target, || {
        let mut q = lock(&lane.queue);
        let mut all = BTreeSet::new();
        for (n, ids) in std::mem::take(&mut q.waiting) {
            taken.push(n);
            all.extend(ids);
        }
        all.into_iter().collect()
    })
    .await;
    if taken.is_empty() {
        return None;
    }
    let (shared, error): (Answer, _) = match answer {
        Ok(observed) => (Arc::new(Some(observed)), None),
        Err(e) => (Arc::new(None), Some(e)),
    };
    {
        let mut q = lock(&lane.queue);
        for n in taken {
            q.answered.insert(n, shared.clone());
        }
    }
    lane.done.notify_waiters();
    error
}

/// What `observed` says of `ids`.
fn only(observed: &Observed, ids: &[String]) -> Observed {
    ids.iter()
        .filter_map(|id| observed.get(id).map(|seen| (id.clone(), seen.clone())))
        .collect()
}
