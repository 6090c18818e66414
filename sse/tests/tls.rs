//! The client over HTTPS against a TLS event-stream server of the test's own (its certificate issued by
//! a CA the test makes): with the CA it agrees on HTTP/2 by ALPN (or HTTP/1.1 when asked) and follows
//! the stream to its end; without it the certificate is refused as untrusted, at once and without
//! reconnecting.

#![cfg(feature = "client")]

use std::{
    convert::Infallible,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
};

use bytes::Bytes;
use futures_util::StreamExt;
use http_body_util::Full;
use hyper::{Request, Response, Version, service::service_fn};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tari_wallet_sync_sse::{
    JobEvent,
    client::{Client, ClientError, Protocol, ReconnectPolicy},
};
use tokio_rustls::{
    TlsAcceptor,
    rustls::{
        self,
        pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject},
    },
};

const READY: &str =
    "id: 3\nevent: ready\ndata: {\"event\":\"ready\",\"size\":3,\"sha256\":\"ab\",\"download_url\":\"/d\"}\n\n";

/// A CA's PEM and a certificate it issued for 127.0.0.1 (certificate PEM, key PEM).
fn test_ca() -> (String, String, String) {
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new());
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params.distinguished_name.push(rcgen::DnType::CommonName, "sse test CA");
    params.key_usages = vec![rcgen::KeyUsagePurpose::KeyCertSign];
    let ca = rcgen::Certificate::from_params(params).unwrap();
    let leaf = rcgen::Certificate::from_params(rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()])).unwrap();
    (
        ca.serialize_pem().unwrap(),
        leaf.serialize_pem_with_signer(&ca).unwrap(),
        leaf.serialize_private_key_pem(),
    )
}

/// What the server saw: TCP connections, and the protocol of each request.
#[derive(Default)]
struct Seen {
    connections: AtomicUsize,
    versions: Mutex<Vec<Version>>,
}

/// Serves `READY` to every request over TLS (ALPN h2 and http/1.1); returns its URL.
async fn tls_server(cert_pem: &str, key_pem: &str) -> (String, Arc<Seen>) {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert_pem.as_bytes())
        .collect::<Result<_, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).unwrap();
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("https://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let seen = Arc::new(Seen::default());
    let recorded = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            seen.connections.fetch_add(1, Ordering::SeqCst);
            let (acceptor, seen) = (acceptor.clone(), seen.clone());
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let service = service_fn(move |request: Request<hyper::body::Incoming>| {
                    seen.versions.lock().unwrap().push(request.version());
                    async move {
                        Ok::<_, Infallible>(
                            Response::builder()
                                .header("content-type", "text/event-stream")
                                .body(Full::new(Bytes::from_static(READY.as_bytes())))
                                .unwrap(),
                        )
                    }
                });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    (url, recorded)
}

#[tokio::test]
async fn follows_events_over_https_with_the_version_alpn_agreed() {
    let (ca, cert, key) = test_ca();
    let (url, seen) = tls_server(&cert, &key).await;
    for (protocol, version) in [(Protocol::Auto, Version::HTTP_2), (Protocol::Http1, Version::HTTP_11)] {
        let client = Client::builder(&url)
            .protocol(protocol)
            .ca_pem(ca.as_bytes())
            .unwrap()
            .build()
            .unwrap();
        let events: Vec<_> = client
            .events("/events", "t", None, ReconnectPolicy::default())
            .collect()
            .await;
        assert!(
            matches!(events.as_slice(), [Ok(e)] if matches!(e.event, JobEvent::Ready { .. })),
            "{events:?}"
        );
        assert_eq!(seen.versions.lock().unwrap().last(), Some(&version), "{protocol:?}");
    }
}

#[tokio::test]
async fn an_untrusted_certificate_ends_the_stream_at_once() {
    let (_, cert, key) = test_ca();
    let (url, seen) = tls_server(&cert, &key).await;
    let client = Client::new(&url, Protocol::Auto);
    let policy = ReconnectPolicy {
        max_attempts: 5,
        delay: std::time::Duration::from_millis(5),
    };
    let events: Vec<_> = client.events("/events", "t", None, policy).collect().await;
    match events.as_slice() {
        [Err(error @ ClientError::UntrustedCertificate(_))] => {
            assert_eq!(error.code(), "UNTRUSTED_CERTIFICATE");
            assert!(error.to_string().contains("not trusted"), "{error}");
        }
        other => panic!("expected one untrusted-certificate error, got {other:?}"),
    }
    assert_eq!(seen.connections.load(Ordering::SeqCst), 1, "no reconnection");
    assert!(seen.versions.lock().unwrap().is_empty(), "no request got through");
}
