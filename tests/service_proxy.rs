//! The service behind a real nginx (the Debian package `nginx`), as operators run it: nginx connects
//! from its own address (the only trusted proxy) and appends its client's address to the one header the
//! operator named; clients forge both headers with every request. The service must see each client's
//! real address: its limits hold, and a forged victim address costs the victim nothing.
//!
//! The test starts nginx itself on 127.0.0.1 with a configuration written to a temporary directory and
//! stops it at the end; without nginx it fails saying how to install it. Client addresses are distinct
//! 127.0.0.x sources (Linux routes all of 127.0.0.0/8 to loopback).

use std::{net::IpAddr, time::Duration};

use bytes::Bytes;
use http::{Method, StatusCode};
use tari_wallet_sync::service::{ForwardedHeader, RateLimit};
use tari_wallet_sync_testkit::service::{
    TestServer, demo_chain,
    edge::{Answer, Http1, Nginx},
    sealed_submission, test_config,
};

const SUBMIT: &str = "/api/v1/wallet/sync";
/// The address nginx connects to the service from (`proxy_bind`): the one trusted proxy.
const NGINX_SOURCE: [u8; 4] = [127, 0, 0, 2];

fn loopback(last: u8) -> IpAddr {
    IpAddr::from([127, 0, 0, last])
}

/// A client at `local` talking to the service through nginx, forging a new address in both forwarding
/// headers with every request (or the one it is told to).
struct Forger {
    http: Http1,
    public_key: [u8; 32],
    sent: u32,
}

impl Forger {
    async fn connect(local: IpAddr, nginx: &Nginx) -> Forger {
        let mut http = Http1::connect(local, nginx.addr).await.expect("connect to nginx");
        let key = http
            .send(Method::GET, "/api/v1/server-key", &[], None)
            .await
            .expect("server key through nginx");
        assert_eq!(key.status, StatusCode::OK, "{}", nginx.error_log());
        let public_key = hex::decode(key.json()["public_key"].as_str().unwrap())
            .unwrap()
            .try_into()
            .unwrap();
        Forger {
            http,
            public_key,
            sent: 0,
        }
    }

    /// A sealed submission claiming to come from `claimed` (or a fresh address each time).
    async fn submit(&mut self, claimed: Option<IpAddr>) -> Answer {
        self.sent += 1;
        let forged = claimed.unwrap_or_else(|| IpAddr::from([198, 51, (self.sent >> 8) as u8, self.sent as u8]));
        let forwarded = format!("for={forged}");
        let x_forwarded_for = forged.to_string();
        let body = sealed_submission(&self.public_key, &demo_chain().wallets[0], None).to_string();
        let headers = [
            ("content-type", "application/json"),
            ("forwarded", forwarded.as_str()),
            ("x-forwarded-for", x_forwarded_for.as_str()),
        ];
        self.http
            .send(Method::POST, SUBMIT, &headers, Some(Bytes::from(body)))
            .await
            .expect("an answer through nginx")
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_nginx_the_service_sees_the_real_client_whatever_it_forges() {
    for header in [ForwardedHeader::XForwardedFor, ForwardedHeader::Forwarded] {
        let data = tempfile::tempdir().unwrap();
        let mut config = test_config(data.path());
        config.submit_rate_per_ip = RateLimit {
            per_window: 3,
            window: Duration::from_secs(3600),
        };
        config.clients.trusted_proxies = vec![IpAddr::from(NGINX_SOURCE).into()];
        config.clients.forwarded_header = header;
        let server = TestServer::start(config).await;
        let nginx = Nginx::start(server.addr, IpAddr::from(NGINX_SOURCE), header)
            .await
            .unwrap_or_else(|e| panic!("{e}"));

        // A fresh forged address in both headers every time: three accepted, the rest refused.
        let mut attacker = Forger::connect(loopback(10), &nginx).await;
        let mut statuses = Vec::new();
        for _ in 0..6 {
            statuses.push(attacker.submit(None).await.status.as_u16());
        }
        assert_eq!(
            statuses,
            [202, 202, 202, 429, 429, 429],
            "{header:?}: {}",
            nginx.error_log()
        );

        // Claiming to be the victim, many times over, costs the victim nothing.
        let victim_address = loopback(11);
        for _ in 0..5 {
            let answer = attacker.submit(Some(victim_address)).await;
            assert_eq!(
                (answer.status, answer.code()),
                (StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED".into())
            );
        }
        let mut victim = Forger::connect(victim_address, &nginx).await;
        for _ in 0..3 {
            // The victim's own client sends no forwarding header at all.
            let body = sealed_submission(&victim.public_key, &demo_chain().wallets[1], None).to_string();
            let answer = victim
                .http
                .send(
                    Method::POST,
                    SUBMIT,
                    &[("content-type", "application/json")],
                    Some(Bytes::from(body)),
                )
                .await
                .unwrap();
            assert_eq!(answer.status, StatusCode::ACCEPTED, "{header:?}: {:?}", answer.body);
        }
        drop((attacker, victim, nginx));
        server.stop().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proxy_left_untrusted_makes_its_clients_one_and_its_headers_count_for_nothing() {
    // The operator forgot `trusted_proxies`: every client behind nginx is nginx, forged headers or not.
    let data = tempfile::tempdir().unwrap();
    let mut config = test_config(data.path());
    config.submit_rate_per_ip = RateLimit {
        per_window: 2,
        window: Duration::from_secs(3600),
    };
    let server = TestServer::start(config).await;
    let nginx = Nginx::start(server.addr, IpAddr::from(NGINX_SOURCE), ForwardedHeader::XForwardedFor)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let mut statuses = Vec::new();
    for host in [20, 21, 22] {
        let mut client = Forger::connect(loopback(host), &nginx).await;
        statuses.push(client.submit(None).await.status.as_u16());
    }
    assert_eq!(statuses, [202, 202, 429]);
    drop(nginx);
    server.stop().await.unwrap();
}
