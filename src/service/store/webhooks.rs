//! The job store's webhook queue (`webhook_deliveries`): events queued in the transaction of their job's
//! change, one row per endpoint, and what the sender reads and removes.

use std::sync::{Arc, atomic::Ordering};

use rusqlite::{Connection, params};
use tokio::sync::Notify;

use super::{Result, Store};
use crate::service::webhook::{self, WebhookEvent};

/// A queued webhook delivery that is due.
#[derive(Debug, Clone)]
pub struct DueDelivery {
    pub id: i64,
    pub url: String,
    pub event_id: String,
    pub body: Vec<u8>,
    pub attempts: u32,
}

impl Store {
    /// Queue job events for `urls` from now on (set once, before the store is shared).
    pub fn set_webhook_urls(&mut self, urls: Vec<String>) {
        self.webhook_urls = Arc::new(urls);
    }

    /// Queues `event` of job `id` for every endpoint, on `c` (inside the caller's transaction); returns
    /// the rows added, for `webhook_depth` once the transaction commits.
    pub(super) fn queue_event(&self, c: &Connection, id: &str, event: &WebhookEvent<'_>, now_ms: u64) -> Result<u64> {
        if self.webhook_urls.is_empty() {
            return Ok(0);
        }
        let (event_id, body) = webhook::payload(id, event, now_ms);
        for url in self.webhook_urls.iter() {
            c.execute(
                "INSERT INTO webhook_deliveries (url, event_id, body, next_ms, created_ms) VALUES (?1, ?2, ?3, ?4, ?4)",
                params![url, event_id, body, now_ms as i64],
            )?;
        }
        Ok(self.webhook_urls.len() as u64)
    }

    /// After a commit that queued `rows` deliveries.
    pub(super) fn queued(&self, rows: u64) {
        if rows > 0 {
            self.webhook_depth.fetch_add(rows, Ordering::Relaxed);
            self.webhook_enqueued.notify_one();
        }
    }

    /// Deliveries due at `now_ms`, oldest first.
    pub fn due_webhooks(&self, now_ms: u64, limit: usize) -> Result<Vec<DueDelivery>> {
        self.with(|c| {
            let mut statement = c.prepare(
                "SELECT id, url, event_id, body, attempts FROM webhook_deliveries WHERE next_ms <= ?1
                 ORDER BY next_ms, id LIMIT ?2",
            )?;
            statement
                .query_map(params![now_ms as i64, limit as i64], |r| {
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

    /// When the next delivery is due, if any is queued.
    pub fn next_webhook_ms(&self) -> Result<Option<u64>> {
        self.with(|c| {
            c.query_row("SELECT MIN(next_ms) FROM webhook_deliveries", [], |r| {
                r.get::<_, Option<i64>>(0)
            })
            .map(|v| v.map(|ms| ms.max(0) as u64))
        })
    }

    /// A delivery that succeeded, or ran out of attempts: gone from the queue.
    pub fn webhook_done(&self, id: i64) -> Result<()> {
        self.with(|c| {
            if c.execute("DELETE FROM webhook_deliveries WHERE id = ?1", [id])? > 0 {
                self.webhook_depth.fetch_sub(1, Ordering::Relaxed);
            }
            Ok(())
        })
    }

    /// A failed attempt: the next one is due at `next_ms`.
    pub fn webhook_retry(&self, id: i64, attempts: u32, next_ms: u64) -> Result<()> {
        self.with(|c| {
            c.execute(
                "UPDATE webhook_deliveries SET attempts = ?2, next_ms = ?3 WHERE id = ?1",
                params![id, attempts, next_ms as i64],
            )
            .map(|_| ())
        })
    }

    /// Deliveries queued, read without a query.
    pub fn webhook_queue_depth(&self) -> u64 {
        self.webhook_depth.load(Ordering::Relaxed)
    }

    pub fn webhook_notify(&self) -> Arc<Notify> {
        self.webhook_enqueued.clone()
    }
}
