//! Config: the plugin's one typed configuration. Its schema (`schema`: one serde type per section, with
//! defaults, unknown keys refused) is the only description of the keys; the layers (`layers`: the
//! `[wallet_sync]` section of a TOML file, `TWS_*` environment variables, command-line flags, highest
//! last) are merged over its defaults by figment and extracted into it. A value that does not parse, or
//! that the service cannot run with, is refused as a `ConfigError` naming its key, where it came from and
//! why. `docs/config.md`'s table is checked against the schema (`tests`). No secret is ever read from
//! here: the server keys' files are only named (`server_key_file` and a rotation's
//! `next_server_key_file`, `previous_server_key_file`, or systemd's `$CREDENTIALS_DIRECTORY/server-key`,
//! `server-key-next`, `server-key-previous`).

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    time::Duration,
};

use anyhow::Result;
use figment::Figment;
use tari_wallet_sync::{
    network::Network,
    service::{ServiceConfig, TlsPaths},
};

mod env;
mod error;
mod layers;
pub mod schema;

pub use error::{ConfigError, Reason, ValueSource};
pub use layers::Flags;
use layers::Layer;
pub use schema::{DEFAULT_LISTEN, DEFAULT_POLL_INTERVAL, Schema};
pub use tari_wallet_sync::service::config::DEFAULT_DATA_DIR;

/// The network assumed when neither the configuration nor the data says which (`network::settle`).
pub const DEFAULT_NETWORK: Network = Network::MainNet;

/// The server key's name among systemd's credentials (`LoadCredential=server-key:...`): used when
/// `$CREDENTIALS_DIRECTORY` holds it and no `server_key_file` is configured.
pub const CREDENTIAL_NAME: &str = "server-key";
/// A key rotation's next key among systemd's credentials (`next_server_key_file`, `docs/fleet.md`).
pub const NEXT_CREDENTIAL_NAME: &str = "server-key-next";
/// A key rotation's previous key among systemd's credentials (`previous_server_key_file`).
pub const PREVIOUS_CREDENTIAL_NAME: &str = "server-key-previous";

/// The resolved configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: std::net::SocketAddr,
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
    /// Where each value set came from, for the startup log.
    pub sources: BTreeMap<String, String>,
    /// What configured this run besides flags: the file read and every `TWS_*` variable but `TWS_LOG`.
    /// Empty: nothing at all was configured.
    pub configured_by: Vec<String>,
}

impl Config {
    /// The defaults, with the data directory `data_dir`: what an empty configuration resolves to.
    pub fn new(data_dir: impl Into<PathBuf>) -> Config {
        let data_dir = data_dir.into();
        let schema = Schema::default();
        Config {
            listen: schema.plugin.listen,
            cache_dir: None,
            node_url: None,
            lmdb_dir: None,
            poll_interval: schema.plugin.poll_interval,
            full_outputs: schema.plugin.full_outputs,
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
        Err(ConfigError {
            key: "node_url".into(),
            source_of_value: ValueSource::Configuration {
                configured_by: self.configured_by.join(", "),
            },
            reason: Reason::NoSource,
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
    // `vars_os`: `vars` panics on another program's variable that is not UTF-8.
    let mut env = BTreeMap::new();
    for (name, value) in std::env::vars_os() {
        let name = name.to_string_lossy().into_owned();
        if name.starts_with(env::PREFIX) || name == CREDENTIALS_DIRECTORY {
            let value = value
                .into_string()
                .map_err(|_| ConfigError::invalid(&name, ValueSource::Env { variable: name.clone() }, "not UTF-8"))?;
            env.insert(name, value);
        }
    }
    resolve(flags, &env)
}

/// The layers, lowest first, and where the highest one setting `key` got its value (else the default).
struct Layers(Vec<Layer>);

impl Layers {
    fn source(&self, key: &str) -> ValueSource {
        self.0
            .iter()
            .rev()
            .find_map(|layer| layer.source(key))
            .cloned()
            .unwrap_or(ValueSource::Default)
    }
}

/// `env`: the process's `TWS_*` variables (and `CREDENTIALS_DIRECTORY`, if set).
fn resolve(flags: &Flags, env: &BTreeMap<String, String>) -> Result<Config> {
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
    let env_layer = Layer::env(env)?;
    let mut layers = Vec::new();
    if let Some(path) = &file {
        layers.push(Layer::file(path)?);
    }
    layers.push(env_layer);
    layers.push(Layer::flags(flags)?);
    let layers = Layers(layers);

    let figment = layers
        .0
        .iter()
        .fold(Figment::new(), |figment, layer| figment.merge(layer.clone()));
    // Lossy: a number or a switch given as a string (every environment variable is one) is read as one.
    let schema: Schema = figment
        .extract_lossy()
        .map_err(|error| extraction_error(error, &layers))?;
    let Schema {
        plugin,
        tls,
        clients,
        mut service,
    } = schema;
    if plugin.poll_interval.is_zero() {
        return Err(ConfigError::invalid("poll_interval", layers.source("poll_interval"), "must not be zero").into());
    }
    // The directory the service reads: the configured one, else where the node's chain or the demo
    // chain goes.
    service.cache_dir = match (
        &plugin.cache_dir,
        plugin.node_url.is_some() || plugin.lmdb_dir.is_some(),
    ) {
        (Some(dir), _) => dir.clone(),
        (None, true) => node_cache_dir(None, &service.data_dir),
        (None, false) => service.data_dir.join("demo/cache"),
    };
    service.clients = clients;
    service.tls = match (tls.tls_cert, tls.tls_key) {
        (Some(cert), Some(key)) => Some(TlsPaths { cert, key }),
        (None, None) => None,
        (cert, _) => {
            let (given, missing) = if cert.is_some() {
                ("tls_cert", "tls_key")
            } else {
                ("tls_key", "tls_cert")
            };
            return Err(ConfigError::invalid(given, layers.source(given), format!("set {missing} too")).into());
        }
    };
    let mut sources: BTreeMap<String, String> = layers
        .0
        .iter()
        .flat_map(Layer::keys)
        .map(|key| (key.to_string(), layers.source(key).to_string()))
        .collect();
    // Credentials systemd hands the service (`LoadCredential=server-key:...`, and a rotation's
    // `server-key-next`, `server-key-previous`), each unless its file is named.
    if let Some(dir) = env.get(CREDENTIALS_DIRECTORY) {
        let slots = [
            ("server_key_file", CREDENTIAL_NAME, &mut service.server_key_file),
            (
                "next_server_key_file",
                NEXT_CREDENTIAL_NAME,
                &mut service.next_server_key_file,
            ),
            (
                "previous_server_key_file",
                PREVIOUS_CREDENTIAL_NAME,
                &mut service.previous_server_key_file,
            ),
        ];
        for (key, name, slot) in slots {
            let credential = Path::new(dir).join(name);
            if slot.is_none() && credential.is_file() {
                *slot = Some(credential);
                sources.insert(key.into(), ValueSource::Credential.to_string());
            }
        }
    }
    // Values the service cannot run with (a zero interval, a century-long window) stop the start here,
    // named, rather than as a panic later.
    service
        .validate()
        .map_err(|invalid| ConfigError::setting(invalid.clone(), layers.source(invalid.key)))?;
    Ok(Config {
        listen: plugin.listen,
        cache_dir: plugin.cache_dir,
        node_url: plugin.node_url,
        lmdb_dir: plugin.lmdb_dir,
        poll_interval: plugin.poll_interval,
        full_outputs: plugin.full_outputs,
        network: plugin.network,
        service,
        sources,
        configured_by,
    })
}

/// figment's refusal as a `ConfigError`: the key is the last of its path (`service.result_ttl`), the
/// source the layer that set it.
fn extraction_error(error: figment::Error, layers: &Layers) -> ConfigError {
    let key = error.path.last().cloned().unwrap_or_else(|| "wallet_sync".into());
    let source = layers.source(&key);
    ConfigError::invalid(key, source, error.kind.to_string())
}

#[cfg(test)]
mod tests;
