//! Validation: the values the service cannot run with (a zero interval, a span that overflows a clock, a
//! bound of zero, limits past what the server can count), refused with the key they belong to. Each
//! value's syntax is `values`'; this is what a well-formed value must also be.

use std::time::Duration;

use super::{
    JobStoreLocation, JobStoreTls, MAX_CONNECTIONS_LIMIT, MAX_SCAN_THREADS, ServiceConfig, validate_origin,
    validate_webhook_url,
};

/// A value the service cannot run with: its key (as the configuration names it) and why. Where the value
/// came from is the binary's to add (it knows the layers).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {reason}")]
pub struct InvalidSetting {
    pub key: &'static str,
    pub reason: String,
}

impl InvalidSetting {
    /// The stable code of every refused configuration value.
    pub const CODE: &'static str = "INVALID_VALUE";

    fn new(key: &'static str, reason: impl Into<String>) -> InvalidSetting {
        InvalidSetting {
            key,
            reason: reason.into(),
        }
    }
}

/// A century: anything longer is a mistake, and far below what overflows a clock.
const LONGEST: Duration = Duration::from_secs(100 * 365 * 86_400);

/// Most connections `job_store_pool` may open: each is a server process on the database's side, and a
/// PostgreSQL server allows 100 by default for all its clients.
const MAX_JOB_STORE_POOL: usize = 256;

/// Most letters of `replica_id`: it prefixes every job id.
const MAX_REPLICA_ID_LEN: usize = 32;
/// The shortest `job_lease`: renewed every third of it, a lease of less than 3 s would have a replica
/// write to the store every second per pass and lose jobs to a store that pauses for a moment.
const MIN_JOB_LEASE: Duration = Duration::from_secs(3);
/// The longest `job_lease`: a dead replica's jobs wait that long for another to take them over.
const MAX_JOB_LEASE: Duration = Duration::from_secs(3600);

impl ServiceConfig {
    /// Refuses values the service cannot run with, naming the key: a zero interval (a timer that never
    /// ticks), a span so long that adding it to a clock overflows, a bound of zero.
    pub fn validate(&self) -> Result<(), InvalidSetting> {
        self.check_spans()?;
        self.check_counts()?;
        self.check_edge()?;
        self.check_webhooks()?;
        self.check_job_store()?;
        self.check_files()
    }

    fn check_spans(&self) -> Result<(), InvalidSetting> {
        let spans = [
            ("result_ttl", self.result_ttl),
            ("submission_window", self.submission_window),
            ("batch_delay", self.batch_delay),
            ("header_timeout", self.header_timeout),
            ("request_timeout", self.request_timeout),
            ("drain_timeout", self.drain_timeout),
            ("sse_keep_alive", self.sse_keep_alive),
            ("idle_timeout", self.idle_timeout),
            ("connection_idle_budget", self.connection_idle_budget),
            ("events_ticket_ttl", self.events_ticket_ttl),
            ("webhook_retry_base", self.webhook_retry_base),
            ("webhook_retry_max", self.webhook_retry_max),
            ("webhook_breaker_cooldown", self.webhook_breaker_cooldown),
            ("webhook_connect_timeout", self.webhook_connect_timeout),
            ("webhook_attempt_timeout", self.webhook_attempt_timeout),
            ("build_timeout", self.build_timeout),
            ("cache_verify_interval", self.cache_verify_interval),
            ("submit_rate_per_ip", self.submit_rate_per_ip.window),
            ("sync_rate_per_wallet", self.sync_rate_per_wallet.window),
            ("request_rate_per_ip", self.request_rate_per_ip.window),
            ("client_scan_budget", self.client_scan_budget.window),
            ("pass_target", self.pass_target),
            ("ops_rate_per_ip", self.ops_rate_per_ip.window),
        ];
        for (key, span) in spans {
            if span > LONGEST {
                return Err(InvalidSetting::new(key, format!("{span:?} is longer than a century")));
            }
        }
        let nonzero = [
            ("result_ttl", self.result_ttl),
            ("submission_window", self.submission_window),
            ("header_timeout", self.header_timeout),
            ("request_timeout", self.request_timeout),
            ("sse_keep_alive", self.sse_keep_alive),
            ("idle_timeout", self.idle_timeout),
            ("events_ticket_ttl", self.events_ticket_ttl),
            ("webhook_retry_base", self.webhook_retry_base),
            ("webhook_breaker_cooldown", self.webhook_breaker_cooldown),
            ("webhook_connect_timeout", self.webhook_connect_timeout),
            ("webhook_attempt_timeout", self.webhook_attempt_timeout),
            ("pass_target", self.pass_target),
            ("build_timeout", self.build_timeout),
        ];
        for (key, span) in nonzero {
            if span.is_zero() {
                return Err(InvalidSetting::new(key, "must not be zero"));
            }
        }
        if self.job_lease < MIN_JOB_LEASE || self.job_lease > MAX_JOB_LEASE {
            return Err(InvalidSetting::new(
                "job_lease",
                format!(
                    "{:?} is not between {MIN_JOB_LEASE:?} and {MAX_JOB_LEASE:?}: it is renewed every third of it, \
                     and a dead replica's jobs wait that long",
                    self.job_lease
                ),
            ));
        }
        if self.sse_keep_alive >= self.idle_timeout {
            return Err(InvalidSetting::new(
                "sse_keep_alive",
                format!(
                    "{:?} is not below idle_timeout ({:?}): idle event streams would be closed",
                    self.sse_keep_alive, self.idle_timeout
                ),
            ));
        }
        if self.connection_idle_budget < self.idle_timeout {
            return Err(InvalidSetting::new(
                "connection_idle_budget",
                format!(
                    "{:?} is below idle_timeout ({:?})",
                    self.connection_idle_budget, self.idle_timeout
                ),
            ));
        }
        Ok(())
    }

    fn check_counts(&self) -> Result<(), InvalidSetting> {
        let counts = [
            ("max_queued_jobs", self.max_queued_jobs as u64),
            ("max_jobs_held", self.max_jobs_held as u64),
            ("max_batch_keys", self.max_batch_keys as u64),
            ("max_connections", self.max_connections as u64),
            ("max_connections_per_ip", self.max_connections_per_ip as u64),
            ("max_queued_per_client", self.max_queued_per_client as u64),
            ("max_jobs_per_client", self.max_jobs_per_client as u64),
            ("max_body_bytes", self.max_body_bytes as u64),
            ("max_sse_per_job", self.max_sse_per_job as u64),
            ("max_sse_per_client", self.max_sse_per_client as u64),
            ("max_tracked_clients", self.max_tracked_clients as u64),
            ("ipv6_aggregate_multiple", u64::from(self.ipv6_aggregate_multiple)),
            ("max_held_bytes_per_client", self.max_held_bytes_per_client),
            ("max_attempts", u64::from(self.max_attempts)),
            ("webhook_max_attempts", u64::from(self.webhook_max_attempts)),
            ("webhook_max_queued", self.webhook_max_queued),
            ("webhook_breaker_failures", u64::from(self.webhook_breaker_failures)),
        ];
        for (key, count) in counts {
            if count == 0 {
                return Err(InvalidSetting::new(key, "must be at least 1"));
            }
        }
        if self.max_connections > MAX_CONNECTIONS_LIMIT {
            return Err(InvalidSetting::new(
                "max_connections",
                format!(
                    "{} is more than the {MAX_CONNECTIONS_LIMIT} this server can count",
                    self.max_connections
                ),
            ));
        }
        if self.scan_threads > MAX_SCAN_THREADS {
            return Err(InvalidSetting::new(
                "scan_threads",
                format!(
                    "{} is more than {MAX_SCAN_THREADS}; 0 takes one per core",
                    self.scan_threads
                ),
            ));
        }
        Ok(())
    }

    fn check_edge(&self) -> Result<(), InvalidSetting> {
        if self.clients.ipv6_prefix_len > 128 {
            return Err(InvalidSetting::new(
                "ipv6_prefix_len",
                format!("{} is longer than an address (128)", self.clients.ipv6_prefix_len),
            ));
        }
        // An aggregate no wider than a client's prefix is no aggregate (`ClientRules::of`): allowed.
        if self.clients.ipv6_aggregate_prefix_len > 128 {
            return Err(InvalidSetting::new(
                "ipv6_aggregate_prefix_len",
                format!(
                    "{} is longer than an address (128)",
                    self.clients.ipv6_aggregate_prefix_len
                ),
            ));
        }
        for origin in &self.cors_origins {
            validate_origin(origin).map_err(|reason| InvalidSetting::new("cors_origins", reason))?;
        }
        if let Some(replica) = &self.replica_id {
            let valid = !replica.is_empty()
                && replica.len() <= MAX_REPLICA_ID_LEN
                && replica.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
            if !valid {
                return Err(InvalidSetting::new(
                    "replica_id",
                    format!("use up to {MAX_REPLICA_ID_LEN} letters, digits or underscores"),
                ));
            }
        }
        Ok(())
    }

    fn check_webhooks(&self) -> Result<(), InvalidSetting> {
        for (position, url) in self.webhook_urls.iter().enumerate() {
            validate_webhook_url(url).map_err(|reason| InvalidSetting::new("webhook_urls", reason))?;
            if self.webhook_urls[..position].contains(url) {
                return Err(InvalidSetting::new(
                    "webhook_urls",
                    format!("{} is listed twice", super::values::shown_url(url)),
                ));
            }
        }
        if !self.webhook_urls.is_empty() && self.webhook_secret_file.is_none() {
            return Err(InvalidSetting::new(
                "webhook_urls",
                "deliveries are signed; set webhook_secret_file too",
            ));
        }
        if self.webhook_retry_max < self.webhook_retry_base {
            return Err(InvalidSetting::new(
                "webhook_retry_max",
                format!(
                    "{:?} is below webhook_retry_base ({:?})",
                    self.webhook_retry_max, self.webhook_retry_base
                ),
            ));
        }
        Ok(())
    }

    fn check_job_store(&self) -> Result<(), InvalidSetting> {
        if self.job_store_pool == 0 || self.job_store_pool > MAX_JOB_STORE_POOL {
            return Err(InvalidSetting::new(
                "job_store_pool",
                format!("must be 1 to {MAX_JOB_STORE_POOL} connections"),
            ));
        }
        let postgres = matches!(self.job_store, JobStoreLocation::Postgres(_));
        if !postgres && self.job_store_tls != JobStoreTls::Disable {
            return Err(InvalidSetting::new(
                "job_store_tls",
                "applies to a PostgreSQL job_store only; the SQLite store makes no connection",
            ));
        }
        if self.job_store_ca_file.is_some() && self.job_store_tls != JobStoreTls::VerifyFull {
            return Err(InvalidSetting::new(
                "job_store_ca_file",
                "is read with job_store_tls = verify-full only (require does not check the certificate)",
            ));
        }
        Ok(())
    }

    fn check_files(&self) -> Result<(), InvalidSetting> {
        let key_files = [
            ("server_key_file", &self.server_key_file, "server-key"),
            ("next_server_key_file", &self.next_server_key_file, "server-key-next"),
            (
                "previous_server_key_file",
                &self.previous_server_key_file,
                "server-key-previous",
            ),
        ];
        for (key, path, example) in key_files {
            if path
                .as_ref()
                .is_some_and(|p| p.as_os_str().is_empty() || p.ends_with(".."))
            {
                return Err(InvalidSetting::new(
                    key,
                    format!("name a file, such as /etc/tari-wallet-sync/{example}"),
                ));
            }
        }
        // The same file in two roles is a rotation step half done; the keys themselves are compared when
        // they are loaded (a copy of a file is the same key too).
        let mut named: Vec<(&'static str, &std::path::Path)> = Vec::new();
        let current = self.server_key_path();
        named.push(("server_key_file", &current));
        for &(key, path, _) in &key_files[1..] {
            let Some(path) = path else { continue };
            if let Some((other, _)) = named.iter().find(|(_, seen)| *seen == path.as_path()) {
                return Err(InvalidSetting::new(
                    key,
                    format!("{} is {other} too; each role needs its own key file", path.display()),
                ));
            }
            named.push((key, path.as_path()));
        }
        Ok(())
    }
}
