// The browser's proof checker against vectors the Rust builder wrote from the node fixture
// (tests/walletdb_proofs.rs keeps proofs-fixture.json current): every proof verifies; a flipped proof
// byte, another output hash, another network's header hash and a node naming another block are refused.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import initSqlJs from 'sql.js';
import { decodeProof, headerHeight, verifyOutput, verifyWallet } from '../proof.js';

const vectors = JSON.parse(readFileSync(new URL('./proofs-fixture.json', import.meta.url)));
const hex = (s) => Uint8Array.from(s.match(/../g).map((b) => parseInt(b, 16)));
const cases = vectors.outputs.map((o) => ({
  outputHash: hex(o.output_hash),
  proof: hex(o.proof),
  mining: hex(o.mining_preimage),
  powNonce: hex(o.pow_nonce),
  blockHash: hex(o.block_hash),
  height: o.height,
  network: vectors.network,
}));

test('every proof of the fixture wallet verifies', () => {
  assert.ok(cases.length > 10);
  assert.ok(cases.some((c) => decodeProof(c.proof).coinbase) && cases.some((c) => !decodeProof(c.proof).coinbase));
  for (const c of cases) {
    verifyOutput(c);
    assert.equal(headerHeight(c.mining), BigInt(c.height));
  }
});

test('tampering is refused with its code', () => {
  const c = cases.find((x) => !decodeProof(x.proof).coinbase && decodeProof(x.proof).normal.path.length > 0);
  // A byte of the first sibling hash (after format, kind, leaf index, size and the hash count).
  const flipped = c.proof.slice();
  flipped[19] ^= 1;
  assert.throws(() => verifyOutput({ ...c, proof: flipped }), { code: 'PROOF_ROOT_MISMATCH' });
  const other = c.outputHash.slice();
  other[0] ^= 1;
  assert.throws(() => verifyOutput({ ...c, outputHash: other }), { code: 'PROOF_ROOT_MISMATCH' });
  assert.throws(() => verifyOutput({ ...c, network: c.network ^ 1 }), { code: 'HEADER_MISMATCH' });
  for (let cut = 0; cut < c.proof.length; cut += 7) {
    assert.throws(() => verifyOutput({ ...c, proof: c.proof.subarray(0, cut) }), { code: 'PROOF_MALFORMED' });
  }
});

test('a wallet file is checked output by output against the trusted chain', async () => {
  const SQL = await initSqlJs();
  const db = new SQL.Database();
  db.run(`CREATE TABLE outputs (output_hash BLOB, mined_in_block_height INTEGER, mined_in_block_hash BLOB, deleted_at TEXT);
          CREATE TABLE tws_proof_info (format INTEGER, network INTEGER);
          CREATE TABLE tws_block_headers (block_hash BLOB PRIMARY KEY, height INTEGER, mining_preimage BLOB, pow_nonce BLOB);
          CREATE TABLE tws_output_proofs (output_hash BLOB PRIMARY KEY, block_hash BLOB, proof BLOB);`);
  db.run('INSERT INTO tws_proof_info VALUES (1, ?)', [vectors.network]);
  for (const c of cases) {
    db.run('INSERT INTO outputs VALUES (?, ?, ?, NULL)', [c.outputHash, c.height, c.blockHash]);
    db.run('INSERT OR IGNORE INTO tws_block_headers VALUES (?, ?, ?, ?)', [c.blockHash, c.height, c.mining, c.powNonce]);
    db.run('INSERT INTO tws_output_proofs VALUES (?, ?, ?)', [c.outputHash, c.blockHash, c.proof]);
  }
  const chain = new Map(cases.map((c) => [c.height, c.blockHash]));
  const started = performance.now();
  const verdicts = await verifyWallet(db, async (h) => chain.get(h) ?? null);
  const perOutput = (performance.now() - started) / verdicts.length;
  console.log(`browser checker: ${verdicts.length} outputs, ${(perOutput * 1000).toFixed(0)} us per output`);
  assert.equal(verdicts.length, cases.length);
  assert.ok(verdicts.every((v) => v.ok), JSON.stringify(verdicts.find((v) => !v.ok)));

  // A node that names another block at every height: each output refused.
  const refused = await verifyWallet(db, async () => new Uint8Array(32).fill(7));
  assert.ok(refused.every((v) => !v.ok && v.code === 'BLOCK_NOT_ON_CHAIN'));
  db.close();
});
