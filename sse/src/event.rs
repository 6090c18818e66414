//! Job events: the typed events a sync job emits and their Server-Sent Events wire form (one message per
//! event: `id:`, `event:`, one `data:` line of JSON, a blank line). Not the transport.

use serde::{Deserialize, Serialize};

/// One event of a job's progress stream. The JSON of every event carries its name in `event`, so a
/// client reading only `data:` lines still knows what it got.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum JobEvent {
    /// Waiting for a scan pass; `position` is 1 for the next job to start.
    Queued { position: u64 },
    /// Scanning. Every count only grows between two progress events of one job.
    Progress {
        outputs_done: u64,
        outputs_total: u64,
        blocks_done: u64,
        blocks_total: u64,
        /// The height the scan has reached.
        height: u64,
        /// 0.0 to 100.0, one decimal.
        percent: f64,
        /// Seconds left at the current rate, once a rate is known.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        eta_seconds: Option<u64>,
    },
    /// The wallet file is ready to download.
    Ready {
        size: u64,
        sha256: String,
        download_url: String,
        /// Scanned from the server's last cached chain while its node was unreachable: outputs after
        /// `tip_height` are missing (the wallet finds them when it syncs on from there). `false` from
        /// servers that predate the field.
        #[serde(default)]
        stale: bool,
        /// The chain height the file was scanned to (absent for an empty chain and from older servers).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tip_height: Option<u64>,
    },
    /// The job ended without a file; `code` is stable, `message` is for people.
    Failed { code: String, message: String },
}

impl JobEvent {
    /// The SSE `event:` name.
    pub fn name(&self) -> &'static str {
        match self {
            JobEvent::Queued { .. } => "queued",
            JobEvent::Progress { .. } => "progress",
            JobEvent::Ready { .. } => "ready",
            JobEvent::Failed { .. } => "failed",
        }
    }

    /// `ready` and `failed` end a job's stream: nothing follows them.
    pub fn is_terminal(&self) -> bool {
        matches!(self, JobEvent::Ready { .. } | JobEvent::Failed { .. })
    }

    /// Encodes the event as one SSE message with id `id`: `id:`, `event:`, one `data:` line of JSON, blank line.
    /// JSON never contains a raw newline, so a single data line is always enough.
    pub fn encode(&self, id: u64) -> String {
        let data = serde_json::to_string(self).expect("events always serialize");
        format!("id: {id}\nevent: {}\ndata: {data}\n\n", self.name())
    }

    /// Parses the JSON of a `data:` line.
    pub fn from_data(data: &str) -> Result<JobEvent, serde_json::Error> {
        serde_json::from_str(data)
    }
}

/// An event with the id it was sent under (what a client passes back as `Last-Event-ID`).
#[derive(Debug, Clone, PartialEq)]
pub struct IdentifiedEvent {
    pub id: u64,
    pub event: JobEvent,
}

/// An SSE comment line that keeps idle connections (and proxies) open.
pub const KEEP_ALIVE: &str = ": keep-alive\n\n";

/// The SSE field that sets a client's reconnection delay.
pub fn encode_retry(millis: u64) -> String {
    format!("retry: {millis}\n\n")
}

/// Percent done with one decimal, as `Progress::percent` carries it.
pub fn percent(done: u64, total: u64) -> f64 {
    if total == 0 {
        return 100.0;
    }
    let tenths = (done.min(total) as u128 * 1000 / total as u128) as f64;
    tenths / 10.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_every_event_byte_for_byte() {
        let cases = [
            (
                JobEvent::Queued { position: 3 },
                7,
                "id: 7\nevent: queued\ndata: {\"event\":\"queued\",\"position\":3}\n\n",
            ),
            (
                JobEvent::Progress {
                    outputs_done: 500,
                    outputs_total: 2000,
                    blocks_done: 10,
                    blocks_total: 40,
                    height: 12,
                    percent: 25.0,
                    eta_seconds: Some(3),
                },
                8,
                "id: 8\nevent: progress\ndata: {\"event\":\"progress\",\"outputs_done\":500,\"outputs_total\":2000,\
                 \"blocks_done\":10,\"blocks_total\":40,\"height\":12,\"percent\":25.0,\"eta_seconds\":3}\n\n",
            ),
            (
                JobEvent::Progress {
                    outputs_done: 0,
                    outputs_total: 0,
                    blocks_done: 0,
                    blocks_total: 0,
                    height: 0,
                    percent: 100.0,
                    eta_seconds: None,
                },
                9,
                "id: 9\nevent: progress\ndata: {\"event\":\"progress\",\"outputs_done\":0,\"outputs_total\":0,\
                 \"blocks_done\":0,\"blocks_total\":0,\"height\":0,\"percent\":100.0}\n\n",
            ),
            (
                JobEvent::Ready {
                    size: 1234,
                    sha256: "ab".repeat(32),
                    download_url: "/api/v1/wallet/sync/j1/download".into(),
                    stale: true,
                    tip_height: Some(41),
                },
                10,
                "id: 10\nevent: ready\ndata: {\"event\":\"ready\",\"size\":1234,\"sha256\":\"abababababababababababab\
                 abababababababababababababababababababab\",\"download_url\":\"/api/v1/wallet/sync/j1/download\",\
                 \"stale\":true,\"tip_height\":41}\n\n",
            ),
            (
                JobEvent::Failed {
                    code: "SCAN_FAILED".into(),
                    message: "cache output 5 is unreadable".into(),
                },
                4294967297,
                "id: 4294967297\nevent: failed\ndata: {\"event\":\"failed\",\"code\":\"SCAN_FAILED\",\
                 \"message\":\"cache output 5 is unreadable\"}\n\n",
            ),
        ];
        for (event, id, wire) in cases {
            assert_eq!(event.encode(id), wire);
        }
        assert_eq!(KEEP_ALIVE, ": keep-alive\n\n");
        assert_eq!(encode_retry(2000), "retry: 2000\n\n");
    }

    #[test]
    fn round_trips_through_json_with_newlines_escaped() {
        let event = JobEvent::Failed {
            code: "INVALID_KEY".into(),
            message: "bad \"key\"\nline\r\n".into(),
        };
        let line = event.encode(1);
        let data = line.lines().find_map(|l| l.strip_prefix("data: ")).unwrap();
        assert_eq!(JobEvent::from_data(data).unwrap(), event);
        assert_eq!(
            line.matches('\n').count(),
            4,
            "newlines inside fields must stay escaped"
        );
        assert!(!line.contains('\r'));
    }

    #[test]
    fn a_ready_event_without_the_newer_fields_still_parses() {
        let data = r#"{"event":"ready","size":3,"sha256":"00","download_url":"/d"}"#;
        let JobEvent::Ready { stale, tip_height, .. } = JobEvent::from_data(data).unwrap() else {
            panic!("a ready event")
        };
        assert_eq!((stale, tip_height), (false, None));
    }

    #[test]
    fn only_ready_and_failed_are_terminal() {
        assert!(!JobEvent::Queued { position: 1 }.is_terminal());
        assert!(
            JobEvent::Failed {
                code: "X".into(),
                message: String::new()
            }
            .is_terminal()
        );
    }

    #[test]
    fn percent_has_one_decimal_and_never_exceeds_100() {
        assert_eq!(percent(1, 3), 33.3);
        assert_eq!(percent(2, 3), 66.6);
        assert_eq!(percent(5, 3), 100.0);
        assert_eq!(percent(0, 0), 100.0);
        assert_eq!(percent(u64::MAX - 1, u64::MAX), 99.9);
    }
}
