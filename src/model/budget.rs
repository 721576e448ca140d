//! Request budgets as plain arithmetic: the API families cloud-unmap budgets, their default rates
//! (a documented fraction of AWS's own quotas), and the token bucket each (family, account, region)
//! spends from. Time is passed in, so every rule is a plain `#[test]`; the waiting is the edge's.

use std::time::{Duration, Instant};

/// A family of AWS calls that draw on one AWS quota, budgeted together.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Family {
    /// DiscoverInstances and DiscoverInstancesRevision: the data-plane reads every production
    /// client of the account and region also spends (AWS: a bucket of 2,000 refilled at 1,000/s).
    CloudMapDiscovery,
    /// Cloud Map's other reads: ListServices, ListInstances, GetInstance, GetService, GetNamespace,
    /// GetOperation, ListTagsForResource.
    CloudMapRead,
    /// RegisterInstance and DeregisterInstance.
    CloudMapWrite,
    /// EC2's non-mutating calls: DescribeInstances, DescribeInstanceStatus, DescribeVolumes… (AWS: a
    /// bucket of 100 refilled at 20/s per account and region).
    Ec2Describe,
    /// EC2's mutating calls of `decommission`: StopInstances, TerminateInstances, CreateSnapshots,
    /// ModifyInstanceAttribute.
    Ec2Mutate,
    /// Every Auto Scaling call (lifecycle states, hooks, heartbeats, completions).
    AutoScaling,
}

impl Family {
    pub const ALL: [Family; 6] = [
        Family::CloudMapDiscovery,
        Family::CloudMapRead,
        Family::CloudMapWrite,
        Family::Ec2Describe,
        Family::Ec2Mutate,
        Family::AutoScaling,
    ];

    /// The name in flags (`--budget-<name>`) and in the metric's `family` label.
    pub fn name(self) -> &'static str {
        match self {
            Family::CloudMapDiscovery => "cloudmap-discovery",
            Family::CloudMapRead => "cloudmap-read",
            Family::CloudMapWrite => "cloudmap-write",
            Family::Ec2Describe => "ec2-describe",
            Family::Ec2Mutate => "ec2-mutate",
            Family::AutoScaling => "autoscaling",
        }
    }

    /// Requests per second by default, per account and region (see docs/concepts/budgets.md for
    /// the quota each is measured against).
    pub fn default_rate(self) -> f64 {
        match self {
            // 10 % of DiscoverInstances' 1,000/s refill (and of its 2,000 burst, below).
            Family::CloudMapDiscovery => 100.0,
            // AWS publishes no rate for these: EC2's non-mutating refill, a rate AWS sizes for
            // a whole account's describes; a cycle lists each service once (100 instances a page).
            Family::CloudMapRead => 20.0,
            Family::CloudMapWrite => 10.0,
            // A quarter of the non-mutating bucket's 20/s refill.
            Family::Ec2Describe => 5.0,
            // AWS keeps a bucket per mutating API too (none quoted here); this one budget covers
            // the four calls a retirement makes per instance (and their DryRun checks).
            Family::Ec2Mutate => 5.0,
            Family::AutoScaling => 5.0,
        }
    }

    /// How many seconds of its rate a bucket holds (its burst): as many as AWS's own bucket holds of
    /// its refill where AWS documents both, so the burst is the same fraction of AWS's bucket as the
    /// rate is of its refill (EC2's non-mutating bucket: 100 tokens at 20/s, 5 s; DiscoverInstances:
    /// 2,000 at 1,000/s, 2 s); 2 s where AWS documents none.
    pub fn burst_seconds(self) -> f64 {
        match self {
            Family::Ec2Describe => 5.0,
            _ => 2.0,
        }
    }

    /// The bucket size of this family at `rate`: its burst seconds' worth, at least one request.
    pub fn burst(self, rate: Rate) -> f64 {
        (self.burst_seconds() * rate.per_second).max(1.0)
    }
}

/// How fast one family may call AWS: `rate` requests a second (the burst is the family's,
/// `Family::burst`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    pub per_second: f64,
}

impl Rate {
    /// A valid rate: a finite number above zero, at most AWS's largest documented refill (3,000/s).
    pub fn parse(s: &str) -> Option<Rate> {
        let v: f64 = s.trim().parse().ok()?;
        (v.is_finite() && v > 0.0 && v <= 3_000.0).then_some(Rate { per_second: v })
    }
}

/// The rate of each family (a family left out keeps its default).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Limits(pub Vec<(Family, Rate)>);

impl Limits {
    pub fn rate(&self, family: Family) -> Rate {
        self.0
            .iter()
            .rev()
            .find(|(f, _)| *f == family)
            .map(|(_, r)| *r)
            .unwrap_or(Rate {
                per_second: family.default_rate(),
            })
    }
}

/// A token bucket that lends ahead: every request takes its token at once, and one that finds the
/// bucket empty is told how long to wait for its turn (its token arrives then). Waiters are thus
/// served in the order they asked, and no request is ever refused.
#[derive(Debug, Clone)]
pub struct Bucket {
    rate: Rate,
    /// The most tokens it holds.
    burst: f64,
    /// Tokens now; negative while requests wait for tokens not yet refilled.
    tokens: f64,
    at: Instant,
}

impl Bucket {
    /// A full bucket of `family` at `now`.
    pub fn new(family: Family, rate: Rate, now: Instant) -> Bucket {
        let burst = family.burst(rate);
        Bucket {
            rate,
            burst,
            tokens: burst,
            at: now,
        }
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate.per_second).min(self.burst);
        self.at = self.at.max(now);
    }

    /// Takes one token at `now`; returns how long the caller must wait before sending.
    pub fn take(&mut self, now: Instant) -> Duration {
        self.refill(now);
        self.tokens -= 1.0;
        if self.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-self.tokens / self.rate.per_second)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(t0: Instant, ms: u64) -> Instant {
        t0 + Duration::from_millis(ms)
    }

    #[test]
    fn a_full_bucket_serves_its_burst_at_once_then_the_rate() {
        let t0 = Instant::now();
        let mut b = Bucket::new(Family::AutoScaling, Rate { per_second: 5.0 }, t0);
        for _ in 0..10 {
            assert_eq!(b.take(t0), Duration::ZERO);
        }
        // The 11th waits one refill (200 ms), the 12th two.
        assert_eq!(b.take(t0), Duration::from_millis(200));
        assert_eq!(b.take(t0), Duration::from_millis(400));
    }

    #[test]
    fn waiters_are_served_in_order_and_never_above_the_rate() {
        let t0 = Instant::now();
        let rate = Rate { per_second: 20.0 };
        let mut b = Bucket::new(Family::CloudMapRead, rate, t0);
        // 1,000 requests asked at once: each is sent at its wait; count how many are sent in any
        // second after the burst.
        let sends: Vec<Duration> = (0..1000).map(|_| b.take(t0)).collect();
        assert!(sends.windows(2).all(|w| w[0] <= w[1]));
        for second in 1..40u64 {
            let from = Duration::from_secs(second);
            let to = from + Duration::from_secs(1);
            let n = sends.iter().filter(|s| **s >= from && **s < to).count();
            assert!(n <= 20, "{n} sent in second {second}");
        }
        // Everything is served: the last at (1,000 - 40) / 20 = 48 s.
        assert_eq!(sends.last().unwrap().as_secs(), 48);
    }

    #[test]
    fn an_idle_bucket_refills_only_to_its_burst() {
        let t0 = Instant::now();
        let mut b = Bucket::new(Family::CloudMapWrite, Rate { per_second: 1.0 }, t0);
        assert_eq!(b.take(t0), Duration::ZERO);
        assert_eq!(b.take(t0), Duration::ZERO);
        assert!(b.take(t0) > Duration::ZERO);
        // An hour later: two tokens, not 3,600.
        let later = at(t0, 3_600_000);
        assert_eq!(b.take(later), Duration::ZERO);
        assert_eq!(b.take(later), Duration::ZERO);
        assert_eq!(b.take(later), Duration::from_secs(1));
    }

    #[test]
    fn a_clock_read_out_of_order_never_adds_tokens() {
        let t0 = Instant::now();
        let mut b = Bucket::new(
            Family::CloudMapWrite,
            Rate { per_second: 1.0 },
            at(t0, 1000),
        );
        b.take(at(t0, 1000));
        b.take(at(t0, 1000));
        // A caller that read the clock earlier still waits its turn.
        assert_eq!(b.take(t0), Duration::from_secs(1));
    }

    #[test]
    fn rates_parse_within_bounds() {
        assert_eq!(Rate::parse("2.5"), Some(Rate { per_second: 2.5 }));
        assert_eq!(Rate::parse(" 100 "), Some(Rate { per_second: 100.0 }));
        for bad in ["0", "-1", "NaN", "inf", "3001", "", "fast"] {
            assert_eq!(Rate::parse(bad), None, "{bad}");
        }
        assert_eq!(Family::AutoScaling.burst(Rate { per_second: 0.2 }), 1.0);
    }

    #[test]
    fn limits_fall_back_to_each_familys_default() {
        let l = Limits(vec![(Family::Ec2Describe, Rate { per_second: 2.0 })]);
        assert_eq!(l.rate(Family::Ec2Describe).per_second, 2.0);
        assert_eq!(
            l.rate(Family::CloudMapDiscovery).per_second,
            Family::CloudMapDiscovery.default_rate()
        );
    }

    #[test]
    fn defaults_stay_a_fraction_of_the_documented_quotas() {
        // DiscoverInstances: 1,000/s refill, 2,000 burst (per account and region).
        let d = Rate {
            per_second: Family::CloudMapDiscovery.default_rate(),
        };
        assert!(d.per_second <= 100.0 && Family::CloudMapDiscovery.burst(d) <= 200.0);
        // EC2 non-mutating: 20/s refill, 100 burst.
        let e = Rate {
            per_second: Family::Ec2Describe.default_rate(),
        };
        assert!(e.per_second <= 5.0 && Family::Ec2Describe.burst(e) <= 25.0);
        // The same fraction of AWS's bucket as of its refill.
        for (f, bucket, refill) in [
            (Family::CloudMapDiscovery, 2_000.0, 1_000.0),
            (Family::Ec2Describe, 100.0, 20.0),
        ] {
            let r = Rate {
                per_second: f.default_rate(),
            };
            assert_eq!(f.burst(r) / bucket, r.per_second / refill, "{}", f.name());
        }
        let names: std::collections::BTreeSet<_> = Family::ALL.iter().map(|f| f.name()).collect();
        assert_eq!(names.len(), Family::ALL.len());
    }
}
