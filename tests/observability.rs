//! The shipped Grafana dashboard and Prometheus alerting rules (`observability/`) name only metrics
//! that a running worker exports: a renamed metric fails here, not silently on a dashboard.

mod common;

use std::collections::BTreeSet;

use common::*;

/// Every `cloud_unmap_…` / `aws_cloud_unmap_…` name in `text`.
fn metric_names(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let bytes = text.as_bytes();
    for (i, _) in text.match_indices("cloud_unmap_") {
        let start = if text[..i].ends_with("aws_") {
            i - 4
        } else {
            i
        };
        let before = text[..start].chars().next_back();
        if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') {
            continue;
        }
        let end = (i..bytes.len())
            .find(|&j| {
                !(bytes[j].is_ascii_lowercase() || bytes[j].is_ascii_digit() || bytes[j] == b'_')
            })
            .unwrap_or(bytes.len());
        out.insert(text[start..end].to_string());
    }
    out
}

/// The metric family a sample name belongs to (`…_total`, `…_bucket`, `…_sum`, `…_count`).
fn family(name: &str) -> &str {
    ["_total", "_bucket", "_sum", "_count"]
        .iter()
        .find_map(|s| name.strip_suffix(s))
        .unwrap_or(name)
}

#[tokio::test(flavor = "multi_thread")]
async fn every_metric_the_dashboard_and_the_rules_name_is_exported() {
    let ns = namespace().await;
    let svc = service(&ns).await;
    register_all(&svc, &launch(HOME_REGION, 1).await).await;
    let q = queue_with_dlq(3, 4).await;
    let port = free_port();
    let worker = Worker::events(&svc, &q.url, port).spawn();
    wait_http(port, "/readyz", WAIT, |s, _| s == 200).await;
    let (_, exposition) = http_get(port, "/metrics").await.unwrap();
    assert!(exposition.contains("cloud_unmap_ready 1\n"), "{exposition}");
    for file in [
        "observability/grafana-dashboard.json",
        "observability/prometheus-rules.yml",
    ] {
        let text = std::fs::read_to_string(repo().join(file)).unwrap();
        let names = metric_names(&text);
        assert!(names.len() >= 5, "{file}: {names:?}");
        for name in &names {
            let wanted = format!("# TYPE {} ", family(name));
            assert!(
                exposition.contains(&wanted),
                "{file} names {name}, which the worker does not export"
            );
        }
    }
    drop(worker);
}

#[test]
fn names_are_read_whole() {
    let names = metric_names(
        "rate(cloud_unmap_events_total[5m]) / aws_cloud_unmap_up and my_cloud_unmap_x",
    );
    assert_eq!(
        names.into_iter().collect::<Vec<_>>(),
        ["aws_cloud_unmap_up", "cloud_unmap_events_total"]
    );
    assert_eq!(
        family("cloud_unmap_event_latency_seconds_bucket"),
        "cloud_unmap_event_latency_seconds"
    );
}
