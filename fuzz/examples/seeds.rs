//! Regenerates the seed corpus of every fuzz target (`fuzz/corpus/<target>/`) from the project's real
//! formats: demo caches written by the library's cache writer, the node fixture's database
//! (`tests/fixtures/node-lmdb`) read by the library's LMDB reader, the same chain served by the fake node
//! and fetched by the pager, and submissions sealed to the submission target's key. Rerunning it rewrites
//! the same bytes, except in the demo chain's outputs (the official crate draws their range proofs' and
//! encryption's randomness). Every seed is checked to decode as what it stands for.
//!
//! ```sh
//! CARGO_TARGET_DIR=target cargo run --manifest-path fuzz/Cargo.toml --example seeds
//! ```

use std::{
    fs,
    io::{Read, Write},
    net::{SocketAddr, TcpStream},
    path::{Path, PathBuf},
};

use rand::{SeedableRng, rngs::StdRng};
use tari_wallet_sync::{
    cache::{Cache, CacheOptions, CacheView},
    demo::chain::{DemoChainSpec, write_demo_chain},
    fuzzing::{self, Answer, FetchLimits, LABEL_SUBMISSION, LABEL_VIEW_KEY, MetadataKey, Request, Route},
    source::{blocks_from_view, lmdb::NodeDb},
};
use tari_wallet_sync_fuzz::{
    FIX_BLOCKS, FIX_FILES, FIX_SLOTS, FULL_OUTPUTS, PREV, PagerInput, decode_cache, encode_cache, write_files,
};
use tari_wallet_sync_sse::{
    envelope::SubmissionSecrets,
    seal::{Sealed, seal_with_rng},
};
use tari_wallet_sync_testkit::fake_node::FakeNode;

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let corpus = root.join("corpus");
    let work = tempfile::tempdir().expect("a temporary directory");
    fuzzing::use_localnet();
    let demo = work.path().join("demo");
    let wallets = write_demo_chain(
        &DemoChainSpec {
            outputs: 40,
            blocks: 10,
            wallets: 1,
            seed: 11,
        },
        &demo,
    )
    .expect("a demo chain");
    cache_seeds(&corpus.join("cache_files"), &demo, work.path());
    let db_dir = work.path().join("node-lmdb");
    unpack_fixture(&root.join("../tests/fixtures/node-lmdb/data.mdb.zst"), &db_dir);
    let db = NodeDb::open(&db_dir).expect("the node fixture opens");
    lmdb_seeds(&corpus.join("lmdb_rows"), &db);
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let node = runtime.block_on(FakeNode::from_lmdb(&db)).expect("the fake node");
    node_seeds(&corpus.join("node_responses"), node.addr());
    pager_seeds(&corpus.join("node_pager"), &node, &db);
    drop(node);
    header_seeds(&corpus.join("http_headers"));
    submission_seeds(
        &corpus.join("submission"),
        &wallets[0].view_key,
        &wallets[0].spend_public_key,
    );
    println!("seeds written to {}", corpus.display());
}

/// Empties `dir` and writes `seeds` (name, bytes) into it.
fn write_seeds(dir: &Path, seeds: &[(&str, Vec<u8>)]) {
    let _ = fs::remove_dir_all(dir);
    fs::create_dir_all(dir).expect("a corpus directory");
    for (name, bytes) in seeds {
        fs::write(dir.join(name), bytes).expect("a seed");
    }
    let total: usize = seeds.iter().map(|(_, b)| b.len()).sum();
    println!("{}: {} seeds, {total} bytes", dir.display(), seeds.len());
}

fn cache_files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = fs::read_dir(dir)
        .expect("a cache directory")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name != "lock")
        .map(|name| {
            let bytes = fs::read(dir.join(&name)).expect("a cache file");
            (name, bytes)
        })
        .collect();
    files.sort();
    files
}

/// Caches the writer made from the demo chain: as the generator wrote it, in small segments with
/// spent-index runs (both header slots in use), after a rollback, of light blocks, and empty.
fn cache_seeds(out: &Path, demo: &Path, work: &Path) {
    let view = CacheView::open(demo).expect("the demo cache");
    let blocks = blocks_from_view(&view, ..);
    let network = view.network();
    let small = CacheOptions {
        segment_outputs: 12,
        spent_tail_max: 2,
    };
    let segmented = work.join("segmented");
    let mut cache = Cache::create_with(&segmented, network, small).expect("a cache");
    for block in &blocks {
        cache.append_block(block).expect("appends");
    }
    let segmented_files = cache_files(&segmented);
    let tip = cache.tip().expect("a tip").height;
    cache.rollback_to(tip / 2).expect("rolls back");
    let rolled_back = cache_files(&segmented);
    drop(cache);
    let light = work.join("light");
    let mut cache = Cache::create(&light, network).expect("a cache");
    cache
        .append_blocks(blocks.iter().take(4).map(|b| b.light()))
        .expect("appends");
    let light_files = cache_files(&light);
    let empty = work.join("empty");
    drop(Cache::create(&empty, network).expect("a cache"));
    let all = FIX_SLOTS | FIX_BLOCKS | FIX_FILES;
    let seeds = [
        ("demo", encode_cache(0, &cache_files(demo))),
        ("segmented-runs", encode_cache(all, &segmented_files)),
        ("segmented-runs-raw", encode_cache(0, &segmented_files)),
        ("rolled-back", encode_cache(all, &rolled_back)),
        ("light", encode_cache(FIX_SLOTS | FIX_FILES, &light_files)),
        ("empty", encode_cache(0, &cache_files(&empty))),
    ];
    // Each seed, as the target decodes it (fix-ups included), is a cache that passes the full check.
    let check = work.join("check");
    fs::create_dir_all(&check).expect("a directory");
    for (name, seed) in &seeds {
        write_files(&check, &decode_cache(seed));
        let view = CacheView::open(&check).unwrap_or_else(|e| panic!("seed {name} opens: {e}"));
        view.verify().unwrap_or_else(|e| panic!("seed {name} verifies: {e}"));
    }
    write_seeds(out, &seeds);
}

fn unpack_fixture(zst: &Path, dir: &Path) {
    fs::create_dir_all(dir).expect("a directory");
    let compressed = fs::read(zst).expect("the node fixture");
    let data = zstd::decode_all(&compressed[..]).expect("zstd");
    fs::write(dir.join("data.mdb"), data).expect("data.mdb");
}

/// Rows of blocks with several outputs and inputs, as stored, and the metadata values.
fn lmdb_seeds(out: &Path, db: &NodeDb) {
    let mut seeds: Vec<(String, Vec<u8>)> = Vec::new();
    let tagged = |kind: u8, bytes: &[u8]| [&[kind][..], bytes].concat();
    for height in [1, 32, 102] {
        let rows = db.raw_rows(height).expect("reads").expect("a block");
        let header = fuzzing::header_row(&rows.header).expect("a stored header decodes");
        assert_eq!(Some(header), db.header(height).expect("reads"));
        seeds.push((format!("header-{height}"), tagged(2, &rows.header)));
        if let Some(row) = rows.outputs.first() {
            fuzzing::output_row(row).expect("a stored output row decodes");
            seeds.push((format!("output-{height}"), tagged(0, row)));
        }
        if let Some(row) = rows.inputs.first() {
            fuzzing::input_row(row).expect("a stored input row decodes");
            seeds.push((format!("input-{height}"), tagged(1, row)));
        }
        if height == 1 {
            for (key, value) in &rows.metadata {
                let kind = match key {
                    MetadataKey::ChainHeight => 3,
                    MetadataKey::BestBlock => 4,
                    MetadataKey::PruningHorizon => 5,
                    MetadataKey::PrunedHeight => 6,
                    MetadataKey::BestBlockTimestamp => 7,
                };
                seeds.push((format!("metadata-{key:?}"), tagged(kind, value)));
            }
        }
    }
    let seeds: Vec<(&str, Vec<u8>)> = seeds.iter().map(|(n, b)| (n.as_str(), b.clone())).collect();
    write_seeds(out, &seeds);
}

/// `GET path_query` over HTTP/1.1 with `Connection: close`: the status and the (de-chunked) body.
fn get(addr: SocketAddr, path_query: &str) -> (u16, Vec<u8>) {
    let mut stream = TcpStream::connect(addr).expect("the fake node");
    write!(
        stream,
        "GET {path_query} HTTP/1.1\r\nHost: {addr}\r\nAccept: application/json\r\nConnection: close\r\n\r\n"
    )
    .expect("a request");
    let mut response = Vec::new();
    stream.read_to_end(&mut response).expect("a response");
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a header block");
    let head = String::from_utf8_lossy(&response[..split]).to_ascii_lowercase();
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).expect("a status");
    let mut body = response[split + 4..].to_vec();
    if head.contains("transfer-encoding: chunked") {
        let (mut plain, mut rest) = (Vec::new(), &body[..]);
        while let Some(eol) = rest.windows(2).position(|w| w == b"\r\n") {
            let len = usize::from_str_radix(String::from_utf8_lossy(&rest[..eol]).trim(), 16).expect("a chunk size");
            if len == 0 {
                break;
            }
            plain.extend_from_slice(&rest[eol + 2..eol + 2 + len]);
            rest = &rest[eol + 4 + len..];
        }
        body = plain;
    }
    (status, body)
}

fn header_hash(addr: SocketAddr, height: u64) -> [u8; 32] {
    let (status, body) = get(addr, &format!("/get_header_by_height?height={height}"));
    let header = fuzzing::header_by_height(height, status, &body).expect("a header");
    header.expect("the block exists").hash
}

/// One answer of each route, as the fixture's node gives them, plus refusals.
fn node_seeds(out: &Path, addr: SocketAddr) {
    let with = |route: u8, status: u16, prefix: &[u8], body: &[u8]| {
        [&[route][..], &status.to_le_bytes(), prefix, body].concat()
    };
    let start = hex::encode(header_hash(addr, 30));
    let sync = |version: u8| {
        format!(
            "/sync_utxos_by_block?start_header_hash={start}&limit=3&page=0&exclude_spent=false&exclude_inputs=false&\
             version={version}"
        )
    };
    let (_, v1) = get(addr, &sync(1));
    let (_, v0) = get(addr, &sync(0));
    let (_, tip) = get(addr, "/get_tip_info");
    let (_, header) = get(addr, "/get_header_by_height?height=32");
    let (missing_status, missing) = get(addr, "/get_header_by_height?height=100000");
    let hash = header_hash(addr, 1);
    let (_, utxos) = get(addr, &format!("/get_utxos_by_block?header_hash={}", hex::encode(hash)));
    for page in [&v1, &v0] {
        assert!(
            !fuzzing::sync_page(200, page)
                .expect("a page decodes")
                .entries
                .is_empty()
        );
    }
    fuzzing::tip_info(200, &tip).expect("the tip decodes");
    assert!(fuzzing::header_by_height(32, 200, &header).expect("decodes").is_some());
    assert!(
        fuzzing::header_by_height(100_000, missing_status, &missing)
            .expect("decodes")
            .is_none()
    );
    assert!(!fuzzing::utxos_by_block(&hash, 200, &utxos).expect("decodes").is_empty());
    write_seeds(
        out,
        &[
            ("sync-v1", with(0, 200, &[], &v1)),
            ("sync-v0", with(0, 200, &[], &v0)),
            ("tip", with(1, 200, &[], &tip)),
            ("header-32", with(2, 200, &32u64.to_le_bytes(), &header)),
            (
                "header-missing",
                with(2, missing_status, &100_000u64.to_le_bytes(), &missing),
            ),
            ("utxos-1", with(3, 200, &hash, &utxos)),
            ("unavailable", with(0, 503, &[], br#"{"error":"busy"}"#)),
        ],
    );
}

/// Real fetches of the fixture's chain: every request the pager made, answered by the fake node, in order.
fn pager_seeds(out: &Path, node: &FakeNode, db: &NodeDb) {
    let addr = node.addr();
    let record = |flags: u8, from: u64, page_limit: u16, max_blocks: u16| -> Vec<u8> {
        let prev = (flags & PREV != 0).then(|| db.header(from - 1).expect("reads").expect("a header").hash);
        let input = PagerInput {
            flags,
            from,
            prev,
            page_limit,
            max_blocks,
            max_outputs: 10_000,
            answers: Default::default(),
        };
        let limits = FetchLimits {
            page_limit: u64::from(page_limit),
            max_blocks: u64::from(max_blocks),
            max_outputs: 10_000,
            full_outputs: flags & FULL_OUTPUTS != 0,
            full_concurrency: 4,
        };
        let mut answers = Vec::new();
        let fetched = fuzzing::fetch_blocks(from, prev, &limits, |request: &Request| {
            let (status, body) = get(addr, &format!("{}?{}", request.path, request.query));
            let route = match request.route {
                Route::Header => 0,
                Route::SyncPage => 1,
                Route::FullOutputs => 2,
            };
            answers.push((route, status, body.clone()));
            Answer { status, body }
        });
        assert!(
            matches!(fetched, Ok(fuzzing::Fetched::Blocks(ref b)) if !b.is_empty()),
            "a seed fetch gathers blocks"
        );
        input.encode(&answers)
    };
    let from_genesis = record(0, 0, 4, 12);
    let window_edge = record(PREV, 95, 3, 10);
    let full = record(PREV | FULL_OUTPUTS, 30, 2, 3);
    node.set_chunk_size(1);
    let chunked = record(PREV, 31, 2, 3);
    write_seeds(
        out,
        &[
            ("from-genesis", from_genesis),
            ("window-edge", window_edge),
            ("full-outputs", full),
            ("chunked", chunked),
        ],
    );
}

fn header_seeds(out: &Path) {
    let with_len = |len: u64, value: &str| [&len.to_le_bytes()[..], value.as_bytes()].concat();
    write_seeds(
        out,
        &[
            ("range-first", with_len(100, "bytes=0-9")),
            ("range-suffix", with_len(100, "bytes=-500")),
            ("range-open", with_len(100, "bytes=90-")),
            ("range-reversed", with_len(100, "bytes=5-1")),
            ("range-multi", with_len(100, "bytes=0-1,5-6")),
            ("range-empty-file", with_len(0, "bytes=0-")),
            ("event-id", with_len(0, "17")),
            ("event-id-spaces", with_len(0, " 42 ")),
            ("bearer", with_len(0, "Bearer Jf3kZ0q-Ux_9vA2b")),
            ("bearer-lower", with_len(0, "bearer   tok  ")),
            ("basic", with_len(0, "Basic dXNlcjpwYXNz")),
        ],
    );
}

/// A submission seed (modes 0, 1, 4 and 5) validated as the submission target reads it.
fn as_the_target_reads(seed: &[u8]) -> Result<fuzzing::Accepted, tari_wallet_sync::service::ApiError> {
    let (&mode, body) = seed.split_first().expect("a mode byte");
    let loopback = mode % 2 == 1;
    match mode % 6 {
        0 | 1 => fuzzing::submission(body, loopback),
        4 | 5 => match body.iter().position(|&b| b == b'\n') {
            Some(at) => fuzzing::submission_with_type(Some(&body[..at]), &body[at + 1..], loopback),
            None => fuzzing::submission_with_type(None, body, loopback),
        },
        other => panic!("mode {other} is not a submission"),
    }
}

/// Bodies sealed to the submission target's key (`fuzz_server_key`) with a seeded random source and a
/// fixed timestamp (the target's engine takes any within a century).
fn submission_seeds(out: &Path, view_key: &str, spend_public_key: &str) {
    let server = fuzzing::fuzz_server_key();
    let mut rng = StdRng::seed_from_u64(17);
    let secrets = SubmissionSecrets {
        view_key: view_key.to_owned(),
        spend_public_key: spend_public_key.to_owned(),
        birthday: 5,
        wallet_password: "correct horse battery staple".to_owned(),
        job_secret: "5e".repeat(32),
        timestamp: 1_800_000_000,
    };
    let full = secrets
        .seal_with_rng(&mut rng, &server.public_key(), Some(&server.key_id()))
        .expect("seals");
    let minimal = secrets
        .seal_with_rng(&mut rng, &server.public_key(), None)
        .expect("seals");
    let mut sealed = |label: &[u8], plaintext: &[u8]| -> Sealed {
        seal_with_rng(&mut rng, &server.public_key(), label, plaintext).expect("seals")
    };
    let plaintext = secrets.to_plaintext();
    let wrong_label = sealed(LABEL_VIEW_KEY, &plaintext);
    let legacy_view_box = sealed(LABEL_VIEW_KEY, &hex::decode(view_key).expect("a hex view key"));
    let envelope_box = sealed(LABEL_SUBMISSION, &plaintext);
    let wire = |s: &Sealed| serde_json::to_value(s.to_wire()).expect("a box serializes");
    let body = |mode: u8, value: serde_json::Value| [vec![mode], value.to_string().into_bytes()].concat();
    let full = serde_json::to_value(&full).expect("JSON");
    let accepted = fuzzing::submission(full.to_string().as_bytes(), false).expect("a sealed submission is accepted");
    assert!(accepted.remembered && accepted.birthday == 5);
    let plain = serde_json::json!({"version": 2, "plain": serde_json::to_value(&secrets).expect("JSON")});
    let plain_accepted = fuzzing::submission(plain.to_string().as_bytes(), true).expect("plain from loopback");
    assert!(!plain_accepted.remembered);
    // Keys as a user pastes them: padded, upper-case hex. Accepted, so the scan must read them the same way.
    let mut padded_secrets = secrets.clone();
    padded_secrets.view_key = format!(" {}\n", view_key.to_uppercase());
    padded_secrets.spend_public_key = format!("\t{spend_public_key} ");
    let padded = serde_json::json!({"version": 2, "plain": serde_json::to_value(&padded_secrets).expect("JSON")});
    fuzzing::submission(padded.to_string().as_bytes(), true).expect("padded keys are accepted");
    // Input checked at the door: each of these once panicked, or failed only after a whole scan.
    let refused = |seed: &[u8], code: &str| {
        assert_eq!(as_the_target_reads(seed).err().map(|e| e.code()), Some(code), "{code}");
    };
    let with_password = |password: String| {
        let mut long = secrets.clone();
        long.wallet_password = password;
        long
    };
    let plain_of =
        |s: &SubmissionSecrets| serde_json::json!({"version": 2, "plain": serde_json::to_value(s).expect("JSON")});
    // A password within the wallet file's bound whose JSON escaping outgrows a box: sealing it to the
    // server's own key panicked the connection's task.
    let escaped = plain_of(&with_password("\"".repeat(4096)));
    let plain_over_a_box = body(1, escaped);
    refused(&plain_over_a_box, "PASSWORD_TOO_LONG");
    // One byte over what a wallet file takes: accepted, it failed after its scan.
    let plain_long_password = body(1, plain_of(&with_password("p".repeat(4097))));
    refused(&plain_long_password, "PASSWORD_TOO_LONG");
    let sealed_long_password = body(
        0,
        serde_json::to_value(
            with_password("p".repeat(4097))
                .seal_with_rng(&mut rng, &server.public_key(), Some(&server.key_id()))
                .expect("seals: within a box"),
        )
        .expect("JSON"),
    );
    refused(&sealed_long_password, "PASSWORD_TOO_LONG");
    let mut long_key = secrets.clone();
    long_key.view_key = format!("{view_key}{}", " ".repeat(200));
    let long_key_field = body(1, plain_of(&long_key));
    refused(&long_key_field, "FIELD_TOO_LONG");
    // The content type, with the body a browser page could send without a CORS preflight.
    let typed = |content_type: Option<&str>, mode: u8| {
        let line = content_type.map(|t| format!("{t}\n")).unwrap_or_default();
        [vec![mode], line.into_bytes(), plain.to_string().into_bytes()].concat()
    };
    let text_plain = typed(Some("text/plain;charset=UTF-8"), 5);
    refused(&text_plain, "UNSUPPORTED_MEDIA_TYPE");
    let form = typed(Some("application/x-www-form-urlencoded"), 5);
    let untyped = typed(None, 5);
    refused(&form, "UNSUPPORTED_MEDIA_TYPE");
    refused(&untyped, "UNSUPPORTED_MEDIA_TYPE");
    let json_charset = typed(Some("Application/JSON; charset=utf-8"), 5);
    as_the_target_reads(&json_charset).expect("JSON with parameters, any case, is accepted");
    write_seeds(
        out,
        &[
            ("sealed", body(0, full.clone())),
            ("sealed-minimal", body(0, serde_json::to_value(&minimal).expect("JSON"))),
            ("plain-loopback", body(1, plain.clone())),
            ("plain-padded-keys", body(1, padded)),
            (
                "wrong-label",
                body(0, serde_json::json!({"version": 2, "envelope": wire(&wrong_label)})),
            ),
            (
                "both",
                body(
                    1,
                    serde_json::json!({"version": 2, "envelope": full["envelope"], "plain": plain["plain"]}),
                ),
            ),
            (
                "version-1",
                body(
                    0,
                    serde_json::json!({"sealed_view_key": wire(&legacy_view_box), "spend_public_key": spend_public_key}),
                ),
            ),
            ("box-bytes", [vec![2], envelope_box.to_bytes()].concat()),
            ("box-wire", body(3, wire(&legacy_view_box))),
            ("plain-over-a-box", plain_over_a_box),
            ("plain-password-too-long", plain_long_password),
            ("sealed-password-too-long", sealed_long_password),
            ("key-field-too-long", long_key_field),
            ("type-text-plain", text_plain),
            ("type-form", form),
            ("type-none", untyped),
            ("type-json-charset", json_charset),
        ],
    );
}
