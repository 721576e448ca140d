//! `check`'s most useful answer: for each service, where its registrations' instances are. Every
//! registration is judged as the worker would (the same plan, every absence counted as confirmed),
//! and its instance placed in the account and region that knows it.

use std::collections::{BTreeMap, HashSet};

use futures::stream::{self, StreamExt};

use super::probes::target_label;
use super::report::{Finding, Level, Whereabouts};
use crate::aws::cloudmap;
use crate::aws::ec2::{self, Observed};
use crate::aws::Target;
use crate::model::domain::is_ec2_instance_id;
use crate::model::plan::{self, Action, Judging, PlanOptions, Reason, Registration};

/// Looks one service's registrations up in every target, and judges them; explains the decision for
/// the registrations `explain` names (`--instance-id`).
pub async fn service(
    cloudmap: &aws_sdk_servicediscovery::Client,
    targets: &[Target],
    service_id: &str,
    opts: PlanOptions,
    home: Option<&str>,
    concurrency: usize,
    explain: &[String],
) -> (Whereabouts, Vec<Finding>) {
    let mut place = Whereabouts {
        service: service_id.to_string(),
        ..Whereabouts::default()
    };
    let registrations = match cloudmap::list_registrations(cloudmap, service_id).await {
        Ok(r) => r,
        Err(e) => {
            let finding = Finding::new(
                "registrations",
                service_id,
                Level::Fail,
                format!("cannot be listed: {}", e.reason()),
            );
            return (place, vec![finding]);
        }
    };
    let mut ids: Vec<String> = registrations
        .iter()
        .map(|r| r.target().to_string())
        .filter(|id| is_ec2_instance_id(id))
        .collect();
    ids.sort();
    ids.dedup();
    let (mut observed, mut findings) = (Observed::new(), Vec::new());
    let mut unanswered = false;
    // Each account and region on its own (one that fails does not hide the others), all at once.
    let ids = &ids;
    let lookups: Vec<_> = targets
        .iter()
        .map(|target| async move {
            let found = ec2::describe(std::slice::from_ref(target), ids, 1).await;
            (target_label(target, home), found)
        })
        .collect();
    let answers: Vec<_> = stream::iter(lookups)
        .buffered(concurrency.max(1))
        .collect()
        .await;
    for (label, answer) in answers {
        match answer {
            Ok(found) => {
                if !found.is_empty() {
                    place.found_in.insert(label, found.len());
                }
                for (id, seen) in found {
                    observed.entry(id).or_default().extend(seen);
                }
            }
            Err(e) => {
                unanswered = true;
                findings.push(Finding::new(
                    "registrations",
                    service_id,
                    Level::Warn,
                    format!(
                        "incomplete: instances could not be looked up in {label}: {}",
                        e.reason()
                    ),
                ))
            }
        }
    }
    findings.extend(judge(&mut place, &registrations, &observed, opts));
    // The decision as the worker makes it: a target that did not answer holds every not-found
    // (`Hold::Unanswered`), since the instance may live there.
    let worker = PlanOptions { unanswered, ..opts };
    findings.extend(super::decision::explain(
        service_id,
        &registrations,
        &observed,
        worker,
        explain,
        targets.len(),
        home,
    ));
    (place, findings)
}

/// Counts the plan's judgements into `place` and says what they mean.
pub fn judge(
    place: &mut Whereabouts,
    registrations: &[Registration],
    observed: &Observed,
    opts: PlanOptions,
) -> Vec<Finding> {
    let plan = plan::plan(registrations, observed, opts, Judging::All);
    place.registrations = registrations.len();
    place.alive = plan.count(|a| *a == Action::Keep);
    place.not_judged = plan.count(|a| matches!(a, Action::Skip(_)));
    let not_found: HashSet<&str> = plan.not_found().collect();
    place.not_found = not_found.len();
    place.gone = plan
        .wanted()
        .filter(|(_, r)| *r != Reason::NotFound)
        .count();
    place.not_found_ids = registrations
        .iter()
        .filter(|r| not_found.contains(r.instance_id.as_str()))
        .map(|r| r.target().to_string())
        .take(10)
        .collect();
    let service = place.service.clone();
    let mut out = Vec::new();
    let lost = if place.not_found > place.not_found_ids.len() {
        format!("{}, …", place.not_found_ids.join(", "))
    } else {
        place.not_found_ids.join(", ")
    };
    if plan.surge {
        out.push(Finding::new("registrations", &service, Level::Fail, format!(
            "{} of {} not found in any configured account and region ({lost}): more than --max-not-found, so the worker would hold them. If they live elsewhere, add that account (--instances-role-arn) or region (--instances-region)",
            place.not_found, place.registrations
        )));
    } else if place.not_found > 0 {
        out.push(Finding::new("registrations", &service, Level::Warn, format!(
            "{} not found in any configured account and region ({lost}): the worker removes them after --not-found-grace. If they live in an account or region not configured, add it first",
            place.not_found
        )));
    }
    if plan.held {
        out.push(Finding::new("registrations", &service, Level::Warn, "every registration with an address would go: the never-empty guard holds them (--allow-empty-service to allow)"));
    }
    if out.is_empty() {
        let found: BTreeMap<&str, usize> = place
            .found_in
            .iter()
            .map(|(k, v)| (k.as_str(), *v))
            .collect();
        out.push(Finding::new(
            "registrations",
            &service,
            Level::Ok,
            format!(
                "{} registration(s): {} alive, {} gone (the worker removes them), {} not judged by EC2; instances in {}",
                place.registrations,
                place.alive,
                place.gone,
                place.not_judged,
                if found.is_empty() { "no configured account".to_string() } else { found.keys().copied().collect::<Vec<_>>().join(", ") }
            ),
        ));
    }
    out
}

/// How registrations are judged: the worker's plan options, and which decisions to explain.
#[derive(Debug, Clone, Copy)]
pub struct Judgement<'a> {
    pub opts: PlanOptions,
    /// `--instance-id`: the registrations whose decision is explained.
    pub explain: &'a [String],
}

/// Every service's whereabouts, `concurrency` services at a time, in the given order.
pub async fn services(
    cloudmap: &aws_sdk_servicediscovery::Client,
    targets: &[Target],
    services: &[String],
    judgement: Judgement<'_>,
    home: Option<&str>,
    concurrency: usize,
    progress: &crate::telemetry::progress::Line,
) -> (Vec<Whereabouts>, Vec<Finding>) {
    let total = services.len();
    let Judgement { opts, explain } = judgement;
    let jobs = services
        .iter()
        .map(|s| service(cloudmap, targets, s, opts, home, concurrency, explain));
    let mut stream = stream::iter(jobs).buffered(concurrency.max(1));
    let (mut places, mut findings) = (Vec::new(), Vec::new());
    while let Some((place, f)) = stream.next().await {
        places.push(place);
        findings.extend(f);
        progress.set(format!("{}/{total} service(s) looked up", places.len()));
    }
    (places, findings)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::domain::InstanceState;
    use crate::model::plan::ObservedInstance;

    fn reg(i: usize) -> Registration {
        Registration {
            instance_id: format!("i-{i:017x}"),
            ec2_id: None,
            ipv4: Some(format!("10.0.0.{i}")),
            ipv6: None,
            ..Default::default()
        }
    }

    #[test]
    fn registrations_of_an_unconfigured_account_are_a_failure_and_are_named() {
        let regs: Vec<Registration> = (1..=4).map(reg).collect();
        let mut observed = Observed::new();
        observed.insert(
            regs[0].instance_id.clone(),
            vec![ObservedInstance {
                ended: None,
                instance_id: regs[0].instance_id.clone(),
                state: InstanceState::Running,
                ipv4: vec!["10.0.0.1".into()],
                ipv6: vec![],
                spot: false,
                asg_group: None,
                account: "home".into(),
                region: "eu-west-1".into(),
            }],
        );
        let mut place = Whereabouts::default();
        let f = judge(&mut place, &regs, &observed, PlanOptions::default());
        assert_eq!((place.alive, place.not_found, place.gone), (1, 3, 0));
        assert_eq!(f[0].level, Level::Fail);
        assert!(
            f[0].detail.contains(&regs[3].instance_id),
            "{}",
            f[0].detail
        );

        // One lost among many is a warning: the worker would remove it after the grace.
        let mut place = Whereabouts::default();
        let f = judge(
            &mut place,
            &regs[..1],
            &Observed::new(),
            PlanOptions {
                allow_empty_service: true,
                ..PlanOptions::default()
            },
        );
        assert_eq!((f[0].level, place.not_found), (Level::Warn, 1));
    }
}
