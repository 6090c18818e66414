//! Builds the service cannot be made to wait on: the scheduler hands each build its deadline
//! (`build_timeout`) and its job's cancellation, the wallet builder polls them, so a `DELETE` stops a
//! build in progress and frees its scan thread for the next job, and a build past its deadline fails
//! its job with `BUILD_TIMEOUT`.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use http::{Method, StatusCode};
use tari_wallet_sync::{
    cache::CacheView,
    recognize::WalletKey,
    scan::ScanResult,
    service::{Artifact, CacheSource, FailureCode, JobFailure, ResultBuilder, WalletDbBuilder},
    walletdb::{Interrupt, Stopped},
};
use tari_wallet_sync_sse::{
    JobEvent,
    client::{Client, Protocol},
};
use tari_wallet_sync_testkit::service::{
    TestServer, demo_chain, test_config,
    wallet_app::{last_event, submit},
};
use tokio::sync::Notify;
use zeroize::Zeroizing;

/// A builder whose first build runs until it is interrupted, polling as the wallet builder does, and
/// says why it stopped; later builds are the wallet builder's.
#[derive(Default)]
struct EndlessFirstBuild {
    started: Notify,
    stopped: Mutex<Option<Stopped>>,
    stopped_notify: Notify,
    first_taken: Mutex<bool>,
    inner: WalletDbBuilder,
}

impl ResultBuilder for EndlessFirstBuild {
    fn build(
        &self,
        key: &WalletKey,
        password: Option<Zeroizing<String>>,
        birthday: u64,
        result: &ScanResult,
        chain: &CacheView,
        interrupt: &Interrupt<'_>,
    ) -> Result<Artifact, JobFailure> {
        let first = !std::mem::replace(&mut *self.first_taken.lock().unwrap(), true);
        if !first {
            return self.inner.build(key, password, birthday, result, chain, interrupt);
        }
        self.started.notify_one();
        let stopped = loop {
            match interrupt.check() {
                Ok(()) => std::thread::sleep(Duration::from_millis(5)),
                Err(stopped) => break stopped,
            }
        };
        *self.stopped.lock().unwrap() = Some(stopped);
        self.stopped_notify.notify_one();
        Err(JobFailure::new(FailureCode::Other("BUILD_CANCELLED"), "stopped", false))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delete_stops_a_running_build_and_frees_its_thread() {
    let data = tempfile::tempdir().unwrap();
    let mut config = test_config(data.path());
    // One scan thread: the next job can only be built once the first build let go of it.
    config.scan_threads = 1;
    let builder = Arc::new(EndlessFirstBuild::default());
    let source = CacheSource::directory(config.cache_dir.clone());
    let server = TestServer::start_with(config, source, builder.clone()).await;
    let client = Client::new(&server.base_url, Protocol::Http1);
    let wallets = &demo_chain().wallets;

    let job = submit(&client, &wallets[0], None).await;
    tokio::time::timeout(Duration::from_secs(60), builder.started.notified())
        .await
        .expect("the build starts");
    let job_url = format!("/api/v1/wallet/sync/{}", job.json["job_id"].as_str().unwrap());
    let deleted = client
        .request(Method::DELETE, &job_url, &[("authorization", &job.auth)], None)
        .await
        .unwrap();
    assert_eq!(deleted.status, StatusCode::OK);
    tokio::time::timeout(Duration::from_secs(30), builder.stopped_notify.notified())
        .await
        .expect("the build stops");
    assert_eq!(*builder.stopped.lock().unwrap(), Some(Stopped::Cancelled));

    let next = submit(&client, &wallets[1], None).await;
    match last_event(&client, &next).await {
        JobEvent::Ready { .. } => {}
        other => panic!("the next job: {other:?}"),
    }
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_build_past_its_deadline_fails_its_job_with_build_timeout() {
    let data = tempfile::tempdir().unwrap();
    let mut config = test_config(data.path());
    // Shorter than the password's Argon2id alone: every build runs past it.
    config.build_timeout = Duration::from_millis(1);
    let source = CacheSource::directory(config.cache_dir.clone());
    let server = TestServer::start_with(config, source, Arc::new(WalletDbBuilder::default())).await;
    let client = Client::new(&server.base_url, Protocol::Http1);
    let job = submit(&client, &demo_chain().wallets[0], None).await;
    match last_event(&client, &job).await {
        JobEvent::Failed { code, message } => {
            assert_eq!(code, "BUILD_TIMEOUT");
            assert!(message.contains("longer than the server allows"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    server.stop().await.unwrap();
}
