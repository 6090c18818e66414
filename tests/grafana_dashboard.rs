//! The Grafana dashboard (`docs/grafana-dashboard.json`) against the service it watches: valid JSON of a
//! dashboard Grafana can import (its data source chosen at import), and every metric its queries name
//! is one a real server's `/metrics` exports (after a failed job and a rate-limited request, so the
//! labelled counters, which appear with their first sample, are there too; with a webhook endpoint
//! configured, so its per-endpoint series are).

use std::{collections::BTreeSet, sync::Arc, time::Duration};

use http::{Method, StatusCode};
use tari_wallet_sync::{
    cache::CacheView,
    recognize::WalletKey,
    scan::ScanResult,
    service::{Artifact, CacheSource, FailureCode, JobFailure, RateLimit, ResultBuilder},
    walletdb::Interrupt,
};
use tari_wallet_sync_sse::{
    JobEvent,
    client::{Client, Protocol},
};
use tari_wallet_sync_testkit::service::{
    TestServer, demo_chain, test_config,
    wallet_app::{last_event, submit},
};
use zeroize::Zeroizing;

/// Fails every build for good, as a build that cannot be done would.
struct FailingBuilder;

impl ResultBuilder for FailingBuilder {
    fn build(
        &self,
        _key: &WalletKey,
        _password: Option<Zeroizing<String>>,
        _birthday: u64,
        _result: &ScanResult,
        _chain: &CacheView,
        _interrupt: &Interrupt<'_>,
    ) -> Result<Artifact, JobFailure> {
        Err(JobFailure::new(
            FailureCode::BuildFailed,
            "this test's builder builds nothing",
            false,
        ))
    }
}

const DASHBOARD: &str = include_str!("../docs/grafana-dashboard.json");

/// Every sample name the exposition can hold: gauges and counters as typed (`# TYPE` in the Prometheus
/// text format names counters with `_total`), histograms with their `_bucket`, `_sum` and `_count`.
fn exported_names(exposition: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for line in exposition.lines() {
        let Some(rest) = line.strip_prefix("# TYPE ") else {
            continue;
        };
        let (name, kind) = rest.split_once(' ').expect("# TYPE name kind");
        if kind == "histogram" {
            for suffix in ["_bucket", "_sum", "_count"] {
                names.insert(format!("{name}{suffix}"));
            }
        } else {
            names.insert(name.to_string());
        }
    }
    names
}

/// The `tws_*` names in a PromQL expression.
fn queried_names(expr: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = expr;
    while let Some(start) = rest.find("tws_") {
        let tail = &rest[start..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        names.push(tail[..end].to_string());
        rest = &tail[end..];
    }
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_parses_and_queries_only_exported_metrics() {
    let dashboard: serde_json::Value = serde_json::from_str(DASHBOARD).expect("valid JSON");
    assert_eq!(dashboard["uid"], "tari-wallet-sync");
    // Imported with the data source the operator picks.
    assert_eq!(dashboard["__inputs"][0]["name"], "DS_PROMETHEUS");
    assert_eq!(dashboard["__inputs"][0]["pluginId"], "prometheus");

    let data = tempfile::tempdir().unwrap();
    let mut config = test_config(&data.path().join("data"));
    config.metrics_listen = Some("127.0.0.1:0".parse().unwrap());
    // A webhook endpoint (nobody listens on it), so the per-endpoint series are there too.
    let unused = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    config.webhook_urls = vec![format!("http://{}/hooks", unused.local_addr().unwrap())];
    drop(unused);
    let secret = data.path().join("webhook-secret");
    std::fs::write(&secret, "0123456789abcdef0123456789abcdef").unwrap();
    config.webhook_secret_file = Some(secret);
    config.ops_rate_per_ip = RateLimit {
        per_window: 1,
        window: Duration::from_secs(3600),
    };
    let source = CacheSource::directory(config.cache_dir.clone());
    let server = TestServer::start_with(config, source, Arc::new(FailingBuilder)).await;
    let client = Client::new(&server.base_url, Protocol::Http1);
    let job = submit(&client, &demo_chain().wallets[0], None).await;
    assert!(matches!(last_event(&client, &job).await, JobEvent::Failed { .. }));
    for expected in [StatusCode::OK, StatusCode::TOO_MANY_REQUESTS] {
        let health = client.request(Method::GET, "/health", &[], None).await.unwrap();
        assert_eq!(health.status, expected);
    }
    let operator = Client::new(server.metrics_url.as_deref().unwrap(), Protocol::Http1);
    let response = operator.request(Method::GET, "/metrics", &[], None).await.unwrap();
    assert_eq!(response.status, StatusCode::OK);
    let exported = exported_names(std::str::from_utf8(&response.body).unwrap());
    server.stop().await.unwrap();
    for name in [
        "tws_jobs_failed_total",
        "tws_rate_limited_total",
        "tws_job_duration_seconds_bucket",
        "tws_cache_tip_height",
    ] {
        assert!(exported.contains(name), "{name} not in {exported:?}");
    }

    let mut queried = BTreeSet::new();
    let mut ids = BTreeSet::new();
    let panels = dashboard["panels"].as_array().expect("panels");
    for panel in panels {
        assert!(
            ids.insert(panel["id"].as_u64().expect("a panel id")),
            "panel ids are unique"
        );
        if panel["type"] == "row" {
            continue;
        }
        let title = panel["title"].as_str().expect("a title");
        assert_eq!(panel["datasource"]["uid"], "${DS_PROMETHEUS}", "{title}");
        let targets = panel["targets"].as_array().expect("targets");
        assert!(!targets.is_empty(), "{title} queries something");
        for target in targets {
            let expr = target["expr"].as_str().expect("expr");
            let names = queried_names(expr);
            assert!(!names.is_empty(), "{title}: {expr}");
            for name in names {
                assert!(
                    exported.contains(&name),
                    "{title} queries {name}, which the service does not export"
                );
                queried.insert(name);
            }
        }
    }
    // The panels the operator needs: lifecycle, chain, queue and jobs, durations, failures, limits, load.
    for needed in [
        "tws_lifecycle_state",
        "tws_cache_tip_height",
        "tws_node_tip_height",
        "tws_cache_tip_age_seconds",
        "tws_queue_depth",
        "tws_jobs",
        "tws_job_duration_seconds_bucket",
        "tws_scan_pass_duration_seconds_bucket",
        "tws_build_duration_seconds_bucket",
        "tws_jobs_failed_total",
        "tws_rate_limited_total",
        "tws_connections",
        "tws_sse_subscribers",
    ] {
        assert!(queried.contains(needed), "no panel shows {needed}");
    }
}
