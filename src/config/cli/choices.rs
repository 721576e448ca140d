//! Flag values that are a choice among named actions, beyond the ones `cli` defines beside its
//! flags.

use clap::ValueEnum;

/// What a scheduled EC2 reboot or maintenance (`instance-reboot`, `system-reboot`,
/// `system-maintenance`: the instance comes back) does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum OnScheduledReboot {
    /// Out before the event, registered again once EC2 reports it completed or canceled.
    #[default]
    OutAndBack,
    /// Stays registered.
    Ignore,
}
