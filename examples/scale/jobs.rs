//! Jobs: the service over the synthetic cache on 127.0.0.1, and the time of each job from its
//! submission to its downloaded wallet file, for wallets submitted at once. Same steps as a wallet app
//! (sealed envelope, status polling, download with the derived token), over HTTP/1.1.

use std::{
    path::Path,
    time::{Duration, Instant},
};

use http::{Method, StatusCode};
use tari_wallet_sync::{
    demo::chain::DemoWallet,
    service::{RateLimit, ServiceConfig},
};
use tari_wallet_sync_sse::client::{Client, Protocol};
use tari_wallet_sync_testkit::service::{TestServer, TestSubmission, sealed_submission};

/// One job's outcome.
#[derive(Debug, Clone, serde::Serialize)]
pub struct JobTime {
    pub birthday: u64,
    pub seconds: f64,
    pub download_bytes: usize,
}

/// Runs every wallet's job concurrently against one service; returns their times in wallet order.
pub async fn run(cache_dir: &Path, data_dir: &Path, wallets: &[DemoWallet]) -> Result<Vec<JobTime>, String> {
    let mut config = ServiceConfig::new(data_dir, cache_dir);
    // One address plays every wallet; the limits under test elsewhere are off here.
    config.submit_rate_per_ip = RateLimit::OFF;
    config.sync_rate_per_wallet = RateLimit::OFF;
    config.request_rate_per_ip = RateLimit::OFF;
    config.max_queued_per_client = wallets.len().max(8);
    config.request_timeout = Duration::from_secs(600);
    let server = TestServer::start(config).await;
    let client = Client::new(&server.base_url, Protocol::Http1);
    wait_serving(&client).await?;
    let key = client
        .request(Method::GET, "/api/v1/server-key", &[], None)
        .await
        .map_err(|e| e.to_string())?;
    let public = key.json().map_err(|e| e.to_string())?["public_key"]
        .as_str()
        .and_then(|k| hex::decode(k).ok())
        .and_then(|k| <[u8; 32]>::try_from(k).ok())
        .ok_or("no server key")?;
    let tasks: Vec<_> = wallets
        .iter()
        .map(|wallet| {
            let submission = sealed_submission(&public, wallet, None);
            let client = Client::new(&server.base_url, Protocol::Http1);
            let birthday = wallet.birthday;
            tokio::spawn(async move { one_job(&client, &submission, birthday).await })
        })
        .collect();
    let mut times = Vec::new();
    for task in tasks {
        times.push(task.await.map_err(|e| e.to_string())??);
    }
    server.stop().await.map_err(|e| e.to_string())?;
    Ok(times)
}

/// The service opens its cache in the background: wait for `/ready`.
async fn wait_serving(client: &Client) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(600);
    while Instant::now() < deadline {
        if let Ok(r) = client.request(Method::GET, "/ready", &[], None).await
            && r.status == StatusCode::OK
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err("the service never became ready".into())
}

async fn one_job(client: &Client, submission: &TestSubmission, birthday: u64) -> Result<JobTime, String> {
    let started = Instant::now();
    let body = bytes::Bytes::from(submission.to_string());
    let response = client
        .request(Method::POST, "/api/v1/wallet/sync", &[], Some(body))
        .await
        .map_err(|e| e.to_string())?;
    if response.status != StatusCode::ACCEPTED {
        return Err(format!("submit answered {}: {:?}", response.status, response.body));
    }
    let json = response.json().map_err(|e| e.to_string())?;
    let url = |name: &str| json[name].as_str().map(str::to_owned).ok_or(format!("no {name}"));
    let (status_url, download_url) = (url("status_url")?, url("download_url")?);
    let auth = submission.auth();
    loop {
        let status = client
            .request(Method::GET, &status_url, &[("authorization", &auth)], None)
            .await
            .map_err(|e| e.to_string())?;
        let state = status.json().map_err(|e| e.to_string())?["state"]
            .as_str()
            .unwrap_or("")
            .to_owned();
        match state.as_str() {
            "ready" => break,
            "failed" | "deleted" => return Err(format!("job {state}: {:?}", status.body)),
            _ => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
    let download = client
        .request(Method::GET, &download_url, &[("authorization", &auth)], None)
        .await
        .map_err(|e| e.to_string())?;
    if download.status != StatusCode::OK {
        return Err(format!("download answered {}", download.status));
    }
    Ok(JobTime {
        birthday,
        seconds: started.elapsed().as_secs_f64(),
        download_bytes: download.body.len(),
    })
}
