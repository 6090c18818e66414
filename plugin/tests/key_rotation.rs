//! Rotating the fleet's sealing key as `docs/fleet.md` says, one replica's restarts standing for the
//! fleet's roll: the new key made by `tari-wallet-sync keygen` (0600, its secret never printed), first
//! held as `next` (accepted, not advertised), then promoted with the old one as `previous`, then the old
//! one dropped. Each step restarts the service on the same data directory, as a roll does. What a wallet
//! relies on: a job queued under the old key is scanned after the roll, an envelope sealed to the old key
//! just before the switch is accepted and scanned, one sealed to the new key is accepted by a replica
//! that only holds it as `next`, and once the old key is dropped an envelope sealed to it is refused with
//! `UNKNOWN_SERVER_KEY` (named) or `BAD_SEAL` (unnamed). Every event of every target is recorded at TRACE,
//! and no key's secret, view key or token appears in it.

use std::{
    io::Write,
    path::{Path, PathBuf},
    process::Command,
    sync::{Arc, Mutex},
    time::Duration,
};

use bytes::Bytes;
use http::{Method, StatusCode};
use tari_wallet_sync::{
    demo::chain::DemoWallet,
    service::{ServiceConfig, load_key_file},
};
use tari_wallet_sync_sse::{
    JobEvent,
    client::{Client, Protocol},
};
use tari_wallet_sync_testkit::service::{
    TestServer, TestSubmission, demo_chain, downloaded_wallet_balance, submission_secrets, test_config,
    wallet_app::{self, SubmittedJob},
};

/// Everything the subscriber writes, kept for the test to search.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Captured {
        self.clone()
    }
}

/// `tari-wallet-sync keygen --out path`: what it printed. Asserts it succeeded.
fn keygen(path: &Path) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_tari-wallet-sync"))
        .args(["keygen", "--out"])
        .arg(path)
        .output()
        .unwrap();
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "keygen: {printed}");
    printed
}

/// The secret a key file holds, as hex (what must never be printed or logged).
fn secret_hex(path: &Path) -> String {
    hex::encode(&std::fs::read(path).unwrap()[8..40])
}

/// The replica's configuration in one step of the rotation: the current key, and a next or previous one.
fn replica(data: &Path, current: &Path, next: Option<&Path>, previous: Option<&Path>) -> ServiceConfig {
    let mut config = test_config(data);
    config.server_key_file = Some(current.to_path_buf());
    config.next_server_key_file = next.map(Path::to_path_buf);
    config.previous_server_key_file = previous.map(Path::to_path_buf);
    config
}

/// `wallet`'s submission sealed to the key in `key_file`, naming its key id or not.
fn sealed_to(key_file: &Path, named: bool, wallet: &DemoWallet) -> TestSubmission {
    let key = load_key_file(key_file).unwrap();
    let secrets = submission_secrets(wallet, None);
    let key_id = named.then(|| key.key_id());
    let body = secrets.seal(&key.public_key(), key_id.as_deref()).unwrap();
    TestSubmission {
        body: serde_json::to_value(&body).unwrap(),
        token: secrets.token().unwrap().to_string(),
        secrets,
    }
}

async fn post(client: &Client, submission: &TestSubmission) -> (StatusCode, serde_json::Value) {
    let response = client
        .request(
            Method::POST,
            "/api/v1/wallet/sync",
            &[("content-type", "application/json")],
            Some(Bytes::from(submission.to_string())),
        )
        .await
        .unwrap();
    (response.status, response.json().unwrap_or_default())
}

async fn accepted(client: &Client, submission: &TestSubmission) -> SubmittedJob {
    let (status, json) = post(client, submission).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{json}");
    SubmittedJob {
        json,
        token: submission.token.clone(),
        auth: submission.auth(),
    }
}

/// Follows `job` to its end: it must be ready, and its file must hold `wallet`'s balance.
async fn scanned(client: &Client, job: &SubmittedJob, wallet: &DemoWallet) {
    let last = wallet_app::last_event(client, job).await;
    let JobEvent::Ready { download_url, .. } = &last else {
        panic!("{} ends ready, not {last:?}", wallet.name)
    };
    let file = wallet_app::download(client, job, download_url).await;
    assert_eq!(
        downloaded_wallet_balance(&file),
        wallet.expected_balance,
        "{}",
        wallet.name
    );
}

async fn server_key(client: &Client) -> serde_json::Value {
    let response = client
        .request(Method::GET, "/api/v1/server-key", &[], None)
        .await
        .unwrap();
    assert_eq!(response.status, StatusCode::OK);
    response.json().unwrap()
}

fn key_id(path: &Path) -> String {
    load_key_file(path).unwrap().key_id()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolled_key_serves_old_envelopes_and_queued_jobs_until_it_is_dropped() {
    let captured = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(captured.clone())
        .finish();
    tracing::subscriber::set_global_default(subscriber).unwrap();

    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (old, new): (PathBuf, PathBuf) = (dir.path().join("server-key"), dir.path().join("server-key-next"));
    let mut printed = keygen(&old);
    printed += &keygen(&new);
    assert!(printed.contains(&key_id(&new)), "keygen names the key: {printed}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&new).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the key file is the owner's only");
    }
    let again = Command::new(env!("CARGO_BIN_EXE_tari-wallet-sync"))
        .args(["keygen", "--out"])
        .arg(&new)
        .output()
        .unwrap();
    assert!(!again.status.success(), "keygen never overwrites a key file");
    let wallets = &demo_chain().wallets;

    // Before: the old key alone. A job waits in the queue (its pass an hour away) as the roll begins,
    // and a client seals an envelope to the old key that it sends only after the switch.
    let mut config = replica(&data, &old, None, None);
    config.batch_delay = Duration::from_secs(3600);
    let server = TestServer::start(config).await;
    let client = Client::new(&server.base_url, Protocol::Http1);
    let queued_under_old = accepted(&client, &sealed_to(&old, true, &wallets[0])).await;
    let sealed_before_switch = sealed_to(&old, true, &wallets[1]);
    server.stop().await.unwrap();

    // Step 1, every replica gets the new key as `next`: it still advertises the old key, and accepts an
    // envelope sealed to the new one (a replica already promoted handed that key out).
    let mut config = replica(&data, &old, Some(&new), None);
    config.batch_delay = Duration::from_secs(3600);
    let server = TestServer::start(config).await;
    let client = Client::new(&server.base_url, Protocol::Http1);
    let advertised = server_key(&client).await;
    assert_eq!(advertised["key_id"], key_id(&old), "the next key is not advertised yet");
    assert_eq!(advertised["previous_key_id"], serde_json::Value::Null);
    let sealed_to_next = accepted(&client, &sealed_to(&new, true, &wallets[2])).await;
    server.stop().await.unwrap();

    // Step 2, promoted: the new key current, the old one previous. The envelope sealed before the switch
    // is accepted, and every job, the one queued under the old key first, is scanned.
    let server = TestServer::start(replica(&data, &new, None, Some(&old))).await;
    let client = Client::new(&server.base_url, Protocol::Http1);
    let advertised = server_key(&client).await;
    assert_eq!(advertised["key_id"], key_id(&new));
    assert_eq!(advertised["previous_key_id"], key_id(&old));
    let after_switch = accepted(&client, &sealed_before_switch).await;
    // Unnamed, the old key is found among the keys held.
    let unnamed_old = accepted(&client, &sealed_to(&old, false, &wallets[0])).await;
    scanned(&client, &queued_under_old, &wallets[0]).await;
    scanned(&client, &sealed_to_next, &wallets[2]).await;
    scanned(&client, &after_switch, &wallets[1]).await;
    scanned(&client, &unnamed_old, &wallets[0]).await;
    server.stop().await.unwrap();

    // Step 3, the old key dropped: an envelope sealed to it is refused, with the code that tells the
    // client to fetch the key again when it named the key, and as a box that does not open otherwise.
    let server = TestServer::start(replica(&data, &new, None, None)).await;
    let client = Client::new(&server.base_url, Protocol::Http1);
    assert_eq!(server_key(&client).await["previous_key_id"], serde_json::Value::Null);
    let (status, refusal) = post(&client, &sealed_to(&old, true, &wallets[1])).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(refusal["error"]["code"], "UNKNOWN_SERVER_KEY", "{refusal}");
    let (status, refusal) = post(&client, &sealed_to(&old, false, &wallets[1])).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(refusal["error"]["code"], "BAD_SEAL", "{refusal}");
    let current = accepted(&client, &sealed_to(&new, false, &wallets[1])).await;
    scanned(&client, &current, &wallets[1]).await;
    server.stop().await.unwrap();

    let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(
        log.contains("opened with a rotated key"),
        "the old key's job was scanned: {log}"
    );
    for (name, secret) in [
        ("old key's secret", secret_hex(&old)),
        ("new key's secret", secret_hex(&new)),
        ("view key", wallets[0].view_key.clone()),
        ("token", queued_under_old.token.clone()),
    ] {
        assert!(!log.contains(&secret), "the {name} was logged");
        assert!(!printed.contains(&secret), "keygen printed the {name}");
    }
}
