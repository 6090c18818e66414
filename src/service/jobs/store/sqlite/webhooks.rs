//! The job store's webhook queue (`webhook_deliveries`): events queued in the transaction of their job's
//! change, one row per endpoint, at most `webhook_max_queued` rows per endpoint (the oldest make room),
//! and what each endpoint's worker reads, reschedules and removes. Keeps each endpoint's count of rows
//! (`Endpoint::queued`) and the total as it writes, so `/metrics` never queries.

use std::sync::{Arc, atomic::Ordering};

use rusqlite::{Connection, OptionalExtension, params};

use super::{Queued, Result, SqliteJobStore};
use crate::service::{
    jobs::store::{DueDelivery, StoreResult},
    webhook::{
        self, WebhookEvent,
        endpoint::{DropReason, Endpoints},
    },
};

impl SqliteJobStore {
    /// Queue job events for `endpoints` from now on: set once at start, before any job changes. Rows
    /// for a URL no longer configured are dropped (the operator removed it: its host may be someone
    /// else's now), each endpoint's queue is cut to its cap (oldest first: the cap may have been lowered),
    /// and the counts are taken.
    pub(super) fn set_webhook_endpoints(&self, endpoints: Arc<Endpoints>) -> StoreResult<()> {
        let (removed, trimmed, counts) = self.with(|c| {
            let tx = c.unchecked_transaction()?;
            let mut removed = 0;
            let urls: Vec<String> = tx
                .prepare("SELECT DISTINCT url FROM webhook_deliveries")?
                .query_map([], |r| r.get(0))?
                .collect::<Result<_>>()?;
            for url in urls.iter().filter(|u| endpoints.find(u).is_none()) {
                removed += tx.execute("DELETE FROM webhook_deliveries WHERE url = ?1", [url])? as u64;
            }
            let mut trimmed = 0;
            let mut counts = Vec::with_capacity(endpoints.list().len());
            for endpoint in endpoints.list() {
                trimmed += trim(&tx, endpoint.url(), endpoints.max_queued())?;
                counts.push(count(&tx, endpoint.url())?);
            }
            tx.commit()?;
            Ok((removed, trimmed, counts))
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
        for (endpoint, count) in endpoints.list().iter().zip(counts) {
            endpoint.set_queued(count);
        }
        self.webhook_depth
            .fetch_sub((removed + trimmed).min(self.queue_depth()), Ordering::Relaxed);
        *self.webhooks.write().unwrap_or_else(|p| p.into_inner()) = endpoints;
        Ok(())
    }

    /// Where events go now.
    pub(super) fn endpoints(&self) -> Arc<Endpoints> {
        self.webhooks.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Queues `event` of job `id` for every endpoint, on `c` (inside the caller's transaction), removing
    /// the oldest rows of an endpoint at its cap; what changed is counted by `queued` after the commit.
    pub(super) fn queue_event(
        &self,
        c: &Connection,
        id: &str,
        event: &WebhookEvent<'_>,
        now_ms: u64,
    ) -> Result<Queued> {
        let endpoints = self.endpoints();
        if endpoints.is_empty() {
            return Ok(Queued::default());
        }
        let (event_id, body) = webhook::payload(id, event, now_ms);
        let mut trimmed = Vec::with_capacity(endpoints.list().len());
        for endpoint in endpoints.list() {
            c.execute(
                "INSERT INTO webhook_deliveries (url, event_id, body, next_ms, created_ms) VALUES (?1, ?2, ?3, ?4, ?4)",
                params![endpoint.url(), event_id, body, now_ms as i64],
            )?;
            // The count read here may lag a commit under way on another thread by a row or two; the next
            // event's trim takes those too, so the queue stays within a few rows of its cap.
            let full = endpoint.queued() + 1 > endpoints.max_queued();
            trimmed.push(if full {
                trim(c, endpoint.url(), endpoints.max_queued())?
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
            .webhook_depth
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                Some((n + added).saturating_sub(dropped))
            });
        if dropped > 0 {
            endpoints.count_dropped(DropReason::QueueFull, dropped);
        }
    }

    /// `url`'s deliveries due at `now_ms`, oldest due first.
    pub(super) fn read_due(&self, url: &str, now_ms: u64, limit: usize) -> StoreResult<Vec<DueDelivery>> {
        self.with(|c| {
            let mut statement = c.prepare_cached(
                "SELECT id, url, event_id, body, attempts FROM webhook_deliveries
                 WHERE url = ?1 AND next_ms <= ?2 ORDER BY next_ms, id LIMIT ?3",
            )?;
            statement
                .query_map(params![url, now_ms as i64, limit as i64], |r| {
                    Ok(DueDelivery {
                        id: r.get(0)?,
                        url: r.get(1)?,
                        event_id: r.get(2)?,
                        body: r.get(3)?,
                        attempts: r.get(4)?,
                    })
                })?
                .collect()
        })
    }

    /// When `url`'s next delivery is due, if one is queued.
    pub(super) fn read_next_due(&self, url: &str) -> StoreResult<Option<u64>> {
        self.with(|c| {
            c.query_row(
                "SELECT MIN(next_ms) FROM webhook_deliveries WHERE url = ?1",
                [url],
                |r| r.get::<_, Option<i64>>(0),
            )
            .map(|v| v.map(|ms| ms.max(0) as u64))
        })
    }

    /// A delivery that succeeded, or ran out of attempts: gone from the queue. `false`: it was gone
    /// already (cut to make room, or removed before).
    pub(super) fn remove_delivery(&self, id: i64) -> StoreResult<bool> {
        self.with(|c| {
            let url: Option<String> = c
                .query_row(
                    "DELETE FROM webhook_deliveries WHERE id = ?1 RETURNING url",
                    [id],
                    |r| r.get(0),
                )
                .optional()?;
            let Some(url) = url else {
                return Ok(false);
            };
            if let Some(endpoint) = self.endpoints().find(&url) {
                endpoint.add_queued(0, 1);
            }
            let _ = self
                .webhook_depth
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| Some(n.saturating_sub(1)));
            Ok(true)
        })
    }

    /// A failed attempt: the next one is due at `next_ms`.
    pub(super) fn reschedule_delivery(&self, id: i64, attempts: u32, next_ms: u64) -> StoreResult<()> {
        self.with(|c| {
            c.execute(
                "UPDATE webhook_deliveries SET attempts = ?2, next_ms = ?3 WHERE id = ?1",
                params![id, attempts, next_ms as i64],
            )
            .map(|_| ())
        })
    }

    /// Deliveries queued in all, read without a query.
    pub(super) fn queue_depth(&self) -> u64 {
        self.webhook_depth.load(Ordering::Relaxed)
    }
}

/// Removes `url`'s oldest rows beyond the newest `keep`; returns how many.
fn trim(c: &Connection, url: &str, keep: u64) -> Result<u64> {
    c.execute(
        "DELETE FROM webhook_deliveries WHERE id IN (
             SELECT id FROM webhook_deliveries WHERE url = ?1 ORDER BY id DESC LIMIT -1 OFFSET ?2)",
        params![url, keep as i64],
    )
    .map(|n| n as u64)
}

fn count(c: &Connection, url: &str) -> Result<u64> {
    c.query_row("SELECT COUNT(*) FROM webhook_deliveries WHERE url = ?1", [url], |r| {
        r.get::<_, i64>(0)
    })
    .map(|n| n as u64)
}

#[cfg(test)]
mod tests;
