//! Config: the binary's one typed configuration, from (highest first) command-line flags, `TWS_*`
//! environment variables, and the `[wallet_sync]` section of a TOML file, over the library's defaults.
//! Every key is listed in `KEYS` and documented in `docs/config.md`. No secret is ever read from here.

use std::{collections::BTreeMap, net::SocketAddr, path::PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use tari_wallet_sync::service::{PlainKeyPolicy, ServiceConfig, TlsPaths, parse_duration, parse_rate};

/// Every key: the TOML name; the environment variable is `TWS_` + its upper case.
pub const KEYS: &[&str] = &[
    "data_dir",
    "listen",
    "cache",
    "tls_cert",
    "tls_key",
    "result_ttl",
    "dedupe_window",
    "max_queued_jobs",
    "max_jobs_held",
    "max_batch_keys",
    "batch_delay",
    "scan_threads",
    "max_attempts",
    "max_connections",
    "max_body_bytes",
    "header_timeout",
    "request_timeout",
    "drain_timeout",
    "sse_keep_alive",
    "max_sse_per_job",
    "submit_rate_per_ip",
    "sync_rate_per_wallet",
    "request_rate_per_ip",
    "max_tracked_clients",
    "plain_view_key",
    "replica_id",
];

pub const DEFAULT_DATA_DIR: &str = "tws-data";
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

/// What the flags say (each overrides the environment and the file).
#[derive(Debug, Default, Clone)]
pub struct Flags {
    pub config: Option<PathBuf>,
    pub data_dir: Option<PathBuf>,
    pub listen: Option<String>,
    pub cache: Option<PathBuf>,
}

/// The resolved configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    /// `None`: serve a demo chain built in `DATA_DIR/demo`.
    pub cache: Option<PathBuf>,
    pub service: ServiceConfig,
    /// Where each value came from, for the startup log.
    pub sources: BTreeMap<String, String>,
}

/// Resolves the configuration from `flags`, the process environment and the file.
pub fn load(flags: &Flags) -> Result<Config> {
    let env: BTreeMap<String, String> = std::env::vars().filter(|(k, _)| k.starts_with("TWS_")).collect();
    resolve(flags, &env)
}

fn resolve(flags: &Flags, env: &BTreeMap<String, String>) -> Result<Config> {
    let mut values: BTreeMap<String, (String, String)> = BTreeMap::new();
    let file = flags
        .config
        .clone()
        .or_else(|| env.get("TWS_CONFIG").map(PathBuf::from));
    if let Some(path) = &file {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        for (key, value) in file_values(&text).with_context(|| format!("in {}", path.display()))? {
            values.insert(key, (value, path.display().to_string()));
        }
    }
    for key in KEYS {
        let name = format!("TWS_{}", key.to_uppercase());
        if let Some(value) = env.get(&name) {
            values.insert(key.to_string(), (value.clone(), name));
        }
    }
    let flag_values = [
        ("data_dir", flags.data_dir.as_ref().map(|p| p.display().to_string())),
        ("listen", flags.listen.clone()),
        ("cache", flags.cache.as_ref().map(|p| p.display().to_string())),
    ];
    for (key, value) in flag_values {
        if let Some(value) = value {
            values.insert(key.to_string(), (value, format!("--{}", key.replace('_', "-"))));
        }
    }

    let get = |key: &str| values.get(key).map(|(v, _)| v.as_str());
    let data_dir = PathBuf::from(get("data_dir").unwrap_or(DEFAULT_DATA_DIR));
    let cache = get("cache").map(PathBuf::from);
    let listen_text = get("listen").unwrap_or(DEFAULT_LISTEN);
    let listen = listen_text
        .parse()
        .map_err(|_| anyhow!("listen = {listen_text:?} is not an address such as 127.0.0.1:8080"))?;
    let mut service = ServiceConfig::new(&data_dir, cache.clone().unwrap_or_else(|| data_dir.join("demo/cache")));
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
    Ok(Config {
        listen,
        cache,
        service,
        sources: values.into_iter().map(|(k, (_, source))| (k, source)).collect(),
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
            if !KEYS.contains(&key.as_str()) {
                bail!("unknown key `{key}` in [wallet_sync]");
            }
            let value = match value {
                toml::Value::String(s) => s.clone(),
                toml::Value::Integer(i) => i.to_string(),
                toml::Value::Boolean(b) => b.to_string(),
                other => bail!("`{key}` must be a string or a number, not {}", other.type_str()),
            };
            Ok((key.clone(), value))
        })
        .collect()
}

fn number<T: std::str::FromStr>(value: &str) -> Result<T> {
    value.trim().parse().map_err(|_| anyhow!("not a number"))
}

fn apply(service: &mut ServiceConfig, key: &str, value: &str) -> Result<()> {
    let duration = |v: &str| parse_duration(v).map_err(|e| anyhow!(e));
    let rate = |v: &str| parse_rate(v).map_err(|e| anyhow!(e));
    match key {
        // Resolved by `resolve` itself.
        "data_dir" | "listen" | "cache" | "tls_cert" | "tls_key" => {}
        "result_ttl" => service.result_ttl = duration(value)?,
        "dedupe_window" => service.dedupe_window = duration(value)?,
        "max_queued_jobs" => service.max_queued_jobs = number(value)?,
        "max_jobs_held" => service.max_jobs_held = number(value)?,
        "max_batch_keys" => service.max_batch_keys = number(value)?,
        "batch_delay" => service.batch_delay = duration(value)?,
        "scan_threads" => service.scan_threads = number(value)?,
        "max_attempts" => service.max_attempts = number(value)?,
        "max_connections" => service.max_connections = number(value)?,
        "max_body_bytes" => service.max_body_bytes = number(value)?,
        "header_timeout" => service.header_timeout = duration(value)?,
        "request_timeout" => service.request_timeout = duration(value)?,
        "drain_timeout" => service.drain_timeout = duration(value)?,
        "sse_keep_alive" => service.sse_keep_alive = duration(value)?,
        "max_sse_per_job" => service.max_sse_per_job = number(value)?,
        "submit_rate_per_ip" => service.submit_rate_per_ip = rate(value)?,
        "sync_rate_per_wallet" => service.sync_rate_per_wallet = rate(value)?,
        "request_rate_per_ip" => service.request_rate_per_ip = rate(value)?,
        "max_tracked_clients" => service.max_tracked_clients = number(value)?,
        "plain_view_key" => service.plain_view_key = value.parse::<PlainKeyPolicy>().map_err(|e| anyhow!(e))?,
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn flags_beat_the_environment_which_beats_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("tws.toml");
        std::fs::write(
            &file,
            "[wallet_sync]\nlisten = \"127.0.0.1:1\"\nresult_ttl = 60\nmax_batch_keys = 8\nplain_view_key = \"never\"\n",
        )
        .unwrap();
        let env: BTreeMap<String, String> = [
            ("TWS_LISTEN".to_string(), "127.0.0.1:2".to_string()),
            ("TWS_RESULT_TTL".to_string(), "2h".to_string()),
        ]
        .into();
        let flags = Flags {
            config: Some(file.clone()),
            listen: Some("127.0.0.1:3".into()),
            ..Flags::default()
        };
        let config = resolve(&flags, &env).unwrap();
        assert_eq!(config.listen.port(), 3);
        assert_eq!(config.service.result_ttl, Duration::from_secs(7200));
        assert_eq!(config.service.max_batch_keys, 8);
        assert_eq!(config.service.plain_view_key, PlainKeyPolicy::Never);
        assert_eq!(config.sources["listen"], "--listen");
        assert_eq!(config.sources["result_ttl"], "TWS_RESULT_TTL");
        assert!(config.cache.is_none());
        assert_eq!(config.service.cache_dir, PathBuf::from("tws-data/demo/cache"));
    }

    #[test]
    fn refuses_unknown_keys_and_bad_values_naming_the_source() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("tws.toml");
        std::fs::write(&file, "[wallet_sync]\nresult_tll = 60\n").unwrap();
        let flags = Flags {
            config: Some(file),
            ..Flags::default()
        };
        let error = format!("{:#}", resolve(&flags, &BTreeMap::new()).unwrap_err());
        assert!(error.contains("result_tll"), "{error}");
        let env: BTreeMap<String, String> = [("TWS_MAX_QUEUED_JOBS".to_string(), "many".to_string())].into();
        let error = format!("{:#}", resolve(&Flags::default(), &env).unwrap_err());
        assert!(error.contains("TWS_MAX_QUEUED_JOBS"), "{error}");
        let env: BTreeMap<String, String> = [("TWS_TLS_CERT".to_string(), "c.pem".to_string())].into();
        assert!(resolve(&Flags::default(), &env).is_err());
    }
}
