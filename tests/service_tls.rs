//! Service over TLS: with a certificate configured the port speaks HTTPS, offering h2 and http/1.1 by
//! ALPN; a real rustls client gets a job done over each (self-signed certificate made by the test).

use std::sync::Arc;

use bytes::Bytes;
use http::{Method, Request, StatusCode, Version};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tari_wallet_sync::service::{
    TlsPaths,
    testing::{TestServer, demo_chain, sealed_submission, test_config},
};
use tokio_rustls::{
    TlsConnector,
    rustls::{self, RootCertStore, pki_types::ServerName},
};

/// One request over a fresh TLS connection offering `alpn`; returns the protocol agreed and the answer.
async fn request(
    connector: &TlsConnector,
    addr: std::net::SocketAddr,
    request: Request<Full<Bytes>>,
) -> (Option<Vec<u8>>, Version, StatusCode, Bytes) {
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let tls = connector
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .unwrap();
    let alpn = tls.get_ref().1.alpn_protocol().map(<[u8]>::to_vec);
    let io = TokioIo::new(tls);
    let response = if alpn.as_deref() == Some(b"h2") {
        let (mut sender, connection) = hyper::client::conn::http2::handshake(TokioExecutor::new(), io)
            .await
            .unwrap();
        tokio::spawn(connection);
        sender.send_request(request).await.unwrap()
    } else {
        let (mut sender, connection) = hyper::client::conn::http1::handshake(io).await.unwrap();
        tokio::spawn(connection);
        sender.send_request(request).await.unwrap()
    };
    let (version, status) = (response.version(), response.status());
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (alpn, version, status, body)
}

fn connector(cert_der: &[u8], alpn: &[&[u8]]) -> TlsConnector {
    let mut roots = RootCertStore::empty();
    roots.add(cert_der.to_vec().into()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    TlsConnector::from(Arc::new(config))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_with_alpn_h2_and_http1() {
    let data = tempfile::tempdir().unwrap();
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let (cert_path, key_path) = (data.path().join("cert.pem"), data.path().join("key.pem"));
    std::fs::write(&cert_path, cert.serialize_pem().unwrap()).unwrap();
    std::fs::write(&key_path, cert.serialize_private_key_pem()).unwrap();
    let cert_der = cert.serialize_der().unwrap();
    let mut config = test_config(&data.path().join("data"));
    config.tls = Some(TlsPaths {
        cert: cert_path,
        key: key_path,
    });
    let server = TestServer::start(config).await;
    let get = |path: &str| {
        Request::builder()
            .uri(format!("https://localhost{path}"))
            .header("host", "localhost")
            .body(Full::new(Bytes::new()))
            .unwrap()
    };

    for (offer, agreed, version) in [
        (&[&b"h2"[..], b"http/1.1"][..], Some(b"h2".to_vec()), Version::HTTP_2),
        (&[&b"http/1.1"[..]][..], Some(b"http/1.1".to_vec()), Version::HTTP_11),
    ] {
        let connector = connector(&cert_der, offer);
        let (alpn, got_version, status, body) = request(&connector, server.addr, get("/api/v1/server-key")).await;
        assert_eq!((alpn, got_version, status), (agreed.clone(), version, StatusCode::OK));
        let key: serde_json::Value = serde_json::from_slice(&body).unwrap();
        let public: [u8; 32] = hex::decode(key["public_key"].as_str().unwrap())
            .unwrap()
            .try_into()
            .unwrap();

        let wallet = &demo_chain().wallets[0];
        let submission = sealed_submission(&public, wallet, None);
        let submit = Request::builder()
            .method(Method::POST)
            .uri("https://localhost/api/v1/wallet/sync")
            .header("host", "localhost")
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(submission.to_string())))
            .unwrap();
        let (_, _, status, body) = request(&connector, server.addr, submit).await;
        assert_eq!(status, StatusCode::ACCEPTED);
        let job: serde_json::Value = serde_json::from_slice(&body).unwrap();
        let token = &submission.token;
        // Poll the status until ready, then download over the same protocol.
        let status_url = job["status_url"].as_str().unwrap();
        let mut ready = false;
        for _ in 0..300 {
            let mut poll = get(status_url);
            poll.headers_mut()
                .insert("authorization", format!("Bearer {token}").parse().unwrap());
            let (_, _, _, body) = request(&connector, server.addr, poll).await;
            let status: serde_json::Value = serde_json::from_slice(&body).unwrap();
            if status["state"] == "ready" {
                ready = true;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert!(ready, "the job gets ready");
        let mut download = get(job["download_url"].as_str().unwrap());
        download
            .headers_mut()
            .insert("authorization", format!("Bearer {token}").parse().unwrap());
        let (_, got_version, status, body) = request(&connector, server.addr, download).await;
        assert_eq!((got_version, status), (version, StatusCode::OK));
        assert_eq!(
            tari_wallet_sync::service::testing::downloaded_wallet_balance(&body),
            wallet.expected_balance
        );
    }
    server.stop().await.unwrap();
}
