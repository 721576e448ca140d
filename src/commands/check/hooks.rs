//! `check`'s view of the Auto Scaling lifecycle hooks named by `--lifecycle-hook-name`: which
//! groups of which account and region carry them, whether they are terminate hooks, and whether
//! the configured `--lifecycle-drain-seconds` fits within each one's global timeout.

use futures::stream::{self, StreamExt};

use super::probes::target_label;
use super::report::{Finding, Level};
use crate::aws::{autoscaling, Target};
use crate::model::drain::{self, MIN_HEARTBEAT_TIMEOUT};
use std::time::Duration;

/// The transition of the terminate hooks cloud-unmap completes.
const TERMINATING: &str = "autoscaling:EC2_INSTANCE_TERMINATING";
/// How many groups a finding names before it counts the rest.
const NAMED: usize = 5;

/// One hook of ours found on a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub name: String,
    /// `account/region/group`.
    pub at: String,
    pub transition: String,
    pub heartbeat_s: i32,
    /// The hook's GlobalTimeout (as Auto Scaling sets it when DescribeLifecycleHooks does not say).
    pub global: Duration,
    pub default_result: String,
}

/// Every hook named `names` on every group of one target (DescribeAutoScalingGroups, then
/// DescribeLifecycleHooks per group, `concurrency` at a time).
async fn in_target(
    target: &Target,
    label: String,
    names: &[String],
    concurrency: usize,
) -> Result<Vec<Found>, String> {
    let groups = autoscaling::groups(&target.autoscaling)
        .await
        .map_err(|e| format!("DescribeAutoScalingGroups: {}", e.reason()))?;
    let label = &label;
    let lookups = groups.into_iter().map(|group| async move {
        // Every hook of the group; ours are picked by name here.
        let hooks = autoscaling::hooks(&target.autoscaling, &group, &[])
            .await
            .map_err(|e| format!("DescribeLifecycleHooks: {}", e.reason()))?;
        Ok::<_, String>(
            hooks
                .into_iter()
                .filter(|h| names.contains(&h.name))
                .map(|h| Found {
                    at: format!("{label}/{}", h.group),
                    global: drain::global_timeout(
                        h.heartbeat_timeout.unwrap_or(MIN_HEARTBEAT_TIMEOUT),
                        h.global_timeout,
                    ),
                    heartbeat_s: h
                        .heartbeat_timeout
                        .map_or(3600, |t| i32::try_from(t.as_secs()).unwrap_or(i32::MAX)),
                    name: h.name,
                    transition: h.transition,
                    default_result: h.default_result,
                })
                .collect::<Vec<_>>(),
        )
    });
    let found: Vec<Result<Vec<Found>, String>> = stream::iter(lookups)
        .buffered(concurrency.max(1))
        .collect()
        .await;
    found
        .into_iter()
        .collect::<Result<Vec<_>, _>>()
        .map(|v| v.into_iter().flatten().collect())
}

/// The findings for `names` across every target (`drain`: `--lifecycle-drain-seconds`).
pub async fn hooks(
    targets: &[Target],
    names: &[String],
    drain: Option<Duration>,
    home: Option<&str>,
    concurrency: usize,
) -> Vec<Finding> {
    let mut found = Vec::new();
    let mut out = Vec::new();
    for target in targets {
        let label = target_label(target, home);
        match in_target(target, label.clone(), names, concurrency).await {
            Ok(f) => found.extend(f),
            Err(why) => out.push(Finding::new(
                "hook",
                label,
                Level::Warn,
                format!("groups could not be read: {why}"),
            )),
        }
    }
    out.extend(judge(names, &found));
    out.extend(too_long(drain, &found));
    out
}

/// A warning per terminate hook whose global timeout the configured drain does not fit in: the
/// drain is cut short there (CONTINUE comes before Auto Scaling ends the action itself).
pub fn too_long(drain: Option<Duration>, found: &[Found]) -> Vec<Finding> {
    let Some(drain) = drain else {
        return Vec::new();
    };
    found
        .iter()
        .filter(|f| f.transition == TERMINATING && !drain::fits(drain, f.global))
        .map(|f| {
            let detail = format!(
                "{}: --lifecycle-drain-seconds {} does not fit its global timeout of {} s (less {} s): \
                 drains end early there; lower the drain or raise the hook's heartbeat timeout",
                f.at,
                drain.as_secs(),
                f.global.as_secs(),
                drain::GLOBAL_MARGIN.as_secs()
            );
            Finding::new("hook", &f.name, Level::Warn, detail)
        })
        .collect()
}

/// Per hook name: on which groups, and whether each is a terminate hook.
pub fn judge(names: &[String], found: &[Found]) -> Vec<Finding> {
    let mut out = Vec::new();
    for name in names {
        let mine: Vec<&Found> = found.iter().filter(|f| &f.name == name).collect();
        if mine.is_empty() {
            out.push(Finding::new("hook", name, Level::Note, "no group in the configured accounts and regions has it: terminations are still seen through EC2 events, with no action to complete"));
            continue;
        }
        for f in mine.iter().filter(|f| f.transition != TERMINATING) {
            out.push(Finding::new("hook", name, Level::Warn, format!("{} is a {} hook: cloud-unmap completes only terminate actions; its owner must complete this one", f.at, f.transition)));
        }
        let terminate: Vec<&&Found> = mine
            .iter()
            .filter(|f| f.transition == TERMINATING)
            .collect();
        if terminate.is_empty() {
            continue;
        }
        let named: Vec<String> = terminate
            .iter()
            .take(NAMED)
            .map(|f| {
                format!(
                    "{} (heartbeat {} s, default {})",
                    f.at, f.heartbeat_s, f.default_result
                )
            })
            .collect();
        let more = terminate.len().saturating_sub(NAMED);
        let more = if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        };
        out.push(Finding::new(
            "hook",
            name,
            Level::Ok,
            format!(
                "terminate hook on {} group(s): {}{more}",
                terminate.len(),
                named.join(", ")
            ),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(name: &str, group: &str, transition: &str) -> Found {
        Found {
            name: name.into(),
            at: format!("111111111111/eu-west-1/{group}"),
            transition: transition.into(),
            heartbeat_s: 300,
            global: Duration::from_secs(30_000),
            default_result: "ABANDON".into(),
        }
    }

    #[test]
    fn a_configured_drain_longer_than_a_hooks_global_timeout_is_warned_about() {
        let mut short = found("cloud-unmap", "web", TERMINATING);
        short.global = Duration::from_secs(3000);
        let long = found("cloud-unmap", "api", TERMINATING);
        let hooks = [short, long];
        assert!(too_long(None, &hooks).is_empty());
        assert!(too_long(Some(Duration::from_secs(2940)), &hooks).is_empty());
        let f = too_long(Some(Duration::from_secs(2941)), &hooks);
        assert_eq!(f.len(), 1, "{f:#?}");
        assert_eq!(f[0].level, Level::Warn);
        assert!(f[0].detail.starts_with("111111111111/eu-west-1/web: --lifecycle-drain-seconds 2941 does not fit its global timeout of 3000 s"), "{}", f[0].detail);
    }

    #[test]
    fn each_hook_is_placed_on_its_groups_and_launch_hooks_are_warned_about() {
        let names = vec!["cloud-unmap".to_string(), "web-drain".into()];
        let found = [
            found("cloud-unmap", "web", TERMINATING),
            found("cloud-unmap", "api", TERMINATING),
            found("web-drain", "web", "autoscaling:EC2_INSTANCE_LAUNCHING"),
        ];
        let f = judge(&names, &found);
        assert_eq!(f.len(), 2, "{f:#?}");
        assert_eq!(f[0].level, Level::Ok);
        assert!(f[0].detail.starts_with("terminate hook on 2 group(s): 111111111111/eu-west-1/web (heartbeat 300 s, default ABANDON)"));
        assert_eq!(
            (f[1].level, f[1].subject.as_str()),
            (Level::Warn, "web-drain")
        );
        let none = judge(&["other".to_string()], &found);
        assert_eq!(none[0].level, Level::Note);
    }
}
