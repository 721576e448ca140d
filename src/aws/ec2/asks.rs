//! The cycle's lookups by target: each (account, region) asked its own list of ids (`describe_asks`),
//! 200 ids a call; every instance reported comes back with the index of the target that reported it.

use futures::stream::{self, StreamExt};

use super::{chunk_ids, describe_chunk, Unanswered};
use crate::aws::Target;
use crate::model::plan::ObservedInstance;

/// What a lookup of per-target asks came to: every instance reported, with the index of the
/// target that reported it, and the targets that did not answer (as in `Lookup`).
#[derive(Debug, Default)]
pub struct Answers {
    pub found: Vec<(usize, ObservedInstance)>,
    pub unanswered: Vec<Unanswered>,
}

impl Answers {
    /// Whether target `t` of `targets` did not answer.
    pub fn failed(&self, targets: &[Target], t: usize) -> bool {
        targets.get(t).is_some_and(|x| {
            self.unanswered
                .iter()
                .any(|u| u.account == x.account && u.region == x.region)
        })
    }
}

/// Describes, in each target `t`, the ids `asks[t]`, `concurrency` calls at a time (200 ids a
/// call). A target that fails is named in `unanswered`; the others' answers still count.
pub async fn describe_asks(
    targets: &[Target],
    asks: &[Vec<String>],
    concurrency: usize,
) -> Answers {
    let mut jobs = Vec::new();
    for (t, (target, ids)) in targets.iter().zip(asks).enumerate() {
        for chunk in chunk_ids(ids) {
            jobs.push(async move { (t, target, describe_chunk(target, chunk).await) });
        }
    }
    let results: Vec<_> = stream::iter(jobs)
        .buffer_unordered(concurrency.max(1))
        .collect()
        .await;
    let mut answers = Answers::default();
    for (t, target, result) in results {
        match result {
            Ok(found) => answers.found.extend(found.into_iter().map(|o| (t, o))),
            Err(error) => {
                if !answers.failed(targets, t) {
                    answers.unanswered.push(Unanswered {
                        account: target.account.clone(),
                        region: target.region.clone(),
                        error,
                    });
                }
            }
        }
    }
    answers
}
