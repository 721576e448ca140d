//! SQS for the event path: a queue with its dead-letter queue, depths, raw messages; the state table
//! replicas on one queue share.

use aws_sdk_sqs::types::QueueAttributeName as A;

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
};

use super::moto::{config, sqs, unique, HOME_REGION};
use super::wait::{eventually, WAIT};

/// An event queue and its dead-letter queue.
#[derive(Debug, Clone)]
pub struct Queues {
    pub url: String,
    pub arn: String,
    pub dlq: String,
}

/// A queue with a dead-letter queue (redrive after `max_receive` receives) and a short visibility
/// timeout, so retried messages come back quickly.
pub async fn queue_with_dlq(max_receive: u32, visibility_s: u32) -> Queues {
    let sqs = sqs().await;
    let dlq = sqs
        .create_queue()
        .queue_name(unique("dlq"))
        .send()
        .await
        .unwrap();
    let dlq_url = dlq.queue_url().unwrap().to_string();
    let dlq_arn = queue_arn(&dlq_url).await;
    let redrive =
        serde_json::json!({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receive})
            .to_string();
    let q = sqs
        .create_queue()
        .queue_name(unique("events"))
        .attributes(A::RedrivePolicy, redrive)
        .attributes(A::VisibilityTimeout, visibility_s.to_string())
        .send()
        .await
        .unwrap();
    let url = q.queue_url().unwrap().to_string();
    let arn = queue_arn(&url).await;
    Queues {
        url,
        arn,
        dlq: dlq_url,
    }
}

pub async fn queue_arn(url: &str) -> String {
    sqs()
        .await
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(A::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes()
        .unwrap()[&A::QueueArn]
        .clone()
}

/// Messages currently in a queue (visible, in flight).
pub async fn queue_depth(url: &str) -> (u64, u64) {
    let out = sqs()
        .await
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(A::ApproximateNumberOfMessages)
        .attribute_names(A::ApproximateNumberOfMessagesNotVisible)
        .send()
        .await
        .unwrap();
    let attrs = out.attributes().unwrap();
    let n = |k: &A| attrs.get(k).and_then(|v| v.parse().ok()).unwrap_or(0);
    (
        n(&A::ApproximateNumberOfMessages),
        n(&A::ApproximateNumberOfMessagesNotVisible),
    )
}

/// Waits until the queue holds nothing, visible or in flight.
pub async fn wait_queue_empty(url: &str) {
    eventually(WAIT, "an empty queue", || async {
        match queue_depth(url).await {
            (0, 0) => Ok(()),
            depth => Err(format!("{depth:?}")),
        }
    })
    .await
}

pub async fn send_raw(url: &str, body: &str) {
    sqs()
        .await
        .send_message()
        .queue_url(url)
        .message_body(body)
        .send()
        .await
        .unwrap();
}

/// A state table as `infra/` creates it: a string partition key `pk`, on demand.
pub async fn state_table() -> String {
    let name = unique("cloud-unmap-state");
    aws_sdk_dynamodb::Client::new(&config(HOME_REGION).await)
        .create_table()
        .table_name(&name)
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("pk")
                .key_type(KeyType::Hash)
                .build()
                .unwrap(),
        )
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("pk")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .unwrap();
    name
}
