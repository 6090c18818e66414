//! Metrics: the service's counters, gauges and histograms in one `prometheus-client` registry, encoded
//! for `/metrics`. Owns the numbers only; the job domain, the scheduler and the HTTP layer record into them
//! as things happen (jobs move their own `tws_jobs{state}` count as they change state), so a scrape
//! reads atomics: never the job store, never a walk over the jobs. The few values owned elsewhere (queue
//! length, sealed keys held, the source's lifecycle and tips) are handed to `render` as a `Scrape`,
//! each an O(1) reading of its owner.

use std::{
    sync::{Arc, Mutex},
    time::SystemTime,
};

use prometheus_client::{
    encoding::{EncodeLabelSet, prometheus_text, text},
    metrics::{counter::Counter, family::Family, gauge::Gauge},
    registry::{Registry, Unit},
};

mod format;
mod instruments;

pub use format::Format;
use instruments::StateLabel;
pub use instruments::{Count, JobGauges, Level, Timing};

use crate::service::{
    chain::lifecycle::{Lifecycle, SourceReport},
    webhook::{BreakerState, DropReason, endpoint::Endpoints},
};

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
mod tests;
