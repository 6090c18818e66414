//! A fleet of `tari-wallet-sync serve` processes behind the example deployment's HAProxy
//! (`testkit::replicas`, `testkit::haproxy`): one replica killed with SIGKILL, as when its machine is
//! lost, is taken out by the health check and its client's next sync is served by another replica, from
//! submission to its file; started again on its port, it is taken back in and the client's requests go
//! home again (consistent hashing moves only the lost replica's clients, and back). Each replica has its
//! own job store here; with a shared one (`job_store`, a test's extra keys) the lost replica's jobs are
//! the others' to finish.

use std::{
    net::IpAddr,
    time::{Duration, Instant},
};

use bytes::Bytes;
use http::{Method, StatusCode};
use tari_wallet_sync::service::load_key_file;
use tari_wallet_sync_testkit::{
    haproxy::{Haproxy, HaproxySettings},
    replicas::ReplicaSet,
    service::{demo_chain, downloaded_wallet_balance, edge::Http1, sealed_submission},
};

/// The replica (0-based) a job id names (`r2-…` is 1).
fn replica_of(job_id: &str) -> usize {
    let n: usize = job_id
        .strip_prefix('r')
        .and_then(|rest| rest.split('-').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("a job id with a replica prefix: {job_id}"));
    n - 1
}

/// Submits demo wallet `wallet` through HAProxy from `local`; returns the job and its bearer header.
async fn submit(haproxy: &Haproxy, local: IpAddr, key: &[u8; 32], wallet: usize) -> (serde_json::Value, String) {
    let submission = sealed_submission(key, &demo_chain().wallets[wallet], None);
    let mut connection = Http1::connect(local, haproxy.addr).await.unwrap();
    let answer = connection
        .send(
            Method::POST,
            "/api/v1/wallet/sync",
            &[("content-type", "application/json")],
            Some(Bytes::from(submission.to_string())),
        )
        .await
        .unwrap();
    assert_eq!(answer.status, StatusCode::ACCEPTED, "{:?}", answer.body);
    (answer.json(), submission.auth())
}

/// Polls the job's status through HAProxy from `local` until it ends; downloads its file; returns the
/// file's balance.
async fn finish(haproxy: &Haproxy, local: IpAddr, job: &serde_json::Value, auth: &str) -> u64 {
    let mut connection = Http1::connect(local, haproxy.addr).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let answer = connection
            .send(
                Method::GET,
                job["status_url"].as_str().unwrap(),
                &[("authorization", auth)],
                None,
            )
            .await
            .unwrap();
        assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
        match answer.json()["state"].as_str().unwrap() {
            "queued" | "scanning" => {}
            "ready" => break,
            other => panic!("the job ended {other}: {}", answer.json()),
        }
        assert!(Instant::now() < deadline, "the job ends within 120 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let file = connection
        .send(
            Method::GET,
            job["download_url"].as_str().unwrap(),
            &[("authorization", auth)],
            None,
        )
        .await
        .unwrap();
    assert_eq!(file.status, StatusCode::OK);
    downloaded_wallet_balance(&file.body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_replicas_client_is_served_by_another_and_goes_home_when_it_is_back() {
    let mut replicas = ReplicaSet::start(env!("CARGO_BIN_EXE_tari-wallet-sync").as_ref(), 3, &[]).unwrap();
    let addrs = replicas.addrs();
    let haproxy = Haproxy::start([addrs[0], addrs[1], addrs[2]], &HaproxySettings::default())
        .await
        .unwrap();
    for n in 1..=3 {
        haproxy
            .wait_for(&format!("replica{n}"), "UP", Duration::from_secs(60))
            .await
            .unwrap();
    }
    let key = load_key_file(&replicas.key_file).unwrap().public_key();
    let client: IpAddr = "127.0.0.7".parse().unwrap();
    let wallets = &demo_chain().wallets;

    let (job, auth) = submit(&haproxy, client, &key, 0).await;
    let home = replica_of(job["job_id"].as_str().unwrap());
    assert_eq!(finish(&haproxy, client, &job, &auth).await, wallets[0].expected_balance);

    replicas.kill(home);
    let name = format!("replica{}", home + 1);
    haproxy
        .wait_for(&name, "DOWN", Duration::from_secs(20))
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", haproxy.log()));
    let (job, auth) = submit(&haproxy, client, &key, 1).await;
    assert_ne!(
        replica_of(job["job_id"].as_str().unwrap()),
        home,
        "served by another replica"
    );
    assert_eq!(finish(&haproxy, client, &job, &auth).await, wallets[1].expected_balance);

    replicas.restart(home).unwrap();
    haproxy
        .wait_for(&name, "UP", Duration::from_secs(60))
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", haproxy.log()));
    let (job, _) = submit(&haproxy, client, &key, 2).await;
    assert_eq!(replica_of(job["job_id"].as_str().unwrap()), home, "back home");
    for index in 0..3 {
        assert!(
            replicas.terminate(index),
            "{} drains and exits cleanly",
            replicas.replicas[index].id
        );
    }
}
