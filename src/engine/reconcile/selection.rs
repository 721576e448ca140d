//! Which services the selection stands for now: the explicit ids, the services carrying the
//! `--service-tag`s, every service of the selected namespaces; and what a missing one comes to.

use tracing::warn;

use crate::aws::cloudmap;
use crate::engine::context::Context;
use crate::error::Error;
use crate::model::domain::SelectionKind;
use crate::telemetry::emit::Failure;

/// The explicit service ids, the services carrying the `--service-tag`s, then every service of
/// every namespace (listed anew by the reconcile, `log_missing`; otherwise the last listing).
/// A namespace that does not exist is marked missing and skipped; one that cannot be listed is
/// logged, counted, and stands for its last known services; without any, it is among the errors.
/// The reconcile (`log_missing`) logs every missing namespace once per cycle; the event path only
/// logs one that just went missing.
pub async fn resolve_services(ctx: &Context, log_missing: bool) -> (Vec<String>, Vec<Error>) {
    let mut services = ctx.config.service_ids.clone();
    let mut errors = Vec::new();
    if !ctx.config.service_tags.is_empty() {
        match tagged_services(ctx, log_missing).await {
            Ok(found) => add_new(&mut services, found),
            Err(e) => errors.push(e),
        }
    }
    for ns in &ctx.config.namespace_ids {
        // Not on the event path: ListServices pages on every batch grow with the services.
        let known = (!log_missing).then(|| ctx.state.last_known_services(ns));
        if let Some(known) = known.flatten() {
            add_new(&mut services, known);
            continue;
        }
        let found = match cloudmap::list_services(&ctx.cloudmap, ns).await {
            Ok(found) => {
                ctx.set_missing(SelectionKind::Namespace, ns, false);
                ctx.state.remember_selection(ns, &found);
                found
            }
            Err(e @ Error::Missing { .. }) => {
                ctx.state.remember_selection(ns, &[]);
                if ctx.set_missing(SelectionKind::Namespace, ns, true) || log_missing {
                    warn!(namespace_id = %ns, error = %e, "a selected namespace does not exist; skipped");
                }
                continue;
            }
            Err(e) => {
                ctx.failed(Failure::ListServices { namespace_id: ns }, &e);
                match ctx.state.last_known_services(ns) {
                    Some(known) => known,
                    None => {
                        errors.push(e);
                        continue;
                    }
                }
            }
        };
        add_new(&mut services, found);
    }
    (services, errors)
}

/// Appends the services not already selected, keeping the first occurrence's order.
fn add_new(services: &mut Vec<String>, found: Vec<String>) {
    for s in found {
        if !services.contains(&s) {
            services.push(s);
        }
    }
}

/// The services carrying every `--service-tag`: listed anew by the reconcile (`fresh`, once per cycle);
/// the event path takes the last listing (tags change rarely; listing them costs a call per service).
/// A listing that fails stands for the last one, if any.
async fn tagged_services(ctx: &Context, fresh: bool) -> Result<Vec<String>, Error> {
    const KEY: &str = "--service-tag";
    if !fresh {
        if let Some(known) = ctx.state.last_known_services(KEY) {
            return Ok(known);
        }
    }
    let tags = &ctx.config.service_tags;
    match cloudmap::list_tagged_services(&ctx.cloudmap, tags, ctx.config.concurrency).await {
        Ok(found) => {
            ctx.state.remember_selection(KEY, &found);
            Ok(found)
        }
        Err(e) => {
            ctx.failed(Failure::ListTaggedServices, &e);
            ctx.state.last_known_services(KEY).ok_or(e)
        }
    }
}

/// What a missing service comes to: marked (metric, `/readyz`), logged when it just went missing
/// or when `log_missing` (the reconcile, once per cycle). Returns whether `error` was that.
pub fn note_missing(ctx: &Context, service_id: &str, error: &Error, log_missing: bool) -> bool {
    if !matches!(error, Error::Missing { .. }) {
        return false;
    }
    if ctx.set_missing(SelectionKind::Service, service_id, true) || log_missing {
        warn!(service_id, error = %error, "a selected service does not exist; skipped");
    }
    true
}
