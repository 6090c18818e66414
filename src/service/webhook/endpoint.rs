//! Endpoints: the operator's webhook endpoints as the service runs them. Each has its URL, the label
//! `/metrics` shows for it (its host, never its path, which may hold a receiver's secret), and the live
//! numbers that the job store (deliveries queued), its worker (breaker state) and a scrape share, plus
//! the wake-up the store gives its worker when an event is queued. Also counts the deliveries dropped,
//! by reason. Fixed at start: the label set is the operator's list, so metric cardinality is bounded.

use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};

use tokio::sync::Notify;

use super::breaker::BreakerState;

/// Why a delivery was dropped undelivered (`tws_webhook_dropped_total{reason}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropReason {
    /// Its last attempt failed (`webhook_max_attempts`).
    Attempts,
    /// Its endpoint's queue was full (`webhook_max_queued`): the oldest delivery makes room for the new.
    QueueFull,
    /// Its endpoint is no longer in `webhook_urls` (found at start).
    EndpointRemoved,
}

impl DropReason {
    pub const ALL: [DropReason; 3] = [DropReason::Attempts, DropReason::QueueFull, DropReason::EndpointRemoved];

    pub fn name(self) -> &'static str {
        match self {
            DropReason::Attempts => "attempts",
            DropReason::QueueFull => "queue_full",
            DropReason::EndpointRemoved => "endpoint_removed",
        }
    }
}

/// One configured endpoint.
#[derive(Debug)]
pub struct Endpoint {
    url: String,
    label: String,
    queued: AtomicU64,
    breaker: AtomicU8,
    wake: Notify,
}

impl Endpoint {
    pub fn url(&self) -> &str {
        &self.url
    }

    /// `host[:port]`, with `#<position>` when another endpoint before it has the same host.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// Deliveries queued for it, as the store counts them while it writes.
    pub fn queued(&self) -> u64 {
        self.queued.load(Ordering::Relaxed)
    }

    pub(crate) fn add_queued(&self, added: u64, removed: u64) {
        // One writer at a time (the store's connection); the saturating form keeps a miscount from wrapping.
        let _ = self.queued.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
            Some((n + added).saturating_sub(removed))
        });
    }

    pub(crate) fn set_queued(&self, count: u64) {
        self.queued.store(count, Ordering::Relaxed);
    }

    pub fn breaker(&self) -> BreakerState {
        BreakerState::ALL[usize::from(self.breaker.load(Ordering::Relaxed)).min(2)]
    }

    pub(crate) fn set_breaker(&self, state: BreakerState) {
        let index = BreakerState::ALL.iter().position(|s| *s == state).unwrap_or(0);
        self.breaker.store(index as u8, Ordering::Relaxed);
    }

    /// Tells its worker that a delivery was queued (remembered if the worker is busy).
    pub(crate) fn wake(&self) {
        self.wake.notify_one();
    }

    pub(crate) async fn woken(&self) {
        self.wake.notified().await;
    }
}

/// Every configured endpoint, the cap on each one's queue, and the drops so far.
#[derive(Debug)]
pub struct Endpoints {
    list: Vec<Endpoint>,
    max_queued: u64,
    dropped: [AtomicU64; DropReason::ALL.len()],
}

impl Endpoints {
    /// `urls` are the operator's (checked by `config::validate_webhook_url`, no two alike); each keeps at most
    /// `max_queued` deliveries.
    pub fn new(urls: &[String], max_queued: u64) -> Endpoints {
        let mut list: Vec<Endpoint> = Vec::with_capacity(urls.len());
        for (position, url) in urls.iter().enumerate() {
            let host = http::Uri::try_from(url.as_str())
                .ok()
                .and_then(|uri| uri.authority().map(|a| a.as_str().to_string()))
                .unwrap_or_default();
            let label = if list.iter().any(|e| e.label == host) {
                format!("{host}#{}", position + 1)
            } else {
                host
            };
            list.push(Endpoint {
                url: url.clone(),
                label,
                queued: AtomicU64::new(0),
                breaker: AtomicU8::new(0),
                wake: Notify::new(),
            });
        }
        Endpoints {
            list,
            max_queued: max_queued.max(1),
            dropped: Default::default(),
        }
    }

    pub fn none() -> Endpoints {
        Endpoints::new(&[], 1)
    }

    pub fn list(&self) -> &[Endpoint] {
        &self.list
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    pub fn max_queued(&self) -> u64 {
        self.max_queued
    }

    pub fn find(&self, url: &str) -> Option<&Endpoint> {
        self.list.iter().find(|e| e.url == url)
    }

    pub(crate) fn count_dropped(&self, reason: DropReason, count: u64) {
        self.dropped[reason as usize].fetch_add(count, Ordering::Relaxed);
    }

    /// Deliveries dropped for `reason` since start.
    pub fn dropped(&self, reason: DropReason) -> u64 {
        self.dropped[reason as usize].load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_hosts_made_unique_by_position_and_never_paths() {
        let urls = [
            "https://hooks.example/secret-token-in-path",
            "http://127.0.0.1:9000/a",
            "https://hooks.example/other",
        ]
        .map(String::from);
        let endpoints = Endpoints::new(&urls, 10);
        let labels: Vec<&str> = endpoints.list().iter().map(Endpoint::label).collect();
        assert_eq!(labels, ["hooks.example", "127.0.0.1:9000", "hooks.example#3"]);
        assert_eq!(endpoints.find(&urls[1]).unwrap().label(), "127.0.0.1:9000");
    }

    #[test]
    fn counts_never_wrap_and_states_round_trip() {
        let endpoints = Endpoints::new(&["http://a/".to_string()], 0);
        assert_eq!(endpoints.max_queued(), 1, "a cap of zero would drop every event");
        let endpoint = &endpoints.list()[0];
        endpoint.add_queued(2, 0);
        endpoint.add_queued(0, 5);
        assert_eq!(endpoint.queued(), 0);
        for state in BreakerState::ALL {
            endpoint.set_breaker(state);
            assert_eq!(endpoint.breaker(), state);
        }
        endpoints.count_dropped(DropReason::QueueFull, 3);
        assert_eq!(endpoints.dropped(DropReason::QueueFull), 3);
        assert_eq!(endpoints.dropped(DropReason::Attempts), 0);
    }
}
