//! The steps of retiring one instance (the dry run's plan of them lives in `dry_run`).
//! Each step either lets the next one run or halts the retirement with a typed reason; a halt always
//! leaves the instance unterminated.

use super::select::Settings;
use super::{Candidate, InstanceReport, Outcome};
use crate::aws::ec2::retire::{self, Mode, Until};
use crate::aws::{autoscaling, cloudmap};
use crate::model::domain::InstanceState;
use crate::model::record::{Removal, Sighting};
use crate::telemetry::progress::Line;

/// Why a retirement stopped before termination. The text is the report's `reason`.
#[derive(Debug, thiserror::Error)]
pub enum Halt {
    #[error("already terminated")]
    AlreadyTerminated,
    #[error("was already shutting down")]
    AlreadyShuttingDown,
    #[error("termination protection is on; left untouched")]
    Protected,
    #[error("cannot read termination protection: {0}")]
    ProtectionUnreadable(String),
    #[error("DetachInstances from Auto Scaling group {group} failed: {reason}; left untouched")]
    Detach { group: String, reason: String },
    #[error("detached from Auto Scaling group {group}, but {detail}; not drained, not stopped")]
    StillInGroup { group: String, detail: String },
    #[error("drain from {service_id} failed: {source}")]
    Drain {
        service_id: String,
        #[source]
        source: crate::error::Error,
    },
    #[error("did not reach running: {0}")]
    NotRunning(String),
    #[error("StopInstances failed: {0}")]
    Stop(String),
    #[error("did not stop: {0}")]
    NotStopped(String),
    #[error("cannot read its state before the snapshot: {0}")]
    StateUnreadable(String),
    #[error("CreateSnapshots failed: {0}; not terminated")]
    Snapshot(String),
    #[error("{taken} snapshot(s) for {volumes} volume(s); not terminated")]
    MissingSnapshots { taken: usize, volumes: usize },
    #[error("snapshots did not complete: {0}; not terminated")]
    SnapshotIncomplete(String),
    #[error("setting DeleteOnTermination failed: {0}; not terminated")]
    DeleteOnTermination(String),
    #[error("termination refused (protection?): {0}")]
    TerminationRefused(String),
    #[error("TerminateInstances failed: {0}")]
    Terminate(String),
}

impl Halt {
    /// Halts that leave nothing to do are skips; the others are failures.
    fn outcome(&self) -> Outcome {
        match self {
            Halt::AlreadyTerminated | Halt::AlreadyShuttingDown => Outcome::Skipped,
            _ => Outcome::Failed,
        }
    }
}

/// The steps and the context one instance needs.
pub struct Run<'a> {
    pub s: &'a Settings,
    pub cloudmap: Option<&'a aws_sdk_servicediscovery::Client>,
}

pub(super) fn report(
    c: &Candidate,
    outcome: Outcome,
    reason: Option<String>,
    snapshots: Vec<String>,
) -> InstanceReport {
    InstanceReport {
        account: c.target.account.clone(),
        region: c.target.region.clone(),
        instance_id: c.instance_id.clone(),
        name: c.name.clone(),
        outcome,
        reason,
        snapshots,
        steps: Vec::new(),
        notes: Vec::new(),
        surviving_volumes: Vec::new(),
    }
}

/// EC2's code and message for a service error, else the whole error chain.
impl Run<'_> {
    /// Retires one instance (or, in a dry run, plans it); the report says how far it got.
    pub async fn retire(&self, c: &Candidate, line: &Line) -> InstanceReport {
        if let Some(hold) = &c.hold {
            return report(c, Outcome::Refused, Some(hold.to_string()), Vec::new());
        }
        let mut snapshots = Vec::new();
        let mut notes = Vec::new();
        let mut drained = Vec::new();
        let halted = async {
            if c.state == InstanceState::Terminated {
                return Err(Halt::AlreadyTerminated);
            }
            self.check_protection(c, line).await?;
            if self.s.dry_run {
                return Ok(None);
            }
            self.detach(c, line).await?;
            self.drain(c, line, &mut drained).await?;
            self.stop(c, line, c.state).await?;
            self.stopped_before_snapshot(c, line, &mut notes).await?;
            self.snapshot(c, line, &mut snapshots).await?;
            self.set_delete_on_termination(c, line).await?;
            self.terminate(c, line).await.map(Some)
        }
        .await;
        let mut rep = match halted {
            Ok(None) => return self.plan(c, line).await,
            Ok(Some(())) => {
                let mut rep = report(c, Outcome::Terminated, None, snapshots);
                rep.surviving_volumes = self.surviving(c);
                rep
            }
            Err(halt) => {
                if !drained.is_empty() {
                    notes.push(undo_note(self.s, c, &drained));
                }
                report(c, halt.outcome(), Some(halt.to_string()), snapshots)
            }
        };
        rep.notes = notes;
        rep
    }

    /// Reads the state again right before the snapshot (discovery may be long past: a prompt, a
    /// queue behind `--concurrency`): an instance started meanwhile is stopped again first, and the
    /// change is noted in the report.
    async fn stopped_before_snapshot(
        &self,
        c: &Candidate,
        line: &Line,
        notes: &mut Vec<String>,
    ) -> Result<(), Halt> {
        line.set("checking it is still stopped");
        let raw = retire::state(&c.target.ec2, &c.instance_id)
            .await
            .map_err(|e| Halt::StateUnreadable(e.reason()))?;
        let now = raw
            .as_deref()
            .and_then(InstanceState::parse)
            .ok_or_else(|| Halt::StateUnreadable(format!("state {raw:?}")))?;
        if now == InstanceState::Stopped {
            return Ok(());
        }
        let note = format!(
            "state changed under it: {} at discovery, {} before the snapshot; stopped again",
            c.state.as_str(),
            now.as_str()
        );
        tracing::warn!(instance_id = %c.instance_id, "{note}");
        notes.push(note);
        self.stop(c, line, now).await
    }

    async fn check_protection(&self, c: &Candidate, line: &Line) -> Result<(), Halt> {
        line.set("checking termination protection");
        let protected = retire::protected(&c.target.ec2, &c.instance_id)
            .await
            .map_err(|e| Halt::ProtectionUnreadable(e.reason()))?;
        if protected {
            return Err(Halt::Protected);
        }
        Ok(())
    }

    /// The volumes that outlive its termination: with `--no-snapshot`, those whose
    /// DeleteOnTermination is off (left as their owner set it); with snapshots, none.
    pub(super) fn surviving(&self, c: &Candidate) -> Vec<String> {
        match self.s.snapshot {
            true => Vec::new(),
            false => c.kept_volumes.clone(),
        }
    }

    /// `--detach`: takes the instance out of its Auto Scaling group, decrementing the desired
    /// capacity, so the group neither replaces it nor terminates it in its own way; then waits
    /// (bounded by `--wait-timeout`) until Auto Scaling no longer lists it (DetachInstances is
    /// asynchronous: `Detaching`, a load balancer's deregistration delay) before going on.
    async fn detach(&self, c: &Candidate, line: &Line) -> Result<(), Halt> {
        let Some(group) = &c.group else {
            return Ok(());
        };
        let halt = |e: crate::error::Error| Halt::Detach {
            group: group.clone(),
            reason: e.reason(),
        };
        line.set(format!("detaching from Auto Scaling group {group}"));
        let asg = &c.target.autoscaling;
        autoscaling::detach(asg, group, &c.instance_id)
            .await
            .map_err(halt)?;
        line.set(format!(
            "waiting until Auto Scaling group {group} lets it go"
        ));
        let timeout = self.s.wait_timeout;
        let detail = match autoscaling::wait_detached(asg, &c.instance_id, timeout).await {
            Ok(true) => return Ok(()),
            Ok(false) => format!(
                "Auto Scaling still lists it after {} s (--wait-timeout)",
                timeout.as_secs()
            ),
            Err(e) => format!("cannot tell whether it left: {}", e.reason()),
        };
        Err(Halt::StillInGroup {
            group: group.clone(),
            detail,
        })
    }

    /// Removes every registration whose target is the instance from the selected services, then
    /// waits `--drain-seconds`. Each removal leaves the worker's undo record (`record::Removal`, in
    /// a `deregistered` line on stderr, whatever `--log-level`), read right before it, so `restore` can put it back;
    /// `drained` holds the records of the removals made.
    async fn drain(
        &self,
        c: &Candidate,
        line: &Line,
        drained: &mut Vec<Removal>,
    ) -> Result<(), Halt> {
        let Some(cloudmap) = self.cloudmap.filter(|_| !c.registrations.is_empty()) else {
            return Ok(());
        };
        let halt = |svc: &String| {
            let service_id = svc.clone();
            move |source| Halt::Drain { service_id, source }
        };
        for (svc, id) in &c.registrations {
            line.set(format!("deregistering {id} from {svc}"));
            let Some((_, attributes)) = cloudmap::current(cloudmap, svc, id)
                .await
                .map_err(halt(svc))?
            else {
                continue; // gone already: nothing to undo
            };
            // Recorded even when the deregistration comes back `AlreadyGone`: DeregisterInstance
            // takes no idempotency token, so an SDK retry of our own applied call answers
            // InstanceNotFound (or DuplicateRequest). A record too many is harmless: `restore`
            // leaves a registration that is back alone, and judges the instance by EC2.
            let outcome = cloudmap::deregister(cloudmap, svc, id)
                .await
                .map_err(halt(svc))?;
            let removal = Removal {
                service_id: svc.clone(),
                instance_id: id.clone(),
                attributes,
                reason: "decommission".into(),
                trigger: "decommission".into(),
                evidence: vec![Sighting {
                    account: c.target.account.to_string(),
                    region: c.target.region.clone(),
                    state: c.state.as_str().to_string(),
                }],
                time: crate::model::domain::rfc3339(std::time::SystemTime::now()),
                already_gone: outcome == cloudmap::Deregistered::AlreadyGone,
            };
            // Written whatever --log-level (WARNING by default would hide an INFO line), in the
            // shape of the worker's text log line, which `restore` reads.
            crate::telemetry::output::errln!(
                "deregistered service_id={svc} instance_id={id} reason=decommission record={}",
                removal.json()
            );
            drained.push(removal);
        }
        line.set(format!("draining for {} s", self.s.drain.as_secs()));
        tokio::time::sleep(self.s.drain).await;
        Ok(())
    }

    /// Brings the instance to `stopped` from `state`.
    async fn stop(&self, c: &Candidate, line: &Line, mut state: InstanceState) -> Result<(), Halt> {
        let (ec2, id) = (&c.target.ec2, c.instance_id.as_str());
        let timeout = self.s.wait_timeout;
        if state == InstanceState::Pending {
            line.set("waiting until running");
            retire::wait(ec2, id, Until::Running, timeout)
                .await
                .map_err(Halt::NotRunning)?;
            state = InstanceState::Running;
        }
        if state == InstanceState::ShuttingDown {
            line.set("already shutting down; waiting");
            let _ = retire::wait(ec2, id, Until::Terminated, timeout).await;
            return Err(Halt::AlreadyShuttingDown);
        }
        if state == InstanceState::Running {
            line.set("stopping");
            retire::stop(ec2, id, Mode::Apply)
                .await
                .map_err(|e| Halt::Stop(e.reason()))?;
        }
        if matches!(state, InstanceState::Running | InstanceState::Stopping) {
            line.set("waiting until stopped");
            retire::wait(ec2, id, Until::Stopped, timeout)
                .await
                .map_err(Halt::NotStopped)?;
        }
        Ok(())
    }

    /// Snapshots every EBS volume and waits until all are complete; `snapshots` holds what was taken.
    async fn snapshot(
        &self,
        c: &Candidate,
        line: &Line,
        snapshots: &mut Vec<String>,
    ) -> Result<(), Halt> {
        if !self.s.snapshot || c.volumes.is_empty() {
            return Ok(());
        }
        line.set(format!("snapshotting {} volume(s)", c.volumes.len()));
        let taken = retire::create_snapshots(&c.target.ec2, &c.instance_id, Mode::Apply)
            .await
            .map_err(|e| Halt::Snapshot(e.reason()))?;
        snapshots.extend(taken);
        if snapshots.len() < c.volumes.len() {
            return Err(Halt::MissingSnapshots {
                taken: snapshots.len(),
                volumes: c.volumes.len(),
            });
        }
        line.set(format!("waiting for {} snapshot(s)", snapshots.len()));
        retire::wait_snapshots(&c.target.ec2, snapshots, self.s.wait_timeout)
            .await
            .map_err(Halt::SnapshotIncomplete)?;
        Ok(())
    }

    /// After complete snapshots only: the volumes go with the instance. With `--no-snapshot`
    /// nothing is changed: a volume its owner kept on purpose stays (and is reported).
    async fn set_delete_on_termination(&self, c: &Candidate, line: &Line) -> Result<(), Halt> {
        if !self.s.snapshot || c.devices.is_empty() {
            return Ok(());
        }
        line.set("setting DeleteOnTermination");
        retire::delete_on_termination(&c.target.ec2, &c.instance_id, &c.devices, Mode::Apply)
            .await
            .map_err(|e| Halt::DeleteOnTermination(e.reason()))?;
        Ok(())
    }

    async fn terminate(&self, c: &Candidate, line: &Line) -> Result<(), Halt> {
        line.set("terminating");
        match retire::terminate(&c.target.ec2, &c.instance_id, Mode::Apply).await {
            Ok(()) => Ok(()),
            Err(e) if e.code() == Some("OperationNotPermitted") => {
                Err(Halt::TerminationRefused(e.reason()))
            }
            Err(e) => Err(Halt::Terminate(e.reason())),
        }
    }
}

/// What a halt after the drain says: the instance is not terminated, but its registrations are
/// out of Cloud Map; their undo records are on stderr, and this command puts them back (judged
/// alive by EC2 in the instance's own account and region).
fn undo_note(s: &Settings, c: &Candidate, drained: &[Removal]) -> String {
    let services: Vec<&str> = drained.iter().map(|r| r.service_id.as_str()).collect();
    let role = match &c.target.account {
        crate::model::domain::Account::Home => String::new(),
        crate::model::domain::Account::Member(id) => s
            .roles
            .iter()
            .find(|r| &r.account_id == id)
            .map(|r| format!(" --instances-role-arn {}", r.arn))
            .unwrap_or_default(),
    };
    format!(
        "its registrations were drained from {} and it is not terminated: put them back with \
         `cloud-unmap restore --from STDERR_LOG --instance-id {} --service-region {} \
         --instances-region {}{role}` (the undo records are the `deregistered` lines this run \
         wrote on stderr)",
        services.join(", "),
        c.instance_id,
        s.service_region.as_deref().unwrap_or("REGION"),
        c.target.region,
    )
}
