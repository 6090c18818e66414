//! Header preimage: a block header as the bytes its hash is made of (`HeaderPreimage`), so a wallet can
//! recompute the hash with no Tari crate and read the roots the hash covers. Checked against the
//! official `BlockHeader::hash` for every header it is made from.

use borsh::BorshSerialize;
use tari_node_components::blocks::BlockHeader;
use tari_wallet_sync_sse::proof::HeaderPreimage;

/// The borsh encoding of `header`'s fields in the order `BlockHeader::mining_hash` and `hash` feed them.
pub fn preimage(header: &BlockHeader) -> HeaderPreimage {
    let mut mining = Vec::with_capacity(330);
    let mut put = |value: &dyn ErasedBorsh| value.write_to(&mut mining);
    put(&header.version);
    put(&header.height);
    put(&header.prev_hash);
    put(&header.timestamp);
    put(&header.input_mr);
    put(&header.output_mr);
    put(&header.output_smt_size);
    put(&header.block_output_mr);
    put(&header.kernel_mr);
    put(&header.kernel_mmr_size);
    put(&header.total_kernel_offset);
    put(&header.total_script_offset);
    put(&header.validator_node_mr);
    put(&header.validator_node_size);
    let mut pow_nonce = Vec::with_capacity(64);
    header.pow.write_to(&mut pow_nonce);
    header.nonce.write_to(&mut pow_nonce);
    HeaderPreimage { mining, pow_nonce }
}

/// `BorshSerialize` into a `Vec`, object-safe.
trait ErasedBorsh {
    fn write_to(&self, out: &mut Vec<u8>);
}

impl<T: BorshSerialize> ErasedBorsh for T {
    fn write_to(&self, out: &mut Vec<u8>) {
        // Writing into a Vec cannot fail.
        let _ = self.serialize(out);
    }
}
