//! Exponential backoff with full jitter for loops that call AWS: never a tight loop on a persistent
//! error (AccessDenied, an unreachable endpoint), back to full speed after a success.

use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Backoff {
    base: Duration,
    cap: Duration,
    failures: u32,
}

impl Backoff {
    pub fn new(base: Duration, cap: Duration) -> Backoff {
        Backoff {
            base,
            cap,
            failures: 0,
        }
    }

    /// The pause before the next attempt: uniformly random in [ceiling/2, ceiling], where the
    /// ceiling doubles with each consecutive failure up to `cap`.
    pub fn next_delay(&mut self) -> Duration {
        let ceiling = self
            .base
            .saturating_mul(1u32 << self.failures.min(20))
            .min(self.cap);
        self.failures = self.failures.saturating_add(1);
        let ms = ceiling.as_millis() as u64;
        Duration::from_millis(fastrand::u64(ms / 2..=ms.max(1)))
    }

    pub fn reset(&mut self) {
        self.failures = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_to_the_cap_and_resets() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(5));
        let first = b.next_delay();
        assert!(first >= Duration::from_millis(50) && first <= Duration::from_millis(100));
        for _ in 0..30 {
            assert!(b.next_delay() <= Duration::from_secs(5));
        }
        let late = b.next_delay();
        assert!(late >= Duration::from_millis(2500), "{late:?}");
        b.reset();
        assert!(b.next_delay() <= Duration::from_millis(100));
    }
}
