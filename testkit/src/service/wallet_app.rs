//! What a wallet app does with the service, step by step, for integration tests over a real HTTP client:
//! fetch the server key, submit a sealed view key, follow the job's events to their end, download the
//! file. Each step asserts what a wallet relies on (202 on submit, a `ready` end, 200 on download).

use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use http::{Method, StatusCode};
use tari_wallet_sync_sse::{
    JobEvent,
    client::{Client, ReconnectPolicy},
};

use super::{TestSubmission, sealed_submission};
use tari_wallet_sync::demo::chain::DemoWallet;

/// A submitted job: the service's answer and the bearer header its token makes.
pub struct SubmittedJob {
    pub json: serde_json::Value,
    pub token: String,
    pub auth: String,
}

impl SubmittedJob {
    /// The service's answer with the app's token beside it (`"token"`), as a wallet app keeps them.
    pub fn with_token(self) -> serde_json::Value {
        let mut json = self.json;
        json["token"] = self.token.into();
        json
    }
}

/// The server's sealing public key (`/api/v1/server-key`).
pub async fn server_key(client: &Client) -> [u8; 32] {
    let response = client
        .request(Method::GET, "/api/v1/server-key", &[], None)
        .await
        .expect("server key");
    let key = response.json().expect("server key JSON");
    hex::decode(key["public_key"].as_str().expect("public_key"))
        .expect("hex")
        .try_into()
        .expect("32 bytes")
}

/// Submits `wallet`'s keys (and `password`, else the test password) in one envelope sealed to the
/// server's key; asserts 202. The token is the one the app derives from its job secret.
pub async fn submit(client: &Client, wallet: &DemoWallet, password: Option<&str>) -> SubmittedJob {
    let submission = sealed_submission(&server_key(client).await, wallet, password);
    let json = post_accepted(client, &submission).await;
    let auth = submission.auth();
    SubmittedJob {
        json,
        token: submission.token,
        auth,
    }
}

/// Posts `submission`; asserts 202 and that the answer carries no token.
async fn post_accepted(client: &Client, submission: &TestSubmission) -> serde_json::Value {
    let response = client
        .request(
            Method::POST,
            "/api/v1/wallet/sync",
            &[],
            Some(Bytes::from(submission.to_string())),
        )
        .await
        .expect("submission");
    assert_eq!(response.status, StatusCode::ACCEPTED, "{:?}", response.body);
    let json = response.json().expect("submission JSON");
    assert!(json.get("token").is_none(), "the server never hands out a token");
    json
}

/// Posts `submission` and returns the answer with the token the app derived beside it (`"token"`), as a
/// wallet app keeps them together; asserts 202.
pub async fn submit_job(client: &Client, submission: &TestSubmission) -> serde_json::Value {
    let mut json = post_accepted(client, submission).await;
    json["token"] = submission.token.clone().into();
    json
}

/// Follows the job's events until the stream ends; returns the last event (`ready` or `failed`).
pub async fn last_event(client: &Client, job: &SubmittedJob) -> JobEvent {
    let url = job.json["events_url"].as_str().expect("events_url");
    let mut events = client.events(url, &job.token, None, ReconnectPolicy::default());
    let mut last = None;
    while let Some(event) = tokio::time::timeout(Duration::from_secs(60), events.next())
        .await
        .expect("the job's events keep coming")
    {
        last = Some(event.expect("an event").event);
    }
    last.expect("at least one event")
}

/// Downloads `url` with the job's token; asserts 200.
pub async fn download(client: &Client, job: &SubmittedJob, url: &str) -> Bytes {
    let file = client
        .request(Method::GET, url, &[("authorization", &job.auth)], None)
        .await
        .expect("download");
    assert_eq!(file.status, StatusCode::OK);
    file.body
}

/// Submits `wallet`, follows the job to `ready` and downloads the file: the `ready` event and the file.
pub async fn sync_wallet(client: &Client, wallet: &DemoWallet) -> (JobEvent, Bytes) {
    let job = submit(client, wallet, None).await;
    let ready = last_event(client, &job).await;
    let JobEvent::Ready { download_url, .. } = &ready else {
        panic!("{} ends ready, not {ready:?}", wallet.name)
    };
    let file = download(client, &job, download_url).await;
    (ready, file)
}
