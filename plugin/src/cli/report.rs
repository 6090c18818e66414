//! Report: how a failed command tells a person what went wrong. The message chain (each cause once),
//! the stable code of the first error in it that has one, and a hint; never a backtrace (those are for
//! panics, which the default hook still prints) and never more than the errors' own messages, which
//! carry no key or password.

use crate::config::ConfigError;
#[cfg(test)]
use crate::config::{Reason, ValueSource};
use tari_wallet_sync::{
    cache::CacheError,
    network::NetworkError,
    recognize::KeyError,
    source::{SourceError, full_outputs::FullOutputError, lmdb::LmdbError},
    walletdb::WalletDbError,
};

/// The text a failed command prints on standard error: `error:`, its causes, `code:` and `hint:` lines.
pub fn render(error: &anyhow::Error) -> String {
    let mut lines: Vec<String> = Vec::new();
    for cause in error.chain() {
        let text = cause.to_string();
        // A wrapper that prints its source inside its own message (`{path}: {source}`) names it once.
        if lines.last().is_some_and(|last| last.contains(&text)) {
            continue;
        }
        lines.push(text);
    }
    let mut out = format!("error: {}\n", lines.first().map_or("", String::as_str));
    for cause in lines.iter().skip(1) {
        out.push_str(&format!("  caused by: {cause}\n"));
    }
    let code = code(error);
    if let Some(code) = code {
        out.push_str(&format!("code: {code}\n"));
    }
    out.push_str(&format!("hint: {}\n", hint(code, error)));
    out
}

/// The stable code of the outermost error in the chain that has one: the layer the command talked to.
pub fn code(error: &anyhow::Error) -> Option<&'static str> {
    error.chain().find_map(|cause| {
        None.or_else(|| cause.downcast_ref::<ConfigError>().map(ConfigError::code))
            .or_else(|| cause.downcast_ref::<LmdbError>().map(LmdbError::code))
            .or_else(|| cause.downcast_ref::<NetworkError>().map(NetworkError::code))
            .or_else(|| cause.downcast_ref::<CacheError>().map(CacheError::code))
            .or_else(|| cause.downcast_ref::<SourceError>().map(SourceError::code))
            .or_else(|| cause.downcast_ref::<FullOutputError>().map(FullOutputError::code))
            .or_else(|| cause.downcast_ref::<WalletDbError>().map(WalletDbError::code))
            .or_else(|| cause.downcast_ref::<KeyError>().map(|e| e.code()))
    })
}

fn hint(code: Option<&str>, error: &anyhow::Error) -> &'static str {
    match code {
        Some("NOT_FOUND") => {
            "give the node's database directory, the one holding data.mdb (e.g. ~/.tari/mainnet/data/base_node/db)"
        }
        Some("NODE_RUNNING") => {
            "a running node rewrites pages under any reader, a copy too: stop the node (or take a filesystem \
             snapshot) before importing, or follow the running node over HTTP instead (--node-url, `node_url`)"
        }
        Some("ALREADY_OPEN") => "this process reads that database already: run one import at a time",
        Some("NO_SOURCE") => {
            "set node_url (a running node's HTTP wallet query service), lmdb_dir (a stopped node's database) or \
             cache_dir (a filled cache); the demo chain runs only when nothing at all is configured"
        }
        Some("UNKNOWN_KEY") => "the keys of [wallet_sync] are listed in docs/config.md: correct or remove it",
        Some("INVALID_VALUE") => {
            "docs/config.md gives each key's form (durations 90s, 10m, 1h; rates 30/h) and its bounds"
        }
        Some("UNKNOWN_VARIABLE") => {
            "TWS_* variables are the configuration keys in upper case (docs/config.md), TWS_CONFIG and TWS_LOG: \
             correct or unset it"
        }
        Some("CACHE_NOT_FOUND") => {
            "point --cache at a directory that `import`, `follow` or `demo-chain` filled (they create it)"
        }
        Some("CACHE_LOCKED") => {
            "another process (`follow` or `serve`) writes this cache: stop it, or use another directory"
        }
        Some("CACHE_OUTDATED") | Some("CACHE_CORRUPT") => {
            "a cache holds only what the node can give again: remove the directory and import or follow anew"
        }
        Some("CACHE_DAMAGED") => {
            "bytes of the cache no longer match their checksums (disk damage): remove the directory and import or \
             follow anew; `tari-wallet-sync verify --cache DIR` lists every damaged segment"
        }
        Some("CACHE_VERSION_UNSUPPORTED") => "a newer release wrote this cache: run that release, or fill a new cache",
        Some(
            "NETWORK_MISMATCH" | "NETWORK_ENV_DISAGREES" | "NETWORK_CONFLICT" | "UNKNOWN_NETWORK" | "UNKNOWN_GENESIS",
        ) => {
            "the data's own network decides: make --network, `network` in the config and TARI_NETWORK agree with it \
             (or leave them unset)"
        }
        Some("KEY_LENGTH" | "NOT_HEX" | "NON_CANONICAL_SCALAR" | "ZERO_VIEW_KEY" | "INVALID_POINT") => {
            "the view key is 64 hex characters of a private key, the spend key 64 hex characters of a public key"
        }
        Some("NODE_UNREACHABLE" | "NODE_TIMEOUT") => {
            "is the node running, with its HTTP wallet query service on that address (default port 9000)?"
        }
        Some("FULL_OUTPUTS_UNAVAILABLE") => {
            "give --lmdb or --node-url so the owned outputs can be taken from the chain exactly as mined"
        }
        _ if missing_file(error) => "check the path: the file or directory does not exist",
        _ => "`tari-wallet-sync help <command>` lists a command's options; docs/config.md the configuration",
    }
}

fn missing_file(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::NotFound)
    })
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use anyhow::{Context, anyhow};

    use super::*;

    #[test]
    fn the_chain_its_code_and_a_hint() {
        let error = anyhow!(CacheError::NotFound {
            dir: PathBuf::from("/no/such/dir")
        })
        .context("opening the cache at /no/such/dir");
        let text = render(&error);
        assert_eq!(
            text,
            "error: opening the cache at /no/such/dir\n  caused by: no cache in /no/such/dir\n\
             code: CACHE_NOT_FOUND\nhint: point --cache at a directory that `import`, `follow` or `demo-chain` \
             filled (they create it)\n"
        );
    }

    #[test]
    fn a_cause_already_in_its_wrappers_message_is_not_repeated() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "No such file or directory");
        let error = anyhow!(CacheError::Io {
            path: PathBuf::from("/c/header"),
            source: io,
        })
        .context("opening the cache");
        let text = render(&error);
        assert_eq!(text.matches("No such file or directory").count(), 1, "{text}");
        assert!(text.contains("code: CACHE_IO\n"), "{text}");
    }

    #[test]
    fn a_running_node_is_never_told_to_copy_its_database() {
        let error = anyhow!(LmdbError::NodeRunning {
            dir: PathBuf::from("/var/lib/tari/db")
        });
        let text = render(&error);
        assert!(text.contains("code: NODE_RUNNING"), "{text}");
        assert!(!text.contains("mdb_copy"), "{text}");
        assert!(text.contains("stop the node") && text.contains("--node-url"), "{text}");
    }

    #[test]
    fn configuration_refusals_have_codes_and_hints() {
        let text = render(&anyhow!(ConfigError {
            key: "node_url".into(),
            source_of_value: ValueSource::Configuration {
                configured_by: "tws.toml".into()
            },
            reason: Reason::NoSource,
        }));
        assert!(text.contains("code: NO_SOURCE"), "{text}");
        for key in ["node_url", "lmdb_dir", "cache_dir"] {
            assert!(text.contains(key), "{key}: {text}");
        }
        let text = render(&anyhow!(ConfigError {
            key: "nodeurl".into(),
            source_of_value: ValueSource::Env {
                variable: "TWS_NODEURL".into()
            },
            reason: Reason::Unknown {
                nearest: Some("TWS_NODE_URL".into())
            },
        }));
        assert!(
            text.contains("TWS_NODEURL; did you mean TWS_NODE_URL?") && text.contains("code: UNKNOWN_VARIABLE"),
            "{text}"
        );
        let text = render(&anyhow!(ConfigError::invalid(
            "result_ttl",
            ValueSource::File {
                path: "tws.toml".into(),
                key: "result_ttl".into()
            },
            "must not be zero"
        )));
        assert!(
            text.starts_with("error: result_ttl (from tws.toml, key result_ttl): must not be zero [INVALID_VALUE]")
                && text.contains("code: INVALID_VALUE")
                && text.contains("docs/config.md"),
            "{text}"
        );
    }

    #[test]
    fn errors_without_a_code_get_a_hint_still() {
        let error = std::fs::read("/no/such/file")
            .context("reading the view key from /no/such/file")
            .unwrap_err();
        let text = render(&error);
        assert!(!text.contains("code:"), "{text}");
        assert!(text.contains("hint: check the path"), "{text}");
        let text = render(&anyhow!("give the view key with --view-key-file FILE"));
        assert!(
            text.starts_with("error: give the view key") && text.contains("hint: "),
            "{text}"
        );
    }
}
