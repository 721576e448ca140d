//! The event path's EC2 lookups, coalesced per account and region: at most two DescribeInstances in
//! flight per target, and a call takes, once its budget lets it go, every id the batches in flight
//! asked for meanwhile. A burst of events thus costs calls at the budget's rate, not one per batch;
//! a claim waits at most for a call in flight and its own, and one call that hangs (until its
//! attempt times out) leaves the other free. A call whose request another call took meanwhile sends
//! nothing. The futures are never dropped midway (a batch always runs to its end): a call dropped
//! after gathering would leave the requests it took waiting. A request is only ever answered by a call sent after it
//! was made: a claim is verified by what EC2 said after the claim was received.

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
    /// What EC2 says in `target` of `ids`, from a call sent after this request was made. `Err` when
    /// that call failed: with its error if this request sent it (for the caller to report), `None`
    /// if another batch's request did (reported there).
    pub async fn look_up(
        &self,
        target: &Target,
        ids: &[String],
    ) -> Result<Observed, Option<Error>> {
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
        loop {
            // Registered before the state is read: an answer given meanwhile is not missed.
            let done = lane.done.notified();
            tokio::pin!(done);
            done.as_mut().enable();
            let waiting = {
                let mut q = lock(&lane.queue);
                if let Some(answer) = q.answered.remove(&me) {
                    return match answer.as_ref() {
                        Some(observed) => Ok(only(observed, ids)),
                        None => Err(None),
                    };
                }
                q.waiting.iter().any(|(n, _)| *n == me)
            };
            if !waiting {
                // A call in flight took it.
                done.await;
                continue;
            }
            tokio::select! {
                permit = lane.calls.acquire() => {
                    let Ok(_permit) = permit else { continue };
                    if let Some(mine) = call(&lane, target, me, ids).await {
                        return mine;
                    }
                }
                _ = &mut done => {}
            }
        }
    }
}

/// Sends the next call, for every request waiting once its budget lets it go, and this request's
/// answer; `None` (nothing sent) if the other call took this request while this one waited for its
/// budget: this one then waits for that answer instead of working for the requests made since.
async fn call(
    lane: &Lane,
    target: &Target,
    me: u64,
    ids: &[String],
) -> Option<Result<Observed, Option<Error>>> {
    let mut taken = Vec::new();
    let (_, answer) = ec2::describe_gathered(target, || {
        let mut q = lock(&lane.queue);
        if !q.waiting.iter().any(|(n, _)| *n == me) {
            return Vec::new();
        }
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
    let shared: Answer = Arc::new(answer.as_ref().ok().cloned());
    // This request was taken (it gathers only then): the call's error is reported by its caller.
    let mine = match answer {
        Ok(observed) => Ok(only(&observed, ids)),
        Err(e) => Err(Some(e)),
    };
    {
        let mut q = lock(&lane.queue);
        for n in taken.into_iter().filter(|n| *n != me) {
            q.answered.insert(n, shared.clone());
        }
    }
    lane.done.notify_waiters();
    Some(mine)
}

/// What `observed` says of `ids`.
fn only(observed: &Observed, ids: &[String]) -> Observed {
    ids.iter()
        .filter_map(|id| observed.get(id).map(|seen| (id.clone(), seen.clone())))
        .collect()
}
