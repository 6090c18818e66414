//! The recogniser against the committed corpus of official results (`corpus.txt`: outputs built by the
//! official crates, the official key manager's verdicts, re-judged by it in the main crate's
//! `tests/cross_check.rs`), on every multiplication path this build and CPU run. CI runs this with dalek's
//! serial backend forced by cfg and our vector lanes off (`.ci/run`): what a CPU without AVX2 or IFMA runs.

use std::{collections::BTreeMap, sync::LazyLock};

use recognize_fallback::recognize::{
    LaneKind, Multiplication, OutputView, Provenance, Recognized, Recognizer, WalletKey, stored_offset,
    vector_lanes_enabled,
};

struct Output {
    commitment: [u8; 32],
    sender_offset: [u8; 32],
    encrypted_data: Vec<u8>,
    script: Option<Vec<u8>>,
}

impl Output {
    fn view(&self) -> OutputView<'_> {
        OutputView {
            commitment: &self.commitment,
            sender_offset_public_key: &self.sender_offset,
            stored_offset: None,
            encrypted_data: &self.encrypted_data,
            script: self.script.as_deref(),
        }
    }
}

struct Corpus {
    keys: Vec<WalletKey>,
    outputs: Vec<Output>,
    /// The official opening of every owned pair (output, wallet), as the corpus file writes it.
    hits: BTreeMap<(usize, usize), String>,
}

static CORPUS: LazyLock<Corpus> = LazyLock::new(|| {
    let text = include_str!("../corpus.txt");
    let mut corpus = Corpus {
        keys: Vec::new(),
        outputs: Vec::new(),
        hits: BTreeMap::new(),
    };
    for line in text.lines().filter(|l| !l.starts_with('#') && !l.is_empty()) {
        let fields: Vec<&str> = line.split(' ').collect();
        let bytes = |i: usize| hex::decode(fields[i]).expect("hex");
        let array = |i: usize| -> [u8; 32] { bytes(i).try_into().expect("32 bytes") };
        match fields[0] {
            "wallet" => corpus
                .keys
                .push(WalletKey::from_bytes(&bytes(1), &bytes(2)).expect("a valid wallet key")),
            "output" => corpus.outputs.push(Output {
                commitment: array(2),
                sender_offset: array(3),
                encrypted_data: bytes(4),
                script: (fields[5] != "-").then(|| bytes(5)),
            }),
            "hit" => {
                let index = |i: usize| fields[i].parse::<usize>().expect("index");
                corpus.hits.insert((index(1), index(2)), fields[3..].join(" "));
            }
            other => panic!("unknown corpus line {other}"),
        }
    }
    assert!(corpus.keys.len() >= 3 && corpus.outputs.len() >= 300 && corpus.hits.len() >= 200);
    corpus
});

/// A hit in the corpus file's words: value, mask, memo bytes, provenance, mask kind, script class.
fn describe(hit: &Recognized) -> String {
    let memo = if hit.memo_bytes.is_empty() {
        "-".to_string()
    } else {
        hex::encode(&hit.memo_bytes)
    };
    let provenance = match hit.provenance {
        Provenance::OwnViewKey => "own_view_key",
        Provenance::DiffieHellman => "diffie_hellman",
    };
    let class = hit.script_class.map_or("-".to_string(), |c| format!("{c:?}"));
    format!(
        "{} {} {memo} {provenance} {} {class}",
        hit.value,
        hex::encode(hit.mask.as_bytes()),
        u8::from(hit.mask_from_shared_secret)
    )
}

/// The hits of a whole-corpus scan are exactly the corpus's owned pairs, in order, opened the same way.
fn assert_official(what: &str, hits: &[Recognized]) {
    let found: Vec<(usize, usize)> = hits.iter().map(|h| (h.output_index, h.key_index)).collect();
    assert!(found.is_sorted(), "{what}: hits out of order");
    let mut problems = Vec::new();
    let found: BTreeMap<(usize, usize), String> = hits
        .iter()
        .map(|h| ((h.output_index, h.key_index), describe(h)))
        .collect();
    for (pair, official) in &CORPUS.hits {
        match found.get(pair) {
            None => problems.push(format!("{pair:?}: missed")),
            Some(ours) if ours != official => problems.push(format!("{pair:?}: official {official}, ours {ours}")),
            Some(_) => {}
        }
    }
    for pair in found.keys().filter(|pair| !CORPUS.hits.contains_key(pair)) {
        problems.push(format!("{pair:?}: claimed, officially not ours"));
    }
    assert!(
        problems.is_empty(),
        "{what}: {} difference(s) from the official verdicts:\n{}",
        problems.len(),
        problems.iter().take(30).cloned().collect::<Vec<_>>().join("\n")
    );
}

fn views() -> Vec<OutputView<'static>> {
    CORPUS.outputs.iter().map(Output::view).collect()
}

fn scan(mut recognizer: Recognizer, views: &[OutputView<'_>]) -> Vec<Recognized> {
    let mut hits = Vec::new();
    recognizer.scan(views, &CORPUS.keys, |hit| hits.push(hit));
    hits
}

/// What this build runs: the cfg dalek was built with and our lanes; with `TWS_RECOGNIZE_VECTOR=off`
/// (CI) exactly dalek's path and ours on serial lanes, so the run checks what it claims to.
#[test]
fn paths_are_those_of_this_build() {
    let paths = Multiplication::available();
    eprintln!(
        "dalek backend cfg serial: {}; vector lanes enabled: {}; paths: {paths:?}",
        cfg!(curve25519_dalek_backend = "serial"),
        vector_lanes_enabled()
    );
    assert!(
        paths.len() >= 3,
        "dalek's point layout is unreadable on this build: {paths:?}"
    );
    if !vector_lanes_enabled() {
        assert_eq!(
            paths,
            [
                Multiplication::PerKey,
                Multiplication::Windowed(LaneKind::Serial),
                Multiplication::Shared(LaneKind::Serial)
            ]
        );
    }
}

/// Every multiplication path, forced for the whole corpus and every key at once, and the automatic choice.
#[test]
fn every_path_gives_the_official_answers() {
    let views = views();
    for how in Multiplication::available() {
        let recognizer = Recognizer::with_multiplication(how).expect("an available path");
        assert_official(&format!("{how}"), &scan(recognizer, &views));
    }
    assert_official("automatic", &scan(Recognizer::new(), &views));
}

/// Output by output and key by key (dalek's per-key path, as a single lookup takes it).
#[test]
fn single_lookups_give_the_official_answers() {
    let mut recognizer = Recognizer::new();
    let mut hits = Vec::new();
    for (i, output) in CORPUS.outputs.iter().enumerate() {
        for (k, key) in CORPUS.keys.iter().enumerate() {
            if let Some(mut hit) = recognizer.recognize(&output.view(), key) {
                (hit.output_index, hit.key_index) = (i, k);
                hits.push(hit);
            }
        }
    }
    assert_official("single lookups", &hits);
}

/// With `R` read from the cache's stored form (decompressed at ingest) on every path.
#[test]
fn stored_offsets_give_the_official_answers() {
    let stored: Vec<_> = CORPUS
        .outputs
        .iter()
        .map(|o| stored_offset::encode(&o.sender_offset))
        .collect();
    let views: Vec<_> = CORPUS
        .outputs
        .iter()
        .zip(&stored)
        .map(|(o, s)| OutputView {
            stored_offset: Some(s),
            ..o.view()
        })
        .collect();
    for how in Multiplication::available() {
        let recognizer = Recognizer::with_multiplication(how).expect("an available path");
        assert_official(&format!("{how}, stored offsets"), &scan(recognizer, &views));
    }
}
