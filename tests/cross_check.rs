//! Cross-check: our recogniser against the official `KeyManager::try_output_key_recovery`, for every pair of
//! output and wallet of a corpus of genuine outputs built by the official crate, plus decoys (see `corpus`).
//!
//! The oracle is a view-only key manager (`WalletType::ViewWallet`) over each wallet's view key and public spend
//! key: exactly what a view-key scanner holds. Before it judges ours, the oracle itself is checked against how
//! each output was built, so a corpus bug cannot pass as agreement.

mod corpus;

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::LazyLock,
    time::Instant,
};

use corpus::{Corpus, CorpusOutput, Intent, Kind, TestWallet};
use curve25519_dalek::{
    ristretto::{CompressedRistretto, RistrettoPoint},
    scalar::Scalar,
};
use tari_common_types::types::{CompressedCommitment, CompressedPublicKey, PrivateKey};
use tari_crypto::tari_utilities::ByteArray;
use tari_transaction_components::{
    key_manager::{
        KeyManager, RecoveryProvenance, SecretTransactionKeyManagerInterface, TariKeyId,
        TransactionKeyManagerInterface,
        wallet_types::{ViewWallet, WalletType},
    },
    transaction_components::{EncryptedData, MemoField},
};
use tari_wallet_sync::{
    cache::{BlockData, Cache, OutputData},
    recognize::{Multiplication, OutputView, Provenance, Recognized, Recognizer, WalletKey},
};

const SEED: u64 = 0x7a41_c0de_2025;

/// Built once and shared by the tests of this file (they run in parallel threads).
static CORPUS: LazyLock<Corpus> = LazyLock::new(|| {
    let start = Instant::now();
    let corpus = Corpus::build(SEED);
    eprintln!(
        "corpus: {} outputs built in {:.1?}",
        corpus.outputs.len(),
        start.elapsed()
    );
    corpus
});

/// The official verdict for every output (outer) and scanned wallet (inner).
static VERDICTS: LazyLock<Vec<Vec<Verdict>>> = LazyLock::new(|| {
    let start = Instant::now();
    let verdicts = CORPUS
        .outputs
        .iter()
        .map(|output| {
            CORPUS
                .wallets
                .iter()
                .map(|wallet| official_verdict(wallet, output))
                .collect()
        })
        .collect();
    eprintln!(
        "oracle: {} pairs judged in {:.1?}",
        CORPUS.outputs.len() * CORPUS.wallets.len(),
        start.elapsed()
    );
    verdicts
});

/// What the official key manager says about one output for one wallet.
#[derive(Debug)]
enum Verdict {
    Ours(OfficialHit),
    NotOurs,
    /// `EncryptedData::from_bytes` refuses the bytes: no output can carry them.
    InvalidEncryptedData,
    /// `try_output_key_recovery` returns an error rather than an answer.
    KeyManagerError,
}

#[derive(Debug)]
struct OfficialHit {
    value: u64,
    mask: [u8; 32],
    memo: MemoField,
    provenance: Provenance,
    /// The recovered key id is `TariKeyId::DHCommitmentMask`.
    mask_from_shared_secret: bool,
}

fn official_verdict(wallet: &TestWallet, output: &CorpusOutput) -> Verdict {
    official_verdict_of(
        &wallet.oracle,
        &output.commitment,
        &output.sender_offset_public_key,
        &output.encrypted_data,
    )
}

/// The verdict of a view-only key manager `oracle` on one output's fields.
fn official_verdict_of(oracle: &KeyManager, commitment: &[u8; 32], sender_offset: &[u8; 32], data: &[u8]) -> Verdict {
    let Ok(encrypted_data) = EncryptedData::from_bytes(data) else {
        return Verdict::InvalidEncryptedData;
    };
    let commitment = CompressedCommitment::from_canonical_bytes(commitment).expect("32 bytes");
    let sender_offset = CompressedPublicKey::new(sender_offset);
    let wallet = oracle;
    let recovered = wallet.try_output_key_recovery(&commitment, &encrypted_data, &sender_offset);
    match recovered {
        Ok(Some((key_id, value, memo, provenance))) => {
            let mask = wallet.get_private_key(&key_id).expect("the recovered mask");
            Verdict::Ours(OfficialHit {
                value: value.as_u64(),
                mask: mask.as_bytes().try_into().expect("32 bytes"),
                memo,
                provenance: match provenance {
                    RecoveryProvenance::OwnViewKey => Provenance::OwnViewKey,
                    RecoveryProvenance::DiffieHellman => Provenance::DiffieHellman,
                },
                mask_from_shared_secret: matches!(key_id, TariKeyId::DHCommitmentMask { .. }),
            })
        }
        Ok(None) => Verdict::NotOurs,
        Err(_) => Verdict::KeyManagerError,
    }
}

/// Where ours and the official verdict differ, in words (values and memos only, never key material).
fn disagreement(official: &Verdict, ours: Option<&Recognized>) -> Option<String> {
    let hit = match (official, ours) {
        (Verdict::Ours(hit), Some(ours)) => (hit, ours),
        (Verdict::Ours(_), None) => return Some("official recovers it, ours does not".to_string()),
        (other, Some(_)) => return Some(format!("ours claims it, official says {}", verdict_name(other))),
        (_, None) => return None,
    };
    let (official, ours) = hit;
    let mut differences = Vec::new();
    if ours.value != official.value {
        differences.push(format!("value: official {} ours {}", official.value, ours.value));
    }
    if ours.mask.to_bytes() != official.mask {
        differences.push("mask differs".to_string());
    }
    if ours.memo() != official.memo {
        differences.push(format!("memo: official {:?} ours {:?}", official.memo, ours.memo()));
    }
    if ours.provenance != official.provenance {
        differences.push(format!(
            "provenance: official {:?} ours {:?}",
            official.provenance, ours.provenance
        ));
    }
    if ours.mask_from_shared_secret != official.mask_from_shared_secret {
        differences.push(format!(
            "mask_from_shared_secret: official {} ours {}",
            official.mask_from_shared_secret, ours.mask_from_shared_secret
        ));
    }
    (!differences.is_empty()).then(|| differences.join("; "))
}

fn verdict_name(verdict: &Verdict) -> &'static str {
    match verdict {
        Verdict::Ours(_) => "ours",
        Verdict::NotOurs => "not ours",
        Verdict::InvalidEncryptedData => "invalid encrypted data",
        Verdict::KeyManagerError => "key manager error",
    }
}

/// Fails with the first problems found, labelled by output, kind and wallet.
fn assert_no_problems(what: &str, problems: &[String]) {
    assert!(
        problems.is_empty(),
        "{what}: {} problem(s), first ones:\n{}",
        problems.len(),
        problems.iter().take(30).cloned().collect::<Vec<_>>().join("\n")
    );
}

fn label(index: usize, output: &CorpusOutput, wallet: &TestWallet) -> String {
    format!("output {index} ({:?}) for {}", output.kind, wallet.name)
}

fn owned_pairs() -> BTreeSet<(usize, usize)> {
    let mut pairs = BTreeSet::new();
    for (i, verdicts) in VERDICTS.iter().enumerate() {
        for (k, verdict) in verdicts.iter().enumerate() {
            if matches!(verdict, Verdict::Ours(_)) {
                pairs.insert((i, k));
            }
        }
    }
    pairs
}

fn all_views() -> Vec<OutputView<'static>> {
    CORPUS.outputs.iter().map(CorpusOutput::view).collect()
}

fn all_keys() -> Vec<WalletKey> {
    CORPUS.wallets.iter().map(|wallet| wallet.key.clone()).collect()
}

/// The oracle must see the corpus as it was built: each output owned by exactly the wallet it was built for,
/// with the provenance and mask kind the builder used, and refusals only where the bytes are meant to be refused.
#[test]
fn official_key_manager_recovers_exactly_what_the_corpus_built() {
    let mut problems = Vec::new();
    for (i, output) in CORPUS.outputs.iter().enumerate() {
        for (k, wallet) in CORPUS.wallets.iter().enumerate() {
            let verdict = &VERDICTS[i][k];
            let expected_refusal = match output.kind {
                Kind::EncryptedData79
                | Kind::EncryptedData337
                | Kind::SealedEncryptedData79
                | Kind::SealedEncryptedData337 => Some("invalid encrypted data"),
                // Decrypts under the owner's view key, then the commitment fails to decompress.
                Kind::UndecodableCommitment if output_was_sealed_for(output, wallet) => Some("key manager error"),
                _ => None,
            };
            let fine = match (verdict, output.intent, expected_refusal) {
                (Verdict::InvalidEncryptedData | Verdict::KeyManagerError, _, Some(refusal)) => {
                    verdict_name(verdict) == refusal
                }
                (_, _, Some(_)) => false,
                (
                    Verdict::Ours(hit),
                    Intent::Owned {
                        wallet: owner,
                        provenance,
                        mask_from_shared_secret,
                        ..
                    },
                    None,
                ) => {
                    owner == k && hit.provenance == provenance && hit.mask_from_shared_secret == mask_from_shared_secret
                }
                (Verdict::NotOurs, Intent::Owned { wallet: owner, .. }, None) => owner != k,
                (Verdict::NotOurs, Intent::NotOwned, None) => true,
                _ => false,
            };
            if !fine {
                problems.push(format!(
                    "{}: official says {}, built as {:?}",
                    label(i, output, wallet),
                    verdict_name(verdict),
                    output.intent
                ));
            }
        }
    }
    assert_no_problems("the oracle disagrees with how the corpus was built", &problems);
}

/// Whether an undecodable-commitment decoy was sealed under `wallet`'s view key: only then does the official
/// key manager get as far as the commitment.
fn output_was_sealed_for(output: &CorpusOutput, wallet: &TestWallet) -> bool {
    let encrypted_data = EncryptedData::from_bytes(&output.encrypted_data).expect("valid length");
    let commitment = CompressedCommitment::from_canonical_bytes(&output.commitment).expect("32 bytes");
    EncryptedData::decrypt_data(&wallet.oracle.get_private_view_key(), &commitment, &encrypted_data).is_ok()
}

/// The core claim: for every output and wallet, ours answers exactly as the official key manager does
/// (ownership, value, mask, memo, provenance, whether the mask is the DH-derived one), and classifies the
/// script of every owned genuine output as it was built.
#[test]
fn recognizer_agrees_with_the_official_key_manager_on_every_pair() {
    let mut recognizer = Recognizer::new();
    let mut problems = Vec::new();
    let mut classes_checked = 0;
    for (i, output) in CORPUS.outputs.iter().enumerate() {
        for (k, wallet) in CORPUS.wallets.iter().enumerate() {
            let ours = recognizer.recognize(&output.view(), &wallet.key);
            if let Some(problem) = disagreement(&VERDICTS[i][k], ours.as_ref()) {
                problems.push(format!("{}: {problem}", label(i, output, wallet)));
                continue;
            }
            let (Some(ours), Intent::Owned { script_class, .. }) = (ours, output.intent) else {
                continue;
            };
            classes_checked += 1;
            if ours.script_class != script_class {
                problems.push(format!(
                    "{}: script class built {script_class:?}, ours {:?}",
                    label(i, output, wallet),
                    ours.script_class
                ));
            }
        }
    }
    assert_no_problems("ours disagrees with the official key manager", &problems);
    assert!(
        classes_checked >= 200,
        "script classes checked on only {classes_checked} owned outputs"
    );
}

/// The batch form over the whole corpus and all keys at once finds exactly the officially owned pairs, with
/// the same openings, in output order then key order.
#[test]
fn batch_scan_finds_exactly_the_officially_owned_pairs() {
    assert_batch_matches_official(&all_views());
}

/// Every multiplication path this machine can run (dalek's per key, ours per key and the shared per-output
/// tables, on every lane type the CPU has; `TWS_RECOGNIZE_VECTOR=off` leaves the serial ones) gives the
/// official answers over the whole corpus, and the same hits, opening for opening, as dalek's path.
#[test]
fn every_multiplication_path_gives_the_official_answers() {
    let views = all_views();
    let summary = |hits: &[Recognized]| -> Vec<String> { hits.iter().map(|h| format!("{h:?}")).collect() };
    let paths = Multiplication::available();
    eprintln!(
        "multiplication paths checked: {paths:?} (a pass of {} keys takes {})",
        CORPUS.wallets.len(),
        Recognizer::new().multiplication(views.len(), CORPUS.wallets.len())
    );
    assert!(
        paths.len() >= 3,
        "only {paths:?}: dalek's point layout is unreadable on this build"
    );
    let reference = summary(&scan_with(Multiplication::PerKey, &views));
    for how in paths {
        let hits = scan_with(how, &views);
        assert_hits_match_official(&format!("{how}"), &hits);
        assert!(summary(&hits) == reference, "{how}: hits differ from dalek's path");
    }
}

fn scan_with(how: Multiplication, views: &[OutputView<'_>]) -> Vec<Recognized> {
    let mut hits = Vec::new();
    Recognizer::with_multiplication(how)
        .expect("an available path")
        .scan(views, &all_keys(), |hit| hits.push(hit));
    hits
}

/// The same through a format-3 cache: every corpus output appended to a real cache, scanned from its
/// records, whose sender offset keys are read in the stored (decompressed at ingest) form. Ours then
/// answers exactly as the official key manager, and hit for hit as when it decompresses each key.
#[test]
fn cache_stored_offsets_give_the_official_answers_and_those_of_decompressing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cache = Cache::create(dir.path(), 0x10).expect("create");
    let outputs = CORPUS
        .outputs
        .iter()
        .enumerate()
        .map(|(i, o)| OutputData {
            output_hash: *distinct_hash(i).as_bytes(),
            commitment: o.commitment,
            sender_offset_public_key: o.sender_offset_public_key,
            encrypted_data: o.encrypted_data.clone(),
            script: o.script.clone().unwrap_or_default(),
            output_type: 0,
            maturity: 0,
        })
        .collect();
    cache
        .append_block(&BlockData {
            height: 0,
            hash: [1; 32],
            prev_hash: [0; 32],
            timestamp: 0,
            outputs,
            spent: vec![],
            output_details: true,
        })
        .expect("append");
    let view = cache.view();
    let records: Vec<_> = view.outputs(0..view.output_count()).collect();
    assert_eq!(records.len(), CORPUS.outputs.len());
    let stored: Vec<OutputView<'_>> = records
        .iter()
        .zip(&CORPUS.outputs)
        .map(|(record, output)| OutputView {
            stored_offset: Some(record.stored_offset.expect("format 3 stores every offset")),
            ..output.view()
        })
        .collect();
    let decompressing = all_views();
    assert!(decompressing.iter().all(|v| v.stored_offset.is_none()));
    let stored_hits = assert_batch_matches_official(&stored);
    let decompressed_hits = assert_batch_matches_official(&decompressing);
    let summary = |hits: &[Recognized]| -> Vec<String> { hits.iter().map(|h| format!("{h:?}")).collect() };
    assert_eq!(summary(&stored_hits), summary(&decompressed_hits));
}

/// A distinct output hash per index (the cache does not care what it is).
fn distinct_hash(i: usize) -> CompressedRistretto {
    RistrettoPoint::mul_base(&Scalar::from(i as u64 + 1)).compress()
}

/// Scans `views` with every corpus key and checks the hits against the official verdicts; returns them.
fn assert_batch_matches_official(views: &[OutputView<'_>]) -> Vec<Recognized> {
    let keys = all_keys();
    let mut hits = Vec::new();
    Recognizer::new().scan(views, &keys, |hit| hits.push(hit));
    assert_hits_match_official("batch", &hits);
    hits
}

/// The hits of a scan of the whole corpus with every key are exactly the official ones.
fn assert_hits_match_official(what: &str, hits: &[Recognized]) {
    let found: Vec<(usize, usize)> = hits.iter().map(|hit| (hit.output_index, hit.key_index)).collect();
    assert!(found.is_sorted(), "hits are reported in output order, then key order");
    let found: BTreeSet<(usize, usize)> = found.into_iter().collect();
    let expected = owned_pairs();
    let missing: Vec<String> = expected
        .difference(&found)
        .map(|&(i, k)| format!("missed {}", label(i, &CORPUS.outputs[i], &CORPUS.wallets[k])))
        .collect();
    let extra: Vec<String> = found
        .difference(&expected)
        .map(|&(i, k)| format!("claimed {}", label(i, &CORPUS.outputs[i], &CORPUS.wallets[k])))
        .collect();
    assert_no_problems(
        &format!("{what}: hit set differs from the official one"),
        &[missing, extra].concat(),
    );

    let problems: Vec<String> = hits
        .iter()
        .filter_map(|hit| {
            let (i, k) = (hit.output_index, hit.key_index);
            let problem = disagreement(&VERDICTS[i][k], Some(hit))?;
            Some(format!(
                "{}: {problem}",
                label(i, &CORPUS.outputs[i], &CORPUS.wallets[k])
            ))
        })
        .collect();
    assert_no_problems(&format!("{what}: openings differ from the official ones"), &problems);
}

/// The encrypted-data length limits: the official type refuses 79 and 337 bytes, so no output carries them,
/// and ours returns nothing for them with any key.
#[test]
fn encrypted_data_outside_80_to_336_bytes_is_refused_by_both() {
    let mut recognizer = Recognizer::new();
    let mut seen = BTreeMap::new();
    let length_decoys = CORPUS.outputs.iter().filter(|output| {
        matches!(
            output.kind,
            Kind::EncryptedData79 | Kind::EncryptedData337 | Kind::SealedEncryptedData79 | Kind::SealedEncryptedData337
        )
    });
    for output in length_decoys {
        let expected_len = if matches!(output.kind, Kind::EncryptedData79 | Kind::SealedEncryptedData79) {
            79
        } else {
            337
        };
        assert_eq!(output.encrypted_data.len(), expected_len);
        assert!(
            EncryptedData::from_bytes(&output.encrypted_data).is_err(),
            "official type accepts {expected_len} bytes"
        );
        for wallet in &CORPUS.wallets {
            assert!(
                recognizer.recognize(&output.view(), &wallet.key).is_none(),
                "ours opens {expected_len} bytes"
            );
        }
        *seen.entry(expected_len).or_insert(0) += 1;
    }
    assert!(
        seen.get(&79) >= Some(&10) && seen.get(&337) >= Some(&10),
        "too few length decoys: {seen:?}"
    );
}

/// The corpus is as large and as varied as the issue asks, and the report numbers come from here.
#[test]
fn corpus_has_the_required_size_and_variety() {
    let owned = owned_pairs();
    let mut owned_per_wallet = vec![0usize; CORPUS.wallets.len()];
    let mut owned_per_kind: BTreeMap<Kind, usize> = BTreeMap::new();
    let mut memo_variants: BTreeMap<&str, usize> = BTreeMap::new();
    let mut owned_data_lengths = BTreeSet::new();
    for &(i, k) in &owned {
        owned_per_wallet[k] += 1;
        *owned_per_kind.entry(CORPUS.outputs[i].kind).or_insert(0) += 1;
        owned_data_lengths.insert(CORPUS.outputs[i].encrypted_data.len());
        if let Verdict::Ours(hit) = &VERDICTS[i][k] {
            *memo_variants.entry(memo_variant(&hit.memo)).or_insert(0) += 1;
        }
    }

    // One write, so the parallel tests' output cannot interleave with the table.
    let kinds = CORPUS.kind_counts();
    let mut report = format!("{:<34} {:>7} {:>6}\n", "kind", "outputs", "owned");
    for (kind, count) in &kinds {
        let name = format!("{kind:?}{}", if kind.is_decoy() { " (decoy)" } else { "" });
        report += &format!("{name:<34} {count:>7} {:>6}\n", owned_per_kind.get(kind).unwrap_or(&0));
    }
    let from_full_builders: usize = kinds
        .iter()
        .filter(|(kind, _)| kind.is_full_builder())
        .map(|(_, n)| n)
        .sum();
    report += &format!(
        "total {} outputs ({from_full_builders} from full official builders), {} owned pairs, per wallet \
         {owned_per_wallet:?}\nowned memo variants: {memo_variants:?}\n",
        CORPUS.outputs.len(),
        owned.len()
    );
    eprint!("{report}");

    assert!(CORPUS.outputs.len() >= 2_000, "only {} outputs", CORPUS.outputs.len());
    assert!(owned.len() >= 200, "only {} owned", owned.len());
    assert!(
        owned_per_wallet.iter().filter(|&&n| n >= 50).count() >= 3,
        "owned per wallet {owned_per_wallet:?}"
    );
    for kind in [
        Kind::CoinbaseStealthBulletProof,
        Kind::CoinbaseStealthRevealedValue,
        Kind::CoinbaseSpendKeyBulletProof,
        Kind::CoinbaseSpendKeyRevealedValue,
        Kind::CoinbaseToAddressWithPaymentId,
        Kind::StealthPayment,
        Kind::Change,
        Kind::ToSelf,
        Kind::Burn,
        Kind::MultisigDeposit,
        Kind::FundingOutput,
        Kind::OwnOutput,
        Kind::OneSidedDerivedMask,
        Kind::OneSidedSenderChosenMask,
        Kind::SealedPremineMemo,
        Kind::SealedLegacyMemo,
        Kind::SealedArbitraryMemo,
        Kind::ZeroSenderOffsetKey,
        Kind::InvalidSenderOffsetKey,
    ] {
        assert!(
            owned_per_kind.get(&kind).is_some_and(|&n| n > 0),
            "no owned output of kind {kind:?}"
        );
    }
    for variant in ["empty", "u256", "open", "address_and_data", "transaction_info", "raw"] {
        assert!(
            memo_variants.contains_key(variant),
            "no owned output with a {variant} memo"
        );
    }
    assert!(
        owned_data_lengths.contains(&80),
        "no owned output with an empty memo (80 bytes)"
    );
    assert!(
        owned_data_lengths.contains(&336),
        "no owned output with the largest memo (336 bytes)"
    );
}

fn memo_variant(memo: &MemoField) -> &'static str {
    if memo.is_empty() {
        "empty"
    } else if memo.is_u256() {
        "u256"
    } else if memo.is_open() {
        "open"
    } else if memo.is_address_and_data() {
        "address_and_data"
    } else if memo.is_transaction_info() {
        "transaction_info"
    } else if memo.is_raw() {
        "raw"
    } else {
        "other"
    }
}

/// The corpus of official results `tools/recognize-fallback` checks the recogniser against (with dalek's
/// serial backend, in a build without the Tari crates). Written from this corpus when
/// `TWS_WRITE_FALLBACK_CORPUS=1` (the official verdicts, the memo bytes of our agreeing hits, the script
/// classes as built); otherwise read back.
/// Outputs of each corpus kind in the fallback corpus.
const FALLBACK_PER_KIND: usize = 16;

const FALLBACK_CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tools/recognize-fallback/corpus.txt");

/// The committed fallback corpus is official truth: a view-only key manager over each of its wallets judges
/// each of its outputs exactly as the file says (owned or not, value, mask, memo, provenance, mask kind).
#[test]
fn fallback_corpus_holds_the_official_verdicts() {
    if std::env::var("TWS_WRITE_FALLBACK_CORPUS").is_ok_and(|v| v == "1") {
        std::fs::write(FALLBACK_CORPUS, fallback_corpus_text()).expect("write the fallback corpus");
    }
    let text = std::fs::read_to_string(FALLBACK_CORPUS).expect("tools/recognize-fallback/corpus.txt");
    let mut oracles = Vec::new();
    let mut outputs = Vec::new();
    let mut hits = BTreeMap::new();
    for line in text.lines().filter(|l| !l.starts_with('#') && !l.is_empty()) {
        let fields: Vec<&str> = line.split(' ').collect();
        let bytes = |i: usize| hex::decode(fields[i]).expect("hex");
        let array = |i: usize| -> [u8; 32] { bytes(i).try_into().expect("32 bytes") };
        match fields[0] {
            "wallet" => {
                let view = PrivateKey::from_canonical_bytes(&bytes(1)).expect("view key");
                let spend = CompressedPublicKey::from_canonical_bytes(&bytes(2)).expect("spend key");
                let wallet = WalletType::ViewWallet(ViewWallet::new(spend, view, None));
                oracles.push(KeyManager::new(wallet).expect("a view wallet"));
            }
            "output" => outputs.push((array(2), array(3), bytes(4))),
            "hit" => {
                let index = |i: usize| fields[i].parse::<usize>().expect("index");
                hits.insert((index(1), index(2)), fields[3..].join(" "));
            }
            other => panic!("unknown fallback corpus line {other}"),
        }
    }
    assert!(
        oracles.len() >= 3 && outputs.len() >= 300,
        "a fallback corpus too small"
    );
    let mut problems = Vec::new();
    for (i, (commitment, offset, data)) in outputs.iter().enumerate() {
        for (k, oracle) in oracles.iter().enumerate() {
            let verdict = official_verdict_of(oracle, commitment, offset, data);
            let official = match &verdict {
                Verdict::Ours(hit) => Some(hit),
                _ => None,
            };
            let ok = match (official, hits.get(&(i, k))) {
                (None, None) => true,
                (Some(hit), Some(line)) => {
                    let fields: Vec<&str> = line.split(' ').collect();
                    let memo = if fields[2] == "-" {
                        vec![]
                    } else {
                        hex::decode(fields[2]).expect("hex")
                    };
                    fields[..2] == [hit.value.to_string(), hex::encode(hit.mask)]
                        && MemoField::from_bytes(&memo) == hit.memo
                        && fields[3] == provenance_name(hit.provenance)
                        && fields[4] == u8::from(hit.mask_from_shared_secret).to_string()
                }
                _ => false,
            };
            if !ok {
                problems.push(format!(
                    "output {i} wallet {k}: official says {}",
                    verdict_name(&verdict)
                ));
            }
        }
    }
    assert_no_problems("the fallback corpus differs from the official verdicts", &problems);
    eprintln!(
        "fallback corpus: {} wallets, {} outputs, {} owned pairs, all official",
        oracles.len(),
        outputs.len(),
        hits.len()
    );
}

fn provenance_name(provenance: Provenance) -> &'static str {
    match provenance {
        Provenance::OwnViewKey => "own_view_key",
        Provenance::DiffieHellman => "diffie_hellman",
    }
}

/// The fallback corpus of this run's corpus, one record a line (format in the file's header).
fn fallback_corpus_text() -> String {
    let mut text = String::from(
        "# The recogniser's fallback corpus (tools/recognize-fallback): outputs built by the official crates and\n\
         # the official key manager's verdicts on them, written by `TWS_WRITE_FALLBACK_CORPUS=1 cargo test --test\n\
         # cross_check fallback_corpus` (the first outputs of each kind) and re-judged by the official key manager in every run of that test.\n\
         # wallet <private view key> <public spend key> (test wallets from the cross-check's corpus)\n\
         # output <kind> <commitment> <sender offset public key> <encrypted data> <script or ->\n\
         # hit <output> <wallet> <value> <mask> <memo bytes or -> <provenance> <mask from shared secret 0/1> <script class>\n\
         # Pairs without a hit line are not owned; outputs are numbered from 0 in file order. Hex throughout.\n",
    );
    let hex_or_dash = |bytes: &[u8]| {
        if bytes.is_empty() {
            "-".to_string()
        } else {
            hex::encode(bytes)
        }
    };
    for wallet in &CORPUS.wallets {
        let view = wallet.key_manager.get_private_view_key();
        let spend = wallet.key.spend_public_key();
        text += &format!(
            "wallet {} {}\n",
            hex::encode(view.as_bytes()),
            hex::encode(spend.as_bytes())
        );
    }
    // Every kind, a few of each: enough for chunks of every path's lanes, small enough to commit.
    let mut per_kind = BTreeMap::new();
    let chosen: Vec<usize> = (0..CORPUS.outputs.len())
        .filter(|&i| {
            let seen = per_kind.entry(CORPUS.outputs[i].kind).or_insert(0);
            *seen += 1;
            *seen <= FALLBACK_PER_KIND
        })
        .collect();
    for output in chosen.iter().map(|&i| &CORPUS.outputs[i]) {
        text += &format!(
            "output {:?} {} {} {} {}\n",
            output.kind,
            hex::encode(output.commitment),
            hex::encode(output.sender_offset_public_key),
            hex::encode(&output.encrypted_data),
            output.script.as_deref().map_or("-".to_string(), hex_or_dash)
        );
    }
    let mut recognizer = Recognizer::new();
    for (line, &i) in chosen.iter().enumerate() {
        let output = &CORPUS.outputs[i];
        for (k, wallet) in CORPUS.wallets.iter().enumerate() {
            let Verdict::Ours(hit) = &VERDICTS[i][k] else {
                continue;
            };
            let ours = recognizer.recognize(&output.view(), &wallet.key).expect("ours agrees");
            assert!(disagreement(&VERDICTS[i][k], Some(&ours)).is_none(), "ours agrees");
            let script_class = match (output.intent, ours.script_class) {
                (Intent::Owned { script_class, .. }, _) => script_class,
                (Intent::NotOwned, class) => class,
            };
            text += &format!(
                "hit {line} {k} {} {} {} {} {} {}\n",
                hit.value,
                hex::encode(hit.mask),
                hex_or_dash(&ours.memo_bytes),
                provenance_name(hit.provenance),
                u8::from(hit.mask_from_shared_secret),
                script_class.map_or("-".to_string(), |c| format!("{c:?}"))
            );
        }
    }
    text
}
