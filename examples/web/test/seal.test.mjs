// The page's sealing against the Rust golden vectors (sse/src/seal.rs and sse/src/envelope.rs): the same
// KDF, nonce placement, label and token derivation, so a server opens what a browser seals.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bytesToHex, hexToBytes, utf8ToBytes } from '@noble/hashes/utils.js';
import { xchacha20poly1305 } from '@noble/ciphers/chacha.js';
import { ristretto255 } from '@noble/curves/ed25519.js';
import { LABEL_SUBMISSION, deriveKey, envelopePlaintext, open, seal, sealSubmission, tokenFromJobSecret } from '../seal.js';

// `seal::tests::golden_vector`: server secret [9; 32], label "view_key", plaintext [1; 32].
const GOLDEN_SEAL =
  '9a603f8a497f45dd3db6967d03d797e42f395a9ba75510083371be1eb64bf05fe216986d9e3517822d01881ed1' +
  '2533cf7429a193c3eac38817e61868ac5ae8d1eaa9e8c17796191a0d61ee42826369741abdf8b5f22ec698' +
  '43f8bf5ba770c5dfb98a634b72db184b';
// `envelope::tests::golden_vector`: the same rng, so the same ephemeral key and nonce.
const GOLDEN_TOKEN = '248c2fe73c6bcea7981adbd15c3a912799bd7d8de6416dd396125183f8a7c139';
const GOLDEN_CIPHERTEXT_START = '6dc56f00c82cb6bb8ed1cbfa54a7292b';
const SERVER_SECRET = new Uint8Array(32).fill(9);

function split(hex) {
  const bytes = hexToBytes(hex);
  return { ephemeral: bytes.slice(0, 32), nonce: bytes.slice(32, 56), ciphertext: bytes.slice(56) };
}

test('opens the Rust golden box: same KDF, nonce, label and cipher', () => {
  const plaintext = open(SERVER_SECRET, utf8ToBytes('view_key'), split(GOLDEN_SEAL));
  assert.deepEqual(plaintext, new Uint8Array(32).fill(1));
  assert.throws(() => open(SERVER_SECRET, LABEL_SUBMISSION, split(GOLDEN_SEAL)), 'another label does not open');
});

test('the envelope golden vector: plaintext bytes and the first ciphertext bytes', () => {
  const secrets = {
    viewKey: '01'.repeat(32),
    spendPublicKey: 'e2'.repeat(32),
    birthday: 7,
    walletPassword: 'correct horse',
    jobSecret: '0a'.repeat(32),
    timestamp: 1800000000,
  };
  const plaintext = envelopePlaintext(secrets);
  assert.equal(
    new TextDecoder().decode(plaintext),
    `{"view_key":"${'01'.repeat(32)}","spend_public_key":"${'e2'.repeat(32)}","birthday":7,"wallet_password":"correct horse","job_secret":"${'0a'.repeat(32)}","timestamp":1800000000}`,
  );
  // The same rng stream gives the same E and nonce as the seal vector; the key follows from them.
  const { ephemeral, nonce } = split(GOLDEN_SEAL);
  const { Point } = ristretto255;
  const s = BigInt('0x' + bytesToHex(SERVER_SECRET.slice().reverse()));
  const server = Point.BASE.multiply(s).toBytes();
  const shared = Point.fromBytes(ephemeral).multiply(s).toBytes();
  const ciphertext = xchacha20poly1305(deriveKey(ephemeral, server, shared), nonce, LABEL_SUBMISSION).encrypt(plaintext);
  assert.equal(bytesToHex(ciphertext.slice(0, 16)), GOLDEN_CIPHERTEXT_START);
  assert.equal(tokenFromJobSecret(new Uint8Array(32).fill(0x0a)), GOLDEN_TOKEN);
});

test('a sealed submission opens to the wallet and its token derives from the job secret', () => {
  const { Point } = ristretto255;
  const s = BigInt('0x' + bytesToHex(SERVER_SECRET.slice().reverse()));
  const serverKey = { public_key: bytesToHex(Point.BASE.multiply(s).toBytes()), key_id: '0011223344556677' };
  const wallet = { view_key: '02'.repeat(32), spend_public_key: 'e2'.repeat(32), birthday: 3, password: 'pw' };
  const { body, token } = sealSubmission(serverKey, wallet);
  assert.equal(body.version, 2);
  assert.equal(body.key_id, '0011223344556677');
  const opened = JSON.parse(
    new TextDecoder().decode(
      open(SERVER_SECRET, LABEL_SUBMISSION, {
        ephemeral: hexToBytes(body.envelope.ephemeral_public_key),
        nonce: hexToBytes(body.envelope.nonce),
        ciphertext: hexToBytes(body.envelope.ciphertext),
      }),
    ),
  );
  assert.equal(opened.view_key, wallet.view_key);
  assert.equal(opened.wallet_password, 'pw');
  assert.equal(token, tokenFromJobSecret(hexToBytes(opened.job_secret)));
  assert.ok(Math.abs(opened.timestamp - Date.now() / 1000) < 5);
  assert.notEqual(sealSubmission(serverKey, wallet).body.envelope.ephemeral_public_key, body.envelope.ephemeral_public_key);
  assert.throws(() => seal(new Uint8Array(32), LABEL_SUBMISSION, new Uint8Array(1)), /not a valid Ristretto point/);
});
