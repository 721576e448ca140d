//! Which records `restore` works on, and what each comes to: records read from any shape, filtered
//! (service, instance, time), the latest per registration; then each judged against Cloud Map (is
//! it back already?) and EC2 (is its instance alive at its address, by the worker's own rules?).

use std::collections::HashMap;

use crate::aws::cloudmap;
use crate::aws::ec2;
use crate::aws::Target;
use crate::config::restore::Filter;
use crate::model::domain::is_ec2_instance_id;
use crate::model::plan::{self, Action, Judging, NotFoundBound, PlanOptions, Registration};
use crate::model::record::Removal;

/// What `select` found in the input.
#[derive(Debug)]
pub struct Selection {
    /// The records passing the filter, the latest of each (service, instance), oldest first.
    pub records: Vec<Removal>,
    /// Lines that held a record (before the filter).
    pub read: usize,
    /// Non-blank lines that held none.
    pub unread: usize,
}

/// The records of `text` that pass `filter`, the latest of each (service, instance), oldest first;
/// and how many lines held a record, and how many held none.
pub fn select(text: &str, filter: &Filter) -> Selection {
    let mut latest: HashMap<(String, String), Removal> = HashMap::new();
    let (mut read, mut unread) = (0, 0);
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let Some(r) = Removal::from_line(line) else {
            unread += 1;
            continue;
        };
        read += 1;
        let ec2_id = r.attributes.get(plan::EC2_ID_ATTRIBUTE);
        let wanted = (filter.service_ids.is_empty() || filter.service_ids.contains(&r.service_id))
            && (filter.instance_ids.is_empty()
                || filter.instance_ids.contains(&r.instance_id)
                || ec2_id.is_some_and(|id| filter.instance_ids.contains(id)))
            && filter
                .since
                .is_none_or(|since| r.at().is_some_and(|at| at >= since));
        if !wanted {
            continue;
        }
        let key = (r.service_id.clone(), r.instance_id.clone());
        match latest.get(&key) {
            Some(known) if known.at() > r.at() => {}
            _ => {
                latest.insert(key, r);
            }
        }
    }
    let mut records: Vec<Removal> = latest.into_values().collect();
    records.sort_by(|a, b| {
        (a.at(), &a.service_id, &a.instance_id).cmp(&(b.at(), &b.service_id, &b.instance_id))
    });
    Selection {
        records,
        read,
        unread,
    }
}

/// What one record comes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// To be registered again (why, in words).
    Restore(String),
    /// Cloud Map holds it already: left alone.
    AlreadyRegistered,
    /// Cloud Map held it again when read right before the registration: left alone.
    Back,
    /// Its instance is not alive at its address (and no `--force`).
    Refused(String),
    /// Cloud Map or EC2 could not be asked.
    Failed(String),
}

/// Judges one record: already back? Alive by EC2, under the worker's rules?
pub async fn judge(
    cloudmap: &aws_sdk_servicediscovery::Client,
    targets: &[Target],
    r: &Removal,
    force: bool,
) -> Verdict {
    match back(cloudmap, r).await {
        Some(v) => v,
        None => alive(targets, r, force).await,
    }
}

/// Judges a chosen record again right before its RegisterInstance (the plan may be minutes old: a
/// prompt, a queue behind `--concurrency`): EC2 first, then Cloud Map, last. RegisterInstance on an
/// id that exists *updates* it (API reference, RegisterInstance), so a registration its owner made
/// meanwhile, maybe at a new address, must be read here and left alone.
pub async fn again(
    cloudmap: &aws_sdk_servicediscovery::Client,
    targets: &[Target],
    r: &Removal,
    force: bool,
) -> Verdict {
    match alive(targets, r, force).await {
        Verdict::Restore(why) => back(cloudmap, r).await.unwrap_or(Verdict::Restore(why)),
        other => other,
    }
}

/// `AlreadyRegistered` when Cloud Map holds the registration, `Failed` when it cannot be asked.
async fn back(cloudmap: &aws_sdk_servicediscovery::Client, r: &Removal) -> Option<Verdict> {
    match cloudmap::current(cloudmap, &r.service_id, &r.instance_id).await {
        Ok(Some(_)) => Some(Verdict::AlreadyRegistered),
        Ok(None) => None,
        Err(e) => Some(Verdict::Failed(e.to_string())),
    }
}

/// Whether EC2 vouches for the record's instance at its address (or `--force`).
async fn alive(targets: &[Target], r: &Removal, force: bool) -> Verdict {
    let reg = Registration::new(&r.instance_id, |name| r.attributes.get(name).cloned());
    let refuse = |why: String| {
        if force {
            Verdict::Restore(format!("forced: {why}"))
        } else {
            Verdict::Refused(why)
        }
    };
    if !reg.has_address() || !is_ec2_instance_id(reg.target()) {
        return refuse("EC2 cannot vouch for it (no address, or no EC2 instance id)".into());
    }
    let ids = [reg.target().to_string()];
    let observed = match ec2::describe(targets, &ids, 4).await {
        Ok(o) => o,
        Err(e) => return Verdict::Failed(e.to_string()),
    };
    let opts = PlanOptions {
        // A stopping or stopped instance serves nothing at its address: putting its registration
        // back would send clients to a dead endpoint (and a worker with --deregister-stopped would
        // remove it again). Only --force restores it.
        deregister_stopped: true,
        allow_empty_service: true,
        max_not_found: NotFoundBound::Percent(100),
        unanswered: false,
    };
    let plan = plan::plan(std::slice::from_ref(&reg), &observed, opts, Judging::All);
    let seen = observed.get(reg.target()).and_then(|o| o.first());
    match plan.decisions.first().map(|d| d.action) {
        Some(Action::Keep) => Verdict::Restore(match seen {
            Some(o) => format!(
                "{} is {} in {}/{}",
                reg.target(),
                o.state,
                o.account,
                o.region
            ),
            None => "alive".into(),
        }),
        Some(Action::Deregister(reason)) => refuse(format!("{} is {reason} now", reg.target())),
        other => refuse(format!("not judged by EC2 ({other:?})")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(service: &str, id: &str, time: &str, ip: &str) -> String {
        let mut r = crate::model::record::sample(id, time, ip);
        r.service_id = service.into();
        r.json()
    }

    #[test]
    fn the_latest_record_of_each_registration_passing_the_filter_counts() {
        let a = "i-0123456789abcdef0";
        let text = [
            line("srv-a", a, "2026-11-24T01:00:00Z", "10.0.0.1"),
            "some other log line".into(),
            line("srv-a", a, "2026-11-24T02:00:00Z", "10.0.0.2"),
            line("srv-b", a, "2026-11-23T02:00:00Z", "10.0.0.3"),
        ]
        .join("\n");
        let found = select(&text, &Filter::default());
        assert_eq!((found.read, found.unread), (3, 1));
        let all = found.records;
        let ips: Vec<&str> = all
            .iter()
            .map(|r| r.attributes["AWS_INSTANCE_IPV4"].as_str())
            .collect();
        assert_eq!(ips, ["10.0.0.3", "10.0.0.2"]);
        let since = crate::model::domain::parse_rfc3339("2026-11-24T00:00:00Z");
        let recent = select(
            &text,
            &Filter {
                since,
                ..Filter::default()
            },
        );
        assert_eq!(recent.records.len(), 1);
        let only_b = Filter {
            service_ids: vec!["srv-b".into()],
            ..Filter::default()
        };
        assert_eq!(select(&text, &only_b).records[0].service_id, "srv-b");
        let other = Filter {
            instance_ids: vec!["web-1".into()],
            ..Filter::default()
        };
        assert!(select(&text, &other).records.is_empty());
    }
}
