//! The Grafana dashboard in `ops/grafana/` parses and queries only metrics
//! that a live service puts on `/metrics`.

mod common;

use common::{repo_root, TestService};
use std::collections::BTreeSet;

/// Every `pe_*` name in the dashboard's queries.
fn queried_metrics(dashboard: &serde_json::Value) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for panel in dashboard["panels"].as_array().expect("panels") {
        for target in panel["targets"].as_array().expect("targets") {
            let expr = target["expr"].as_str().expect("expr");
            let mut rest = expr;
            while let Some(i) = rest.find("pe_") {
                let tail = &rest[i..];
                let end = tail
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .unwrap_or(tail.len());
                names.insert(tail[..end].to_string());
                rest = &tail[end..];
            }
        }
    }
    names
}

#[tokio::test]
async fn grafana_dashboard_queries_metrics_that_exist() {
    let path = repo_root().join("ops/grafana/phone-entrance.json");
    let text = std::fs::read_to_string(&path).expect("dashboard file");
    let dashboard: serde_json::Value = serde_json::from_str(&text).expect("dashboard is JSON");
    assert!(dashboard["title"].is_string() && dashboard["uid"].is_string());
    let wanted = queried_metrics(&dashboard);
    for key in [
        "pe_contact_to_answer_seconds_bucket",
        "pe_estimate_error_seconds_bucket",
        "pe_calls_active",
        "pe_cases_registered_total",
        "pe_case_store_failures_total",
    ] {
        assert!(wanted.contains(key), "dashboard does not query {key}");
    }
    let svc = TestService::start().await;
    let metrics = svc.metrics().await;
    let exposed: BTreeSet<&str> = metrics
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| l.split(['{', ' ']).next())
        .collect();
    let missing: Vec<&String> = wanted
        .iter()
        .filter(|m| !exposed.contains(m.as_str()))
        .collect();
    assert!(missing.is_empty(), "not on /metrics: {missing:?}");
    svc.stop().await;
}
