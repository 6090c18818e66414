//! Output proofs: what a wallet checks so that it need not trust the service for the outputs it was
//! given. Owns the proof's byte encoding (shared by the service that writes it and every client that
//! reads it), the block header's hash preimage, and the checks. It does not fetch headers nor read
//! wallet files: a client brings the header (or a block hash it trusts) from a node it chose.
//!
//! Every Tari header carries `block_output_mr`, the root of a Merkle mountain range (MMR) over that
//! block's outputs: the coinbase output hashes as leaves, then one last leaf, the root of a second MMR
//! over every other output hash in commitment order. A proof is the sibling path of an output hash to
//! that root (one level for a coinbase, two for any other output). The header's hash covers the root,
//! so a proof checked against a header whose hash the wallet trusts shows the output was mined in that
//! block. No inclusion proof shows that nothing was left out.
//!
//! Written from the Tari crates' definitions (tari_mmr `MerkleProof::verify_leaf`, tari_crypto's
//! domain-separated hasher, tari_node_components `BlockHeader::hash`) so that a light client needs no
//! Tari crate; the service's tests check this code against those crates.

use blake2::{Blake2b, Digest, digest::consts::U32};

type Blake2b256 = Blake2b<U32>;

/// The encoding's version, its first byte.
pub const PROOF_FORMAT: u8 = 1;

/// Hashes a sibling path may hold: an MMR of `u64` leaves is at most 64 high, and a block holds far
/// fewer outputs. A longer path is malformed, refused before any hashing.
const MAX_PATH: usize = 64;

/// The domain of the block-output MMR's hasher (tari_hashing `InputMmrHashDomain`, version 1, no label).
const MMR_DOMAIN: &str = "com.tari.base_layer.core.input_mmr.v1";
/// The domain of block header hashes (tari_hashing `BlocksHashDomain`, version 0, label `block_header`).
const HEADER_DOMAIN: &str = "com.tari.base_layer.core.blocks.v0.block_header";

/// Offsets in the header's mining preimage (borsh: version u16, height u64, prev_hash, timestamp u64,
/// input_mr, output_mr, output_smt_size u64, block_output_mr, ...), all fixed-width up to here.
const HEIGHT_AT: usize = 2;
const OUTPUT_MR_AT: usize = 2 + 8 + 32 + 8 + 32;
const BLOCK_OUTPUT_MR_AT: usize = OUTPUT_MR_AT + 32 + 8;

/// Why a proof does not hold. `code()` is stable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    #[error("the proof is malformed: {0}")]
    Malformed(String),
    /// The header's hash is not the block hash the output claims (or the client trusts): another
    /// network, another block, or an altered header.
    #[error("the header hashes to {computed}, not to the block's hash {expected}")]
    HeaderMismatch { computed: String, expected: String },
    /// The output's path does not lead to the header's `block_output_mr`: an altered output hash or path.
    #[error("the output's path does not lead to the header's block_output_mr")]
    RootMismatch,
}

impl ProofError {
    pub fn code(&self) -> &'static str {
        match self {
            ProofError::Malformed(_) => "PROOF_MALFORMED",
            ProofError::HeaderMismatch { .. } => "HEADER_MISMATCH",
            ProofError::RootMismatch => "PROOF_ROOT_MISMATCH",
        }
    }
}

fn malformed(what: impl Into<String>) -> ProofError {
    ProofError::Malformed(what.into())
}

/// An inclusion proof of one leaf in an MMR, in tari_mmr's shape: the siblings from the leaf up to its
/// peak, then the other peaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MmrPath {
    pub leaf_index: u64,
    /// Nodes in the MMR (not leaves).
    pub mmr_size: u64,
    pub path: Vec<[u8; 32]>,
    pub peaks: Vec<[u8; 32]>,
}

/// Where an output's hash sits under its block's `block_output_mr`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutputProof {
    /// A coinbase: a leaf of the block MMR itself.
    Coinbase { block: MmrPath },
    /// Any other output: a leaf of the normal-output MMR, whose root `normal_root` is the block MMR's
    /// last leaf.
    Normal {
        normal: MmrPath,
        normal_root: [u8; 32],
        block: MmrPath,
    },
}

impl OutputProof {
    /// The proof's bytes: format, kind (0 coinbase, 1 normal), then each path as leaf index and MMR
    /// size (u64 little-endian), path length and hashes, peak count and hashes; a normal proof carries
    /// its normal path, the normal root, then the block path.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![PROOF_FORMAT];
        match self {
            OutputProof::Coinbase { block } => {
                out.push(0);
                encode_path(&mut out, block);
            }
            OutputProof::Normal {
                normal,
                normal_root,
                block,
            } => {
                out.push(1);
                encode_path(&mut out, normal);
                out.extend_from_slice(normal_root);
                encode_path(&mut out, block);
            }
        }
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<OutputProof, ProofError> {
        let mut r = Reader(bytes);
        let format = r.byte()?;
        if format != PROOF_FORMAT {
            return Err(malformed(format!("unknown proof format {format}")));
        }
        let proof = match r.byte()? {
            0 => OutputProof::Coinbase { block: r.path()? },
            1 => OutputProof::Normal {
                normal: r.path()?,
                normal_root: r.hash()?,
                block: r.path()?,
            },
            kind => return Err(malformed(format!("unknown proof kind {kind}"))),
        };
        if !r.0.is_empty() {
            return Err(malformed("trailing bytes"));
        }
        Ok(proof)
    }

    pub fn is_coinbase(&self) -> bool {
        matches!(self, OutputProof::Coinbase { .. })
    }

    /// Checks that `output_hash` is a leaf under `block_output_mr`: a coinbase among the block MMR's
    /// leaves before its last, any other output in the MMR whose root is the block MMR's last leaf.
    pub fn verify(&self, output_hash: &[u8; 32], block_output_mr: &[u8; 32]) -> Result<(), ProofError> {
        match self {
            OutputProof::Coinbase { block } => {
                let leaves = leaf_count(block.mmr_size)?;
                if block.leaf_index.checked_add(1).is_none_or(|next| next >= leaves) {
                    return Err(malformed("a coinbase must be a leaf before the block MMR's last"));
                }
                verify_leaf(block, output_hash, block_output_mr)
            }
            OutputProof::Normal {
                normal,
                normal_root,
                block,
            } => {
                verify_leaf(normal, output_hash, normal_root)?;
                if leaf_count(block.mmr_size)?.checked_sub(1) != Some(block.leaf_index) {
                    return Err(malformed("the normal-output root must be the block MMR's last leaf"));
                }
                verify_leaf(block, normal_root, block_output_mr)
            }
        }
    }
}

fn encode_path(out: &mut Vec<u8>, path: &MmrPath) {
    out.extend_from_slice(&path.leaf_index.to_le_bytes());
    out.extend_from_slice(&path.mmr_size.to_le_bytes());
    for hashes in [&path.path, &path.peaks] {
        // `MAX_PATH` keeps honest counts far below a byte.
        out.push(u8::try_from(hashes.len()).unwrap_or(u8::MAX));
        for h in hashes {
            out.extend_from_slice(h);
        }
    }
}

struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], ProofError> {
        if self.0.len() < n {
            return Err(malformed("truncated"));
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Ok(head)
    }

    fn byte(&mut self) -> Result<u8, ProofError> {
        Ok(self.take(1)?[0])
    }

    fn u64(&mut self) -> Result<u64, ProofError> {
        let mut b = [0u8; 8];
        b.copy_from_slice(self.take(8)?);
        Ok(u64::from_le_bytes(b))
    }

    fn hash(&mut self) -> Result<[u8; 32], ProofError> {
        let mut h = [0u8; 32];
        h.copy_from_slice(self.take(32)?);
        Ok(h)
    }

    fn hashes(&mut self) -> Result<Vec<[u8; 32]>, ProofError> {
        let n = usize::from(self.byte()?);
        if n > MAX_PATH {
            return Err(malformed(format!("{n} hashes in a path (at most {MAX_PATH})")));
        }
        (0..n).map(|_| self.hash()).collect()
    }

    fn path(&mut self) -> Result<MmrPath, ProofError> {
        Ok(MmrPath {
            leaf_index: self.u64()?,
            mmr_size: self.u64()?,
            path: self.hashes()?,
            peaks: self.hashes()?,
        })
    }
}

/// tari_crypto's domain-separated Blake2b-256: the tag (its length as u64 LE, then the text), then
/// each input as its length (u64 LE) and bytes.
struct MmrHasher(Blake2b256);

impl MmrHasher {
    fn new() -> MmrHasher {
        let mut h = Blake2b256::new();
        h.update((MMR_DOMAIN.len() as u64).to_le_bytes());
        h.update(MMR_DOMAIN.as_bytes());
        MmrHasher(h)
    }

    fn chain(mut self, data: &[u8]) -> MmrHasher {
        self.0.update((data.len() as u64).to_le_bytes());
        self.0.update(data);
        self
    }

    fn finish(self) -> [u8; 32] {
        self.0.finalize().into()
    }
}

/// The number of leaves of an MMR of `size` nodes; malformed if no MMR has that size.
fn leaf_count(size: u64) -> Result<u64, ProofError> {
    let mut leaves = 0u64;
    let mut left = size;
    // Peaks are perfect trees of 2^(h+1) - 1 nodes, largest first.
    for height in (0..63u32).rev() {
        let peak = (1u64 << (height + 1)) - 1;
        if left >= peak {
            left -= peak;
            leaves += 1u64 << height;
        }
    }
    if left != 0 {
        return Err(malformed(format!("no MMR has {size} nodes")));
    }
    Ok(leaves)
}

/// Positions of the peaks of an MMR of `size` nodes (post-order), largest first.
fn peaks(size: u64) -> Result<Vec<u64>, ProofError> {
    leaf_count(size)?;
    let mut out = Vec::new();
    let mut before = 0u64;
    for height in (0..63u32).rev() {
        let peak = (1u64 << (height + 1)) - 1;
        if size - before >= peak {
            before += peak;
            out.push(before - 1);
        }
    }
    Ok(out)
}

/// (peak map, height) of a node position, as tari_mmr's `peak_map_height`.
fn peak_map_height(mut pos: u64) -> (u64, u64) {
    if pos == 0 {
        return (0, 0);
    }
    let mut peak_size = u64::MAX >> pos.leading_zeros();
    let mut bitmap = 0u64;
    while peak_size != 0 {
        bitmap <<= 1;
        if pos >= peak_size {
            pos -= peak_size;
            bitmap |= 1;
        }
        peak_size >>= 1;
    }
    (bitmap, pos)
}

/// The position of the leaf with index `leaf` (tari_mmr `node_index`).
fn node_index(leaf: u64) -> Option<u64> {
    leaf.checked_mul(2)?.checked_sub(u64::from(leaf.count_ones()))
}

/// Walks `proof` from `leaf_hash` to a peak, then bags the peaks, and compares with `root`.
fn verify_leaf(proof: &MmrPath, leaf_hash: &[u8; 32], root: &[u8; 32]) -> Result<(), ProofError> {
    if proof.path.len() > MAX_PATH || proof.peaks.len() > MAX_PATH {
        return Err(malformed("path too long"));
    }
    let mut pos = node_index(proof.leaf_index).ok_or_else(|| malformed("leaf index out of range"))?;
    if pos >= proof.mmr_size {
        return Err(malformed("leaf index beyond the MMR"));
    }
    let all_peaks = peaks(proof.mmr_size)?;
    let mut hash = *leaf_hash;
    for sibling in &proof.path {
        let (peak_map, height) = peak_map_height(pos);
        // Heights stay below 63 inside any MMR `leaf_count` accepts.
        let step = 1u64.checked_shl(height as u32).unwrap_or(0);
        let parent = if peak_map & step == 0 {
            step.checked_mul(2).and_then(|s| pos.checked_add(s))
        } else {
            pos.checked_add(1)
        };
        let left_sibling = peak_map & step != 0;
        let Some(parent) = parent.filter(|&p| step != 0 && p < proof.mmr_size) else {
            return Err(malformed("path leaves the MMR"));
        };
        hash = if left_sibling {
            MmrHasher::new().chain(sibling).chain(&hash).finish()
        } else {
            MmrHasher::new().chain(&hash).chain(sibling).finish()
        };
        pos = parent;
    }
    if all_peaks.len() != proof.peaks.len() + 1 {
        return Err(malformed("wrong number of peaks"));
    }
    let mut given = proof.peaks.iter();
    let mut bag = MmrHasher::new();
    for &peak in &all_peaks {
        if peak == pos {
            bag = bag.chain(&hash);
        } else {
            let h = given
                .next()
                .ok_or_else(|| malformed("the path does not end at a peak"))?;
            bag = bag.chain(h);
        }
    }
    if given.next().is_some() {
        return Err(malformed("the path does not end at a peak"));
    }
    if bag.finish() == *root {
        Ok(())
    } else {
        Err(ProofError::RootMismatch)
    }
}

/// The bytes a block header's hash is made of, so a wallet can recompute the hash and read the roots it
/// commits to: `mining` is the borsh encoding of the header's fields in `BlockHeader::mining_hash`
/// order (version, height, prev_hash, timestamp, input_mr, output_mr, output_smt_size,
/// block_output_mr, kernel_mr, kernel_mmr_size, total_kernel_offset, total_script_offset,
/// validator_node_mr, validator_node_size); `pow_nonce` is the borsh encoding of `pow` then `nonce`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderPreimage {
    pub mining: Vec<u8>,
    pub pow_nonce: Vec<u8>,
}

impl HeaderPreimage {
    /// `BlockHeader::hash()` under the network byte `network` (hashes are domain-separated by network).
    pub fn hash(&self, network: u8) -> [u8; 32] {
        let tag = format!("{HEADER_DOMAIN}.n{network}");
        let hasher = || {
            let mut h = Blake2b256::new();
            h.update((tag.len() as u64).to_le_bytes());
            h.update(tag.as_bytes());
            h
        };
        let mut mining = hasher();
        mining.update(&self.mining);
        let mining_hash: [u8; 32] = mining.finalize().into();
        let mut full = hasher();
        full.update(mining_hash);
        full.update(&self.pow_nonce);
        full.finalize().into()
    }

    pub fn height(&self) -> Result<u64, ProofError> {
        let bytes = self
            .mining
            .get(HEIGHT_AT..HEIGHT_AT + 8)
            .ok_or_else(|| malformed("header preimage too short"))?;
        let mut b = [0u8; 8];
        b.copy_from_slice(bytes);
        Ok(u64::from_le_bytes(b))
    }

    fn root_at(&self, at: usize) -> Result<[u8; 32], ProofError> {
        let bytes = self
            .mining
            .get(at..at + 32)
            .ok_or_else(|| malformed("header preimage too short"))?;
        let mut h = [0u8; 32];
        h.copy_from_slice(bytes);
        Ok(h)
    }

    /// The root of the block's own outputs.
    pub fn block_output_mr(&self) -> Result<[u8; 32], ProofError> {
        self.root_at(BLOCK_OUTPUT_MR_AT)
    }

    /// The root of the whole unspent set at this block.
    pub fn output_mr(&self) -> Result<[u8; 32], ProofError> {
        self.root_at(OUTPUT_MR_AT)
    }

    /// Checks that this header hashes to `block_hash` under `network`.
    pub fn check_hash(&self, network: u8, block_hash: &[u8; 32]) -> Result<(), ProofError> {
        let computed = self.hash(network);
        if computed == *block_hash {
            Ok(())
        } else {
            Err(ProofError::HeaderMismatch {
                computed: hex::encode(computed),
                expected: hex::encode(block_hash),
            })
        }
    }
}

/// The whole check for one output: `header` hashes to `block_hash` (which the wallet trusts, e.g. from
/// its own node) under `network`, and `proof` leads from `output_hash` to the header's
/// `block_output_mr`.
pub fn verify_output(
    output_hash: &[u8; 32],
    proof: &OutputProof,
    header: &HeaderPreimage,
    block_hash: &[u8; 32],
    network: u8,
) -> Result<(), ProofError> {
    header.check_hash(network, block_hash)?;
    proof.verify(output_hash, &header.block_output_mr()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tiny MMR built here, leaf by leaf, as tari_mmr builds it (post-order, parent = H(left, right)).
    fn mmr(leaves: &[[u8; 32]]) -> Vec<[u8; 32]> {
        let mut nodes: Vec<[u8; 32]> = Vec::new();
        for leaf in leaves {
            nodes.push(*leaf);
            let mut pos = (nodes.len() - 1) as u64;
            // Merge while the new node is a right sibling.
            loop {
                let (peak_map, height) = peak_map_height(pos);
                let step = 1u64 << height;
                if peak_map & step == 0 {
                    break;
                }
                let left = (pos + 1 - 2 * step) as usize;
                let parent = MmrHasher::new()
                    .chain(&nodes[left])
                    .chain(&nodes[pos as usize])
                    .finish();
                nodes.push(parent);
                pos += 1;
            }
        }
        nodes
    }

    fn root(nodes: &[[u8; 32]]) -> [u8; 32] {
        let mut bag = MmrHasher::new();
        for p in peaks(nodes.len() as u64).unwrap() {
            bag = bag.chain(&nodes[p as usize]);
        }
        bag.finish()
    }

    #[test]
    fn leaf_counts_match_mmr_sizes() {
        for n in 0..40u64 {
            let leaves: Vec<[u8; 32]> = (0..n).map(|i| [i as u8; 32]).collect();
            assert_eq!(leaf_count(mmr(&leaves).len() as u64).unwrap(), n);
        }
        assert!(leaf_count(2).is_err(), "no MMR has two nodes");
        assert!(leaf_count(u64::MAX).is_err());
    }

    #[test]
    fn a_garbled_encoding_is_refused_without_panic() {
        let proof = OutputProof::Coinbase {
            block: MmrPath {
                leaf_index: 0,
                mmr_size: 3,
                path: vec![[1; 32]],
                peaks: vec![],
            },
        };
        let bytes = proof.encode();
        assert_eq!(OutputProof::decode(&bytes).unwrap(), proof);
        for cut in 0..bytes.len() {
            assert_eq!(
                OutputProof::decode(&bytes[..cut]).unwrap_err().code(),
                "PROOF_MALFORMED"
            );
        }
        let mut long = bytes.clone();
        long.push(0);
        assert!(OutputProof::decode(&long).is_err());
    }

    #[test]
    fn huge_sizes_and_indices_are_malformed_not_panics() {
        for (leaf_index, mmr_size) in [(u64::MAX, u64::MAX), (u64::MAX / 2, 1), (0, u64::MAX - 1), (1, 0)] {
            let path = MmrPath {
                leaf_index,
                mmr_size,
                path: vec![[0; 32]; 3],
                peaks: vec![[0; 32]; 2],
            };
            assert!(verify_leaf(&path, &[0; 32], &[0; 32]).is_err());
        }
    }

    #[test]
    fn paths_from_a_built_mmr_verify_and_a_changed_leaf_does_not() {
        for n in 1..20usize {
            let leaves: Vec<[u8; 32]> = (0..n).map(|i| [i as u8 + 1; 32]).collect();
            let nodes = mmr(&leaves);
            let root = root(&nodes);
            for (i, leaf) in leaves.iter().enumerate() {
                let path = path_for(&nodes, i as u64);
                verify_leaf(&path, leaf, &root).unwrap_or_else(|e| panic!("{n} leaves, leaf {i}: {e}"));
                assert_eq!(verify_leaf(&path, &[0xee; 32], &root), Err(ProofError::RootMismatch));
            }
        }
    }

    /// A proof taken from the built nodes, as tari_mmr's `MerkleProof::for_leaf_node` takes it.
    fn path_for(nodes: &[[u8; 32]], leaf: u64) -> MmrPath {
        let size = nodes.len() as u64;
        let mut pos = node_index(leaf).unwrap();
        let mut path = Vec::new();
        loop {
            let (peak_map, height) = peak_map_height(pos);
            let step = 1u64 << height;
            let (parent, sibling) = if peak_map & step == 0 {
                (pos + 2 * step, pos + 2 * step - 1)
            } else {
                (pos + 1, pos + 1 - 2 * step)
            };
            if parent >= size {
                break;
            }
            path.push(nodes[sibling as usize]);
            pos = parent;
        }
        let peaks = peaks(size)
            .unwrap()
            .into_iter()
            .filter(|&p| p != pos)
            .map(|p| nodes[p as usize])
            .collect();
        MmrPath {
            leaf_index: leaf,
            mmr_size: size,
            path,
            peaks,
        }
    }
}
