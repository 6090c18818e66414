//! Server: accepts TCP connections and serves each with hyper-util's auto builder (HTTP/1.1, and HTTP/2
//! by prior knowledge on cleartext or by ALPN over TLS), within the connection slots (`slots`: in all,
//! per client and per IPv6 aggregate, with headroom for newcomers), the header timeout, the idle rules
//! of `idle` (only open requests keep a connection) and a graceful drain. Knows connections only;
//! requests go to `http::handle`.

use std::{
    convert::Infallible,
    sync::{Arc, atomic::Ordering},
    time::Duration,
};

use hyper::service::service_fn;
use hyper_util::{
    rt::{TokioExecutor, TokioIo, TokioTimer},
    server::conn::auto,
};
use tokio::{
    io::{AsyncRead, AsyncWrite},
    net::{TcpListener, TcpStream},
    sync::Semaphore,
};
use tokio_rustls::{
    TlsAcceptor,
    rustls::{
        self,
        pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject},
    },
};
use tokio_util::sync::CancellationToken;

use crate::service::{
    config::TlsPaths,
    error::{ApiError, ServiceError},
    http::idle::{IdleLimits, Requests, Tracked},
    http::{self, Ctx},
    jobs::Jobs,
    limits::slots::{SlotLimits, Slots},
    requester::Port,
};

/// Connections over the limit that still get a 503 (the rest are closed at once): answering costs a
/// task each, so it is bounded too.
const MAX_REFUSALS_IN_FLIGHT: usize = 64;
/// HTTP/2 streams per connection: a wallet needs two or three (events, status, download).
const MAX_STREAMS_PER_CONNECTION: u32 = 32;
/// Read buffer and header list size: requests here are small; big headers are an attack.
const MAX_HEADER_BYTES: usize = 16 * 1024;
/// Once an idle connection is being closed (HTTP/2: after our `GOAWAY`), how long it may stay with no
/// request open before it is dropped: a client acknowledges within a round trip; one that never does
/// keeps nothing.
const CLOSE_GRACE: Duration = Duration::from_secs(2);

/// Loads the PEM certificate chain and key into an acceptor offering h2 and http/1.1 by ALPN.
pub fn tls_acceptor(paths: &TlsPaths) -> Result<TlsAcceptor, ServiceError> {
    let fail = |what: &str, e: &dyn std::fmt::Display| ServiceError::Tls(format!("{what}: {e}"));
    let certs = CertificateDer::pem_file_iter(&paths.cert)
        .map_err(|e| fail(&paths.cert.display().to_string(), &e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| fail(&paths.cert.display().to_string(), &e))?;
    if certs.is_empty() {
        return Err(ServiceError::Tls(format!(
            "{} holds no certificate",
            paths.cert.display()
        )));
    }
    let key = PrivateKeyDer::from_pem_file(&paths.key).map_err(|e| fail(&paths.key.display().to_string(), &e))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| fail("protocol versions", &e))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| fail("certificate and key", &e))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

fn builder(jobs: &Jobs) -> auto::Builder<TokioExecutor> {
    let config = jobs.config();
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(config.header_timeout)
        .max_buf_size(MAX_HEADER_BYTES.max(8192) * 4)
        .keep_alive(true);
    // No HTTP/2 pings from our side: a connection with no request open is closed by `idle`, dead peer or
    // not; one with a request open writes (event streams send keep-alives) and so notices a dead peer.
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(MAX_STREAMS_PER_CONNECTION)
        .max_header_list_size(MAX_HEADER_BYTES as u32);
    builder
}

/// Accepts and serves connections on `port`'s listener until `shutdown`, then drains them for up to
/// `drain_timeout` and closes the rest.
pub(in crate::service) async fn serve(
    jobs: Arc<Jobs>,
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    port: Port,
    shutdown: CancellationToken,
) -> Result<(), ServiceError> {
    let builder = Arc::new(builder(&jobs));
    let config = jobs.config();
    let slots = Slots::new(
        SlotLimits {
            total: config.max_connections.max(1),
            per_client: config.max_connections_per_ip,
            per_aggregate: config
                .max_connections_per_ip
                .saturating_mul(config.ipv6_aggregate_multiple as usize),
        },
        jobs.metrics().connections.clone(),
    );
    // Cancelled when the drain deadline passes: connections still open are dropped.
    let hard_stop = CancellationToken::new();
    let refusals = Arc::new(Semaphore::new(MAX_REFUSALS_IN_FLIGHT));
    match (listener.local_addr(), port) {
        (Ok(addr), Port::Public) => tracing::info!(%addr, tls = tls.is_some(), "listening"),
        (Ok(addr), Port::Operator) => tracing::info!(%addr, "operator port up: health, readiness, metrics"),
        (Err(_), _) => {}
    }
    loop {
        let (stream, peer) = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let rules = &config.clients;
        // A proxy's connections carry many clients: only the total applies to them.
        let client = (!rules.trusted(peer.ip())).then(|| rules.of(peer.ip()));
        let slot = match slots.take(client) {
            Ok(slot) => slot,
            Err(refusal) => {
                jobs.metrics().connections_refused.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(%peer, ?refusal, "connection refused");
                if tls.is_none()
                    && let Ok(permit) = refusals.clone().try_acquire_owned()
                {
                    tokio::spawn(async move {
                        refuse(stream).await;
                        drop(permit);
                    });
                }
                continue;
            }
        };
        let ctx = Arc::new(Ctx {
            jobs: jobs.clone(),
            peer,
            port,
            shutdown: shutdown.clone(),
        });
        let connection = Connection {
            builder: builder.clone(),
            ctx,
            shutdown: shutdown.clone(),
            hard_stop: hard_stop.clone(),
        };
        let tls = tls.clone();
        tokio::spawn(async move {
            // Held for the task's life, however it ends: the counts and the gauge follow the connection.
            let _slot = slot;
            connection.serve(tls, stream).await;
        });
    }
    drop(listener);
    let deadline = config.drain_timeout;
    tokio::select! {
        _ = slots.drained() => tracing::info!("all connections drained"),
        _ = tokio::time::sleep(deadline) => {
            tracing::warn!(?deadline, open = slots.open(), "drain deadline passed; closing the rest");
            hard_stop.cancel();
        }
    }
    Ok(())
}

/// A stream hyper serves: a TCP stream, or TLS over one.
trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// One accepted connection and what ends it.
struct Connection {
    builder: Arc<auto::Builder<TokioExecutor>>,
    ctx: Arc<Ctx>,
    shutdown: CancellationToken,
    hard_stop: CancellationToken,
}

impl Connection {
    async fn serve(self, tls: Option<TlsAcceptor>, stream: TcpStream) {
        let config = self.ctx.jobs.config();
        let peer = self.ctx.peer;
        let io: Box<dyn Io> = match tls {
            None => Box::new(stream),
            // A handshake is the first thing a client sends: it gets the time of a request's headers.
            Some(acceptor) => tokio::select! {
                handshake = tokio::time::timeout(config.header_timeout, acceptor.accept(stream)) => match handshake {
                    Ok(Ok(stream)) => Box::new(stream),
                    Ok(Err(error)) => {
                        tracing::debug!(%peer, %error, "TLS handshake failed");
                        return;
                    }
                    Err(_) => return,
                },
                _ = self.shutdown.cancelled() => return,
            },
        };
        let requests = Requests::new(IdleLimits {
            first_request: config.header_timeout,
            idle: config.idle_timeout,
            idle_budget: config.connection_idle_budget,
            grace: CLOSE_GRACE,
        });
        let service = {
            let (ctx, requests) = (self.ctx.clone(), requests.clone());
            service_fn(move |request| {
                // Open from the moment hyper hands the request over until its response body is dropped.
                let open = requests.begin();
                let ctx = ctx.clone();
                async move {
                    let response = http::handle(ctx, request).await;
                    Ok::<_, Infallible>(response.map(|body| Tracked::new(body, open)))
                }
            })
        };
        let connection = self.builder.serve_connection(TokioIo::new(io), service);
        tokio::pin!(connection);
        let mut closing = false;
        loop {
            tokio::select! {
                result = connection.as_mut() => {
                    if let Err(error) = result {
                        tracing::debug!(%peer, %error, "connection ended with an error");
                    }
                    return;
                }
                why = requests.watch() => {
                    if closing {
                        tracing::debug!(%peer, reason = why.name(), "closing did not finish in time; dropped");
                        return;
                    }
                    tracing::debug!(%peer, reason = why.name(), "closing an idle connection");
                    // HTTP/2: GOAWAY, so the client knows to open a new one; HTTP/1.1: closed at once.
                    connection.as_mut().graceful_shutdown();
                    requests.closing();
                    closing = true;
                }
                _ = self.shutdown.cancelled(), if !closing => {
                    connection.as_mut().graceful_shutdown();
                    requests.closing();
                    closing = true;
                }
                _ = self.hard_stop.cancelled() => return,
            }
        }
    }
}

/// Answers one request on a connection over the limit with 503 `TOO_MANY_CONNECTIONS`, then closes it.
async fn refuse(stream: TcpStream) {
    let service = service_fn(|_request| async {
        let mut response = http::error_response(&ApiError::TooManyConnections);
        response
            .headers_mut()
            .insert(::http::header::CONNECTION, ::http::HeaderValue::from_static("close"));
        Ok::<_, std::convert::Infallible>(response)
    });
    let connection = hyper::server::conn::http1::Builder::new()
        .keep_alive(false)
        .serve_connection(TokioIo::new(stream), service);
    let _ = tokio::time::timeout(Duration::from_secs(5), connection).await;
}
