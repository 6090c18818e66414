//! The service under attack, through real HTTP/1.1 and HTTP/2 clients against the real server on
//! 127.0.0.1: a captured submission replayed, re-passworded or spliced gets nothing; stale envelopes,
//! passwordless files and plain keys are refused without echoing what was sent; a reset submission gives
//! its queue slot back; one address holds no more than its connection cap and idle connections close;
//! a flood from one IPv6 /64 (behind a trusted proxy) is one client; DELETE beats a finishing pass.
//! Fair under attack: HTTP/2 control frames keep no connection open, the last quarter of the slots is
//! for newcomers, event streams are bounded per client, events tickets per job and for live jobs only,
//! a full limiter table lets newcomers in, and an IPv6 /48 has limits of its own.

#[path = "support/watched_store.rs"]
mod watched_store;

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use bytes::Bytes;
use http::{Method, StatusCode};
use tari_wallet_sync::service::{CacheSource, RateLimit};
use tari_wallet_sync_sse::client::{Client, Protocol, Response};
use tari_wallet_sync_testkit::service::{
    GatedBuilder, TestServer, demo_chain,
    edge::{Http1, Http2},
    keys_held, seal_secrets, sealed_submission, submission_secrets, test_config, wallet_app,
    wallet_app::server_key,
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

const SUBMIT: &str = "/api/v1/wallet/sync";

async fn post(client: &Client, body: &str, headers: &[(&str, &str)]) -> Response {
    client
        .request(Method::POST, SUBMIT, headers, Some(Bytes::from(body.to_string())))
        .await
        .unwrap()
}

fn code(response: &Response) -> String {
    let json = response.json().unwrap_or_default();
    json["error"]["code"].as_str().unwrap_or_default().to_string()
}

async fn health(client: &Client) -> serde_json::Value {
    client
        .request(Method::GET, "/health", &[], None)
        .await
        .unwrap()
        .json()
        .unwrap()
}

async fn status_with(client: &Client, job_id: &str, token: &str) -> Response {
    let url = format!("{SUBMIT}/{job_id}/status");
    let auth = format!("Bearer {token}");
    client
        .request(Method::GET, &url, &[("authorization", &auth)], None)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_envelope_gets_nothing_even_after_a_restart() {
    let data = tempfile::tempdir().unwrap();
    let server = TestServer::start(test_config(data.path())).await;
    let client = Client::new(&server.base_url, Protocol::Http2);
    let wallet = &demo_chain().wallets[0];
    let victim = sealed_submission(&server_key(&client).await, wallet, Some("the victim's password"));
    let captured = victim.to_string();

    let accepted = post(&client, &captured, &[]).await;
    assert_eq!(accepted.status, StatusCode::ACCEPTED);
    let job = accepted.json().unwrap();
    assert!(job.get("token").is_none(), "no credential for whoever presents a body");
    let job_id = job["job_id"].as_str().unwrap().to_string();

    // The attacker replays the captured body: word for word, then re-serialised. It is the victim's own
    // job, as it is: no new job, no credential.
    for replay in [captured.clone(), serde_json::to_string_pretty(&victim.body).unwrap()] {
        let repeated = post(&client, &replay, &[]).await;
        assert_eq!(repeated.status, StatusCode::ACCEPTED);
        let repeat = repeated.json().unwrap();
        assert_eq!(repeat["job_id"], job_id.as_str());
        assert!(repeat.get("token").is_none());
    }
    // Without the job secret inside the envelope, the victim's job opens to nobody else.
    let guessed = status_with(&client, &job_id, &"ab".repeat(32)).await;
    assert_eq!(guessed.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        status_with(&client, &job_id, &victim.token).await.status,
        StatusCode::OK
    );
    server.stop().await.unwrap();

    // The replay cache is in the store: a restart does not reopen the window.
    let server = TestServer::start(test_config(data.path())).await;
    let client = Client::new(&server.base_url, Protocol::Http1);
    let repeated = post(&client, &captured, &[]).await;
    assert_eq!(repeated.status, StatusCode::ACCEPTED);
    assert_eq!(repeated.json().unwrap()["job_id"], job_id.as_str());
    // Once its job is gone, the envelope is refused as replayed, never taken as a new job.
    let deleted = client
        .request(
            Method::DELETE,
            &format!("{SUBMIT}/{job_id}"),
            &[("authorization", &victim.auth())],
            None,
        )
        .await
        .unwrap();
    assert_eq!(deleted.status, StatusCode::OK);
    let repeated = post(&client, &captured, &[]).await;
    assert_eq!(
        repeated.json().unwrap()["job_id"],
        job_id.as_str(),
        "the tombstone answers"
    );
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_captured_envelope_cannot_be_re_passworded_spliced_or_tampered_with() {
    let data = tempfile::tempdir().unwrap();
    let server = TestServer::start(test_config(data.path())).await;
    let client = Client::new(&server.base_url, Protocol::Http1);
    let wallet = &demo_chain().wallets[1];
    let victim = sealed_submission(&server_key(&client).await, wallet, Some("the victim's password"));
    let envelope = victim.body["envelope"].clone();

    // A password of the attacker's own beside the envelope: the fields that matter are all inside it.
    let mut re_passworded = victim.body.clone();
    re_passworded["wallet_password"] = "the attacker's".into();
    // The envelope spliced into a version-1 body, as the old API took a sealed view key.
    let spliced = serde_json::json!({
        "sealed_view_key": envelope,
        "spend_public_key": wallet.spend_public_key,
        "wallet_password": "the attacker's",
    });
    // One bit of the ciphertext flipped: the box no longer opens.
    let mut tampered = victim.body.clone();
    let mut ciphertext = hex::decode(envelope["ciphertext"].as_str().unwrap()).unwrap();
    ciphertext[0] ^= 1;
    tampered["envelope"]["ciphertext"] = hex::encode(ciphertext).into();
    for (attack, expected) in [
        (re_passworded, "INVALID_FIELD"),
        (spliced, "UNSUPPORTED_VERSION"),
        (tampered, "BAD_SEAL"),
    ] {
        let refused = post(&client, &attack.to_string(), &[]).await;
        assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{attack}");
        assert_eq!(code(&refused), expected, "{attack}");
        let text = String::from_utf8_lossy(&refused.body).into_owned();
        assert!(
            !text.contains("attacker") && !text.contains(envelope["ciphertext"].as_str().unwrap()),
            "no echo: {text}"
        );
    }
    // None of that used the envelope up: the victim's own request still goes through, once.
    assert_eq!(
        post(&client, &victim.to_string(), &[]).await.status,
        StatusCode::ACCEPTED
    );
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_envelopes_passwordless_files_and_plain_keys_are_refused_without_echo() {
    let data = tempfile::tempdir().unwrap();
    let server = TestServer::start(test_config(data.path())).await;
    let client = Client::new(&server.base_url, Protocol::Http2);
    let public = server_key(&client).await;
    let wallet = &demo_chain().wallets[2];

    // A minute past the 600 s window either way: a loaded machine may take seconds between sealing and
    // the server's check.
    for shift in [-660i64, 660] {
        let mut secrets = submission_secrets(wallet, None);
        secrets.timestamp = secrets.timestamp.saturating_add_signed(shift);
        let refused = post(&client, &seal_secrets(&public, secrets).to_string(), &[]).await;
        assert_eq!(
            (refused.status, code(&refused)),
            (StatusCode::BAD_REQUEST, "ENVELOPE_EXPIRED".into()),
            "{shift} s off"
        );
    }
    let no_password = sealed_submission(&public, wallet, Some(""));
    let refused = post(&client, &no_password.to_string(), &[]).await;
    assert_eq!(
        (refused.status, code(&refused)),
        (StatusCode::BAD_REQUEST, "PASSWORD_REQUIRED".into())
    );

    // Plain keys are refused by default, from loopback too (a same-host proxy makes anyone loopback).
    let secrets = submission_secrets(wallet, None);
    let plain = serde_json::json!({ "version": 2, "plain": secrets });
    let refused = post(&client, &plain.to_string(), &[]).await;
    assert_eq!(
        (refused.status, code(&refused)),
        (StatusCode::FORBIDDEN, "PLAIN_KEY_NOT_ALLOWED".into())
    );

    // Broken bodies that hold a key: the error says where, never what.
    for body in [
        format!("{{\"version\": 2, \"envelope\": \"{}", wallet.view_key),
        format!("{{\"version\": 2, \"{}\": 1}}", wallet.view_key),
        format!("{{\"view_key\": \"{}\", \"birthday\": 0}}", wallet.view_key),
    ] {
        let refused = post(&client, &body, &[]).await;
        assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{body}");
        let text = String::from_utf8_lossy(&refused.body).into_owned();
        assert!(!text.contains(&wallet.view_key[..16]), "the key is echoed: {text}");
    }
    assert_eq!(health(&client).await["queue_depth"], 0, "nothing was queued");
    server.stop().await.unwrap();
}

/// Each submission is reset (the request dropped: `RST_STREAM` on HTTP/2, a closed connection on
/// HTTP/1.1) while the service writes its job; every queue slot comes back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_submissions_give_their_queue_slots_back() {
    let data = tempfile::tempdir().unwrap();
    let mut config = test_config(data.path());
    config.max_queued_jobs = 2;
    // Each new job's write is held 400 ms (the service over the SQLite store wrapped to wait), so every
    // reset lands while its job is being written.
    let store = watched_store::WatchedStore::open(&config, Duration::from_millis(400));
    let (base_url, service, shutdown) = watched_store::start(config, store).await;
    let mut resets = 0;
    // Each round fills the queue with submissions whose streams are reset before the answer; if a
    // reset leaked its slot, the next round (or the final check) would find the queue full.
    for protocol in [Protocol::Http2, Protocol::Http1] {
        let client = Client::new(&base_url, protocol);
        let public = server_key(&client).await;
        for wallet in &demo_chain().wallets[..2] {
            let body = Bytes::from(sealed_submission(&public, wallet, None).to_string());
            let request = client.request(Method::POST, SUBMIT, &[], Some(body));
            assert!(
                tokio::time::timeout(Duration::from_millis(100), request).await.is_err(),
                "reset before the answer"
            );
            resets += 1;
        }
        // Every reset submission was accepted all the same (its job runs, unseen), then scanned.
        let client = Client::new(&base_url, Protocol::Http1);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let text = client.request(Method::GET, "/metrics", &[], None).await.unwrap().body;
            let text = String::from_utf8(text.to_vec()).unwrap();
            let accepted = format!("tws_jobs_submitted_total {resets}\n");
            // Scanned to the end: a client's jobs count against its share while they scan, too.
            let settled = ["queued", "scanning"].map(|state| format!("tws_jobs{{state=\"{state}\"}} 0\n"));
            if text.contains(&accepted) && settled.iter().all(|s| text.contains(s.as_str())) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the reset submissions never settled:\n{text}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let client = Client::new(&base_url, Protocol::Http1);
    // The whole queue is free: of three submissions at once, exactly `max_queued_jobs` are accepted.
    let public = server_key(&client).await;
    let answers = futures_util::future::join_all(demo_chain().wallets.iter().map(|wallet| {
        let (client, body) = (client.clone(), sealed_submission(&public, wallet, None).to_string());
        async move { post(&client, &body, &[]).await }
    }))
    .await;
    let mut statuses: Vec<u16> = answers.iter().map(|r| r.status.as_u16()).collect();
    statuses.sort_unstable();
    assert_eq!(statuses, [202, 202, 503], "queue slots leaked");
    shutdown.cancel();
    service.wait().await.unwrap();
}

/// Reads from `stream` until it closes (EOF or reset); `false` if it is still open after `within`.
async fn closes_within(stream: &mut TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0) | Err(_)) => return true,
            Ok(Ok(_)) => {}
        }
    }
}

async fn get_live(stream: &mut TcpStream) -> String {
    stream
        .write_all(b"GET /live HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer)).await;
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_holds_no_more_than_its_cap_and_idle_connections_close() {
    let data = tempfile::tempdir().unwrap();
    let mut config = test_config(data.path());
    config.max_connections_per_ip = 3;
    config.idle_timeout = Duration::from_secs(1);
    config.sse_keep_alive = Duration::from_millis(300);
    config.batch_delay = Duration::from_secs(3600);
    let server = TestServer::start(config).await;

    // Three idle connections: two HTTP/1.1 that never send a request, one h2c past its preface.
    let mut held = Vec::new();
    for _ in 0..2 {
        held.push(TcpStream::connect(server.addr).await.unwrap());
    }
    let mut h2c = TcpStream::connect(server.addr).await.unwrap();
    h2c.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00")
        .await
        .unwrap();
    held.push(h2c);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut fourth = TcpStream::connect(server.addr).await.unwrap();
    let answer = get_live(&mut fourth).await;
    assert!(
        answer.starts_with("HTTP/1.1 503") && answer.contains("TOO_MANY_CONNECTIONS"),
        "{answer}"
    );

    // Silent for the idle timeout, each is closed (and not much sooner).
    let started = Instant::now();
    for stream in &mut held {
        assert!(
            closes_within(stream, Duration::from_secs(5)).await,
            "an idle connection stays open"
        );
    }
    assert!(started.elapsed() >= Duration::from_millis(700), "closed too soon");
    let mut again = TcpStream::connect(server.addr).await.unwrap();
    assert!(
        get_live(&mut again).await.starts_with("HTTP/1.1 200"),
        "the address may connect again"
    );

    // An event stream's keep-alives keep its connection open past the idle timeout.
    let client = Client::new(&server.base_url, Protocol::Http2);
    let job = wallet_app::submit(&client, &demo_chain().wallets[0], None).await;
    let events = job.json["events_url"].as_str().unwrap();
    let open = client
        .send(Method::GET, events, &[("authorization", &job.auth)], None)
        .await
        .unwrap();
    assert_eq!(open.status(), StatusCode::OK);
    let mut body = open.into_body();
    let until = Instant::now() + Duration::from_millis(2500);
    while Instant::now() < until {
        let frame = tokio::time::timeout(Duration::from_secs(1), http_body_util::BodyExt::frame(&mut body))
            .await
            .expect("keep-alives keep coming");
        assert!(matches!(frame, Some(Ok(_))), "the stream is still open");
    }
    drop(body);
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_from_one_ipv6_subnet_is_one_client_behind_a_trusted_proxy_and_only_there() {
    let wallet = &demo_chain().wallets[0];
    let three_an_hour = RateLimit {
        per_window: 3,
        window: Duration::from_secs(3600),
    };

    // Behind a trusted proxy (this test, on 127.0.0.1), clients are told apart by the forwarded address.
    let data = tempfile::tempdir().unwrap();
    let mut config = test_config(data.path());
    config.submit_rate_per_ip = three_an_hour;
    config.clients.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    let server = TestServer::start(config).await;
    let client = Client::new(&server.base_url, Protocol::Http2);
    let public = server_key(&client).await;
    let submit_from = |headers: Vec<(&'static str, String)>| {
        let (client, body) = (client.clone(), sealed_submission(&public, wallet, None).to_string());
        async move {
            let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
            post(&client, &body, &headers).await.status
        }
    };
    for host in ["1", "2", "ffff:ffff:ffff:ffff"] {
        let from = vec![("x-forwarded-for", format!("2001:db8::{host}"))];
        assert_eq!(submit_from(from).await, StatusCode::ACCEPTED);
    }
    // A fourth address of the same /64, with a port, and behind a second proxy hop.
    for headers in [
        vec![("x-forwarded-for", "2001:db8::42".to_string())],
        vec![("x-forwarded-for", "[2001:db8::43]:4711".to_string())],
        vec![("x-forwarded-for", "2001:db8::44, 127.0.0.1".to_string())],
    ] {
        assert_eq!(
            submit_from(headers.clone()).await,
            StatusCode::TOO_MANY_REQUESTS,
            "{headers:?}"
        );
    }
    // Another /64 and an IPv4 client are clients of their own.
    for other in ["2001:db8:0:1::1", "203.0.113.7"] {
        assert_eq!(
            submit_from(vec![("x-forwarded-for", other.into())]).await,
            StatusCode::ACCEPTED
        );
    }
    server.stop().await.unwrap();

    // Without trusted proxies the headers are anyone's to write, and are ignored: all of it is one peer.
    let data = tempfile::tempdir().unwrap();
    let mut config = test_config(data.path());
    config.submit_rate_per_ip = three_an_hour;
    let server = TestServer::start(config).await;
    let client = Client::new(&server.base_url, Protocol::Http1);
    let public = server_key(&client).await;
    let mut statuses = Vec::new();
    for i in 0..4 {
        let body = sealed_submission(&public, wallet, None).to_string();
        let spoofed = format!("198.51.100.{i}");
        statuses.push(
            post(&client, &body, &[("x-forwarded-for", &spoofed)])
                .await
                .status
                .as_u16(),
        );
    }
    assert_eq!(statuses, [202, 202, 202, 429]);
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_client_queues_no_more_than_its_share_and_tombstones_take_no_room() {
    let data = tempfile::tempdir().unwrap();
    let mut config = test_config(data.path());
    config.batch_delay = Duration::from_secs(3600);
    config.max_queued_per_client = 2;
    config.max_jobs_held = 3;
    config.clients.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    let server = TestServer::start(config).await;
    let client = Client::new(&server.base_url, Protocol::Http1);
    let public = server_key(&client).await;
    let wallets = &demo_chain().wallets;

    // Distinct wallets (so no per-wallet limit applies) from one client: two wait, the third is refused.
    let mut jobs = Vec::new();
    for wallet in &wallets[..2] {
        jobs.push(wallet_app::submit_job(&client, &sealed_submission(&public, wallet, None)).await);
    }
    let third = post(&client, &sealed_submission(&public, &wallets[2], None).to_string(), &[]).await;
    assert_eq!(
        (third.status, code(&third)),
        (StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED".into())
    );
    // Another client still has its share.
    let elsewhere = [("x-forwarded-for", "203.0.113.9")];
    let other = post(
        &client,
        &sealed_submission(&public, &wallets[2], None).to_string(),
        &elsewhere,
    )
    .await;
    assert_eq!(other.status, StatusCode::ACCEPTED);

    // Three jobs held: the limit. Deleted jobs leave tombstones (so their ids answer JOB_DELETED), which
    // take no room: the first client may submit again.
    let full = post(
        &client,
        &sealed_submission(&public, &wallets[2], None).to_string(),
        &[("x-forwarded-for", "203.0.113.10")],
    )
    .await;
    assert_eq!(
        (full.status, code(&full)),
        (StatusCode::SERVICE_UNAVAILABLE, "QUEUE_FULL".into())
    );
    for job in &jobs {
        let url = format!("{SUBMIT}/{}", job["job_id"].as_str().unwrap());
        let auth = format!("Bearer {}", job["token"].as_str().unwrap());
        let deleted = client
            .request(Method::DELETE, &url, &[("authorization", &auth)], None)
            .await
            .unwrap();
        assert_eq!(deleted.status, StatusCode::OK);
    }
    for wallet in &wallets[..2] {
        let again = post(&client, &sealed_submission(&public, wallet, None).to_string(), &[]).await;
        assert_eq!(again.status, StatusCode::ACCEPTED);
    }
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_wins_over_a_finishing_pass_and_over_a_retry() {
    /// A failed assertion must not leave a build parked at the gate: the runtime would wait for it.
    struct OpenOnDrop(Arc<GatedBuilder>);
    impl Drop for OpenOnDrop {
        fn drop(&mut self) {
            self.0.open();
        }
    }

    for gate in [GatedBuilder::default(), GatedBuilder::failing("BUILD_FAILED")] {
        let data = tempfile::tempdir().unwrap();
        let gate = Arc::new(gate);
        let _unblock = OpenOnDrop(gate.clone());
        let source = CacheSource::directory(demo_chain().cache_dir.clone());
        let server = TestServer::start_with(test_config(data.path()), source, gate.clone()).await;
        let client = Client::new(&server.base_url, Protocol::Http2);
        let job = wallet_app::submit(&client, &demo_chain().wallets[0], None).await;
        tokio::time::timeout(Duration::from_secs(30), gate.wait_for_builds(1))
            .await
            .expect("the pass reaches its build");

        // Deleted while its pass is building its file; then the build finishes (or fails, retryably).
        let url = job.json["status_url"].as_str().unwrap();
        let job_url = url.trim_end_matches("/status");
        let deleted = client
            .request(Method::DELETE, job_url, &[("authorization", &job.auth)], None)
            .await
            .unwrap();
        assert_eq!(deleted.status, StatusCode::OK);
        gate.open();
        let retried = tokio::time::timeout(Duration::from_millis(1500), gate.wait_for_builds(2)).await;
        assert!(retried.is_err(), "a deleted job is never tried again");
        let status = client
            .request(Method::GET, url, &[("authorization", &job.auth)], None)
            .await
            .unwrap();
        assert_eq!(status.json().unwrap()["state"], "deleted");
        let download = client
            .request(
                Method::GET,
                job.json["download_url"].as_str().unwrap(),
                &[("authorization", &job.auth)],
                None,
            )
            .await
            .unwrap();
        assert_eq!(
            (download.status, code(&download)),
            (StatusCode::GONE, "JOB_DELETED".into())
        );
        assert_eq!(health(&client).await["queue_depth"], 0);
        server.stop().await.unwrap();
        assert_eq!(keys_held(data.path()), 0, "a deleted job keeps no key");
    }
}

/// An address of the loopback network (Linux routes all of 127.0.0.0/8 to it): a client of its own.
fn loopback(last: u8) -> std::net::IpAddr {
    std::net::IpAddr::from([127, 0, 0, last])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_control_frames_keep_no_connection_open_but_an_event_stream_does() {
    let data = tempfile::tempdir().unwrap();
    let mut config = test_config(data.path());
    config.idle_timeout = Duration::from_secs(1);
    config.sse_keep_alive = Duration::from_millis(300);
    // Jobs stay queued: their event streams stay open.
    config.batch_delay = Duration::from_secs(3600);
    let server = TestServer::start(config).await;
    let ping = Duration::from_millis(200);

    // Only a preface, SETTINGS and a PING every 200 ms: no request ever, so closed (not much sooner).
    let started = Instant::now();
    let mut silent = Http2::connect(loopback(1), server.addr, ping).await.unwrap();
    assert!(
        silent.closes_within(Duration::from_secs(10)).await,
        "PINGs held a connection"
    );
    assert!(started.elapsed() >= Duration::from_millis(700), "closed too soon");

    // One request, then PINGs only: closed after the idle timeout (a GOAWAY, then the close).
    let mut once = Http2::connect(loopback(1), server.addr, ping).await.unwrap();
    assert_eq!(
        once.send(Method::GET, "/live", &[]).await.unwrap().status,
        StatusCode::OK
    );
    assert!(
        once.closes_within(Duration::from_secs(10)).await,
        "PINGs held a connection"
    );

    // An open event stream is a request: its connection outlives the idle timeout many times over.
    let client = Client::new(&server.base_url, Protocol::Http1);
    let job = wallet_app::submit(&client, &demo_chain().wallets[0], None).await;
    let events = job.json["events_url"].as_str().unwrap();
    let mut follower = Http2::connect(loopback(1), server.addr, ping).await.unwrap();
    let stream = follower
        .open(Method::GET, events, &[("authorization", &job.auth)])
        .await
        .unwrap();
    assert_eq!(stream.status(), StatusCode::OK);
    let mut body = stream.into_body();
    let until = Instant::now() + Duration::from_secs(4);
    while Instant::now() < until {
        let frame = tokio::time::timeout(Duration::from_secs(2), http_body_util::BodyExt::frame(&mut body))
            .await
            .expect("keep-alives keep coming");
        assert!(matches!(frame, Some(Ok(_))), "the stream is still open");
    }
    assert!(!follower.closed());
    // The stream ends (the client drops it): the connection is idle from then on.
    drop(body);
    assert!(follower.closes_within(Duration::from_secs(10)).await);
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_last_quarter_of_the_connections_is_for_newcomers() {
    let data = tempfile::tempdir().unwrap();
    let mut config = test_config(data.path());
    config.max_connections = 8;
    config.max_connections_per_ip = 8;
    config.header_timeout = Duration::from_secs(60);
    config.idle_timeout = Duration::from_secs(60);
    config.connection_idle_budget = Duration::from_secs(600);
    let server = TestServer::start(config).await;

    // One address takes all it can: six of eight, then only the headroom is left, for others.
    let mut held = Vec::new();
    let mut statuses = Vec::new();
    for _ in 0..8 {
        let mut connection = Http1::connect(loopback(10), server.addr).await.unwrap();
        let answer = connection.send(Method::GET, "/live", &[], None).await.unwrap();
        statuses.push((answer.status.as_u16(), answer.code()));
        held.push(connection);
    }
    let refused = (503, "TOO_MANY_CONNECTIONS".to_string());
    assert_eq!(statuses.iter().filter(|s| s.0 == 200).count(), 6, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == refused).count(), 2, "{statuses:?}");
    // Newcomers get the last two; then the pool is full for everyone.
    for host in [11, 12] {
        let mut newcomer = Http1::connect(loopback(host), server.addr).await.unwrap();
        let answer = newcomer.send(Method::GET, "/live", &[], None).await.unwrap();
        assert_eq!(answer.status, StatusCode::OK, "newcomer 127.0.0.{host}");
        held.push(newcomer);
    }
    let mut late = Http1::connect(loopback(13), server.addr).await.unwrap();
    let answer = late.send(Method::GET, "/live", &[], None).await.unwrap();
    assert_eq!((answer.status.as_u16(), answer.code()), refused);
    drop(held);
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_streams_are_bounded_per_client_so_idle_followers_cannot_hold_the_pool() {
    let data = tempfile::tempdir().unwrap();
    let mut config = test_config(data.path());
    config.max_connections = 12;
    config.max_connections_per_ip = 12;
    config.max_sse_per_client = 2;
    config.idle_timeout = Duration::from_secs(1);
    config.sse_keep_alive = Duration::from_millis(300);
    config.batch_delay = Duration::from_secs(3600);
    let server = TestServer::start(config).await;
    let client = Client::new(&server.base_url, Protocol::Http1);
    let mut jobs = Vec::new();
    for wallet in &demo_chain().wallets {
        jobs.push(wallet_app::submit(&client, wallet, None).await);
    }
    drop(client);
    let follow =
        |job: &wallet_app::SubmittedJob| (job.json["events_url"].as_str().unwrap().to_string(), job.auth.clone());

    // One address tries to follow three jobs on three connections each and sends nothing more.
    let mut streams = Vec::new();
    let mut refused = Vec::new();
    for job in &jobs {
        for _ in 0..3 {
            let (url, auth) = follow(job);
            let Ok(mut connection) = Http1::connect(loopback(30), server.addr).await else {
                continue;
            };
            match connection
                .open(Method::GET, &url, &[("authorization", &auth)], None)
                .await
            {
                Ok(response) if response.status() == StatusCode::OK => streams.push((connection, response)),
                Ok(response) => {
                    let status = response.status();
                    let body = http_body_util::BodyExt::collect(response.into_body())
                        .await
                        .unwrap()
                        .to_bytes();
                    refused.push((status, String::from_utf8_lossy(&body).into_owned(), connection));
                }
                Err(_) => {}
            }
        }
    }
    assert_eq!(streams.len(), 2, "two streams per client");
    for (status, body, _) in &refused {
        assert!(
            *status == StatusCode::TOO_MANY_REQUESTS && body.contains("TOO_MANY_STREAMS")
                || *status == StatusCode::SERVICE_UNAVAILABLE && body.contains("TOO_MANY_CONNECTIONS"),
            "{status} {body}"
        );
    }
    // Its refused connections carry no request: they close after the idle timeout, and a newcomer
    // connects and follows its own job.
    let deadline = Instant::now() + Duration::from_secs(10);
    while refused.iter().any(|(_, _, connection)| !connection.closed()) {
        assert!(Instant::now() < deadline, "refused connections stay open");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut newcomer = Http1::connect(loopback(31), server.addr).await.unwrap();
    let (url, auth) = follow(&jobs[2]);
    let stream = newcomer
        .open(Method::GET, &url, &[("authorization", &auth)], None)
        .await
        .unwrap();
    assert_eq!(stream.status(), StatusCode::OK);
    // A stream given back is a place for the next one.
    drop(streams.pop());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut again = Http1::connect(loopback(30), server.addr).await.unwrap();
        let (url, auth) = follow(&jobs[0]);
        let response = again
            .open(Method::GET, &url, &[("authorization", &auth)], None)
            .await
            .unwrap();
        if response.status() == StatusCode::OK {
            break;
        }
        assert!(Instant::now() < deadline, "the stream's place was not given back");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop((streams, stream));
    server.stop().await.unwrap();
}

async fn events_ticket(client: &Client, job: &wallet_app::SubmittedJob) -> Response {
    let url = job.json["events_url"]
        .as_str()
        .unwrap()
        .replace("/events", "/events-ticket");
    client
        .request(Method::POST, &url, &[("authorization", &job.auth)], None)
        .await
        .unwrap()
}

async fn events_with_ticket(client: &Client, job: &wallet_app::SubmittedJob, ticket: &str) -> Response {
    let url = format!("{}?ticket={ticket}", job.json["events_url"].as_str().unwrap());
    client.request(Method::GET, &url, &[], None).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ticket_flood_on_one_job_costs_no_other_job_anything_and_gone_jobs_get_none() {
    let data = tempfile::tempdir().unwrap();
    let server = TestServer::start(test_config(data.path())).await;
    let client = Client::new(&server.base_url, Protocol::Http2);
    let wallets = &demo_chain().wallets;
    let flooded = wallet_app::submit(&client, &wallets[0], None).await;
    let other = wallet_app::submit(&client, &wallets[1], None).await;
    let others_first = events_ticket(&client, &other).await.json().unwrap()["ticket"]
        .as_str()
        .unwrap()
        .to_string();

    // Two thousand tickets for one job: each answered, none refused, and the table does not grow.
    let mut issued = Vec::new();
    for _ in 0..2000 {
        let answer = events_ticket(&client, &flooded).await;
        assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
        issued.push(answer.json().unwrap()["ticket"].as_str().unwrap().to_string());
    }
    // The other job's ticket, issued before the flood, still opens its stream; so does a new one.
    for ticket in [
        others_first,
        events_ticket(&client, &other).await.json().unwrap()["ticket"]
            .as_str()
            .unwrap()
            .to_string(),
    ] {
        assert_eq!(
            events_with_ticket(&client, &other, &ticket).await.status,
            StatusCode::OK
        );
    }
    // The flooded job's newest tickets work; the ones just before them say they were replaced (the
    // oldest are long forgotten).
    assert_eq!(
        events_with_ticket(&client, &flooded, issued.last().unwrap())
            .await
            .status,
        StatusCode::OK
    );
    let replaced = events_with_ticket(&client, &flooded, &issued[issued.len() - 5]).await;
    assert_eq!(
        (replaced.status, code(&replaced)),
        (StatusCode::UNAUTHORIZED, "TICKET_REPLACED".into())
    );

    // A deleted job: a ticket issued before is refused, and no new one is given.
    let before = issued[issued.len() - 2].clone();
    let job_url = flooded.json["status_url"]
        .as_str()
        .unwrap()
        .trim_end_matches("/status")
        .to_string();
    let deleted = client
        .request(Method::DELETE, &job_url, &[("authorization", &flooded.auth)], None)
        .await
        .unwrap();
    assert_eq!(deleted.status, StatusCode::OK);
    let refused = events_with_ticket(&client, &flooded, &before).await;
    assert_eq!(
        (refused.status, code(&refused)),
        (StatusCode::GONE, "JOB_DELETED".into())
    );
    let forgotten = events_with_ticket(&client, &flooded, &issued[0]).await;
    assert_eq!(code(&forgotten), "JOB_DELETED", "whatever the ticket");
    let refused = events_ticket(&client, &flooded).await;
    assert_eq!(
        (refused.status, code(&refused)),
        (StatusCode::GONE, "JOB_DELETED".into())
    );
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_limiter_table_lets_newcomers_in_and_keeps_the_flooder_limited() {
    let data = tempfile::tempdir().unwrap();
    let mut config = test_config(data.path());
    config.request_rate_per_ip = RateLimit {
        per_window: 2,
        window: Duration::from_secs(3600),
    };
    config.max_tracked_clients = 5;
    config.clients.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    let server = TestServer::start(config).await;
    let client = Client::new(&server.base_url, Protocol::Http1);
    let from = |ip: String| async {
        let headers = [("x-forwarded-for", ip)];
        let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        client
            .request(Method::GET, "/api/v1/server-key", &headers, None)
            .await
            .unwrap()
            .status
    };
    let flooder = "198.51.100.1".to_string();
    assert_eq!(from(flooder.clone()).await, StatusCode::OK);
    assert_eq!(from(flooder.clone()).await, StatusCode::OK);
    // Fifty newcomers, ten times the table: every one is let in; the flooder, asking all along, stays
    // limited (its key is the most recent, never the one forgotten).
    for host in 0..50 {
        assert_eq!(
            from(format!("203.0.113.{host}")).await,
            StatusCode::OK,
            "newcomer {host}"
        );
        assert_eq!(
            from(flooder.clone()).await,
            StatusCode::TOO_MANY_REQUESTS,
            "after {host}"
        );
    }
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ipv6_48_cannot_multiply_its_limits_by_its_64s() {
    let data = tempfile::tempdir().unwrap();
    let mut config = test_config(data.path());
    config.submit_rate_per_ip = RateLimit {
        per_window: 1,
        window: Duration::from_secs(3600),
    };
    config.ipv6_aggregate_multiple = 2;
    config.clients.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    let server = TestServer::start(config).await;
    let client = Client::new(&server.base_url, Protocol::Http2);
    let public = server_key(&client).await;
    let wallet = &demo_chain().wallets[0];
    let mut statuses = Vec::new();
    // Five /64s of one /48, then another /48.
    for from in [
        "2001:db8:1:1::1",
        "2001:db8:1:2::1",
        "2001:db8:1:3::1",
        "2001:db8:1:4::1",
        "2001:db8:2:1::1",
    ] {
        let body = sealed_submission(&public, wallet, None).to_string();
        statuses.push(post(&client, &body, &[("x-forwarded-for", from)]).await.status.as_u16());
    }
    assert_eq!(statuses, [202, 202, 429, 429, 202]);
    server.stop().await.unwrap();
}

/// Every file under `dir` (recursively), with its bytes.
fn files_under(dir: &std::path::Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(files_under(&path));
        } else {
            files.push((path.clone(), std::fs::read(&path).unwrap()));
        }
    }
    files
}

/// A backup of the data directory of a server whose key lives elsewhere (`server_key_file`), taken with
/// jobs queued and a job ready: it holds no key file, so no envelope in it opens, and nothing in it
/// ties a job to a wallet: no view key, spend key or public view key (the two halves of an address), in
/// bytes or hex, in any file, and the job table's columns are exactly what docs/API.md lists. With the
/// key file, the same envelopes do open (so the copy holds them, sealed).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copy_of_the_data_directory_without_the_key_opens_nothing_and_links_no_wallet() {
    use tari_wallet_sync::recognize::WalletKey;
    use tari_wallet_sync_sse::{
        envelope::{LABEL_SUBMISSION, SubmissionSecrets},
        seal::{Sealed, ServerKey},
    };

    let data = tempfile::tempdir().unwrap();
    let keys = tempfile::tempdir().unwrap();
    let key_file = keys.path().join("server-key");
    let mut config = test_config(data.path());
    config.server_key_file = Some(key_file.clone());
    let wallets = &demo_chain().wallets;

    // A job that ends ready (its file on disk), then two that wait in the queue.
    let server = TestServer::start(config.clone()).await;
    let client = Client::new(&server.base_url, Protocol::Http1);
    let ready = wallet_app::submit(&client, &wallets[0], None).await.with_token();
    let deadline = Instant::now() + Duration::from_secs(60);
    let token = ready["token"].as_str().unwrap();
    while status_with(&client, ready["job_id"].as_str().unwrap(), token)
        .await
        .json()
        .unwrap()["state"]
        != "ready"
    {
        assert!(Instant::now() < deadline, "the first job never got ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    server.stop().await.unwrap();
    config.batch_delay = Duration::from_secs(3600);
    let server = TestServer::start(config).await;
    let client = Client::new(&server.base_url, Protocol::Http1);
    for wallet in &wallets[1..3] {
        wallet_app::submit(&client, wallet, None).await;
    }
    server.stop().await.unwrap();
    assert!(key_file.is_file() && !data.path().join("server-key").exists());

    // The backup: the whole data directory.
    let copy = tempfile::tempdir().unwrap();
    for (path, bytes) in files_under(data.path()) {
        let target = copy.path().join(path.strip_prefix(data.path()).unwrap());
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::write(target, bytes).unwrap();
    }
    let files = files_under(copy.path());
    let mut names: Vec<String> = files
        .iter()
        .map(|(p, _)| p.strip_prefix(copy.path()).unwrap().display().to_string())
        .collect();
    names.sort();
    let result_name = format!("results/{}", ready["job_id"].as_str().unwrap());
    assert!(
        names.contains(&"jobs.sqlite".to_string()) && names.contains(&result_name),
        "{names:?}"
    );
    assert!(
        names
            .iter()
            .all(|n| n.starts_with("jobs.sqlite") || n.starts_with("results/")),
        "the job store and the sealed files, nothing else: {names:?}"
    );
    assert!(
        !files.iter().any(|(_, b)| b.windows(7).any(|w| w == b"TWSSKEY")),
        "no key file, nor a copy of one, in the data directory"
    );

    // Nothing that names a wallet, in any file.
    for wallet in wallets {
        let key = WalletKey::from_hex(&wallet.view_key, &wallet.spend_public_key).unwrap();
        let secrets: [(&str, Vec<u8>); 3] = [
            ("view key", hex::decode(&wallet.view_key).unwrap()),
            ("spend public key", key.spend_public_key().as_bytes().to_vec()),
            ("public view key", key.public_view_key().as_bytes().to_vec()),
        ];
        for (what, bytes) in secrets {
            for form in [
                bytes.clone(),
                hex::encode(&bytes).into_bytes(),
                hex::encode_upper(&bytes).into_bytes(),
            ] {
                for (path, contents) in &files {
                    assert!(
                        !contents.windows(form.len()).any(|w| w == form),
                        "{}'s {what} in {}",
                        wallet.name,
                        path.display()
                    );
                }
            }
        }
    }

    // What the store holds, column by column: what docs/API.md ("What the server keeps") lists.
    let store = rusqlite::Connection::open(copy.path().join("jobs.sqlite")).unwrap();
    let columns = |table: &str| -> Vec<String> {
        store
            .prepare(&format!("SELECT name FROM pragma_table_info('{table}')"))
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    };
    assert_eq!(
        columns("jobs"),
        [
            "id",
            "state",
            "birthday",
            "sealed_envelope",
            "attempts",
            "created_ms",
            "finished_ms",
            "expires_ms",
            "error_code",
            "error_message",
            "result_size",
            "result_sha256",
            "result_stale",
            "result_tip_height",
            "format"
        ]
    );
    assert_eq!(columns("tokens"), ["job_id", "hash", "result_key", "sealed_file_key"]);
    let api = include_str!("../docs/API.md");
    for column in columns("jobs").iter().chain(&columns("tokens")) {
        assert!(api.contains(&format!("`{column}`")), "docs/API.md lists {column}");
    }
    let envelopes: Vec<Vec<u8>> = store
        .prepare("SELECT sealed_envelope FROM jobs WHERE sealed_envelope IS NOT NULL")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        envelopes.len(),
        2,
        "the queued jobs' envelopes, sealed; the ready job's is gone"
    );

    // The key file outside opens them: they are the envelopes, kept sealed.
    let stored = std::fs::read(&key_file).unwrap();
    let server_key = ServerKey::from_bytes(&stored[8..40].try_into().unwrap()).unwrap();
    let mut opened: Vec<String> = envelopes
        .iter()
        .map(|bytes| {
            let sealed = Sealed::from_bytes(bytes).unwrap();
            let plaintext = server_key.open(LABEL_SUBMISSION, &sealed).unwrap();
            SubmissionSecrets::from_plaintext(&plaintext)
                .unwrap()
                .spend_public_key
                .clone()
        })
        .collect();
    opened.sort();
    let mut queued: Vec<String> = wallets[1..3].iter().map(|w| w.spend_public_key.clone()).collect();
    queued.sort();
    assert_eq!(opened, queued);
}
