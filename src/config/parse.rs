//! Parsers and validators of single flag values (tags, bounds, names, URLs, ARNs, levels, hosts):
//! pure functions `Config::from_args` composes.

use crate::config::ConfigError;
use crate::model::budget::{Family, Limits, Rate};
use crate::model::domain::{valid_account_id, valid_region};
use crate::model::plan::NotFoundBound;

/// `KEY=VALUE`, as Cloud Map's tags allow (key 1–128 characters, value up to 256).
pub fn parse_tag(value: &str) -> Option<(String, String)> {
    let (k, v) = value.split_once('=')?;
    ((1..=128).contains(&k.chars().count()) && v.chars().count() <= 256)
        .then(|| (k.to_string(), v.to_string()))
}

/// `10%` or `5`.
pub fn parse_not_found_bound(value: &str) -> Option<NotFoundBound> {
    let value = value.trim();
    match value.strip_suffix('%') {
        Some(p) => p
            .trim()
            .parse::<u8>()
            .ok()
            .filter(|p| *p <= 100)
            .map(NotFoundBound::Percent),
        None => value.parse::<usize>().ok().map(NotFoundBound::Count),
    }
}

/// Auto Scaling's LifecycleHookName: 1–255 of `[A-Za-z0-9\-_/]`.
pub fn valid_hook_name(name: &str) -> bool {
    (1..=255).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'/'))
}

/// Parses `http(s)://host/<12-digit account>/<name>` and returns the account id.
pub fn queue_account(url: &str) -> Option<String> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))?;
    let mut parts = rest.split('/');
    let (host, account, name) = (parts.next()?, parts.next()?, parts.next()?);
    let name_ok = !name.is_empty()
        && name.len() <= 80
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.');
    (parts.next().is_none() && !host.is_empty() && valid_account_id(account) && name_ok)
        .then(|| account.to_string())
}

/// An EventBridge bus name, or its ARN (`arn:<partition>:events:<region>:<account>:event-bus/<name>`):
/// returns the region to send to (the ARN's, else `default_region`).
pub fn audit_bus_region(value: &str, default_region: &str) -> Option<String> {
    let valid_name = |n: &str| {
        (1..=256).contains(&n.len())
            && n.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-/".contains(&b))
    };
    if let Some(rest) = value.strip_prefix("arn:") {
        let parts: Vec<&str> = rest.splitn(5, ':').collect();
        let [partition, "events", region, account, resource] = parts[..] else {
            return None;
        };
        let name = resource.strip_prefix("event-bus/")?;
        return (partition.starts_with("aws")
            && valid_region(region)
            && valid_account_id(account)
            && valid_name(name))
        .then(|| region.to_string());
    }
    valid_name(value).then(|| default_region.to_string())
}

/// Maps the seed's level names (Python logging) and Rust's onto a tracing level.
pub fn parse_log_level(value: &str) -> Option<tracing::Level> {
    match value.to_ascii_uppercase().as_str() {
        "TRACE" => Some(tracing::Level::TRACE),
        "DEBUG" => Some(tracing::Level::DEBUG),
        "INFO" => Some(tracing::Level::INFO),
        "WARN" | "WARNING" => Some(tracing::Level::WARN),
        "ERROR" | "CRITICAL" => Some(tracing::Level::ERROR),
        _ => None,
    }
}

pub(super) fn valid_host(value: &str) -> bool {
    value.parse::<std::net::IpAddr>().is_ok()
        || (!value.is_empty()
            && value.len() <= 253
            && value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.'))
}

/// A DynamoDB table name (3 to 255 of A-Z, a-z, 0-9, `_`, `-`, `.`) or a table ARN.
pub fn valid_table(t: &str) -> bool {
    let name = match t.strip_prefix("arn:") {
        Some(rest) => match rest.split_once(":table/") {
            Some((head, name)) if head.split(':').count() == 4 => name,
            _ => return false,
        },
        None => t,
    };
    (3..=255).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// The `--budget-*` flags: each family's rate, or its default when the flag is absent or empty.
pub fn budget_limits(args: &crate::config::cli::BudgetArgs) -> Result<Limits, ConfigError> {
    let given = [
        (Family::CloudMapDiscovery, &args.budget_cloudmap_discovery),
        (Family::CloudMapRead, &args.budget_cloudmap_read),
        (Family::CloudMapWrite, &args.budget_cloudmap_write),
        (Family::Ec2Describe, &args.budget_ec2_describe),
        (Family::Ec2Mutate, &args.budget_ec2_mutate),
        (Family::AutoScaling, &args.budget_autoscaling),
    ];
    let mut limits = Limits::default();
    for (family, value) in given {
        let Some(value) = value.as_deref().filter(|v| !v.trim().is_empty()) else {
            continue;
        };
        let rate = Rate::parse(value).ok_or_else(|| ConfigError::Budget {
            family: family.name(),
            value: value.to_string(),
        })?;
        limits.0.push((family, rate));
    }
    Ok(limits)
}
