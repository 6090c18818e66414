//! Test kit: the shared builders and fakes of tari-wallet-sync's integration tests, benches and examples.
//! A dev-dependency only (`publish = false`), built on the library's public API with its shipped
//! features, so a test exercises the product as users run it and nothing here reaches a shipped binary.
//! Not the tests themselves (`tests/`, `plugin/tests/`), and not the demo chain (`tari_wallet_sync::demo`,
//! which the product serves when no node is configured).
//!
//! ```text
//! fake_node   an HTTP server on 127.0.0.1:0 answering the node's wallet query routes from a chain of
//!             BlockData: grows, reorgs, slows down, refuses, fails on demand (followers over real HTTP)
//! service     a demo chain per process, TestServer (the service on 127.0.0.1:0), GatedBuilder (a pass
//!             held until the test lets it go), sealed submissions, downloaded wallets opened
//!   edge        clients from chosen loopback addresses, HTTP/1.1 and HTTP/2, a real nginx in front
//!   wallet_app  a wallet app's steps over a real client: key, submit, follow events, download
//! haproxy     the example deployment's HAProxy (deploy/haproxy/haproxy.cfg as shipped) on 127.0.0.1
//!             in front of three replicas, its variables set by the test; the replicas' states
//! replicas    N `tari-wallet-sync serve` processes with one sealing key (the caller's binary), each
//!             killed (SIGKILL), stopped (SIGTERM) or started again on its port: failover tests
//! postgres    a real PostgreSQL on 127.0.0.1 (Debian's package), a database per test made by
//!             deploy/postgres/roles.sql
//! synthetic   wallets with any number of owned outputs and no chain, for wallet-file tests and benches
//! ```

pub mod fake_node;
pub mod haproxy;
pub mod postgres;
pub mod replicas;
pub mod service;
pub mod synthetic;
