//! A block and its outputs as every source delivers them to the cache (what the cache stores, before
//! it has a layout): the writer's input, the format's records, the scan's outputs.

/// One block as every source delivers it, in height order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockData {
    pub height: u64,
    pub hash: [u8; 32],
    pub prev_hash: [u8; 32],
    pub timestamp: u64,
    pub outputs: Vec<OutputData>,
    /// Hashes of the outputs this block's inputs spend.
    pub spent: Vec<[u8; 32]>,
    /// The outputs carry their genuine script, output type and maturity (a node's database, full
    /// outputs, the demo generator). `false` for the light sync route, which has only what recognition
    /// reads: there script, type and maturity are empty, 0 and 0, and a wallet file takes them from the
    /// output's full form at job time.
    pub output_details: bool,
}

impl BlockData {
    /// The block as the node's light sync route delivers it: each output's recognition fields only (no
    /// script, type 0, maturity 0), marked so.
    pub fn light(&self) -> BlockData {
        let mut block = self.clone();
        block.output_details = false;
        for out in &mut block.outputs {
            out.script.clear();
            (out.output_type, out.maturity) = (0, 0);
        }
        block
    }
}

/// One output of a block: what a scan needs to recognise it, nothing more.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputData {
    pub output_hash: [u8; 32],
    pub commitment: [u8; 32],
    pub sender_offset_public_key: [u8; 32],
    /// Usually 80..=336 bytes; stored as given.
    pub encrypted_data: Vec<u8>,
    /// Serialized script; usually 33 bytes.
    pub script: Vec<u8>,
    pub output_type: u8,
    pub maturity: u64,
}
