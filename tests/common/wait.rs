//! The one bounded polling helper: every wait in the tests ends, with the last thing it saw.

use std::future::Future;
use std::time::Duration;

/// How long event-path tests wait for an outcome.
pub const WAIT: Duration = Duration::from_secs(20);

/// Polls `probe` every 50 ms until it returns `Ok`, and returns that value; panics after `limit`
/// with `what` and the last `Err` (what was seen instead).
pub async fn eventually<T, F, Fut>(limit: Duration, what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match probe().await {
            Ok(v) => return v,
            Err(seen) => assert!(
                tokio::time::Instant::now() < deadline,
                "{what} not reached within {limit:?}; last seen: {seen}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Polls until the service's registrations satisfy `pred`.
pub async fn wait_registered(
    service: &str,
    limit: Duration,
    pred: impl Fn(&[String]) -> bool,
) -> Vec<String> {
    eventually(limit, "registrations", || async {
        let now = super::registered(service).await;
        if pred(&now) {
            Ok(now)
        } else {
            Err(format!("{now:?}"))
        }
    })
    .await
}
