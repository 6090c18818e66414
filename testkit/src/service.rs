//! Service builders: what the service's integration tests share: one small demo chain per test process, a server on 127.0.0.1:0 with test-friendly limits (over any cache source and
//! file builder), sealed submissions, a builder that holds its pass until the test lets it go, and the
//! steps of a wallet app over a real client (`wallet_app`), and the edge from outside: clients from
//! chosen loopback addresses and a real nginx in front (`edge`).

pub mod edge;
pub mod wallet_app;

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    sync::{Arc, Condvar, Mutex, OnceLock},
    time::Duration,
};

use tari_wallet_sync_sse::envelope::SubmissionSecrets;
use tokio::{net::TcpListener, sync::Notify};
use tokio_util::sync::CancellationToken;
use zeroize::Zeroizing;

use tari_wallet_sync::{
    cache::CacheView,
    demo::chain::{DemoChainSpec, DemoWallet, write_demo_chain},
    recognize::WalletKey,
    scan::ScanResult,
    service::{
        Artifact, CacheSource, JobStore, RateLimit, ResultBuilder, Service, ServiceConfig, ServiceError,
        WalletDbBuilder,
        error::{FailureCode, JobFailure},
    },
    walletdb::Interrupt,
};

/// A demo chain written once per process.
pub struct DemoChain {
    pub cache_dir: PathBuf,
    pub wallets: Vec<DemoWallet>,
    _dir: tempfile::TempDir,
}

/// 2,000 genuine outputs in 40 blocks with 3 demo wallets: a scan takes milliseconds.
pub fn demo_chain() -> &'static DemoChain {
    static CHAIN: OnceLock<DemoChain> = OnceLock::new();
    CHAIN.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temporary directory");
        let spec = DemoChainSpec {
            outputs: 2000,
            blocks: 40,
            wallets: 3,
            seed: 7,
        };
        let cache_dir = dir.path().join("cache");
        let wallets = write_demo_chain(&spec, &cache_dir).expect("demo chain");
        DemoChain {
            cache_dir,
            wallets,
            _dir: dir,
        }
    })
}

/// A config for tests: the demo cache, no rate limits to trip over, a short batch delay.
pub fn test_config(data_dir: &Path) -> ServiceConfig {
    let mut config = ServiceConfig::new(data_dir, &demo_chain().cache_dir);
    config.batch_delay = Duration::from_millis(20);
    config.scan_threads = 2;
    config.submit_rate_per_ip = RateLimit::OFF;
    config.sync_rate_per_wallet = RateLimit::OFF;
    config.request_rate_per_ip = RateLimit::OFF;
    config.ops_rate_per_ip = RateLimit::OFF;
    config.sse_keep_alive = Duration::from_secs(1);
    config.drain_timeout = Duration::from_secs(2);
    config
}

/// A running service on 127.0.0.1 with a port of its own (and the operator's, if the config sets
/// `metrics_listen`).
pub struct TestServer {
    pub addr: SocketAddr,
    pub base_url: String,
    /// `http://` and the operator's listener, when `metrics_listen` is set.
    pub metrics_url: Option<String>,
    pub data_dir: PathBuf,
    shutdown: CancellationToken,
    service: Service,
}

impl TestServer {
    /// The service over the cache in `config.cache_dir`, building wallet databases.
    pub async fn start(config: ServiceConfig) -> TestServer {
        let source = CacheSource::directory(config.cache_dir.clone());
        TestServer::start_with(config, source, Arc::new(WalletDbBuilder::default())).await
    }

    /// The service over `source` with `builder`.
    pub async fn start_with(config: ServiceConfig, source: CacheSource, builder: Arc<dyn ResultBuilder>) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("bound address");
        let shutdown = CancellationToken::new();
        let data_dir = config.data_dir.clone();
        let service = Service::start(config, source, builder, listener, shutdown.clone())
            .await
            .expect("the service starts");
        TestServer {
            addr,
            base_url: format!("http://{addr}"),
            metrics_url: service.metrics_addr().map(|a| format!("http://{a}")),
            data_dir,
            shutdown,
            service,
        }
    }

    /// The service over the cache in `config.cache_dir` with `store` as its job store (two of them on
    /// handles of one shared store are two replicas of a fleet).
    pub async fn start_with_store(config: ServiceConfig, store: Arc<dyn JobStore>) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("bound address");
        let shutdown = CancellationToken::new();
        let data_dir = config.data_dir.clone();
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
        TestServer {
            addr,
            base_url: format!("http://{addr}"),
            metrics_url: service.metrics_addr().map(|a| format!("http://{a}")),
            data_dir,
            shutdown,
            service,
        }
    }

    /// Starts the shutdown without waiting for it (`stop` then waits).
    pub fn begin_stop(&self) {
        self.shutdown.cancel();
    }

    /// Cancels the service and waits for it to drain and stop.
    pub async fn stop(self) -> Result<(), ServiceError> {
        self.shutdown.cancel();
        self.service.wait().await
    }
}

/// A `WalletDbBuilder` that holds every build until `open` is called, and tells the test when a build
/// is waiting: a test can stop the service while a job is deterministically in the middle of its pass.
pub struct GatedBuilder {
    inner: WalletDbBuilder,
    open: Mutex<bool>,
    opened: Condvar,
    waiting: Mutex<usize>,
    arrived: Notify,
    /// Builds past the gate fail with this retryable failure instead of building.
    fail_with: Option<&'static str>,
}

impl Default for GatedBuilder {
    fn default() -> Self {
        GatedBuilder {
            inner: WalletDbBuilder::default(),
            open: Mutex::new(false),
            opened: Condvar::new(),
            waiting: Mutex::new(0),
            arrived: Notify::new(),
            fail_with: None,
        }
    }
}

impl GatedBuilder {
    /// A gate whose builds then fail with a retryable `code` (a service-side fault).
    pub fn failing(code: &'static str) -> GatedBuilder {
        GatedBuilder {
            fail_with: Some(code),
            ..GatedBuilder::default()
        }
    }

    /// Waits until `count` builds are held at the gate.
    pub async fn wait_for_builds(&self, count: usize) {
        loop {
            let notified = self.arrived.notified();
            if *self.waiting.lock().expect("lock") >= count {
                return;
            }
            notified.await;
        }
    }

    /// Lets every held and future build through.
    pub fn open(&self) {
        *self.open.lock().expect("lock") = true;
        self.opened.notify_all();
    }
}

impl ResultBuilder for GatedBuilder {
    fn build(
        &self,
        key: &WalletKey,
        password: Option<Zeroizing<String>>,
        birthday: u64,
        result: &ScanResult,
        chain: &CacheView,
        interrupt: &Interrupt<'_>,
    ) -> Result<Artifact, JobFailure> {
        *self.waiting.lock().expect("lock") += 1;
        self.arrived.notify_waiters();
        let mut open = self.open.lock().expect("lock");
        while !*open {
            open = self.opened.wait(open).expect("lock");
        }
        drop(open);
        if let Some(code) = self.fail_with {
            return Err(JobFailure::new(
                FailureCode::Other(code),
                "an injected service-side fault",
                true,
            ));
        }
        self.inner.build(key, password, birthday, result, chain, interrupt)
    }
}

/// The job store's file under a service's `data_dir`, as docs/config.md names it.
const JOB_STORE_FILE: &str = "jobs.sqlite";

/// Jobs in the job store at `data_dir` still holding a sealed key, read from the file as anyone with
/// the disk would (a snapshot if a server runs there).
pub fn keys_held(data_dir: &Path) -> u64 {
    let path = data_dir.join(JOB_STORE_FILE);
    let conn = rusqlite::Connection::open_with_flags(&path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .expect("the job store opens read-only");
    let held: i64 = conn
        .query_row("SELECT COUNT(*) FROM jobs WHERE sealed_envelope IS NOT NULL", [], |r| {
            r.get(0)
        })
        .expect("counting the keys held");
    held as u64
}

/// The password of test wallets whose password a test does not care about (every wallet file has one).
pub const TEST_PASSWORD: &str = "a test password";

/// A sealed submission as a wallet app makes it: the body, and the token the app derives from the job
/// secret it sealed (the server never sends it).
#[derive(Debug, Clone)]
pub struct TestSubmission {
    pub body: serde_json::Value,
    pub token: String,
    pub secrets: SubmissionSecrets,
}

impl std::fmt::Display for TestSubmission {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.body)
    }
}

impl TestSubmission {
    /// `Authorization: Bearer <token>`.
    pub fn auth(&self) -> String {
        format!("Bearer {}", self.token)
    }
}

/// The secrets of a submission of `wallet` (password `password`, or `TEST_PASSWORD`), sealed now.
pub fn submission_secrets(wallet: &DemoWallet, password: Option<&str>) -> SubmissionSecrets {
    let view = Zeroizing::new(hex::decode(&wallet.view_key).expect("demo keys are hex"));
    let spend = hex::decode(&wallet.spend_public_key).expect("demo keys are hex");
    SubmissionSecrets::new(&view, &spend, wallet.birthday, password.unwrap_or(TEST_PASSWORD))
}

/// `secrets` sealed to `server_public` in one envelope.
pub fn seal_secrets(server_public: &[u8; 32], secrets: SubmissionSecrets) -> TestSubmission {
    let body = secrets.seal(server_public, None).expect("valid server key");
    TestSubmission {
        body: serde_json::to_value(&body).expect("plain data"),
        // Empty for a job secret that is not 32 bytes (a test of that refusal).
        token: secrets.token().map(|t| t.to_string()).unwrap_or_default(),
        secrets,
    }
}

/// A submission sealing `wallet`'s keys, birthday and `password` (or `TEST_PASSWORD`) to `server_public`.
pub fn sealed_submission(server_public: &[u8; 32], wallet: &DemoWallet, password: Option<&str>) -> TestSubmission {
    seal_secrets(server_public, submission_secrets(wallet, password))
}

/// Opens a downloaded wallet file (zstd-compressed minotari-cli SQLite) the way a client would, checks
/// its integrity and returns the spendable balance its outputs table holds (µT, burns excluded).
pub fn downloaded_wallet_balance(download: &[u8]) -> u64 {
    let raw = zstd::decode_all(download).expect("a zstd download");
    assert!(
        raw.starts_with(b"SQLite format 3\0"),
        "the download is a SQLite database"
    );
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("wallet.sqlite");
    std::fs::write(&path, &raw).expect("write the downloaded wallet");
    let conn = rusqlite::Connection::open(&path).expect("SQLite opens the download");
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .expect("integrity check");
    assert_eq!(check, "ok");
    let balance: i64 = conn
        .query_row(
            "SELECT COALESCE(SUM(value), 0) FROM outputs WHERE status = 'UNSPENT' AND is_burn = 0 AND deleted_at IS NULL",
            [],
            |r| r.get(0),
        )
        .expect("balance query");
    balance as u64
}
