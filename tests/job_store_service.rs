//! The whole service on a PostgreSQL job store (`job_store = postgres://...`, a real server): a wallet
//! is submitted, scanned and downloaded, and after a restart on the same database its job is still
//! served, ready, with the same file; the database holds no envelope once the scan has ended.

use http::Method;
use tari_wallet_sync::service::config::JobStoreLocation;
use tari_wallet_sync_sse::{
    JobEvent,
    client::{Client, Protocol},
};
use tari_wallet_sync_testkit::{
    postgres::TestPostgres,
    service::{TestServer, demo_chain, downloaded_wallet_balance, test_config, wallet_app},
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wallet_syncs_on_postgres_and_is_still_served_after_a_restart() {
    let server = TestPostgres::shared();
    let url = server.database();
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path());
    config.job_store = url.parse::<JobStoreLocation>().unwrap();
    config.replica_id = Some("r1".into());

    let service = TestServer::start(config.clone()).await;
    let client = Client::new(&service.base_url, Protocol::Http1);
    let wallet = &demo_chain().wallets[0];
    let job = wallet_app::submit(&client, wallet, None).await;
    let ready = wallet_app::last_event(&client, &job).await;
    let JobEvent::Ready { download_url, .. } = &ready else {
        panic!("the job ends ready, not {ready:?}")
    };
    let first = wallet_app::download(&client, &job, download_url).await;
    assert_eq!(downloaded_wallet_balance(&first), wallet.expected_balance);
    assert!(
        !std::path::Path::new(&dir.path().join("jobs.sqlite")).exists(),
        "no SQLite store beside a PostgreSQL one"
    );
    service.stop().await.unwrap();

    let db = url.rsplit('/').next().unwrap();
    let rows = server.admin_sql(
        db,
        "SELECT state || ',' || (sealed_envelope IS NULL) || ',' || revision FROM tws.jobs",
    );
    assert_eq!(rows, "ready,true,3", "inserted, claimed, finished; its envelope wiped");

    let service = TestServer::start(config).await;
    let client = Client::new(&service.base_url, Protocol::Http2);
    let status = client
        .request(
            Method::GET,
            job.json["status_url"].as_str().unwrap(),
            &[("authorization", &job.auth)],
            None,
        )
        .await
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(status["state"], "ready", "{status}");
    let again = wallet_app::download(&client, &job, download_url).await;
    assert_eq!(again, first, "the same file after the restart");
    service.stop().await.unwrap();
}
