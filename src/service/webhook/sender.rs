//! Webhook sender: the one task that delivers the job store's queued webhook events, oldest due first,
//! one request at a time (integrator endpoints are few and events are rare next to scans). A 2xx answer
//! removes the delivery; anything else (a refused connection, a timeout, another status) schedules the
//! next attempt after an exponential backoff with a cap, and after `webhook_max_attempts` the delivery
//! is dropped and counted. At least once: a delivery interrupted by a stop is sent again after the
//! restart, with the same event id.

use std::{sync::Arc, time::Duration};

use bytes::Bytes;
use http::{Request, header};
use http_body_util::Full;
use hyper_util::{
    client::legacy::{Client, connect::HttpConnector},
    rt::TokioExecutor,
};
use tokio_util::sync::CancellationToken;

use super::{EVENT_ID_HEADER, SIGNATURE_HEADER, WebhookSecret};
use crate::service::{
    engine::{Engine, blocking, now_ms},
    store::DueDelivery,
};

/// One attempt's bound: a receiver should answer at once and do its work later.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// Deliveries read from the store per round.
const BATCH: usize = 16;
/// The longest sleep with nothing due: new events wake the sender anyway.
const IDLE_WAIT: Duration = Duration::from_secs(60);

pub(crate) async fn run(engine: Arc<Engine>, secret: WebhookSecret, stop: CancellationToken) {
    let client: Client<HttpConnector, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let notify = engine.store.webhook_notify();
    let config = engine.config();
    tracing::info!(endpoints = config.webhook_urls.len(), "webhook sender started");
    loop {
        let now = now_ms();
        let store = engine.store.clone();
        let due = blocking(move || store.due_webhooks(now, BATCH))
            .await
            .unwrap_or_default();
        let mut wait = IDLE_WAIT;
        if due.is_empty() {
            let store = engine.store.clone();
            if let Ok(Some(next)) = blocking(move || store.next_webhook_ms()).await {
                wait = wait.min(Duration::from_millis(next.saturating_sub(now)));
            }
        }
        for delivery in due {
            let outcome = tokio::select! {
                _ = stop.cancelled() => return,
                outcome = attempt(&client, &secret, &delivery) => outcome,
            };
            record(&engine, delivery, outcome).await;
            wait = Duration::ZERO;
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = notify.notified() => {}
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

/// One POST; `Err` says why it did not count as delivered (for the log: no URL, no body).
async fn attempt(
    client: &Client<HttpConnector, Full<Bytes>>,
    secret: &WebhookSecret,
    delivery: &DueDelivery,
) -> Result<(), String> {
    let unix = now_ms() / 1000;
    let request = Request::post(delivery.url.as_str())
        .header(header::CONTENT_TYPE, "application/json")
        .header(
            header::USER_AGENT,
            concat!("tari-wallet-sync/", env!("CARGO_PKG_VERSION")),
        )
        .header(EVENT_ID_HEADER, delivery.event_id.as_str())
        .header(SIGNATURE_HEADER, secret.sign(unix, &delivery.body))
        .body(Full::new(Bytes::from(delivery.body.clone())))
        .map_err(|e| format!("building the request: {e}"))?;
    match tokio::time::timeout(ATTEMPT_TIMEOUT, client.request(request)).await {
        Err(_) => Err("timed out".into()),
        Ok(Err(error)) => Err(format!("connection: {error}")),
        Ok(Ok(response)) if response.status().is_success() => Ok(()),
        Ok(Ok(response)) => Err(format!("status {}", response.status().as_u16())),
    }
}

/// Removes a delivered or exhausted delivery, or schedules its next attempt.
async fn record(engine: &Arc<Engine>, delivery: DueDelivery, outcome: Result<(), String>) {
    let config = engine.config();
    let attempts = delivery.attempts + 1;
    let store = engine.store.clone();
    let id = delivery.id;
    let endpoint = http::Uri::try_from(delivery.url.as_str())
        .ok()
        .and_then(|u| u.authority().map(|a| a.to_string()))
        .unwrap_or_default();
    match outcome {
        Ok(()) => {
            engine.metrics.webhook_delivery("delivered");
            tracing::debug!(event = %delivery.event_id, %endpoint, attempts, "webhook delivered");
            let _ = blocking(move || store.webhook_done(id)).await;
        }
        Err(reason) if attempts >= config.webhook_max_attempts => {
            engine.metrics.webhook_delivery("dropped");
            tracing::warn!(event = %delivery.event_id, %endpoint, attempts, %reason, "webhook dropped after its last attempt");
            let _ = blocking(move || store.webhook_done(id)).await;
        }
        Err(reason) => {
            engine.metrics.webhook_delivery("failed");
            let delay = backoff(config.webhook_retry_base, config.webhook_retry_max, attempts);
            tracing::info!(event = %delivery.event_id, %endpoint, attempts, %reason, retry_in_ms = delay.as_millis() as u64, "webhook attempt failed");
            let next = now_ms() + delay.as_millis() as u64;
            let _ = blocking(move || store.webhook_retry(id, attempts, next)).await;
        }
    }
}

/// The wait after the `attempts`-th failed attempt: `base`, doubling, at most `max`.
pub(crate) fn backoff(base: Duration, max: Duration, attempts: u32) -> Duration {
    let doublings = attempts.saturating_sub(1).min(30);
    base.saturating_mul(1 << doublings).min(max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_its_cap() {
        let (base, max) = (Duration::from_secs(5), Duration::from_secs(60));
        let waits: Vec<u64> = (1..=6).map(|n| backoff(base, max, n).as_secs()).collect();
        assert_eq!(waits, [5, 10, 20, 40, 60, 60]);
        assert_eq!(backoff(base, Duration::MAX, 200), base * (1 << 30));
    }
}
