//! EventBridge on moto: the repo's event-rules.json routed to a queue, and events put on the bus.

use super::moto::{moto, repo, unique, HOME_REGION};

/// One AWS JSON-1.1 call over plain HTTP (raw, so that one lock serializes every test's calls;
/// moto does not check signatures).
pub async fn aws_json(target: &str, body: &serde_json::Value) -> serde_json::Value {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    // moto's EventBridge is not safe against concurrent rule changes and PutEvents (it answers 500
    // when one test adds a rule while another puts an event): the tests of a binary take turns.
    static EVENTBRIDGE: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    let _turn = EVENTBRIDGE.lock().await;
    let payload = body.to_string();
    let request = format!(
        "POST / HTTP/1.0\r\nHost: events.{HOME_REGION}.amazonaws.com\r\nX-Amz-Target: {target}\r\n\
         Content-Type: application/x-amz-json-1.1\r\n\
         Authorization: AWS4-HMAC-SHA256 Credential=testing/20240101/{HOME_REGION}/events/aws4_request, SignedHeaders=host, Signature=x\r\n\
         Content-Length: {}\r\n\r\n{payload}",
        payload.len()
    );
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", moto().port))
        .await
        .unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    assert!(
        head.starts_with("HTTP/1.0 200") || head.starts_with("HTTP/1.1 200"),
        "{target}: {text}"
    );
    serde_json::from_str(body).unwrap_or(serde_json::Value::Null)
}

/// Creates, on the default bus, every rule of the repo's event-rules.json, each targeting the queue.
pub async fn route_rules_to(queue_arn: &str) {
    let file: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("infra/construct/event-rules.json")).unwrap(),
    )
    .unwrap();
    for rule in file["rules"].as_array().unwrap() {
        let name = unique(rule["name"].as_str().unwrap());
        aws_json(
            "AWSEvents.PutRule",
            &serde_json::json!({"Name": name, "EventPattern": rule["pattern"].to_string(), "State": "ENABLED"}),
        )
        .await;
        aws_json(
            "AWSEvents.PutTargets",
            &serde_json::json!({"Rule": name, "Targets": [{"Id": "queue", "Arn": queue_arn}]}),
        )
        .await;
    }
}

/// PutEvents of one event (EventBridge routes it through the rules).
pub async fn put_event(source: &str, detail_type: &str, detail: serde_json::Value) {
    let out = aws_json(
        "AWSEvents.PutEvents",
        &serde_json::json!({"Entries": [{"Source": source, "DetailType": detail_type, "Detail": detail.to_string()}]}),
    )
    .await;
    assert_eq!(out["FailedEntryCount"], 0, "{out}");
}

pub async fn put_state_change(instance_id: &str, state: &str) {
    put_event(
        "aws.ec2",
        "EC2 Instance State-change Notification",
        serde_json::json!({"instance-id": instance_id, "state": state}),
    )
    .await;
}
