//! Metrics: the service's counters, gauges and histograms in one `prometheus-client` registry, encoded
//! for `/metrics`. Owns the numbers only; the job domain, the scheduler and the HTTP layer record into them
//! as things happen (jobs move their own `tws_jobs{state}` count as they change state), so a scrape
//! reads atomics: never the job store, never a walk over the jobs. The few values owned elsewhere (queue
//! length, sealed keys held, the source's lifecycle and tips) are handed to `render` as a `Scrape`,
//! each an O(1) reading of its owner.

use std::{
    ops::Deref,
    sync::{
        Arc, Mutex,
        atomic::{AtomicI64, AtomicU64},
    },
    time::{Duration, SystemTime},
};

use prometheus_client::{
    encoding::{EncodeLabelSet, prometheus_text, text},
    metrics::{counter::Counter, family::Family, gauge::Gauge, histogram::Histogram},
    registry::{Registry, Unit},
};

use crate::service::{
    chain::lifecycle::{Lifecycle, SourceReport},
    webhook::{BreakerState, DropReason, endpoint::Endpoints},
};

/// Bucket bounds in seconds: a job is expected in well under 30 s, a pass of many keys may take minutes.
const BUCKETS: [f64; 12] = [0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0];

/// Every state a job can be in (`JobStatus::name`), as `tws_jobs{state}` labels them.
pub const JOB_STATES: [&str; 6] = ["queued", "scanning", "ready", "failed", "deleted", "expired"];

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabel {
    state: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CodeLabel {
    code: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ScopeLabel {
    scope: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabel {
    outcome: &'static str,
}

/// What became of a webhook delivery attempt: `delivered`, `failed` (another attempt follows) or
/// `dropped` (the last attempt failed).
pub const WEBHOOK_OUTCOMES: [&str; 3] = ["delivered", "failed", "dropped"];

/// One webhook endpoint: its host (the operator's list bounds the values; a URL's path never shows).
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EndpointLabel {
    endpoint: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BreakerLabels {
    endpoint: String,
    state: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResponseLabels {
    route: &'static str,
    status: u16,
}

/// A registered counter. It derefs to its atomic, so recorders count with `fetch_add` as anywhere else.
#[derive(Clone, Default)]
pub struct Count(Counter);

impl Deref for Count {
    type Target = AtomicU64;
    fn deref(&self) -> &AtomicU64 {
        self.0.inner()
    }
}

/// A registered gauge that goes up and down with what it counts (connections, streams); derefs to its
/// atomic like `Count`.
#[derive(Clone, Default)]
pub struct Level(Gauge);

impl Deref for Level {
    type Target = AtomicI64;
    fn deref(&self) -> &AtomicI64 {
        self.0.inner()
    }
}

/// A registered histogram of durations.
pub struct Timing {
    histogram: Histogram,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            histogram: Histogram::new(BUCKETS),
        }
    }
}

impl Timing {
    pub fn observe(&self, duration: Duration) {
        self.histogram.observe(duration.as_secs_f64());
    }
}

/// `tws_jobs{state}`: the jobs in memory by state. Every `Job` holds one (cheap to clone) and moves its
/// own count as it changes state and takes it away when dropped, so the gauges are always current and a
/// scrape never walks the jobs.
#[derive(Clone, Default)]
pub struct JobGauges(Arc<[Gauge; JOB_STATES.len()]>);

impl JobGauges {
    fn of(family: &Family<StateLabel, Gauge>) -> JobGauges {
        JobGauges(Arc::new(
            JOB_STATES.map(|state| family.get_or_create_owned(&StateLabel { state })),
        ))
    }

    fn gauge(&self, state: &str) -> Option<&Gauge> {
        JOB_STATES.iter().position(|s| *s == state).map(|i| &self.0[i])
    }

    /// A job now in `state` (created, or reloaded after a restart).
    pub fn entered(&self, state: &str) {
        if let Some(gauge) = self.gauge(state) {
            gauge.inc();
        }
    }

    /// A job that was in `state` is gone.
    pub fn left(&self, state: &str) {
        if let Some(gauge) = self.gauge(state) {
            gauge.dec();
        }
    }

    /// The jobs in `state` now.
    #[cfg(test)]
    pub fn count(&self, state: &str) -> i64 {
        self.gauge(state).map_or(0, Gauge::get)
    }
}

/// The values a scrape reads from their owners, each in O(1).
pub struct Scrape {
    /// Length of the queue.
    pub queue_depth: u64,
    /// Sealed keys still stored, as the store counts them while it writes.
    pub keys_held: u64,
    /// Webhook deliveries queued, as the store counts them while it writes.
    pub webhook_queue_depth: u64,
    /// The webhook endpoints: each one's queue and breaker, and the drops by reason.
    pub webhook_endpoints: Arc<Endpoints>,
    /// Bytes of finished files held in memory (`held_files`).
    pub held_file_bytes: u64,
    /// The scan pace passes measured, in output-keys per second (a guess before the first pass).
    pub scan_pace: u64,
    /// The source's latest published state with the service's phase on top.
    pub source: SourceReport,
    pub now: SystemTime,
}

/// The two text formats `/metrics` speaks. Both show scrapers the same sample names (counters end in
/// `_total`, histograms in `_bucket`, `_sum` and `_count`); they differ in metadata lines only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// The Prometheus text format 0.0.4: the default, what `curl` and older scrapers get.
    Prometheus,
    /// OpenMetrics 1.0.0 (with units and `# EOF`), for scrapers that ask for it, as Prometheus does.
    OpenMetrics,
}

impl Format {
    /// The format an `Accept` header prefers: OpenMetrics if it ranks `application/openmetrics-text`
    /// (version 1.0.0 or none) at least as high as every plain-text range, else the Prometheus text format.
    pub fn negotiate(accept: Option<&str>) -> Format {
        let (mut open, mut plain) = (0.0_f64, 0.0_f64);
        for range in accept.unwrap_or_default().split(',') {
            let mut parts = range.split(';').map(str::trim);
            let media = parts.next().unwrap_or_default().to_ascii_lowercase();
            let (mut q, mut version) = (1.0_f64, None);
            for param in parts {
                match param.split_once('=').map(|(k, v)| (k.trim(), v.trim())) {
                    Some(("q", value)) => q = value.parse().unwrap_or(0.0),
                    Some(("version", value)) => version = Some(value),
                    _ => {}
                }
            }
            match media.as_str() {
                "application/openmetrics-text" if matches!(version, None | Some("1.0.0")) => open = open.max(q),
                "text/plain" | "text/*" | "*/*" => plain = plain.max(q),
                _ => {}
            }
        }
        if open > 0.0 && open >= plain {
            Format::OpenMetrics
        } else {
            Format::Prometheus
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::Prometheus => prometheus_text::CONTENT_TYPE,
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
        }
    }
}

/// Every number the service reports, registered under the prefix `tws`.
pub struct Metrics {
    registry: Registry,
    http: Family<ResponseLabels, Counter>,
    jobs_failed: Family<CodeLabel, Counter>,
    rate_limited: Family<ScopeLabel, Counter>,
    webhook_deliveries: Family<OutcomeLabel, Counter>,
    webhook_dropped: Family<ReasonLabel, Counter>,
    pub jobs: JobGauges,
    pub jobs_submitted: Count,
    pub jobs_ready: Count,
    pub jobs_retried: Count,
    /// Submission to ready.
    pub job_duration: Timing,
    /// One scan pass, all its keys.
    pub pass_duration: Timing,
    /// Building one job's file from its scan result.
    pub build_duration: Timing,
    /// Outputs read by scan passes.
    pub outputs_scanned: Count,
    /// Outputs times keys tested.
    pub key_outputs_scanned: Count,
    pub passes: Count,
    /// Finished files written to disk, sealed (they survive a restart).
    pub result_files_written: Count,
    /// Finished files (or their keys) that could not be stored: served from memory, lost on restart.
    pub result_file_failures: Count,
    /// Files opened from disk after a restart.
    pub results_reopened: Count,
    pub connections: Level,
    pub connections_refused: Count,
    pub sse_subscribers: Level,
    scraped: ScrapedGauges,
    /// One scrape at a time: each sets the scraped gauges and encodes them as one picture.
    scrape: Mutex<()>,
}

/// Gauges set from a `Scrape` just before encoding.
#[derive(Default)]
struct ScrapedGauges {
    queue_depth: Gauge,
    keys_held: Gauge,
    webhook_queue_depth: Gauge,
    webhook_endpoint_queue: Family<EndpointLabel, Gauge>,
    webhook_breaker: Family<BreakerLabels, Gauge>,
    held_file_bytes: Gauge,
    scan_pace: Gauge,
    lifecycle: Family<StateLabel, Gauge>,
    cache_tip_height: Gauge,
    cache_outputs: Gauge,
    node_tip_height: Gauge,
    cache_tip_age: Gauge,
    import_done: Gauge,
    import_total: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("tws");
        let r = &mut registry;
        let scraped = ScrapedGauges::default();
        let jobs_by_state = Family::<StateLabel, Gauge>::default();
        let jobs = JobGauges::of(&jobs_by_state);
        r.register("jobs", "Jobs held, by state", jobs_by_state);
        r.register(
            "queue_depth",
            "Jobs waiting for a scan pass",
            scraped.queue_depth.clone(),
        );
        r.register(
            "sealed_keys_held",
            "Jobs whose sealed key is still stored",
            scraped.keys_held.clone(),
        );
        r.register(
            "held_file_bytes",
            "Bytes of finished files held in memory (the rest are read from their sealed copies)",
            scraped.held_file_bytes.clone(),
        );
        r.register(
            "scan_pace",
            "Output-keys a pass scans per second, as measured (what Retry-After and pass sizes use)",
            scraped.scan_pace.clone(),
        );
        r.register(
            "cache_tip_height",
            "Height of the cache's tip (-1: empty)",
            scraped.cache_tip_height.clone(),
        );
        r.register("cache_outputs", "Outputs in the cache", scraped.cache_outputs.clone());
        r.register(
            "node_tip_height",
            "Height of the node's tip as last heard from (-1: unknown)",
            scraped.node_tip_height.clone(),
        );
        r.register(
            "cache_tip_age_seconds",
            "Age of the cache's tip block (-1: empty cache)",
            scraped.cache_tip_age.clone(),
        );
        r.register(
            "import_done",
            "Blocks imported so far by a running import",
            scraped.import_done.clone(),
        );
        r.register(
            "import_total",
            "Blocks a running import will import (0: unknown or none)",
            scraped.import_total.clone(),
        );
        for state in Lifecycle::ALL {
            scraped
                .lifecycle
                .get_or_create_owned(&StateLabel { state: state.name() });
        }
        r.register(
            "lifecycle_state",
            "The service's lifecycle: 1 for the current state",
            scraped.lifecycle.clone(),
        );
        let count = |r: &mut Registry, name: &str, help: &str| {
            let count = Count::default();
            r.register(name, help, count.0.clone());
            count
        };
        let jobs_submitted = count(r, "jobs_submitted", "Jobs accepted");
        let jobs_ready = count(r, "jobs_ready", "Jobs that produced a file");
        let jobs_retried = count(r, "jobs_retried", "Job attempts repeated after a service-side failure");
        let jobs_failed = Family::<CodeLabel, Counter>::default();
        r.register("jobs_failed", "Jobs that failed, by code", jobs_failed.clone());
        let rate_limited = Family::<ScopeLabel, Counter>::default();
        r.register(
            "rate_limited",
            "Requests refused by a rate limit, by scope",
            rate_limited.clone(),
        );
        let passes = count(r, "scan_passes", "Scan passes run");
        let outputs_scanned = count(r, "outputs_scanned", "Outputs read by scan passes");
        let key_outputs_scanned = count(r, "key_outputs_scanned", "Output and key pairs tested by scan passes");
        let result_files_written = count(r, "result_files_written", "Finished files stored on disk, sealed");
        let result_file_failures = count(
            r,
            "result_file_failures",
            "Finished files or file keys that could not be stored (lost on a restart)",
        );
        let results_reopened = count(r, "results_reopened", "Stored files opened after a restart");
        let timing = |r: &mut Registry, name: &str, help: &str| {
            let timing = Timing::default();
            r.register_with_unit(name, help, Unit::Seconds, timing.histogram.clone());
            timing
        };
        let job_duration = timing(r, "job_duration", "Submission to ready, per job");
        let pass_duration = timing(r, "scan_pass_duration", "One scan pass, all its keys");
        let build_duration = timing(r, "build_duration", "Building one job's file from its scan");
        let connections = Level::default();
        r.register("connections", "Open connections", connections.0.clone());
        let connections_refused = count(
            r,
            "connections_refused",
            "Connections turned away at the connection limit",
        );
        let sse_subscribers = Level::default();
        r.register("sse_subscribers", "Open event streams", sse_subscribers.0.clone());
        r.register(
            "webhook_queue_depth",
            "Webhook deliveries queued (due or waiting for a retry)",
            scraped.webhook_queue_depth.clone(),
        );
        let webhook_deliveries = Family::<OutcomeLabel, Counter>::default();
        for outcome in WEBHOOK_OUTCOMES {
            webhook_deliveries.get_or_create_owned(&OutcomeLabel { outcome });
        }
        r.register(
            "webhook_deliveries",
            "Webhook delivery attempts, by outcome",
            webhook_deliveries.clone(),
        );
        let webhook_dropped = Family::<ReasonLabel, Counter>::default();
        for reason in DropReason::ALL {
            webhook_dropped.get_or_create_owned(&ReasonLabel { reason: reason.name() });
        }
        r.register(
            "webhook_dropped",
            "Webhook deliveries dropped undelivered, by reason (attempts, queue_full, endpoint_removed)",
            webhook_dropped.clone(),
        );
        r.register(
            "webhook_endpoint_queue_depth",
            "Webhook deliveries queued per endpoint (its host)",
            scraped.webhook_endpoint_queue.clone(),
        );
        r.register(
            "webhook_breaker",
            "Each webhook endpoint's circuit breaker: 1 for its current state",
            scraped.webhook_breaker.clone(),
        );
        let http = Family::<ResponseLabels, Counter>::default();
        r.register("http_responses", "HTTP responses by route and status", http.clone());
        Metrics {
            registry,
            http,
            jobs_failed,
            rate_limited,
            webhook_deliveries,
            webhook_dropped,
            jobs,
            jobs_submitted,
            jobs_ready,
            jobs_retried,
            job_duration,
            pass_duration,
            build_duration,
            outputs_scanned,
            key_outputs_scanned,
            passes,
            result_files_written,
            result_file_failures,
            results_reopened,
            connections,
            connections_refused,
            sse_subscribers,
            scraped,
            scrape: Mutex::new(()),
        }
    }

    /// One response. Routes and statuses are both few, so the family stays small.
    pub fn http_response(&self, route: &'static str, status: u16) {
        self.http.get_or_create(&ResponseLabels { route, status }).inc();
    }

    /// A job failed with `code` (one of the service's stable codes: a bounded set).
    pub fn job_failed(&self, code: &'static str) {
        self.jobs_failed.get_or_create(&CodeLabel { code }).inc();
    }

    /// A request refused by the rate limit named `scope`.
    pub fn rate_limited(&self, scope: &'static str) {
        self.rate_limited.get_or_create(&ScopeLabel { scope }).inc();
    }

    /// A webhook delivery attempt's outcome (one of `WEBHOOK_OUTCOMES`).
    pub fn webhook_delivery(&self, outcome: &'static str) {
        self.webhook_deliveries.get_or_create(&OutcomeLabel { outcome }).inc();
    }

    /// The webhook endpoints' gauges, and the drop counters brought up to the endpoints' counts (which
    /// only grow; called under the scrape lock, so no two scrapes add the same drops).
    fn set_webhooks(&self, endpoints: &Endpoints) {
        for endpoint in endpoints.list() {
            let label = endpoint.label().to_string();
            self.scraped
                .webhook_endpoint_queue
                .get_or_create(&EndpointLabel {
                    endpoint: label.clone(),
                })
                .set(endpoint.queued() as i64);
            let current = endpoint.breaker();
            for state in BreakerState::ALL {
                self.scraped
                    .webhook_breaker
                    .get_or_create(&BreakerLabels {
                        endpoint: label.clone(),
                        state: state.name(),
                    })
                    .set(i64::from(state == current));
            }
        }
        for reason in DropReason::ALL {
            let counter = self
                .webhook_dropped
                .get_or_create_owned(&ReasonLabel { reason: reason.name() });
            let behind = endpoints.dropped(reason).saturating_sub(counter.get());
            if behind > 0 {
                counter.inc_by(behind);
            }
        }
    }

    /// The exposition in `format`, with the scraped values in `scrape`.
    pub fn render(&self, scrape: &Scrape, format: Format) -> String {
        let _one_at_a_time = self.scrape.lock().unwrap_or_else(|p| p.into_inner());
        let gauges = &self.scraped;
        let known = |value: Option<u64>| value.map_or(-1, |v| v as i64);
        let source = &scrape.source;
        gauges.queue_depth.set(scrape.queue_depth as i64);
        gauges.keys_held.set(scrape.keys_held as i64);
        gauges.webhook_queue_depth.set(scrape.webhook_queue_depth as i64);
        self.set_webhooks(&scrape.webhook_endpoints);
        gauges.held_file_bytes.set(scrape.held_file_bytes as i64);
        gauges.scan_pace.set(scrape.scan_pace as i64);
        gauges.cache_tip_height.set(known(source.cache_tip_height));
        gauges.cache_outputs.set(source.cache_outputs as i64);
        gauges.node_tip_height.set(known(source.node_tip_height));
        gauges
            .cache_tip_age
            .set(known(source.tip_age(scrape.now).map(|d| d.as_secs())));
        let import = source.import.unwrap_or_default();
        gauges.import_done.set(import.done as i64);
        gauges.import_total.set(import.total as i64);
        for state in Lifecycle::ALL {
            let on = i64::from(state == source.lifecycle);
            gauges
                .lifecycle
                .get_or_create(&StateLabel { state: state.name() })
                .set(on);
        }
        let mut out = String::with_capacity(8192);
        let encoded = match format {
            Format::Prometheus => prometheus_text::encode(&mut out, &self.registry),
            Format::OpenMetrics => text::encode(&mut out, &self.registry),
        };
        encoded.expect("writing to a String does not fail");
        out
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;

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
}
