//! The exposition: seed names and labels kept, every family present, counters counted.

use super::*;
use crate::error::{Error, Operation};
use crate::model::plan::Reason;

#[test]
fn seed_names_and_labels_are_kept() {
    let metrics = Metrics::default();
    let mut registry = Registry::default();
    metrics.register(&mut registry);
    metrics.up.get_or_create(&Metrics::service("srv-1")).set(1);
    metrics
        .last_success
        .get_or_create(&Metrics::service("srv-1"))
        .set(1_700_000_000);
    metrics
        .deregistrations
        .get_or_create(&DeregistrationLabels {
            service_id: "srv-1".into(),
            trigger: Trigger::reconcile,
            reason: Reason::IpMismatch,
        })
        .inc();
    metrics.set_home("123456789012", "eu-west-1");
    let throttled = aws_smithy_types::error::ErrorMetadata::builder()
        .code("RequestLimitExceeded")
        .build();
    let member = crate::model::domain::Account::Member("222222222222".into());
    metrics.aws_error(&Error::aws(Operation::DescribeInstances, throttled.clone()));
    metrics
        .aws_error(&Error::aws(Operation::DescribeInstances, throttled).at(&member, "us-east-1"));
    metrics.event(
        crate::model::event::EventType::StateChange,
        EventOutcome::Acted,
    );
    let text = render(&registry);
    assert!(
        text.contains("cloud_unmap_events_total{type=\"state_change\",outcome=\"acted\"} 1\n"),
        "{text}"
    );
    assert!(
        text.contains("aws_cloud_unmap_up{service_id=\"srv-1\"} 1\n"),
        "{text}"
    );
    assert!(text.contains(
        "aws_cloud_unmap_last_reconcile_success_timestamp_seconds{service_id=\"srv-1\"} 1700000000\n"
    ));
    assert!(text.contains(
        "cloud_unmap_deregistrations_total{service_id=\"srv-1\",trigger=\"reconcile\",reason=\"ip-mismatch\"} 1\n"
    ));
    for (account, region) in [("123456789012", "eu-west-1"), ("222222222222", "us-east-1")] {
        let series = format!("cloud_unmap_aws_errors_total{{operation=\"DescribeInstances\",account=\"{account}\",region=\"{region}\",class=\"throttling\"}} 1\n");
        assert!(text.contains(&series), "{text}");
    }
    assert!(
        text.contains("cloud_unmap_build_info{version=\"0.1.0\",revision=\""),
        "{text}"
    );
}
