// Sealing: the v2 submission envelope, byte for byte as sse/src/seal.rs and sse/src/envelope.rs make it
// (docs/API.md, "Sealing a secret"). Ephemeral Ristretto255 DH to the server key, BLAKE2b-256 KDF,
// XChaCha20-Poly1305 with the label as associated data; the bearer token derives from the job secret.
// No I/O: the page and the node tests share it.

import { ristretto255 } from '@noble/curves/ed25519.js';
import { blake2b } from '@noble/hashes/blake2.js';
import { bytesToHex, concatBytes, hexToBytes, randomBytes, utf8ToBytes } from '@noble/hashes/utils.js';
import { xchacha20poly1305 } from '@noble/ciphers/chacha.js';

const { Point } = ristretto255;
const ORDER = Point.Fn.ORDER;

export const KDF_DOMAIN = utf8ToBytes('tari-wallet-sync/seal/v1');
export const TOKEN_DOMAIN = utf8ToBytes('tari-wallet-sync/token/v2');
export const LABEL_SUBMISSION = utf8ToBytes('submission/v2');
export const SUBMISSION_VERSION = 2;
const MAX_PLAINTEXT_LEN = 5120;

function leToBigInt(bytes) {
  let n = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) n = (n << 8n) | BigInt(bytes[i]);
  return n;
}

function bigIntToLe32(n) {
  const out = new Uint8Array(32);
  for (let i = 0; i < 32; i++) {
    out[i] = Number(n & 0xffn);
    n >>= 8n;
  }
  return out;
}

const isZero = (bytes) => bytes.every((b) => b === 0);

/** A non-zero scalar from 64 uniformly random bytes reduced mod ℓ (as `Scalar::from_bytes_mod_order_wide`). */
export function scalarFromWide(wide) {
  return leToBigInt(wide) % ORDER;
}

/** The server's point, refusing an invalid encoding or the identity. */
function serverPoint(serverPublic) {
  if (serverPublic.length !== 32 || isZero(serverPublic)) throw new Error('the server key is not a valid Ristretto point');
  return Point.fromBytes(serverPublic);
}

/** k = BLAKE2b-256(domain || E || S || X). */
export function deriveKey(ephemeral, server, shared) {
  return blake2b(concatBytes(KDF_DOMAIN, ephemeral, server, shared), { dkLen: 32 });
}

/**
 * Seals `plaintext` to `serverPublic` under `label`. `rng(n)` gives n random bytes (tests pass their own):
 * 64 for the ephemeral scalar, then 24 for the nonce, the order `seal_with_rng` draws them in.
 * Returns the 32-byte ephemeral key, the nonce and the ciphertext with its tag.
 */
export function seal(serverPublic, label, plaintext, rng = randomBytes) {
  if (plaintext.length > MAX_PLAINTEXT_LEN) throw new Error(`the plaintext is longer than ${MAX_PLAINTEXT_LEN} bytes`);
  const server = serverPoint(serverPublic);
  let e = 0n;
  while (e === 0n) e = scalarFromWide(rng(64));
  const ephemeral = Point.BASE.multiply(e).toBytes();
  const shared = server.multiply(e).toBytes();
  if (isZero(shared)) throw new Error('the shared point is the identity');
  const key = deriveKey(ephemeral, serverPublic, shared);
  const nonce = rng(24);
  const ciphertext = xchacha20poly1305(key, nonce, label).encrypt(plaintext);
  key.fill(0);
  return { ephemeral, nonce, ciphertext };
}

/** Opens a box with the server's secret scalar bytes (tests only: a page never holds a server key). */
export function open(serverSecret, label, { ephemeral, nonce, ciphertext }) {
  const s = leToBigInt(serverSecret);
  const serverPublic = Point.BASE.multiply(s).toBytes();
  const shared = Point.fromBytes(ephemeral).multiply(s).toBytes();
  if (isZero(shared)) throw new Error('invalid ephemeral key');
  return xchacha20poly1305(deriveKey(ephemeral, serverPublic, shared), nonce, label).decrypt(ciphertext);
}

/** The bearer token: hex(BLAKE2b-256("tari-wallet-sync/token/v2" || job_secret)). */
export function tokenFromJobSecret(jobSecret) {
  return bytesToHex(blake2b(concatBytes(TOKEN_DOMAIN, jobSecret), { dkLen: 32 }));
}

/**
 * The envelope's plaintext: the JSON object with its fields in the order serde writes them (the server
 * parses any order; the order only matters to golden vectors).
 */
export function envelopePlaintext({ viewKey, spendPublicKey, birthday, walletPassword, jobSecret, timestamp }) {
  const json = JSON.stringify({
    view_key: viewKey,
    spend_public_key: spendPublicKey,
    birthday,
    wallet_password: walletPassword,
    job_secret: jobSecret,
    timestamp,
  });
  return utf8ToBytes(json);
}

/**
 * A version-2 submission body for a wallet, and the token the page derives. A fresh job secret and the
 * current time for every call: the server refuses a replayed envelope.
 */
export function sealSubmission(serverKey, wallet, rng = randomBytes, now = Date.now()) {
  const jobSecret = rng(32);
  const plaintext = envelopePlaintext({
    viewKey: wallet.view_key,
    spendPublicKey: wallet.spend_public_key,
    birthday: wallet.birthday,
    walletPassword: wallet.password,
    jobSecret: bytesToHex(jobSecret),
    timestamp: Math.floor(now / 1000),
  });
  const sealed = seal(hexToBytes(serverKey.public_key), LABEL_SUBMISSION, plaintext, rng);
  plaintext.fill(0);
  const body = {
    version: SUBMISSION_VERSION,
    key_id: serverKey.key_id,
    envelope: {
      ephemeral_public_key: bytesToHex(sealed.ephemeral),
      nonce: bytesToHex(sealed.nonce),
      ciphertext: bytesToHex(sealed.ciphertext),
    },
  };
  const token = tokenFromJobSecret(jobSecret);
  jobSecret.fill(0);
  return { body, token };
}

export { bigIntToLe32 };
