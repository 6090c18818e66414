//! Layers: the three places a value can be set, each a figment provider of the schema's nested shape
//! (`schema::sections`): the `[wallet_sync]` section of a TOML file, the `TWS_*` environment variables,
//! and the command-line flags. figment merges them (flags over variables over the file, the schema's
//! defaults under all) and extracts the schema; each layer also remembers where each of its values came
//! from (`ValueSource`), for errors and the startup log. A key the schema does not have is refused here,
//! named, before anything is merged.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

use anyhow::{Context, anyhow};
use figment::{
    Metadata, Profile, Provider,
    providers::{Format, Toml},
    value::{Dict, Map, Value},
};
use serde::Serialize;

use super::{
    env,
    error::{ConfigError, Reason, ValueSource},
    schema::{self, canonical, section_of},
};

/// What the flags say (each overrides the environment and the file). A flag is its key with dashes.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Flags {
    /// The file to read: not a key.
    #[serde(skip)]
    pub config: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache_dir: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lmdb_dir: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metrics_listen: Option<String>,
}

/// One layer's values by key, each with where it came from.
#[derive(Debug, Clone)]
pub struct Layer {
    name: &'static str,
    values: BTreeMap<String, (Value, ValueSource)>,
}

impl Layer {
    /// The `[wallet_sync]` section of the TOML file at `path` (none: an empty layer). A key written both
    /// as itself and as its alias takes the key's value.
    pub fn file(path: &Path) -> anyhow::Result<Layer> {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let document = Toml::string(&text)
            .data()
            .map_err(|e| anyhow!("{e}"))
            .with_context(|| format!("in {}", path.display()))?;
        let section = document
            .get(&Profile::Default)
            .and_then(|dict| dict.get("wallet_sync"))
            .cloned();
        let entries = match section {
            None => Dict::new(),
            Some(Value::Dict(_, dict)) => dict,
            Some(_) => anyhow::bail!("in {}: [wallet_sync] must be a table", path.display()),
        };
        let mut layer = Layer {
            name: "file",
            values: BTreeMap::new(),
        };
        // Aliases first, so the key itself overrides.
        let mut entries: Vec<(String, Value)> = entries.into_iter().collect();
        entries.sort_by_key(|(name, _)| canonical(name) == name.as_str());
        for (name, value) in entries {
            let source = ValueSource::File {
                path: path.to_path_buf(),
                key: name.clone(),
            };
            let key = canonical(&name);
            if section_of(key).is_none() {
                return Err(unknown(&name, source).into());
            }
            layer.values.insert(key.to_string(), (value, source));
        }
        Ok(layer)
    }

    /// The `TWS_*` variables in `variables` that are keys (`TWS_CONFIG`, `TWS_LOG` are not); any other
    /// `TWS_*` variable is refused, naming the nearest known one.
    pub fn env(variables: &BTreeMap<String, String>) -> Result<Layer, ConfigError> {
        env::check(variables)?;
        let mut layer = Layer {
            name: "environment",
            values: BTreeMap::new(),
        };
        let mut named: Vec<(String, &String, &String)> = variables
            .iter()
            .filter_map(|(variable, value)| Some((env::key(variable)?, variable, value)))
            .collect();
        named.sort_by_key(|(name, _, _)| canonical(name) == name.as_str());
        for (name, variable, value) in named {
            let source = ValueSource::Env {
                variable: variable.clone(),
            };
            // Strings only: figment reads a number or a switch from them where the key wants one.
            layer
                .values
                .insert(canonical(&name).to_string(), (Value::from(value.clone()), source));
        }
        Ok(layer)
    }

    /// The flags given. A path that is not UTF-8 is refused rather than dropped.
    pub fn flags(flags: &Flags) -> anyhow::Result<Layer> {
        let given = match Value::serialize(flags) {
            Ok(Value::Dict(_, dict)) => dict,
            Ok(_) => Dict::new(),
            Err(error) => anyhow::bail!("a flag's value cannot be read ({error}): paths must be UTF-8"),
        };
        let values = given
            .into_iter()
            .map(|(key, value)| {
                let flag = format!("--{}", key.replace('_', "-"));
                (key, (value, ValueSource::Flag { flag }))
            })
            .collect();
        Ok(Layer { name: "flags", values })
    }

    /// Where this layer's value of `key` came from, if it has one.
    pub fn source(&self, key: &str) -> Option<&ValueSource> {
        self.values.get(key).map(|(_, source)| source)
    }

    /// The keys this layer sets.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.values.keys().map(String::as_str)
    }
}

/// An unknown key `name` from `source`, with the nearest known key.
fn unknown(name: &str, source: ValueSource) -> ConfigError {
    let known: Vec<String> = schema::keys().map(String::from).collect();
    ConfigError {
        key: name.to_string(),
        source_of_value: source,
        reason: Reason::Unknown {
            nearest: env::nearest(name, &known),
        },
    }
}

impl Provider for Layer {
    fn metadata(&self) -> Metadata {
        Metadata::named(self.name)
    }

    /// The values nested by section (`plugin.listen`, `service.result_ttl`, ...), as `Schema` reads them.
    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        let mut nested: BTreeMap<&str, Dict> = BTreeMap::new();
        for (key, (value, _)) in &self.values {
            let section = section_of(key).ok_or_else(|| figment::Error::from(format!("unknown key {key}")))?;
            nested.entry(section).or_default().insert(key.clone(), value.clone());
        }
        let dict: Dict = nested
            .into_iter()
            .map(|(section, values)| (section.to_string(), Value::from(values)))
            .collect();
        Ok(Map::from([(Profile::Default, dict)]))
    }
}
