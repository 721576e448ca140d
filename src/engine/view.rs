//! One EC2 view per reconcile cycle: the union of every selected service's registered instances,
//! looked up once (200 ids a call), each id only in the target it was last found in and an unknown
//! one in every target (`model::lookup`); an id missing from its remembered target is asked
//! everywhere else in the same cycle, so the view holds what asking every target would have found.
//! The cost is calls per account × region, flat in the number of services. A target that does not
//! answer is named in the view (noted once per cycle in `Context::failing`): every service's
//! `not-found` waits, positive answers still act.

use std::collections::HashSet;

use crate::aws::ec2::{self, Answers, Lookup};
use crate::aws::Target;
use crate::engine::context::Context;
use crate::model::lookup::{self, Asks, TargetKey};

/// Looks `ids` up for the whole cycle, in one snapshot of the targets.
pub async fn look(ctx: &Context, ids: &[String]) -> Lookup {
    let targets = ctx.targets.current();
    let keys: Vec<TargetKey> = targets
        .iter()
        .map(|t| (t.account.clone(), t.region.clone()))
        .collect();
    let asks = ctx.whereabouts().asks(ids, &keys);
    let first = ask(ctx, &targets, &asks).await;
    let missed = ctx
        .whereabouts()
        .learn(&keys, &answered(&targets, &asks, &first), &pairs(&first));
    let mut view = into_lookup(ctx, &targets, &asks, first);
    if !missed.is_empty() {
        let again = lookup::elsewhere(&missed, targets.len());
        let second = ask(ctx, &targets, &again).await;
        ctx.whereabouts()
            .learn(&keys, &answered(&targets, &again, &second), &pairs(&second));
        view.extend(into_lookup(ctx, &targets, &again, second));
    }
    ctx.whereabouts()
        .retain(&ids.iter().map(String::as_str).collect::<HashSet<_>>());
    view
}

async fn ask(ctx: &Context, targets: &[Target], asks: &Asks) -> Answers {
    ec2::describe_asks(targets, asks, ctx.config.concurrency).await
}

/// The asks of the targets that answered (a silent target's ids were not missed, only unasked).
fn answered(targets: &[Target], asks: &Asks, answers: &Answers) -> Asks {
    asks.iter()
        .enumerate()
        .map(|(t, a)| match answers.failed(targets, t) {
            true => Vec::new(),
            false => a.clone(),
        })
        .collect()
}

fn pairs(answers: &Answers) -> Vec<(usize, &str)> {
    answers
        .found
        .iter()
        .map(|(t, o)| (*t, o.instance_id.as_str()))
        .collect()
}

/// The answers as a `Lookup`, noted in `ctx.failing` for the targets that were asked.
fn into_lookup(ctx: &Context, targets: &[Target], asks: &Asks, answers: Answers) -> Lookup {
    let mut lookup = Lookup {
        observed: Default::default(),
        unanswered: answers.unanswered,
    };
    for (_, inst) in answers.found {
        lookup
            .observed
            .entry(inst.instance_id.clone())
            .or_default()
            .push(inst);
    }
    let asked: Vec<Target> = targets
        .iter()
        .zip(asks)
        .filter(|(_, a)| !a.is_empty())
        .map(|(t, _)| t.clone())
        .collect();
    ctx.failing.note(&ctx.metrics, &asked, &lookup);
    ctx.note_silent();
    lookup
}
