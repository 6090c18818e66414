//! Schema: the configuration's one description. Each section is a serde type with its defaults
//! (`Default`), each value parsed by its own form and unknown keys refused: the plugin's own keys
//! (`PluginSection`), TLS (`TlsSection`), telling clients apart (the library's `ClientRules`) and the
//! service (the library's `ServiceConfig`). The `[wallet_sync]` section of the file, the `TWS_*`
//! variables and the flags are flat; `sections` says which section each key belongs to, read from the
//! types themselves, so no list of keys is written anywhere else.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use serde::{Deserialize, Serialize};
use tari_wallet_sync::{
    network::{self, Network},
    service::{ClientRules, ServiceConfig, config::values},
};

/// Between polls of the node at its tip: Tari blocks come every two minutes; 5 s notices one promptly
/// at the cost of two small requests.
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(5);
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

/// Older names still accepted, and the key each stands for (in every layer: `cache`, `TWS_CACHE`,
/// `--cache`). Given both in one layer, the key wins.
pub const ALIASES: &[(&str, &str)] = &[("cache", "cache_dir")];

/// What the plugin itself reads: where to listen, which chain to serve, the network.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct PluginSection {
    #[serde(with = "values::text")]
    pub listen: SocketAddr,
    /// The configured cache directory (see `Config::cache_dir`).
    pub cache_dir: Option<PathBuf>,
    /// The node's HTTP wallet query service, `http://host:port`; empty is unset.
    #[serde(with = "node_url")]
    pub node_url: Option<String>,
    /// A stopped node's LMDB directory to import first.
    pub lmdb_dir: Option<PathBuf>,
    #[serde(with = "values::duration")]
    pub poll_interval: Duration,
    /// Strictly `true` or `false` (not `yes`, `1`).
    #[serde(with = "strict_bool")]
    pub full_outputs: bool,
    #[serde(with = "network_name")]
    pub network: Option<Network>,
}

impl Default for PluginSection {
    fn default() -> PluginSection {
        PluginSection {
            listen: DEFAULT_LISTEN.parse().expect("a valid default"),
            cache_dir: None,
            node_url: None,
            lmdb_dir: None,
            poll_interval: DEFAULT_POLL_INTERVAL,
            full_outputs: false,
            network: None,
        }
    }
}

/// PEM files of the certificate chain and private key (both or neither).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct TlsSection {
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
}

/// The whole schema, one field per section; `sections` nests the flat keys under these names.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Schema {
    pub plugin: PluginSection,
    pub tls: TlsSection,
    pub clients: ClientRules,
    pub service: ServiceConfig,
}

/// One section: its field in `Schema` and its keys (its serde type's fields).
#[derive(Debug, Clone, Copy)]
pub struct Section {
    pub name: &'static str,
    pub keys: &'static [&'static str],
}

/// Every section, in `Schema`'s order.
pub fn sections() -> [Section; 4] {
    [
        Section {
            name: "plugin",
            keys: fields::<PluginSection>(),
        },
        Section {
            name: "tls",
            keys: fields::<TlsSection>(),
        },
        Section {
            name: "clients",
            keys: fields::<ClientRules>(),
        },
        Section {
            name: "service",
            keys: fields::<ServiceConfig>(),
        },
    ]
}

/// Every key of every section.
pub fn keys() -> impl Iterator<Item = &'static str> {
    sections().into_iter().flat_map(|section| section.keys.iter().copied())
}

/// The section holding `key`.
pub fn section_of(key: &str) -> Option<&'static str> {
    sections()
        .into_iter()
        .find(|section| section.keys.contains(&key))
        .map(|section| section.name)
}

/// The key an alias stands for (a key stands for itself).
pub fn canonical(name: &str) -> &str {
    ALIASES
        .iter()
        .find(|(alias, _)| *alias == name)
        .map_or(name, |(_, key)| key)
}

/// The field names serde's derive gives a struct (its keys), asked of the type itself: a deserializer
/// that records what `deserialize_struct` is told and refuses everything.
fn fields<'de, T: Deserialize<'de>>() -> &'static [&'static str] {
    use serde::de::{self, Visitor};

    struct Probe<'a>(&'a mut &'static [&'static str]);

    impl<'de> de::Deserializer<'de> for Probe<'_> {
        type Error = de::value::Error;
        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
            Err(de::Error::custom("only a struct's fields are asked"))
        }
        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Self::Error> {
            *self.0 = fields;
            Err(de::Error::custom("fields recorded"))
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf option unit
            unit_struct newtype_struct seq tuple tuple_struct map enum identifier ignored_any
        }
    }

    let mut fields: &'static [&'static str] = &[];
    let _ = T::deserialize(Probe(&mut fields));
    fields
}

/// `node_url`: plain `http://host:port` (the node's query service listens beside it); blank is unset.
mod node_url {
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
        let url = Option::<String>::deserialize(deserializer)?;
        let url = url.map(|u| u.trim().to_string()).filter(|u| !u.is_empty());
        if let Some(url) = &url
            && !url.starts_with("http://")
        {
            return Err(D::Error::custom("the node's query service is plain http://host:port"));
        }
        Ok(url)
    }

    pub fn serialize<S: Serializer>(url: &Option<String>, serializer: S) -> Result<S::Ok, S::Error> {
        serde::Serialize::serialize(url, serializer)
    }
}

/// A switch written `true` or `false` (in the environment too); nothing else reads as one.
mod strict_bool {
    use serde::{Deserializer, Serializer, de};

    struct Strict;

    impl de::Visitor<'_> for Strict {
        type Value = bool;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("true or false")
        }
        fn visit_bool<E: de::Error>(self, value: bool) -> Result<bool, E> {
            Ok(value)
        }
        fn visit_str<E: de::Error>(self, text: &str) -> Result<bool, E> {
            match text.trim() {
                "true" => Ok(true),
                "false" => Ok(false),
                _ => Err(E::custom(format!("`{text}`: use true or false"))),
            }
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
        deserializer.deserialize_any(Strict)
    }

    pub fn serialize<S: Serializer>(value: &bool, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bool(*value)
    }
}

/// `network`: a network's name (`mainnet`, `esmeralda`, ...).
mod network_name {
    use super::*;
    use serde::{Deserializer, Serializer, de::Error};

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Network>, D::Error> {
        Option::<String>::deserialize(deserializer)?
            .map(|name| network::parse(name.trim()).map_err(D::Error::custom))
            .transpose()
    }

    pub fn serialize<S: Serializer>(value: &Option<Network>, serializer: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(network) => serializer.serialize_str(network.as_key_str()),
            None => serializer.serialize_none(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every key belongs to one section only (the flat namespace would be ambiguous otherwise), and the
    /// sections are `Schema`'s fields.
    #[test]
    fn sections_hold_every_key_once() {
        let mut all: Vec<&str> = keys().collect();
        let count = all.len();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), count, "a key in two sections");
        assert!(all.contains(&"listen") && all.contains(&"result_ttl") && all.contains(&"trusted_proxies"));
        assert!(!all.contains(&"cache_dir") || section_of("cache_dir") == Some("plugin"));
        assert!(
            !all.contains(&"clients") && !all.contains(&"tls"),
            "runtime-only fields are no keys"
        );
        let names: Vec<&str> = sections().iter().map(|s| s.name).collect();
        assert_eq!(names, fields::<Schema>());
        for (alias, key) in ALIASES {
            assert!(section_of(alias).is_none() && section_of(key).is_some());
        }
    }
}
