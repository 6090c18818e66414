//! Service refusals: every bad input answered with its stable code and status, over a real server whose
//! jobs stay queued (a long batch delay) so "not ready yet" can be asked; limits answered with 429/503
//! and `Retry-After`.

use std::time::Duration;

use bytes::Bytes;
use http::{Method, StatusCode};
use tari_wallet_sync::service::{PlainKeyPolicy, RateLimit, ServiceConfig};
use tari_wallet_sync_sse::{
    client::{Client, Protocol, Response},
    envelope::{LABEL_SUBMISSION, SubmissionSecrets},
    seal::{LABEL_VIEW_KEY, seal},
};
use tari_wallet_sync_testkit::service::{
    TestServer, demo_chain, seal_secrets, sealed_submission, submission_secrets, test_config,
};

/// A config whose jobs wait an hour for their pass.
fn idle_config(data: &std::path::Path) -> ServiceConfig {
    let mut config = test_config(data);
    config.batch_delay = Duration::from_secs(3600);
    config
}

async fn post(client: &Client, body: impl Into<Bytes>) -> Response {
    client
        .request(Method::POST, "/api/v1/wallet/sync", &[], Some(body.into()))
        .await
        .unwrap()
}

async fn server_public(client: &Client) -> [u8; 32] {
    let key = client
        .request(Method::GET, "/api/v1/server-key", &[], None)
        .await
        .unwrap();
    hex::decode(key.json().unwrap()["public_key"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap()
}

#[track_caller]
fn assert_error(response: &Response, status: StatusCode, code: &str) {
    assert_eq!(
        response.status,
        status,
        "{code}: {}",
        String::from_utf8_lossy(&response.body)
    );
    let body = response.json().unwrap();
    assert_eq!(body["error"]["code"], code);
    assert!(body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()));
    assert_eq!(response.header("content-type"), Some("application/json"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_submissions_get_their_codes() {
    let data = tempfile::tempdir().unwrap();
    let server = TestServer::start(idle_config(data.path())).await;
    let client = Client::new(&server.base_url, Protocol::Http1);
    let public = server_public(&client).await;
    let wallet = &demo_chain().wallets[0];
    let good = submission_secrets(wallet, None);
    // The envelope of `good` with one plaintext field changed.
    let sealed_with = |change: &dyn Fn(&mut SubmissionSecrets)| {
        let mut secrets = good.clone();
        change(&mut secrets);
        seal_secrets(&public, secrets).to_string()
    };
    let bad_request = StatusCode::BAD_REQUEST;

    // Not JSON, unknown fields, wrong types: the message says where, never what the body held.
    let response = post(&client, r#"{"version": 2, "envelope": "SECRET-IN-THE-BODY"}"#).await;
    assert_error(&response, bad_request, "MALFORMED_JSON");
    assert!(!String::from_utf8_lossy(&response.body).contains("SECRET"), "no echo");
    assert_error(&post(&client, "{not json").await, bad_request, "MALFORMED_JSON");
    let mut extra = seal_secrets(&public, good.clone()).body;
    extra["surprise"] = 1.into();
    assert_error(&post(&client, extra.to_string()).await, bad_request, "MALFORMED_JSON");

    // Version 1 bodies, and versions we do not speak, are refused by name.
    let version_1 = serde_json::json!({
        "sealed_view_key": seal_secrets(&public, good.clone()).body["envelope"],
        "spend_public_key": wallet.spend_public_key,
    });
    let refused = post(&client, version_1.to_string()).await;
    assert_error(&refused, bad_request, "UNSUPPORTED_VERSION");
    assert!(String::from_utf8_lossy(&refused.body).contains("version 1"));
    let mut version_3 = seal_secrets(&public, good.clone()).body;
    version_3["version"] = 3.into();
    assert_error(
        &post(&client, version_3.to_string()).await,
        bad_request,
        "UNSUPPORTED_VERSION",
    );
    assert_error(
        &post(&client, r#"{"key_id": "00"}"#).await,
        bad_request,
        "INVALID_FIELD",
    );

    // Keys inside the envelope: wrong lengths, not hex, not canonical, zero, not a point.
    type Spoil<'a> = &'a dyn Fn(&mut SubmissionSecrets);
    let cases: [(Spoil, &str); 6] = [
        (&|s| s.spend_public_key = "11".repeat(31), "KEY_LENGTH"),
        (&|s| s.view_key = "01".repeat(31), "KEY_LENGTH"),
        (&|s| s.spend_public_key = "zz".into(), "NOT_HEX"),
        (&|s| s.view_key = "ff".repeat(32), "NON_CANONICAL_SCALAR"),
        (&|s| s.view_key = "00".repeat(32), "ZERO_VIEW_KEY"),
        (&|s| s.spend_public_key = "ff".repeat(32), "INVALID_POINT"),
    ];
    for (change, code) in cases {
        assert_error(&post(&client, sealed_with(change)).await, bad_request, code);
    }
    // A password is required; a job secret must be 32 bytes.
    assert_error(
        &post(&client, sealed_with(&|s| s.wallet_password.clear())).await,
        bad_request,
        "PASSWORD_REQUIRED",
    );
    assert_error(
        &post(&client, sealed_with(&|s| s.job_secret = "ab".into())).await,
        bad_request,
        "INVALID_FIELD",
    );
    // Sealed long ago, or in the future, beyond the window.
    for skew in [-700i64, 700] {
        let sealed = sealed_with(&|s| s.timestamp = (s.timestamp as i64 + skew) as u64);
        assert_error(&post(&client, sealed).await, bad_request, "ENVELOPE_EXPIRED");
    }

    // Bad seals: altered ciphertext, short nonce, sealed to another key, a version-1 view-key box.
    let body = seal_secrets(&public, good.clone()).body;
    let with_envelope = |envelope: serde_json::Value| {
        let mut body = body.clone();
        body["envelope"] = envelope;
        body.to_string()
    };
    let mut altered = body["envelope"].clone();
    let mut ciphertext = altered["ciphertext"].as_str().unwrap().to_string();
    ciphertext.replace_range(0..2, if &ciphertext[0..2] == "00" { "01" } else { "00" });
    altered["ciphertext"] = ciphertext.into();
    assert_error(&post(&client, with_envelope(altered)).await, bad_request, "BAD_SEAL");
    let mut short_nonce = body["envelope"].clone();
    short_nonce["nonce"] = "00".repeat(12).into();
    assert_error(
        &post(&client, with_envelope(short_nonce)).await,
        bad_request,
        "BAD_SEAL",
    );
    let other_server = tari_wallet_sync_sse::seal::ServerKey::from_bytes(&[3; 32])
        .unwrap()
        .public_key();
    let elsewhere = seal_secrets(&other_server, good.clone()).body["envelope"].clone();
    assert_error(&post(&client, with_envelope(elsewhere)).await, bad_request, "BAD_SEAL");
    let view = hex::decode(&wallet.view_key).unwrap();
    let view_box = serde_json::to_value(seal(&public, LABEL_VIEW_KEY, &view).unwrap().to_wire()).unwrap();
    assert_error(&post(&client, with_envelope(view_box)).await, bad_request, "BAD_SEAL");
    // Sealed right, but not a submission inside.
    let not_a_submission =
        serde_json::to_value(seal(&public, LABEL_SUBMISSION, b"{\"hello\": 1}").unwrap().to_wire()).unwrap();
    assert_error(
        &post(&client, with_envelope(not_a_submission)).await,
        bad_request,
        "BAD_ENVELOPE",
    );
    let mut rotated = body.clone();
    rotated["key_id"] = "0011223344556677".into();
    assert_error(
        &post(&client, rotated.to_string()).await,
        bad_request,
        "UNKNOWN_SERVER_KEY",
    );

    // Oversized bodies, declared or streamed.
    let mut huge = body.clone();
    huge["padding"] = "x".repeat(20_000).into();
    assert_error(
        &post(&client, huge.to_string()).await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "BODY_TOO_LARGE",
    );
    let h2 = Client::new(&server.base_url, Protocol::Http2);
    assert_error(
        &post(&h2, huge.to_string()).await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "BODY_TOO_LARGE",
    );

    // A plain submission is refused under the default policy, even from loopback.
    let plain = serde_json::json!({ "version": 2, "plain": good });
    assert_error(
        &post(&client, plain.to_string()).await,
        StatusCode::FORBIDDEN,
        "PLAIN_KEY_NOT_ALLOWED",
    );
    let both = serde_json::json!({ "version": 2, "plain": good, "envelope": body["envelope"] });
    assert_error(&post(&client, both.to_string()).await, bad_request, "INVALID_FIELD");
    // The good one is accepted, once: sent again, it answers with the same job.
    let accepted = seal_secrets(&public, good.clone()).to_string();
    let first = post(&client, accepted.clone()).await;
    assert_eq!(first.status, StatusCode::ACCEPTED);
    let again = post(&client, accepted).await;
    assert_eq!(again.status, StatusCode::ACCEPTED);
    assert_eq!(again.json().unwrap()["job_id"], first.json().unwrap()["job_id"]);
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn job_routes_refuse_unknown_jobs_wrong_tokens_and_early_downloads() {
    let data = tempfile::tempdir().unwrap();
    let server = TestServer::start(idle_config(data.path())).await;
    let client = Client::new(&server.base_url, Protocol::Http2);
    let public = server_public(&client).await;
    let submission = sealed_submission(&public, &demo_chain().wallets[1], None);
    let job = post(&client, submission.to_string()).await.json().unwrap();
    let auth = submission.auth();
    let wrong = format!("Bearer {}", "0".repeat(64));
    let status_url = job["status_url"].as_str().unwrap();
    let request = |method: Method, path: String, authorization: Option<String>| {
        let client = client.clone();
        async move {
            let headers: Vec<(&str, &str)> = authorization.iter().map(|a| ("authorization", a.as_str())).collect();
            client.request(method, &path, &headers, None).await.unwrap()
        }
    };

    let unknown = "/api/v1/wallet/sync/00000000000000000000000000000000/status".to_string();
    assert_error(
        &request(Method::GET, unknown, Some(auth.clone())).await,
        StatusCode::NOT_FOUND,
        "JOB_NOT_FOUND",
    );
    let weird = "/api/v1/wallet/sync/..%2f/status".to_string();
    assert_error(
        &request(Method::GET, weird, Some(auth.clone())).await,
        StatusCode::NOT_FOUND,
        "JOB_NOT_FOUND",
    );
    let response = request(Method::GET, status_url.into(), Some(wrong.clone())).await;
    assert_error(&response, StatusCode::UNAUTHORIZED, "INVALID_TOKEN");
    assert_eq!(response.header("www-authenticate"), Some("Bearer"));
    assert_error(
        &request(Method::GET, status_url.into(), None).await,
        StatusCode::UNAUTHORIZED,
        "MISSING_TOKEN",
    );
    let status = request(Method::GET, status_url.into(), Some(auth.clone()))
        .await
        .json()
        .unwrap();
    assert_eq!(
        (status["state"].as_str(), status["queue_position"].as_u64()),
        (Some("queued"), Some(1))
    );

    let download = job["download_url"].as_str().unwrap().to_string();
    assert_error(
        &request(Method::GET, download.clone(), Some(auth.clone())).await,
        StatusCode::CONFLICT,
        "NOT_READY",
    );
    let events = job["events_url"].as_str().unwrap().to_string();
    assert_error(
        &request(Method::GET, events, Some(wrong.clone())).await,
        StatusCode::UNAUTHORIZED,
        "INVALID_TOKEN",
    );

    let job_url = format!("/api/v1/wallet/sync/{}", job["job_id"].as_str().unwrap());
    assert_error(
        &request(Method::DELETE, job_url.clone(), Some(wrong)).await,
        StatusCode::UNAUTHORIZED,
        "INVALID_TOKEN",
    );
    assert_eq!(
        request(Method::DELETE, job_url.clone(), Some(auth.clone()))
            .await
            .status,
        StatusCode::OK
    );
    assert_error(
        &request(Method::DELETE, job_url, Some(auth.clone())).await,
        StatusCode::GONE,
        "JOB_DELETED",
    );
    assert_error(
        &request(Method::GET, download, Some(auth)).await,
        StatusCode::GONE,
        "JOB_DELETED",
    );

    assert_error(
        &request(Method::GET, "/nowhere".into(), None).await,
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
    );
    let wrong_method = request(Method::PUT, "/api/v1/wallet/sync".into(), None).await;
    assert_error(&wrong_method, StatusCode::METHOD_NOT_ALLOWED, "METHOD_NOT_ALLOWED");
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_submissions_only_where_the_operator_allows_them() {
    // `loopback` lets a wallet on the same machine send its keys unsealed (local testing); the
    // service still seals them to itself before they reach the store.
    let data = tempfile::tempdir().unwrap();
    let mut config = idle_config(data.path());
    config.plain_view_key = PlainKeyPolicy::Loopback;
    let server = TestServer::start(config).await;
    let client = Client::new(&server.base_url, Protocol::Http1);
    let plain = serde_json::json!({ "version": 2, "plain": submission_secrets(&demo_chain().wallets[0], None) });
    assert_eq!(post(&client, plain.to_string()).await.status, StatusCode::ACCEPTED);
    server.stop().await.unwrap();
    let stored = std::fs::read(data.path().join("jobs.sqlite")).unwrap();
    let view = demo_chain().wallets[0].view_key.as_bytes();
    assert!(
        !stored.windows(view.len()).any(|w| w == view),
        "the store holds no plain key"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_answer_429_and_503_with_retry_after() {
    let data = tempfile::tempdir().unwrap();
    let mut config = idle_config(data.path());
    config.max_queued_jobs = 2;
    config.sync_rate_per_wallet = RateLimit {
        per_window: 1,
        window: Duration::from_secs(3600),
    };
    config.max_sse_per_job = 1;
    let server = TestServer::start(config).await;
    let client = Client::new(&server.base_url, Protocol::Http1);
    let public = server_public(&client).await;
    let wallets = &demo_chain().wallets;

    let first_submission = sealed_submission(&public, &wallets[0], None);
    let first = post(&client, first_submission.to_string()).await;
    assert_eq!(first.status, StatusCode::ACCEPTED);
    // The same wallet with another birthday is a new sync of that wallet: over its rate.
    let mut again = submission_secrets(&wallets[0], None);
    again.birthday += 1;
    let limited = post(&client, seal_secrets(&public, again).to_string()).await;
    assert_error(&limited, StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED");
    assert!(limited.header("retry-after").unwrap().parse::<u64>().unwrap() > 60);
    assert_eq!(
        post(&client, sealed_submission(&public, &wallets[1], None).to_string())
            .await
            .status,
        StatusCode::ACCEPTED
    );
    let full = post(&client, sealed_submission(&public, &wallets[2], None).to_string()).await;
    assert_error(&full, StatusCode::SERVICE_UNAVAILABLE, "QUEUE_FULL");
    assert!(full.header("retry-after").is_some());

    // One event stream per job here: a second is refused while the first is open.
    let job = first.json().unwrap();
    let auth = first_submission.auth();
    let events = job["events_url"].as_str().unwrap();
    let open = client
        .send(Method::GET, events, &[("authorization", &auth)], None)
        .await
        .unwrap();
    assert_eq!(open.status(), StatusCode::OK);
    let second = client
        .request(Method::GET, events, &[("authorization", &auth)], None)
        .await
        .unwrap();
    assert_error(&second, StatusCode::TOO_MANY_REQUESTS, "TOO_MANY_SUBSCRIBERS");
    drop(open);
    server.stop().await.unwrap();

    // Per-IP submission and request limits.
    let data = tempfile::tempdir().unwrap();
    let mut config = idle_config(data.path());
    config.submit_rate_per_ip = RateLimit {
        per_window: 1,
        window: Duration::from_secs(60),
    };
    let server = TestServer::start(config).await;
    let client = Client::new(&server.base_url, Protocol::Http2);
    let public = server_public(&client).await;
    assert_eq!(
        post(&client, sealed_submission(&public, &wallets[0], None).to_string())
            .await
            .status,
        StatusCode::ACCEPTED
    );
    let limited = post(&client, sealed_submission(&public, &wallets[1], None).to_string()).await;
    assert_error(&limited, StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED");
    server.stop().await.unwrap();

    let data = tempfile::tempdir().unwrap();
    let mut config = idle_config(data.path());
    config.request_rate_per_ip = RateLimit {
        per_window: 2,
        window: Duration::from_secs(60),
    };
    let server = TestServer::start(config).await;
    let client = Client::new(&server.base_url, Protocol::Http1);
    for _ in 0..2 {
        assert_eq!(
            client
                .request(Method::GET, "/api/v1/server-key", &[], None)
                .await
                .unwrap()
                .status,
            StatusCode::OK
        );
    }
    let limited = client
        .request(Method::GET, "/api/v1/server-key", &[], None)
        .await
        .unwrap();
    assert_error(&limited, StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED");
    // Operations routes have a bucket of their own (`ops_rate_per_ip`, off here: tests/service_ops.rs).
    assert_eq!(
        client.request(Method::GET, "/health", &[], None).await.unwrap().status,
        StatusCode::OK
    );
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_beyond_the_limit_get_503() {
    let data = tempfile::tempdir().unwrap();
    let mut config = idle_config(data.path());
    config.max_connections = 1;
    let server = TestServer::start(config).await;
    let holder = Client::new(&server.base_url, Protocol::Http2);
    assert_eq!(
        holder.request(Method::GET, "/live", &[], None).await.unwrap().status,
        StatusCode::OK
    );
    // The HTTP/2 client keeps its connection; a second client needs another.
    let other = Client::new(&server.base_url, Protocol::Http1);
    let refused = other.request(Method::GET, "/live", &[], None).await.unwrap();
    assert_error(&refused, StatusCode::SERVICE_UNAVAILABLE, "TOO_MANY_CONNECTIONS");
    assert!(refused.header("retry-after").is_some());
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_headers_are_cut_off_and_slow_bodies_time_out() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let data = tempfile::tempdir().unwrap();
    let mut config = idle_config(data.path());
    config.header_timeout = Duration::from_millis(300);
    config.request_timeout = Duration::from_millis(300);
    let server = TestServer::start(config).await;

    // Headers that never end: the connection is closed after the header timeout.
    let mut slow = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    slow.write_all(b"GET /live HTTP/1.1\r\nHost: x\r\n").await.unwrap();
    let started = std::time::Instant::now();
    let mut rest = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), slow.read_to_end(&mut rest)).await;
    assert!(read.is_ok(), "the connection is closed");
    assert!(started.elapsed() < Duration::from_secs(3));

    // A body that stops halfway: 408 TIMEOUT.
    let mut stalled = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    stalled
        .write_all(b"POST /api/v1/wallet/sync HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"spend")
        .await
        .unwrap();
    let mut answer = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(5), stalled.read(&mut answer))
        .await
        .unwrap()
        .unwrap();
    let answer = String::from_utf8_lossy(&answer[..n]);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("\"TIMEOUT\""), "{answer}");
    server.stop().await.unwrap();
}

/// A submission with `Content-Type: content_type` (`None`: no such header) over a connection of its own,
/// as a browser or a script would send it: the status code and the answer's text.
async fn post_typed(addr: std::net::SocketAddr, content_type: Option<&str>, body: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let header = content_type
        .map(|t| format!("Content-Type: {t}\r\n"))
        .unwrap_or_default();
    let request = format!(
        "POST /api/v1/wallet/sync HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{header}Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut answer))
        .await
        .expect("an answer")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let status = answer
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line: {answer}"));
    (status, answer)
}

/// A sample of `/metrics` (the first line starting with `name `).
async fn metric(client: &Client, name: &str) -> f64 {
    let text = client.request(Method::GET, "/metrics", &[], None).await.unwrap().body;
    let text = String::from_utf8(text.to_vec()).unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with(&format!("{name} ")))
        .unwrap_or_else(|| panic!("no {name} in /metrics"));
    line[name.len() + 1..].trim().parse().unwrap()
}

/// Input is checked at the door. A body not sent as JSON (what another site's page can make a browser
/// post without a CORS preflight) is 415 before it is read; a password longer than a wallet file takes,
/// and fields longer than any key, are 400 at submission instead of a job that fails after its scan; and
/// a plain submission too long for a box once encoded, which panicked the connection's task (no answer,
/// the other HTTP/2 streams on it dead, the connection gauge one higher for good), is a 400 on a
/// connection that carries on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn input_is_checked_at_the_door() {
    let data = tempfile::tempdir().unwrap();
    let mut config = idle_config(data.path());
    config.plain_view_key = PlainKeyPolicy::Loopback;
    let server = TestServer::start(config).await;
    let ops = Client::new(&server.base_url, Protocol::Http1);
    let public = server_public(&ops).await;
    let good = submission_secrets(&demo_chain().wallets[0], None);
    let with = |change: &dyn Fn(&mut SubmissionSecrets)| {
        let mut secrets = good.clone();
        change(&mut secrets);
        secrets
    };
    let plain = |secrets: &SubmissionSecrets| serde_json::json!({ "version": 2, "plain": secrets }).to_string();
    let bad_request = StatusCode::BAD_REQUEST;

    // The content type: only JSON, with parameters and in any case; refused before the body is read, so
    // the same envelope is accepted once it comes as JSON.
    let sealed = seal_secrets(&public, good.clone()).to_string();
    for content_type in [
        Some("text/plain;charset=UTF-8"),
        Some("application/x-www-form-urlencoded"),
        Some("multipart/form-data; boundary=x"),
        Some("application/jsonp"),
        Some(""),
        None,
    ] {
        let (status, answer) = post_typed(server.addr, content_type, &sealed).await;
        assert!(
            status == 415 && answer.contains("\"UNSUPPORTED_MEDIA_TYPE\""),
            "{content_type:?}: {answer}"
        );
    }
    let (status, answer) = post_typed(server.addr, Some("Application/JSON; charset=utf-8"), &sealed).await;
    assert_eq!(status, 202, "{answer}");

    // The password within what a wallet file takes, sealed or plain; the longest one is accepted.
    let long_password = with(&|s| s.wallet_password = "p".repeat(4097));
    assert_error(
        &post(&ops, seal_secrets(&public, long_password.clone()).to_string()).await,
        bad_request,
        "PASSWORD_TOO_LONG",
    );
    assert_error(
        &post(&ops, plain(&long_password)).await,
        bad_request,
        "PASSWORD_TOO_LONG",
    );
    let longest = with(&|s| s.wallet_password = "p".repeat(4096));
    let accepted = post(&ops, seal_secrets(&public, longest).to_string()).await;
    assert_eq!(accepted.status, StatusCode::ACCEPTED);
    // Fields longer than any key with the whitespace of a paste around it.
    let long_key = with(&|s| s.view_key = format!("{}{}", s.view_key, " ".repeat(100)));
    assert_error(&post(&ops, plain(&long_key)).await, bad_request, "FIELD_TOO_LONG");
    let long_spend = with(&|s| s.spend_public_key = "0".repeat(200));
    assert_error(
        &post(&ops, seal_secrets(&public, long_spend).to_string()).await,
        bad_request,
        "FIELD_TOO_LONG",
    );

    // A plain submission within the body limit whose password (within the wallet file's bound) needs
    // so much escaping that the envelope outgrows a box, beside another stream on one HTTP/2
    // connection: both answered, the connection alive after, and closed it leaves the gauge as it was.
    let open_before = metric(&ops, "tws_connections").await;
    let escaped = plain(&with(&|s| s.wallet_password = "\"".repeat(4096)));
    assert!(escaped.len() < 16 * 1024, "within max_body_bytes");
    let h2 = Client::new(&server.base_url, Protocol::Http2);
    let other_stream = h2.request(Method::GET, "/api/v1/server-key", &[], None);
    let (refused, other) = tokio::join!(post(&h2, escaped.clone()), other_stream);
    assert_error(&refused, bad_request, "PASSWORD_TOO_LONG");
    assert_eq!(other.unwrap().status, StatusCode::OK, "the other stream is answered");
    assert_error(&post(&h2, escaped).await, bad_request, "PASSWORD_TOO_LONG");
    assert_eq!(
        metric(&ops, "tws_connections").await,
        open_before + 1.0,
        "one connection more: h2's"
    );
    drop(h2);
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while metric(&ops, "tws_connections").await != open_before {
        assert!(
            std::time::Instant::now() < deadline,
            "the closed connection is not counted for good"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    server.stop().await.unwrap();
}
