//! Metrics: the service's counters, gauges and histograms, rendered in the Prometheus text format for
//! `/metrics`. Owns the numbers only; the engine and the HTTP layer record into it, `/metrics` adds the
//! live gauges (jobs by state, queue depth, lifecycle, cache and node tips) at render time.

use std::{
    collections::BTreeMap,
    fmt::Write,
    sync::{
        Mutex,
        atomic::{AtomicI64, AtomicU64, Ordering},
    },
    time::{Duration, SystemTime},
};

use super::lifecycle::{Lifecycle, SourceReport};

/// Bucket bounds in seconds: a job is expected in well under 30 s, a pass of many keys may take minutes.
const BUCKETS: [f64; 12] = [0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0];

/// A Prometheus histogram of durations.
#[derive(Default)]
pub struct Histogram {
    counts: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

impl Histogram {
    pub fn observe(&self, duration: Duration) {
        let seconds = duration.as_secs_f64();
        for (bound, count) in BUCKETS.iter().zip(&self.counts) {
            if seconds <= *bound {
                count.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_micros
            .fetch_add(duration.as_micros() as u64, Ordering::Relaxed);
    }

    /// The mean of the observations, if any.
    pub fn mean(&self) -> Option<Duration> {
        let count = self.count.load(Ordering::Relaxed);
        (count > 0).then(|| Duration::from_micros(self.sum_micros.load(Ordering::Relaxed) / count))
    }

    fn render(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        for (bound, count) in BUCKETS.iter().zip(&self.counts) {
            let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {}", count.load(Ordering::Relaxed));
        }
        let count = self.count.load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {count}");
        let sum = self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "{name}_sum {sum}\n{name}_count {count}");
    }
}

/// Every number the service reports.
#[derive(Default)]
pub struct Metrics {
    http: Mutex<BTreeMap<(&'static str, u16), u64>>,
    pub jobs_submitted: AtomicU64,
    pub jobs_deduplicated: AtomicU64,
    pub jobs_ready: AtomicU64,
    pub jobs_retried: AtomicU64,
    jobs_failed: Mutex<BTreeMap<&'static str, u64>>,
    rate_limited: Mutex<BTreeMap<&'static str, u64>>,
    /// Submission to ready.
    pub job_duration: Histogram,
    /// One scan pass, all its keys.
    pub pass_duration: Histogram,
    /// Building one job's file from its scan result.
    pub build_duration: Histogram,
    /// Outputs read by scan passes.
    pub outputs_scanned: AtomicU64,
    /// Outputs times keys tested.
    pub key_outputs_scanned: AtomicU64,
    pub passes: AtomicU64,
    /// Finished files written to disk, sealed (they survive a restart).
    pub result_files_written: AtomicU64,
    /// Finished files (or their keys) that could not be stored: served from memory, lost on restart.
    pub result_file_failures: AtomicU64,
    /// Files opened from disk after a restart.
    pub results_reopened: AtomicU64,
    pub connections: AtomicI64,
    pub connections_refused: AtomicU64,
    pub sse_subscribers: AtomicI64,
}

/// Values read at render time from their owners.
pub struct LiveGauges {
    pub jobs_by_state: Vec<(&'static str, u64)>,
    pub queue_depth: u64,
    pub keys_held: u64,
    pub source: SourceReport,
    pub now: SystemTime,
}

impl Metrics {
    pub fn http_response(&self, route: &'static str, status: u16) {
        let mut map = self.http.lock().unwrap_or_else(|p| p.into_inner());
        *map.entry((route, status)).or_default() += 1;
    }

    pub fn job_failed(&self, code: &'static str) {
        let mut map = self.jobs_failed.lock().unwrap_or_else(|p| p.into_inner());
        *map.entry(code).or_default() += 1;
    }

    pub fn rate_limited(&self, scope: &'static str) {
        let mut map = self.rate_limited.lock().unwrap_or_else(|p| p.into_inner());
        *map.entry(scope).or_default() += 1;
    }

    /// The Prometheus text exposition (format 0.0.4).
    pub fn render(&self, live: &LiveGauges) -> String {
        let mut out = String::with_capacity(4096);
        let counter = |out: &mut String, name: &str, help: &str, value: u64| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}");
        };
        let gauge = |out: &mut String, name: &str, help: &str, value: i64| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}");
        };
        let _ = writeln!(out, "# HELP tws_jobs Jobs held, by state.\n# TYPE tws_jobs gauge");
        for (state, count) in &live.jobs_by_state {
            let _ = writeln!(out, "tws_jobs{{state=\"{state}\"}} {count}");
        }
        gauge(
            &mut out,
            "tws_queue_depth",
            "Jobs waiting for a scan pass.",
            live.queue_depth as i64,
        );
        gauge(
            &mut out,
            "tws_sealed_keys_held",
            "Jobs whose sealed key is still stored.",
            live.keys_held as i64,
        );
        let source = &live.source;
        let known = |value: Option<u64>| value.map_or(-1, |v| v as i64);
        gauge(
            &mut out,
            "tws_cache_tip_height",
            "Height of the cache's tip (-1: empty).",
            known(source.cache_tip_height),
        );
        gauge(
            &mut out,
            "tws_cache_outputs",
            "Outputs in the cache.",
            source.cache_outputs as i64,
        );
        gauge(
            &mut out,
            "tws_node_tip_height",
            "Height of the node's tip as last heard from (-1: unknown).",
            known(source.node_tip_height),
        );
        gauge(
            &mut out,
            "tws_cache_tip_age_seconds",
            "Age of the cache's tip block (-1: empty cache).",
            known(source.tip_age(live.now).map(|d| d.as_secs())),
        );
        let import = source.import.unwrap_or_default();
        gauge(
            &mut out,
            "tws_import_done",
            "Blocks imported so far by a running import.",
            import.done as i64,
        );
        gauge(
            &mut out,
            "tws_import_total",
            "Blocks a running import will import (0: unknown or none).",
            import.total as i64,
        );
        let _ = writeln!(
            out,
            "# HELP tws_lifecycle_state The service's lifecycle: 1 for the current state.\n# TYPE tws_lifecycle_state gauge"
        );
        for state in Lifecycle::ALL {
            let on = u8::from(state == source.lifecycle);
            let _ = writeln!(out, "tws_lifecycle_state{{state=\"{}\"}} {on}", state.name());
        }
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        counter(
            &mut out,
            "tws_jobs_submitted_total",
            "Jobs accepted.",
            load(&self.jobs_submitted),
        );
        counter(
            &mut out,
            "tws_jobs_deduplicated_total",
            "Submissions answered with an existing job.",
            load(&self.jobs_deduplicated),
        );
        counter(
            &mut out,
            "tws_jobs_ready_total",
            "Jobs that produced a file.",
            load(&self.jobs_ready),
        );
        counter(
            &mut out,
            "tws_jobs_retried_total",
            "Job attempts repeated after a service-side failure.",
            load(&self.jobs_retried),
        );
        let _ = writeln!(
            out,
            "# HELP tws_jobs_failed_total Jobs that failed, by code.\n# TYPE tws_jobs_failed_total counter"
        );
        for (code, count) in self.jobs_failed.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            let _ = writeln!(out, "tws_jobs_failed_total{{code=\"{code}\"}} {count}");
        }
        let _ = writeln!(
            out,
            "# HELP tws_rate_limited_total Requests refused by a rate limit, by scope.\n# TYPE tws_rate_limited_total counter"
        );
        for (scope, count) in self.rate_limited.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            let _ = writeln!(out, "tws_rate_limited_total{{scope=\"{scope}\"}} {count}");
        }
        counter(
            &mut out,
            "tws_scan_passes_total",
            "Scan passes run.",
            load(&self.passes),
        );
        counter(
            &mut out,
            "tws_outputs_scanned_total",
            "Outputs read by scan passes.",
            load(&self.outputs_scanned),
        );
        counter(
            &mut out,
            "tws_key_outputs_scanned_total",
            "Output and key pairs tested by scan passes.",
            load(&self.key_outputs_scanned),
        );
        counter(
            &mut out,
            "tws_result_files_written_total",
            "Finished files stored on disk, sealed.",
            load(&self.result_files_written),
        );
        counter(
            &mut out,
            "tws_result_file_failures_total",
            "Finished files or file keys that could not be stored (lost on a restart).",
            load(&self.result_file_failures),
        );
        counter(
            &mut out,
            "tws_results_reopened_total",
            "Stored files opened after a restart.",
            load(&self.results_reopened),
        );
        self.job_duration
            .render(&mut out, "tws_job_duration_seconds", "Submission to ready, per job.");
        self.pass_duration.render(
            &mut out,
            "tws_scan_pass_duration_seconds",
            "One scan pass, all its keys.",
        );
        self.build_duration.render(
            &mut out,
            "tws_build_duration_seconds",
            "Building one job's file from its scan.",
        );
        gauge(
            &mut out,
            "tws_connections",
            "Open connections.",
            self.connections.load(Ordering::Relaxed),
        );
        counter(
            &mut out,
            "tws_connections_refused_total",
            "Connections turned away at the connection limit.",
            load(&self.connections_refused),
        );
        gauge(
            &mut out,
            "tws_sse_subscribers",
            "Open event streams.",
            self.sse_subscribers.load(Ordering::Relaxed),
        );
        let _ = writeln!(
            out,
            "# HELP tws_http_responses_total HTTP responses by route and status.\n# TYPE tws_http_responses_total counter"
        );
        for ((route, status), count) in self.http.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            let _ = writeln!(
                out,
                "tws_http_responses_total{{route=\"{route}\",status=\"{status}\"}} {count}"
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_gauges_and_histograms() {
        let metrics = Metrics::default();
        metrics.http_response("submit", 202);
        metrics.http_response("submit", 202);
        metrics.job_failed("SCAN_FAILED");
        metrics.job_duration.observe(Duration::from_millis(700));
        let text = metrics.render(&LiveGauges {
            jobs_by_state: vec![("queued", 2), ("ready", 1)],
            queue_depth: 2,
            keys_held: 2,
            source: SourceReport {
                lifecycle: Lifecycle::Degraded,
                cache_tip_height: Some(99),
                cache_tip_time: Some(1_000),
                cache_outputs: 2000,
                node_tip_height: None,
                import: None,
                fault: None,
                degraded_since: None,
            },
            now: SystemTime::UNIX_EPOCH + Duration::from_secs(1_060),
        });
        assert!(text.contains("tws_http_responses_total{route=\"submit\",status=\"202\"} 2\n"));
        assert!(text.contains("tws_jobs{state=\"queued\"} 2\n"));
        assert!(text.contains("tws_jobs_failed_total{code=\"SCAN_FAILED\"} 1\n"));
        assert!(text.contains("tws_job_duration_seconds_bucket{le=\"0.5\"} 0\n"));
        assert!(text.contains("tws_job_duration_seconds_bucket{le=\"1\"} 1\n"));
        assert!(text.contains("tws_job_duration_seconds_count 1\n"));
        assert!(text.contains("tws_cache_tip_height 99\n"));
        assert!(text.contains("tws_node_tip_height -1\n"));
        assert!(text.contains("tws_cache_tip_age_seconds 60\n"));
        assert!(text.contains("tws_lifecycle_state{state=\"degraded\"} 1\n"));
        assert!(text.contains("tws_lifecycle_state{state=\"ready\"} 0\n"));
        assert_eq!(text.matches("tws_lifecycle_state{").count(), Lifecycle::ALL.len());
    }
}
