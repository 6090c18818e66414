//! Secrets never reach the log: a whole browser-style job (sealed submission, an events ticket in the
//! stream's URL, a download with the token) and webhook attempts against a receiver that is down run
//! with every event of every target recorded at TRACE, and none of the token, the ticket, the view key,
//! the wallet password or the webhook secret appears in what was written.

use std::{
    io::Write,
    sync::{Arc, Mutex},
    time::Duration,
};

use http::{Method, StatusCode};
use tari_wallet_sync_sse::{
    JobEvent,
    client::{Client, Protocol},
};
use tari_wallet_sync_testkit::service::{TEST_PASSWORD, TestServer, demo_chain, test_config, wallet_app};

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_token_ticket_key_password_or_webhook_secret_is_logged() {
    let captured = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(captured.clone())
        .finish();
    tracing::subscriber::set_global_default(subscriber).unwrap();

    let dir = tempfile::tempdir().unwrap();
    let webhook_secret = "a webhook secret that must stay unseen";
    let secret_file = dir.path().join("webhook-secret");
    std::fs::write(&secret_file, webhook_secret).unwrap();
    // A receiver that is down: every attempt fails and is logged with its reason.
    let down = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let mut config = test_config(&dir.path().join("data"));
    config.webhook_urls = vec![format!("http://{down}/hooks")];
    config.webhook_secret_file = Some(secret_file);
    config.webhook_retry_base = Duration::from_millis(20);
    config.webhook_retry_max = Duration::from_millis(50);
    config.cors_origins = vec!["http://127.0.0.1:5173".into()];
    let server = TestServer::start(config).await;
    let client = Client::new(&server.base_url, Protocol::Http1);
    let wallet = &demo_chain().wallets[0];
    let job = wallet_app::submit(&client, wallet, Some(TEST_PASSWORD)).await;
    let ready = wallet_app::last_event(&client, &job).await;
    let JobEvent::Ready { download_url, .. } = ready else {
        panic!("ready: {ready:?}")
    };
    let events_url = job.json["events_url"].as_str().unwrap();
    let ticket = client
        .request(
            Method::POST,
            &format!("{events_url}-ticket"),
            &[("authorization", &job.auth)],
            None,
        )
        .await
        .unwrap()
        .json()
        .unwrap();
    let ticket = ticket["ticket"].as_str().unwrap().to_string();
    for _ in 0..2 {
        // The second use is refused: that path must not log the ticket either.
        client
            .request(Method::GET, &format!("{events_url}?ticket={ticket}"), &[], None)
            .await
            .unwrap();
    }
    let file = wallet_app::download(&client, &job, &download_url).await;
    assert!(!file.is_empty());
    let wrong = client
        .request(Method::GET, &download_url, &[("authorization", "Bearer 00")], None)
        .await
        .unwrap();
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    tokio::time::sleep(Duration::from_millis(300)).await;
    server.stop().await.unwrap();

    let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(log.contains("webhook attempt failed"), "the webhook path ran: {log}");
    assert!(log.contains("job ready"), "the job's path ran");
    for (name, secret) in [
        ("token", job.token.as_str()),
        ("ticket", ticket.as_str()),
        ("view key", wallet.view_key.as_str()),
        ("wallet password", TEST_PASSWORD),
        ("webhook secret", webhook_secret),
    ] {
        assert!(!log.contains(secret), "the {name} was logged:\n{log}");
    }
}
