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
use crate::model::lookup::{self, Asks};

/// Looks `ids` up for the whole cycle.
pub async fn look(ctx: &Context, ids: &[String]) -> Lookup {
    let targets = ctx.targets.len();
    let asks = ctx.whereabouts().asks(ids, targets);
    let first = ask(ctx, &asks).await;
    let missed = ctx
        .whereabouts()
        .learn(&answered(ctx, &asks, &first), &pairs(&first));
    let mut view = into_lookup(ctx, &asks, first);
    if !missed.is_empty() {
        let again = lookup::elsewhere(&missed, targets);
        let second = ask(ctx, &again).await;
        ctx.whereabouts()
            .learn(&answered(ctx, &again, &second), &pairs(&second));
        view.extend(into_lookup(ctx, &again, second));
    }
    ctx.whereabouts()
        .retain(&ids.iter().map(String::as_str).collect::<HashSet<_>>());
    view
}

async fn ask(ctx: &Context, asks: &Asks) -> Answers {
    ec2::describe_asks(&ctx.targets, asks, ctx.config.concurrency).await
}

/// The asks of the targets that answered (a silent target's ids were not missed, only unasked).
fn answered(ctx: &Context, asks: &Asks, answers: &Answers) -> Asks {
    asks.iter()
        .enumerate()
        .map(|(t, a)| match answers.failed(&ctx.targets, t) {
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
fn into_lookup(ctx: &Context, asks: &Asks, answers: Answers) -> Lookup {
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
    let asked: Vec<Target> = ctx
        .targets
        .iter()
        .zip(asks)
        .filter(|(_, a)| !a.is_empty())
        .map(|(t, _)| t.clone())
        .collect();
    ctx.failing.note(&ctx.metrics, &asked, &lookup);
    lookup
}
