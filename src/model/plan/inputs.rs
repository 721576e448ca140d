//! The plan's inputs: a Cloud Map registration (the attributes it is judged by) and an EC2 instance
//! as DescribeInstances showed it, with the address comparison both sides share.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

use crate::model::domain::InstanceState;

/// The Cloud Map attribute holding the registered IPv4 address (seed rule: without it, skip).
pub const IPV4_ATTRIBUTE: &str = "AWS_INSTANCE_IPV4";

/// The Cloud Map attribute naming the registration's EC2 instance when its id is something else
/// (`web-1`, a host name; common in HTTP namespaces).
pub const EC2_ID_ATTRIBUTE: &str = "AWS_EC2_INSTANCE_ID";

/// One Cloud Map registration. Two are the same registration when what it is judged by (id, EC2
/// id, addresses) is the same; its other attributes ride along.
#[derive(Debug, Clone, Default, Eq)]
pub struct Registration {
    /// Its Cloud Map instance id (what is deregistered).
    pub instance_id: String,
    /// Its `AWS_EC2_INSTANCE_ID` attribute, if any.
    pub ec2_id: Option<String>,
    pub ipv4: Option<String>,
    /// Its `AWS_INSTANCE_IPV6` attribute, if any.
    pub ipv6: Option<String>,
    /// Every attribute, as the listing showed it (the removal's undo record); `None` when not read.
    pub attributes: Option<Arc<BTreeMap<String, String>>>,
}

impl PartialEq for Registration {
    fn eq(&self, other: &Self) -> bool {
        (&self.instance_id, &self.ec2_id, &self.ipv4, &self.ipv6)
            == (&other.instance_id, &other.ec2_id, &other.ipv4, &other.ipv6)
    }
}

impl Registration {
    /// A registration from its id and a lookup of its attributes (the ones cloud-unmap judges by).
    pub fn new(instance_id: &str, attribute: impl Fn(&str) -> Option<String>) -> Registration {
        Registration {
            instance_id: instance_id.to_string(),
            ec2_id: attribute(EC2_ID_ATTRIBUTE),
            ipv4: attribute(IPV4_ATTRIBUTE),
            ipv6: attribute(IPV6_ATTRIBUTE),
            attributes: None,
        }
    }

    /// The EC2 instance it stands for: its `AWS_EC2_INSTANCE_ID` attribute, else its own id.
    pub fn target(&self) -> &str {
        self.ec2_id.as_deref().unwrap_or(&self.instance_id)
    }

    /// Whether it registers an address at all (IPv4, IPv6 or both).
    pub fn has_address(&self) -> bool {
        self.ipv4.is_some() || self.ipv6.is_some()
    }
}

/// The Cloud Map attribute holding the registered IPv6 address.
pub const IPV6_ATTRIBUTE: &str = "AWS_INSTANCE_IPV6";

/// Whether two written addresses are the same address (`2001:db8::1` = `2001:0db8:0:0:0:0:0:1`);
/// text that is no address only equals itself.
pub fn same_address(a: &str, b: &str) -> bool {
    match (a.parse::<IpAddr>(), b.parse::<IpAddr>()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

/// What EC2 says about one instance, in one account and region.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedInstance {
    pub instance_id: String,
    pub state: InstanceState,
    /// Every IPv4 address of the instance: primary and secondary private IPs of every network
    /// interface, public and Elastic IPs.
    pub ipv4: Vec<String>,
    /// Every IPv6 address of its network interfaces.
    pub ipv6: Vec<String>,
    pub spot: bool,
    /// The Auto Scaling group it belongs to (its `aws:autoscaling:groupName` tag).
    pub asg_group: Option<String>,
    /// Where it was seen: `home` or a member account id, and the region.
    pub account: String,
    pub region: String,
    /// When it stopped or terminated, as EC2's StateTransitionReason says (none for a running one,
    /// or when EC2 gives no time).
    pub ended: Option<std::time::SystemTime>,
}
