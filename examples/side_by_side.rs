//! minotari-cli and this service side by side, for one wallet of the real-node fixture (LocalNet, written
//! by `tari_core`'s own storage code): the chain is served by a fake node speaking the base node's HTTP
//! wallet API (`FakeNode::from_lmdb`). minotari-cli imports the wallet's view key and `scan`s it from its
//! birthday to the tip through that API; the service, whose cache was imported from the same database
//! (an operator's cost, paid once for every wallet), syncs the same wallet: sealed submission, events,
//! download. Each client talks through a byte-counting TCP proxy, so the figures are the wallet's own
//! time and bytes on the network. Both files are then read by minotari-cli's own `balance`.
//!
//! Outside CI: minotari-cli is built outside the repository (tari-project/minotari-cli, `cargo build
//! --release -p minotari --bin minotari`).
//!
//! Any other stopped node database can stand in for the fixture (`--lmdb`, with its wallets' keys from
//! `node-fixture wallets`): `tools/node-fixture/side-by-side-wide.sh` mines a chain of many outputs per
//! block on the real node and measures one wallet whose history spans it.
//!
//! `cargo run --release --example side_by_side -- --minotari PATH [--runs 3] [--page-delay-ms 20]
//!  [--lmdb DIR --wallets FILE --wallet NAME]`

#[path = "../tests/node_fixture/mod.rs"]
mod node_fixture;

use std::{
    path::{Path, PathBuf},
    process::Command,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use tari_wallet_sync::{
    cache::Cache,
    demo::chain::DemoWallet,
    service::{CacheSource, RateLimit, WalletDbBuilder},
    source::{
        NodeClient,
        full_outputs::{FullOutputSources, NodeFetchOptions, NodeFullOutputs},
        lmdb::{ImportOptions, NodeDb, import},
    },
};
use tari_wallet_sync_sse::{
    JobEvent,
    client::{Client, Protocol},
};
use tari_wallet_sync_testkit::{
    fake_node::FakeNode,
    service::{
        TestServer, test_config,
        wallet_app::{download, last_event, submit},
    },
};
use tokio::net::{TcpListener, TcpStream};

const PASSWORD: &str = "side by side";

fn flag(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
}

/// Bytes through a proxy: from the client to the server, and back.
#[derive(Default)]
struct Counted {
    up: AtomicU64,
    down: AtomicU64,
}

impl Counted {
    fn bytes(&self) -> u64 {
        self.up.load(Ordering::Relaxed) + self.down.load(Ordering::Relaxed)
    }

    fn take(&self) -> u64 {
        self.up.swap(0, Ordering::Relaxed) + self.down.swap(0, Ordering::Relaxed)
    }
}

/// A TCP proxy on 127.0.0.1 in front of `target` that counts every byte either way.
async fn counting_proxy(target: std::net::SocketAddr) -> (String, Arc<Counted>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let counted = Arc::new(Counted::default());
    let tally = counted.clone();
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            let tally = tally.clone();
            tokio::spawn(async move {
                let Ok(mut server) = TcpStream::connect(target).await else {
                    return;
                };
                if let Ok((up, down)) = tokio::io::copy_bidirectional(&mut client, &mut server).await {
                    tally.up.fetch_add(up, Ordering::Relaxed);
                    tally.down.fetch_add(down, Ordering::Relaxed);
                }
            });
        }
    });
    (url, counted)
}

/// The network minotari-cli is told (the database's own).
static NETWORK: std::sync::OnceLock<String> = std::sync::OnceLock::new();

fn minotari(bin: &Path, args: &[&str]) -> String {
    let output = Command::new(bin)
        .args(["--network", NETWORK.get().expect("the network is known first")])
        .args(args)
        .output()
        .expect("minotari-cli runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "minotari {args:?} failed:\n{text}");
    text
}

/// The balance line(s) of `minotari balance` on `db`.
fn balance(bin: &Path, db: &Path) -> String {
    let text = minotari(bin, &["balance", "-d", db.to_str().expect("utf-8 path")]);
    text.lines()
        .filter(|l| l.to_lowercase().contains("balance") || l.contains("µT") || l.contains("XTM"))
        .collect::<Vec<_>>()
        .join(" | ")
}

/// The highest block minotari-cli recorded as scanned in `db`.
fn scanned_tip(db: &Path) -> Option<u64> {
    let conn = rusqlite::Connection::open(db).expect("minotari-cli's database");
    conn.query_row("SELECT MAX(height) FROM scanned_tip_blocks", [], |r| {
        r.get::<_, Option<i64>>(0)
    })
    .expect("scanned_tip_blocks")
    .map(|h| h as u64)
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// The chain measured and the wallet measured on it.
struct Setup {
    /// What the table's heading names.
    label: String,
    wallet: DemoWallet,
    /// The balance the chain's producer recorded for the wallet (the fixture's manifest), if known.
    expected_balance: Option<u64>,
}

/// The wallet `name` of a `node-fixture wallets` file.
fn wallet_from_file(path: &Path, name: &str) -> DemoWallet {
    #[derive(serde::Deserialize)]
    struct Listed {
        name: String,
        view_key: String,
        spend_public_key: String,
        birthday: u64,
    }
    let text = std::fs::read_to_string(path).expect("the wallets file");
    let listed: Vec<Listed> = serde_json::from_str(&text).expect("a `node-fixture wallets` file");
    let wallet = listed
        .into_iter()
        .find(|w| w.name == name)
        .unwrap_or_else(|| panic!("no wallet {name} in {}", path.display()));
    DemoWallet {
        name: wallet.name,
        view_key: wallet.view_key,
        spend_public_key: wallet.spend_public_key,
        birthday: wallet.birthday,
        expected_balance: 0,
        expected_outputs: 0,
        expected_spent: 0,
    }
}

/// Outputs per height of the database's main chain.
fn outputs_per_height(db: &NodeDb, tip: u64) -> Vec<usize> {
    let mut counts = Vec::with_capacity(tip as usize + 1);
    db.for_each_block(0..=tip, |block| {
        counts.push(block.outputs.len());
        Ok(())
    })
    .expect("the database's blocks");
    counts
}

/// The outputs a wallet file holds (spent or not).
fn outputs_in_file(path: &Path) -> usize {
    let conn = rusqlite::Connection::open(path).expect("a wallet file");
    conn.query_row("SELECT COUNT(*) FROM outputs", [], |r| r.get::<_, i64>(0))
        .expect("its outputs table") as usize
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let bin = PathBuf::from(flag("--minotari").expect("--minotari PATH (a minotari-cli binary)"));
    let runs: usize = flag("--runs").map_or(3, |r| r.parse().expect("a number"));
    // A node's answer takes time (its own reads, a LAN): minotari-cli 5.3's scanner ends its scan when
    // the download task finishes before the processing task has sent its results ("channel closed"),
    // which a fast local node makes certain.
    let page_delay = Duration::from_millis(flag("--page-delay-ms").map_or(20, |d| d.parse().expect("a number")));
    let dir = tempfile::tempdir().expect("temp dir");
    let db_dir = dir.path().join("node-db");
    let setup = match flag("--lmdb") {
        Some(source) => {
            // A copy: the import and the fake node only read, but LMDB wants its directory writable.
            std::fs::create_dir_all(&db_dir).expect("db dir");
            std::fs::copy(Path::new(&source).join("data.mdb"), db_dir.join("data.mdb")).expect("copy data.mdb");
            let wallets = PathBuf::from(flag("--wallets").expect("--wallets FILE (node-fixture wallets)"));
            let name = flag("--wallet").expect("--wallet NAME");
            Setup {
                label: format!("the node database {source}"),
                wallet: wallet_from_file(&wallets, &name),
                expected_balance: None,
            }
        }
        None => {
            let manifest = node_fixture::manifest();
            node_fixture::unpack(&db_dir);
            let wallet = (manifest.wallets.iter())
                .max_by_key(|w| w.outputs.len())
                .expect("fixture wallets");
            Setup {
                label: "the LocalNet fixture".into(),
                wallet: wallet.as_demo(),
                expected_balance: Some(wallet.balance),
            }
        }
    };
    let db = NodeDb::open(&db_dir).expect("the node database");
    let network = db.network().expect("a known network");
    tari_wallet_sync::network::use_network(network).expect("the process network");
    NETWORK.set(network.as_key_str().to_owned()).expect("set once");
    let tip_height = db.chain_info().expect("chain info").tip_height;
    let per_height = outputs_per_height(&db, tip_height);
    let cache_dir = dir.path().join("cache");
    let mut cache = Cache::create(&cache_dir, network.as_byte()).expect("cache");
    import(
        &db,
        &mut cache,
        ImportOptions::default(),
        &AtomicBool::new(false),
        |_| {},
    )
    .expect("import");
    drop(cache);
    let node = FakeNode::from_lmdb(&db).await.expect("fake node");
    node.set_page_delay(page_delay);
    drop(db);
    let demo = setup.wallet.clone();
    let blocks = tip_height + 1;

    // The service: the imported cache, full outputs of the wallet's blocks from the node per job.
    let mut config = test_config(&dir.path().join("service"));
    config.cache_dir = cache_dir.clone();
    config.sync_rate_per_wallet = RateLimit::OFF;
    config.submit_rate_per_ip = RateLimit::OFF;
    let server = TestServer::start_with(
        config,
        CacheSource::directory(&cache_dir),
        Arc::new(WalletDbBuilder::new(FullOutputSources::new(vec![Arc::new(
            NodeFullOutputs::new(
                NodeClient::new(&node.url()).expect("node url"),
                tokio::runtime::Handle::current(),
                NodeFetchOptions::default(),
            ),
        )]))),
    )
    .await;
    let (node_proxy, node_bytes) = counting_proxy(node.addr()).await;
    let (service_proxy, service_bytes) = counting_proxy(server.addr).await;

    let (mut cli_times, mut cli_bytes, mut our_times, mut our_bytes) = (vec![], vec![], vec![], vec![]);
    let mut cli_scanned = 0;
    let (mut cli_balance, mut our_balance) = (String::new(), String::new());
    let mut owned = 0;
    for run in 0..runs {
        // minotari-cli: a new wallet from the view key, then `scan` to the tip.
        let cli_db = dir.path().join(format!("minotari-{run}.sqlite"));
        let cli_db_arg = cli_db.to_str().expect("utf-8 path");
        let birthday = demo.birthday.to_string();
        minotari(
            &bin,
            &[
                "import-view-key",
                "-v",
                &demo.view_key,
                "-s",
                &demo.spend_public_key,
                "-p",
                PASSWORD,
                "-d",
                cli_db_arg,
                "-b",
                &birthday,
            ],
        );
        node_bytes.take();
        let started = Instant::now();
        // `scan` goes on from the last scanned height: run it again, as a user would, until the wallet
        // has scanned the tip, or an invocation makes no progress.
        let mut invocations = 0;
        let mut scanned_to = None;
        let mut useful = (0.0, 0.0);
        loop {
            let scanned = minotari(
                &bin,
                &[
                    "scan",
                    "-p",
                    PASSWORD,
                    "-u",
                    &node_proxy,
                    "-d",
                    cli_db_arg,
                    "-n",
                    &(blocks + 10).to_string(),
                ],
            );
            invocations += 1;
            if run == 0 && invocations == 1 {
                for line in scanned.lines().filter(|l| l.contains("ERROR") || l.contains("WARN")) {
                    println!("minotari-cli scan: {line}");
                }
            }
            let now = scanned_tip(&cli_db);
            if now == scanned_to {
                if now.is_none() {
                    let tail: Vec<&str> = scanned.lines().rev().take(40).collect();
                    println!("minotari-cli scanned nothing; its output ends:");
                    tail.iter().rev().for_each(|line| println!("  {line}"));
                }
                break; // no progress: this invocation's cost is not counted
            }
            scanned_to = now;
            useful = (started.elapsed().as_secs_f64(), node_bytes.bytes() as f64);
            if now >= Some(tip_height) {
                break;
            }
        }
        node_bytes.take();
        cli_times.push(useful.0);
        cli_bytes.push(useful.1);
        cli_scanned = scanned_to.map_or(0, |h| h + 1 - demo.birthday);
        if run == 0 {
            println!(
                "minotari-cli: {invocations} `scan` invocation(s), scanned to height {scanned_to:?} of {tip_height}"
            );
        }
        cli_balance = balance(&bin, &cli_db);

        // The service: submit, follow, download (the wallet's whole exchange).
        service_bytes.take();
        let started = Instant::now();
        let client = Client::new(&service_proxy, Protocol::Http2);
        let job = submit(&client, &demo, Some(PASSWORD)).await;
        let JobEvent::Ready { download_url, .. } = last_event(&client, &job).await else {
            panic!("the job failed")
        };
        let file = download(&client, &job, &download_url).await;
        drop(client);
        our_times.push(started.elapsed().as_secs_f64());
        tokio::time::sleep(Duration::from_millis(50)).await; // the proxy tallies a connection as it closes
        our_bytes.push(service_bytes.take() as f64);
        let ours = dir.path().join(format!("ours-{run}.sqlite"));
        std::fs::write(&ours, zstd::decode_all(&file[..]).expect("a zstd file")).expect("write");
        our_balance = balance(&bin, &ours);
        owned = outputs_in_file(&ours);
    }

    let (cli_t, our_t) = (median(cli_times), median(our_times));
    let (cli_b, our_b) = (median(cli_bytes), median(our_bytes));
    let chain_outputs =
        |from: u64, count: u64| -> usize { per_height.iter().skip(from as usize).take(count as usize).sum() };
    println!(
        "wallet {} of {} ({} blocks, {} outputs, {owned} owned), birthday {}, median of {runs} runs:",
        demo.name,
        setup.label,
        blocks,
        chain_outputs(0, blocks),
        demo.birthday
    );
    println!("| client | time to a usable wallet | bytes on the wire | balance (minotari-cli `balance`) |");
    println!("|---|---|---|---|");
    println!("| minotari-cli `scan` | {cli_t:.3} s | {cli_b:.0} | {cli_balance} |");
    println!("| tari-wallet-sync | {our_t:.3} s | {our_b:.0} | {our_balance} |");
    if let Some(expected) = setup.expected_balance {
        println!("expected balance (the fixture's manifest): {expected} µT");
    }
    let ours_scanned = blocks - demo.birthday;
    // What minotari-cli downloads grows with the chain it scans; what the service sends, with the
    // wallet's own outputs.
    println!(
        "minotari-cli: {:.0} bytes per chain output it scanned ({} outputs); the service: {:.0} bytes per owned \
         output ({owned} owned), whatever the chain's size",
        cli_b / chain_outputs(demo.birthday, cli_scanned).max(1) as f64,
        chain_outputs(demo.birthday, cli_scanned),
        our_b / owned.max(1) as f64,
    );
    println!(
        "ratios (minotari-cli / ours): time {:.2}x, bytes {:.2}x; same balance: {}",
        cli_t / our_t,
        cli_b / our_b,
        cli_balance.split("Balance").nth(1) == our_balance.split("Balance").nth(1)
    );
    if cli_scanned < ours_scanned {
        // It could not finish: compare per block over what it did scan.
        let per_block = |total: f64, scanned: u64| total / scanned.max(1) as f64;
        println!(
            "minotari-cli stopped after {cli_scanned} of {ours_scanned} blocks; per block scanned: minotari-cli {:.2} ms \
             and {:.0} bytes, ours {:.3} ms and {:.0} bytes; ratios per block: time {:.1}x, bytes {:.1}x",
            per_block(cli_t, cli_scanned) * 1e3,
            per_block(cli_b, cli_scanned),
            per_block(our_t, ours_scanned) * 1e3,
            per_block(our_b, ours_scanned),
            per_block(cli_t, cli_scanned) / per_block(our_t, ours_scanned),
            per_block(cli_b, cli_scanned) / per_block(our_b, ours_scanned),
        );
    }
    server.stop().await.expect("stop");
}
