//! Browser wallets against a real server on 127.0.0.1:0: CORS for the operator's allowed origins only
//! (preflights, and the headers a page may read on actual answers), and single-use event tickets for
//! `EventSource`, which cannot send an `Authorization` header.

use http::{Method, StatusCode};
use tari_wallet_sync_sse::{
    JobEvent,
    client::{Client, Protocol, Response},
};
use tari_wallet_sync_testkit::service::{TestServer, demo_chain, test_config, wallet_app};

const PAGE: &str = "http://127.0.0.1:5173";

async fn server_with_origins() -> (tempfile::TempDir, TestServer) {
    let data = tempfile::tempdir().unwrap();
    let mut config = test_config(data.path());
    config.cors_origins = vec![PAGE.to_string(), "https://wallet.example".to_string()];
    let server = TestServer::start(config).await;
    (data, server)
}

async fn preflight(client: &Client, path: &str, origin: &str) -> Response {
    let headers = [
        ("origin", origin),
        ("access-control-request-method", "GET"),
        ("access-control-request-headers", "authorization, range"),
    ];
    client.request(Method::OPTIONS, path, &headers, None).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_preflight_from_an_allowed_origin_gets_the_allow_headers_and_another_origin_none() {
    let (_data, server) = server_with_origins().await;
    for protocol in [Protocol::Http1, Protocol::Http2] {
        let client = Client::new(&server.base_url, protocol);
        for path in [
            "/api/v1/wallet/sync",
            "/api/v1/wallet/sync/0123abcd/events",
            "/api/v1/wallet/sync/0123abcd/download",
            "/api/v1/wallet/sync/0123abcd",
            "/api/v1/server-key",
        ] {
            let answer = preflight(&client, path, PAGE).await;
            assert_eq!(answer.status, StatusCode::NO_CONTENT, "{path}");
            assert_eq!(answer.header("access-control-allow-origin"), Some(PAGE), "{path}");
            let methods = answer.header("access-control-allow-methods").unwrap();
            for method in ["GET", "POST", "DELETE"] {
                assert!(methods.contains(method), "{path}: {methods}");
            }
            let allowed = answer.header("access-control-allow-headers").unwrap();
            for name in ["authorization", "content-type", "last-event-id", "range"] {
                assert!(allowed.contains(name), "{path}: {allowed}");
            }
            assert!(answer.header("access-control-max-age").is_some());
            assert_eq!(answer.header("vary"), Some("Origin"));
            assert!(
                answer.header("access-control-allow-credentials").is_none(),
                "bearer tokens, not cookies"
            );

            let other = preflight(&client, path, "https://evil.example").await;
            assert_eq!(other.status, StatusCode::NO_CONTENT);
            let cors: Vec<_> = other
                .headers
                .keys()
                .filter(|name| name.as_str().starts_with("access-control-"))
                .collect();
            assert!(cors.is_empty(), "{path}: no CORS header for another origin: {cors:?}");
        }
    }
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn actual_answers_expose_the_headers_a_page_reads() {
    let (_data, server) = server_with_origins().await;
    let client = Client::new(&server.base_url, Protocol::Http1);
    let key = client
        .request(Method::GET, "/api/v1/server-key", &[("origin", PAGE)], None)
        .await
        .unwrap();
    assert_eq!(key.status, StatusCode::OK);
    assert_eq!(key.header("access-control-allow-origin"), Some(PAGE));
    let exposed = key
        .header("access-control-expose-headers")
        .unwrap()
        .to_ascii_lowercase();
    for name in ["etag", "content-range", "content-length", "retry-after", "location"] {
        assert!(exposed.contains(name), "{exposed}");
    }
    // An error is readable too (the page branches on its code), and another origin's is not.
    let refused = client
        .request(
            Method::GET,
            "/api/v1/wallet/sync/0123abcd/status",
            &[("origin", PAGE)],
            None,
        )
        .await
        .unwrap();
    assert_eq!(refused.status, StatusCode::NOT_FOUND);
    assert_eq!(refused.header("access-control-allow-origin"), Some(PAGE));
    let wrong_method = client
        .request(Method::GET, "/api/v1/wallet/sync", &[("origin", PAGE)], None)
        .await
        .unwrap();
    assert_eq!(wrong_method.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(wrong_method.header("access-control-allow-origin"), Some(PAGE));
    let other = client
        .request(
            Method::GET,
            "/api/v1/server-key",
            &[("origin", "https://evil.example")],
            None,
        )
        .await
        .unwrap();
    assert_eq!(other.status, StatusCode::OK);
    assert!(other.header("access-control-allow-origin").is_none());
    assert!(other.header("access-control-expose-headers").is_none());
    assert_eq!(other.header("vary"), Some("Origin"));

    // A download from the page: its range and version readable.
    let job = wallet_app::submit(&client, &demo_chain().wallets[0], None).await;
    let ready = wallet_app::last_event(&client, &job).await;
    assert!(matches!(ready, JobEvent::Ready { .. }), "{ready:?}");
    let download = client
        .request(
            Method::GET,
            job.json["download_url"].as_str().unwrap(),
            &[("origin", PAGE), ("authorization", &job.auth), ("range", "bytes=0-9")],
            None,
        )
        .await
        .unwrap();
    assert_eq!(download.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(download.header("access-control-allow-origin"), Some(PAGE));
    assert!(download.header("content-range").is_some() && download.header("etag").is_some());
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_origins_no_cors_header_is_sent() {
    let data = tempfile::tempdir().unwrap();
    let server = TestServer::start(test_config(data.path())).await;
    let client = Client::new(&server.base_url, Protocol::Http1);
    let answer = preflight(&client, "/api/v1/wallet/sync", PAGE).await;
    assert_eq!(answer.status, StatusCode::NO_CONTENT);
    assert!(answer.header("access-control-allow-origin").is_none());
    let key = client
        .request(Method::GET, "/api/v1/server-key", &[("origin", PAGE)], None)
        .await
        .unwrap();
    assert!(key.header("access-control-allow-origin").is_none() && key.header("vary").is_none());
    server.stop().await.unwrap();
}

async fn ticket(client: &Client, job: &wallet_app::SubmittedJob) -> serde_json::Value {
    let url = job.json["events_url"]
        .as_str()
        .unwrap()
        .replace("/events", "/events-ticket");
    let answer = client
        .request(Method::POST, &url, &[("authorization", &job.auth)], None)
        .await
        .unwrap();
    assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
    assert_eq!(answer.header("cache-control"), Some("no-store"));
    answer.json().unwrap()
}

async fn events_with(client: &Client, url: &str, headers: &[(&str, &str)]) -> Response {
    client.request(Method::GET, url, headers, None).await.unwrap()
}

fn code(answer: &Response) -> String {
    answer.json().unwrap()["error"]["code"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_events_ticket_opens_the_stream_once_instead_of_the_token() {
    let (_data, server) = server_with_origins().await;
    let client = Client::new(&server.base_url, Protocol::Http1);
    let wallets = &demo_chain().wallets;
    let job = wallet_app::submit(&client, &wallets[0], None).await;
    let other = wallet_app::submit(&client, &wallets[1], None).await;
    assert!(matches!(
        wallet_app::last_event(&client, &job).await,
        JobEvent::Ready { .. }
    ));
    let events_url = job.json["events_url"].as_str().unwrap();

    let issued = ticket(&client, &job).await;
    let value = issued["ticket"].as_str().unwrap();
    assert_eq!(value.len(), 64, "32 random bytes as hex");
    assert!(value.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_eq!(issued["expires_in"], 60);
    let url = issued["events_url"].as_str().unwrap();
    assert_eq!(url, format!("{events_url}?ticket={value}"));

    // The ticket of one job opens no other job's stream, and is not used up by trying.
    let elsewhere = other.json["events_url"].as_str().unwrap();
    let refused = events_with(&client, &format!("{elsewhere}?ticket={value}"), &[]).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    assert_eq!(code(&refused), "INVALID_TICKET");

    // A browser's reconnect resends Last-Event-ID with a fresh ticket: the current state comes back.
    let stream = events_with(&client, url, &[("origin", PAGE), ("last-event-id", "1")]).await;
    assert_eq!(stream.status, StatusCode::OK);
    assert_eq!(stream.header("content-type"), Some("text/event-stream"));
    assert_eq!(stream.header("access-control-allow-origin"), Some(PAGE));
    let text = String::from_utf8(stream.body.to_vec()).unwrap();
    assert!(text.contains("event: ready"), "{text}");

    let reused = events_with(&client, url, &[]).await;
    assert_eq!(reused.status, StatusCode::UNAUTHORIZED);
    assert_eq!(code(&reused), "TICKET_USED");

    let forged = events_with(&client, &format!("{events_url}?ticket={}", "ab".repeat(32)), &[]).await;
    assert_eq!(code(&forged), "INVALID_TICKET");
    let neither = events_with(&client, events_url, &[]).await;
    assert_eq!(code(&neither), "MISSING_TOKEN");
    // Only the token's holder gets tickets.
    let ticket_url = events_url.replace("/events", "/events-ticket");
    let anonymous = client.request(Method::POST, &ticket_url, &[], None).await.unwrap();
    assert_eq!(code(&anonymous), "MISSING_TOKEN");
    let wrong = client
        .request(Method::POST, &ticket_url, &[("authorization", &other.auth)], None)
        .await
        .unwrap();
    assert_eq!(code(&wrong), "INVALID_TOKEN");
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_events_ticket_is_refused_with_its_own_code() {
    let data = tempfile::tempdir().unwrap();
    let mut config = test_config(data.path());
    config.events_ticket_ttl = std::time::Duration::from_millis(100);
    let server = TestServer::start(config).await;
    let client = Client::new(&server.base_url, Protocol::Http2);
    let job = wallet_app::submit(&client, &demo_chain().wallets[0], None).await;
    let issued = ticket(&client, &job).await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let expired = events_with(&client, issued["events_url"].as_str().unwrap(), &[]).await;
    assert_eq!(expired.status, StatusCode::UNAUTHORIZED);
    assert_eq!(code(&expired), "TICKET_EXPIRED");
    server.stop().await.unwrap();
}
