//! Service config: every knob of the HTTP service with its default and the reason for its bound. The
//! binary fills it from flags, `TWS_` environment variables and the TOML file (`docs/config.md`); the
//! library never reads the environment itself.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

mod values;

pub use values::{SERVER_KEY_FILE_NAME, validate_origin, validate_webhook_url};

pub use super::client::{ClientRules, ForwardedHeader};

/// Who may send a plain (unsealed) `view_key`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlainKeyPolicy {
    /// Only peers on the loopback interface (a wallet on the same machine). Behind a reverse proxy on the
    /// same machine every peer is loopback: choose `never` there.
    Loopback,
    /// Anyone (the operator accepts keys that only TLS protects).
    Always,
    /// Nobody: every view key must be sealed.
    Never,
}

impl std::str::FromStr for PlainKeyPolicy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "loopback" => Ok(PlainKeyPolicy::Loopback),
            "always" => Ok(PlainKeyPolicy::Always),
            "never" => Ok(PlainKeyPolicy::Never),
            other => Err(format!("`{other}` is not one of loopback, always, never")),
        }
    }
}

/// What jobs do while the node says it is not synced (its tip may be far behind the network's).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UnsyncedNode {
    /// Scan what the cache has and mark the files `stale` (a lone test node says it is not synced
    /// forever, so waiting would never end there).
    #[default]
    Stale,
    /// Keep jobs queued until the node says it is synced.
    Wait,
}

impl std::str::FromStr for UnsyncedNode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "stale" => Ok(UnsyncedNode::Stale),
            "wait" => Ok(UnsyncedNode::Wait),
            other => Err(format!("`{other}` is not one of stale, wait")),
        }
    }
}

/// PEM files of the TLS certificate chain and private key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsPaths {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// A token bucket: `per_window` requests per `window` on average, bursts of up to `per_window`.
/// `per_window == 0` turns the limit off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub per_window: u32,
    pub window: Duration,
}

impl RateLimit {
    pub const OFF: RateLimit = RateLimit {
        per_window: 0,
        window: Duration::from_secs(1),
    };
}

/// The HTTP service's configuration.
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    /// Holds the job store (`jobs.sqlite`), the sealed result files (`results/`) and, unless
    /// `server_key_file` puts it elsewhere, the sealing key (`server-key`).
    pub data_dir: PathBuf,
    /// The sealing key's file, kept apart from the job store: a copy of the data directory (a backup)
    /// then opens no envelope. `None`: `DATA_DIR/server-key`. Created (0600) if missing.
    pub server_key_file: Option<PathBuf>,
    /// The output cache the scans read.
    pub cache_dir: PathBuf,
    /// Serve HTTPS (ALPN h2 and http/1.1) instead of cleartext HTTP/1.1 + h2c.
    pub tls: Option<TlsPaths>,
    /// How long a finished job's file (or failure) stays available: `TWS_RESULT_TTL`.
    pub result_ttl: Duration,
    /// An envelope sealed more than this before or after the server's clock is refused; the server
    /// remembers every envelope it opened for this long after its timestamp, so none can be replayed.
    pub submission_window: Duration,
    /// Jobs waiting for a scan. Beyond it submissions get 503 + Retry-After: a queue longer than a few
    /// passes only makes every wallet wait longer.
    pub max_queued_jobs: usize,
    /// Jobs held in memory at once, finished ones (and their files) included until they expire. Beyond
    /// it submissions get 503: files live in memory, so this bounds memory with the result TTL.
    pub max_jobs_held: usize,
    /// Wallets scanned together in one pass. Each key adds one scalar multiplication per output, so a pass
    /// of 64 keys takes ~64x one key: the bound keeps the first job of a pass from waiting too long.
    pub max_batch_keys: usize,
    /// A pass waits this long after the first queued job for others to join it.
    pub batch_delay: Duration,
    /// Scan threads (0: one per core).
    pub scan_threads: usize,
    /// Attempts of a job whose scan or build failed for a service-side reason.
    pub max_attempts: u32,
    /// Longest a job's file may take to build, from its scan's end; past it the job fails with
    /// `BUILD_TIMEOUT` and its scan thread is free again. A 100,000-output wallet builds in under 20 s on
    /// two cores, so the default leaves a whale's wallet room while no crafted wallet holds a thread for
    /// long.
    pub build_timeout: Duration,
    /// Period of the background check of the served cache (every byte against its checksum, one segment
    /// at a time at a fifth of a core), which reports damage on `/ready` (`CACHE_DAMAGED`); zero turns it
    /// off. Each segment is checked once when first mapped anyway; this finds what rots later.
    pub cache_verify_interval: Duration,
    /// Open connections. Beyond it a connection gets one 503 and is closed: each connection costs memory
    /// and a task, and a few hundred wallets at once are far beyond one node's scan capacity.
    pub max_connections: usize,
    /// Open connections from one client (its address bucket): a wallet needs one or two (events and
    /// download share an HTTP/2 connection), so one address cannot hold the whole pool. The last quarter
    /// of `max_connections` is kept for clients holding only a few.
    pub max_connections_per_ip: usize,
    /// A connection with no request open for this long is closed (HTTP/1.1 keep-alive and HTTP/2 alike;
    /// HTTP/2 control frames are not requests; an open event stream or download is).
    pub idle_timeout: Duration,
    /// A connection's time with no request open, summed over its life: beyond it the connection is
    /// closed the next time it is idle, so one cheap request every `idle_timeout` cannot hold a slot.
    pub connection_idle_budget: Duration,
    /// Jobs one client may have waiting in the queue or scanning: the work one address can line up.
    pub max_queued_per_client: usize,
    /// Jobs one client may hold at once, queued, scanning and finished (until their files expire), so a
    /// few addresses cannot fill `max_jobs_held` with cheap jobs.
    pub max_jobs_per_client: usize,
    /// Output-keys (each output from a job's birthday to the tip, tested against its key) one client may
    /// have scanned per window: a genesis wallet costs the whole chain, a young one a little, so the
    /// budget prices what a client asks of the scanner, not how many times it asks.
    pub client_scan_budget: RateLimit,
    /// Output-keys one pass takes at most (its first job whatever it costs), so young wallets are not held
    /// behind a pass of old ones; 0: as many as `pass_target` lasts at the measured pace.
    pub max_pass_output_keys: u64,
    /// How long a pass should last when `max_pass_output_keys` is 0.
    pub pass_target: Duration,
    /// Bytes of finished files held in memory; beyond it the least recently downloaded are read from
    /// their sealed copies on disk when next asked for.
    pub max_held_bytes: u64,
    /// Bytes of finished files one client may hold (in memory or on disk) before it may submit again.
    pub max_held_bytes_per_client: u64,
    /// Largest request body. A submission is under 2 KiB; anything bigger is not one.
    pub max_body_bytes: usize,
    /// Time to receive a request's headers (slowloris).
    pub header_timeout: Duration,
    /// Time to receive a body and answer (not the SSE stream or the download, which are long by nature).
    pub request_timeout: Duration,
    /// Time given to open connections to finish after shutdown starts.
    pub drain_timeout: Duration,
    /// Interval of SSE keep-alive comments: below the idle timeouts of common proxies (60 s).
    pub sse_keep_alive: Duration,
    /// Event streams open at once per job: a wallet needs one; a few allow reconnect overlap.
    pub max_sse_per_job: usize,
    /// Event streams open at once per client (its address bucket): an open stream keeps its connection,
    /// so this bounds the connections one address can hold without sending anything.
    pub max_sse_per_client: usize,
    /// How long an events ticket (`POST .../events-ticket`, for a browser's `EventSource`) may wait for
    /// its one use: long enough for a page to open its stream, short enough that a leaked URL is useless.
    pub events_ticket_ttl: Duration,
    /// Submissions per client IP.
    pub submit_rate_per_ip: RateLimit,
    /// Syncs of one wallet (its public keys), the product's "how often a wallet may be synced".
    pub sync_rate_per_wallet: RateLimit,
    /// All API requests per client IP (status polling included).
    pub request_rate_per_ip: RateLimit,
    /// Requests per client IP to the unauthenticated operations routes (`/health`, `/live`, `/ready`,
    /// `/metrics`, unknown paths), per port. Probes and scrapers ask every few seconds, so the API's
    /// default (600/m) leaves them room to spare while a flood gets 429 at 10/s.
    pub ops_rate_per_ip: RateLimit,
    /// The operator's own listener (cleartext HTTP/1.1 + h2c, operations routes only). Set: `/metrics`
    /// is served there and nowhere else, so the public port never shows the service's numbers.
    pub metrics_listen: Option<SocketAddr>,
    /// Distinct clients (and IPv6 aggregates) and wallets each rate limiter remembers; beyond it the
    /// least recently seen is forgotten, so a newcomer is never refused for room.
    pub max_tracked_clients: usize,
    /// An IPv6 aggregate (`ClientRules::ipv6_aggregate_prefix_len`) may have this many times each
    /// per-client limit (submissions, API and operations requests, connections, event streams).
    pub ipv6_aggregate_multiple: u32,
    pub plain_view_key: PlainKeyPolicy,
    /// Who a request is from: trusted proxies, the IPv6 prefix one client holds.
    pub clients: ClientRules,
    /// Jobs while the node says it is not synced.
    pub unsynced_node: UnsyncedNode,
    /// Prefix of job ids naming this replica behind a load balancer.
    pub replica_id: Option<String>,
    /// Browser origins (`https://wallet.example`) whose pages may call the API (CORS); none by default,
    /// so no other site's page can read an answer.
    pub cors_origins: Vec<String>,
    /// The operator's endpoints for job events (`ready`, `failed`, `expired`): never a URL a request
    /// names, so the service cannot be made to call a stranger's address.
    pub webhook_urls: Vec<String>,
    /// The file holding the webhooks' shared signing secret, read once at start.
    pub webhook_secret_file: Option<PathBuf>,
    /// Attempts of one delivery before it is dropped (and counted).
    pub webhook_max_attempts: u32,
    /// The wait after a delivery's first failed attempt; it doubles after each further one ...
    pub webhook_retry_base: Duration,
    /// ... up to this.
    pub webhook_retry_max: Duration,
    /// Deliveries queued per endpoint at most; beyond it the oldest is dropped (and counted) for the new.
    pub webhook_max_queued: u64,
    /// Failed attempts in a row after which an endpoint's breaker opens: its deliveries wait untried.
    pub webhook_breaker_failures: u32,
    /// How long an open breaker waits before one probe; doubling while probes fail, up to
    /// `webhook_retry_max`.
    pub webhook_breaker_cooldown: Duration,
    /// A TCP connection to an endpoint not made within this fails the attempt.
    pub webhook_connect_timeout: Duration,
    /// An attempt with no answer (status line) within this fails.
    pub webhook_attempt_timeout: Duration,
    /// CA certificates (PEM) trusted for `https://` endpoints beside Mozilla's roots.
    pub webhook_ca_file: Option<PathBuf>,
}

/// Most connections `max_connections` may allow: what a tokio `Semaphore` holds (`usize::MAX >> 3`).
pub const MAX_CONNECTIONS_LIMIT: usize = tokio::sync::Semaphore::MAX_PERMITS;
/// Most scan threads: far above any machine's cores; rayon allocates per thread, so a typo such as a
/// number of bytes would exhaust memory before a single scan.
pub const MAX_SCAN_THREADS: usize = 4096;

impl ServiceConfig {
    /// The sealing key's file: `server_key_file`, else `DATA_DIR/server-key`.
    pub fn server_key_path(&self) -> PathBuf {
        self.server_key_file
            .clone()
            .unwrap_or_else(|| self.data_dir.join(SERVER_KEY_FILE_NAME))
    }

    /// Defaults for a data directory and a cache.
    pub fn new(data_dir: impl Into<PathBuf>, cache_dir: impl Into<PathBuf>) -> ServiceConfig {
        ServiceConfig {
            data_dir: data_dir.into(),
            server_key_file: None,
            cache_dir: cache_dir.into(),
            tls: None,
            result_ttl: Duration::from_secs(3600),
            submission_window: Duration::from_secs(600),
            max_queued_jobs: 256,
            max_jobs_held: 10_000,
            max_batch_keys: 64,
            batch_delay: Duration::from_millis(100),
            scan_threads: 0,
            max_attempts: 3,
            build_timeout: Duration::from_secs(600),
            cache_verify_interval: Duration::from_secs(6 * 3600),
            max_connections: 512,
            max_connections_per_ip: 32,
            idle_timeout: Duration::from_secs(60),
            connection_idle_budget: Duration::from_secs(600),
            max_queued_per_client: 8,
            max_jobs_per_client: 32,
            // About 8 genesis wallets of a 30-million-output chain per hour.
            client_scan_budget: RateLimit {
                per_window: 250_000_000,
                window: Duration::from_secs(3600),
            },
            max_pass_output_keys: 0,
            pass_target: Duration::from_secs(15),
            max_held_bytes: 1 << 30,
            max_held_bytes_per_client: 512 << 20,
            max_body_bytes: 16 * 1024,
            header_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            drain_timeout: Duration::from_secs(10),
            sse_keep_alive: Duration::from_secs(15),
            max_sse_per_job: 4,
            max_sse_per_client: 8,
            events_ticket_ttl: Duration::from_secs(60),
            submit_rate_per_ip: RateLimit {
                per_window: 30,
                window: Duration::from_secs(3600),
            },
            sync_rate_per_wallet: RateLimit {
                per_window: 6,
                window: Duration::from_secs(3600),
            },
            request_rate_per_ip: RateLimit {
                per_window: 600,
                window: Duration::from_secs(60),
            },
            ops_rate_per_ip: RateLimit {
                per_window: 600,
                window: Duration::from_secs(60),
            },
            metrics_listen: None,
            max_tracked_clients: 100_000,
            ipv6_aggregate_multiple: 4,
            plain_view_key: PlainKeyPolicy::Never,
            clients: ClientRules::default(),
            unsynced_node: UnsyncedNode::Stale,
            replica_id: None,
            cors_origins: Vec::new(),
            webhook_urls: Vec::new(),
            webhook_secret_file: None,
            webhook_max_attempts: 12,
            webhook_retry_base: Duration::from_secs(5),
            webhook_retry_max: Duration::from_secs(3600),
            webhook_max_queued: 10_000,
            webhook_breaker_failures: 5,
            webhook_breaker_cooldown: Duration::from_secs(30),
            webhook_connect_timeout: Duration::from_secs(5),
            webhook_attempt_timeout: Duration::from_secs(10),
            webhook_ca_file: None,
        }
    }

    /// Refuses values the service cannot run with, each with a message naming the key: a zero interval
    /// (a timer that never ticks), a span so long that adding it to a clock overflows, a bound of zero.
    pub fn validate(&self) -> Result<(), String> {
        /// A century: anything longer is a mistake, and far below what overflows a clock.
        const LONGEST: Duration = Duration::from_secs(100 * 365 * 86_400);
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
                return Err(format!("{key}: {span:?} is longer than a century"));
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
                return Err(format!("{key} must not be zero"));
            }
        }
        let counts = [
            ("max_queued_jobs", self.max_queued_jobs),
            ("max_jobs_held", self.max_jobs_held),
            ("max_batch_keys", self.max_batch_keys),
            ("max_connections", self.max_connections),
            ("max_connections_per_ip", self.max_connections_per_ip),
            ("max_queued_per_client", self.max_queued_per_client),
            ("max_jobs_per_client", self.max_jobs_per_client),
            ("max_body_bytes", self.max_body_bytes),
            ("max_sse_per_job", self.max_sse_per_job),
            ("max_sse_per_client", self.max_sse_per_client),
            ("max_tracked_clients", self.max_tracked_clients),
            ("ipv6_aggregate_multiple", self.ipv6_aggregate_multiple as usize),
        ];
        for (key, count) in counts {
            if count == 0 {
                return Err(format!("{key} must be at least 1"));
            }
        }
        if self.sse_keep_alive >= self.idle_timeout {
            return Err(format!(
                "sse_keep_alive: {:?} is not below idle_timeout ({:?}): idle event streams would be closed",
                self.sse_keep_alive, self.idle_timeout
            ));
        }
        for origin in &self.cors_origins {
            validate_origin(origin).map_err(|e| format!("cors_origins: {e}"))?;
        }
        for (position, url) in self.webhook_urls.iter().enumerate() {
            validate_webhook_url(url).map_err(|e| format!("webhook_urls: {e}"))?;
            if self.webhook_urls[..position].contains(url) {
                return Err(format!("webhook_urls: `{url}` is listed twice"));
            }
        }
        if !self.webhook_urls.is_empty() && self.webhook_secret_file.is_none() {
            return Err("webhook_urls: deliveries are signed; set webhook_secret_file too".into());
        }
        if self.webhook_max_attempts == 0 {
            return Err("webhook_max_attempts must be at least 1".into());
        }
        if self.webhook_max_queued == 0 {
            return Err("webhook_max_queued must be at least 1".into());
        }
        if self.webhook_breaker_failures == 0 {
            return Err("webhook_breaker_failures must be at least 1".into());
        }
        if self.webhook_retry_max < self.webhook_retry_base {
            return Err(format!(
                "webhook_retry_max: {:?} is below webhook_retry_base ({:?})",
                self.webhook_retry_max, self.webhook_retry_base
            ));
        }
        if self.max_held_bytes_per_client == 0 {
            return Err("max_held_bytes_per_client must be at least 1".into());
        }
        if self.max_attempts == 0 {
            return Err("max_attempts must be at least 1".into());
        }
        if self.max_connections > MAX_CONNECTIONS_LIMIT {
            return Err(format!(
                "max_connections: {} is more than the {MAX_CONNECTIONS_LIMIT} this server can count",
                self.max_connections
            ));
        }
        if self.scan_threads > MAX_SCAN_THREADS {
            return Err(format!(
                "scan_threads: {} is more than {MAX_SCAN_THREADS}; 0 takes one per core",
                self.scan_threads
            ));
        }
        if self
            .server_key_file
            .as_ref()
            .is_some_and(|p| p.as_os_str().is_empty() || p.ends_with(".."))
        {
            return Err("server_key_file: name a file, such as /etc/tari-wallet-sync/server-key".into());
        }
        if self.clients.ipv6_prefix_len > 128 {
            return Err(format!(
                "ipv6_prefix_len: {} is longer than an address (128)",
                self.clients.ipv6_prefix_len
            ));
        }
        // An aggregate no wider than a client's prefix is no aggregate (`ClientRules::of`): allowed.
        if self.clients.ipv6_aggregate_prefix_len > 128 {
            return Err(format!(
                "ipv6_aggregate_prefix_len: {} is longer than an address (128)",
                self.clients.ipv6_aggregate_prefix_len
            ));
        }
        if self.connection_idle_budget < self.idle_timeout {
            return Err(format!(
                "connection_idle_budget: {:?} is below idle_timeout ({:?})",
                self.connection_idle_budget, self.idle_timeout
            ));
        }
        Ok(())
    }
}

/// Parses a duration such as `3600`, `90s`, `10m`, `1h`, `2d` or `250ms`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number.parse().map_err(|_| format!("`{text}` is not a duration"))?;
    let seconds = match unit.trim() {
        "ms" => return Ok(Duration::from_millis(number)),
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86400,
        _ => return Err(format!("`{text}`: use s, m, h, d or ms")),
    };
    number
        .checked_mul(seconds)
        .map(Duration::from_secs)
        .ok_or_else(|| format!("`{text}` is too long"))
}

/// Parses a rate such as `6/h`, `30/m`, `10/s` or `0` (off).
pub fn parse_rate(text: &str) -> Result<RateLimit, String> {
    let text = text.trim();
    if text == "0" || text == "off" {
        return Ok(RateLimit::OFF);
    }
    let (count, per) = text
        .split_once('/')
        .ok_or_else(|| format!("`{text}` is not a rate such as 6/h"))?;
    let per_window: u32 = count.trim().parse().map_err(|_| format!("`{text}` is not a rate"))?;
    let window = match per.trim() {
        "s" => Duration::from_secs(1),
        "m" => Duration::from_secs(60),
        "h" => Duration::from_secs(3600),
        "d" => Duration::from_secs(86400),
        other => parse_duration(other)?,
    };
    if window.is_zero() {
        return Err(format!("`{text}`: the window must not be zero"));
    }
    Ok(RateLimit { per_window, window })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_durations_and_rates() {
        assert_eq!(parse_duration("3600").unwrap(), Duration::from_secs(3600));
        assert_eq!(parse_duration("1h").unwrap(), Duration::from_secs(3600));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert!(parse_duration("1y").is_err());
        assert!(parse_duration("h").is_err());
        assert_eq!(
            parse_rate("6/h").unwrap(),
            RateLimit {
                per_window: 6,
                window: Duration::from_secs(3600)
            }
        );
        assert_eq!(parse_rate("0").unwrap(), RateLimit::OFF);
        assert_eq!(parse_rate("5/10m").unwrap().window, Duration::from_secs(600));
        assert!(parse_rate("5").is_err());
    }

    #[test]
    fn values_the_service_cannot_run_with_are_refused_by_name() {
        let good = ServiceConfig::new("d", "c");
        good.validate().unwrap();
        let mut zero_keep_alive = good.clone();
        zero_keep_alive.sse_keep_alive = Duration::ZERO;
        assert!(zero_keep_alive.validate().unwrap_err().contains("sse_keep_alive"));
        let mut huge_ttl = good.clone();
        huge_ttl.result_ttl = Duration::from_secs(u64::MAX);
        assert!(huge_ttl.validate().unwrap_err().contains("result_ttl"));
        let mut huge_window = good.clone();
        huge_window.submit_rate_per_ip.window = Duration::from_secs(u64::MAX / 2);
        assert!(huge_window.validate().unwrap_err().contains("submit_rate_per_ip"));
        let mut no_build_time = good.clone();
        no_build_time.build_timeout = Duration::ZERO;
        assert!(no_build_time.validate().unwrap_err().contains("build_timeout"));
        let mut no_verify = good.clone();
        no_verify.cache_verify_interval = Duration::ZERO;
        no_verify
            .validate()
            .expect("a zero verify interval turns the check off");
        // 585 years: past what governor's nanosecond clock holds (it panicked at start).
        let mut huge_ops_window = good.clone();
        huge_ops_window.ops_rate_per_ip = parse_rate("1/213525d").unwrap();
        assert!(huge_ops_window.validate().unwrap_err().contains("ops_rate_per_ip"));
        let mut too_many_connections = good.clone();
        too_many_connections.max_connections = usize::MAX;
        assert!(too_many_connections.validate().unwrap_err().contains("max_connections"));
        too_many_connections.max_connections = MAX_CONNECTIONS_LIMIT;
        too_many_connections.validate().unwrap();
        let mut threads = good.clone();
        threads.scan_threads = usize::MAX;
        assert!(threads.validate().unwrap_err().contains("scan_threads"));
        let mut key_file = good.clone();
        key_file.server_key_file = Some(PathBuf::new());
        assert!(key_file.validate().unwrap_err().contains("server_key_file"));
        let mut no_queue = good.clone();
        no_queue.max_queued_jobs = 0;
        assert!(no_queue.validate().unwrap_err().contains("max_queued_jobs"));
        let mut keep_alive_too_slow = good.clone();
        keep_alive_too_slow.sse_keep_alive = keep_alive_too_slow.idle_timeout;
        assert!(keep_alive_too_slow.validate().unwrap_err().contains("idle_timeout"));
        let mut origins = good.clone();
        origins.cors_origins = vec!["https://wallet.example/".into()];
        assert!(origins.validate().unwrap_err().contains("cors_origins"));
        let mut hooks = good.clone();
        hooks.webhook_urls = vec!["http://127.0.0.1:9/hooks".into()];
        assert!(hooks.validate().unwrap_err().contains("webhook_secret_file"));
        hooks.webhook_secret_file = Some("secret".into());
        hooks.validate().unwrap();
        hooks.webhook_urls = vec!["https://hooks.example/".into()];
        hooks.validate().unwrap();
        hooks.webhook_urls = vec!["ftp://hooks.example/".into()];
        assert!(hooks.validate().unwrap_err().contains("webhook_urls"));
        hooks.webhook_urls = vec!["https://hooks.example/a".into(), "https://hooks.example/a".into()];
        assert!(hooks.validate().unwrap_err().contains("listed twice"));
        hooks.webhook_urls = vec!["https://hooks.example/a".into()];
        for (key, broken) in [
            ("webhook_max_queued", {
                let mut c = hooks.clone();
                c.webhook_max_queued = 0;
                c
            }),
            ("webhook_breaker_failures", {
                let mut c = hooks.clone();
                c.webhook_breaker_failures = 0;
                c
            }),
            ("webhook_connect_timeout", {
                let mut c = hooks.clone();
                c.webhook_connect_timeout = Duration::ZERO;
                c
            }),
            ("webhook_attempt_timeout", {
                let mut c = hooks.clone();
                c.webhook_attempt_timeout = Duration::ZERO;
                c
            }),
            ("webhook_breaker_cooldown", {
                let mut c = hooks.clone();
                c.webhook_breaker_cooldown = Duration::from_secs(u64::MAX / 2);
                c
            }),
        ] {
            assert!(broken.validate().unwrap_err().contains(key), "{key}");
        }
        let mut prefix = good.clone();
        prefix.clients.ipv6_prefix_len = 129;
        assert!(prefix.validate().unwrap_err().contains("ipv6_prefix_len"));
        let mut aggregate = good.clone();
        aggregate.clients.ipv6_aggregate_prefix_len = 129;
        assert!(aggregate.validate().unwrap_err().contains("ipv6_aggregate_prefix_len"));
        let mut budget = good.clone();
        budget.connection_idle_budget = Duration::from_secs(30);
        assert!(budget.validate().unwrap_err().contains("connection_idle_budget"));
        let mut streams = good;
        streams.max_sse_per_client = 0;
        assert!(streams.validate().unwrap_err().contains("max_sse_per_client"));
    }

    #[test]
    fn plain_key_policy_parses() {
        assert_eq!("never".parse::<PlainKeyPolicy>().unwrap(), PlainKeyPolicy::Never);
        assert!("sometimes".parse::<PlainKeyPolicy>().is_err());
    }
}
