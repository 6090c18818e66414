//! Demo chain: writes a cache of `outputs` outputs in `blocks` blocks where `wallets` demo wallets own a
//! known set of outputs (own-key change, stealth and plain one-sided payments, coinbases, burns, with
//! memos) and spend some of them later; every other output pays a random stranger with a fresh sender
//! offset key, so no scanner can skip work. Deterministic for a seed, whatever the thread count.

use std::{collections::BTreeMap, path::Path};

use blake2::{Blake2b, Digest, digest::consts::U32};
use curve25519_dalek::{ristretto::RistrettoPoint, scalar::Scalar};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use tari_transaction_components::transaction_components::MemoField;
use zeroize::Zeroizing;

use super::outputs::{BuiltOutput, one_sided_output, own_output, random_scalar};
use crate::{
    cache::{BlockData, Cache, CacheError, CacheOptions, OutputData},
    network,
};

/// Network byte of demo caches (Tari's LocalNet).
pub const DEMO_NETWORK: u8 = 0x10;
const GENESIS_TIMESTAMP: u64 = 1_700_000_000;
const BLOCK_INTERVAL_SECS: u64 = 120;
const COINBASE_MATURITY: u64 = 720;
const OUTPUT_TYPE_STANDARD: u8 = 0;
const OUTPUT_TYPE_COINBASE: u8 = 1;
const OUTPUT_TYPE_BURN: u8 = 2;
/// Blocks built in memory before they are appended and published: bounds memory for big chains.
const BLOCKS_PER_PUBLISH: u64 = 512;

#[derive(Debug, Clone)]
pub struct DemoChainSpec {
    pub outputs: u64,
    pub blocks: u64,
    pub wallets: usize,
    pub seed: u64,
}

/// A demo wallet as written to `wallets.json`. Demo keys are public test data, never real funds.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct DemoWallet {
    pub name: String,
    pub view_key: String,
    pub spend_public_key: String,
    pub birthday: u64,
    /// µT unspent at the tip (burns excluded).
    pub expected_balance: u64,
    /// Owned outputs, spent or not.
    pub expected_outputs: u64,
    pub expected_spent: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("a demo chain needs at least one block and as many outputs as owned outputs ({0})")]
    TooSmall(u64),
    #[error(transparent)]
    Cache(#[from] CacheError),
    #[error("writing {path}: {source}")]
    Io { path: String, source: std::io::Error },
}

#[derive(Clone, Copy)]
enum Kind {
    OwnKey,
    Stealth,
    OneSided,
    Coinbase,
    Burn,
}

struct WalletKeys {
    view: Zeroizing<[u8; 32]>,
    view_public: RistrettoPoint,
    spend_public: RistrettoPoint,
}

/// One owned output planned before any block is built.
struct Planned {
    wallet: usize,
    kind: Kind,
    value: u64,
    memo: u8,
}

struct Plan {
    wallets: Vec<WalletKeys>,
    birthdays: Vec<u64>,
    /// (height, slot) -> owned output.
    owned: BTreeMap<(u64, u64), Planned>,
    /// height -> output hashes its inputs spend.
    spends: BTreeMap<u64, Vec<[u8; 32]>>,
    summaries: Vec<DemoWallet>,
}

fn outputs_in_block(spec: &DemoChainSpec, height: u64) -> u64 {
    spec.outputs / spec.blocks + u64::from(height < spec.outputs % spec.blocks)
}

/// Output hashes of the demo are derived from the position, so spends can be planned before building.
fn output_hash(seed: u64, height: u64, slot: u64) -> [u8; 32] {
    let mut hasher = Blake2b::<U32>::new();
    hasher.update(b"tari-wallet-sync demo output");
    hasher.update(seed.to_le_bytes());
    hasher.update(height.to_le_bytes());
    hasher.update(slot.to_le_bytes());
    hasher.finalize().into()
}

/// A demo block's hash. The demo chain is a LocalNet chain: its block 0 carries LocalNet's official
/// genesis hash, so anything that checks a chain's genesis (a follower of a fake node serving the demo)
/// sees the network the cache says.
fn block_hash(seed: u64, height: u64) -> [u8; 32] {
    if height == 0 {
        return network::genesis_hash(network::Network::LocalNet);
    }
    let mut hasher = Blake2b::<U32>::new();
    hasher.update(b"tari-wallet-sync demo block");
    hasher.update(seed.to_le_bytes());
    hasher.update(height.to_le_bytes());
    hasher.finalize().into()
}

fn memo(variant: u8, value: u64) -> MemoField {
    match variant % 4 {
        0 => MemoField::new_empty(),
        1 => MemoField::new_open(format!("demo payment of {value} µT").into_bytes(), Default::default())
            .expect("short memo"),
        2 => MemoField::new_u256(value.into()),
        _ => MemoField::new_open(vec![b'm'; 200], Default::default()).expect("within 256 bytes"),
    }
}

fn plan(spec: &DemoChainSpec) -> Result<Plan, DemoError> {
    let mut rng = ChaCha20Rng::seed_from_u64(spec.seed);
    let per_wallet = (spec.outputs / 200 / spec.wallets.max(1) as u64).clamp(6, 2000);
    if spec.blocks == 0 || spec.outputs < per_wallet * spec.wallets as u64 * 2 {
        return Err(DemoError::TooSmall(per_wallet * spec.wallets as u64 * 2));
    }
    let tip = spec.blocks - 1;
    let mut plan = Plan {
        wallets: Vec::new(),
        birthdays: Vec::new(),
        owned: BTreeMap::new(),
        spends: BTreeMap::new(),
        summaries: Vec::new(),
    };
    for w in 0..spec.wallets {
        let view = random_scalar(&mut rng);
        let spend_public = RistrettoPoint::mul_base(&random_scalar(&mut rng));
        let birthday = rng.gen_range(0..=tip / 4);
        let mut summary = DemoWallet {
            name: format!("demo-{w}"),
            view_key: hex::encode(view.as_bytes()),
            spend_public_key: hex::encode(spend_public.compress().as_bytes()),
            birthday,
            expected_balance: 0,
            expected_outputs: 0,
            expected_spent: 0,
        };
        let mut placed = 0;
        while placed < per_wallet {
            let height = rng.gen_range(birthday..=tip);
            let slot = rng.gen_range(0..outputs_in_block(spec, height).max(1));
            if outputs_in_block(spec, height) == 0 || plan.owned.contains_key(&(height, slot)) {
                continue;
            }
            let kind = [Kind::OwnKey, Kind::Stealth, Kind::OneSided, Kind::Coinbase, Kind::Burn][placed as usize % 5];
            let value = match kind {
                Kind::Coinbase => rng.gen_range(1_000_000_000..20_000_000_000),
                _ => rng.gen_range(1..5_000_000_000),
            };
            let spendable = !matches!(kind, Kind::Burn);
            let spent_at = (spendable && height < tip && rng.gen_bool(0.3)).then(|| rng.gen_range(height + 1..=tip));
            match spent_at {
                Some(at) => {
                    plan.spends
                        .entry(at)
                        .or_default()
                        .push(output_hash(spec.seed, height, slot));
                    summary.expected_spent += 1;
                }
                None if spendable => summary.expected_balance += value,
                None => {}
            }
            summary.expected_outputs += 1;
            plan.owned.insert(
                (height, slot),
                Planned {
                    wallet: w,
                    kind,
                    value,
                    memo: rng.r#gen(),
                },
            );
            placed += 1;
        }
        plan.wallets.push(WalletKeys {
            view: Zeroizing::new(view.to_bytes()),
            view_public: RistrettoPoint::mul_base(&view),
            spend_public,
        });
        plan.birthdays.push(birthday);
        plan.summaries.push(summary);
    }
    Ok(plan)
}

fn build_block(spec: &DemoChainSpec, plan: &Plan, height: u64) -> BlockData {
    let mut rng = ChaCha20Rng::seed_from_u64(spec.seed ^ height.wrapping_mul(0x9e37_79b9_7f4a_7c15));
    let outputs = (0..outputs_in_block(spec, height))
        .map(|slot| {
            let (built, output_type, maturity) = match plan.owned.get(&(height, slot)) {
                Some(planned) => build_owned(&mut rng, plan, planned, height),
                None => {
                    // A payment to a stranger: fresh sender offset key and a fresh recipient.
                    let stranger_view = RistrettoPoint::mul_base(&random_scalar(&mut rng));
                    let stranger_spend = RistrettoPoint::mul_base(&random_scalar(&mut rng));
                    let value = rng.gen_range(1..10_000_000_000);
                    let memo = memo(rng.r#gen(), value);
                    let built = one_sided_output(&mut rng, &stranger_view, &stranger_spend, value, memo, true);
                    (built, OUTPUT_TYPE_STANDARD, 0)
                }
            };
            OutputData {
                output_hash: output_hash(spec.seed, height, slot),
                commitment: built.commitment,
                sender_offset_public_key: built.sender_offset_public_key,
                encrypted_data: built.encrypted_data,
                script: built.script,
                output_type,
                maturity,
            }
        })
        .collect();
    BlockData {
        height,
        hash: block_hash(spec.seed, height),
        prev_hash: if height == 0 {
            [0; 32]
        } else {
            block_hash(spec.seed, height - 1)
        },
        timestamp: GENESIS_TIMESTAMP + height * BLOCK_INTERVAL_SECS,
        outputs,
        spent: plan.spends.get(&height).cloned().unwrap_or_default(),
        output_details: true,
    }
}

fn build_owned(rng: &mut ChaCha20Rng, plan: &Plan, planned: &Planned, height: u64) -> (BuiltOutput, u8, u64) {
    let wallet = &plan.wallets[planned.wallet];
    let view = Scalar::from_canonical_bytes(*wallet.view).expect("generated canonical");
    let memo = memo(planned.memo, planned.value);
    let value = planned.value;
    match planned.kind {
        Kind::OwnKey => (
            own_output(rng, &view, &wallet.spend_public, value, memo),
            OUTPUT_TYPE_STANDARD,
            0,
        ),
        Kind::Burn => (
            own_output(rng, &view, &wallet.spend_public, value, memo),
            OUTPUT_TYPE_BURN,
            0,
        ),
        Kind::Stealth => (
            one_sided_output(rng, &wallet.view_public, &wallet.spend_public, value, memo, true),
            OUTPUT_TYPE_STANDARD,
            0,
        ),
        Kind::OneSided => (
            one_sided_output(rng, &wallet.view_public, &wallet.spend_public, value, memo, false),
            OUTPUT_TYPE_STANDARD,
            0,
        ),
        Kind::Coinbase => (
            one_sided_output(rng, &wallet.view_public, &wallet.spend_public, value, memo, true),
            OUTPUT_TYPE_COINBASE,
            height + COINBASE_MATURITY,
        ),
    }
}

/// Writes the demo chain into a new cache at `cache_dir` and returns the demo wallets.
pub fn write_demo_chain(spec: &DemoChainSpec, cache_dir: &Path) -> Result<Vec<DemoWallet>, DemoError> {
    let plan = plan(spec)?;
    let mut cache = Cache::create_demo(cache_dir, DEMO_NETWORK, CacheOptions::default())?;
    let mut start = 0;
    while start < spec.blocks {
        let end = (start + BLOCKS_PER_PUBLISH).min(spec.blocks);
        let blocks: Vec<BlockData> = (start..end)
            .into_par_iter()
            .map(|h| build_block(spec, &plan, h))
            .collect();
        cache.append_blocks(blocks.iter())?;
        start = end;
    }
    Ok(plan.summaries)
}

/// Writes `wallets.json` (pretty JSON array of `DemoWallet`).
pub fn write_wallets_json(wallets: &[DemoWallet], path: &Path) -> Result<(), DemoError> {
    let text = serde_json::to_string_pretty(wallets).expect("plain data serializes");
    std::fs::write(path, text).map_err(|source| DemoError::Io {
        path: path.display().to_string(),
        source,
    })
}
