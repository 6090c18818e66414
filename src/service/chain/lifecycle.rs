//! Lifecycle: where the service stands, from its own phase (serving, draining, stopped) over its chain
//! source's (starting, importing, catching up, ready, degraded), and the report `/ready`, `/health` and
//! `/metrics` give of it. Owns the state names, which states scan, and the report's JSON; where the
//! states come from is `cache_source`.

use std::{
    sync::Arc,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use crate::source::{SourceError, StopReason};

/// The service's lifecycle: Starting → Importing → CatchingUp → Ready ⇄ Degraded → Draining → Stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lifecycle {
    /// The chain source has not reported yet (a follower before the node's first answer).
    Starting,
    /// The plugin is importing a node's chain into the cache.
    Importing,
    /// The source is appending blocks to reach the node's tip.
    CatchingUp,
    /// The cache is at the node's tip: jobs are scanned and their files are current.
    Ready,
    /// The node is unreachable (or the source stopped): jobs are scanned from the last published cache
    /// and their files are marked stale.
    Degraded,
    /// Shutting down: no new submissions; connections drain, running scans stop at their next chunk.
    Draining,
    Stopped,
}

impl Lifecycle {
    /// Every state, in lifecycle order (one `/metrics` gauge each).
    pub const ALL: [Lifecycle; 7] = [
        Lifecycle::Starting,
        Lifecycle::Importing,
        Lifecycle::CatchingUp,
        Lifecycle::Ready,
        Lifecycle::Degraded,
        Lifecycle::Draining,
        Lifecycle::Stopped,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Lifecycle::Starting => "starting",
            Lifecycle::Importing => "importing",
            Lifecycle::CatchingUp => "catching_up",
            Lifecycle::Ready => "ready",
            Lifecycle::Degraded => "degraded",
            Lifecycle::Draining => "draining",
            Lifecycle::Stopped => "stopped",
        }
    }

    /// Whether queued jobs are scanned now. Only at the tip, or from the last published cache while the
    /// node is away (flagged stale): a cache still being imported or caught up is half-filled, and a
    /// file built from it would look complete while missing the wallet's recent outputs.
    pub fn scans(self) -> bool {
        matches!(self, Lifecycle::Ready | Lifecycle::Degraded)
    }

    /// Whether submissions are accepted (and queued until the state scans).
    pub fn accepts(self) -> bool {
        !matches!(self, Lifecycle::Draining | Lifecycle::Stopped)
    }
}

/// Progress of an import the plugin runs before following: `done` of `total` units (blocks for the
/// node's LMDB import); `total` is 0 while unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ImportProgress {
    pub done: u64,
    pub total: u64,
}

/// Every code a `SourceFault` carries (`/ready`'s `node_error.code`), with the text `/ready` shows for
/// it. `/ready` is public: it never shows an error's own text, which can hold file paths or a node's
/// error body; the service log has those.
pub const SOURCE_FAULTS: &[(&str, &str)] = &[
    ("NODE_UNREACHABLE", "the node cannot be reached"),
    ("NODE_TIMEOUT", "the node did not answer in time"),
    ("NODE_ERROR_STATUS", "the node answered with an error status"),
    ("NODE_BAD_RESPONSE", "the node's answer could not be read"),
    (
        "REORG_TOO_DEEP",
        "the node reorganised deeper than the cache can follow",
    ),
    ("BLOCK_REFUSED", "the cache refused a block from the node"),
    ("CACHE_ERROR", "the cache could not be written"),
    ("FEED_CLOSED", "the host node's block feed closed"),
    (
        "NETWORK_MISMATCH",
        "the node is on another network than the cache or the configuration",
    ),
    ("UNKNOWN_GENESIS", "the node's genesis block is of no known network"),
    ("NETWORK_CONFLICT", "the configured networks disagree"),
    ("NETWORK_NOT_SET", "the network is not set"),
    ("UNKNOWN_NETWORK", "the network is not known"),
    ("INVALID_NODE_URL", "the node URL is invalid"),
    ("CANCELLED", "the chain source was cancelled"),
    (
        "SOURCE_STOPPED",
        "the chain source stopped; the cache is no longer updated",
    ),
    (
        IMPORT_FAILED,
        "the import of the node's database stopped part-way; files are marked stale",
    ),
    (
        NODE_NOT_SYNCED,
        "the node says it is not synced with its network; its tip may be behind",
    ),
    (
        CACHE_DAMAGED,
        "the chain cache is damaged; jobs that need the damaged blocks fail until it is rebuilt",
    ),
    (
        STORE_UNREACHABLE,
        "the shared job store does not answer; this replica takes no new scans and other replicas finish its jobs",
    ),
];

/// A failed import: the cache holds part of the chain.
pub const IMPORT_FAILED: &str = "IMPORT_FAILED";
/// The node says it is still syncing (`is_synced: false`).
pub const NODE_NOT_SYNCED: &str = "NODE_NOT_SYNCED";
/// Bytes of the served cache no longer match their checksums (found by the background check, or when
/// a segment was first mapped): jobs whose scan reads the damaged blocks fail; others are served.
pub const CACHE_DAMAGED: &str = "CACHE_DAMAGED";

/// The job store many replicas share does not answer (`JobStore::ping`): this replica claims no scans,
/// and the jobs it held are taken by others once their leases end.
pub const STORE_UNREACHABLE: &str = "STORE_UNREACHABLE";

/// Every code of `SOURCE_FAULTS`.
pub fn source_fault_codes() -> impl Iterator<Item = &'static str> {
    SOURCE_FAULTS.iter().map(|(code, _)| *code)
}

/// Why the source is degraded, with a stable code and the text shown for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceFault {
    pub code: &'static str,
    pub message: &'static str,
}

impl SourceFault {
    /// The fault of `code` (an unlisted code shows no text of its own).
    pub fn of(code: &'static str) -> SourceFault {
        let message = SOURCE_FAULTS
            .iter()
            .find(|(c, _)| *c == code)
            .map_or("the chain source failed; see the service log", |(_, m)| *m);
        SourceFault { code, message }
    }

    /// The latest node error of a degraded follower.
    pub fn from_error(error: &Arc<SourceError>) -> SourceFault {
        SourceFault::of(error.code())
    }

    /// A follower that stopped for good: the error it stopped on, or `SOURCE_STOPPED` when it was stopped
    /// without one. The cache is no longer updated either way.
    pub fn stopped(reason: Option<&StopReason>) -> SourceFault {
        SourceFault::of(reason.map_or("SOURCE_STOPPED", |r| r.code))
    }
}

/// What the service knows about its chain at one moment.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceReport {
    pub lifecycle: Lifecycle,
    pub cache_tip_height: Option<u64>,
    /// Timestamp (Unix seconds) of the cache's tip block.
    pub cache_tip_time: Option<u64>,
    pub cache_outputs: u64,
    /// The node's tip as last heard from, when known.
    pub node_tip_height: Option<u64>,
    pub import: Option<ImportProgress>,
    /// Set while degraded.
    pub fault: Option<SourceFault>,
    pub degraded_since: Option<SystemTime>,
}

impl SourceReport {
    /// Blocks the cache lacks to reach the node's tip as last heard from.
    pub fn blocks_behind(&self) -> Option<u64> {
        let node = self.node_tip_height?;
        Some(match self.cache_tip_height {
            Some(cache) => node.saturating_sub(cache),
            None => node + 1,
        })
    }

    /// How old the cache's tip block is (Tari blocks come every two minutes, so much more than that
    /// means the cache is behind the chain).
    pub fn tip_age(&self, now: SystemTime) -> Option<Duration> {
        let tip = UNIX_EPOCH + Duration::from_secs(self.cache_tip_time?);
        Some(now.duration_since(tip).unwrap_or(Duration::ZERO))
    }

    /// The JSON `/ready` answers with (beside the error object when not ready).
    pub fn to_json(&self, now: SystemTime) -> serde_json::Value {
        let mut value = serde_json::json!({
            "state": self.lifecycle.name(),
            "cache_tip_height": self.cache_tip_height,
            "node_tip_height": self.node_tip_height,
            "blocks_behind": self.blocks_behind(),
            "cache_tip_age_seconds": self.tip_age(now).map(|d| d.as_secs()),
        });
        if let Some(import) = self.import {
            value["import"] = serde_json::json!({ "done": import.done, "total": import.total });
        }
        if let Some(fault) = &self.fault {
            value["node_error"] = serde_json::json!({ "code": fault.code, "message": fault.message });
        }
        if let Some(since) = self.degraded_since {
            let secs = now.duration_since(since).unwrap_or(Duration::ZERO).as_secs();
            value["degraded_for_seconds"] = secs.into();
        }
        value
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        cache::CacheError,
        network::{Network, NetworkError},
    };

    fn report(cache: Option<u64>, node: Option<u64>) -> SourceReport {
        SourceReport {
            lifecycle: Lifecycle::CatchingUp,
            cache_tip_height: cache,
            cache_tip_time: Some(1_000),
            cache_outputs: 0,
            node_tip_height: node,
            import: None,
            fault: None,
            degraded_since: None,
        }
    }

    #[test]
    fn only_ready_and_degraded_scan_and_only_draining_and_stopped_refuse() {
        let scanning: Vec<_> = Lifecycle::ALL.iter().filter(|s| s.scans()).collect();
        assert_eq!(scanning, [&Lifecycle::Ready, &Lifecycle::Degraded]);
        let refusing: Vec<_> = Lifecycle::ALL.iter().filter(|s| !s.accepts()).collect();
        assert_eq!(refusing, [&Lifecycle::Draining, &Lifecycle::Stopped]);
    }

    #[test]
    fn fault_codes_are_listed() {
        let errors = [
            SourceError::Timeout {
                path: "/get_tip_info".into(),
                after: Duration::from_secs(30),
            },
            SourceError::Status {
                path: "/get_tip_info".into(),
                status: 503,
                message: String::new(),
            },
            SourceError::Malformed {
                path: "/sync_utxos_by_block".into(),
                reason: String::new(),
            },
            SourceError::ReorgTooDeep { tip: 5, max_depth: 1 },
            SourceError::Cache(CacheError::NotNext { height: 3, expected: 2 }),
            SourceError::Cache(CacheError::OutputOutOfRange { index: 1, count: 0 }),
            SourceError::FeedClosed,
            SourceError::Network(NetworkError::Mismatch {
                what: "the node".into(),
                expected: Network::MainNet,
                found: Network::LocalNet,
            }),
            SourceError::Cancelled,
        ];
        let stopped = SourceError::Network(NetworkError::UnknownGenesis {
            what: "the node".into(),
            genesis: "00".into(),
        });
        let codes: Vec<&str> = errors
            .into_iter()
            .map(|e| SourceFault::from_error(&Arc::new(e)).code)
            .chain([
                SourceFault::stopped(Some(&StopReason::of(&stopped))).code,
                SourceFault::stopped(None).code,
            ])
            .collect();
        assert_eq!(
            codes,
            [
                "NODE_TIMEOUT",
                "NODE_ERROR_STATUS",
                "NODE_BAD_RESPONSE",
                "REORG_TOO_DEEP",
                "BLOCK_REFUSED",
                "CACHE_ERROR",
                "FEED_CLOSED",
                "NETWORK_MISMATCH",
                "CANCELLED",
                "UNKNOWN_GENESIS",
                "SOURCE_STOPPED"
            ]
        );
        assert!(codes.iter().all(|c| source_fault_codes().any(|listed| listed == *c)));
    }

    #[test]
    fn the_public_report_shows_no_error_text() {
        // A node's error body and a file path stay in the log.
        let error = SourceError::Status {
            path: "/get_tip_info".into(),
            status: 500,
            message: "panicked at /home/node/secret/config.toml".into(),
        };
        let mut degraded = report(Some(3), Some(9));
        degraded.fault = Some(SourceFault::from_error(&Arc::new(error)));
        let json = degraded.to_json(UNIX_EPOCH).to_string();
        assert!(json.contains("NODE_ERROR_STATUS"), "{json}");
        assert!(!json.contains("secret") && !json.contains("/home"), "{json}");
        let stopped = SourceFault::stopped(Some(&StopReason {
            code: "CACHE_ERROR",
            message: "/var/lib/tws/node-cache/seg-0: disk full".into(),
        }));
        assert_eq!(stopped.message, "the cache could not be written");
    }

    #[test]
    fn blocks_behind_and_tip_age() {
        assert_eq!(report(Some(10), Some(15)).blocks_behind(), Some(5));
        assert_eq!(report(Some(10), Some(8)).blocks_behind(), Some(0));
        assert_eq!(
            report(None, Some(4)).blocks_behind(),
            Some(5),
            "an empty cache lacks blocks 0..=4"
        );
        assert_eq!(report(Some(3), None).blocks_behind(), None);
        let now = UNIX_EPOCH + Duration::from_secs(1_090);
        assert_eq!(report(None, None).tip_age(now), Some(Duration::from_secs(90)));
        let json = report(Some(10), Some(15)).to_json(now);
        assert_eq!(json["state"], "catching_up");
        assert_eq!(json["blocks_behind"], 5);
        assert_eq!(json["cache_tip_age_seconds"], 90);
        assert!(json.get("node_error").is_none());
    }
}
