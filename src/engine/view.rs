//! One EC2 view per reconcile cycle: the union of every selected service's registered instances,
//! looked up once (200 ids a call), each id only in the target it was last found in and an unknown
//! one in every target (`model::lookup`); an id missing from its remembered target is asked
//! everywhere else in the same cycle, so the view holds what asking every target would have found.
//! The cost is calls per account × region, flat in the number of services.

use std::collections::HashSet;

use crate::aws::ec2::{self, Observed};
use crate::engine::context::Context;
use crate::error::Error;
use crate::model::lookup;
use crate::model::plan::ObservedInstance;

/// Looks `ids` up for the whole cycle. Any failure fails the whole view: an instance nobody could
/// look up must never be mistaken for one that is gone.
pub async fn look(ctx: &Context, ids: &[String]) -> Result<Observed, Error> {
    let targets = ctx.targets.len();
    let concurrency = ctx.config.concurrency;
    let asks = ctx.whereabouts().asks(ids, targets);
    let mut found = ec2::describe_each(&ctx.targets, &asks, concurrency).await?;
    let missed = ctx.whereabouts().learn(&asks, &pairs(&found));
    if !missed.is_empty() {
        let again = lookup::elsewhere(&missed, targets);
        let more = ec2::describe_each(&ctx.targets, &again, concurrency).await?;
        ctx.whereabouts().learn(&again, &pairs(&more));
        found.extend(more);
    }
    ctx.whereabouts()
        .retain(&ids.iter().map(String::as_str).collect::<HashSet<_>>());
    let mut observed = Observed::new();
    for (_, inst) in found {
        observed
            .entry(inst.instance_id.clone())
            .or_default()
            .push(inst);
    }
    Ok(observed)
}

fn pairs(found: &[(usize, ObservedInstance)]) -> Vec<(usize, &str)> {
    found
        .iter()
        .map(|(t, o)| (*t, o.instance_id.as_str()))
        .collect()
}
