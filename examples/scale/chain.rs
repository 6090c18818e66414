//! Synthetic chain: blocks with the shape and sizes of mainnet's outputs, generated in parallel straight
//! into cache records. What is real: every sender offset key and commitment is a valid, distinct
//! Ristretto point (so every scan pays the full price and the ingest stores a real decompressed point),
//! scripts, encrypted-data lengths, output types and maturities follow the mix below, and blocks spend
//! earlier outputs. What is not: range proofs (the cache never holds them, so range-proofed and
//! revealed-value outputs differ only on the node) and encrypted data that decrypts for anyone (every
//! output pays a stranger, as nearly all of a real chain does for any one wallet).

use curve25519_dalek::{ristretto::RistrettoPoint, scalar::Scalar};
use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use rayon::prelude::*;
use tari_wallet_sync::cache::{BlockData, OutputData};

const GENESIS_TIMESTAMP: u64 = 1_700_000_000;
const BLOCK_INTERVAL_SECS: u64 = 120;
const COINBASE_MATURITY: u64 = 720;
/// Mean outputs per block (one coinbase plus 0..=46 others).
pub const MEAN_OUTPUTS_PER_BLOCK: u64 = 24;

/// How many outputs of each kind were generated.
#[derive(Debug, Default, Clone, Copy, serde::Serialize)]
pub struct Mix {
    pub coinbases: u64,
    pub one_sided: u64,
    pub change: u64,
    pub burns: u64,
    pub revealed_value: u64,
    pub spends: u64,
}

impl Mix {
    pub fn add(&mut self, other: &Mix) {
        self.coinbases += other.coinbases;
        self.one_sided += other.one_sided;
        self.change += other.change;
        self.burns += other.burns;
        self.revealed_value += other.revealed_value;
        self.spends += other.spends;
    }
}

/// The chain's layout, fixed before any block is built: outputs per block and each block's first
/// output, so blocks can be built in parallel and still know the global indices they spend.
pub struct Plan {
    pub seed: u64,
    pub counts: Vec<u32>,
    pub first_output: Vec<u64>,
}

impl Plan {
    pub fn new(outputs: u64, seed: u64) -> Plan {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let (mut counts, mut first_output, mut total) = (Vec::new(), Vec::new(), 0u64);
        while total < outputs {
            let n = (1 + rng.gen_range(0..2 * MEAN_OUTPUTS_PER_BLOCK - 1)).min(outputs - total);
            first_output.push(total);
            counts.push(n as u32);
            total += n;
        }
        Plan {
            seed,
            counts,
            first_output,
        }
    }

    pub fn blocks(&self) -> u64 {
        self.counts.len() as u64
    }

    /// Blocks `heights`, built on all cores.
    pub fn build(&self, heights: std::ops::Range<u64>) -> (Vec<BlockData>, Mix) {
        let built: Vec<(BlockData, Mix)> = heights.into_par_iter().map(|h| self.block(h)).collect();
        let mut mix = Mix::default();
        let blocks = built
            .into_iter()
            .map(|(b, m)| {
                mix.add(&m);
                b
            })
            .collect();
        (blocks, mix)
    }

    fn block(&self, height: u64) -> (BlockData, Mix) {
        let mut rng = ChaCha20Rng::seed_from_u64(self.seed ^ height.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let count = self.counts[height as usize] as usize;
        let first = self.first_output[height as usize];
        // 2·count distinct valid points: a walk P, P+S, P+2S, ... from random P and S, compressed (as
        // 2·P_i) with one batched inversion. Decompressing them costs what a real key costs.
        let start = random_point(&mut rng);
        let step = random_point(&mut rng);
        let mut walk = Vec::with_capacity(2 * count);
        let mut p = start;
        for _ in 0..2 * count {
            walk.push(p);
            p += step;
        }
        let points = RistrettoPoint::double_and_compress_batch(&walk);
        let mut mix = Mix::default();
        let outputs = (0..count)
            .map(|i| {
                let (output_type, maturity, script) = if i == 0 {
                    mix.coinbases += 1;
                    (1, height + COINBASE_MATURITY, push_pubkey(&mut rng))
                } else {
                    match rng.gen_range(0..100) {
                        0..3 => {
                            mix.burns += 1;
                            (2, 0, vec![0x73])
                        }
                        3..51 => {
                            mix.one_sided += 1;
                            (0, 0, push_pubkey(&mut rng))
                        }
                        _ => {
                            mix.change += 1;
                            (0, 0, push_pubkey(&mut rng))
                        }
                    }
                };
                // Coinbases and a few percent of the others reveal their value (a node-side range-proof
                // type; the cached bytes look alike).
                if i == 0 || rng.gen_range(0..100) < 5 {
                    mix.revealed_value += 1;
                }
                let encrypted_len = 80 + memo_len(&mut rng, i == 0);
                OutputData {
                    output_hash: output_hash(first + i as u64),
                    commitment: points[2 * i].to_bytes(),
                    sender_offset_public_key: points[2 * i + 1].to_bytes(),
                    encrypted_data: random_bytes(&mut rng, encrypted_len),
                    script,
                    output_type,
                    maturity,
                }
            })
            .collect();
        // Most non-coinbase outputs replace an earlier one: spend that many random earlier outputs.
        let spends = if first == 0 { 0 } else { (count - 1) * 85 / 100 };
        let spent = (0..spends).map(|_| output_hash(rng.gen_range(0..first))).collect();
        mix.spends += spends as u64;
        let block = BlockData {
            height,
            hash: block_hash(height),
            prev_hash: if height == 0 { [0; 32] } else { block_hash(height - 1) },
            timestamp: GENESIS_TIMESTAMP + height * BLOCK_INTERVAL_SECS,
            outputs,
            spent,
            output_details: true,
        };
        (block, mix)
    }
}

fn random_point(rng: &mut ChaCha20Rng) -> RistrettoPoint {
    let mut wide = [0u8; 64];
    rng.fill_bytes(&mut wide);
    RistrettoPoint::mul_base(&Scalar::from_bytes_mod_order_wide(&wide))
}

/// `PushPubKey(K)`: 0x7e then 32 key bytes.
fn push_pubkey(rng: &mut ChaCha20Rng) -> Vec<u8> {
    let mut script = vec![0x7e; 33];
    rng.fill_bytes(&mut script[1..]);
    script
}

/// Memo bytes: coinbases carry short ones; payments mostly short, some long, a few at the 256 limit.
fn memo_len(rng: &mut ChaCha20Rng, coinbase: bool) -> usize {
    if coinbase {
        return rng.gen_range(0..=24);
    }
    match rng.gen_range(0..100) {
        0..60 => rng.gen_range(0..=40),
        60..95 => rng.gen_range(40..=120),
        _ => rng.gen_range(120..=256),
    }
}

fn random_bytes(rng: &mut ChaCha20Rng, len: usize) -> Vec<u8> {
    let mut bytes = vec![0u8; len];
    rng.fill_bytes(&mut bytes);
    bytes
}

/// 32 pseudo-random bytes from a number (splitmix64), distinct per input.
fn mix64(tag: u64, n: u64) -> [u8; 32] {
    let mut x = n ^ tag.rotate_left(32);
    let mut out = [0u8; 32];
    for chunk in out.chunks_mut(8) {
        x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = x;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        chunk.copy_from_slice(&(z ^ (z >> 31)).to_le_bytes());
    }
    out
}

fn output_hash(index: u64) -> [u8; 32] {
    mix64(0x07, index)
}

fn block_hash(height: u64) -> [u8; 32] {
    mix64(0xb10c, height)
}
