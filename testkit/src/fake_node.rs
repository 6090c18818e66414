//! Fake node: an HTTP server on 127.0.0.1:0 that answers the node's wallet query routes from a chain
//! of `BlockData` (a demo cache read back, or made-up blocks), so followers are tested through real
//! HTTP. Tests can grow the chain, replace the blocks above a height with another branch (a reorg),
//! slow the sync pages down, refuse connections, answer 503, or send broken JSON. Test support only:
//! nothing here is a node.

mod routes;

use std::{
    convert::Infallible,
    net::SocketAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::Duration,
};

use blake2::{Blake2b, Digest, digest::consts::U32};
use bytes::Bytes;
use http_body_util::Full;
use hyper::{Request, Response, body::Incoming, service::service_fn};
use hyper_util::rt::TokioIo;
use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use routes::{Chain, error};
pub use routes::{SyncRequest, full_output};
use tokio::{net::TcpListener, sync::watch};
use tokio_util::sync::CancellationToken;

use tari_wallet_sync::{
    cache::{BlockData, OutputData},
    source::{
        FollowerConfig, RetryPolicy,
        lmdb::{LmdbError, NodeDb},
    },
};

/// Follower timings for tests against a fake node: polls and retries in milliseconds (the circuit opens
/// after 4 faults for 80 ms, up to 200 ms), so outages and recoveries take a test a fraction of a second.
pub fn fast_follower_config() -> FollowerConfig {
    FollowerConfig {
        poll_interval: Duration::from_millis(20),
        retry: RetryPolicy {
            initial: Duration::from_millis(10),
            max: Duration::from_millis(40),
            breaker_after: 4,
            open_for: Duration::from_millis(80),
            max_open: Duration::from_millis(200),
        },
        ..FollowerConfig::default()
    }
}

/// How the fake node misbehaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Fault {
    #[default]
    None,
    /// Not listening: connections are refused and open ones are closed.
    Refuse,
    /// Every route answers 503.
    Unavailable,
    /// Every successful answer is cut in half (invalid JSON).
    TruncatedJson,
    /// Sync pages carry a 31-byte header hash (valid JSON, invalid protocol).
    ShortHash,
}

/// How the fake node's `/get_utxos_by_block` misbehaves (a hostile or broken node's full outputs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FullOutputFault {
    #[default]
    None,
    /// Every output comes back altered (its maturity raised by one): valid JSON, a plausible output,
    /// but not the one the chain holds, so it does not hash to the chain's output hash.
    Tampered,
    /// The block comes back without any outputs.
    Missing,
    /// The route answers 503.
    Unavailable,
}

struct Behaviour {
    fault: Fault,
    full_fault: FullOutputFault,
    page_delay: Duration,
    full_delay: Duration,
    chunk: usize,
}

struct Shared {
    chain: Mutex<Chain>,
    behaviour: Mutex<Behaviour>,
    log: Mutex<Vec<SyncRequest>>,
    requests: AtomicU64,
    full_requests: AtomicU64,
    listening: AtomicBool,
}

/// A running fake node. Dropping it stops the server.
pub struct FakeNode {
    addr: SocketAddr,
    shared: Arc<Shared>,
    listen: watch::Sender<bool>,
    stop: CancellationToken,
}

impl Drop for FakeNode {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl FakeNode {
    /// Starts serving `blocks` (consecutive, from any height) on 127.0.0.1 at a free port.
    pub async fn start(blocks: Vec<BlockData>) -> std::io::Result<FakeNode> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            chain: Mutex::new(Chain::new(blocks)),
            behaviour: Mutex::new(Behaviour {
                fault: Fault::None,
                full_fault: FullOutputFault::None,
                page_delay: Duration::ZERO,
                full_delay: Duration::ZERO,
                chunk: 2000,
            }),
            log: Mutex::new(Vec::new()),
            requests: AtomicU64::new(0),
            full_requests: AtomicU64::new(0),
            listening: AtomicBool::new(true),
        });
        let (listen, listen_rx) = watch::channel(true);
        let stop = CancellationToken::new();
        tokio::spawn(serve(listener, addr, Arc::clone(&shared), listen_rx, stop.clone()));
        Ok(FakeNode {
            addr,
            shared,
            listen,
            stop,
        })
    }

    /// Starts serving a node database's chain (a stopped node's LMDB, such as the test fixture), with its
    /// genuine full outputs on `/get_utxos_by_block` and genuine headers on `/get_header_by_height`.
    pub async fn from_lmdb(db: &NodeDb) -> Result<FakeNode, LmdbError> {
        let tip = db.chain_info()?.tip_height;
        let (mut blocks, mut full, mut headers) = (Vec::new(), Vec::new(), Vec::new());
        db.for_each_block_with_outputs(0..=tip, |block, outputs| {
            full.push((block.hash, outputs));
            blocks.push(block);
            Ok(())
        })?;
        for block in &blocks {
            if let Some((header, hash)) = db.full_header(block.height)? {
                headers.push((hash, header));
            }
        }
        let node = FakeNode::start(blocks).await.map_err(|source| LmdbError::Io {
            dir: db.dir().into(),
            source,
        })?;
        let mut chain = node.shared.chain.lock().expect("lock");
        for (hash, outputs) in full {
            chain.set_full_outputs(hash, outputs);
        }
        for (hash, header) in headers {
            chain.set_header(hash, header);
        }
        drop(chain);
        Ok(node)
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// A copy of the chain served.
    pub fn blocks(&self) -> Vec<BlockData> {
        self.shared.chain.lock().expect("lock").blocks().to_vec()
    }

    pub fn tip_height(&self) -> Option<u64> {
        self.shared.chain.lock().expect("lock").tip().map(|b| b.height)
    }

    /// Appends blocks to the chain (they must continue it).
    pub fn push_blocks(&self, blocks: Vec<BlockData>) {
        self.shared.chain.lock().expect("lock").extend(blocks);
    }

    /// Whether `/get_tip_info` reports the node synced (it does by default).
    pub fn set_synced(&self, synced: bool) {
        self.shared.chain.lock().expect("lock").unsynced = !synced;
    }

    /// Replaces every block above `height` with `branch` (which must start at `height + 1`).
    pub fn reorg(&self, height: u64, branch: Vec<BlockData>) {
        let mut chain = self.shared.chain.lock().expect("lock");
        chain.truncate_above(height);
        chain.extend(branch);
    }

    /// Sets the fault; returns once it is in effect (for `Refuse`: the port is closed; for `None`
    /// after `Refuse`: it is open again).
    pub async fn set_fault(&self, fault: Fault) {
        self.shared.behaviour.lock().expect("lock").fault = fault;
        let listening = fault != Fault::Refuse;
        self.listen.send_replace(listening);
        while self.shared.listening.load(Ordering::SeqCst) != listening {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    /// Delays every `/sync_utxos_by_block` answer by `delay`.
    pub fn set_page_delay(&self, delay: Duration) {
        self.shared.behaviour.lock().expect("lock").page_delay = delay;
    }

    /// Delays every `/get_utxos_by_block` answer by `delay` (a node across a LAN, a busy node).
    pub fn set_full_output_delay(&self, delay: Duration) {
        self.shared.behaviour.lock().expect("lock").full_delay = delay;
    }

    /// Sets how `/get_utxos_by_block` misbehaves.
    pub fn set_full_output_fault(&self, fault: FullOutputFault) {
        self.shared.behaviour.lock().expect("lock").full_fault = fault;
    }

    /// `/get_utxos_by_block` requests received so far.
    pub fn full_output_requests(&self) -> u64 {
        self.shared.full_requests.load(Ordering::Relaxed)
    }

    /// Outputs (and inputs) per sync entry; the node uses 2000.
    pub fn set_chunk_size(&self, chunk: usize) {
        self.shared.behaviour.lock().expect("lock").chunk = chunk.max(1);
    }

    /// Every sync request answered so far.
    pub fn sync_requests(&self) -> Vec<SyncRequest> {
        self.shared.log.lock().expect("lock").clone()
    }

    /// Requests received on every route.
    pub fn request_count(&self) -> u64 {
        self.shared.requests.load(Ordering::Relaxed)
    }
}

async fn serve(
    listener: TcpListener,
    addr: SocketAddr,
    shared: Arc<Shared>,
    mut listen: watch::Receiver<bool>,
    stop: CancellationToken,
) {
    let mut listener = Some(listener);
    // Connections accepted while the current listener was open: closed with it.
    let mut open = CancellationToken::new();
    loop {
        tokio::select! {
            _ = stop.cancelled() => break,
            changed = listen.changed() => {
                if changed.is_err() {
                    break;
                }
                let want = *listen.borrow_and_update();
                if want && listener.is_none() {
                    match TcpListener::bind(addr).await {
                        Ok(l) => listener = Some(l),
                        Err(e) => tracing::error!(%addr, error = %e, "fake node: cannot listen again"),
                    }
                } else if !want {
                    listener = None;
                    open.cancel();
                    open = CancellationToken::new();
                }
                shared.listening.store(listener.is_some(), Ordering::SeqCst);
            }
            accepted = async { listener.as_ref().expect("guarded").accept().await }, if listener.is_some() => {
                if let Ok((stream, _)) = accepted {
                    let _ = stream.set_nodelay(true);
                    tokio::spawn(connection(stream, Arc::clone(&shared), open.clone()));
                }
            }
        }
    }
    open.cancel();
}

async fn connection(stream: tokio::net::TcpStream, shared: Arc<Shared>, close: CancellationToken) {
    let service = service_fn(move |request| answer(Arc::clone(&shared), request));
    let conn = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service);
    tokio::select! {
        _ = conn => {}
        _ = close.cancelled() => {}
    }
}

async fn answer(shared: Arc<Shared>, request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    shared.requests.fetch_add(1, Ordering::Relaxed);
    let (fault, full_fault, page_delay, full_delay, chunk) = {
        let b = shared.behaviour.lock().expect("lock");
        (b.fault, b.full_fault, b.page_delay, b.full_delay, b.chunk)
    };
    let path = request.uri().path().to_owned();
    let query = request.uri().query().unwrap_or("").to_owned();
    let full_route = path == "/get_utxos_by_block";
    if full_route {
        shared.full_requests.fetch_add(1, Ordering::Relaxed);
    }
    let delay = if full_route { full_delay } else { page_delay };
    if (full_route || path == "/sync_utxos_by_block") && !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let mut reply = match fault {
        Fault::Unavailable => error(503, "the node is busy"),
        _ if full_route && full_fault == FullOutputFault::Unavailable => error(503, "the node is busy"),
        _ => {
            let chain = shared.chain.lock().expect("lock");
            let mut log = shared.log.lock().expect("lock");
            routes::answer(&chain, &path, &query, chunk, &mut log)
        }
    };
    if reply.status == 200 && full_route {
        alter_full_outputs(&mut reply.body, full_fault);
    }
    if reply.status == 200 {
        match fault {
            Fault::TruncatedJson => reply.body.truncate(reply.body.len() / 2),
            Fault::ShortHash if path == "/sync_utxos_by_block" => shorten_first_hash(&mut reply.body),
            _ => {}
        }
    }
    let response = Response::builder()
        .status(reply.status)
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(reply.body)))
        .expect("a valid status and header");
    Ok(response)
}

/// Applies `fault` to a `/get_utxos_by_block` body.
fn alter_full_outputs(body: &mut Vec<u8>, fault: FullOutputFault) {
    use tari_transaction_components::rpc::models::GetUtxosByBlockResponse;
    if fault == FullOutputFault::None {
        return;
    }
    let Ok(mut response) = serde_json::from_slice::<GetUtxosByBlockResponse>(body) else {
        return;
    };
    match fault {
        FullOutputFault::Tampered => {
            for output in &mut response.outputs {
                output.features.maturity += 1;
            }
        }
        FullOutputFault::Missing => response.outputs.clear(),
        FullOutputFault::None | FullOutputFault::Unavailable => {}
    }
    *body = serde_json::to_vec(&response).expect("models serialize");
}

/// Replaces the first entry's header hash with a 31-byte one.
fn shorten_first_hash(body: &mut Vec<u8>) {
    let Ok(mut value) = serde_json::from_slice::<serde_json::Value>(body) else {
        return;
    };
    if let Some(entry) = value.pointer_mut("/blocks/0/header_hash") {
        *entry = serde_json::Value::String(base64_of(&[0x5a; 31]));
    }
    *body = serde_json::to_vec(&value).expect("serializes");
}

fn base64_of(bytes: &[u8]) -> String {
    use base64::{Engine, prelude::BASE64_STANDARD};
    BASE64_STANDARD.encode(bytes)
}

fn hash(parts: &[&[u8]]) -> [u8; 32] {
    let mut h = Blake2b::<U32>::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

/// Made-up blocks for tests that need shapes rather than genuine outputs: one block per entry of
/// `outputs` (that many outputs: random commitments, keys and encrypted data, a one-key script, every
/// fifth a coinbase with a maturity), after the block `after` (height and hash) or from genesis, which
/// then carries LocalNet's official genesis hash (a made-up LocalNet chain, as the demo's). From the
/// second block on, each block spends the first output of the block before it. Deterministic for
/// `seed`; another seed makes another branch.
pub fn synthetic_blocks(after: Option<(u64, [u8; 32])>, outputs: &[usize], seed: u64) -> Vec<BlockData> {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let (mut height, mut prev) = match after {
        Some((h, hash)) => (h + 1, hash),
        None => (0, [0; 32]),
    };
    let mut blocks: Vec<BlockData> = Vec::with_capacity(outputs.len());
    for &count in outputs {
        let block_hash = match height {
            0 => tari_wallet_sync::network::genesis_hash(tari_wallet_sync::network::Network::LocalNet),
            _ => hash(&[b"fake block", &seed.to_le_bytes(), &height.to_le_bytes(), &prev]),
        };
        let outputs = (0..count)
            .map(|i| {
                let mut field = || {
                    let mut b = [0u8; 32];
                    rng.fill_bytes(&mut b);
                    b
                };
                let (commitment, sender_offset_public_key, script_key) = (field(), field(), field());
                let mut encrypted_data = vec![0u8; rng.gen_range(80..=200)];
                rng.fill_bytes(&mut encrypted_data);
                let coinbase = i % 5 == 4;
                OutputData {
                    output_hash: hash(&[b"fake output", &block_hash, &(i as u64).to_le_bytes()]),
                    commitment,
                    sender_offset_public_key,
                    encrypted_data,
                    script: [&[0x7e][..], &script_key].concat(),
                    output_type: u8::from(coinbase),
                    maturity: if coinbase { height + 720 } else { 0 },
                }
            })
            .collect();
        let spent = blocks
            .last()
            .and_then(|b| b.outputs.first())
            .map(|o| vec![o.output_hash])
            .unwrap_or_default();
        blocks.push(BlockData {
            height,
            hash: block_hash,
            prev_hash: prev,
            timestamp: 1_700_000_000 + height * 120,
            outputs,
            spent,
            output_details: true,
        });
        prev = block_hash;
        height += 1;
    }
    blocks
}
