//! The in-memory job store: every promise of `JobStore` kept in a map under one lock, nothing on disk.
//! The job domain's unit tests run over it (no disk, no server), and it is the second implementation
//! that keeps the trait honest: a call that only SQLite could answer would not fit here. A service over
//! it loses its jobs at a restart, so it is for tests and demos, never the default.
//!
//! It also stands in for a store many replicas share: `replica(name)` is a second handle over the same
//! state with its own replica id, as another process would see a PostgreSQL store, so the domain's
//! tests run two `Jobs` on one store. Claims, leases, revisions, the change feed and stored result files
//! behave as the trait says; time is the caller's (`now_ms`), so a test moves leases on without waiting.

use std::{
    collections::{BTreeMap, HashMap},
    sync::{
        Arc, Mutex, MutexGuard,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use tokio::sync::broadcast;

use crate::service::{
    jobs::store::{
        Claimed, DueDelivery, Inserted, JobStore, JobStoreError, NewJob, SealedParts, StoreChange, StoreResult,
        StoredJob, StoredResult, StoredState,
    },
    webhook::{
        self, WebhookEvent,
        endpoint::{DropReason, Endpoints},
    },
};

/// Changes a listener may fall behind by before it reads `Lagged` (and reloads): a bound on the feed's
/// memory whatever the rate of changes.
const CHANGE_FEED_CAPACITY: usize = 4096;

/// The lease of `MemoryJobStore::new` (the service's default `job_lease`).
const DEFAULT_LEASE: Duration = Duration::from_secs(30);

/// A job store in memory. Cheap to clone (clones share the jobs and are the same replica); `replica`
/// makes another replica's handle.
#[derive(Clone)]
pub struct MemoryJobStore {
    state: Arc<Mutex<State>>,
    /// Who this handle's claims belong to.
    replica: Arc<str>,
    lease_ms: u64,
    /// The feed every handle hears (`changes`).
    feed: broadcast::Sender<StoreChange>,
    /// Set once a second replica's handle exists: the store is shared from then on.
    shared: Arc<AtomicBool>,
    /// Cleared by a unit test to make this handle's `ping` fail (a store this replica cannot reach); always
    /// set outside them.
    reachable: Arc<AtomicBool>,
}

impl Default for MemoryJobStore {
    fn default() -> MemoryJobStore {
        MemoryJobStore::new()
    }
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
    revision: u64,
    client: [u8; 16],
    /// Who holds a scanning job, and until when (ms).
    lease: Option<(Arc<str>, u64)>,
    /// The sealed result file (a shared store keeps it with the job).
    file: Option<Vec<u8>>,
}

impl Row {
    /// Whether `replica` may write this job's outcome: it is not scanning, or `replica` holds it.
    fn held_by(&self, replica: &str) -> bool {
        self.state != StoredState::Scanning || self.lease.as_ref().is_none_or(|(owner, _)| &**owner == replica)
    }

    /// A state change: a new revision, the lease let go.
    fn moved(&mut self, state: StoredState) {
        self.state = state;
        self.revision += 1;
        self.lease = None;
    }

    fn stored(&self) -> StoredJob {
        StoredJob {
            id: self.id.clone(),
            state: self.state,
            birthday: self.birthday,
            attempts: self.attempts,
            created_ms: self.created_ms,
            expires_ms: self.expires_ms,
            error: self.error.clone(),
            result: self.result.clone(),
            file_written: self.tokens.iter().any(|t| t.sealed_file_key.is_some()),
            tokens: self.tokens.iter().map(|t| t.hash).collect(),
            revision: self.revision,
            client: self.client,
        }
    }
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
        MemoryJobStore {
            state: Arc::default(),
            replica: Arc::from("memory"),
            lease_ms: DEFAULT_LEASE.as_millis() as u64,
            feed: broadcast::channel(CHANGE_FEED_CAPACITY).0,
            shared: Arc::new(AtomicBool::new(false)),
            reachable: Arc::new(AtomicBool::new(true)),
        }
    }

    /// This handle with leases of `lease` (claims and renewals made through it from now on).
    pub fn with_lease(mut self, lease: Duration) -> MemoryJobStore {
        self.lease_ms = lease.as_millis() as u64;
        self
    }

    /// A second handle over the same jobs, as replica `name` sees them: its own claims, the same feed.
    /// From now on the store is shared (`JobStore::shared`) for every handle.
    pub fn replica(&self, name: &str) -> MemoryJobStore {
        self.shared.store(true, Ordering::Relaxed);
        MemoryJobStore {
            replica: Arc::from(name),
            reachable: Arc::new(AtomicBool::new(true)),
            ..self.clone()
        }
    }

    /// Makes this handle's `ping` fail (`false`) or answer again: a store this replica cannot reach. For
    /// the domain's unit tests only: the shipped type has no way to fail.
    #[cfg(test)]
    pub fn set_reachable(&self, reachable: bool) {
        self.reachable.store(reachable, Ordering::Relaxed);
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Tells every handle that job `id` is at `revision` now (after the change, with the lock let go).
    fn announce(&self, id: &str, revision: u64) {
        // No receiver is no error: nobody follows yet.
        let _ = self.feed.send(StoreChange::Job {
            id: id.to_string(),
            revision,
        });
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
        let mut jobs: Vec<StoredJob> = state.jobs.iter().map(Row::stored).collect();
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
            revision: 1,
            client: job.client,
            lease: None,
            file: None,
        });
        drop(state);
        self.announce(job.id, 1);
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

    fn shared(&self) -> bool {
        self.shared.load(Ordering::Relaxed)
    }

    fn job(&self, id: &str) -> StoreResult<Option<StoredJob>> {
        Ok(self.state().row(id).map(|row| row.stored()))
    }

    fn changes(&self) -> Option<broadcast::Receiver<StoreChange>> {
        Some(self.feed.subscribe())
    }

    fn publish_progress(&self, id: &str, event_id: u64, progress: &[u8]) -> StoreResult<()> {
        let _ = self.feed.send(StoreChange::Progress {
            id: id.to_string(),
            event_id,
            progress: progress.to_vec(),
        });
        Ok(())
    }

    fn ping(&self) -> StoreResult<()> {
        match self.reachable.load(Ordering::Relaxed) {
            true => Ok(()),
            false => Err(JobStoreError::new("the store does not answer (made unreachable)")),
        }
    }

    fn claim(&self, ids: &[String], now_ms: u64) -> StoreResult<Vec<Claimed>> {
        let mut state = self.state();
        let mut claimed = Vec::new();
        for id in ids {
            let Some(row) = state.row(id) else { continue };
            let free = match (&row.state, &row.lease) {
                (StoredState::Queued, _) => true,
                // Taken back from a replica whose lease ended, or (single replica) from a pass whose
                // outcome could not be written.
                (StoredState::Scanning, Some((owner, until))) => *until < now_ms || **owner == *self.replica,
                (StoredState::Scanning, None) => true,
                _ => false,
            };
            if !free {
                continue;
            }
            row.moved(StoredState::Scanning);
            row.attempts += 1;
            row.lease = Some((self.replica.clone(), now_ms + self.lease_ms));
            claimed.push(Claimed {
                id: id.clone(),
                revision: row.revision,
                attempts: row.attempts,
            });
        }
        drop(state);
        for claim in &claimed {
            self.announce(&claim.id, claim.revision);
        }
        Ok(claimed)
    }

    fn renew(&self, ids: &[String], now_ms: u64) -> StoreResult<Vec<String>> {
        let mut state = self.state();
        let mut lost = Vec::new();
        for id in ids {
            match state.row(id) {
                Some(row)
                    if row.state == StoredState::Scanning
                        && row.lease.as_ref().is_some_and(|(owner, _)| *owner == self.replica) =>
                {
                    row.lease = Some((self.replica.clone(), now_ms + self.lease_ms));
                }
                _ => lost.push(id.clone()),
            }
        }
        Ok(lost)
    }

    fn reclaim_expired(&self, now_ms: u64) -> StoreResult<Vec<String>> {
        let mut state = self.state();
        let mut reclaimed = Vec::new();
        for row in &mut state.jobs {
            if row.state == StoredState::Scanning && row.lease.as_ref().is_some_and(|(_, until)| *until < now_ms) {
                row.moved(StoredState::Queued);
                reclaimed.push((row.id.clone(), row.revision));
            }
        }
        drop(state);
        for (id, revision) in &reclaimed {
            self.announce(id, *revision);
        }
        Ok(reclaimed.into_iter().map(|(id, _)| id).collect())
    }

    fn result_file(&self, id: &str) -> StoreResult<Option<Vec<u8>>> {
        Ok(self.state().row(id).and_then(|row| row.file.clone()))
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

    fn requeue(&self, id: &str, give_back: bool) -> StoreResult<bool> {
        let mut state = self.state();
        let Some(row) = state
            .row(id)
            .filter(|row| row.state == StoredState::Scanning && row.held_by(&self.replica))
        else {
            return Ok(false);
        };
        row.moved(StoredState::Queued);
        if give_back {
            row.attempts = row.attempts.saturating_sub(1);
        }
        let revision = row.revision;
        drop(state);
        self.announce(id, revision);
        Ok(true)
    }

    fn finish_ready(
        &self,
        id: &str,
        result: &StoredResult,
        file: Option<&[u8]>,
        now_ms: u64,
        expires_ms: u64,
    ) -> StoreResult<bool> {
        let mut state = self.state();
        let Some(row) = state
            .row(id)
            .filter(|row| row.state == StoredState::Scanning && row.held_by(&self.replica))
        else {
            return Ok(false);
        };
        row.moved(StoredState::Ready);
        row.file = file.map(<[u8]>::to_vec);
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
        let revision = row.revision;
        state.queue_event(id, &event, now_ms);
        drop(state);
        self.announce(id, revision);
        Ok(true)
    }

    fn finish_failed(&self, id: &str, code: &str, message: &str, now_ms: u64, expires_ms: u64) -> StoreResult<bool> {
        let mut state = self.state();
        let Some(row) = state.row(id).filter(|row| row.held_by(&self.replica)) else {
            return Ok(false);
        };
        for token in &mut row.tokens {
            token.sealed_file_key = None;
        }
        row.file = None;
        if !matches!(
            row.state,
            StoredState::Queued | StoredState::Scanning | StoredState::Ready
        ) {
            return Ok(false);
        }
        row.moved(StoredState::Failed);
        row.sealed_envelope = None;
        row.expires_ms = Some(expires_ms);
        row.error = Some((code.to_string(), message.to_string()));
        let event = WebhookEvent::Failed {
            code,
            message,
            expires_ms,
        };
        let revision = row.revision;
        state.queue_event(id, &event, now_ms);
        drop(state);
        self.announce(id, revision);
        Ok(true)
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

    /// Only while this replica holds the job's scan: one that lost its lease cannot replace the keys of
    /// the file another replica finished.
    fn set_sealed_file_key(&self, id: &str, hash: &[u8; 32], sealed: &[u8]) -> StoreResult<()> {
        if let Some(row) = self.state().row(id)
            && row.state == StoredState::Scanning
            && row.held_by(&self.replica)
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
        let changed = row.state != tombstone;
        if changed {
            row.moved(tombstone);
        }
        row.file = None;
        row.sealed_envelope = None;
        row.expires_ms = Some(until_ms);
        row.result = None;
        for token in &mut row.tokens {
            token.result_key = None;
            token.sealed_file_key = None;
        }
        let revision = row.revision;
        if finished && tombstone == StoredState::Expired {
            state.queue_event(id, &WebhookEvent::Expired, crate::service::clock::now_ms());
        }
        drop(state);
        if changed {
            self.announce(id, revision);
        }
        Ok(())
    }

    fn purge(&self, now_ms: u64) -> StoreResult<usize> {
        let mut state = self.state();
        state.seen.retain(|_, (until, _)| *until >= now_ms);
        let (gone, kept): (Vec<Row>, Vec<Row>) = std::mem::take(&mut state.jobs)
            .into_iter()
            .partition(|row| row.state.is_tombstone() && row.expires_ms.is_some_and(|until| until < now_ms));
        state.jobs = kept;
        drop(state);
        for row in &gone {
            // Gone from the store: a replica reading it finds none and forgets the job.
            self.announce(&row.id, row.revision + 1);
        }
        Ok(gone.len())
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
            client: [0; 16],
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
        store.claim(&[id.to_string()], 0).unwrap();
        store.finish_ready(id, &RESULT, None, 20, 30).unwrap();
    }

    #[test]
    fn a_deleted_job_never_becomes_ready_and_queues_no_event() {
        let (store, _) = with_endpoint(10);
        store.insert(&job("a", None)).unwrap();
        store.claim(&["a".into()], 0).unwrap();
        store.tombstone("a", StoredState::Deleted, 99).unwrap();
        store.finish_ready("a", &RESULT, None, 20, 30).unwrap();
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

    /// Two replicas on one store: a claim is one replica's until its lease ends, only the holder writes
    /// the outcome, every change bumps the revision and reaches both handles' feeds.
    #[test]
    fn a_claim_is_one_replicas_until_its_lease_ends_and_only_the_holder_finishes() {
        let a = MemoryJobStore::new().with_lease(std::time::Duration::from_millis(100));
        let mut feed_a = a.changes().unwrap();
        assert!(!a.shared(), "one handle: nobody else writes");
        let b = a.replica("b");
        let mut feed_b = b.changes().unwrap();
        assert!(a.shared() && b.shared());
        a.insert(&job("j", None)).unwrap();
        let id = ["j".to_string()];
        let claimed = a.claim(&id, 1_000).unwrap();
        assert_eq!(
            claimed,
            vec![Claimed {
                id: "j".into(),
                revision: 2,
                attempts: 1
            }]
        );
        assert!(b.claim(&id, 1_050).unwrap().is_empty(), "held by a");
        assert_eq!(b.renew(&id, 1_050).unwrap(), id, "b holds no lease");
        assert!(a.renew(&id, 1_050).unwrap().is_empty());
        // a's renewed lease ends at 1_150.
        assert!(b.claim(&id, 1_120).unwrap().is_empty());
        assert!(!b.finish_ready("j", &RESULT, Some(b"b's"), 1_120, 2_000).unwrap());
        assert!(!b.requeue("j", false).unwrap());
        assert!(!b.finish_failed("j", "SCAN_FAILED", "x", 1_120, 2_000).unwrap());
        assert!(b.reclaim_expired(1_150).unwrap().is_empty(), "not before its end");
        assert_eq!(b.reclaim_expired(1_151).unwrap(), id);
        let stored = b.job("j").unwrap().unwrap();
        assert_eq!(
            (stored.state, stored.revision, stored.attempts),
            (StoredState::Queued, 3, 1)
        );
        assert_eq!(b.claim(&id, 1_200).unwrap()[0].revision, 4);
        // a comes back: its outcome is refused, b's stands.
        assert_eq!(a.renew(&id, 1_200).unwrap(), id);
        assert!(!a.finish_ready("j", &RESULT, Some(b"a's"), 1_200, 2_000).unwrap());
        assert!(b.finish_ready("j", &RESULT, Some(b"b's"), 1_210, 2_000).unwrap());
        assert_eq!(a.result_file("j").unwrap().as_deref(), Some(&b"b's"[..]));
        assert_eq!(a.job("j").unwrap().unwrap().revision, 5);
        let revisions = |feed: &mut broadcast::Receiver<StoreChange>| {
            std::iter::from_fn(|| feed.try_recv().ok())
                .map(|change| match change {
                    StoreChange::Job { revision, .. } => revision,
                    other => panic!("{other:?}"),
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(revisions(&mut feed_a), [1, 2, 3, 4, 5], "every change, made by either");
        assert_eq!(revisions(&mut feed_b), [1, 2, 3, 4, 5]);
        // The file goes with the job.
        a.tombstone("j", StoredState::Deleted, 3_000).unwrap();
        assert_eq!(b.result_file("j").unwrap(), None);
        assert!(a.ping().is_ok());
        a.set_reachable(false);
        assert!(a.ping().is_err() && b.ping().is_ok(), "each replica's own reach");
    }
}
