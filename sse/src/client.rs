//! Client: what a wallet app needs to talk to the service: requests over HTTPS (rustls; HTTP/2 or
//! HTTP/1.1 as the server chooses by ALPN, Mozilla's roots plus any CA the app adds) or over cleartext
//! HTTP/1.1 or HTTP/2 with prior knowledge (h2c, a local demo), and a job's event stream that reconnects
//! with `Last-Event-ID` until the job ends. Owns no state beyond one connection pool.

use std::{path::Path, pin::Pin, time::Duration};

use bytes::Bytes;
use eventsource_stream::Eventsource;
use futures_util::{Stream, StreamExt};
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request, StatusCode, Version, header::HeaderMap};
use hyper_rustls::HttpsConnector;
use hyper_util::{
    client::legacy::{Client as HyperClient, connect::HttpConnector},
    rt::TokioExecutor,
};
use rustls::pki_types::CertificateDer;

use crate::{
    event::{IdentifiedEvent, JobEvent},
    tls::{self, Alpn, TlsError, TlsFailure},
};

/// Which protocol the client speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// Over TLS, HTTP/2 if the server agrees by ALPN, else HTTP/1.1; over cleartext, HTTP/1.1.
    Auto,
    /// HTTP/1.1 only (ALPN `http/1.1` over TLS).
    Http1,
    /// HTTP/2 only: ALPN `h2` over TLS, prior knowledge over cleartext (h2c, no upgrade dance).
    Http2,
}

/// A TCP connect slower than this is given up (an address that never answers fails fast).
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("invalid request: {0}")]
    Request(String),
    #[error("connection failed: {0}")]
    Connect(String),
    /// The server's certificate does not chain to a trusted root (or names another host): add its CA.
    #[error("{0}")]
    UntrustedCertificate(String),
    #[error("{0}")]
    Tls(String),
    #[error("{0}")]
    CaFile(#[from] TlsError),
    #[error("reading the response: {0}")]
    Body(String),
    #[error("the server answered {status}: {body}")]
    Status { status: u16, body: String },
    #[error("a malformed event: {0}")]
    Event(String),
    #[error("gave up after {0} reconnection attempts")]
    GaveUp(u32),
}

impl ClientError {
    /// A stable code to branch on (the message is for people).
    pub fn code(&self) -> &'static str {
        match self {
            ClientError::Request(_) => "INVALID_REQUEST",
            ClientError::Connect(_) => "CONNECT_FAILED",
            ClientError::UntrustedCertificate(_) => "UNTRUSTED_CERTIFICATE",
            ClientError::Tls(_) => "TLS_FAILED",
            ClientError::CaFile(error) => error.code(),
            ClientError::Body(_) => "BODY_FAILED",
            ClientError::Status { .. } => "HTTP_STATUS",
            ClientError::Event(_) => "MALFORMED_EVENT",
            ClientError::GaveUp(_) => "GAVE_UP",
        }
    }

    /// A failed request, with a TLS failure named as such.
    fn connecting(error: hyper_util::client::legacy::Error) -> ClientError {
        match tls::tls_failure(&error) {
            Some(TlsFailure::Untrusted(text)) => ClientError::UntrustedCertificate(text),
            Some(TlsFailure::Handshake(text)) => ClientError::Tls(text),
            None => ClientError::Connect(format!("{error:?}")),
        }
    }
}

/// A whole response.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: StatusCode,
    pub version: Version,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Response {
    pub fn json(&self) -> Result<serde_json::Value, ClientError> {
        serde_json::from_slice(&self.body).map_err(|e| ClientError::Body(e.to_string()))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// How the event stream reconnects.
#[derive(Debug, Clone)]
pub struct ReconnectPolicy {
    /// Consecutive failed attempts before giving up.
    pub max_attempts: u32,
    /// Delay before a reconnection unless the server sent `retry:`.
    pub delay: Duration,
}

impl Default for ReconnectPolicy {
    fn default() -> Self {
        ReconnectPolicy {
            max_attempts: 10,
            delay: Duration::from_millis(500),
        }
    }
}

/// An HTTP client bound to one server base URL such as `https://sync.example` or `http://127.0.0.1:8080`.
#[derive(Clone)]
pub struct Client {
    inner: HyperClient<HttpsConnector<HttpConnector>, Full<Bytes>>,
    base: String,
    protocol: Protocol,
}

/// Builds a `Client`: its protocol, the CAs it trusts beside Mozilla's roots, its connect timeout.
#[derive(Clone)]
pub struct ClientBuilder {
    base: String,
    protocol: Protocol,
    extra_roots: Vec<CertificateDer<'static>>,
    connect_timeout: Duration,
}

impl ClientBuilder {
    pub fn protocol(mut self, protocol: Protocol) -> ClientBuilder {
        self.protocol = protocol;
        self
    }

    /// Also trusts the CA certificates of `pem` (a private CA, or a self-signed server's own certificate).
    pub fn ca_pem(mut self, pem: &[u8]) -> Result<ClientBuilder, ClientError> {
        self.extra_roots.extend(tls::certificates_from_pem(pem)?);
        Ok(self)
    }

    /// Also trusts the CA certificates in the PEM file at `path`.
    pub fn ca_file(mut self, path: impl AsRef<Path>) -> Result<ClientBuilder, ClientError> {
        self.extra_roots.extend(tls::certificates_from_file(path.as_ref())?);
        Ok(self)
    }

    pub fn connect_timeout(mut self, timeout: Duration) -> ClientBuilder {
        self.connect_timeout = timeout;
        self
    }

    pub fn build(self) -> Result<Client, ClientError> {
        let config = tls::client_config(&self.extra_roots)?;
        let alpn = match self.protocol {
            Protocol::Auto => Alpn::Both,
            Protocol::Http1 => Alpn::Http1,
            Protocol::Http2 => Alpn::Http2,
        };
        let connector = tls::connector(config, alpn, Some(self.connect_timeout));
        let mut builder = HyperClient::builder(TokioExecutor::new());
        builder.http2_only(self.protocol == Protocol::Http2);
        Ok(Client {
            inner: builder.build(connector),
            base: self.base,
            protocol: self.protocol,
        })
    }
}

impl Client {
    /// A client trusting Mozilla's roots (use `builder` to add a CA).
    pub fn new(base_url: &str, protocol: Protocol) -> Client {
        Client::builder(base_url)
            .protocol(protocol)
            .build()
            .expect("no extra CA: nothing to refuse")
    }

    pub fn builder(base_url: &str) -> ClientBuilder {
        ClientBuilder {
            base: base_url.trim_end_matches('/').to_string(),
            protocol: Protocol::Auto,
            extra_roots: Vec::new(),
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
        }
    }

    pub fn protocol(&self) -> Protocol {
        self.protocol
    }

    /// Sends one request (`path` relative to the base URL or absolute) and reads the whole response.
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Bytes>,
    ) -> Result<Response, ClientError> {
        let response = self.send(method, path, headers, body).await?;
        let (parts, body) = response.into_parts();
        let body = body
            .collect()
            .await
            .map_err(|e| ClientError::Body(e.to_string()))?
            .to_bytes();
        Ok(Response {
            status: parts.status,
            version: parts.version,
            headers: parts.headers,
            body,
        })
    }

    /// Sends one request and returns the response with its body still streaming.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Bytes>,
    ) -> Result<hyper::Response<hyper::body::Incoming>, ClientError> {
        let url = if path.starts_with("http://") || path.starts_with("https://") {
            path.to_string()
        } else {
            format!("{}{}", self.base, path)
        };
        let mut request = Request::builder().method(method).uri(url);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if body.is_some() {
            request = request.header("content-type", "application/json");
        }
        let request = request
            .body(Full::new(body.unwrap_or_default()))
            .map_err(|e| ClientError::Request(e.to_string()))?;
        self.inner.request(request).await.map_err(ClientError::connecting)
    }

    /// A job's events from `path` (its `events_url`), reconnecting with `Last-Event-ID` after a dropped
    /// connection until a `ready` or `failed` event arrives. `last_event_id` resumes an earlier stream.
    pub fn events(
        &self,
        path: &str,
        token: &str,
        last_event_id: Option<u64>,
        policy: ReconnectPolicy,
    ) -> Pin<Box<dyn Stream<Item = Result<IdentifiedEvent, ClientError>> + Send>> {
        let state = Follow {
            client: self.clone(),
            path: path.to_string(),
            authorization: format!("Bearer {token}"),
            last_event_id,
            policy,
            inner: None,
            failures: 0,
            retry: None,
            done: false,
        };
        Box::pin(futures_util::stream::unfold(state, Follow::next))
    }
}

type Events = Pin<
    Box<
        dyn Stream<Item = Result<eventsource_stream::Event, eventsource_stream::EventStreamError<hyper::Error>>> + Send,
    >,
>;

struct Follow {
    client: Client,
    path: String,
    authorization: String,
    last_event_id: Option<u64>,
    policy: ReconnectPolicy,
    inner: Option<Events>,
    failures: u32,
    retry: Option<Duration>,
    done: bool,
}

impl Follow {
    async fn next(mut self) -> Option<(Result<IdentifiedEvent, ClientError>, Follow)> {
        loop {
            if self.done {
                return None;
            }
            let Some(inner) = self.inner.as_mut() else {
                if let Err(error) = self.connect().await
                    && let Some(error) = self.fail_or_retry(error).await
                {
                    return Some((Err(error), self));
                }
                continue;
            };
            match inner.next().await {
                Some(Ok(message)) => {
                    if let Some(retry) = message.retry {
                        self.retry = Some(retry);
                    }
                    if message.event.is_empty() && message.data.is_empty() {
                        continue;
                    }
                    let event = match JobEvent::from_data(&message.data) {
                        Ok(event) => event,
                        Err(e) => {
                            self.done = true;
                            return Some((Err(ClientError::Event(e.to_string())), self));
                        }
                    };
                    let id = message.id.parse::<u64>().unwrap_or(0);
                    self.last_event_id = Some(id);
                    self.failures = 0;
                    self.done = event.is_terminal();
                    return Some((Ok(IdentifiedEvent { id, event }), self));
                }
                Some(Err(error)) => {
                    self.inner = None;
                    if let Some(error) = self.fail_or_retry(ClientError::Body(error.to_string())).await {
                        return Some((Err(error), self));
                    }
                }
                None => {
                    // The server closed the stream before the job ended (a restart, a drain): resume.
                    self.inner = None;
                    if let Some(error) = self.fail_or_retry(ClientError::Body("stream closed".into())).await {
                        return Some((Err(error), self));
                    }
                }
            }
        }
    }

    /// Counts a failure; sleeps and returns `None` to retry, or marks the stream done and returns the error.
    async fn fail_or_retry(&mut self, error: ClientError) -> Option<ClientError> {
        // A refusal, or a certificate that will not become trusted by asking again.
        let permanent = matches!(&error, ClientError::Status { status, .. } if *status < 500 && *status != 429)
            || matches!(&error, ClientError::UntrustedCertificate(_));
        self.failures += 1;
        if permanent || self.failures > self.policy.max_attempts {
            self.done = true;
            let error = if permanent {
                error
            } else {
                ClientError::GaveUp(self.policy.max_attempts)
            };
            return Some(error);
        }
        tokio::time::sleep(self.retry.unwrap_or(self.policy.delay)).await;
        None
    }

    async fn connect(&mut self) -> Result<(), ClientError> {
        let last = self.last_event_id.map(|id| id.to_string());
        let mut headers = vec![
            ("authorization", self.authorization.as_str()),
            ("accept", "text/event-stream"),
        ];
        if let Some(last) = &last {
            headers.push(("last-event-id", last.as_str()));
        }
        let response = self.client.send(Method::GET, &self.path, &headers, None).await?;
        if response.status() != StatusCode::OK {
            let status = response.status().as_u16();
            let body = response
                .into_body()
                .collect()
                .await
                .map(|b| String::from_utf8_lossy(&b.to_bytes()).into_owned())
                .unwrap_or_default();
            return Err(ClientError::Status { status, body });
        }
        self.inner = Some(Box::pin(response.into_body().into_data_stream().eventsource()));
        Ok(())
    }
}
