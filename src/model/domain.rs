//! The domain's vocabulary, in one place: EC2 instance states, the shapes of EC2 instance ids, AWS
//! regions and IAM role ARNs, and the identity of an account cloud-unmap looks in. Pure; the config,
//! the event parser, the plan and decommission all read it from here.

use std::fmt;
use std::time::SystemTime;

use aws_smithy_types::{date_time::Format as DateTimeFormat, DateTime};

/// An IAM role in a member account whose EC2 instances are also looked up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberRole {
    pub arn: String,
    pub account_id: String,
}

/// What kind of selection a missing one is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SelectionKind {
    Service,
    Namespace,
}

impl SelectionKind {
    /// The metric label value.
    pub fn as_str(self) -> &'static str {
        match self {
            SelectionKind::Service => "service",
            SelectionKind::Namespace => "namespace",
        }
    }
}

impl std::fmt::Display for SelectionKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An Auto Scaling lifecycle action waiting for cloud-unmap to complete it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LifecycleAction {
    pub instance_id: String,
    pub token: String,
    pub hook: String,
    pub group: String,
}

/// EC2 instance state, as DescribeInstances and EventBridge name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InstanceState {
    Pending,
    Running,
    Stopping,
    Stopped,
    ShuttingDown,
    Terminated,
}

impl InstanceState {
    pub fn parse(name: &str) -> Option<InstanceState> {
        Some(match name {
            "pending" => InstanceState::Pending,
            "running" => InstanceState::Running,
            "stopping" => InstanceState::Stopping,
            "stopped" => InstanceState::Stopped,
            "shutting-down" => InstanceState::ShuttingDown,
            "terminated" => InstanceState::Terminated,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            InstanceState::Pending => "pending",
            InstanceState::Running => "running",
            InstanceState::Stopping => "stopping",
            InstanceState::Stopped => "stopped",
            InstanceState::ShuttingDown => "shutting-down",
            InstanceState::Terminated => "terminated",
        }
    }
}

impl fmt::Display for InstanceState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether `id` has the form of an EC2 instance id: `i-` and 8 or 17 lowercase hex digits.
pub fn is_ec2_instance_id(id: &str) -> bool {
    id.strip_prefix("i-").is_some_and(|hex| {
        (hex.len() == 8 || hex.len() == 17)
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

/// Whether `value` is shaped like an AWS region name: `us-east-1`, `us-gov-west-1`, `ap-southeast-3`.
pub fn valid_region(value: &str) -> bool {
    let parts: Vec<&str> = value.split('-').collect();
    parts.len() >= 3
        && parts[0].len() == 2
        && parts[..parts.len() - 1]
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase()))
        && parts[parts.len() - 1]
            .parse::<u8>()
            .is_ok_and(|n| n > 0 && !parts[parts.len() - 1].starts_with('0'))
}

/// Whether `value` is a 12-digit AWS account id.
pub fn valid_account_id(value: &str) -> bool {
    value.len() == 12 && value.bytes().all(|b| b.is_ascii_digit())
}

/// `srv-` / `ns-` followed by 1 to 60 alphanumerics (Cloud Map ids are at most 64 characters).
pub fn valid_prefixed_id(value: &str, prefix: &str) -> bool {
    value.strip_prefix(prefix).is_some_and(|rest| {
        (1..=60).contains(&rest.len()) && rest.bytes().all(|b| b.is_ascii_alphanumeric())
    })
}

/// A Cloud Map service or namespace named by its ARN
/// (`arn:<partition>:servicediscovery:<region>:<account>:service/srv-…`), as resources of namespaces
/// shared through AWS RAM must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CloudMapArn<'a> {
    pub region: &'a str,
    /// The owner of the namespace (its `ResourceOwner`).
    pub account: &'a str,
    pub id: &'a str,
}

/// An ARN's six colon-separated parts (the last one keeps its own colons).
fn arn_parts(arn: &str) -> Option<[&str; 6]> {
    let mut parts = arn.splitn(6, ':');
    Some([
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
    ])
}

/// Parses a Cloud Map ARN of `kind` (`service`, `namespace`) whose id starts with `prefix`.
pub fn cloudmap_arn<'a>(value: &'a str, kind: &str, prefix: &str) -> Option<CloudMapArn<'a>> {
    let [arn_kw, partition, service, region, account, resource] = arn_parts(value)?;
    let id = resource.strip_prefix(kind)?.strip_prefix('/')?;
    (arn_kw == "arn"
        && partition.starts_with("aws")
        && service == "servicediscovery"
        && valid_region(region)
        && valid_account_id(account)
        && valid_prefixed_id(id, prefix))
    .then_some(CloudMapArn {
        region,
        account,
        id,
    })
}

/// The account owning a selected service's namespace when the service is named by its ARN (a
/// shared namespace's operations are read with that `OwnerAccount`); `None` for a bare id.
pub fn cloudmap_owner(service: &str) -> Option<&str> {
    cloudmap_arn(service, "service", "srv-").map(|a| a.account)
}

/// Parses `arn:<partition>:iam::<account>:role/<path/name>` and returns the account id.
pub fn role_account(arn: &str) -> Option<String> {
    let [arn_kw, partition, service, region, account, resource] = arn_parts(arn)?;
    let name = resource.strip_prefix("role/")?;
    let name_ok = !name.is_empty()
        && name.len() <= 512
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-/".contains(&b));
    (arn_kw == "arn"
        && partition.starts_with("aws")
        && service == "iam"
        && region.is_empty()
        && valid_account_id(account)
        && name_ok)
        .then(|| account.to_string())
}

/// An account cloud-unmap looks in: the one its own credentials act in, or a member account reached
/// through an assumed role.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Account {
    Home,
    /// A 12-digit member account id.
    Member(String),
}

impl Account {
    /// The account an event names, seen from a home account `home_id`: its own id means `Home`.
    pub fn from_event(account_id: &str, home_id: &str) -> Account {
        if account_id == home_id {
            Account::Home
        } else {
            Account::Member(account_id.to_string())
        }
    }

    /// `home`, or the member account id: how logs and reports name it.
    pub fn as_str(&self) -> &str {
        match self {
            Account::Home => "home",
            Account::Member(id) => id,
        }
    }
}

impl fmt::Display for Account {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for Account {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// A time as RFC 3339 with an offset (`2026-11-24T02:00:00Z`).
pub fn rfc3339(t: SystemTime) -> String {
    DateTime::from(t)
        .fmt(DateTimeFormat::DateTimeWithOffset)
        .unwrap_or_default()
}

/// Reads an RFC 3339 time (`Z` or an offset).
pub fn parse_rfc3339(s: &str) -> Option<SystemTime> {
    DateTime::from_str(s, DateTimeFormat::DateTimeWithOffset)
        .or_else(|_| DateTime::from_str(s, DateTimeFormat::DateTime))
        .ok()
        .and_then(|t| SystemTime::try_from(t).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ec2_id_shape() {
        assert!(is_ec2_instance_id("i-0123456789abcdef0"));
        assert!(is_ec2_instance_id("i-12345678"));
        assert!(!is_ec2_instance_id("i-0123456789ABCDEF0"));
        assert!(!is_ec2_instance_id("i-123"));
        assert!(!is_ec2_instance_id("web-1"));
    }

    #[test]
    fn regions_and_arns() {
        for ok in [
            "us-east-1",
            "us-gov-west-1",
            "ap-southeast-3",
            "cn-north-1",
            "eu-central-2",
        ] {
            assert!(valid_region(ok), "{ok}");
        }
        for bad in [
            "",
            "us-east",
            "US-EAST-1",
            "us-east-0",
            "useast1",
            "us--1",
            "u-east-1",
        ] {
            assert!(!valid_region(bad), "{bad}");
        }
        assert_eq!(
            role_account("arn:aws:iam::222222222222:role/path/reader").as_deref(),
            Some("222222222222")
        );
        assert_eq!(role_account("arn:aws:iam::222222222222:user/x"), None);
        assert_eq!(role_account("arn:aws:sts::222222222222:role/x"), None);
    }

    #[test]
    fn states_round_trip() {
        for s in [
            InstanceState::Pending,
            InstanceState::Running,
            InstanceState::Stopping,
            InstanceState::Stopped,
            InstanceState::ShuttingDown,
            InstanceState::Terminated,
        ] {
            assert_eq!(InstanceState::parse(s.as_str()), Some(s));
        }
        assert_eq!(InstanceState::parse("rebooting"), None);
    }

    #[test]
    fn accounts_are_named_from_the_home_account() {
        assert_eq!(
            Account::from_event("111111111111", "111111111111"),
            Account::Home
        );
        let member = Account::from_event("222222222222", "111111111111");
        assert_eq!(member, Account::Member("222222222222".into()));
        assert_eq!(member.to_string(), "222222222222");
        assert_eq!(Account::Home.to_string(), "home");
    }
}
