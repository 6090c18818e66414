//! A job store as a test watches it: the real SQLite store wrapped to count the calls that reach it and,
//! if asked, to hold each new job's write for a while. The service takes it through its product seam
//! (`Service::start_with_store`), as it would take any other store.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use tari_wallet_sync::service::{
    CacheSource, Service, ServiceConfig, SqliteJobStore, WalletDbBuilder,
    job_store::{
        Claimed, DueDelivery, Inserted, JobStore, NewJob, SealedParts, StoreChange, StoreResult, StoredJob,
        StoredResult, StoredState,
    },
    webhook::endpoint::Endpoints,
};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub struct WatchedStore {
    inner: SqliteJobStore,
    calls: AtomicU64,
    insert_delay: Duration,
}

impl WatchedStore {
    /// The SQLite store in `config.data_dir`; each new job's write waits `insert_delay` first.
    pub fn open(config: &ServiceConfig, insert_delay: Duration) -> Arc<WatchedStore> {
        tari_wallet_sync::service::create_private_dir(&config.data_dir).unwrap();
        Arc::new(WatchedStore {
            inner: SqliteJobStore::open(&config.data_dir).expect("the job store opens"),
            calls: AtomicU64::new(0),
            insert_delay,
        })
    }

    /// Calls that reached the store (the counts read without a query are not calls).
    #[allow(dead_code)] // each test file that includes this module uses part of it
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::SeqCst)
    }

    fn call(&self) -> &SqliteJobStore {
        self.calls.fetch_add(1, Ordering::SeqCst);
        &self.inner
    }
}

/// A service on 127.0.0.1:0 over `config.cache_dir` with `store`: its base URL, the service, its shutdown.
pub async fn start(config: ServiceConfig, store: Arc<WatchedStore>) -> (String, Service, CancellationToken) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base_url = format!("http://{}", listener.local_addr().unwrap());
    let shutdown = CancellationToken::new();
    let source = CacheSource::directory(config.cache_dir.clone());
    let service = Service::start_with_store(
        config,
        source,
        Arc::new(WalletDbBuilder::default()),
        store,
        listener,
        shutdown.clone(),
    )
    .await
    .expect("the service starts");
    (base_url, service, shutdown)
}

impl JobStore for WatchedStore {
    fn attach_webhooks(&self, endpoints: Arc<Endpoints>) -> StoreResult<()> {
        self.call().attach_webhooks(endpoints)
    }
    fn next_boot(&self) -> StoreResult<u64> {
        self.call().next_boot()
    }
    fn load(&self) -> StoreResult<Vec<StoredJob>> {
        self.call().load()
    }
    fn insert(&self, job: &NewJob<'_>) -> StoreResult<Inserted> {
        std::thread::sleep(self.insert_delay);
        self.call().insert(job)
    }
    fn envelope_job(&self, ephemeral: &[u8; 32]) -> StoreResult<Option<Option<String>>> {
        self.call().envelope_job(ephemeral)
    }
    fn oldest_envelope_ms(&self) -> StoreResult<Option<u64>> {
        self.call().oldest_envelope_ms()
    }
    fn envelopes_remembered(&self) -> u64 {
        self.inner.envelopes_remembered()
    }
    fn shared(&self) -> bool {
        self.inner.shared()
    }
    fn job(&self, id: &str) -> StoreResult<Option<StoredJob>> {
        self.call().job(id)
    }
    fn changes(&self) -> Option<tokio::sync::broadcast::Receiver<StoreChange>> {
        self.inner.changes()
    }
    fn publish_progress(&self, id: &str, event_id: u64, progress: &[u8]) -> StoreResult<()> {
        self.call().publish_progress(id, event_id, progress)
    }
    fn ping(&self) -> StoreResult<()> {
        self.call().ping()
    }
    fn claim(&self, ids: &[String], now_ms: u64) -> StoreResult<Vec<Claimed>> {
        self.call().claim(ids, now_ms)
    }
    fn renew(&self, ids: &[String], now_ms: u64) -> StoreResult<Vec<String>> {
        self.call().renew(ids, now_ms)
    }
    fn reclaim_expired(&self, now_ms: u64) -> StoreResult<Vec<String>> {
        self.call().reclaim_expired(now_ms)
    }
    fn result_file(&self, id: &str) -> StoreResult<Option<Vec<u8>>> {
        self.call().result_file(id)
    }
    fn sealed(&self, id: &str) -> StoreResult<Option<SealedParts>> {
        self.call().sealed(id)
    }
    fn requeue(&self, id: &str, give_back: bool) -> StoreResult<bool> {
        self.call().requeue(id, give_back)
    }
    fn finish_ready(
        &self,
        id: &str,
        result: &StoredResult,
        file: Option<&[u8]>,
        now_ms: u64,
        expires_ms: u64,
    ) -> StoreResult<bool> {
        self.call().finish_ready(id, result, file, now_ms, expires_ms)
    }
    fn finish_failed(&self, id: &str, code: &str, message: &str, now_ms: u64, expires_ms: u64) -> StoreResult<bool> {
        self.call().finish_failed(id, code, message, now_ms, expires_ms)
    }
    fn result_keys(&self, id: &str, unsealed_only: bool) -> StoreResult<Vec<([u8; 32], [u8; 32])>> {
        self.call().result_keys(id, unsealed_only)
    }
    fn set_sealed_file_key(&self, id: &str, hash: &[u8; 32], sealed: &[u8]) -> StoreResult<()> {
        self.call().set_sealed_file_key(id, hash, sealed)
    }
    fn sealed_file_key(&self, id: &str, hash: &[u8; 32]) -> StoreResult<Option<Vec<u8>>> {
        self.call().sealed_file_key(id, hash)
    }
    fn tombstone(&self, id: &str, state: StoredState, until_ms: u64) -> StoreResult<()> {
        self.call().tombstone(id, state, until_ms)
    }
    fn purge(&self, now_ms: u64) -> StoreResult<usize> {
        self.call().purge(now_ms)
    }
    fn checkpoint(&self) -> StoreResult<()> {
        self.call().checkpoint()
    }
    fn keys_held(&self) -> u64 {
        self.inner.keys_held()
    }
    fn webhook_endpoints(&self) -> Arc<Endpoints> {
        self.inner.webhook_endpoints()
    }
    fn due_webhooks(&self, url: &str, now_ms: u64, limit: usize) -> StoreResult<Vec<DueDelivery>> {
        self.call().due_webhooks(url, now_ms, limit)
    }
    fn next_webhook_ms(&self, url: &str) -> StoreResult<Option<u64>> {
        self.call().next_webhook_ms(url)
    }
    fn webhook_done(&self, id: i64) -> StoreResult<bool> {
        self.call().webhook_done(id)
    }
    fn webhook_retry(&self, id: i64, attempts: u32, next_ms: u64) -> StoreResult<()> {
        self.call().webhook_retry(id, attempts, next_ms)
    }
    fn webhook_queue_depth(&self) -> u64 {
        self.inner.webhook_queue_depth()
    }
}
