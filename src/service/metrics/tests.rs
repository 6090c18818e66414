//! The registry rendered in both formats, the format negotiation, webhook endpoints and job gauges.

use std::{sync::atomic::Ordering, time::Duration};

use super::*;

fn scrape(lifecycle: Lifecycle) -> Scrape {
    Scrape {
        queue_depth: 2,
        keys_held: 2,
        webhook_queue_depth: 0,
        webhook_endpoints: Arc::new(Endpoints::none()),
        held_file_bytes: 0,
        scan_pace: 0,
        source: SourceReport {
            lifecycle,
            cache_tip_height: Some(99),
            cache_tip_time: Some(1_000),
            cache_outputs: 2000,
            node_tip_height: None,
            import: None,
            fault: None,
            degraded_since: None,
        },
        now: SystemTime::UNIX_EPOCH + Duration::from_secs(1_060),
    }
}

#[test]
fn renders_counters_gauges_and_histograms_in_the_prometheus_text_format() {
    let metrics = Metrics::default();
    metrics.http_response("submit", 202);
    metrics.http_response("submit", 202);
    metrics.job_failed("SCAN_FAILED");
    metrics.jobs.entered("queued");
    metrics.jobs.entered("queued");
    metrics.jobs.entered("ready");
    metrics.jobs_submitted.fetch_add(3, Ordering::Relaxed);
    metrics.job_duration.observe(Duration::from_millis(700));
    let text = metrics.render(&scrape(Lifecycle::Degraded), Format::Prometheus);
    for line in [
        "# TYPE tws_jobs_submitted_total counter\n",
        "tws_jobs_submitted_total 3\n",
        "tws_http_responses_total{route=\"submit\",status=\"202\"} 2\n",
        "tws_jobs{state=\"queued\"} 2\n",
        "tws_jobs{state=\"ready\"} 1\n",
        "tws_jobs{state=\"expired\"} 0\n",
        "tws_jobs_failed_total{code=\"SCAN_FAILED\"} 1\n",
        "# TYPE tws_job_duration_seconds histogram\n",
        "tws_job_duration_seconds_bucket{le=\"0.5\"} 0\n",
        "tws_job_duration_seconds_bucket{le=\"1\"} 1\n",
        "tws_job_duration_seconds_bucket{le=\"+Inf\"} 1\n",
        "tws_job_duration_seconds_count 1\n",
        "tws_queue_depth 2\n",
        "tws_sealed_keys_held 2\n",
        "tws_cache_tip_height 99\n",
        "tws_node_tip_height -1\n",
        "tws_cache_tip_age_seconds 60\n",
        "tws_lifecycle_state{state=\"degraded\"} 1\n",
        "tws_lifecycle_state{state=\"ready\"} 0\n",
    ] {
        assert!(text.contains(line), "lacks {line:?}:\n{text}");
    }
    assert_eq!(text.matches("tws_lifecycle_state{").count(), Lifecycle::ALL.len());
    assert!(!text.contains("# EOF"), "{text}");

    let text = metrics.render(&scrape(Lifecycle::Ready), Format::Prometheus);
    assert!(text.contains("tws_lifecycle_state{state=\"ready\"} 1\n"), "{text}");
    assert!(text.contains("tws_lifecycle_state{state=\"degraded\"} 0\n"), "{text}");
}

#[test]
fn openmetrics_has_the_same_samples() {
    let metrics = Metrics::default();
    metrics.jobs_submitted.fetch_add(1, Ordering::Relaxed);
    metrics.job_duration.observe(Duration::from_millis(700));
    let text = metrics.render(&scrape(Lifecycle::Ready), Format::OpenMetrics);
    for line in [
        "# TYPE tws_jobs_submitted counter\n",
        "tws_jobs_submitted_total 1\n",
        "# UNIT tws_job_duration_seconds seconds\n",
        "tws_job_duration_seconds_count 1\n",
        "tws_cache_tip_height 99\n",
        "tws_lifecycle_state{state=\"ready\"} 1\n",
    ] {
        assert!(text.contains(line), "lacks {line:?}:\n{text}");
    }
    assert!(text.ends_with("# EOF\n"), "{text}");
}

#[test]
fn the_accept_header_chooses_the_format() {
    // What Prometheus 2.x and 3.x send by default, and what curl and browsers send.
    let prometheus = "application/openmetrics-text;version=1.0.0;q=0.5,application/openmetrics-text;\
                      version=0.0.1;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2";
    assert_eq!(Format::negotiate(Some(prometheus)), Format::OpenMetrics);
    assert_eq!(
        Format::negotiate(Some("application/openmetrics-text")),
        Format::OpenMetrics
    );
    assert_eq!(Format::negotiate(Some("*/*")), Format::Prometheus);
    assert_eq!(Format::negotiate(None), Format::Prometheus);
    assert_eq!(
        Format::negotiate(Some("text/plain;version=0.0.4,application/openmetrics-text;q=0.5")),
        Format::Prometheus
    );
    assert_eq!(
        Format::negotiate(Some("application/openmetrics-text;version=0.0.1")),
        Format::Prometheus,
        "only OpenMetrics 1.0.0 is spoken"
    );
    assert_eq!(
        Format::negotiate(Some("application/openmetrics-text;q=0")),
        Format::Prometheus
    );
}

#[test]
fn webhook_endpoints_show_their_host_queue_and_breaker_and_drops_count_up() {
    let metrics = Metrics::default();
    let urls = ["https://hooks.example/secret-path", "http://127.0.0.1:9/h"].map(String::from);
    let endpoints = Arc::new(Endpoints::new(&urls, 10));
    endpoints.list()[0].add_queued(4, 0);
    endpoints.list()[0].set_breaker(BreakerState::Open);
    endpoints.count_dropped(DropReason::QueueFull, 2);
    let mut reading = scrape(Lifecycle::Ready);
    reading.webhook_endpoints = endpoints.clone();
    let text = metrics.render(&reading, Format::Prometheus);
    for line in [
        "tws_webhook_endpoint_queue_depth{endpoint=\"hooks.example\"} 4\n",
        "tws_webhook_endpoint_queue_depth{endpoint=\"127.0.0.1:9\"} 0\n",
        "tws_webhook_breaker{endpoint=\"hooks.example\",state=\"open\"} 1\n",
        "tws_webhook_breaker{endpoint=\"hooks.example\",state=\"closed\"} 0\n",
        "tws_webhook_breaker{endpoint=\"127.0.0.1:9\",state=\"closed\"} 1\n",
        "tws_webhook_dropped_total{reason=\"queue_full\"} 2\n",
        "tws_webhook_dropped_total{reason=\"attempts\"} 0\n",
        "tws_webhook_dropped_total{reason=\"endpoint_removed\"} 0\n",
    ] {
        assert!(text.contains(line), "lacks {line:?}:\n{text}");
    }
    assert!(!text.contains("secret-path"), "{text}");
    endpoints.count_dropped(DropReason::QueueFull, 1);
    let text = metrics.render(&reading, Format::Prometheus);
    assert!(
        text.contains("tws_webhook_dropped_total{reason=\"queue_full\"} 3\n"),
        "{text}"
    );
    let text = metrics.render(&reading, Format::Prometheus);
    assert!(
        text.contains("tws_webhook_dropped_total{reason=\"queue_full\"} 3\n"),
        "counted once: {text}"
    );
}

#[test]
fn job_gauges_count_entries_and_exits() {
    let metrics = Metrics::default();
    let jobs = metrics.jobs.clone();
    jobs.entered("queued");
    jobs.entered("queued");
    jobs.left("queued");
    jobs.entered("scanning");
    assert_eq!((jobs.count("queued"), jobs.count("scanning")), (1, 1));
    let text = metrics.render(&scrape(Lifecycle::Ready), Format::Prometheus);
    assert!(text.contains("tws_jobs{state=\"queued\"} 1\n"), "{text}");
}
