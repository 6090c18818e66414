//! Service over TLS: with a certificate configured the port speaks HTTPS, offering h2 and http/1.1 by
//! ALPN; a real rustls client gets a job done over each (self-signed certificate made by the test). Our
//! own clients speak it too, trusting a test CA given as a CA file: the `wallet_client` example syncs a
//! demo wallet over HTTP/2, the client library negotiates h2 or http/1.1 and refuses a certificate it
//! does not trust with a clear error, and a webhook reaches an `https://` receiver whose certificate the
//! service trusts through `webhook_ca_file` (and not without it).

use std::{
    convert::Infallible,
    path::{Path, PathBuf},
    process::Command,
    sync::{Arc, Mutex},
    time::Duration,
};

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, Version};
use http_body_util::{BodyExt, Full};
use hyper::{body::Incoming, service::service_fn};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tari_wallet_sync::service::{ServiceConfig, TlsPaths};
use tari_wallet_sync_sse::{
    JobEvent,
    client::{Client, ClientError, Protocol},
};
use tari_wallet_sync_testkit::service::{TestServer, demo_chain, sealed_submission, test_config, wallet_app};
use tokio::net::TcpListener;
use tokio_rustls::{
    TlsAcceptor, TlsConnector,
    rustls::{
        self, RootCertStore,
        pki_types::{CertificateDer, PrivateKeyDer, ServerName, pem::PemObject},
    },
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
            tari_wallet_sync_testkit::service::downloaded_wallet_balance(&body),
            wallet.expected_balance
        );
    }
    server.stop().await.unwrap();
}

/// A test certificate authority, written to `ca.pem` in its directory, issuing certificates for
/// `localhost` and 127.0.0.1.
struct TestCa {
    ca: rcgen::Certificate,
    ca_file: PathBuf,
}

impl TestCa {
    fn new(dir: &Path, name: &str) -> TestCa {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new());
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, format!("tari-wallet-sync {name}"));
        params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::DigitalSignature,
        ];
        let ca = rcgen::Certificate::from_params(params).unwrap();
        let ca_file = dir.join(format!("{name}.pem"));
        std::fs::write(&ca_file, ca.serialize_pem().unwrap()).unwrap();
        TestCa { ca, ca_file }
    }

    /// A server certificate signed by this CA: (certificate PEM, private key PEM).
    fn issue(&self) -> (String, String) {
        let leaf = rcgen::Certificate::from_params(rcgen::CertificateParams::new(vec![
            "localhost".to_string(),
            "127.0.0.1".to_string(),
        ]))
        .unwrap();
        (
            leaf.serialize_pem_with_signer(&self.ca).unwrap(),
            leaf.serialize_private_key_pem(),
        )
    }

    /// A service config whose port speaks TLS with a certificate from this CA.
    fn tls_config(&self, dir: &Path) -> ServiceConfig {
        let (cert, key) = self.issue();
        let (cert_path, key_path) = (dir.join("server-cert.pem"), dir.join("server-key.pem"));
        std::fs::write(&cert_path, cert).unwrap();
        std::fs::write(&key_path, key).unwrap();
        let mut config = test_config(&dir.join("data"));
        config.tls = Some(TlsPaths {
            cert: cert_path,
            key: key_path,
        });
        config
    }
}

/// The `wallet_client` example beside this test (`target/<profile>/examples/`, built by `cargo test
/// --workspace`); built here when it is missing or older than its sources (only this test was built).
fn wallet_client() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let example = exe
        .parent()
        .and_then(Path::parent)
        .unwrap()
        .join("examples/wallet_client");
    let modified = |path: &Path| std::fs::metadata(path).and_then(|m| m.modified()).ok();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let newest_source = ["examples/wallet_client.rs", "sse/src/client.rs", "sse/src/tls.rs"]
        .iter()
        .filter_map(|source| modified(&root.join(source)))
        .max();
    if modified(&example).is_none_or(|built| newest_source.is_some_and(|source| source > built)) {
        let status = Command::new(env!("CARGO"))
            .args(["build", "-p", "tari-wallet-sync", "--example", "wallet_client"])
            .current_dir(root)
            .status()
            .unwrap();
        assert!(status.success(), "building the wallet_client example");
    }
    example
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wallet_client_example_syncs_a_demo_wallet_over_https_and_http2() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new(dir.path(), "test-ca");
    let server = TestServer::start(ca.tls_config(dir.path())).await;
    let wallet = &demo_chain().wallets[1];
    let wallets_file = dir.path().join("wallets.json");
    std::fs::write(&wallets_file, serde_json::to_vec(&demo_chain().wallets).unwrap()).unwrap();
    let password_file = dir.path().join("password");
    std::fs::write(&password_file, "a wallet file password\n").unwrap();
    let url = format!("https://127.0.0.1:{}", server.addr.port());
    let binary = tokio::task::spawn_blocking(wallet_client).await.unwrap();
    let run = |ca_file: Option<PathBuf>| {
        let mut command = Command::new(&binary);
        command.args(["--server", &url, "--name", &wallet.name]);
        command.arg("--wallets").arg(&wallets_file);
        command.arg("--password-file").arg(&password_file);
        command.arg("--out").arg(dir.path().join("wallet.sqlite"));
        if let Some(ca_file) = ca_file {
            command.arg("--ca-file").arg(ca_file);
        }
        command.current_dir(dir.path());
        async move {
            tokio::task::spawn_blocking(move || command.output().unwrap())
                .await
                .unwrap()
        }
    };

    let output = run(Some(ca.ca_file.clone())).await;
    let (stdout, stderr) = (
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );
    assert!(output.status.success(), "the client fails:\n{stdout}\n{stderr}");
    assert!(
        stdout.contains(&format!("connected to {url} over HTTP/2 (TLS)")),
        "h2 agreed by ALPN:\n{stdout}"
    );
    assert!(
        stdout.contains(&format!("balance {} µT", wallet.expected_balance)),
        "the demo wallet's balance:\n{stdout}"
    );

    // Without the CA the server's certificate is refused, and the client says why.
    let output = run(None).await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains("code: UNTRUSTED_CERTIFICATE") && stderr.contains("not trusted"),
        "{stderr}"
    );
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_library_negotiates_by_alpn_and_refuses_an_untrusted_server() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new(dir.path(), "test-ca");
    let server = TestServer::start(ca.tls_config(dir.path())).await;
    let url = format!("https://127.0.0.1:{}", server.addr.port());
    let ca_pem = std::fs::read(&ca.ca_file).unwrap();

    for (protocol, version) in [
        (Protocol::Auto, Version::HTTP_2),
        (Protocol::Http2, Version::HTTP_2),
        (Protocol::Http1, Version::HTTP_11),
    ] {
        let client = Client::builder(&url)
            .protocol(protocol)
            .ca_pem(&ca_pem)
            .unwrap()
            .build()
            .unwrap();
        let response = client
            .request(Method::GET, "/api/v1/server-key", &[], None)
            .await
            .unwrap();
        assert_eq!(
            (response.status, response.version),
            (StatusCode::OK, version),
            "{protocol:?}"
        );
    }
    // A whole job over the default protocol: submit, follow the events, download.
    let client = Client::builder(&url).ca_file(&ca.ca_file).unwrap().build().unwrap();
    let (end, file) = wallet_app::sync_wallet(&client, &demo_chain().wallets[0]).await;
    assert!(matches!(end, JobEvent::Ready { .. }), "{end:?}");
    assert_eq!(
        tari_wallet_sync_testkit::service::downloaded_wallet_balance(&file),
        demo_chain().wallets[0].expected_balance
    );

    // Mozilla's roots alone, or another CA: the certificate is not trusted, and the error says so.
    let other = TestCa::new(dir.path(), "other-ca");
    for client in [
        Client::new(&url, Protocol::Auto),
        Client::builder(&url).ca_file(&other.ca_file).unwrap().build().unwrap(),
    ] {
        let error = client
            .request(Method::GET, "/api/v1/server-key", &[], None)
            .await
            .unwrap_err();
        assert!(matches!(error, ClientError::UntrustedCertificate(_)), "{error:?}");
        assert_eq!(error.code(), "UNTRUSTED_CERTIFICATE");
        assert!(error.to_string().contains("not trusted"), "{error}");
    }
    // A CA file that holds no certificate is refused before any connection.
    let empty = dir.path().join("empty.pem");
    std::fs::write(&empty, "not a certificate\n").unwrap();
    let error = Client::builder(&url).ca_file(&empty).err().unwrap();
    assert_eq!(error.code(), "CA_FILE_UNREADABLE", "{error}");
    server.stop().await.unwrap();
}

/// One request an HTTPS receiver got: its protocol and body.
#[derive(Debug, Clone)]
struct Received {
    version: Version,
    event_id: String,
    body: Vec<u8>,
}

/// A webhook endpoint over TLS (certificate from `ca`, ALPN h2 and http/1.1) answering 204.
async fn tls_receiver(ca: &TestCa) -> (String, Arc<Mutex<Vec<Received>>>) {
    let (cert, key) = ca.issue();
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert.as_bytes())
        .collect::<Result<_, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_slice(key.as_bytes()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("https://127.0.0.1:{}/hooks", listener.local_addr().unwrap().port());
    let got = Arc::new(Mutex::new(Vec::new()));
    let recorded = got.clone();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let (acceptor, got) = (acceptor.clone(), got.clone());
            tokio::spawn(async move {
                // A client that does not trust the certificate ends the handshake here.
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let service = service_fn(move |request: Request<Incoming>| {
                    let got = got.clone();
                    async move {
                        let version = request.version();
                        let event_id = request
                            .headers()
                            .get("x-tws-event-id")
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or_default()
                            .to_string();
                        let body = request.into_body().collect().await.unwrap().to_bytes().to_vec();
                        got.lock().unwrap().push(Received {
                            version,
                            event_id,
                            body,
                        });
                        Ok::<_, Infallible>(
                            Response::builder()
                                .status(StatusCode::NO_CONTENT)
                                .body(Full::new(Bytes::new()))
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

fn webhook_config(dir: &Path, url: &str, ca_file: Option<PathBuf>) -> ServiceConfig {
    let secret = dir.join("webhook-secret");
    std::fs::write(&secret, "0123456789abcdef0123456789abcdef\n").unwrap();
    let mut config = test_config(&dir.join("data"));
    config.webhook_urls = vec![url.to_string()];
    config.webhook_secret_file = Some(secret);
    config.webhook_ca_file = ca_file;
    config.webhook_retry_base = Duration::from_millis(50);
    config.webhook_retry_max = Duration::from_millis(200);
    config
}

async fn metric(server: &TestServer, sample: &str) -> f64 {
    let client = Client::new(&server.base_url, Protocol::Http1);
    let text = client.request(Method::GET, "/metrics", &[], None).await.unwrap().body;
    let text = String::from_utf8(text.to_vec()).unwrap();
    text.lines()
        .find_map(|line| line.strip_prefix(sample)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("{sample} in /metrics"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_reaches_an_https_receiver_trusted_through_the_ca_file() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new(dir.path(), "hooks-ca");
    let (url, got) = tls_receiver(&ca).await;

    let trusting = dir.path().join("trusting");
    std::fs::create_dir_all(&trusting).unwrap();
    let server = TestServer::start(webhook_config(&trusting, &url, Some(ca.ca_file.clone()))).await;
    let client = Client::new(&server.base_url, Protocol::Http1);
    let job = wallet_app::submit(&client, &demo_chain().wallets[0], None).await;
    assert!(matches!(
        wallet_app::last_event(&client, &job).await,
        JobEvent::Ready { .. }
    ));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while got.lock().unwrap().is_empty() {
        assert!(tokio::time::Instant::now() < deadline, "the webhook arrives");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let received = got.lock().unwrap()[0].clone();
    assert_eq!(received.version, Version::HTTP_2, "h2 by ALPN");
    let event: serde_json::Value = serde_json::from_slice(&received.body).unwrap();
    assert_eq!(event["type"], "ready");
    assert_eq!(event["job_id"], job.json["job_id"]);
    assert_eq!(event["id"], received.event_id.as_str());
    server.stop().await.unwrap();

    // A service that was not given the CA does not deliver to it: every attempt fails.
    let distrusting = dir.path().join("distrusting");
    std::fs::create_dir_all(&distrusting).unwrap();
    let server = TestServer::start(webhook_config(&distrusting, &url, None)).await;
    let client = Client::new(&server.base_url, Protocol::Http1);
    let job = wallet_app::submit(&client, &demo_chain().wallets[0], None).await;
    assert!(matches!(
        wallet_app::last_event(&client, &job).await,
        JobEvent::Ready { .. }
    ));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while metric(&server, "tws_webhook_deliveries_total{outcome=\"failed\"}").await < 2.0 {
        assert!(tokio::time::Instant::now() < deadline, "attempts are made");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(got.lock().unwrap().len(), 1, "no request reached the receiver");
    assert_eq!(
        metric(&server, "tws_webhook_deliveries_total{outcome=\"delivered\"}").await,
        0.0
    );
    server.stop().await.unwrap();

    // A CA file that is not one stops the start, naming the key.
    let broken = dir.path().join("broken");
    std::fs::create_dir_all(&broken).unwrap();
    let not_pem = broken.join("ca.pem");
    std::fs::write(&not_pem, "hello\n").unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let error = tari_wallet_sync::service::Service::start(
        webhook_config(&broken, &url, Some(not_pem)),
        tari_wallet_sync::service::CacheSource::directory(demo_chain().cache_dir.clone()),
        Arc::new(tari_wallet_sync::service::WalletDbBuilder::default()),
        listener,
        tokio_util::sync::CancellationToken::new(),
    )
    .await
    .err()
    .expect("refused");
    assert!(error.to_string().contains("webhook_ca_file"), "{error}");
}
