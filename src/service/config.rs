//! Service config: every knob of the HTTP service with its default and the reason for its bound. It is
//! the configuration schema's service section: `ServiceConfig` is deserialized as it is (serde, unknown
//! keys refused, missing keys from `Default`), each value by its own form (`values`), then checked
//! (`validate`). The binary layers the TOML file, `TWS_` environment variables and flags over it
//! (`docs/config.md`); the library never reads the environment itself. A leaf: it imports nothing of the
//! service.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

mod clients;
pub mod job_store;
mod validate;
pub mod values;

pub use clients::{ClientRules, ForwardedHeader};
pub use job_store::{JobStoreLocation, JobStoreTls, PostgresUrl};
pub use validate::InvalidSetting;
pub use values::{RateLimit, SERVER_KEY_FILE_NAME, parse_duration, parse_rate, validate_origin, validate_webhook_url};

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

impl std::fmt::Display for PlainKeyPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            PlainKeyPolicy::Loopback => "loopback",
            PlainKeyPolicy::Always => "always",
            PlainKeyPolicy::Never => "never",
        })
    }
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

impl std::fmt::Display for UnsyncedNode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            UnsyncedNode::Stale => "stale",
            UnsyncedNode::Wait => "wait",
        })
    }
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

/// The HTTP service's configuration: the schema's service section (every field but the few marked
/// `skip` is a key of the same name).
#[derive(Debug, Clone, serde::Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServiceConfig {
    /// Holds the job store (`jobs.sqlite`), the sealed result files (`results/`) and, unless
    /// `server_key_file` puts it elsewhere, the sealing key (`server-key`).
    pub data_dir: PathBuf,
    /// The sealing key's file, kept apart from the job store: a copy of the data directory (a backup)
    /// then opens no envelope. `None`: `DATA_DIR/server-key`. Created (0600) if missing.
    pub server_key_file: Option<PathBuf>,
    /// A rotation's next key: accepted, not yet advertised, so every replica opens envelopes sealed to it
    /// before any replica hands it out (`docs/fleet.md`). Must exist; never created.
    pub next_server_key_file: Option<PathBuf>,
    /// A rotation's previous key: still accepted (envelopes sealed to it before the switch, jobs queued
    /// with it) and named by `GET /api/v1/server-key`, until the operator drops it. Must exist.
    pub previous_server_key_file: Option<PathBuf>,
    /// The output cache the scans read.
    #[serde(skip)]
    pub cache_dir: PathBuf,
    /// Serve HTTPS (ALPN h2 and http/1.1) instead of cleartext HTTP/1.1 + h2c.
    #[serde(skip)]
    pub tls: Option<TlsPaths>,
    /// How long a finished job's file (or failure) stays available: `TWS_RESULT_TTL`.
    #[serde(with = "values::duration")]
    pub result_ttl: Duration,
    /// An envelope sealed more than this before or after the server's clock is refused; the server
    /// remembers every envelope it opened for this long after its timestamp, so none can be replayed.
    #[serde(with = "values::duration")]
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
    #[serde(with = "values::duration")]
    pub batch_delay: Duration,
    /// Scan threads (0: one per core).
    pub scan_threads: usize,
    /// Attempts of a job whose scan or build failed for a service-side reason.
    pub max_attempts: u32,
    /// Longest a job's file may take to build, from its scan's end; past it the job fails with
    /// `BUILD_TIMEOUT` and its scan thread is free again. A 100,000-output wallet builds in under 20 s on
    /// two cores, so the default leaves a whale's wallet room while no crafted wallet holds a thread for
    /// long.
    #[serde(with = "values::duration")]
    pub build_timeout: Duration,
    /// Period of the background check of the served cache (every byte against its checksum, one segment
    /// at a time at a fifth of a core), which reports damage on `/ready` (`CACHE_DAMAGED`); zero turns it
    /// off. Each segment is checked once when first mapped anyway; this finds what rots later.
    #[serde(with = "values::duration")]
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
    #[serde(with = "values::duration")]
    pub idle_timeout: Duration,
    /// A connection's time with no request open, summed over its life: beyond it the connection is
    /// closed the next time it is idle, so one cheap request every `idle_timeout` cannot hold a slot.
    #[serde(with = "values::duration")]
    pub connection_idle_budget: Duration,
    /// Jobs one client may have waiting in the queue or scanning: the work one address can line up.
    pub max_queued_per_client: usize,
    /// Jobs one client may hold at once, queued, scanning and finished (until their files expire), so a
    /// few addresses cannot fill `max_jobs_held` with cheap jobs.
    pub max_jobs_per_client: usize,
    /// Output-keys (each output from a job's birthday to the tip, tested against its key) one client may
    /// have scanned per window: a genesis wallet costs the whole chain, a young one a little, so the
    /// budget prices what a client asks of the scanner, not how many times it asks.
    #[serde(with = "values::text")]
    pub client_scan_budget: RateLimit,
    /// Output-keys one pass takes at most (its first job whatever it costs), so young wallets are not held
    /// behind a pass of old ones; 0: as many as `pass_target` lasts at the measured pace.
    pub max_pass_output_keys: u64,
    /// How long a pass should last when `max_pass_output_keys` is 0.
    #[serde(with = "values::duration")]
    pub pass_target: Duration,
    /// Bytes of finished files held in memory; beyond it the least recently downloaded are read from
    /// their sealed copies on disk when next asked for.
    pub max_held_bytes: u64,
    /// Bytes of finished files one client may hold (in memory or on disk) before it may submit again.
    pub max_held_bytes_per_client: u64,
    /// Largest request body. A submission is under 2 KiB; anything bigger is not one.
    pub max_body_bytes: usize,
    /// Time to receive a request's headers (slowloris).
    #[serde(with = "values::duration")]
    pub header_timeout: Duration,
    /// Time to receive a body and answer (not the SSE stream or the download, which are long by nature).
    #[serde(with = "values::duration")]
    pub request_timeout: Duration,
    /// Time given to open connections to finish after shutdown starts.
    #[serde(with = "values::duration")]
    pub drain_timeout: Duration,
    /// Interval of SSE keep-alive comments: below the idle timeouts of common proxies (60 s).
    #[serde(with = "values::duration")]
    pub sse_keep_alive: Duration,
    /// Event streams open at once per job: a wallet needs one; a few allow reconnect overlap.
    pub max_sse_per_job: usize,
    /// Event streams open at once per client (its address bucket): an open stream keeps its connection,
    /// so this bounds the connections one address can hold without sending anything.
    pub max_sse_per_client: usize,
    /// How long an events ticket (`POST .../events-ticket`, for a browser's `EventSource`) may wait for
    /// its one use: long enough for a page to open its stream, short enough that a leaked URL is useless.
    #[serde(with = "values::duration")]
    pub events_ticket_ttl: Duration,
    /// Submissions per client IP.
    #[serde(with = "values::text")]
    pub submit_rate_per_ip: RateLimit,
    /// Syncs of one wallet (its public keys), the product's "how often a wallet may be synced".
    #[serde(with = "values::text")]
    pub sync_rate_per_wallet: RateLimit,
    /// All API requests per client IP (status polling included).
    #[serde(with = "values::text")]
    pub request_rate_per_ip: RateLimit,
    /// Requests per client IP to the unauthenticated operations routes (`/health`, `/live`, `/ready`,
    /// `/metrics`, unknown paths), per port. Probes and scrapers ask every few seconds, so the API's
    /// default (600/m) leaves them room to spare while a flood gets 429 at 10/s.
    #[serde(with = "values::text")]
    pub ops_rate_per_ip: RateLimit,
    /// The operator's own listener (cleartext HTTP/1.1 + h2c, operations routes only). Set: `/metrics`
    /// is served there and nowhere else, so the public port never shows the service's numbers.
    #[serde(with = "values::optional_text")]
    pub metrics_listen: Option<SocketAddr>,
    /// Distinct clients (and IPv6 aggregates) and wallets each rate limiter remembers; beyond it the
    /// least recently seen is forgotten, so a newcomer is never refused for room.
    pub max_tracked_clients: usize,
    /// An IPv6 aggregate (`ClientRules::ipv6_aggregate_prefix_len`) may have this many times each
    /// per-client limit (submissions, API and operations requests, connections, event streams).
    pub ipv6_aggregate_multiple: u32,
    #[serde(with = "values::text")]
    pub plain_view_key: PlainKeyPolicy,
    /// Who a request is from: trusted proxies, the IPv6 prefix one client holds.
    #[serde(skip)]
    pub clients: ClientRules,
    /// Jobs while the node says it is not synced.
    #[serde(with = "values::text")]
    pub unsynced_node: UnsyncedNode,
    /// Prefix of job ids naming this replica behind a load balancer.
    #[serde(with = "values::optional_text")]
    pub replica_id: Option<String>,
    /// How long a replica of a fleet (a shared job store) holds a job it scans without renewing: it
    /// renews every third of it, and another replica takes the job over once it ends.
    #[serde(with = "values::duration")]
    pub job_lease: Duration,
    /// Browser origins (`https://wallet.example`) whose pages may call the API (CORS); none by default,
    /// so no other site's page can read an answer.
    #[serde(with = "values::list")]
    pub cors_origins: Vec<String>,
    /// The operator's endpoints for job events (`ready`, `failed`, `expired`): never a URL a request
    /// names, so the service cannot be made to call a stranger's address.
    #[serde(with = "values::list")]
    pub webhook_urls: Vec<String>,
    /// The file holding the webhooks' shared signing secret, read once at start.
    pub webhook_secret_file: Option<PathBuf>,
    /// Attempts of one delivery before it is dropped (and counted).
    pub webhook_max_attempts: u32,
    /// The wait after a delivery's first failed attempt; it doubles after each further one ...
    #[serde(with = "values::duration")]
    pub webhook_retry_base: Duration,
    /// ... up to this.
    #[serde(with = "values::duration")]
    pub webhook_retry_max: Duration,
    /// Deliveries queued per endpoint at most; beyond it the oldest is dropped (and counted) for the new.
    pub webhook_max_queued: u64,
    /// Failed attempts in a row after which an endpoint's breaker opens: its deliveries wait untried.
    pub webhook_breaker_failures: u32,
    /// How long an open breaker waits before one probe; doubling while probes fail, up to
    /// `webhook_retry_max`.
    #[serde(with = "values::duration")]
    pub webhook_breaker_cooldown: Duration,
    /// A TCP connection to an endpoint not made within this fails the attempt.
    #[serde(with = "values::duration")]
    pub webhook_connect_timeout: Duration,
    /// An attempt with no answer (status line) within this fails.
    #[serde(with = "values::duration")]
    pub webhook_attempt_timeout: Duration,
    /// CA certificates (PEM) trusted for `https://` endpoints beside Mozilla's roots.
    pub webhook_ca_file: Option<PathBuf>,
    /// Where jobs are kept: `sqlite` (`DATA_DIR/jobs.sqlite`, one replica) or a PostgreSQL URL that
    /// every replica shares. Shown (logs, errors) with its password replaced.
    #[serde(with = "values::text")]
    pub job_store: JobStoreLocation,
    /// How connections to a PostgreSQL job store are secured.
    #[serde(with = "values::text")]
    pub job_store_tls: JobStoreTls,
    /// CA certificates (PEM) trusted for a `verify-full` job store beside Mozilla's roots.
    pub job_store_ca_file: Option<PathBuf>,
    /// Connections to a PostgreSQL job store at most: the service writes a few rows per job and holds a
    /// connection only for a statement or a short transaction, so a few serve hundreds of jobs a second;
    /// each is a server process on the database's side.
    pub job_store_pool: usize,
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
            cache_dir: cache_dir.into(),
            ..ServiceConfig::default()
        }
    }
}

/// Where the data directory is when none is configured: relative to the working directory.
pub const DEFAULT_DATA_DIR: &str = "tws-data";

impl Default for ServiceConfig {
    /// Every key's default (the data directory `DEFAULT_DATA_DIR`, its demo chain's cache).
    fn default() -> ServiceConfig {
        let data_dir = PathBuf::from(DEFAULT_DATA_DIR);
        ServiceConfig {
            cache_dir: data_dir.join("demo/cache"),
            data_dir,
            server_key_file: None,
            next_server_key_file: None,
            previous_server_key_file: None,
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
            job_lease: Duration::from_secs(30),
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
            job_store: JobStoreLocation::Sqlite,
            job_store_tls: JobStoreTls::Disable,
            job_store_ca_file: None,
            job_store_pool: 8,
        }
    }
}

#[cfg(test)]
mod tests;
