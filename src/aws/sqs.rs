//! SQS: the event queue's long poll, its attributes, and one settle path — deleting messages and
//! changing their visibility in batches of ten, each entry's failure reported on its own — used
//! by the event worker, the shared reconcile and `check` alike; and SendMessage for drain records.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_sdk_sqs::types::{
    ChangeMessageVisibilityBatchRequestEntry, DeleteMessageBatchRequestEntry,
    MessageSystemAttributeName, QueueAttributeName,
};
use aws_sdk_sqs::Client;

use crate::error::{Error, Operation};

/// SQS's longest long poll, and its largest batch (also of the batch settle calls).
pub const WAIT_SECONDS: i32 = 20;
pub const BATCH_SIZE: usize = 10;

/// One received message.
#[derive(Debug, Clone)]
pub struct Received {
    pub message_id: String,
    pub receipt: String,
    pub body: String,
    pub receive_count: u32,
    pub received_at: Instant,
    /// SQS's SentTimestamp.
    pub sent_at: Option<SystemTime>,
}

/// What a queue says of itself.
#[derive(Debug, Clone, Default)]
pub struct Attributes {
    pub visibility: Option<Duration>,
    /// The redrive policy's JSON, when the queue has one.
    pub redrive_policy: Option<String>,
    pub arn: Option<String>,
    pub fifo: bool,
    /// The access policy's JSON, when the queue has one.
    pub policy: Option<String>,
    /// The delivery delay (DelaySeconds).
    pub delay: Option<Duration>,
    /// ApproximateNumberOfMessages and ApproximateNumberOfMessagesNotVisible.
    pub waiting: Option<u64>,
    pub in_flight: Option<u64>,
}

/// One entry a batch call could not settle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryFailure {
    /// The entry's receipt handle.
    pub receipt: String,
    pub code: String,
    pub message: String,
}

/// A batch settle: how many entries were settled, which were not (each with AWS's reason).
#[derive(Debug, Default)]
pub struct Settled {
    pub done: usize,
    pub failed: Vec<EntryFailure>,
}

/// One long poll of up to ten messages. `attempts` bounds the SDK's retries (a caller with its own
/// backoff surfaces an outage sooner with fewer).
pub async fn receive(client: &Client, url: &str, attempts: u32) -> Result<Vec<Received>, Error> {
    let out = client
        .receive_message()
        .queue_url(url)
        .max_number_of_messages(BATCH_SIZE as i32)
        .wait_time_seconds(WAIT_SECONDS)
        .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
        .message_system_attribute_names(MessageSystemAttributeName::SentTimestamp)
        .customize()
        .config_override(aws_sdk_sqs::config::Builder::default().retry_config(
            aws_sdk_sqs::config::retry::RetryConfig::standard().with_max_attempts(attempts),
        ))
        .send()
        .await
        .map_err(|e| Error::aws(Operation::ReceiveMessage, e))?;
    let now = Instant::now();
    Ok(out
        .messages()
        .iter()
        .filter_map(|m| {
            let attribute = |name| m.attributes().and_then(|a| a.get(&name));
            Some(Received {
                message_id: m.message_id().unwrap_or_default().to_string(),
                receipt: m.receipt_handle()?.to_string(),
                body: m.body().unwrap_or_default().to_string(),
                receive_count: attribute(MessageSystemAttributeName::ApproximateReceiveCount)
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(1),
                received_at: now,
                sent_at: attribute(MessageSystemAttributeName::SentTimestamp)
                    .and_then(|v| v.parse::<u64>().ok())
                    .map(|ms| UNIX_EPOCH + Duration::from_millis(ms)),
            })
        })
        .collect())
}

/// The queue's visibility timeout, redrive policy, ARN, type, access policy, delivery delay and
/// message counts (GetQueueAttributes).
pub async fn attributes(client: &Client, url: &str) -> Result<Attributes, Error> {
    let out = client
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::All)
        .send()
        .await
        .map_err(|e| Error::aws(Operation::GetQueueAttributes, e))?;
    let attrs = out.attributes().cloned().unwrap_or_default();
    let number = |name: QueueAttributeName| attrs.get(&name).and_then(|v| v.parse::<u64>().ok());
    Ok(Attributes {
        visibility: attrs
            .get(&QueueAttributeName::VisibilityTimeout)
            .and_then(|v| v.parse::<u64>().ok())
            .map(Duration::from_secs),
        redrive_policy: attrs.get(&QueueAttributeName::RedrivePolicy).cloned(),
        arn: attrs.get(&QueueAttributeName::QueueArn).cloned(),
        fifo: attrs
            .get(&QueueAttributeName::FifoQueue)
            .is_some_and(|v| v == "true"),
        policy: attrs.get(&QueueAttributeName::Policy).cloned(),
        delay: number(QueueAttributeName::DelaySeconds).map(Duration::from_secs),
        waiting: number(QueueAttributeName::ApproximateNumberOfMessages),
        in_flight: number(QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
    })
}

/// Deletes messages by receipt handle, ten a call. A call that fails as a whole fails the rest.
pub async fn delete(client: &Client, url: &str, receipts: &[&str]) -> Result<Settled, Error> {
    let mut settled = Settled::default();
    for chunk in receipts.chunks(BATCH_SIZE) {
        let entries: Vec<DeleteMessageBatchRequestEntry> = chunk
            .iter()
            .enumerate()
            .map(|(i, r)| {
                DeleteMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(*r)
                    .build()
                    .expect("id and receipt handle are set")
            })
            .collect();
        let out = client
            .delete_message_batch()
            .queue_url(url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| Error::aws(Operation::DeleteMessageBatch, e))?;
        let failed = failures(
            chunk,
            out.failed().iter().map(|f| (f.id(), f.code(), f.message())),
        );
        settled.done += chunk.len() - failed.len();
        settled.failed.extend(failed);
    }
    Ok(settled)
}

/// Sets messages' visibility timeout (zero: visible again at once), ten a call.
pub async fn set_visibility(
    client: &Client,
    url: &str,
    receipts: &[&str],
    visibility: Duration,
) -> Result<Settled, Error> {
    let mut settled = Settled::default();
    for chunk in receipts.chunks(BATCH_SIZE) {
        let entries: Vec<ChangeMessageVisibilityBatchRequestEntry> = chunk
            .iter()
            .enumerate()
            .map(|(i, r)| {
                ChangeMessageVisibilityBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(*r)
                    .visibility_timeout(visibility.as_secs().min(43_200) as i32)
                    .build()
                    .expect("id and receipt handle are set")
            })
            .collect();
        let out = client
            .change_message_visibility_batch()
            .queue_url(url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| Error::aws(Operation::ChangeMessageVisibilityBatch, e))?;
        let failed = failures(
            chunk,
            out.failed().iter().map(|f| (f.id(), f.code(), f.message())),
        );
        settled.done += chunk.len() - failed.len();
        settled.failed.extend(failed);
    }
    Ok(settled)
}

/// The failed entries of one batch call, by their ids (indexes into `chunk`).
fn failures<'a>(
    chunk: &[&str],
    failed: impl Iterator<Item = (&'a str, &'a str, Option<&'a str>)>,
) -> Vec<EntryFailure> {
    failed
        .filter_map(|(id, code, message)| {
            let receipt = chunk.get(id.parse::<usize>().ok()?)?;
            Some(EntryFailure {
                receipt: receipt.to_string(),
                code: code.to_string(),
                message: message.unwrap_or_default().to_string(),
            })
        })
        .collect()
}

/// Puts one message on the queue, delayed by `delay` (at most SQS's 15 minutes).
pub async fn send(client: &Client, url: &str, body: String, delay: Duration) -> Result<(), Error> {
    client
        .send_message()
        .queue_url(url)
        .message_body(body)
        .delay_seconds(delay.as_secs().min(900) as i32)
        .send()
        .await
        .map_err(|e| Error::aws(Operation::SendMessage, e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_entry_is_told_by_its_receipt() {
        let chunk = ["r0", "r1", "r2"];
        let failed = failures(
            &chunk,
            [
                ("2", "ReceiptHandleIsInvalid", Some("gone")),
                ("9", "X", None),
            ]
            .into_iter(),
        );
        assert_eq!(
            failed,
            vec![EntryFailure {
                receipt: "r2".into(),
                code: "ReceiptHandleIsInvalid".into(),
                message: "gone".into()
            }]
        );
    }
}
