//! `check`'s probe of the event queue: it exists, belongs to the credentials' account, is a standard
//! queue with a redrive policy and a sane visibility timeout, EventBridge may send to it, and the
//! worker may delete and change visibility (probed without changing anything).

use std::time::Duration;

use super::report::{Finding, Level};
use crate::aws::sqs;
use crate::config::Queue;
use crate::error::Error;

/// What an error says about a permission probe.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    Denied,
    /// AWS answered past authorization (an invalid receipt handle, say): the call is allowed.
    Allowed,
    /// No answer to judge by (network, credentials).
    Unknown,
}

fn verdict(code: Option<&str>) -> Verdict {
    match code {
        Some(c) if c.contains("AccessDenied") || c.contains("Unauthorized") => Verdict::Denied,
        Some(c)
            if [
                "InvalidClientTokenId",
                "UnrecognizedClient",
                "ExpiredToken",
                "Signature",
            ]
            .iter()
            .any(|p| c.contains(p)) =>
        {
            Verdict::Unknown
        }
        Some(_) => Verdict::Allowed,
        None => Verdict::Unknown,
    }
}

/// The queue: it exists, belongs to the credentials' account, is a standard queue with a redrive
/// policy and a sane visibility timeout, and the worker may delete and change visibility.
pub async fn queue(
    client: &aws_sdk_sqs::Client,
    queue: &Queue,
    home: Option<&str>,
) -> Vec<Finding> {
    let subject = queue
        .url
        .rsplit('/')
        .next()
        .unwrap_or(&queue.url)
        .to_string();
    let finding = |level, detail: String| Finding::new("queue", subject.clone(), level, detail);
    let attrs = match sqs::attributes(client, &queue.url).await {
        Ok(attrs) => attrs,
        Err(e)
            if e.code().is_some_and(|c| {
                c.contains("NonExistentQueue") || c.contains("QueueDoesNotExist")
            }) =>
        {
            return vec![finding(
                Level::Fail,
                format!("{} does not exist", queue.url),
            )]
        }
        Err(e) => {
            return vec![finding(
                Level::Fail,
                format!("cannot be read: {}", e.reason()),
            )]
        }
    };
    let count = |n: Option<u64>| n.map_or_else(|| "?".to_string(), |n| n.to_string());
    let mut out = Vec::new();
    let (waiting, in_flight) = (count(attrs.waiting), count(attrs.in_flight));
    out.push(finding(
        Level::Ok,
        format!("exists: {waiting} message(s) waiting, {in_flight} in flight"),
    ));
    if let Some(home) = home.filter(|h| *h != queue.account_id) {
        out.push(finding(Level::Fail, format!(
            "belongs to account {}, not to the credentials' account {home}: the worker would take {home}'s events for a member account's",
            queue.account_id
        )));
    }
    if attrs.fifo {
        out.push(finding(Level::Fail, "a FIFO queue: EventBridge needs a message group per target and lifecycle drains need per-message delays; use a standard queue".into()));
    }
    out.push(redrive(attrs.redrive_policy.as_deref(), &finding));
    out.push(match attrs.visibility.map(|v| v.as_secs()) {
        Some(v) if v < 10 => finding(Level::Warn, format!("visibility timeout {v} s: a message in work may reappear to another replica before the worker extends it; 30 s or more is safe")),
        Some(v) => finding(Level::Ok, format!("visibility timeout {v} s (the worker extends it while it works)")),
        None => finding(Level::Warn, "visibility timeout not readable".into()),
    });
    if let Some(d) = attrs.delay.filter(|d| !d.is_zero()) {
        out.push(finding(
            Level::Warn,
            format!(
                "delivery delay {} s: every event waits that long before the worker sees it",
                d.as_secs()
            ),
        ));
    }
    if !attrs
        .policy
        .as_deref()
        .is_some_and(|p| p.contains("events.amazonaws.com"))
    {
        out.push(finding(Level::Warn, "the queue policy names no events.amazonaws.com: EventBridge rules cannot deliver events to it".into()));
    }
    out.extend(permissions(client, queue, &finding).await);
    out
}

fn redrive(policy: Option<&str>, finding: &impl Fn(Level, String) -> Finding) -> Finding {
    let Some(policy) = policy else {
        return finding(Level::Fail, "no redrive policy: a message that always fails comes back until its retention ends, and no dead-letter alarm ever sees it".into());
    };
    let doc: serde_json::Value = serde_json::from_str(policy).unwrap_or_default();
    let dlq = doc["deadLetterTargetArn"].as_str().unwrap_or("?");
    let dlq = dlq.rsplit(':').next().unwrap_or(dlq);
    let receives = doc["maxReceiveCount"].to_string().replace('"', "");
    finding(
        Level::Ok,
        format!("dead-letter queue {dlq} after {receives} receive(s)"),
    )
}

/// DeleteMessageBatch and ChangeMessageVisibilityBatch (authorized by the DeleteMessage and
/// ChangeMessageVisibility actions) with a receipt handle that cannot exist: AWS authorizes the
/// call first and denies it as a whole, while an allowed call answers the handle as one failed
/// entry, so nothing changes either way. Receiving and sending are not probed: both change the queue.
async fn permissions(
    client: &aws_sdk_sqs::Client,
    queue: &Queue,
    finding: &impl Fn(Level, String) -> Finding,
) -> Vec<Finding> {
    const HANDLE: &str = "cloud-unmap-check-probe-not-a-receipt-handle";
    let delete = sqs::delete(client, &queue.url, &[HANDLE]).await;
    let change = sqs::set_visibility(client, &queue.url, &[HANDLE], Duration::ZERO).await;
    let mut out = Vec::new();
    for (action, answer) in [
        ("DeleteMessage", delete.err()),
        ("ChangeMessageVisibility", change.err()),
    ] {
        out.push(match answer {
            // Past authorization: the handle settled, or (as it cannot exist) failed on its own.
            None => finding(Level::Ok, format!("{action} allowed")),
            Some(e) => judged(action, &e, finding),
        });
    }
    out.push(finding(
        Level::Note,
        "ReceiveMessage and SendMessage not probed (both change the queue)".into(),
    ));
    out
}

/// The finding for a probe call that failed as a whole.
fn judged(action: &str, e: &Error, finding: &impl Fn(Level, String) -> Finding) -> Finding {
    let why = e.reason();
    match verdict(e.code()) {
        Verdict::Allowed => finding(Level::Ok, format!("{action} allowed")),
        Verdict::Denied => finding(Level::Fail, format!("{action} denied: {why}")),
        Verdict::Unknown => finding(Level::Warn, format!("{action} could not be probed: {why}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_answers_are_judged_by_their_code() {
        assert_eq!(verdict(Some("AccessDenied")), Verdict::Denied);
        assert_eq!(verdict(Some("AccessDeniedException")), Verdict::Denied);
        assert_eq!(verdict(Some("ReceiptHandleIsInvalid")), Verdict::Allowed);
        assert_eq!(verdict(Some("InvalidParameterValue")), Verdict::Allowed);
        assert_eq!(verdict(Some("InvalidClientTokenId")), Verdict::Unknown);
        assert_eq!(verdict(None), Verdict::Unknown);
    }

    #[test]
    fn a_redrive_policy_names_its_queue_and_count() {
        let f = |level, detail: String| Finding::new("queue", "q", level, detail);
        let ok = redrive(
            Some(
                r#"{"deadLetterTargetArn":"arn:aws:sqs:eu-west-1:111111111111:q-dlq","maxReceiveCount":"5"}"#,
            ),
            &f,
        );
        assert_eq!(ok.level, Level::Ok);
        assert_eq!(ok.detail, "dead-letter queue q-dlq after 5 receive(s)");
        assert_eq!(redrive(None, &f).level, Level::Fail);
    }
}
