//! The event-stream client against a scripted SSE server: it resumes a dropped stream with
//! `Last-Event-ID`, honours `retry:`, stops after the terminal event, and gives up on a refusal.

#![cfg(feature = "client")]

use std::{
    convert::Infallible,
    sync::{Arc, Mutex},
};

use bytes::Bytes;
use futures_util::StreamExt;
use http_body_util::Full;
use hyper::{Request, Response, server::conn::http1, service::service_fn};
use hyper_util::rt::TokioIo;
use tari_wallet_sync_sse::{
    JobEvent,
    client::{Client, ClientError, Protocol, ReconnectPolicy},
};

/// Serves the scripted answers in order, one per connection, recording each request's Last-Event-ID.
async fn scripted(answers: Vec<(u16, &'static str)>) -> (String, Arc<Mutex<Vec<Option<String>>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let recorded = seen.clone();
    tokio::spawn(async move {
        for (status, body) in answers {
            let (stream, _) = listener.accept().await.unwrap();
            let seen = seen.clone();
            let service = service_fn(move |request: Request<hyper::body::Incoming>| {
                let last = request
                    .headers()
                    .get("last-event-id")
                    .map(|v| v.to_str().unwrap().to_string());
                seen.lock().unwrap().push(last);
                async move {
                    let response = Response::builder()
                        .status(status)
                        .header("content-type", "text/event-stream")
                        .header("connection", "close")
                        .body(Full::new(Bytes::from_static(body.as_bytes())))
                        .unwrap();
                    Ok::<_, Infallible>(response)
                }
            });
            tokio::spawn(
                http1::Builder::new()
                    .keep_alive(false)
                    .serve_connection(TokioIo::new(stream), service),
            );
        }
    });
    (url, recorded)
}

#[tokio::test]
async fn resumes_with_last_event_id_until_the_job_ends() {
    let first = "retry: 10\n\nid: 5\nevent: queued\ndata: {\"event\":\"queued\",\"position\":1}\n\n: keep-alive\n\n";
    let second = "id: 6\nevent: progress\ndata: {\"event\":\"progress\",\"outputs_done\":1,\"outputs_total\":2,\
                  \"blocks_done\":1,\"blocks_total\":2,\"height\":1,\"percent\":50.0}\n\n\
                  id: 7\nevent: ready\ndata: {\"event\":\"ready\",\"size\":3,\"sha256\":\"ab\",\"download_url\":\"/d\"}\n\n";
    let (url, seen) = scripted(vec![(200, first), (200, second)]).await;
    let client = Client::new(&url, Protocol::Http1);
    let events: Vec<_> = client
        .events("/events", "t", None, ReconnectPolicy::default())
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .map(|e| e.unwrap())
        .collect();
    let ids: Vec<u64> = events.iter().map(|e| e.id).collect();
    assert_eq!(ids, [5, 6, 7]);
    assert!(matches!(events[2].event, JobEvent::Ready { size: 3, .. }));
    assert_eq!(*seen.lock().unwrap(), [None, Some("5".to_string())]);
}

#[tokio::test]
async fn a_refusal_ends_the_stream_without_retrying() {
    let (url, seen) = scripted(vec![(
        401,
        "{\"error\":{\"code\":\"INVALID_TOKEN\",\"message\":\"no\"}}",
    )])
    .await;
    let client = Client::new(&url, Protocol::Http1);
    let mut events = client.events("/events", "t", Some(9), ReconnectPolicy::default());
    match events.next().await {
        Some(Err(ClientError::Status { status: 401, body })) => assert!(body.contains("INVALID_TOKEN")),
        other => panic!("expected the refusal, got {other:?}"),
    }
    assert!(events.next().await.is_none());
    assert_eq!(*seen.lock().unwrap(), [Some("9".to_string())]);
}

#[tokio::test]
async fn gives_up_after_the_allowed_attempts() {
    // Nothing listens on this port once the listener is dropped.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let client = Client::new(&url, Protocol::Http2);
    let policy = ReconnectPolicy {
        max_attempts: 2,
        delay: std::time::Duration::from_millis(5),
    };
    let results: Vec<_> = client.events("/events", "t", None, policy).collect().await;
    assert!(
        matches!(results.as_slice(), [Err(ClientError::GaveUp(2))]),
        "{results:?}"
    );
}
