//! Scheduled EC2 events as data: which event codes take an instance away, one pending event of one
//! instance, when it leaves its services, and which descriptions mean the event is over.

use std::time::{Duration, SystemTime};

use crate::model::domain::Account;

/// The scheduled event codes that take an instance away (DescribeInstanceStatus `event.code`).
pub const CODES: [&str; 5] = [
    "instance-retirement",
    "instance-stop",
    "instance-reboot",
    "system-reboot",
    "system-maintenance",
];
/// One scheduled event of one instance.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Pending {
    pub instance_id: String,
    pub code: String,
    pub not_before: SystemTime,
    pub account: Account,
    pub region: String,
}

impl Pending {
    /// When the instance leaves its services.
    pub fn due(&self, lead: Duration) -> SystemTime {
        self.not_before
            .checked_sub(lead)
            .unwrap_or(SystemTime::UNIX_EPOCH)
    }
}

/// Whether DescribeInstanceStatus's description marks an event as no longer pending.
pub fn cancelled(description: &str) -> bool {
    description.starts_with("[Canceled]") || description.starts_with("[Completed]")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_is_due_its_lead_before_its_start_and_cancelled_ones_are_not_pending() {
        let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let p = Pending {
            instance_id: "i-0123456789abcdef0".into(),
            code: "instance-retirement".into(),
            not_before: start,
            account: Account::Home,
            region: "eu-west-1".into(),
        };
        assert_eq!(
            p.due(Duration::from_secs(300)),
            start - Duration::from_secs(300)
        );
        assert!(p.due(Duration::from_secs(2_000_000)) <= SystemTime::UNIX_EPOCH);
        assert!(cancelled(
            "[Canceled] The instance is running on degraded hardware"
        ));
        assert!(cancelled("[Completed] Scheduled reboot"));
        assert!(!cancelled("The instance is running on degraded hardware"));
    }
}
