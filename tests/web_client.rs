//! The browser wallet page (`examples/web/`) in real headless Chromium against a demo server: the page is
//! served from another origin on 127.0.0.1 (the server lists it in `cors_origins`), seals the envelope in
//! the browser, follows events with tickets, downloads, decompresses and opens the wallet file, and
//! POSTs what it shows back to the little static server here. The balance must be the demo wallet's.
//!
//! Needs `chromium` (`apt-get install -y chromium`) and `npm ci` in `examples/web`; `tools/test` (the
//! README's test command) does both.

use std::{
    convert::Infallible,
    net::SocketAddr,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper::{body::Incoming, server::conn::http1, service::service_fn};
use hyper_util::rt::TokioIo;
use tari_wallet_sync_testkit::service::{TEST_PASSWORD, TestServer, demo_chain, test_config};
use tokio::{net::TcpListener, sync::mpsc};

fn web_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/web")
}

/// The browser: `TWS_CHROMIUM`, else `chromium` (Debian) or `chromium-browser` on the PATH.
fn chromium() -> PathBuf {
    if let Some(path) = std::env::var_os("TWS_CHROMIUM") {
        return path.into();
    }
    let on_path = |name: &str| {
        std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join(name))
                .find(|candidate| candidate.is_file())
        })
    };
    on_path("chromium")
        .or_else(|| on_path("chromium-browser"))
        .unwrap_or_else(|| {
            panic!(
                "tests/web_client.rs runs the browser page in headless Chromium, which is not installed: \
             `apt-get install -y chromium` (Debian), or set TWS_CHROMIUM to a Chromium or Chrome binary"
            )
        })
}

/// Kills the browser when the test ends, however it ends.
struct Browser(Child);

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

struct Page {
    config: serde_json::Value,
    reports: mpsc::Sender<serde_json::Value>,
    /// Bytes of `.js`, `.mjs` and `.wasm` files served, as a check on what the page reports.
    script_bytes: Mutex<u64>,
}

fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()) {
        Some("html") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("wasm") => "application/wasm",
        Some("json") => "application/json",
        _ => "application/octet-stream",
    }
}

fn answer(status: StatusCode, content_type: &str, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, content_type)
        .header(header::CACHE_CONTROL, "no-store")
        .body(Full::new(body.into()))
        .expect("a valid response")
}

/// The static server: the page's files, its test-only config, and the report it POSTs.
async fn serve_page(page: Arc<Page>, request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = request.uri().path().to_string();
    if request.method() == Method::POST && path == "/report" {
        let body = request
            .into_body()
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        let report = serde_json::from_slice(&body)
            .unwrap_or_else(|e| serde_json::json!({ "ok": false, "error": e.to_string() }));
        let _ = page.reports.send(report).await;
        return Ok(answer(StatusCode::NO_CONTENT, "text/plain", Bytes::new()));
    }
    if path == "/config.json" {
        return Ok(answer(StatusCode::OK, "application/json", page.config.to_string()));
    }
    let relative = if path == "/" {
        "index.html"
    } else {
        path.trim_start_matches('/')
    };
    if relative.split('/').any(|s| s == ".." || s.is_empty()) {
        return Ok(answer(StatusCode::NOT_FOUND, "text/plain", "no such file"));
    }
    let file = web_dir().join(relative);
    Ok(match std::fs::read(&file) {
        Ok(bytes) => {
            if matches!(file.extension().and_then(|e| e.to_str()), Some("js" | "mjs" | "wasm")) {
                *page.script_bytes.lock().unwrap() += bytes.len() as u64;
            }
            answer(StatusCode::OK, content_type(&file), bytes)
        }
        Err(_) => answer(StatusCode::NOT_FOUND, "text/plain", "no such file"),
    })
}

async fn start_page_server(listener: TcpListener, page: Arc<Page>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            return;
        };
        let page = page.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| serve_page(page.clone(), request));
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_browser_page_syncs_a_demo_wallet_and_shows_its_balance() {
    let browser_path = chromium();
    assert!(
        web_dir().join("node_modules/@noble/curves").is_dir(),
        "examples/web/node_modules is missing: run `npm ci` in examples/web (tools/test does)"
    );
    let page_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let page_addr: SocketAddr = page_listener.local_addr().unwrap();
    let origin = format!("http://{page_addr}");

    let data = tempfile::tempdir().unwrap();
    let mut config = test_config(data.path());
    config.cors_origins = vec![origin.clone()];
    let server = TestServer::start(config).await;
    let wallet = &demo_chain().wallets[0];

    let (reports, mut reported) = mpsc::channel(4);
    let page = Arc::new(Page {
        config: serde_json::json!({
            "server": server.base_url,
            "wallet": {
                "view_key": wallet.view_key,
                "spend_public_key": wallet.spend_public_key,
                "birthday": wallet.birthday,
                "password": TEST_PASSWORD,
            },
            "report": "/report",
            // The page breaks its first download off here and resumes with a Range request.
            "interrupt_after": 1000,
        }),
        reports,
        script_bytes: Mutex::new(0),
    });
    tokio::spawn(start_page_server(page_listener, page.clone()));

    let profile = tempfile::tempdir().unwrap();
    let log = tempfile::NamedTempFile::new().unwrap();
    let started = Instant::now();
    let _browser = Browser(
        Command::new(&browser_path)
            .args([
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-extensions",
                &format!("--user-data-dir={}", profile.path().display()),
                &format!("{origin}/#config=/config.json"),
            ])
            .stdout(Stdio::null())
            .stderr(log.reopen().unwrap())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", browser_path.display())),
    );
    let report = tokio::time::timeout(Duration::from_secs(120), reported.recv())
        .await
        .unwrap_or_else(|_| {
            let log = std::fs::read_to_string(log.path()).unwrap_or_default();
            panic!("the page reported nothing within 120 s; Chromium said:\n{log}")
        })
        .expect("a report");
    assert_eq!(report["ok"], true, "the page failed: {report}");
    assert_eq!(
        report["balance"].as_u64(),
        Some(wallet.expected_balance),
        "the page shows the demo wallet's balance: {report}"
    );
    assert_eq!(report["tip"], 39, "scanned to the demo chain's tip");
    assert!(report["unspent"].as_u64().unwrap() > 0);
    let size = report["size"].as_u64().unwrap();
    let resumed_from = report["resumed_from"]
        .as_array()
        .expect("the ranges the page asked for");
    assert!(size > 1000, "a file big enough to break off ({size} bytes)");
    assert_eq!(resumed_from.len(), 1, "one resumed transfer: {report}");
    let offset = resumed_from[0].as_u64().unwrap();
    assert_eq!(offset, 1000, "resumed where the transfer broke off");
    println!(
        "browser: balance {} µT shown {:.0} ms after page load ({:.1} s after starting Chromium); \
         JavaScript + wasm loaded: {} bytes (page's count), {} bytes served",
        report["balance"],
        report["shown_ms"].as_f64().unwrap_or(f64::NAN),
        started.elapsed().as_secs_f64(),
        report["script_bytes"],
        page.script_bytes.lock().unwrap()
    );
    server.stop().await.unwrap();
}
