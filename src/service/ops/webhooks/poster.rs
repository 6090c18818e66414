//! Poster: one signed POST of a queued delivery, over `https://` (rustls, ALPN `h2` and `http/1.1`) or
//! `http://`, within a connect timeout and an attempt timeout. One poster (one connection pool) serves
//! every endpoint's worker: the pool keeps connections per host, so a host that never answers holds
//! only its own worker's attempt.

use std::time::Duration;

use bytes::Bytes;
use http::{Request, header};
use http_body_util::Full;
use hyper_util::{client::legacy::Client, rt::TokioExecutor};
use tari_wallet_sync_sse::tls::{self, Alpn, HttpConnector, HttpsConnector, TlsFailure};

use crate::service::{
    clock::now_ms,
    jobs::store::DueDelivery,
    webhook::{EVENT_ID_HEADER, SIGNATURE_HEADER, WebhookSetup},
};

pub(super) struct Poster {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    setup: WebhookSetup,
    attempt_timeout: Duration,
}

impl Poster {
    pub(super) fn new(setup: WebhookSetup, connect_timeout: Duration, attempt_timeout: Duration) -> Poster {
        let connector = tls::connector(setup.tls.clone(), Alpn::Both, Some(connect_timeout));
        Poster {
            client: Client::builder(TokioExecutor::new()).build(connector),
            setup,
            attempt_timeout,
        }
    }

    /// One POST; `Err` says why it did not count as delivered (for the log: never the URL, whose path
    /// may hold the receiver's secret, nor the body).
    pub(super) async fn post(&self, delivery: &DueDelivery) -> Result<(), String> {
        let unix = now_ms() / 1000;
        let request = Request::post(delivery.url.as_str())
            .header(header::CONTENT_TYPE, "application/json")
            .header(
                header::USER_AGENT,
                concat!("tari-wallet-sync/", env!("CARGO_PKG_VERSION")),
            )
            .header(EVENT_ID_HEADER, delivery.event_id.as_str())
            .header(SIGNATURE_HEADER, self.setup.secret.sign(unix, &delivery.body))
            .body(Full::new(Bytes::from(delivery.body.clone())))
            .map_err(|e| format!("building the request: {e}"))?;
        match tokio::time::timeout(self.attempt_timeout, self.client.request(request)).await {
            Err(_) => Err(format!("no answer within {} ms", self.attempt_timeout.as_millis())),
            Ok(Err(error)) => Err(match tls::tls_failure(&error) {
                Some(TlsFailure::Untrusted(text)) => format!("{text} (webhook_ca_file)"),
                Some(failure) => failure.to_string(),
                None => format!("connection: {}", chain(&error)),
            }),
            Ok(Ok(response)) if response.status().is_success() => Ok(()),
            Ok(Ok(response)) => Err(format!("status {}", response.status().as_u16())),
        }
    }
}

/// An error and its causes on one line (hyper's own says only "client error (Connect)").
fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut next = error.source();
    while let Some(cause) = next {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        next = cause.source();
    }
    text
}
