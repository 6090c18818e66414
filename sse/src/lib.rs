//! Progress events: the typed events a sync job emits and their Server-Sent Events wire form. Shared by
//! the server and wallet clients so both sides agree on names and fields. Not the transport.

use serde::{Deserialize, Serialize};

/// One event of a job's progress stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum JobEvent {
    Queued {
        position: u64,
    },
    Progress {
        outputs_done: u64,
        outputs_total: u64,
        blocks_done: u64,
        blocks_total: u64,
        height: u64,
    },
    Ready {
        size: u64,
        sha256: String,
        download_url: String,
    },
    Failed {
        code: String,
        message: String,
    },
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

    /// Encodes the event as one SSE message with id `id`: `id:`, `event:`, one `data:` line of JSON, blank line.
    /// JSON never contains a raw newline, so a single data line is always enough.
    pub fn encode(&self, id: u64) -> String {
        let data = serde_json::to_string(self).expect("events always serialize");
        format!("id: {id}\nevent: {}\ndata: {data}\n\n", self.name())
    }
}

/// An SSE comment line that keeps idle connections (and proxies) open.
pub const KEEP_ALIVE: &str = ": keep-alive\n\n";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_an_event_byte_for_byte() {
        let event = JobEvent::Queued { position: 3 };
        assert_eq!(
            event.encode(7),
            "id: 7\nevent: queued\ndata: {\"event\":\"queued\",\"position\":3}\n\n"
        );
    }

    #[test]
    fn round_trips_through_json() {
        let event = JobEvent::Failed {
            code: "INVALID_KEY".into(),
            message: "bad \"key\"\nline".into(),
        };
        let line = event.encode(1);
        let data = line.lines().find_map(|l| l.strip_prefix("data: ")).unwrap();
        assert_eq!(serde_json::from_str::<JobEvent>(data).unwrap(), event);
        assert_eq!(
            line.matches('\n').count(),
            4,
            "newlines inside fields must stay escaped"
        );
    }
}
