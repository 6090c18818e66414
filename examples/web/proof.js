// Output proofs in the browser: checks that each owned output of a wallet file was mined in the block
// its row names, against block hashes the wallet trusts (a node it chose), as tari-wallet-sync's Rust
// checker (`tari_wallet_sync_sse::proof`) does. Layout and bytes: docs/proofs.md. No Tari library needed:
// Blake2b-256 with tari_crypto's domain separation, tari_mmr's Merkle mountain range paths.

import { blake2b } from '@noble/hashes/blake2.js';

const MMR_DOMAIN = 'com.tari.base_layer.core.input_mmr.v1';
const HEADER_DOMAIN = 'com.tari.base_layer.core.blocks.v0.block_header';
// A path longer than this is malformed (an MMR of u64 leaves is at most 64 high).
const MAX_PATH = 64;
const BLOCK_OUTPUT_MR_AT = 122;
const HEIGHT_AT = 2;

export class ProofError extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}

const malformed = (what) => new ProofError('PROOF_MALFORMED', `the proof is malformed: ${what}`);

function u64le(n) {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, BigInt(n), true);
  return out;
}

function concat(parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

const text = (s) => new TextEncoder().encode(s);
const tag = (domain) => concat([u64le(domain.length), text(domain)]);
const equal = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);

/** tari_crypto's domain-separated hash of the MMR: every input prefixed with its length. */
function mmrHash(...inputs) {
  return blake2b(concat([tag(MMR_DOMAIN), ...inputs.flatMap((x) => [u64le(x.length), x])]), { dkLen: 32 });
}

/** Decodes a proof's bytes (format 1). */
export function decodeProof(bytes) {
  let at = 0;
  const take = (n) => {
    if (at + n > bytes.length) throw malformed('truncated');
    const out = bytes.subarray(at, at + n);
    at += n;
    return out;
  };
  const u64 = () => new DataView(take(8).slice().buffer).getBigUint64(0, true);
  const hashes = () => {
    const n = take(1)[0];
    if (n > MAX_PATH) throw malformed(`${n} hashes in a path`);
    return Array.from({ length: n }, () => take(32));
  };
  const path = () => ({ leafIndex: u64(), mmrSize: u64(), path: hashes(), peaks: hashes() });
  const format = take(1)[0];
  if (format !== 1) throw malformed(`unknown proof format ${format}`);
  const kind = take(1)[0];
  let proof;
  if (kind === 0) proof = { coinbase: true, block: path() };
  else if (kind === 1) proof = { coinbase: false, normal: path(), normalRoot: take(32), block: path() };
  else throw malformed(`unknown proof kind ${kind}`);
  if (at !== bytes.length) throw malformed('trailing bytes');
  return proof;
}

function leafCount(size) {
  let left = size;
  let leaves = 0n;
  for (let h = 62n; h >= 0n; h--) {
    const peak = (1n << (h + 1n)) - 1n;
    if (left >= peak) {
      left -= peak;
      leaves += 1n << h;
    }
  }
  if (left !== 0n) throw malformed(`no MMR has ${size} nodes`);
  return leaves;
}

function peaks(size) {
  leafCount(size);
  const out = [];
  let before = 0n;
  for (let h = 62n; h >= 0n; h--) {
    const peak = (1n << (h + 1n)) - 1n;
    if (size - before >= peak) {
      before += peak;
      out.push(before - 1n);
    }
  }
  return out;
}

function peakMapHeight(pos) {
  if (pos === 0n) return [0n, 0n];
  let peakSize = (1n << BigInt(pos.toString(2).length)) - 1n;
  let bitmap = 0n;
  while (peakSize !== 0n) {
    bitmap <<= 1n;
    if (pos >= peakSize) {
      pos -= peakSize;
      bitmap |= 1n;
    }
    peakSize >>= 1n;
  }
  return [bitmap, pos];
}

function nodeIndex(leaf) {
  const ones = BigInt(leaf.toString(2).split('').filter((c) => c === '1').length);
  return leaf * 2n - ones;
}

function verifyLeaf(p, leafHash, root) {
  let pos = nodeIndex(p.leafIndex);
  if (pos >= p.mmrSize) throw malformed('leaf index beyond the MMR');
  const all = peaks(p.mmrSize);
  let hash = leafHash;
  for (const sibling of p.path) {
    const [map, height] = peakMapHeight(pos);
    const step = 1n << height;
    const leftSibling = (map & step) !== 0n;
    const parent = leftSibling ? pos + 1n : pos + 2n * step;
    if (parent >= p.mmrSize) throw malformed('path leaves the MMR');
    hash = leftSibling ? mmrHash(sibling, hash) : mmrHash(hash, sibling);
    pos = parent;
  }
  if (all.length !== p.peaks.length + 1) throw malformed('wrong number of peaks');
  const bag = [];
  let given = 0;
  for (const peak of all) bag.push(peak === pos ? hash : p.peaks[given++]);
  if (given !== p.peaks.length || bag.some((x) => x === undefined)) throw malformed('the path does not end at a peak');
  if (!equal(mmrHash(...bag), root)) {
    throw new ProofError('PROOF_ROOT_MISMATCH', "the output's path does not lead to the header's block_output_mr");
  }
}

/** Checks that outputHash is a leaf under blockOutputMr. */
export function verifyProof(proof, outputHash, blockOutputMr) {
  if (proof.coinbase) {
    if (proof.block.leafIndex + 1n >= leafCount(proof.block.mmrSize)) {
      throw malformed("a coinbase must be a leaf before the block MMR's last");
    }
    verifyLeaf(proof.block, outputHash, blockOutputMr);
  } else {
    verifyLeaf(proof.normal, outputHash, proof.normalRoot);
    if (leafCount(proof.block.mmrSize) - 1n !== proof.block.leafIndex) {
      throw malformed("the normal-output root must be the block MMR's last leaf");
    }
    verifyLeaf(proof.block, proof.normalRoot, blockOutputMr);
  }
}

/** BlockHeader::hash() from the header's bytes, under the network byte. */
export function headerHash(mining, powNonce, network) {
  const t = tag(`${HEADER_DOMAIN}.n${network}`);
  const miningHash = blake2b(concat([t, mining]), { dkLen: 32 });
  return blake2b(concat([t, miningHash, powNonce]), { dkLen: 32 });
}

/** The whole check of one output against a block hash the wallet trusts. */
export function verifyOutput({ outputHash, proof, mining, powNonce, blockHash, network }) {
  const computed = headerHash(mining, powNonce, network);
  if (!equal(computed, blockHash)) {
    throw new ProofError('HEADER_MISMATCH', "the header does not hash to the block's hash");
  }
  if (mining.length < BLOCK_OUTPUT_MR_AT + 32) throw malformed('header preimage too short');
  verifyProof(decodeProof(proof), outputHash, mining.subarray(BLOCK_OUTPUT_MR_AT, BLOCK_OUTPUT_MR_AT + 32));
}

/** The height a header's bytes carry. */
export function headerHeight(mining) {
  return new DataView(mining.slice(HEIGHT_AT, HEIGHT_AT + 8).buffer).getBigUint64(0, true);
}

/**
 * Checks every live owned output of an opened wallet file (sql.js `db`). `trustedHash(height)` resolves to
 * the 32-byte block hash at `height` on the chain the wallet trusts, or null. Resolves to one verdict per
 * output: { outputHash, height, ok, code, message }. A file without proof tables throws NO_PROOFS.
 */
export async function verifyWallet(db, trustedHash) {
  const tables = db.exec("SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'tws_%'");
  const names = new Set((tables[0]?.values ?? []).map(([n]) => n));
  if (!['tws_proof_info', 'tws_block_headers', 'tws_output_proofs'].every((n) => names.has(n))) {
    throw new ProofError('NO_PROOFS', 'the file has no proofs (a demo chain, or a service without proofs)');
  }
  const network = db.exec('SELECT network FROM tws_proof_info')[0].values[0][0];
  const rows = db.exec(
    `SELECT o.output_hash, o.mined_in_block_height, o.mined_in_block_hash, p.proof, p.block_hash,
            h.mining_preimage, h.pow_nonce
       FROM outputs o LEFT JOIN tws_output_proofs p ON p.output_hash = o.output_hash
       LEFT JOIN tws_block_headers h ON h.block_hash = p.block_hash
      WHERE o.deleted_at IS NULL ORDER BY o.mined_in_block_height`,
  )[0]?.values ?? [];
  const trusted = new Map();
  const verdicts = [];
  for (const [outputHash, height, rowBlock, proof, proofBlock, mining, powNonce] of rows) {
    const verdict = { outputHash, height, ok: false };
    try {
      if (!proof || !mining) throw new ProofError('PROOF_MISSING', 'the file holds no proof for this output');
      if (!equal(proofBlock, rowBlock)) throw new ProofError('BLOCK_MISMATCH', "the proof is for another block than the output's");
      if (!trusted.has(height)) trusted.set(height, await trustedHash(height));
      const blockHash = trusted.get(height);
      if (!blockHash) throw new ProofError('BLOCK_NOT_FOUND', 'the node has no block at this height');
      if (!equal(blockHash, rowBlock)) throw new ProofError('BLOCK_NOT_ON_CHAIN', "the node's block at this height is another");
      verifyOutput({ outputHash, proof, mining, powNonce, blockHash, network });
      if (headerHeight(mining) !== BigInt(height)) throw new ProofError('BLOCK_MISMATCH', 'the header is of another height');
      verdict.ok = true;
    } catch (e) {
      if (!(e instanceof ProofError)) throw e;
      verdict.code = e.code;
      verdict.message = e.message;
    }
    verdicts.push(verdict);
  }
  return verdicts;
}
