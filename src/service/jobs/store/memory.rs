//! The in-memory job store: every promise of `JobStore` kept in a map under one lock, nothing on disk.
//! The job domain's unit tests run over it (no disk, no server), and it is the second implementation
//! that keeps the trait honest: a call that only SQLite could answer would not fit here. A service over
//! it loses its jobs at a restart, so it is for tests and demos, never the default.

use std::{
    collections::{BTreeMap, HashMap},
    sync::{Arc, Mutex, MutexGuard},
};

use crate::service::{
    jobs::store::{
        DueDelivery, Inserted, JobStore, JobStoreError, NewJob, SealedParts, StoreResult, StoredJob, StoredResult,
        StoredState,
    },
    webhook::{
        self, WebhookEvent,
        endpoint::{DropReason, Endpoints},
    },
};

/// A job store in memory. Cheap to clone (clones share the jobs).
#[derive(Clone, Default)]
pub struct MemoryJobStore {
    state: Arc<Mutex<State>>,
}

#[derive(Default)]
struct State {
    boot: u64,
    /// In submission order.
    jobs: Vec<Row>,
    /// Accepted envelopes: until when (ms) and as which job.
    seen: HashMap<[u8; 32], (u64, Option<String>)>,
    /// Webhook deliveries by id (ids grow, so the oldest come first).
    deliveries: BTreeMap<i64, Delivery>,
    next_delivery: i64,
    endpoints: Option<Arc<Endpoints>>,
}

struct Row {
    id: String,
    state: StoredState,
    birthday: u64,
    sealed_envelope: Option<Vec<u8>>,
    format: u32,
    attempts: u32,
    created_ms: u64,
    expires_ms: Option<u64>,
    error: Option<(String, String)>,
    result: Option<StoredResult>,
    tokens: Vec<Token>,
}

struct Token {
    hash: [u8; 32],
    result_key: Option<[u8; 32]>,
    sealed_file_key: Option<Vec<u8>>,
}

struct Delivery {
    url: String,
    event_id: String,
    body: Vec<u8>,
    attempts: u32,
    next_ms: u64,
}

impl MemoryJobStore {
    pub fn new() -> MemoryJobStore {
        MemoryJobStore::default()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl State {
    fn row(&mut self, id: &str) -> Option<&mut Row> {
        self.jobs.iter_mut().find(|row| row.id == id)
    }

    fn endpoints(&self) -> Arc<Endpoints> {
        self.endpoints.clone().unwrap_or_else(|| Arc::new(Endpoints::none()))
    }

    /// Queues `event` of job `id` for every endpoint, each queue cut to its cap (oldest first).
    fn queue_event(&mut self, id: &str, event: &WebhookEvent<'_>, now_ms: u64) {
        let endpoints = self.endpoints();
        if endpoints.is_empty() {
            return;
        }
        let (event_id, body) = webhook::payload(id, event, now_ms);
        for endpoint in endpoints.list() {
            self.next_delivery += 1;
            self.deliveries.insert(
                self.next_delivery,
                Delivery {
                    url: endpoint.url().to_string(),
                    event_id: event_id.clone(),
                    body: body.clone(),
                    attempts: 0,
                    next_ms: now_ms,
                },
            );
            let trimmed = self.trim(endpoint.url(), endpoints.max_queued());
            endpoint.add_queued(1, trimmed);
            if trimmed > 0 {
                endpoints.count_dropped(DropReason::QueueFull, trimmed);
            }
            endpoint.wake();
        }
    }

    /// Removes `url`'s oldest deliveries beyond the newest `keep`; how many.
    fn trim(&mut self, url: &str, keep: u64) -> u64 {
        let ids: Vec<i64> = self
            .deliveries
            .iter()
            .filter(|(_, d)| d.url == url)
            .map(|(id, _)| *id)
            .collect();
        let excess = ids.len().saturating_sub(keep as usize);
        for id in &ids[..excess] {
            self.deliveries.remove(id);
        }
        excess as u64
    }
}

impl JobStore for MemoryJobStore {
    fn attach_webhooks(&self, endpoints: Arc<Endpoints>) -> StoreResult<()> {
        let mut state = self.state();
        let before = state.deliveries.len();
        state.deliveries.retain(|_, d| endpoints.find(&d.url).is_some());
        let removed = (before - state.deliveries.len()) as u64;
        if removed > 0 {
            endpoints.count_dropped(DropReason::EndpointRemoved, removed);
        }
        for endpoint in endpoints.list() {
            let trimmed = state.trim(endpoint.url(), endpoints.max_queued());
            if trimmed > 0 {
                endpoints.count_dropped(DropReason::QueueFull, trimmed);
            }
            let count = state.deliveries.values().filter(|d| d.url == endpoint.url()).count();
            endpoint.set_queued(count as u64);
        }
        state.endpoints = Some(endpoints);
        Ok(())
    }

    fn next_boot(&self) -> StoreResult<u64> {
        let mut state = self.state();
        state.boot += 1;
        Ok(state.boot)
    }

    fn load(&self) -> StoreResult<Vec<StoredJob>> {
        let state = self.state();
        let mut jobs: Vec<StoredJob> = state
            .jobs
            .iter()
            .map(|row| StoredJob {
                id: row.id.clone(),
                state: row.state,
                birthday: row.birthday,
                attempts: row.attempts,
                created_ms: row.created_ms,
                expires_ms: row.expires_ms,
                error: row.error.clone(),
                result: row.result.clone(),
                file_written: row.tokens.iter().any(|t| t.sealed_file_key.is_some()),
                tokens: row.tokens.iter().map(|t| t.hash).collect(),
            })
            .collect();
        // Stable: jobs created in the same millisecond stay in submission order.
        jobs.sort_by_key(|job| job.created_ms);
        Ok(jobs)
    }

    fn insert(&self, job: &NewJob<'_>) -> StoreResult<Inserted> {
        let mut state = self.state();
        if let Some((ephemeral, _)) = job.envelope
            && let Some((_, earlier)) = state.seen.get(ephemeral)
        {
            return Ok(Inserted::Repeat(earlier.clone()));
        }
        if state.row(job.id).is_some() {
            return Err(JobStoreError::new(format!("job {} is stored already", job.id)));
        }
        if let Some((ephemeral, expires_ms)) = job.envelope {
            state.seen.insert(*ephemeral, (expires_ms, Some(job.id.to_string())));
        }
        state.jobs.push(Row {
            id: job.id.to_string(),
            state: StoredState::Queued,
            birthday: job.birthday,
            sealed_envelope: Some(job.sealed_request.to_vec()),
            format: job.format,
            attempts: 0,
            created_ms: job.created_ms,
            expires_ms: None,
            error: None,
            result: None,
            tokens: vec![Token {
                hash: *job.token_hash,
                result_key: Some(*job.result_key),
                sealed_file_key: None,
            }],
        });
        Ok(Inserted::New)
    }

    fn envelope_job(&self, ephemeral: &[u8; 32]) -> StoreResult<Option<Option<String>>> {
        Ok(self.state().seen.get(ephemeral).map(|(_, job)| job.clone()))
    }

    fn oldest_envelope_ms(&self) -> StoreResult<Option<u64>> {
        Ok(self.state().seen.values().map(|(until, _)| *until).min())
    }

    fn envelopes_remembered(&self) -> u64 {
        self.state().seen.len() as u64
    }

    fn mark_scanning(&self, ids: &[String]) -> StoreResult<()> {
        let mut state = self.state();
        for id in ids {
            if let Some(row) = state.row(id)
                && matches!(row.state, StoredState::Queued | StoredState::Scanning)
            {
                row.state = StoredState::Scanning;
                row.attempts += 1;
            }
        }
        Ok(())
    }

    fn sealed(&self, id: &str) -> StoreResult<Option<SealedParts>> {
        let mut state = self.state();
        Ok(state.row(id).and_then(|row| {
            row.sealed_envelope.clone().map(|sealed_envelope| SealedParts {
                format: row.format,
                sealed_envelope,
            })
        }))
    }

    fn requeue(&self, id: &str, give_back: bool) -> StoreResult<()> {
        if let Some(row) = self.state().row(id)
            && row.state == StoredState::Scanning
        {
            row.state = StoredState::Queued;
            if give_back {
                row.attempts = row.attempts.saturating_sub(1);
            }
        }
        Ok(())
    }

    fn finish_ready(&self, id: &str, result: &StoredResult, now_ms: u64, expires_ms: u64) -> StoreResult<()> {
        let mut state = self.state();
        let Some(row) = state.row(id).filter(|row| row.state == StoredState::Scanning) else {
            return Ok(());
        };
        row.state = StoredState::Ready;
        row.sealed_envelope = None;
        row.expires_ms = Some(expires_ms);
        row.result = Some(result.clone());
        let event = WebhookEvent::Ready {
            size: result.size,
            sha256: &result.sha256,
            stale: result.stale,
            tip_height: result.tip_height,
            expires_ms,
        };
        state.queue_event(id, &event, now_ms);
        Ok(())
    }

    fn finish_failed(&self, id: &str, code: &str, message: &str, now_ms: u64, expires_ms: u64) -> StoreResult<()> {
        let mut state = self.state();
        let Some(row) = state.row(id) else {
            return Ok(());
        };
        for token in &mut row.tokens {
            token.sealed_file_key = None;
        }
        if !matches!(
            row.state,
            StoredState::Queued | StoredState::Scanning | StoredState::Ready
        ) {
            return Ok(());
        }
        row.state = StoredState::Failed;
        row.sealed_envelope = None;
        row.expires_ms = Some(expires_ms);
        row.error = Some((code.to_string(), message.to_string()));
        let event = WebhookEvent::Failed {
            code,
            message,
            expires_ms,
        };
        state.queue_event(id, &event, now_ms);
        Ok(())
    }

    fn result_keys(&self, id: &str, unsealed_only: bool) -> StoreResult<Vec<([u8; 32], [u8; 32])>> {
        let mut state = self.state();
        Ok(state.row(id).map_or_else(Vec::new, |row| {
            row.tokens
                .iter()
                .filter(|t| !unsealed_only || t.sealed_file_key.is_none())
                .filter_map(|t| t.result_key.map(|key| (t.hash, key)))
                .collect()
        }))
    }

    fn set_sealed_file_key(&self, id: &str, hash: &[u8; 32], sealed: &[u8]) -> StoreResult<()> {
        if let Some(row) = self.state().row(id)
            && let Some(token) = row.tokens.iter_mut().find(|t| t.hash == *hash)
        {
            token.sealed_file_key = Some(sealed.to_vec());
        }
        Ok(())
    }

    fn sealed_file_key(&self, id: &str, hash: &[u8; 32]) -> StoreResult<Option<Vec<u8>>> {
        let mut state = self.state();
        Ok(state
            .row(id)
            .and_then(|row| row.tokens.iter().find(|t| t.hash == *hash))
            .and_then(|t| t.sealed_file_key.clone()))
    }

    fn tombstone(&self, id: &str, tombstone: StoredState, until_ms: u64) -> StoreResult<()> {
        let mut state = self.state();
        let Some(row) = state.row(id) else {
            return Ok(());
        };
        let finished = matches!(row.state, StoredState::Ready | StoredState::Failed);
        row.state = tombstone;
        row.sealed_envelope = None;
        row.expires_ms = Some(until_ms);
        row.result = None;
        for token in &mut row.tokens {
            token.result_key = None;
            token.sealed_file_key = None;
        }
        if finished && tombstone == StoredState::Expired {
            state.queue_event(id, &WebhookEvent::Expired, crate::service::clock::now_ms());
        }
        Ok(())
    }

    fn purge(&self, now_ms: u64) -> StoreResult<usize> {
        let mut state = self.state();
        state.seen.retain(|_, (until, _)| *until >= now_ms);
        let before = state.jobs.len();
        state
            .jobs
            .retain(|row| !(row.state.is_tombstone() && row.expires_ms.is_some_and(|until| until < now_ms)));
        Ok(before - state.jobs.len())
    }

    fn checkpoint(&self) -> StoreResult<()> {
        Ok(())
    }

    fn keys_held(&self) -> u64 {
        self.state()
            .jobs
            .iter()
            .filter(|row| row.sealed_envelope.is_some())
            .count() as u64
    }

    fn webhook_endpoints(&self) -> Arc<Endpoints> {
        self.state().endpoints()
    }

    fn due_webhooks(&self, url: &str, now_ms: u64, limit: usize) -> StoreResult<Vec<DueDelivery>> {
        let state = self.state();
        let mut due: Vec<DueDelivery> = state
            .deliveries
            .iter()
            .filter(|(_, d)| d.url == url && d.next_ms <= now_ms)
            .map(|(id, d)| DueDelivery {
                id: *id,
                url: d.url.clone(),
                event_id: d.event_id.clone(),
                body: d.body.clone(),
                attempts: d.attempts,
            })
            .collect();
        due.sort_by_key(|d| (state.deliveries[&d.id].next_ms, d.id));
        due.truncate(limit);
        Ok(due)
    }

    fn next_webhook_ms(&self, url: &str) -> StoreResult<Option<u64>> {
        Ok(self
            .state()
            .deliveries
            .values()
            .filter(|d| d.url == url)
            .map(|d| d.next_ms)
            .min())
    }

    fn webhook_done(&self, id: i64) -> StoreResult<bool> {
        let mut state = self.state();
        let Some(delivery) = state.deliveries.remove(&id) else {
            return Ok(false);
        };
        if let Some(endpoint) = state.endpoints().find(&delivery.url) {
            endpoint.add_queued(0, 1);
        }
        Ok(true)
    }

    fn webhook_retry(&self, id: i64, attempts: u32, next_ms: u64) -> StoreResult<()> {
        if let Some(delivery) = self.state().deliveries.get_mut(&id) {
            delivery.attempts = attempts;
            delivery.next_ms = next_ms;
        }
        Ok(())
    }

    fn webhook_queue_depth(&self) -> u64 {
        self.state().deliveries.len() as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::jobs::store::SUBMISSION_FORMAT;

    fn job<'a>(id: &'a str, envelope: Option<(&'a [u8; 32], u64)>) -> NewJob<'a> {
        NewJob {
            id,
            birthday: 5,
            sealed_request: &[9; 80],
            format: SUBMISSION_FORMAT,
            token_hash: &[4; 32],
            result_key: &[6; 32],
            created_ms: 10,
            envelope,
        }
    }

    const RESULT: StoredResult = StoredResult {
        size: 100,
        sha256: String::new(),
        stale: false,
        tip_height: Some(12),
    };

    fn with_endpoint(cap: u64) -> (MemoryJobStore, Arc<Endpoints>) {
        let store = MemoryJobStore::new();
        let endpoints = Arc::new(Endpoints::new(&["http://127.0.0.1:9/a".to_string()], cap));
        store.attach_webhooks(endpoints.clone()).unwrap();
        (store, endpoints)
    }

    fn ready(store: &MemoryJobStore, id: &str) {
        store.insert(&job(id, None)).unwrap();
        store.mark_scanning(&[id.to_string()]).unwrap();
        store.finish_ready(id, &RESULT, 20, 30).unwrap();
    }

    #[test]
    fn a_deleted_job_never_becomes_ready_and_queues_no_event() {
        let (store, _) = with_endpoint(10);
        store.insert(&job("a", None)).unwrap();
        store.mark_scanning(&["a".into()]).unwrap();
        store.tombstone("a", StoredState::Deleted, 99).unwrap();
        store.finish_ready("a", &RESULT, 20, 30).unwrap();
        let stored = store.load().unwrap().remove(0);
        assert_eq!((stored.state, stored.result), (StoredState::Deleted, None));
        assert_eq!((store.keys_held(), store.webhook_queue_depth()), (0, 0));
    }

    #[test]
    fn each_endpoints_queue_keeps_its_newest_events_within_its_cap() {
        let (store, endpoints) = with_endpoint(2);
        for id in ["a", "b", "c"] {
            ready(&store, id);
        }
        let due = store.due_webhooks("http://127.0.0.1:9/a", 20, 10).unwrap();
        let jobs: Vec<String> = due
            .iter()
            .map(|d| serde_json::from_slice::<serde_json::Value>(&d.body).unwrap()["job_id"].to_string())
            .collect();
        assert_eq!(jobs, ["\"b\"", "\"c\""]);
        assert_eq!(endpoints.list()[0].queued(), 2);
        assert_eq!(endpoints.dropped(DropReason::QueueFull), 1);
        assert!(store.webhook_done(due[0].id).unwrap());
        assert!(!store.webhook_done(due[0].id).unwrap(), "gone already");
        assert_eq!((store.webhook_queue_depth(), endpoints.list()[0].queued()), (1, 1));
    }

    #[test]
    fn an_envelope_makes_one_job_and_is_forgotten_with_its_window() {
        let store = MemoryJobStore::new();
        let ephemeral = [7; 32];
        assert_eq!(store.insert(&job("a", Some((&ephemeral, 50)))).unwrap(), Inserted::New);
        assert_eq!(
            store.insert(&job("b", Some((&ephemeral, 50)))).unwrap(),
            Inserted::Repeat(Some("a".into()))
        );
        assert_eq!(store.load().unwrap().len(), 1);
        assert_eq!(store.oldest_envelope_ms().unwrap(), Some(50));
        store.purge(51).unwrap();
        assert_eq!(
            (store.envelopes_remembered(), store.envelope_job(&ephemeral).unwrap()),
            (0, None)
        );
    }

    #[test]
    fn an_expired_result_queues_one_event_and_its_tombstone_is_purged_in_time() {
        let (store, _) = with_endpoint(10);
        ready(&store, "a");
        store.tombstone("a", StoredState::Expired, 100).unwrap();
        store.tombstone("a", StoredState::Expired, 100).unwrap();
        assert_eq!(store.webhook_queue_depth(), 2, "ready, then one expired");
        assert_eq!(store.purge(100).unwrap(), 0);
        assert_eq!(store.purge(101).unwrap(), 1);
        assert!(store.load().unwrap().is_empty());
    }
}
