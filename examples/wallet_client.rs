//! Wallet client: what a wallet app does with the service, end to end. Seals the view key to the
//! server's key, submits it, follows the job's events with a progress bar (resuming by Last-Event-ID if
//! the stream drops), downloads the file with Range resume, checks its SHA-256, decompresses it and
//! prints what it holds.
//!
//! ```sh
//! cargo run --release --example wallet_client -- --server https://sync.example \
//!     --view-key-file KEYFILE --spend-public-key HEX [--birthday H] [--password-file F] \
//!     [--ca-file CA.pem] [--http1 | --http2] [--out wallet.sqlite]
//! cargo run --release --example wallet_client -- --server http://127.0.0.1:8080 \
//!     --wallets tws-data/demo-wallets.json --name demo-0 --password-file tws-data/demo-password
//! ```
//! A server given without a scheme is reached over HTTPS (`sync.example:8443` means
//! `https://sync.example:8443`); `http://` is for a server on this machine, such as the local demo.
//! Over HTTPS the client offers HTTP/2 and HTTP/1.1 by ALPN and trusts Mozilla's roots, plus the CA
//! certificates of `--ca-file` (a private CA, or a self-signed server's certificate). Keys are read from
//! files, never from the command line (shell history, process list). The wallet file's password
//! (required) comes from `--password-file`, else it is asked on the terminal.

use std::{io::Write, process::ExitCode, time::Instant};

use bytes::Bytes;
use futures_util::StreamExt;
use http::{Method, StatusCode, Version};
use http_body_util::BodyExt;
use sha2::{Digest, Sha256};
use tari_wallet_sync_sse::{
    JobEvent,
    client::{Client, ClientError, Protocol, ReconnectPolicy},
    envelope::SubmissionSecrets,
};

/// Attempts to finish a download that keeps breaking off.
const DOWNLOAD_ATTEMPTS: u32 = 5;

type Error = Box<dyn std::error::Error + Send + Sync>;

struct Options {
    server: String,
    protocol: Protocol,
    ca_file: Option<String>,
    view_key_hex: String,
    spend_public_key: String,
    birthday: u64,
    password: String,
    out: Option<String>,
}

/// The wallet file's password: asked on the terminal (not echoed), or read as the first line of
/// standard input when that is not a terminal.
fn ask_password() -> Result<String, Error> {
    use std::io::IsTerminal;
    if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("password for the wallet file: ")?;
        let again = rpassword::prompt_password("again: ")?;
        if first != again {
            return Err("the passwords differ".into());
        }
        Ok(first)
    } else {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line)?;
        Ok(line.trim_end_matches(['\n', '\r']).to_string())
    }
}

fn usage() -> ! {
    eprintln!(
        "usage: wallet_client --server URL (--wallets FILE --name NAME | --view-key-file F --spend-public-key HEX \
         [--birthday H]) [--password-file F] [--ca-file PEM] [--http1 | --http2] [--out FILE]"
    );
    std::process::exit(2)
}

fn options() -> Result<Options, Error> {
    let mut args = std::env::args().skip(1);
    let (mut server, mut wallets, mut name, mut view_file, mut spend, mut birthday) = (None, None, None, None, None, 0);
    let (mut password_file, mut out, mut protocol, mut ca_file) = (None, None, Protocol::Auto, None);
    while let Some(flag) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| usage());
        match flag.as_str() {
            "--server" => server = Some(value()),
            "--wallets" => wallets = Some(value()),
            "--name" => name = Some(value()),
            "--view-key-file" => view_file = Some(value()),
            "--spend-public-key" => spend = Some(value()),
            "--birthday" => birthday = value().parse()?,
            "--password-file" => password_file = Some(value()),
            "--out" => out = Some(value()),
            "--ca-file" => ca_file = Some(value()),
            "--http1" => protocol = Protocol::Http1,
            "--http2" => protocol = Protocol::Http2,
            _ => usage(),
        }
    }
    let (view_key_hex, spend_public_key, birthday) = match (wallets, name, view_file, spend) {
        (Some(file), name, None, None) => {
            let list: Vec<serde_json::Value> = serde_json::from_str(&std::fs::read_to_string(&file)?)?;
            let wallet = list
                .iter()
                .find(|w| name.as_deref().is_none_or(|n| w["name"] == n))
                .ok_or("no such wallet in the file")?;
            let text = |field: &str| {
                wallet[field]
                    .as_str()
                    .map(str::to_string)
                    .ok_or("malformed wallets file")
            };
            (
                text("view_key")?,
                text("spend_public_key")?,
                wallet["birthday"].as_u64().unwrap_or(0),
            )
        }
        (None, None, Some(file), Some(spend)) => (std::fs::read_to_string(file)?.trim().to_string(), spend, birthday),
        _ => usage(),
    };
    let password = match password_file {
        Some(file) => std::fs::read_to_string(file)?
            .trim_end_matches(['\n', '\r'])
            .to_string(),
        None => ask_password()?,
    };
    if password.is_empty() {
        return Err("a wallet password is required: the wallet file is sealed with it".into());
    }
    let server = server.unwrap_or_else(|| usage());
    // HTTPS unless the URL says otherwise: a key's envelope is sealed anyway, but the token is not.
    let server = if server.contains("://") {
        server
    } else {
        format!("https://{server}")
    };
    Ok(Options {
        server,
        protocol,
        ca_file,
        view_key_hex,
        spend_public_key,
        birthday,
        password,
        out,
    })
}

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            match error.downcast_ref::<ClientError>() {
                Some(client) => eprintln!("\nerror: {client}\ncode: {}", client.code()),
                None => eprintln!("\nerror: {error}"),
            }
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), Error> {
    let options = options()?;
    let mut builder = Client::builder(&options.server).protocol(options.protocol);
    if let Some(ca_file) = &options.ca_file {
        builder = builder.ca_file(ca_file)?;
    }
    let client = builder.build()?;
    let started = Instant::now();

    let key = client.request(Method::GET, "/api/v1/server-key", &[], None).await?;
    let over = if options.server.starts_with("https://") {
        "TLS"
    } else {
        "cleartext"
    };
    let version = match key.version {
        Version::HTTP_2 => "HTTP/2",
        Version::HTTP_11 => "HTTP/1.1",
        _ => "HTTP/1.0",
    };
    println!("connected to {} over {version} ({over})", options.server);
    let key = key.json()?;
    let server_public: [u8; 32] = hex::decode(key["public_key"].as_str().ok_or("no public_key")?)?
        .try_into()
        .map_err(|_| "the server key is not 32 bytes")?;
    let view_key = zeroize::Zeroizing::new(hex::decode(&options.view_key_hex)?);
    let spend = hex::decode(&options.spend_public_key)?;
    // One envelope holds every secret and every field that must not be swapped; the token derives from
    // the job secret inside it, so the server never sends one.
    let secrets = SubmissionSecrets::new(&view_key, &spend, options.birthday, &options.password);
    let token = secrets.token().ok_or("a fresh job secret is 32 bytes")?.to_string();
    let body = secrets.seal(&server_public, key["key_id"].as_str())?;
    drop(secrets);
    let submitted = client
        .request(
            Method::POST,
            "/api/v1/wallet/sync",
            &[],
            Some(Bytes::from(serde_json::to_vec(&body)?)),
        )
        .await?;
    if submitted.status != StatusCode::ACCEPTED {
        return Err(format!(
            "submission refused ({}): {}",
            submitted.status,
            String::from_utf8_lossy(&submitted.body)
        )
        .into());
    }
    let job = submitted.json()?;
    println!("job {} accepted", job["job_id"]);

    let mut events = client.events(
        job["events_url"].as_str().ok_or("no events_url")?,
        &token,
        None,
        ReconnectPolicy::default(),
    );
    let (size, sha256, download_url) = loop {
        let Some(event) = events.next().await else {
            return Err("the event stream ended without a result".into());
        };
        match event?.event {
            JobEvent::Queued { position } => eprint!("\rqueued at position {position}{:30}", ""),
            JobEvent::Progress {
                outputs_done,
                outputs_total,
                height,
                percent,
                eta_seconds,
                ..
            } => {
                let filled = (percent / 5.0) as usize;
                let eta = eta_seconds.map_or(String::new(), |s| format!(", ETA {s} s"));
                eprint!(
                    "\r[{}{}] {percent:5.1}% {outputs_done}/{outputs_total} outputs, height {height}{eta}   ",
                    "#".repeat(filled),
                    ".".repeat(20 - filled.min(20))
                );
            }
            JobEvent::Ready {
                size,
                sha256,
                download_url,
                stale,
                tip_height,
            } => {
                if stale {
                    let tip = tip_height.map_or("an empty chain".into(), |h| format!("height {h}"));
                    eprintln!("\nnote: the server's node is unreachable: the file is scanned to {tip} (stale)");
                }
                break (size, sha256, download_url);
            }
            JobEvent::Failed { code, message } => return Err(format!("the job failed ({code}): {message}").into()),
        }
    };
    let ready_after = started.elapsed();
    eprintln!(
        "\rready after {:.2} s: {size} bytes, sha256 {sha256}{:40}",
        ready_after.as_secs_f64(),
        ""
    );

    let file = download(&client, &download_url, &token, size).await?;
    let digest = hex::encode(Sha256::digest(&file));
    if digest != sha256 {
        return Err(format!("downloaded file has sha256 {digest}, expected {sha256}").into());
    }
    let raw = zstd::decode_all(&file[..])?;
    println!(
        "downloaded {} bytes ({} uncompressed, {:.0}% smaller) in {:.2} s total",
        file.len(),
        raw.len(),
        100.0 * (1.0 - file.len() as f64 / raw.len().max(1) as f64),
        started.elapsed().as_secs_f64()
    );
    if raw.starts_with(b"SQLite format 3\0") {
        let out = options.out.unwrap_or_else(|| "wallet.sqlite".into());
        std::fs::write(&out, &raw)?;
        let conn = rusqlite::Connection::open(&out)?;
        let (balance, outputs): (i64, i64) = conn.query_row(
            "SELECT COALESCE(SUM(value), 0), COUNT(*) FROM outputs \
             WHERE status = 'UNSPENT' AND is_burn = 0 AND deleted_at IS NULL",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        let tip: i64 = conn.query_row("SELECT COALESCE(MAX(height), 0) FROM scanned_tip_blocks", [], |r| {
            r.get(0)
        })?;
        println!(
            "wallet database written to {out}: balance {balance} µT in {outputs} unspent outputs, scanned to height {tip}"
        );
    } else if let Ok(summary) = serde_json::from_slice::<serde_json::Value>(&raw) {
        let outputs = summary["outputs"].as_array().map_or(0, Vec::len);
        println!(
            "balance {} µT in {outputs} outputs, scanned from height {} to {}",
            summary["balance"], summary["from_height"], summary["tip_height"]
        );
        if let Some(out) = options.out {
            std::fs::write(&out, &raw)?;
            println!("summary written to {out}");
        }
    }
    let auth = format!("Bearer {token}");
    let job_url = format!("/api/v1/wallet/sync/{}", job["job_id"].as_str().unwrap_or_default());
    let deleted = client
        .request(Method::DELETE, &job_url, &[("authorization", &auth)], None)
        .await?;
    println!("result deleted from the server ({})", deleted.status);
    Ok(())
}

/// Downloads `url`, asking for the rest with `Range` and `If-Range` whenever a transfer breaks off.
async fn download(client: &Client, url: &str, token: &str, size: u64) -> Result<Vec<u8>, Error> {
    let auth = format!("Bearer {token}");
    let mut file: Vec<u8> = Vec::with_capacity(size as usize);
    let mut etag: Option<String> = None;
    for attempt in 1..=DOWNLOAD_ATTEMPTS {
        let range = format!("bytes={}-", file.len());
        let mut headers = vec![("authorization", auth.as_str())];
        if !file.is_empty() {
            headers.push(("range", range.as_str()));
            if let Some(tag) = &etag {
                headers.push(("if-range", tag.as_str()));
            }
        }
        let response = match client.send(Method::GET, url, &headers, None).await {
            Ok(response) => response,
            Err(error) => {
                eprintln!("download attempt {attempt} failed: {error}");
                continue;
            }
        };
        match response.status() {
            StatusCode::OK => file.clear(),
            StatusCode::PARTIAL_CONTENT => {}
            status => return Err(format!("download refused: {status}").into()),
        }
        etag = response
            .headers()
            .get("etag")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let mut body = response.into_body();
        while let Some(frame) = body.frame().await {
            match frame {
                Ok(frame) => {
                    if let Some(data) = frame.data_ref() {
                        file.extend_from_slice(data);
                    }
                }
                Err(error) => {
                    eprintln!("download broke off at {} bytes: {error}; resuming", file.len());
                    break;
                }
            }
        }
        if file.len() as u64 >= size {
            std::io::stderr().flush()?;
            return Ok(file);
        }
    }
    Err(format!("download incomplete after {DOWNLOAD_ATTEMPTS} attempts").into())
}
