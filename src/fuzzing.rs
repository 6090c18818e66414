//! Fuzzing: entry points into every parser that reads bytes from outside (a node's HTTP answers and
//! database rows, request headers, submission bodies, sealed boxes) for the `cargo fuzz` targets in
//! `fuzz/`. Compiled only with the `fuzzing` feature, which nothing but the fuzz crate enables; each
//! function is a thin wrapper that calls the library's own code path exactly as production does, so a
//! crash found here is a crash of the service. The cache reader needs no entry here: its public API
//! (`CacheView::open` and the reads) is what the cache target drives.
//!
//! ```text
//! node HTTP   sync_page, tip_info, header_by_height, utxos_by_block, fill_details; fetch_blocks (the
//!             pager over scripted answers: each request gets the next answer of its route)
//! node LMDB   output_row, input_row, header_row, metadata_u64 / metadata_hash; NodeDb::raw_rows (seeds)
//! HTTP        range, last_event_id, bearer (request headers); submission, submission_with_type (the
//!             POST body, and its `Content-Type`)
//! seal        sealed_from_bytes, sealed_from_wire, open (the server key the submission target uses)
//! ```

use std::{
    cell::RefCell,
    future::Future,
    pin::pin,
    task::{Context, Poll, Waker},
};

use bytes::Bytes;
use http::StatusCode;
use tari_transaction_components::rpc::models::GetUtxosByBlockResponse;
use tari_wallet_sync_sse::seal::{SealError, SealedBox};
use tokio_util::sync::CancellationToken;
use zeroize::Zeroizing;

pub use crate::service::http_fuzzing::{
    Accepted, FUZZ_SERVER_SECRET, RangeAnswer, bearer, fuzz_server_key, last_event_id, range, submission,
    submission_with_type,
};
pub use crate::source::lmdb::RawRows;
pub use tari_transaction_components::transaction_components::TransactionOutput;
pub use tari_wallet_sync_sse::{
    envelope::{LABEL_SUBMISSION, SubmissionSecrets},
    seal::{LABEL_VIEW_KEY, LABEL_WALLET_PASSWORD, MAX_PLAINTEXT_LEN, Sealed},
};

pub use crate::source::{
    lmdb::rows::{MetadataKey, metadata_hash, metadata_u64},
    pager::{FetchLimits, Fetched},
};
use crate::{
    cache::{BlockData, OutputData},
    network::{self, Network},
    source::{
        NodeHeader, NodeTip, SourceError, SyncPage,
        http::{
            self as node, HEADER_PATH, SYNC_PATH, TIP_PATH, UTXOS_PATH, answer, block_outputs, found, header_query,
            node_header, node_tip, parse_json, sync_query, utxos_query,
        },
        lmdb::rows::{self, InputRow, OutputRow},
        pager::{self, PageSource},
        wire::{self, decode_sync_page},
    },
};

/// An HTTP status from the input; codes outside 100..=999 (which no HTTP response carries) read as 502.
fn status(code: u16) -> StatusCode {
    StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_GATEWAY)
}

/// A `/sync_utxos_by_block` answer as the follower reads it: status check, then the version-1 decoder
/// (version 0 when that fails).
pub fn sync_page(status_code: u16, body: &[u8]) -> Result<SyncPage, SourceError> {
    let body = answer(SYNC_PATH, status(status_code), Bytes::copy_from_slice(body))?;
    decode_sync_page(SYNC_PATH, &body)
}

/// A `/get_tip_info` answer as `NodeClient::tip` reads it.
pub fn tip_info(status_code: u16, body: &[u8]) -> Result<NodeTip, SourceError> {
    let body = answer(TIP_PATH, status(status_code), Bytes::copy_from_slice(body))?;
    node_tip(parse_json(TIP_PATH, &body)?)
}

/// A `/get_header_by_height?height={height}` answer as `NodeClient::header` reads it.
pub fn header_by_height(height: u64, status_code: u16, body: &[u8]) -> Result<Option<NodeHeader>, SourceError> {
    let body = answer(HEADER_PATH, status(status_code), Bytes::copy_from_slice(body));
    node_header(height, found(body.and_then(|b| parse_json(HEADER_PATH, &b)))?)
}

/// A `/get_utxos_by_block?header_hash=…` answer as `NodeClient::full_outputs` reads it.
pub fn utxos_by_block(
    header_hash: &[u8; 32],
    status_code: u16,
    body: &[u8],
) -> Result<Vec<TransactionOutput>, SourceError> {
    let body = answer(UTXOS_PATH, status(status_code), Bytes::copy_from_slice(body))?;
    block_outputs(header_hash, parse_json::<GetUtxosByBlockResponse>(UTXOS_PATH, &body)?)
}

/// Fills a light block's script, type and maturity from its full outputs, as the follower does.
pub fn fill_details(block: &mut BlockData, full: &[TransactionOutput]) -> Result<(), SourceError> {
    wire::fill_details(UTXOS_PATH, block, full)
}

/// The routes the pager asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    Header,
    SyncPage,
    FullOutputs,
}

/// One request of the pager, as `NodeClient` would send it (`GET {path}?{query}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub route: Route,
    pub path: &'static str,
    pub query: String,
}

/// A node's answer to a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    pub body: Vec<u8>,
}

/// A `PageSource` that answers each request with `node(request)`, decoded as `NodeClient` decodes it.
struct Scripted<F>(RefCell<F>);

impl<F: FnMut(&Request) -> Answer> Scripted<F> {
    fn ask(&self, route: Route, path: &'static str, query: String) -> Result<Bytes, SourceError> {
        let request = Request { route, path, query };
        let reply = (self.0.borrow_mut())(&request);
        answer(path, status(reply.status), Bytes::from(reply.body))
    }
}

impl<F: FnMut(&Request) -> Answer> PageSource for Scripted<F> {
    async fn header(&self, height: u64) -> Result<Option<NodeHeader>, SourceError> {
        let body = self.ask(Route::Header, HEADER_PATH, header_query(height));
        node_header(height, found(body.and_then(|b| parse_json(HEADER_PATH, &b)))?)
    }

    async fn sync_page(&self, start_header_hash: &[u8; 32], limit: u64, page: u64) -> Result<SyncPage, SourceError> {
        let query = sync_query(start_header_hash, limit, page)?;
        decode_sync_page(SYNC_PATH, &self.ask(Route::SyncPage, SYNC_PATH, query)?)
    }

    async fn full_outputs(&self, header_hash: &[u8; 32]) -> Result<Vec<TransactionOutput>, SourceError> {
        let body = self.ask(Route::FullOutputs, UTXOS_PATH, utxos_query(header_hash))?;
        block_outputs(header_hash, node::parse_json(UTXOS_PATH, &body)?)
    }
}

/// Runs a future whose every step is ready (the scripted node never waits). A future that waits would
/// wait forever here; it panics instead, as that is a bug of the harness.
fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    for _ in 0..1_000_000 {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
    }
    panic!("a scripted fetch waited: its node answers at once")
}

/// The follower's fetch of the blocks from height `from` up (extending `prev`), every request answered
/// by `node`: the pager's paging, merging, fork and link checks, and full outputs if `limits` asks.
pub fn fetch_blocks(
    from: u64,
    prev: Option<[u8; 32]>,
    limits: &FetchLimits,
    node: impl FnMut(&Request) -> Answer,
) -> Result<Fetched, SourceError> {
    let source = Scripted(RefCell::new(node));
    block_on(pager::fetch_blocks(
        &source,
        from,
        prev,
        limits,
        &CancellationToken::new(),
    ))
}

/// Sets the process network to LocalNet (the fixture's and the demo chain's), before header hashes.
pub fn use_localnet() {
    network::use_network(Network::LocalNet).expect("no other network set in a fuzz process");
}

/// A `utxos` row as the import reads it: the row, then what the cache keeps of its output.
pub fn output_row(bytes: &[u8]) -> Result<OutputData, String> {
    rows::decode::<OutputRow>(bytes).map(|row| row.to_output_data())
}

/// An `inputs` row as the import reads it: the hash of the output it spends.
pub fn input_row(bytes: &[u8]) -> Result<[u8; 32], String> {
    rows::decode::<InputRow>(bytes).map(|row| *row.input.output_hash())
}

/// A `headers` row as the import reads it: height, hash (under the process network, see `use_localnet`)
/// and previous hash.
pub fn header_row(bytes: &[u8]) -> Result<NodeHeader, String> {
    let header = rows::decode_header(bytes)?;
    Ok(NodeHeader {
        height: header.height,
        hash: *header.hash(),
        prev_hash: *header.prev_hash,
        timestamp: header.timestamp.as_u64(),
    })
}

/// A box as the job store keeps it (`E ‖ n ‖ c`).
pub fn sealed_from_bytes(bytes: &[u8]) -> Result<Sealed, SealError> {
    Sealed::from_bytes(bytes)
}

/// A box as a submission carries it (three hex strings in JSON); `None` for JSON that is not a box.
pub fn sealed_from_wire(json: &[u8]) -> Option<Result<Sealed, SealError>> {
    let wire: SealedBox = serde_json::from_slice(json).ok()?;
    Some(Sealed::from_wire(&wire))
}

/// Opens a box with the submission target's server key (`fuzz_server_key`) under `label`.
pub fn open(label: &[u8], sealed: &Sealed) -> Result<Zeroizing<Vec<u8>>, SealError> {
    fuzz_server_key().open(label, sealed)
}
