//! The PostgreSQL job store's webhook outbox (`webhook_deliveries`): events queued in the transaction
//! of their job's change, one row per endpoint, each endpoint's queue cut to `webhook_max_queued` (the
//! oldest make room); deliveries handed to one sender at a time across replicas: `claim_due` takes the
//! due rows with `FOR UPDATE SKIP LOCKED` and pushes their next attempt a claim window ahead, so a second
//! replica's sender skips them while the first posts, and finds them again only if that one died.

use std::sync::{Arc, atomic::Ordering};

use tokio_postgres::Transaction;

use super::{
    PostgresJobStore,
    model::{Failure, domain, sql},
};
use crate::service::{
    jobs::store::{DueDelivery, StoreResult},
    webhook::{
        self, WebhookEvent,
        endpoint::{DropReason, Endpoints},
    },
};

/// How long a claimed delivery is left to its sender: far above an attempt's longest (connect and
/// answer timeouts, seconds), so only a sender that died leaves it; then another replica retries it.
pub const CLAIM_WINDOW_MS: u64 = 5 * 60 * 1000;

/// What one event's rows did to the queues, applied to the counts once its transaction commits.
#[derive(Debug, Default)]
pub(super) struct Queued {
    /// Per endpoint (in `Endpoints::list` order): the oldest rows removed to keep it within its cap.
    trimmed: Vec<u64>,
}

impl PostgresJobStore {
    /// Queue job events for `endpoints` from now on. Rows for a URL no longer configured are dropped and
    /// each endpoint's queue is cut to its cap, in one transaction; the counts are taken.
    pub(super) fn set_webhook_endpoints(&self, endpoints: Arc<Endpoints>) -> StoreResult<()> {
        let urls: Vec<String> = endpoints.list().iter().map(|e| e.url().to_string()).collect();
        let max_queued = sql(endpoints.max_queued());
        let (removed, trimmed) = self.with(async |c| {
            let tx = c.transaction().await?;
            let removed = tx
                .execute("DELETE FROM webhook_deliveries WHERE NOT (url = ANY($1))", &[&urls])
                .await?;
            let mut trimmed = 0;
            for url in &urls {
                trimmed += trim(&tx, url, max_queued).await?;
            }
            tx.commit().await?;
            Ok((removed, trimmed))
        })?;
        if removed > 0 {
            tracing::warn!(
                deliveries = removed,
                "webhook deliveries to endpoints no longer configured dropped"
            );
            endpoints.count_dropped(DropReason::EndpointRemoved, removed);
        }
        if trimmed > 0 {
            tracing::warn!(
                deliveries = trimmed,
                max = endpoints.max_queued(),
                "webhook queues cut to webhook_max_queued, oldest first"
            );
            endpoints.count_dropped(DropReason::QueueFull, trimmed);
        }
        *self.inner.webhooks.write().unwrap_or_else(|p| p.into_inner()) = endpoints;
        self.recount()
    }

    /// Where events go now.
    pub(super) fn endpoints(&self) -> Arc<Endpoints> {
        self.inner.webhooks.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Queues `event` of job `id` for every endpoint inside the caller's transaction, cutting an
    /// endpoint at its cap; what changed is counted by `queued` after the commit.
    pub(super) async fn queue_event(
        &self,
        tx: &Transaction<'_>,
        id: &str,
        event: &WebhookEvent<'_>,
        now_ms: u64,
    ) -> Result<Queued, Failure> {
        let endpoints = self.endpoints();
        if endpoints.is_empty() {
            return Ok(Queued::default());
        }
        let (event_id, body) = webhook::payload(id, event, now_ms);
        let mut trimmed = Vec::with_capacity(endpoints.list().len());
        for endpoint in endpoints.list() {
            tx.execute(
                "INSERT INTO webhook_deliveries (url, event_id, body, next_ms, created_ms) VALUES ($1, $2, $3, $4, $4)",
                &[&endpoint.url(), &event_id, &body, &sql(now_ms)],
            )
            .await?;
            // This replica's count lags other replicas' rows until the next checkpoint counts them: the
            // queue stays within a checkpoint's worth of events of its cap.
            let full = endpoint.queued() + 1 > endpoints.max_queued();
            trimmed.push(if full {
                trim(tx, endpoint.url(), sql(endpoints.max_queued())).await?
            } else {
                0
            });
        }
        Ok(Queued { trimmed })
    }

    /// After a commit that queued an event.
    pub(super) fn queued(&self, queued: Queued) {
        if queued.trimmed.is_empty() {
            return;
        }
        let endpoints = self.endpoints();
        let mut dropped = 0;
        for (endpoint, trimmed) in endpoints.list().iter().zip(&queued.trimmed) {
            endpoint.add_queued(1, *trimmed);
            dropped += trimmed;
            endpoint.wake();
        }
        let added = queued.trimmed.len() as u64;
        let _ = self
            .inner
            .webhook_depth
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                Some((n + added).saturating_sub(dropped))
            });
        if dropped > 0 {
            endpoints.count_dropped(DropReason::QueueFull, dropped);
        }
    }

    /// `url`'s deliveries due at `now_ms`, oldest due first, claimed: none of them is handed to another
    /// caller (this replica's or another's) before `now_ms + CLAIM_WINDOW_MS` unless `webhook_retry`
    /// names an earlier time.
    pub(super) fn claim_due(&self, url: &str, now_ms: u64, limit: usize) -> StoreResult<Vec<DueDelivery>> {
        let limit = limit.min(i64::MAX as usize) as i64;
        let mut due = self.with(async |c| {
            let rows = c
                .query(
                    "WITH due AS (
                         SELECT id, next_ms FROM webhook_deliveries
                         WHERE url = $1 AND next_ms <= $2 ORDER BY next_ms, id LIMIT $3
                         FOR UPDATE SKIP LOCKED)
                     UPDATE webhook_deliveries AS w SET next_ms = $4 FROM due WHERE w.id = due.id
                     RETURNING w.id, w.url, w.event_id, w.body, w.attempts, due.next_ms",
                    &[&url, &sql(now_ms), &limit, &sql(now_ms.saturating_add(CLAIM_WINDOW_MS))],
                )
                .await?;
            Ok(rows
                .iter()
                .map(|r| {
                    let delivery = DueDelivery {
                        id: r.get(0),
                        url: r.get(1),
                        event_id: r.get(2),
                        body: r.get(3),
                        attempts: r.get::<_, i32>(4).max(0) as u32,
                    };
                    (r.get::<_, i64>(5), delivery)
                })
                .collect::<Vec<_>>())
        })?;
        due.sort_by_key(|(next_ms, delivery)| (*next_ms, delivery.id));
        Ok(due.into_iter().map(|(_, delivery)| delivery).collect())
    }

    /// When `url`'s next delivery is due, if one is queued (a claimed one: when its window ends).
    pub(super) fn read_next_due(&self, url: &str) -> StoreResult<Option<u64>> {
        self.with(async |c| {
            let next: Option<i64> = c
                .query_one("SELECT MIN(next_ms) FROM webhook_deliveries WHERE url = $1", &[&url])
                .await?
                .get(0);
            Ok(next.map(domain))
        })
    }

    /// A delivery that succeeded, or ran out of attempts: gone. `false`: it was gone already.
    pub(super) fn remove_delivery(&self, id: i64) -> StoreResult<bool> {
        let url: Option<String> = self.with(async |c| {
            let row = c
                .query_opt("DELETE FROM webhook_deliveries WHERE id = $1 RETURNING url", &[&id])
                .await?;
            Ok(row.map(|r| r.get(0)))
        })?;
        let Some(url) = url else {
            return Ok(false);
        };
        if let Some(endpoint) = self.endpoints().find(&url) {
            endpoint.add_queued(0, 1);
        }
        let _ = self
            .inner
            .webhook_depth
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| Some(n.saturating_sub(1)));
        Ok(true)
    }

    /// A failed attempt: the next one is due at `next_ms` (which ends the claim).
    pub(super) fn reschedule_delivery(&self, id: i64, attempts: u32, next_ms: u64) -> StoreResult<()> {
        self.with(async |c| {
            c.execute(
                "UPDATE webhook_deliveries SET attempts = $2, next_ms = $3 WHERE id = $1",
                &[&id, &(attempts.min(i32::MAX as u32) as i32), &sql(next_ms)],
            )
            .await?;
            Ok(())
        })
    }
}

/// Removes `url`'s oldest rows beyond the newest `keep`; how many.
async fn trim(tx: &Transaction<'_>, url: &str, keep: i64) -> Result<u64, Failure> {
    Ok(tx
        .execute(
            "DELETE FROM webhook_deliveries WHERE id IN (
                 SELECT id FROM webhook_deliveries WHERE url = $1 ORDER BY id DESC OFFSET $2)",
            &[&url, &keep],
        )
        .await?)
}
