//! `check`'s probe of the event queue: it exists, belongs to the credentials' account, is a standard
//! queue with a redrive policy and a sane visibility timeout, EventBridge may send to it, and the
//! worker may delete and change visibility (probed without changing anything).

use aws_sdk_ec2::error::ProvideErrorMetadata;
use aws_sdk_sqs::types::QueueAttributeName;

use super::probes::explain;
use super::report::{Finding, Level};
use crate::config::Queue;

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
pub async fn queue(sqs: &aws_sdk_sqs::Client, queue: &Queue, home: Option<&str>) -> Vec<Finding> {
    let subject = queue
        .url
        .rsplit('/')
        .next()
        .unwrap_or(&queue.url)
        .to_string();
    let finding = |level, detail: String| Finding::new("queue", subject.clone(), level, detail);
    let attrs = match sqs
        .get_queue_attributes()
        .queue_url(&queue.url)
        .attribute_names(QueueAttributeName::All)
        .send()
        .await
    {
        Ok(out) => out.attributes().cloned().unwrap_or_default(),
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
                format!("cannot be read: {}", explain(&e)),
            )]
        }
    };
    let get = |name: QueueAttributeName| attrs.get(&name).map(String::as_str);
    let mut out = Vec::new();
    let waiting = get(QueueAttributeName::ApproximateNumberOfMessages).unwrap_or("?");
    let in_flight = get(QueueAttributeName::ApproximateNumberOfMessagesNotVisible).unwrap_or("?");
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
    if get(QueueAttributeName::FifoQueue) == Some("true") {
        out.push(finding(Level::Fail, "a FIFO queue: EventBridge needs a message group per target and lifecycle drains need per-message delays; use a standard queue".into()));
    }
    out.push(redrive(get(QueueAttributeName::RedrivePolicy), &finding));
    let visibility: Option<u64> =
        get(QueueAttributeName::VisibilityTimeout).and_then(|v| v.parse().ok());
    out.push(match visibility {
        Some(v) if v < 10 => finding(Level::Warn, format!("visibility timeout {v} s: a message in work may reappear to another replica before the worker extends it; 30 s or more is safe")),
        Some(v) => finding(Level::Ok, format!("visibility timeout {v} s (the worker extends it while it works)")),
        None => finding(Level::Warn, "visibility timeout not readable".into()),
    });
    if let Some(d) = get(QueueAttributeName::DelaySeconds).filter(|d| *d != "0") {
        out.push(finding(
            Level::Warn,
            format!("delivery delay {d} s: every event waits that long before the worker sees it"),
        ));
    }
    if !get(QueueAttributeName::Policy).is_some_and(|p| p.contains("events.amazonaws.com")) {
        out.push(finding(Level::Warn, "the queue policy names no events.amazonaws.com: EventBridge rules cannot deliver events to it".into()));
    }
    out.extend(permissions(sqs, queue, &finding).await);
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

/// DeleteMessage and ChangeMessageVisibility with a receipt handle that cannot exist: AWS answers
/// "invalid handle" only past authorization, so nothing changes either way. Receiving and sending
/// are not probed: both change the queue.
async fn permissions(
    sqs: &aws_sdk_sqs::Client,
    queue: &Queue,
    finding: &impl Fn(Level, String) -> Finding,
) -> Vec<Finding> {
    const HANDLE: &str = "cloud-unmap-check-probe-not-a-receipt-handle";
    let delete = sqs
        .delete_message()
        .queue_url(&queue.url)
        .receipt_handle(HANDLE)
        .send()
        .await
        .err()
        .map(|e| (e.code().map(str::to_string), explain(&e)));
    let change = sqs
        .change_message_visibility()
        .queue_url(&queue.url)
        .receipt_handle(HANDLE)
        .visibility_timeout(0)
        .send()
        .await
        .err()
        .map(|e| (e.code().map(str::to_string), explain(&e)));
    let mut out = Vec::new();
    for (action, answer) in [
        ("DeleteMessage", delete),
        ("ChangeMessageVisibility", change),
    ] {
        out.push(match answer {
            None => finding(Level::Ok, format!("{action} allowed")),
            Some((code, why)) => match verdict(code.as_deref()) {
                Verdict::Allowed => finding(Level::Ok, format!("{action} allowed")),
                Verdict::Denied => finding(Level::Fail, format!("{action} denied: {why}")),
                Verdict::Unknown => {
                    finding(Level::Warn, format!("{action} could not be probed: {why}"))
                }
            },
        });
    }
    out.push(finding(
        Level::Note,
        "ReceiveMessage and SendMessage not probed (both change the queue)".into(),
    ));
    out
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
