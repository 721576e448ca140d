//! A member account's circuit breaker: after its role is refused (credentials that cannot be
//! assumed, AccessDenied), the account's targets are not asked for a while — no AssumeRole, no EC2
//! call — and count as not answering. The pause starts at `FIRST_REST` and doubles up to a bound
//! (the reconcile period); an answer closes the breaker. The SDK's credential cache does not cache
//! failures, so without it every lookup into an unreachable account would call STS again.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::error::{Error, ErrorClass};

/// The first pause after a refusal.
pub const FIRST_REST: Duration = Duration::from_secs(60);

#[derive(Debug)]
struct Open {
    until: Instant,
    rest: Duration,
    class: ErrorClass,
    reason: String,
}

/// One account's breaker, shared by its targets in every region.
#[derive(Debug)]
pub struct Breaker {
    account: String,
    max: Duration,
    open: Mutex<Option<Open>>,
}

impl Breaker {
    /// A closed breaker; its pauses grow up to `max` (at least `FIRST_REST`).
    pub fn new(account: &str, max: Duration) -> Breaker {
        Breaker {
            account: account.to_string(),
            max: max.max(FIRST_REST),
            open: Mutex::new(None),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Open>> {
        self.open.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `Err` while the breaker is open (no call is to be made), naming the refusal.
    pub fn check(&self, now: Instant) -> Result<(), Error> {
        match &*self.lock() {
            Some(o) if now < o.until => Err(Error::Resting {
                account: self.account.clone(),
                class: o.class,
                reason: o.reason.clone(),
                again_s: o.until.saturating_duration_since(now).as_secs(),
            }),
            _ => Ok(()),
        }
    }

    /// Records a call's outcome: a refusal opens the breaker (a longer pause each time in a row),
    /// an answer closes it; other failures (throttling, network) change nothing.
    pub fn record<T>(&self, result: &Result<T, Error>, now: Instant) {
        let mut open = self.lock();
        match result {
            Ok(_) => *open = None,
            Err(e @ Error::Aws { .. })
                if matches!(e.class(), ErrorClass::Credentials | ErrorClass::Permission) =>
            {
                let rest = open
                    .as_ref()
                    .map_or(FIRST_REST, |o| (o.rest * 2).min(self.max));
                *open = Some(Open {
                    until: now + rest,
                    rest,
                    class: e.class(),
                    reason: e.reason(),
                });
            }
            Err(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused() -> Result<(), Error> {
        Err(Error::Aws {
            operation: crate::error::Operation::DescribeInstances,
            class: ErrorClass::Credentials,
            code: None,
            reason: "AssumeRole refused".into(),
            more: Box::default(),
            source: "refused".into(),
        })
    }

    #[test]
    fn a_refusal_rests_the_account_doubling_up_to_the_bound_and_an_answer_closes_it() {
        let b = Breaker::new("222222222222", Duration::from_secs(150));
        let t0 = Instant::now();
        assert!(b.check(t0).is_ok());
        b.record(&refused(), t0);
        assert!(b.check(t0 + Duration::from_secs(59)).is_err());
        let t1 = t0 + Duration::from_secs(60);
        assert!(b.check(t1).is_ok());
        b.record(&refused(), t1);
        assert!(b.check(t1 + Duration::from_secs(119)).is_err());
        let t2 = t1 + Duration::from_secs(120);
        b.record(&refused(), t2);
        assert!(b.check(t2 + Duration::from_secs(149)).is_err());
        assert!(b.check(t2 + Duration::from_secs(150)).is_ok());
        b.record(&Ok(()), t2 + Duration::from_secs(150));
        b.record(&refused(), t2 + Duration::from_secs(150));
        assert!(b.check(t2 + Duration::from_secs(210)).is_ok_and(|()| true));
    }
}
