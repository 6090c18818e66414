//! Worker: one endpoint's deliveries, oldest due first, one request at a time, behind the endpoint's
//! circuit breaker (`breaker`). A 2xx answer removes the delivery; anything else (a refused connection,
//! no connection within `webhook_connect_timeout`, no answer within `webhook_attempt_timeout`, another
//! status) schedules its next attempt after an exponential backoff, and after `webhook_max_attempts` it
//! is dropped and counted. While the breaker is open the worker sends nothing, so the deliveries wait
//! without spending attempts.
//!
//! At least once: a delivery under way when the service stops is sent again after the restart, with the
//! same event id. An outcome whose store write fails is written again (`STORE_RETRIES`), and until it
//! lands the worker remembers it, so a delivered event is not sent twice in this run; only a stop before
//! the write lands repeats it (receivers deduplicate on the event id).

use std::{collections::HashMap, sync::Arc, time::Duration};

use tokio_util::sync::CancellationToken;

use super::poster::Poster;
use crate::service::{
    clock::now_ms,
    jobs::store::DueDelivery,
    jobs::{Jobs, blocking},
    webhook::{
        backoff::backoff,
        breaker::{Breaker, BreakerState, Gate},
        endpoint::{DropReason, Endpoint, Endpoints},
    },
};

/// Deliveries read from the store per round.
const BATCH: usize = 16;
/// The longest sleep with nothing due: new events wake the worker anyway.
const IDLE_WAIT: Duration = Duration::from_secs(60);
/// Pauses between the tries of one outcome's store write (the store waits up to 5 s for a lock itself):
/// about half a minute in all before the outcome is kept in memory and tried again each round.
const STORE_RETRIES: [Duration; 5] = [
    Duration::from_millis(100),
    Duration::from_millis(500),
    Duration::from_secs(1),
    Duration::from_secs(2),
    Duration::from_secs(4),
];
/// The wait between rounds while the store fails or outcomes wait to be written.
const STORE_PAUSE: Duration = Duration::from_secs(1);

/// An outcome the store has not taken yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// Delivered, or out of attempts: the row goes.
    Done,
    /// Failed: the next attempt is due at `next_ms`.
    Retry { attempts: u32, next_ms: u64 },
}

pub(super) struct Worker {
    jobs: Arc<Jobs>,
    endpoints: Arc<Endpoints>,
    index: usize,
    poster: Arc<Poster>,
    breaker: Breaker,
    /// Outcomes whose store write failed, by delivery id: written again before each round, and applied
    /// to what the store reads meanwhile. At most one per queued row, so within the endpoint's cap.
    unwritten: HashMap<i64, Outcome>,
}

impl Worker {
    pub(super) fn new(jobs: Arc<Jobs>, endpoints: Arc<Endpoints>, index: usize, poster: Arc<Poster>) -> Worker {
        let config = jobs.config();
        let breaker = Breaker::new(
            config.webhook_breaker_failures,
            config.webhook_breaker_cooldown,
            config.webhook_retry_max,
        );
        Worker {
            jobs,
            endpoints,
            index,
            poster,
            breaker,
            unwritten: HashMap::new(),
        }
    }

    fn endpoint(&self) -> &Endpoint {
        &self.endpoints.list()[self.index]
    }

    pub(super) async fn run(mut self, stop: CancellationToken) {
        loop {
            if stop.is_cancelled() {
                return;
            }
            self.write_unwritten().await;
            if let Gate::WaitUntil(until_ms) = self.breaker.gate(now_ms()) {
                self.publish();
                let wait = Duration::from_millis(until_ms.saturating_sub(now_ms()));
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep(wait) => {}
                }
                continue;
            }
            self.publish();
            let Some(due) = self.due().await else {
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep(STORE_PAUSE) => {}
                }
                continue;
            };
            if due.is_empty() {
                let wait = self.idle_wait().await;
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = self.endpoint().woken() => {}
                    _ = tokio::time::sleep(wait) => {}
                }
                continue;
            }
            for delivery in due {
                let gate = self.breaker.gate(now_ms());
                if let Gate::WaitUntil(_) = gate {
                    break;
                }
                self.publish();
                let outcome = tokio::select! {
                    _ = stop.cancelled() => return,
                    outcome = self.poster.post(&delivery) => outcome,
                };
                self.record(delivery, outcome, gate == Gate::Probe).await;
            }
        }
    }

    /// The endpoint's due deliveries as this worker knows them (outcomes not yet written applied);
    /// `None` when the store fails.
    async fn due(&self) -> Option<Vec<DueDelivery>> {
        let now = now_ms();
        let store = self.jobs.outbox().clone();
        let url = self.endpoint().url().to_string();
        let mut due = blocking(move || store.due_webhooks(&url, now, BATCH)).await.ok()?;
        due.retain_mut(|delivery| match self.unwritten.get(&delivery.id) {
            None => true,
            Some(Outcome::Done) => false,
            Some(Outcome::Retry { attempts, next_ms }) => {
                delivery.attempts = *attempts;
                *next_ms <= now
            }
        });
        Some(due)
    }

    /// How long to sleep with nothing due (an event queued meanwhile wakes the worker).
    async fn idle_wait(&self) -> Duration {
        let now = now_ms();
        let store = self.jobs.outbox().clone();
        let url = self.endpoint().url().to_string();
        let next = blocking(move || store.next_webhook_ms(&url)).await;
        let mut wait = match next {
            Ok(Some(next)) if next > now => Duration::from_millis(next - now).min(IDLE_WAIT),
            // Due but held back by an unwritten outcome, or a failing store: look again soon.
            Ok(Some(_)) | Err(_) => STORE_PAUSE,
            Ok(None) => IDLE_WAIT,
        };
        if !self.unwritten.is_empty() {
            wait = wait.min(STORE_PAUSE);
        }
        wait
    }

    /// Counts an attempt's outcome, moves the breaker, and has the store take the outcome.
    async fn record(&mut self, delivery: DueDelivery, outcome: Result<(), String>, probe: bool) {
        let config = self.jobs.config();
        let metrics = &self.jobs.metrics();
        let attempts = delivery.attempts + 1;
        let event = delivery.event_id.as_str();
        let write = match outcome {
            Ok(()) => {
                metrics.webhook_delivery("delivered");
                if self.breaker.state() == BreakerState::HalfOpen {
                    tracing::info!("webhook endpoint answers again: breaker closed");
                }
                self.breaker.success();
                tracing::debug!(%event, attempts, "webhook delivered");
                Outcome::Done
            }
            Err(reason) => {
                let last = attempts >= config.webhook_max_attempts;
                if last {
                    metrics.webhook_delivery("dropped");
                    self.endpoints.count_dropped(DropReason::Attempts, 1);
                    tracing::warn!(%event, attempts, %reason, "webhook dropped after its last attempt");
                } else {
                    metrics.webhook_delivery("failed");
                }
                let delay = backoff(config.webhook_retry_base, config.webhook_retry_max, attempts);
                if !last {
                    tracing::info!(%event, attempts, %reason, retry_in_ms = delay.as_millis() as u64, "webhook attempt failed");
                }
                if let Some(cooldown) = self.breaker.failure(now_ms()) {
                    tracing::warn!(
                        cooldown_ms = cooldown.as_millis() as u64,
                        probe,
                        "webhook endpoint failing: breaker open, its deliveries wait"
                    );
                }
                if last {
                    Outcome::Done
                } else {
                    Outcome::Retry {
                        attempts,
                        next_ms: now_ms() + delay.as_millis() as u64,
                    }
                }
            }
        };
        self.publish();
        if !self.write(delivery.id, write).await {
            tracing::error!(%event, "webhook outcome not stored yet: kept in memory and written again");
            self.unwritten.insert(delivery.id, write);
        }
    }

    /// Writes an outcome, trying again while the store fails; `false` if it never took it.
    async fn write(&self, id: i64, outcome: Outcome) -> bool {
        for pause in std::iter::once(Duration::ZERO).chain(STORE_RETRIES) {
            tokio::time::sleep(pause).await;
            let store = self.jobs.outbox().clone();
            let written = blocking(move || match outcome {
                Outcome::Done => store.webhook_done(id).map(drop),
                Outcome::Retry { attempts, next_ms } => store.webhook_retry(id, attempts, next_ms),
            })
            .await;
            if written.is_ok() {
                return true;
            }
        }
        false
    }

    /// One more try for each outcome the store has not taken.
    async fn write_unwritten(&mut self) {
        let pending: Vec<(i64, Outcome)> = self.unwritten.iter().map(|(id, o)| (*id, *o)).collect();
        for (id, outcome) in pending {
            let store = self.jobs.outbox().clone();
            let written = blocking(move || match outcome {
                Outcome::Done => store.webhook_done(id).map(drop),
                Outcome::Retry { attempts, next_ms } => store.webhook_retry(id, attempts, next_ms),
            })
            .await;
            if written.is_ok() {
                self.unwritten.remove(&id);
            } else {
                return;
            }
        }
    }

    fn publish(&self) {
        self.endpoint().set_breaker(self.breaker.state());
    }
}
