//! Server: accepts TCP connections and serves each with hyper-util's auto builder (HTTP/1.1, and HTTP/2
//! by prior knowledge on cleartext or by ALPN over TLS), within the connection limits (in all, and per
//! client address), the header timeout, the idle timeout and a graceful drain. Knows connections only;
//! requests go to `http::handle`.

use std::{
    collections::HashMap,
    net::{IpAddr, SocketAddr},
    sync::{Arc, Mutex},
    time::Duration,
};

use hyper::service::service_fn;
use hyper_util::{
    rt::{TokioExecutor, TokioIo, TokioTimer},
    server::{conn::auto, graceful::GracefulShutdown},
};
use tokio::{
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

use super::{
    Port,
    config::TlsPaths,
    engine::Engine,
    error::{ApiError, ServiceError},
    http::{self, Ctx},
    idle::{Activity, Watched},
};

/// Connections over the limit that still get a 503 (the rest are closed at once): answering costs a
/// task each, so it is bounded too.
const MAX_REFUSALS_IN_FLIGHT: usize = 64;
/// HTTP/2 streams per connection: a wallet needs two or three (events, status, download).
const MAX_STREAMS_PER_CONNECTION: u32 = 32;
/// Read buffer and header list size: requests here are small; big headers are an attack.
const MAX_HEADER_BYTES: usize = 16 * 1024;

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

fn builder(engine: &Engine) -> auto::Builder<TokioExecutor> {
    let config = engine.config();
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(config.header_timeout)
        .max_buf_size(MAX_HEADER_BYTES.max(8192) * 4)
        .keep_alive(true);
    // No HTTP/2 pings from our side: they would keep an idle connection busy forever; the idle timeout
    // (`idle`) closes a silent connection, dead peer or not.
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(MAX_STREAMS_PER_CONNECTION)
        .max_header_list_size(MAX_HEADER_BYTES as u32);
    builder
}

/// Open connections per client address bucket (peers that are trusted proxies are not counted: they
/// carry many clients). A slot is given back when its `Slot` is dropped.
#[derive(Default)]
struct PerClient {
    open: Mutex<HashMap<IpAddr, usize>>,
}

struct Slot {
    table: Arc<PerClient>,
    bucket: IpAddr,
}

impl PerClient {
    fn take(self: &Arc<Self>, bucket: IpAddr, max: usize) -> Option<Slot> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let count = open.entry(bucket).or_insert(0);
        if *count >= max {
            return None;
        }
        *count += 1;
        Some(Slot {
            table: self.clone(),
            bucket,
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self.table.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(count) = open.get_mut(&self.bucket) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.bucket);
            }
        }
    }
}

/// Accepts and serves connections on `port`'s listener until `shutdown`, then drains them for up to
/// `drain_timeout`.
pub(super) async fn serve(
    engine: Arc<Engine>,
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    port: Port,
    shutdown: CancellationToken,
) -> Result<(), ServiceError> {
    let builder = Arc::new(builder(&engine));
    let graceful = GracefulShutdown::new();
    let connections = Arc::new(Semaphore::new(engine.config().max_connections.max(1)));
    let per_client = Arc::new(PerClient::default());
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
        let rules = &engine.config().clients;
        let peer_ip = peer.ip().to_canonical();
        // A proxy's connections carry many clients: only the global limit applies to them.
        let slot = match rules.trusted_proxies.iter().any(|net| net.contains(&peer_ip)) {
            true => Ok(None),
            false => per_client
                .take(rules.bucket(peer_ip), engine.config().max_connections_per_ip)
                .map(Some)
                .ok_or(()),
        };
        let (Ok(permit), Ok(slot)) = (connections.clone().try_acquire_owned(), slot) else {
            engine
                .metrics
                .connections_refused
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            if tls.is_none()
                && let Ok(refusal) = refusals.clone().try_acquire_owned()
            {
                tokio::spawn(async move {
                    refuse(stream).await;
                    drop(refusal);
                });
            }
            continue;
        };
        let ctx = Arc::new(Ctx {
            engine: engine.clone(),
            peer,
            port,
            shutdown: shutdown.clone(),
        });
        let (builder, watcher, tls) = (builder.clone(), graceful.watcher(), tls.clone());
        tokio::spawn(async move {
            ctx.engine
                .metrics
                .connections
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let idle = ctx.engine.config().idle_timeout;
            serve_connection(&builder, watcher, tls, stream, peer, idle, ctx.clone()).await;
            ctx.engine
                .metrics
                .connections
                .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
            drop((permit, slot));
        });
    }
    drop(listener);
    let deadline = engine.config().drain_timeout;
    tokio::select! {
        _ = graceful.shutdown() => tracing::info!("all connections drained"),
        _ = tokio::time::sleep(deadline) => tracing::warn!(?deadline, "drain deadline passed; closing the rest"),
    }
    Ok(())
}

async fn serve_connection(
    builder: &auto::Builder<TokioExecutor>,
    watcher: hyper_util::server::graceful::Watcher,
    tls: Option<TlsAcceptor>,
    stream: TcpStream,
    peer: SocketAddr,
    idle: Duration,
    ctx: Arc<Ctx>,
) {
    let service = service_fn(move |request| {
        let ctx = ctx.clone();
        async move { Ok::<_, std::convert::Infallible>(http::handle(ctx, request).await) }
    });
    let activity = Activity::new();
    let silent = activity.watch(idle);
    let result = match tls {
        None => {
            let stream = Watched::new(stream, activity.clone());
            tokio::select! {
                result = watcher.watch(builder.serve_connection(TokioIo::new(stream), service)) => result,
                _ = silent => Ok(()),
            }
        }
        Some(acceptor) => {
            let timeout = Duration::from_secs(10);
            let stream = match tokio::time::timeout(timeout, acceptor.accept(stream)).await {
                Ok(Ok(stream)) => stream,
                Ok(Err(error)) => {
                    tracing::debug!(%peer, %error, "TLS handshake failed");
                    return;
                }
                Err(_) => return,
            };
            let stream = Watched::new(stream, activity.clone());
            tokio::select! {
                result = watcher.watch(builder.serve_connection(TokioIo::new(stream), service)) => result,
                _ = silent => Ok(()),
            }
        }
    };
    if let Err(error) = result {
        tracing::debug!(%peer, error = %error, "connection ended with an error");
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
