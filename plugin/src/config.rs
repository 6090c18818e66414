//! Config: the plugin's one typed configuration, from (highest first) command-line flags, `TWS_*`
//! environment variables, and the `[wallet_sync]` section of a TOML file, over the library's defaults.
//! Every key is listed in `KEYS` and documented in `docs/config.md`; an unknown key or `TWS_*` variable
//! is refused (`env`). No secret is ever read from here: the server key's file is only named
//! (`server_key_file`, or systemd's `$CREDENTIALS_DIRECTORY/server-key`).

use std::{
    collections::BTreeMap,
    net::SocketAddr,
    path::{Path, PathBuf},
    time::Duration,
};

use anyhow::{Context, Result, anyhow, bail};
use tari_wallet_sync::{
    network::{self, Network},
    service::{ForwardedHeader, PlainKeyPolicy, ServiceConfig, TlsPaths, parse_duration, parse_rate},
};

/// Every key: the TOML name; the environment variable is `TWS_` + its upper case.
pub const KEYS: &[&str] = &[
    "data_dir",
    "listen",
    "cache_dir",
    "node_url",
    "lmdb_dir",
    "poll_interval",
    "full_outputs",
    "network",
    "tls_cert",
    "tls_key",
    "result_ttl",
    "submission_window",
    "max_queued_jobs",
    "max_jobs_held",
    "max_batch_keys",
    "batch_delay",
    "scan_threads",
    "max_attempts",
    "build_timeout",
    "cache_verify_interval",
    "max_connections",
    "max_connections_per_ip",
    "idle_timeout",
    "connection_idle_budget",
    "max_queued_per_client",
    "max_jobs_per_client",
    "client_scan_budget",
    "max_pass_output_keys",
    "pass_target",
    "max_held_bytes",
    "max_held_bytes_per_client",
    "max_body_bytes",
    "header_timeout",
    "request_timeout",
    "drain_timeout",
    "sse_keep_alive",
    "max_sse_per_job",
    "max_sse_per_client",
    "events_ticket_ttl",
    "submit_rate_per_ip",
    "sync_rate_per_wallet",
    "request_rate_per_ip",
    "ops_rate_per_ip",
    "metrics_listen",
    "max_tracked_clients",
    "plain_view_key",
    "trusted_proxies",
    "forwarded_header",
    "ipv6_prefix_len",
    "ipv6_aggregate_prefix_len",
    "ipv6_aggregate_multiple",
    "unsynced_node",
    "replica_id",
    "cors_origins",
    "webhook_urls",
    "webhook_secret_file",
    "webhook_max_attempts",
    "webhook_retry_base",
    "webhook_retry_max",
    "webhook_max_queued",
    "webhook_breaker_failures",
    "webhook_breaker_cooldown",
    "webhook_connect_timeout",
    "webhook_attempt_timeout",
    "webhook_ca_file",
    "server_key_file",
];

/// Older names still accepted, and the key each stands for.
pub const ALIASES: &[(&str, &str)] = &[("cache", "cache_dir")];

pub const DEFAULT_DATA_DIR: &str = "tws-data";
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// The network assumed when neither the configuration nor the data says which (`network::settle`).
pub const DEFAULT_NETWORK: Network = Network::MainNet;
/// Between polls of the node at its tip: Tari blocks come every two minutes; 5 s notices one promptly
/// at the cost of two small requests.
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(5);

/// The server key's name among systemd's credentials (`LoadCredential=server-key:...`): used when
/// `$CREDENTIALS_DIRECTORY` holds it and no `server_key_file` is configured.
pub const CREDENTIAL_NAME: &str = "server-key";

/// A configuration that cannot be served, with its stable code (`cli::report`).
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("unknown environment variable {name}{}", nearest.as_ref().map(|n| format!("; did you mean {n}?")).unwrap_or_default())]
    UnknownVariable { name: String, nearest: Option<String> },
    /// A configuration was given (a file, `TWS_*` variables) but no chain to serve: the demo chain is
    /// only for a start with nothing configured, never a fallback that says `ready` for the wrong chain.
    #[error("the configuration ({configured_by}) names no chain to serve: set node_url, lmdb_dir or cache_dir")]
    NoSource { configured_by: String },
}

impl ConfigError {
    pub fn code(&self) -> &'static str {
        match self {
            ConfigError::UnknownVariable { .. } => "UNKNOWN_VARIABLE",
            ConfigError::NoSource { .. } => "NO_SOURCE",
        }
    }
}

/// What the flags say (each overrides the environment and the file).
#[derive(Debug, Default, Clone)]
pub struct Flags {
    pub config: Option<PathBuf>,
    pub data_dir: Option<PathBuf>,
    pub listen: Option<String>,
    pub cache_dir: Option<PathBuf>,
    pub node_url: Option<String>,
    pub lmdb_dir: Option<PathBuf>,
    pub metrics_listen: Option<String>,
}

/// The resolved configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    /// The configured cache directory. Unset: `serve` builds a demo chain in `DATA_DIR/demo`, or, with a
    /// node (`node_url`, or the in-process feed), keeps the node's chain in `DATA_DIR/cache`.
    pub cache_dir: Option<PathBuf>,
    /// The node's HTTP wallet query service; set: `serve` follows it into the cache.
    pub node_url: Option<String>,
    /// A stopped node's LMDB directory (or a copy taken while it was stopped); set: `serve` first imports
    /// it into the node cache (`node_cache_dir`), then follows `node_url` or serves the cache as it is.
    pub lmdb_dir: Option<PathBuf>,
    pub poll_interval: Duration,
    /// Also fetch every block's full outputs (scripts, output types, maturities) into the cache while
    /// following. Off by default: jobs fetch the few full outputs they need (about ten times faster to
    /// follow); on, the cache holds every output's details too.
    pub full_outputs: bool,
    /// The configured network, if any. What a run uses is settled against what the data says (a node
    /// database's genesis, an existing cache, the node's genesis): see `network::settle`.
    pub network: Option<Network>,
    /// The service's settings; its `cache_dir` is the directory the service reads (see `cache_dir`).
    pub service: ServiceConfig,
    /// Where each value came from, for the startup log.
    pub sources: BTreeMap<String, String>,
    /// What configured this run besides flags: the file read and every `TWS_*` variable but `TWS_LOG`.
    /// Empty: nothing at all was configured.
    pub configured_by: Vec<String>,
}

impl Config {
    /// The defaults, with the data directory `data_dir`: what an empty configuration resolves to.
    pub fn new(data_dir: impl Into<PathBuf>) -> Config {
        let data_dir = data_dir.into();
        Config {
            listen: DEFAULT_LISTEN.parse().expect("a valid default"),
            cache_dir: None,
            node_url: None,
            lmdb_dir: None,
            poll_interval: DEFAULT_POLL_INTERVAL,
            full_outputs: false,
            network: None,
            service: ServiceConfig::new(&data_dir, data_dir.join("demo/cache")),
            sources: BTreeMap::new(),
            configured_by: Vec::new(),
        }
    }

    /// Whether `serve` builds and serves the demo chain: only when no source is set and nothing at all
    /// was configured (no file, no `TWS_*` variable); a configuration without a source is refused.
    pub fn serves_demo(&self) -> Result<bool, ConfigError> {
        if self.cache_dir.is_some() || self.node_url.is_some() || self.lmdb_dir.is_some() {
            return Ok(false);
        }
        if self.configured_by.is_empty() {
            return Ok(true);
        }
        Err(ConfigError::NoSource {
            configured_by: self.configured_by.join(", "),
        })
    }

    /// The cache a node's chain goes into: `cache_dir`, else `DATA_DIR/cache`.
    pub fn node_cache_dir(&self) -> PathBuf {
        node_cache_dir(self.cache_dir.as_deref(), &self.service.data_dir)
    }

    /// Resolves the configuration in the TOML file `path` (its `[wallet_sync]` section) under the
    /// process's `TWS_*` variables: for a node embedding the plugin beside its own configuration.
    pub fn from_file(path: impl Into<PathBuf>) -> Result<Config> {
        load(&Flags {
            config: Some(path.into()),
            ..Flags::default()
        })
    }
}

fn node_cache_dir(cache_dir: Option<&Path>, data_dir: &Path) -> PathBuf {
    cache_dir.map_or_else(|| data_dir.join("cache"), Path::to_path_buf)
}

/// The environment variable systemd sets to the directory of a service's credentials.
const CREDENTIALS_DIRECTORY: &str = "CREDENTIALS_DIRECTORY";

/// Resolves the configuration from `flags`, the process environment and the file.
pub fn load(flags: &Flags) -> Result<Config> {
    let env: BTreeMap<String, String> = std::env::vars()
        .filter(|(k, _)| k.starts_with(env::PREFIX) || k == CREDENTIALS_DIRECTORY)
        .collect();
    resolve(flags, &env)
}

/// `env`: the process's `TWS_*` variables (and `CREDENTIALS_DIRECTORY`, if set).
fn resolve(flags: &Flags, env: &BTreeMap<String, String>) -> Result<Config> {
    env::check(env)?;
    let mut values: BTreeMap<String, (String, String)> = BTreeMap::new();
    let file = flags
        .config
        .clone()
        .or_else(|| env.get("TWS_CONFIG").map(PathBuf::from));
    let configured_by: Vec<String> = file
        .iter()
        .map(|path| path.display().to_string())
        .chain(
            env.keys()
                .filter(|name| name.starts_with(env::PREFIX) && *name != env::LOG_VARIABLE && *name != "TWS_CONFIG")
                .cloned(),
        )
        .collect();
    if let Some(path) = &file {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let mut in_file = file_values(&text).with_context(|| format!("in {}", path.display()))?;
        // An alias yields to its key when both are given.
        in_file.sort_by_key(|(key, _)| KEYS.contains(&key.as_str()));
        for (key, value) in in_file {
            values.insert(canonical(&key).to_string(), (value, path.display().to_string()));
        }
    }
    let env_names = ALIASES
        .iter()
        .map(|(alias, key)| (*alias, *key))
        .chain(KEYS.iter().map(|k| (*k, *k)));
    for (name, key) in env_names {
        let name = env::variable(name);
        if let Some(value) = env.get(&name) {
            values.insert(key.to_string(), (value.clone(), name));
        }
    }
    let flag_values = [
        ("data_dir", flags.data_dir.as_ref().map(|p| p.display().to_string())),
        ("listen", flags.listen.clone()),
        ("cache_dir", flags.cache_dir.as_ref().map(|p| p.display().to_string())),
        ("node_url", flags.node_url.clone()),
        ("lmdb_dir", flags.lmdb_dir.as_ref().map(|p| p.display().to_string())),
        ("metrics_listen", flags.metrics_listen.clone()),
    ];
    for (key, value) in flag_values {
        if let Some(value) = value {
            values.insert(key.to_string(), (value, format!("--{}", key.replace('_', "-"))));
        }
    }

    let get = |key: &str| values.get(key).map(|(v, _)| v.as_str());
    let named = |key: &str| {
        let (value, source) = &values[key];
        format!("{key} = {value:?} (from {source})")
    };
    let data_dir = PathBuf::from(get("data_dir").unwrap_or(DEFAULT_DATA_DIR));
    let cache_dir = get("cache_dir").map(PathBuf::from);
    let listen_text = get("listen").unwrap_or(DEFAULT_LISTEN);
    let listen = listen_text
        .parse()
        .map_err(|_| anyhow!("listen = {listen_text:?} is not an address such as 127.0.0.1:8080"))?;
    let node_url = get("node_url")
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .map(String::from);
    if let Some(url) = &node_url
        && !url.starts_with("http://")
    {
        bail!(
            "{}: the node's query service is plain http://host:port",
            named("node_url")
        );
    }
    let poll_interval = match get("poll_interval") {
        Some(text) => parse_duration(text)
            .map_err(|e| anyhow!(e))
            .and_then(|d| {
                if d.is_zero() {
                    Err(anyhow!("must not be zero"))
                } else {
                    Ok(d)
                }
            })
            .with_context(|| named("poll_interval"))?,
        None => DEFAULT_POLL_INTERVAL,
    };
    let full_outputs = match get("full_outputs") {
        Some(text) => text
            .trim()
            .parse::<bool>()
            .map_err(|_| anyhow!("{}: use true or false", named("full_outputs")))?,
        None => false,
    };
    let lmdb_dir = get("lmdb_dir").map(PathBuf::from);
    let network = get("network")
        .map(|name| {
            network::parse(name)
                .map_err(|e| anyhow!(e))
                .with_context(|| named("network"))
        })
        .transpose()?;
    // The directory the service reads: the configured one, else where the node's chain or the demo
    // chain goes.
    let service_cache = match (&cache_dir, node_url.is_some() || lmdb_dir.is_some()) {
        (Some(dir), _) => dir.clone(),
        (None, true) => node_cache_dir(None, &data_dir),
        (None, false) => data_dir.join("demo/cache"),
    };
    let mut service = ServiceConfig::new(&data_dir, service_cache);
    for (key, (value, source)) in &values {
        apply(&mut service, key, value).with_context(|| format!("{key} = {value:?} (from {source})"))?;
    }
    service.tls = match (get("tls_cert"), get("tls_key")) {
        (Some(cert), Some(key)) => Some(TlsPaths {
            cert: cert.into(),
            key: key.into(),
        }),
        (None, None) => None,
        _ => bail!("tls_cert and tls_key go together"),
    };
    // A credential systemd hands the service (`LoadCredential=server-key:...`), unless a file is named.
    if service.server_key_file.is_none()
        && let Some(dir) = env.get(CREDENTIALS_DIRECTORY)
    {
        let credential = Path::new(dir).join(CREDENTIAL_NAME);
        if credential.is_file() {
            service.server_key_file = Some(credential);
            values.insert(
                "server_key_file".into(),
                (String::new(), format!("${CREDENTIALS_DIRECTORY}")),
            );
        }
    }
    // Values the service cannot run with (a zero interval, a century-long window) stop the start here,
    // named, rather than as a panic later.
    service.validate().map_err(|reason| {
        let source = reason
            .split(':')
            .next()
            .and_then(|key| values.get(key.split_whitespace().next().unwrap_or(key)))
            .map(|(_, source)| format!(" (from {source})"))
            .unwrap_or_default();
        anyhow!("{reason}{source}")
    })?;
    Ok(Config {
        listen,
        cache_dir,
        node_url,
        lmdb_dir,
        poll_interval,
        full_outputs,
        network,
        service,
        sources: values.into_iter().map(|(k, (_, source))| (k, source)).collect(),
        configured_by,
    })
}

/// The `[wallet_sync]` section as strings; unknown keys are refused (a typo must not pass silently).
fn file_values(text: &str) -> Result<Vec<(String, String)>> {
    let document: toml::Table = text.parse()?;
    let Some(section) = document.get("wallet_sync") else {
        return Ok(Vec::new());
    };
    let section = section
        .as_table()
        .ok_or_else(|| anyhow!("[wallet_sync] must be a table"))?;
    section
        .iter()
        .map(|(key, value)| {
            if !KEYS.contains(&key.as_str()) && !ALIASES.iter().any(|(alias, _)| alias == key) {
                bail!("unknown key `{key}` in [wallet_sync]");
            }
            let value = match value {
                toml::Value::String(s) => s.clone(),
                toml::Value::Integer(i) => i.to_string(),
                toml::Value::Boolean(b) => b.to_string(),
                // A list (`trusted_proxies`) is read as its comma-separated form.
                toml::Value::Array(items) => items
                    .iter()
                    .map(|item| match item {
                        toml::Value::String(s) => Ok(s.clone()),
                        other => bail!("`{key}` lists strings, not {}", other.type_str()),
                    })
                    .collect::<Result<Vec<_>>>()?
                    .join(","),
                other => bail!("`{key}` must be a string or a number, not {}", other.type_str()),
            };
            Ok((key.clone(), value))
        })
        .collect()
}

/// The key an alias stands for (a key stands for itself).
fn canonical(key: &str) -> &str {
    ALIASES
        .iter()
        .find(|(alias, _)| *alias == key)
        .map_or(key, |(_, key)| key)
}

fn number<T: std::str::FromStr>(value: &str) -> Result<T> {
    value.trim().parse().map_err(|_| anyhow!("not a number"))
}

fn apply(service: &mut ServiceConfig, key: &str, value: &str) -> Result<()> {
    let duration = |v: &str| parse_duration(v).map_err(|e| anyhow!(e));
    let rate = |v: &str| parse_rate(v).map_err(|e| anyhow!(e));
    match key {
        // Resolved by `resolve` itself.
        "data_dir" | "listen" | "cache_dir" | "tls_cert" | "tls_key" | "node_url" | "lmdb_dir" | "poll_interval"
        | "full_outputs" | "network" => {}
        "result_ttl" => service.result_ttl = duration(value)?,
        "submission_window" => service.submission_window = duration(value)?,
        "max_queued_jobs" => service.max_queued_jobs = number(value)?,
        "max_jobs_held" => service.max_jobs_held = number(value)?,
        "max_batch_keys" => service.max_batch_keys = number(value)?,
        "batch_delay" => service.batch_delay = duration(value)?,
        "scan_threads" => service.scan_threads = number(value)?,
        "max_attempts" => service.max_attempts = number(value)?,
        "build_timeout" => service.build_timeout = duration(value)?,
        "cache_verify_interval" => service.cache_verify_interval = duration(value)?,
        "max_connections" => service.max_connections = number(value)?,
        "max_connections_per_ip" => service.max_connections_per_ip = number(value)?,
        "idle_timeout" => service.idle_timeout = duration(value)?,
        "connection_idle_budget" => service.connection_idle_budget = duration(value)?,
        "max_queued_per_client" => service.max_queued_per_client = number(value)?,
        "max_jobs_per_client" => service.max_jobs_per_client = number(value)?,
        "client_scan_budget" => service.client_scan_budget = rate(value)?,
        "max_pass_output_keys" => service.max_pass_output_keys = number(value)?,
        "pass_target" => service.pass_target = duration(value)?,
        "max_held_bytes" => service.max_held_bytes = number(value)?,
        "max_held_bytes_per_client" => service.max_held_bytes_per_client = number(value)?,
        "max_body_bytes" => service.max_body_bytes = number(value)?,
        "header_timeout" => service.header_timeout = duration(value)?,
        "request_timeout" => service.request_timeout = duration(value)?,
        "drain_timeout" => service.drain_timeout = duration(value)?,
        "sse_keep_alive" => service.sse_keep_alive = duration(value)?,
        "max_sse_per_job" => service.max_sse_per_job = number(value)?,
        "max_sse_per_client" => service.max_sse_per_client = number(value)?,
        "events_ticket_ttl" => service.events_ticket_ttl = duration(value)?,
        "submit_rate_per_ip" => service.submit_rate_per_ip = rate(value)?,
        "sync_rate_per_wallet" => service.sync_rate_per_wallet = rate(value)?,
        "request_rate_per_ip" => service.request_rate_per_ip = rate(value)?,
        "ops_rate_per_ip" => service.ops_rate_per_ip = rate(value)?,
        "metrics_listen" => {
            let addr = value
                .trim()
                .parse()
                .map_err(|_| anyhow!("not an address such as 127.0.0.1:9102"))?;
            service.metrics_listen = Some(addr);
        }
        "max_tracked_clients" => service.max_tracked_clients = number(value)?,
        "plain_view_key" => service.plain_view_key = value.parse::<PlainKeyPolicy>().map_err(|e| anyhow!(e))?,
        "trusted_proxies" => {
            service.clients.trusted_proxies = value
                .split(',')
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(|p| {
                    p.parse::<ipnet::IpNet>()
                        .or_else(|_| p.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                        .map_err(|_| anyhow!("`{p}` is not an address or CIDR such as 10.0.0.0/8"))
                })
                .collect::<Result<_>>()?;
        }
        "forwarded_header" => {
            service.clients.forwarded_header = value.parse::<ForwardedHeader>().map_err(|e| anyhow!(e))?;
        }
        "ipv6_prefix_len" => service.clients.ipv6_prefix_len = number(value)?,
        "ipv6_aggregate_prefix_len" => service.clients.ipv6_aggregate_prefix_len = number(value)?,
        "ipv6_aggregate_multiple" => service.ipv6_aggregate_multiple = number(value)?,
        // Checked one by one with the rest of the service's values (`ServiceConfig::validate`).
        "webhook_urls" => {
            service.webhook_urls = value
                .split(',')
                .map(str::trim)
                .filter(|u| !u.is_empty())
                .map(String::from)
                .collect();
        }
        // Paths only: the secrets are read once at start and never kept in the configuration.
        "server_key_file" => service.server_key_file = Some(PathBuf::from(value.trim())),
        "webhook_secret_file" => service.webhook_secret_file = Some(PathBuf::from(value.trim())),
        "webhook_max_attempts" => service.webhook_max_attempts = number(value)?,
        "webhook_retry_base" => service.webhook_retry_base = duration(value)?,
        "webhook_retry_max" => service.webhook_retry_max = duration(value)?,
        "webhook_max_queued" => service.webhook_max_queued = number(value)?,
        "webhook_breaker_failures" => service.webhook_breaker_failures = number(value)?,
        "webhook_breaker_cooldown" => service.webhook_breaker_cooldown = duration(value)?,
        "webhook_connect_timeout" => service.webhook_connect_timeout = duration(value)?,
        "webhook_attempt_timeout" => service.webhook_attempt_timeout = duration(value)?,
        // Read (and checked) once at start, with the secret.
        "webhook_ca_file" => service.webhook_ca_file = Some(PathBuf::from(value.trim())),
        "cors_origins" => {
            service.cors_origins = value
                .split(',')
                .map(str::trim)
                .filter(|o| !o.is_empty())
                .map(String::from)
                .collect();
        }
        "unsynced_node" => service.unsynced_node = value.parse().map_err(|e: String| anyhow!(e))?,
        "replica_id" => {
            let valid =
                !value.is_empty() && value.len() <= 32 && value.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
            if !valid {
                bail!("use up to 32 letters, digits or underscores");
            }
            service.replica_id = Some(value.to_string());
        }
        other => bail!("unknown key `{other}`"),
    }
    Ok(())
}

mod env;
#[cfg(test)]
mod tests;
