//! Block tree: one block's `block_output_mr` rebuilt from its outputs as tari_core builds it
//! (`calculate_mmr_roots`): the coinbase output hashes as leaves of the block MMR, then one last leaf,
//! the root of the MMR of every other output hash; both in commitment order. Owns that rebuild and the
//! proofs taken from it, with the official MMR (`tari_mmr`) and hasher (`InputMmrHasherBlake256`).

use tari_hashing::hashers::InputMmrHasherBlake256;
use tari_mmr::{Hash, MerkleMountainRange, MerkleProof, common::LeafIndex};
use tari_wallet_sync_sse::proof::{MmrPath, OutputProof};

type OutputMmr = MerkleMountainRange<InputMmrHasherBlake256, Vec<Hash>>;

/// One output of a block, as the rebuild needs it.
pub use crate::source::full_outputs::BlockLeaf as Leaf;

/// A block's two MMRs, rebuilt.
pub struct BlockTree {
    coinbases: Vec<[u8; 32]>,
    normals: Vec<[u8; 32]>,
    block_mmr: OutputMmr,
    normal_mmr: OutputMmr,
    normal_root: [u8; 32],
    root: [u8; 32],
}

impl BlockTree {
    /// Rebuilds the block's trees from all of its outputs, in any order.
    pub fn rebuild(mut leaves: Vec<Leaf>) -> BlockTree {
        leaves.sort_by_key(|l| l.commitment);
        let (coinbases, normals): (Vec<Leaf>, Vec<Leaf>) = leaves.into_iter().partition(|l| l.coinbase);
        let coinbases: Vec<[u8; 32]> = coinbases.into_iter().map(|l| l.output_hash).collect();
        let normals: Vec<[u8; 32]> = normals.into_iter().map(|l| l.output_hash).collect();
        let mut normal_mmr = OutputMmr::new(Vec::new());
        for h in &normals {
            normal_mmr
                .push(h.to_vec())
                .expect("a memory-backed MMR takes every push");
        }
        let normal_root = hash32(normal_mmr.get_merkle_root().expect("a memory-backed MMR has a root"));
        let mut block_mmr = OutputMmr::new(Vec::new());
        for h in &coinbases {
            block_mmr
                .push(h.to_vec())
                .expect("a memory-backed MMR takes every push");
        }
        block_mmr
            .push(normal_root.to_vec())
            .expect("a memory-backed MMR takes every push");
        let root = hash32(block_mmr.get_merkle_root().expect("a memory-backed MMR has a root"));
        BlockTree {
            coinbases,
            normals,
            block_mmr,
            normal_mmr,
            normal_root,
            root,
        }
    }

    /// The rebuilt `block_output_mr`.
    pub fn root(&self) -> [u8; 32] {
        self.root
    }

    pub fn leaf_count(&self) -> usize {
        self.coinbases.len() + self.normals.len()
    }

    /// The proof of `output_hash`, if it is one of the block's outputs.
    pub fn proof(&self, output_hash: &[u8; 32]) -> Option<OutputProof> {
        if let Some(i) = self.coinbases.iter().position(|h| h == output_hash) {
            return Some(OutputProof::Coinbase {
                block: path(&self.block_mmr, i)?,
            });
        }
        let i = self.normals.iter().position(|h| h == output_hash)?;
        Some(OutputProof::Normal {
            normal: path(&self.normal_mmr, i)?,
            normal_root: self.normal_root,
            block: path(&self.block_mmr, self.coinbases.len())?,
        })
    }
}

fn path(mmr: &OutputMmr, leaf: usize) -> Option<MmrPath> {
    let proof = MerkleProof::for_leaf_node(mmr, LeafIndex(leaf)).ok()?;
    Some(MmrPath {
        leaf_index: leaf as u64,
        mmr_size: proof.mmr_size as u64,
        path: proof.path.into_iter().map(hash32).collect(),
        peaks: proof.peaks.into_iter().map(hash32).collect(),
    })
}

fn hash32(h: Hash) -> [u8; 32] {
    let mut out = [0u8; 32];
    // Blake2b-256 hashes: always 32 bytes.
    out.copy_from_slice(&h[..32]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaf(i: u8, coinbase: bool) -> Leaf {
        Leaf {
            output_hash: [i; 32],
            commitment: [255 - i; 32],
            coinbase,
        }
    }

    #[test]
    fn every_leaf_gets_a_proof_the_client_checker_accepts() {
        for (coinbases, normals) in [(1, 0), (1, 1), (2, 5), (3, 17), (0, 4)] {
            let leaves: Vec<Leaf> = (0..coinbases)
                .map(|i| leaf(i, true))
                .chain((coinbases..coinbases + normals).map(|i| leaf(i, false)))
                .collect();
            let tree = BlockTree::rebuild(leaves.clone());
            for l in &leaves {
                let proof = tree.proof(&l.output_hash).unwrap();
                assert_eq!(proof.is_coinbase(), l.coinbase);
                proof.verify(&l.output_hash, &tree.root()).unwrap();
                let decoded = OutputProof::decode(&proof.encode()).unwrap();
                assert_eq!(decoded, proof);
                assert!(decoded.verify(&[0xaa; 32], &tree.root()).is_err());
            }
            assert!(tree.proof(&[0xaa; 32]).is_none());
        }
    }

    #[test]
    fn a_missing_output_changes_the_root() {
        let leaves: Vec<Leaf> = (0..6).map(|i| leaf(i, i == 0)).collect();
        let whole = BlockTree::rebuild(leaves.clone()).root();
        let partial = BlockTree::rebuild(leaves[..5].to_vec()).root();
        assert_ne!(whole, partial);
        // Order of arrival does not matter: the rebuild sorts by commitment.
        let mut reversed = leaves;
        reversed.reverse();
        assert_eq!(BlockTree::rebuild(reversed).root(), whole);
    }
}
