//! Config errors: a configuration that cannot be served, as the key, where its value came from and why,
//! with a stable code. One line each, and never the value of a secret (the configuration holds none: the
//! server key and the webhook secret are files it names; a webhook URL shows only its host).

use std::{fmt, path::PathBuf};

use tari_wallet_sync::service::config::InvalidSetting;

/// Where a key's value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ValueSource {
    /// The `[wallet_sync]` section of a TOML file, under `key` (the name written there: an alias too).
    File { path: PathBuf, key: String },
    /// A `TWS_*` environment variable.
    Env { variable: String },
    /// A command-line flag such as `--listen`.
    Flag { flag: String },
    /// systemd's `$CREDENTIALS_DIRECTORY` (the server keys' files only).
    Credential,
    /// Nothing set it: the schema's default.
    Default,
    /// The configuration as a whole (the file, the variables) rather than one key.
    Configuration { configured_by: String },
}

impl fmt::Display for ValueSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ValueSource::File { path, key } => write!(f, "{}, key {key}", path.display()),
            ValueSource::Env { variable } => write!(f, "environment variable {variable}"),
            ValueSource::Flag { flag } => write!(f, "flag {flag}"),
            ValueSource::Credential => f.write_str("$CREDENTIALS_DIRECTORY"),
            ValueSource::Default => f.write_str("the default"),
            ValueSource::Configuration { configured_by } => write!(f, "the configuration ({configured_by})"),
        }
    }
}

/// Why the value was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// A key the schema does not have (a file key, a `TWS_*` variable), and the known one it is nearest.
    Unknown { nearest: Option<String> },
    /// A value that does not parse as its key's kind, or that the service cannot run with.
    Invalid(String),
    /// A configuration was given but no chain to serve: the demo chain is only for a start with nothing
    /// configured, never a fallback that says `ready` for the wrong chain.
    NoSource,
}

/// A configuration that cannot be served.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    /// The key as the schema names it (an unknown one as it was written, without `TWS_`, lower case).
    pub key: String,
    pub source_of_value: ValueSource,
    pub reason: Reason,
}

impl ConfigError {
    pub fn invalid(key: impl Into<String>, source_of_value: ValueSource, reason: impl Into<String>) -> ConfigError {
        ConfigError {
            key: key.into(),
            source_of_value,
            reason: Reason::Invalid(reason.into()),
        }
    }

    /// A value the service refused (`ServiceConfig::validate`), with where it came from.
    pub fn setting(invalid: InvalidSetting, source_of_value: ValueSource) -> ConfigError {
        ConfigError::invalid(invalid.key, source_of_value, invalid.reason)
    }

    /// The stable code (`cli::report` prints it; `docs/config.md` lists them).
    pub fn code(&self) -> &'static str {
        match (&self.reason, &self.source_of_value) {
            (Reason::Unknown { .. }, ValueSource::Env { .. }) => "UNKNOWN_VARIABLE",
            (Reason::Unknown { .. }, _) => "UNKNOWN_KEY",
            (Reason::Invalid(_), _) => InvalidSetting::CODE,
            (Reason::NoSource, _) => "NO_SOURCE",
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (key, source, code) = (&self.key, &self.source_of_value, self.code());
        match &self.reason {
            Reason::Unknown { nearest } => {
                let what = match source {
                    ValueSource::Env { variable } => format!("unknown environment variable {variable}"),
                    _ => format!("unknown key `{key}` ({source})"),
                };
                let hint = nearest
                    .as_ref()
                    .map(|n| format!("; did you mean {n}?"))
                    .unwrap_or_default();
                write!(f, "{what}{hint} [{code}]")
            }
            Reason::Invalid(reason) => write!(f, "{key} (from {source}): {reason} [{code}]"),
            Reason::NoSource => write!(
                f,
                "{source} names no chain to serve: set node_url, lmdb_dir or cache_dir [{code}]"
            ),
        }
    }
}
