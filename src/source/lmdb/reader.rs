//! Reading a stopped node's LMDB (or a copy of it): the chain's metadata, headers by height, and each
//! block's outputs and spends in the order the node's own query service lists them (a prefix walk of
//! `utxos` and `inputs` on the header hash). Opened read-only without LMDB's locking (the node does its
//! own), behind the running-node check of `guard`.

use std::{
    ops::RangeInclusive,
    path::{Path, PathBuf},
};

use heed::{Database, Env, EnvFlags, EnvOpenOptions, RoTxn, WithTls, types::Bytes};
use tari_node_components::blocks::BlockHeader;
use tari_transaction_components::transaction_components::TransactionOutput;

use super::{
    LmdbError,
    guard::NodeLockGuard,
    rows::{self, InputRow, MetadataKey, OutputRow},
};
use crate::{
    cache::BlockData,
    network::{self, NETWORKS, Network, NetworkError},
    source::NodeHeader,
};

type Table = Database<Bytes, Bytes>;

/// What the node's `metadata` table says about its chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChainInfo {
    pub tip_height: u64,
    pub tip_hash: [u8; 32],
    pub tip_timestamp: Option<u64>,
    /// 0 for an archival node.
    pub pruning_horizon: u64,
    /// Below this height a pruned node has deleted spent outputs and all inputs.
    pub pruned_height: u64,
}

impl ChainInfo {
    pub fn is_pruned(&self) -> bool {
        self.pruning_horizon > 0 || self.pruned_height > 0
    }

    /// What a pruned database cannot tell, in words for an operator; `None` for an archival node.
    pub fn pruning_note(&self) -> Option<String> {
        self.is_pruned().then(|| {
            format!(
                "pruned node (horizon {} blocks, pruned to height {}): outputs spent below height {} and every \
                 input there are gone, so balances are right but history (spent outputs, spends) below that \
                 height is missing; import from an archival node or follow one for full history",
                self.pruning_horizon, self.pruned_height, self.pruned_height
            )
        })
    }
}

/// A base node's chain database, open for reading.
pub struct NodeDb {
    dir: PathBuf,
    env: Env,
    metadata: Table,
    headers: Table,
    block_hashes: Table,
    utxos: Table,
    inputs: Table,
    _guard: NodeLockGuard,
}

impl std::fmt::Debug for NodeDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeDb").field("dir", &self.dir).finish_non_exhaustive()
    }
}

/// Named tables in a node database: tari_core has 30-odd.
const MAX_TABLES: u32 = 64;

impl NodeDb {
    /// Opens the database in `dir` (the directory holding `data.mdb`), refusing one a node is running on.
    pub fn open(dir: impl AsRef<Path>) -> Result<NodeDb, LmdbError> {
        let dir = dir.as_ref().to_path_buf();
        if !dir.join("data.mdb").is_file() {
            return Err(LmdbError::NotFound { dir });
        }
        let guard = NodeLockGuard::acquire(&dir)?;
        let lmdb = |source| LmdbError::Lmdb {
            dir: dir.clone(),
            source,
        };
        let mut options = EnvOpenOptions::new();
        options.max_dbs(MAX_TABLES);
        // SAFETY: read-only, and the lock guard above holds off the only writer (a node) while we read;
        // NO_LOCK because the node does not use LMDB's lock file either, and a copy has none.
        let env = unsafe {
            options.flags(EnvFlags::READ_ONLY | EnvFlags::NO_LOCK);
            options.open(&dir)
        }
        .map_err(|e| match e {
            heed::Error::EnvAlreadyOpened => LmdbError::AlreadyOpen { dir: dir.clone() },
            e => lmdb(e),
        })?;
        check_length(&dir, &env)?;
        let rtxn = env.read_txn().map_err(lmdb)?;
        let open = |table: &'static str| -> Result<Table, LmdbError> {
            env.open_database::<Bytes, Bytes>(&rtxn, Some(table))
                .map_err(lmdb)?
                .ok_or_else(|| LmdbError::MissingTable {
                    dir: dir.clone(),
                    table,
                })
        };
        let (metadata, headers, utxos, inputs) = (open("metadata")?, open("headers")?, open("utxos")?, open("inputs")?);
        let block_hashes = open("block_hashes")?;
        // Committing a read transaction makes the table handles it opened usable by later ones.
        rtxn.commit().map_err(lmdb)?;
        Ok(NodeDb {
            dir,
            env,
            metadata,
            headers,
            block_hashes,
            utxos,
            inputs,
            _guard: guard,
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn lmdb(&self, source: heed::Error) -> LmdbError {
        LmdbError::Lmdb {
            dir: self.dir.clone(),
            source,
        }
    }

    fn corrupt(&self, table: &'static str, reason: impl Into<String>) -> LmdbError {
        LmdbError::Corrupt {
            dir: self.dir.clone(),
            table,
            reason: reason.into(),
        }
    }

    fn read(&self) -> Result<RoTxn<'_, WithTls>, LmdbError> {
        self.env.read_txn().map_err(|e| self.lmdb(e))
    }

    /// The chain's tip and pruning state.
    pub fn chain_info(&self) -> Result<ChainInfo, LmdbError> {
        let txn = self.read()?;
        let get = |key: MetadataKey| -> Result<Option<&[u8]>, LmdbError> {
            self.metadata.get(&txn, &key.key_bytes()).map_err(|e| self.lmdb(e))
        };
        let need = |key: MetadataKey| {
            get(key)?
                .ok_or_else(|| self.corrupt("metadata", format!("no {key:?}; is the node's database initialised?")))
        };
        let number =
            |key: MetadataKey, bytes: &[u8]| rows::metadata_u64(key, bytes).map_err(|r| self.corrupt("metadata", r));
        let tip_height = number(MetadataKey::ChainHeight, need(MetadataKey::ChainHeight)?)?;
        let tip_hash = rows::metadata_hash(MetadataKey::BestBlock, need(MetadataKey::BestBlock)?)
            .map_err(|r| self.corrupt("metadata", r))?;
        let optional = |key: MetadataKey| -> Result<Option<u64>, LmdbError> {
            get(key)?.map(|bytes| number(key, bytes)).transpose()
        };
        Ok(ChainInfo {
            tip_height,
            tip_hash,
            tip_timestamp: optional(MetadataKey::BestBlockTimestamp)?,
            pruning_horizon: optional(MetadataKey::PruningHorizon)?.unwrap_or(0),
            pruned_height: optional(MetadataKey::PrunedHeight)?.unwrap_or(0),
        })
    }

    /// The network the database belongs to, told by its genesis block: the node indexes every block by
    /// the hash it computed under its own network, so the one official genesis hash it holds at height 0
    /// names the network. Needs no hashing here, so it works before the process network is set.
    pub fn network(&self) -> Result<Network, LmdbError> {
        let txn = self.read()?;
        for network in NETWORKS {
            if self.stored_height(&txn, &network::genesis_hash(network))? == Some(0) {
                return Ok(network);
            }
        }
        Err(LmdbError::Network(NetworkError::UnknownGenesis {
            what: format!("the database in {}", self.dir.display()),
            genesis: "(none of the official genesis hashes at height 0)".into(),
        }))
    }

    /// Checks that the database belongs to `expected` (see [`NodeDb::network`]).
    pub fn check_network(&self, expected: Network) -> Result<(), LmdbError> {
        match self.network()? {
            found if found == expected => Ok(()),
            found => Err(LmdbError::Network(NetworkError::Mismatch {
                what: format!("the database in {}", self.dir.display()),
                expected,
                found,
            })),
        }
    }

    /// The height the node recorded for the block `hash` (`block_hashes`: hash -> bincode u64).
    fn stored_height(&self, txn: &RoTxn<'_>, hash: &[u8; 32]) -> Result<Option<u64>, LmdbError> {
        let Some(bytes) = self.block_hashes.get(txn, hash).map_err(|e| self.lmdb(e))? else {
            return Ok(None);
        };
        let height: [u8; 8] = bytes
            .try_into()
            .map_err(|_| self.corrupt("block_hashes", format!("a height of {} bytes", bytes.len())))?;
        Ok(Some(u64::from_le_bytes(height)))
    }

    fn header_in(&self, txn: &RoTxn<'_>, height: u64) -> Result<Option<(BlockHeader, [u8; 32])>, LmdbError> {
        let Some(bytes) = self.headers.get(txn, &height.to_ne_bytes()).map_err(|e| self.lmdb(e))? else {
            return Ok(None);
        };
        let header =
            rows::decode_header(bytes).map_err(|r| self.corrupt("headers", format!("height {height}: {r}")))?;
        if header.height != height {
            return Err(self.corrupt(
                "headers",
                format!("the row at {height} is a header of {}", header.height),
            ));
        }
        let hash = *header.hash();
        // The node indexed the block by the hash it computed; ours must be the same, or we hash under
        // another network than the node's (or the row is damaged).
        if self.stored_height(txn, &hash)? != Some(height) {
            return Err(LmdbError::HashMismatch {
                dir: self.dir.clone(),
                height,
                computed: hex::encode(hash),
                network: Network::get_current(),
            });
        }
        Ok(Some((header, hash)))
    }

    /// The main chain's whole header at `height` (for output proofs), with its hash.
    pub fn full_header(&self, height: u64) -> Result<Option<(BlockHeader, [u8; 32])>, LmdbError> {
        let txn = self.read()?;
        self.header_in(&txn, height)
    }

    /// The main chain's header at `height`, with its hash (computed by the official `BlockHeader::hash`).
    pub fn header(&self, height: u64) -> Result<Option<NodeHeader>, LmdbError> {
        let txn = self.read()?;
        Ok(self.header_in(&txn, height)?.map(|(h, hash)| node_header(&h, hash)))
    }

    fn outputs_in(&self, txn: &RoTxn<'_>, header_hash: &[u8; 32]) -> Result<Vec<OutputRow>, LmdbError> {
        let mut rows = Vec::new();
        for entry in self.utxos.prefix_iter(txn, header_hash).map_err(|e| self.lmdb(e))? {
            let (key, value) = entry.map_err(|e| self.lmdb(e))?;
            let row: OutputRow = rows::decode(value).map_err(|r| self.corrupt("utxos", r))?;
            if key.len() != 64 || key[32..] != row.hash[..] {
                return Err(self.corrupt("utxos", "a row's key is not its header hash and output hash"));
            }
            rows.push(row);
        }
        Ok(rows)
    }

    /// The full output `output_hash` of the block `header_hash`, as the node stored it (spent or not);
    /// `None` if this database does not hold it (another chain, an older copy, a pruned spend).
    pub fn output(
        &self,
        header_hash: &[u8; 32],
        output_hash: &[u8; 32],
    ) -> Result<Option<TransactionOutput>, LmdbError> {
        let txn = self.read()?;
        let key = [&header_hash[..], &output_hash[..]].concat();
        let Some(bytes) = self.utxos.get(&txn, &key).map_err(|e| self.lmdb(e))? else {
            return Ok(None);
        };
        let row: OutputRow = rows::decode(bytes).map_err(|r| self.corrupt("utxos", r))?;
        if row.hash[..] != output_hash[..] || row.header_hash[..] != header_hash[..] {
            return Err(self.corrupt("utxos", "a row's key is not its header hash and output hash"));
        }
        Ok(Some(row.output))
    }

    /// Hashes of the outputs spent by the block's inputs, in the node's order.
    fn spent_in(&self, txn: &RoTxn<'_>, header_hash: &[u8; 32]) -> Result<Vec<[u8; 32]>, LmdbError> {
        let mut spent = Vec::new();
        for entry in self.inputs.prefix_iter(txn, header_hash).map_err(|e| self.lmdb(e))? {
            let (_, value) = entry.map_err(|e| self.lmdb(e))?;
            let row: InputRow = rows::decode(value).map_err(|r| self.corrupt("inputs", r))?;
            if row.header_hash[..] != header_hash[..] {
                return Err(self.corrupt("inputs", "a row's header hash is not its key's"));
            }
            spent.push(*row.input.output_hash());
        }
        Ok(spent)
    }

    /// The block at `height` as the cache stores it: outputs with script, type and maturity, and spends.
    pub fn block(&self, height: u64) -> Result<Option<BlockData>, LmdbError> {
        let mut found = None;
        self.for_each_block(height..=height, |block| {
            found = Some(block);
            Ok(())
        })?;
        Ok(found)
    }

    /// Calls `f` with each block of `heights` in order, stopping at the first height the node lacks or
    /// the first error. One read transaction: a consistent snapshot of the range.
    pub fn for_each_block(
        &self,
        heights: RangeInclusive<u64>,
        mut f: impl FnMut(BlockData) -> Result<(), LmdbError>,
    ) -> Result<(), LmdbError> {
        self.for_each_block_with_outputs(heights, |block, _| f(block))
    }

    /// `for_each_block`, with each block's full outputs too, as the node's `/get_utxos_by_block` gives
    /// them (same order as the block's outputs): one walk decodes each row once for both.
    pub fn for_each_block_with_outputs(
        &self,
        heights: RangeInclusive<u64>,
        mut f: impl FnMut(BlockData, Vec<TransactionOutput>) -> Result<(), LmdbError>,
    ) -> Result<(), LmdbError> {
        let txn = self.read()?;
        for height in heights {
            let Some((header, hash)) = self.header_in(&txn, height)? else {
                break;
            };
            let outputs = self.outputs_in(&txn, &hash)?;
            if let Some(row) = outputs
                .iter()
                .find(|r| r.mined_height != height || *r.header_hash != hash)
            {
                let reason = format!("block {height} lists an output mined at {}", row.mined_height);
                return Err(self.corrupt("utxos", reason));
            }
            let block = BlockData {
                height,
                hash,
                prev_hash: *header.prev_hash,
                timestamp: header.timestamp.as_u64(),
                outputs: outputs.iter().map(OutputRow::to_output_data).collect(),
                spent: self.spent_in(&txn, &hash)?,
                output_details: true,
            };
            f(block, outputs.into_iter().map(|r| r.output).collect())?;
        }
        Ok(())
    }
}

/// The stored bytes of one block of a node database, and of its metadata: the LMDB fuzz target's seeds.
#[cfg(feature = "fuzzing")]
#[derive(Debug, Clone, Default)]
pub struct RawRows {
    pub header: Vec<u8>,
    pub outputs: Vec<Vec<u8>>,
    pub inputs: Vec<Vec<u8>>,
    /// `(key, value)` of every metadata entry the import reads.
    pub metadata: Vec<(MetadataKey, Vec<u8>)>,
}

#[cfg(feature = "fuzzing")]
impl NodeDb {
    /// The stored bytes of the header, `utxos` and `inputs` rows of the block at `height`, and the
    /// metadata values `chain_info` reads: seeds of the LMDB fuzz target.
    pub fn raw_rows(&self, height: u64) -> Result<Option<RawRows>, LmdbError> {
        let txn = self.read()?;
        let Some((_, hash)) = self.header_in(&txn, height)? else {
            return Ok(None);
        };
        let header = self
            .headers
            .get(&txn, &height.to_ne_bytes())
            .map_err(|e| self.lmdb(e))?;
        let walk = |table: &Table| -> Result<Vec<Vec<u8>>, LmdbError> {
            let rows = table.prefix_iter(&txn, &hash).map_err(|e| self.lmdb(e))?;
            rows.map(|r| r.map(|(_, v)| v.to_vec()).map_err(|e| self.lmdb(e)))
                .collect()
        };
        let mut metadata = Vec::new();
        for key in [
            MetadataKey::ChainHeight,
            MetadataKey::BestBlock,
            MetadataKey::PruningHorizon,
            MetadataKey::PrunedHeight,
            MetadataKey::BestBlockTimestamp,
        ] {
            if let Some(value) = self.metadata.get(&txn, &key.key_bytes()).map_err(|e| self.lmdb(e))? {
                metadata.push((key, value.to_vec()));
            }
        }
        Ok(Some(RawRows {
            header: header.unwrap_or_default().to_vec(),
            outputs: walk(&self.utxos)?,
            inputs: walk(&self.inputs)?,
            metadata,
        }))
    }
}

/// A file shorter than the pages its meta page names would fault (SIGBUS) on the first read past its end:
/// refuse it before any table is touched.
fn check_length(dir: &Path, env: &Env) -> Result<(), LmdbError> {
    let needed = (env.info().last_page_number as u64 + 1) * u64::from(env.stat().page_size);
    let len = std::fs::metadata(dir.join("data.mdb"))
        .map_err(|source| LmdbError::Io {
            dir: dir.into(),
            source,
        })?
        .len();
    if len < needed {
        return Err(LmdbError::Corrupt {
            dir: dir.into(),
            table: "data.mdb",
            reason: format!("truncated: {len} bytes, its pages need {needed}"),
        });
    }
    Ok(())
}

fn node_header(header: &BlockHeader, hash: [u8; 32]) -> NodeHeader {
    NodeHeader {
        height: header.height,
        hash,
        prev_hash: *header.prev_hash,
        timestamp: header.timestamp.as_u64(),
    }
}
