//! Assembly of a running worker: builds the context (clients, metrics, health), then runs one
//! cycle (`--single-run`) or the long-running loops (the reconcile's timer, or the shared
//! reconcile's driver; the event loop) with the HTTP server, and returns the exit code.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use prometheus_client::registry::Registry;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{error, info, warn};

use crate::aws;
use crate::config::Config;
use crate::engine::context::Context;
use crate::engine::cycle;
use crate::engine::fleet::Fleet;
use crate::engine::organization;
use crate::engine::shutdown;
use crate::engine::worker::Worker;
use crate::model::backoff::Backoff;
use crate::telemetry::health::Health;
use crate::telemetry::metrics::Metrics;
use crate::telemetry::server::{self, AppState};

/// What `run` needs: the shared context, the metrics registry, the SQS client of the event loop, and
/// the STS client that names the home account.
pub struct Assembled {
    pub ctx: Arc<Context>,
    pub metrics_registry: Arc<Registry>,
    pub sqs: Option<aws_sdk_sqs::Client>,
    pub sts: aws_sdk_sts::Client,
}

/// How long the start waits for GetCallerIdentity before going on without the home account's id.
const IDENTITY_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// Names the home account once (GetCallerIdentity, which needs no permission): undo records and the
/// error metric carry its 12-digit id instead of "home". Without an answer they say "home", and the
/// failure (no credentials, say) is logged once and shows in `/readyz`.
async fn name_home_account(ctx: &Context, sts: &aws_sdk_sts::Client) {
    let region = ctx.config.service_region.clone();
    ctx.metrics.set_home("home", &region);
    match tokio::time::timeout(IDENTITY_WAIT, aws::sts::caller(sts)).await {
        Ok(Ok(caller)) if !caller.account.is_empty() => {
            ctx.metrics.set_home(&caller.account, &region);
        }
        Ok(Ok(_)) => {}
        Ok(Err(e)) => {
            ctx.counted(&e);
            error!(error = %e, cause = e.class().words(), "cannot tell which account the credentials act in");
        }
        Err(_) => warn!(
            wait_s = IDENTITY_WAIT.as_secs(),
            "GetCallerIdentity did not answer; records name the home account \"home\""
        ),
    }
}

/// Builds the shared context. No AWS call is made here (assumed roles are resolved lazily).
pub async fn context(config: Config) -> Assembled {
    let home = aws::load_home(&config.service_region).await;
    let health = Arc::new(Health::new(config.frequency, config.stall_timeout));
    let reported = health.clone();
    let watch = aws::Reachability(Arc::new(move |ok| reported.attempt(ok)));
    let sqs = config.queue.as_ref().map(|_| aws::sqs(&home, Some(&watch)));
    let targets = crate::engine::targets::Targets::new(
        &home,
        &config.instances_regions,
        &config.member_roles,
        Some(&watch),
        config.organization.is_some(),
        config.frequency,
    )
    .await;
    let metrics = Arc::new(Metrics::default());
    let mut registry = Registry::default();
    metrics.register(&mut registry);
    for s in &config.service_ids {
        metrics.up.get_or_create(&Metrics::service(s)).set(1);
    }
    let cloudmap = aws::cloudmap(&home, Some(&watch));
    let sts = aws::sts::client(&home);
    let audit = config.audit_event_bus.as_ref().map(|(bus, region)| {
        let conf = aws::derive(&home, region, None);
        crate::aws::eventbridge::AuditBus {
            client: aws_sdk_eventbridge::Client::new(&conf),
            bus: bus.clone(),
        }
    });
    let ledger = config.state_table.as_deref().map(|table| {
        crate::aws::dynamodb::StateTable::new(aws::dynamodb(&home, Some(&watch)), table)
    });
    let organization = match config.organization.clone() {
        Some(org) => Some(crate::engine::organization::Lister::new(&home, org).await),
        None => None,
    };
    let mut ctx = Context::new(config, cloudmap, targets, metrics, health);
    ctx.audit = audit;
    ctx.ledger = ledger;
    ctx.organization = organization;
    Assembled {
        ctx: Arc::new(ctx),
        metrics_registry: Arc::new(registry),
        sqs,
        sts,
    }
}

/// Runs the worker as configured and returns the process exit code.
pub async fn run(config: Config) -> i32 {
    let root = CancellationToken::new();
    shutdown::on_signal(root.clone());
    let grace = config.shutdown_timeout;
    let single = config.single_run;
    let Assembled {
        ctx,
        metrics_registry: registry,
        sqs,
        sts,
    } = context(config).await;
    name_home_account(&ctx, &sts).await;
    info!(
        services = ?ctx.config.service_ids,
        namespaces = ?ctx.config.namespace_ids,
        service_tags = ?ctx.config.service_tags,
        service_region = %ctx.config.service_region,
        instances_regions = ?ctx.config.instances_regions,
        member_accounts = ?ctx.config.member_roles.iter().map(|r| r.account_id.as_str()).collect::<Vec<_>>(),
        home_account = ctx.metrics.account_label(&crate::model::domain::Account::Home),
        organization = ctx.config.organization.as_ref().map(|o| o.id.as_str()),
        dry_run = ctx.config.dry_run,
        single_run = single,
        queue_url = ctx.config.queue.as_ref().map(|q| q.url.as_str()),
        "cloud-unmap starting"
    );
    // Organization mode: the first cycle already covers every listed account (a failure here is
    // logged; the refresh loop retries sooner).
    if let Some(lister) = &ctx.organization {
        let _ = organization::refresh(lister, &ctx.targets, &ctx.metrics).await;
    }
    if single {
        return single_run(ctx, &root, grace).await;
    }

    let listener = match server::bind(&ctx.config.http_host, ctx.config.http_port).await {
        Ok(l) => l,
        Err(e) => {
            error!(error = %e, "cannot start the HTTP server");
            return 1;
        }
    };
    info!(address = %listener.local_addr().map(|a| a.to_string()).unwrap_or_default(), "serving /metrics /healthz /readyz");
    let tracker = TaskTracker::new();
    let state = AppState {
        registry,
        health: ctx.health.clone(),
        ready: ctx.metrics.ready.clone(),
    };
    tracker.spawn(server::serve(listener, state, root.child_token()));
    let crashed = Arc::new(AtomicBool::new(false));
    // With a queue and a state table the replicas share the reconcile (`fleet`): reconcile messages
    // go from the event loop to its driver. Otherwise each replica runs its own timer.
    let (task, shared) = match (&ctx.ledger, &ctx.config.queue, &sqs) {
        (Some(ledger), Some(queue), Some(sqs)) => {
            let (tx, rx) = tokio::sync::mpsc::channel(16);
            let events = crate::engine::queue::EventQueue::new(sqs.clone(), queue.url.clone());
            let fleet = Fleet::new(ctx.clone(), ledger.clone(), events);
            (tokio::spawn(fleet.run(rx, root.child_token())), Some(tx))
        }
        _ => (
            tokio::spawn(cycle::run_forever(ctx.clone(), root.child_token())),
            None,
        ),
    };
    supervise(
        &tracker,
        &root,
        &ctx.health,
        &crashed,
        task,
        "reconcile loop",
    );
    if ctx.organization.is_some() {
        let listing = organization_loop(ctx.clone(), root.child_token());
        supervise(
            &tracker,
            &root,
            &ctx.health,
            &crashed,
            tokio::spawn(listing),
            "organization listing",
        );
    }
    if let (Some(queue), Some(sqs)) = (ctx.config.queue.clone(), sqs) {
        let worker = Worker::new(ctx.clone(), sqs, queue).with_triggers(shared);
        let event_task = tokio::spawn(worker.run(root.child_token()));
        supervise(
            &tracker,
            &root,
            &ctx.health,
            &crashed,
            event_task,
            "event loop",
        );
    }
    tracker.spawn(crate::engine::scheduled::finish(ctx.clone(), root.clone()));
    root.cancelled().await;
    let drained = shutdown::drain(&tracker, &root, grace).await;
    if crashed.load(Ordering::SeqCst) {
        error!("stopped after a crash");
        1
    } else if drained {
        info!("stopped");
        0
    } else {
        1
    }
}

/// Lists the organization every `--organization-refresh` until `stop`; after a failure, sooner
/// (30 s, doubling up to the period).
async fn organization_loop(ctx: Arc<Context>, stop: CancellationToken) {
    let Some(lister) = &ctx.organization else {
        return;
    };
    let period = lister.organization.refresh;
    let mut backoff = Backoff::new(organization::RETRY.min(period), period);
    let mut pause = if ctx.targets.listing().is_some() {
        period
    } else {
        backoff.next_delay()
    };
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(pause) => {}
        }
        pause = match organization::refresh(lister, &ctx.targets, &ctx.metrics).await {
            Ok(_) => {
                backoff.reset();
                period
            }
            Err(_) => backoff.next_delay().min(period),
        };
    }
}

/// Waits for a loop; if it crashed, `crashed` is set and the process stops with exit 1 (the
/// orchestrator restarts it). Either way liveness fails once a loop has ended.
fn supervise(
    tracker: &TaskTracker,
    root: &CancellationToken,
    health: &Arc<Health>,
    crashed: &Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
    name: &'static str,
) {
    let root = root.clone();
    let health = health.clone();
    let crashed = crashed.clone();
    tracker.spawn(async move {
        if let Err(e) = task.await {
            error!(error = %e, "the {name} crashed; stopping");
            crashed.store(true, Ordering::SeqCst);
            root.cancel();
        }
        health.stop();
    });
}

async fn single_run(
    ctx: Arc<Context>,
    root: &CancellationToken,
    grace: std::time::Duration,
) -> i32 {
    let mut cycle = tokio::spawn(async move {
        // Scheduled events already due act now (later ones are for a long-running worker), while
        // the cycle runs: the two ask different APIs.
        let (report, ()) = tokio::join!(
            cycle::run_cycle(&ctx),
            crate::engine::scheduled::sweep(&ctx, false)
        );
        report.exit_code()
    });
    let joined = tokio::select! {
        r = &mut cycle => r,
        _ = root.cancelled() => match tokio::time::timeout(grace, &mut cycle).await {
            Ok(r) => r,
            Err(_) => {
                error!(grace_s = grace.as_secs(), "the reconcile did not finish within the grace period");
                return 1;
            }
        },
    };
    joined.unwrap_or_else(|e| {
        error!(error = %e, "the reconcile crashed");
        1
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn a_crashed_loop_stops_the_process_and_marks_the_crash() {
        let (tracker, root) = (TaskTracker::new(), CancellationToken::new());
        let health = Arc::new(Health::new(
            Duration::from_secs(10),
            Duration::from_secs(300),
        ));
        let crashed = Arc::new(AtomicBool::new(false));
        let task = tokio::spawn(async { panic!("a bug in a loop") });
        supervise(&tracker, &root, &health, &crashed, task, "reconcile loop");
        tokio::time::timeout(Duration::from_secs(5), root.cancelled())
            .await
            .expect("the crash cancels the process");
        tracker.close();
        tracker.wait().await;
        assert!(crashed.load(Ordering::SeqCst));
        assert!(health.liveness(std::time::Instant::now()).is_err());

        // A loop that ends normally (at shutdown) is no crash.
        let (tracker, root) = (TaskTracker::new(), CancellationToken::new());
        let crashed = Arc::new(AtomicBool::new(false));
        supervise(
            &tracker,
            &root,
            &health,
            &crashed,
            tokio::spawn(async {}),
            "event loop",
        );
        tracker.close();
        tracker.wait().await;
        assert!(!crashed.load(Ordering::SeqCst) && !root.is_cancelled());
    }
}
