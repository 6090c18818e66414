//! A fleet of `tari-wallet-sync serve` processes behind the example deployment's HAProxy
//! (`testkit::replicas`, `testkit::haproxy`): one replica killed with SIGKILL, as when its machine is
//! lost, is taken out by the health check and its client's next sync is served by another replica, from
//! submission to its file; started again on its port, it is taken back in and the client's requests go
//! home again (consistent hashing moves only the lost replica's clients, and back). With one PostgreSQL
//! job store for the three (Debian's server, started by `testkit::postgres`), a replica killed in the
//! middle of a pass loses no job: the others take its scans over once its leases end, and every job's
//! file is written once.

use std::{
    net::IpAddr,
    time::{Duration, Instant},
};

use bytes::Bytes;
use http::{Method, StatusCode};
use tari_wallet_sync::service::load_key_file;
use tari_wallet_sync_testkit::{
    haproxy::{Haproxy, HaproxySettings},
    postgres::TestPostgres,
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

/// Three `serve` replicas with `extra` configuration behind the example deployment's HAProxy, each up.
async fn fleet(extra: &[String]) -> (ReplicaSet, Haproxy) {
    let replicas = ReplicaSet::start(env!("CARGO_BIN_EXE_tari-wallet-sync").as_ref(), 3, extra).unwrap();
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
    (replicas, haproxy)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_replicas_client_is_served_by_another_and_goes_home_when_it_is_back() {
    let (mut replicas, haproxy) = fleet(&[]).await;
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

/// Issue 18's failover target: three replicas on one PostgreSQL behind HAProxy, 30 wallets submitted
/// from ten client addresses, and the first replica seen holding scans SIGKILLed mid-pass (its jobs
/// still `scanning` under its lease in the database). Every job ends ready on the survivors and its file,
/// downloaded through HAProxy from whichever replica the client's hash now meets, holds its wallet's
/// exact balance; each job's result was written once (one `ready` webhook event queued for it in the
/// store, whichever replica finished it); the killed replica's jobs were claimed again by another.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_killed_mid_scan_loses_no_job_on_a_shared_store() {
    let postgres = TestPostgres::start();
    let url = postgres.database();
    let db = url.rsplit('/').next().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("webhook-secret");
    std::fs::write(&secret, "a-webhook-secret-for-the-failover-test").unwrap();
    std::fs::set_permissions(&secret, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let extra = [
        format!("job_store = {url:?}"),
        // Leases end 3 s after a replica's last renewal: the survivors take its scans over soon.
        "job_lease = \"3s\"".to_string(),
        // One scan thread and a gathering delay: passes of many jobs, long enough to be caught in.
        "scan_threads = 1".to_string(),
        "batch_delay = \"300ms\"".to_string(),
        "sync_rate_per_wallet = \"1000/h\"".to_string(),
        // A receiver that never answers: every event stays queued in the store, to be counted.
        "webhook_urls = [\"http://127.0.0.1:9/hook\"]".to_string(),
        format!("webhook_secret_file = {:?}", secret.display().to_string()),
    ];
    let (mut replicas, haproxy) = fleet(&extra).await;
    let key = load_key_file(&replicas.key_file).unwrap().public_key();
    let wallets = &demo_chain().wallets;

    let mut jobs = Vec::new();
    for i in 0..30 {
        let client: IpAddr = format!("127.0.0.{}", 2 + i % 10).parse().unwrap();
        let wallet = i % wallets.len();
        let (job, auth) = submit(&haproxy, client, &key, wallet).await;
        jobs.push((client, wallet, job, auth));
    }

    // The first replica the database shows holding a scan is killed at once, its leases still live.
    let holder = |db: &str| {
        postgres.admin_sql(
            db,
            "SELECT lease_owner FROM tws.jobs WHERE state = 'scanning' AND lease_owner IS NOT NULL LIMIT 1",
        )
    };
    let deadline = Instant::now() + Duration::from_secs(120);
    let victim = loop {
        let owner = holder(&db);
        if let Some(n) = owner.strip_prefix('r').and_then(|n| n.parse::<usize>().ok()) {
            break n - 1;
        }
        assert!(Instant::now() < deadline, "no replica was seen scanning");
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    replicas.kill(victim);
    let killed_at = Instant::now();
    let victim_id = format!("r{}", victim + 1);
    let orphans: Vec<String> = postgres
        .admin_sql(
            &db,
            &format!("SELECT id FROM tws.jobs WHERE state = 'scanning' AND lease_owner = '{victim_id}' ORDER BY id"),
        )
        .lines()
        .map(str::to_string)
        .collect();
    assert!(!orphans.is_empty(), "{victim_id} was killed holding scans");
    haproxy
        .wait_for(&format!("replica{}", victim + 1), "DOWN", Duration::from_secs(20))
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", haproxy.log()));

    for (client, wallet, job, auth) in &jobs {
        let balance = finish(&haproxy, *client, job, auth).await;
        assert_eq!(balance, wallets[*wallet].expected_balance, "{}", job["job_id"]);
    }
    eprintln!(
        "failover: {} jobs of {victim_id} taken over; all 30 ready {:.1} s after the kill",
        orphans.len(),
        killed_at.elapsed().as_secs_f64()
    );

    let ready_events = postgres.admin_sql(
        &db,
        "SELECT convert_from(body, 'UTF8')::json->>'job_id' FROM tws.webhook_deliveries
         WHERE convert_from(body, 'UTF8')::json->>'type' = 'ready' ORDER BY 1",
    );
    let mut expected: Vec<String> = jobs
        .iter()
        .map(|(_, _, job, _)| job["job_id"].as_str().unwrap().to_string())
        .collect();
    expected.sort();
    assert_eq!(
        ready_events.lines().collect::<Vec<_>>(),
        expected,
        "one ready event per job: each result written once"
    );
    for id in &orphans {
        let row = postgres.admin_sql(
            &db,
            &format!("SELECT state, attempts >= 2, lease_owner IS NULL FROM tws.jobs WHERE id = '{id}'"),
        );
        assert_eq!(row, "ready|t|t", "{id}: claimed again and finished by a survivor");
    }
    for index in (0..3).filter(|&i| i != victim) {
        assert!(
            replicas.terminate(index),
            "{} drains and exits cleanly",
            replicas.replicas[index].id
        );
    }
}
