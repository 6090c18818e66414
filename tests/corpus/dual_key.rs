//! Encrypted data that authenticates under two keys at once.
//!
//! XChaCha20-Poly1305 is not key-committing: the Poly1305 tag is a polynomial in the ciphertext blocks, linear
//! in each one, so with both keys known a single free ciphertext block can be solved for that makes the two
//! tags equal. Such data separates recognisers that agree on everything else: the official one stops at a
//! view-key decryption whose mask is canonical (whether or not it opens the commitment), and goes on to the
//! Diffie-Hellman key when the view-key mask is not canonical.

use chacha20::{
    XChaCha20,
    cipher::{KeyIvInit, StreamCipher, StreamCipherSeek},
};
use primitive_types::{U256, U512};

/// Associated data of every output's AEAD.
pub const AAD: &[u8] = b"TARI_AAD_VALUE_AND_MASK_EXTEND_NONCE_VARIANT";
/// The ciphertext block left free (bytes 8..24 of the memo), at a 16-byte boundary as Poly1305 blocks are.
pub const FREE_BLOCK: std::ops::Range<usize> = 48..64;
const TAG_LEN: usize = 16;

/// `tag ‖ nonce ‖ ciphertext` that authenticates under both AEAD keys, and what the `other` key decrypts it to.
/// The `chosen` key decrypts it to `plaintext` except in the free block (memo bytes, so the opening stands).
/// `None` when this nonce has no solution that fits in a block: try another nonce.
pub fn seal_for_two_keys(
    chosen: &[u8; 32],
    other: &[u8; 32],
    plaintext: &[u8],
    nonce: &[u8; 24],
) -> Option<(Vec<u8>, Vec<u8>)> {
    assert!(
        plaintext.len() >= FREE_BLOCK.end,
        "the free block lies inside the plaintext"
    );
    let (a, b) = (
        Stream::new(chosen, nonce, plaintext.len()),
        Stream::new(other, nonce, plaintext.len()),
    );
    let mut ciphertext: Vec<u8> = plaintext.iter().zip(&a.keystream).map(|(p, k)| p ^ k).collect();
    ciphertext[FREE_BLOCK].fill(0);

    // With the free block's value x: h = A + x·r^e (mod p), A covering every other block and the block's own
    // 2^128 padding bit. Equal tags need h_a + s_a = h_b + s_b (mod 2^128); solve h_a - h_b = s_b - s_a (mod p).
    let blocks = mac_blocks(&ciphertext);
    let free_index = AAD.len().div_ceil(16) + FREE_BLOCK.start / 16;
    let exponent = blocks.len() - free_index;
    let (a_rest, b_rest) = (poly1305(&a.r, &blocks), poly1305(&b.r, &blocks));
    let (a_power, b_power) = (pow(&a.r, U256::from(exponent)), pow(&b.r, U256::from(exponent)));
    let numerator = sub(&sub(&add(&b.s, &b_rest), &a.s), &a_rest);
    let x = mul(&numerator, &inverse(&sub(&a_power, &b_power)));
    if x >= U256::one() << 128 {
        return None;
    }
    let mut wide = [0u8; 32];
    x.to_little_endian(&mut wide);
    ciphertext[FREE_BLOCK].copy_from_slice(&wide[..16]);

    let blocks = mac_blocks(&ciphertext);
    let (tag_a, tag_b) = (a.tag(&blocks), b.tag(&blocks));
    if tag_a != tag_b {
        return None; // h_b + s_b - s_a wrapped around p: the congruence holds, the integers do not
    }
    let other_plaintext = ciphertext.iter().zip(&b.keystream).map(|(c, k)| c ^ k).collect();
    Some(([&tag_a[..], nonce, &ciphertext].concat(), other_plaintext))
}

/// One key's XChaCha20 stream for a nonce: the Poly1305 key from block 0, then the keystream from block 1,
/// as `chacha20poly1305` uses them.
struct Stream {
    r: U256,
    s: U256,
    keystream: Vec<u8>,
}

impl Stream {
    fn new(key: &[u8; 32], nonce: &[u8; 24], len: usize) -> Self {
        let mut cipher = XChaCha20::new(key.into(), nonce.into());
        let mut poly_key = [0u8; 32];
        cipher.apply_keystream(&mut poly_key);
        cipher.seek(64u64);
        let mut keystream = vec![0u8; len];
        cipher.apply_keystream(&mut keystream);
        let mut r = [0u8; 16];
        r.copy_from_slice(&poly_key[..16]);
        for i in [3, 7, 11, 15] {
            r[i] &= 0x0f; // RFC 8439 clamping
        }
        for i in [4, 8, 12] {
            r[i] &= 0xfc;
        }
        Stream {
            r: U256::from_little_endian(&r),
            s: U256::from_little_endian(&poly_key[16..]),
            keystream,
        }
    }

    fn tag(&self, blocks: &[[u8; 16]]) -> [u8; TAG_LEN] {
        let full = poly1305(&self.r, blocks) + self.s;
        let mut wide = [0u8; 32];
        full.to_little_endian(&mut wide);
        wide[..TAG_LEN].try_into().expect("16 bytes")
    }
}

/// The Poly1305 input of the AEAD: associated data and ciphertext, each zero-padded to 16 bytes, then their
/// lengths as two u64.
fn mac_blocks(ciphertext: &[u8]) -> Vec<[u8; 16]> {
    let mut blocks = Vec::new();
    for part in [AAD, ciphertext] {
        for chunk in part.chunks(16) {
            let mut block = [0u8; 16];
            block[..chunk.len()].copy_from_slice(chunk);
            blocks.push(block);
        }
    }
    let mut lengths = [0u8; 16];
    lengths[..8].copy_from_slice(&(AAD.len() as u64).to_le_bytes());
    lengths[8..].copy_from_slice(&(ciphertext.len() as u64).to_le_bytes());
    blocks.push(lengths);
    blocks
}

/// `h = Σ (block_k + 2^128)·r^(n-k)` mod `p`: Poly1305 before the `s` is added.
fn poly1305(r: &U256, blocks: &[[u8; 16]]) -> U256 {
    blocks.iter().fold(U256::zero(), |h, block| {
        let m = U256::from_little_endian(block) + (U256::one() << 128);
        mul(&add(&h, &m), r)
    })
}

/// `p = 2^130 - 5`.
fn prime() -> U256 {
    (U256::one() << 130) - 5
}

fn add(a: &U256, b: &U256) -> U256 {
    (a + b) % prime()
}

fn sub(a: &U256, b: &U256) -> U256 {
    (a % prime() + prime() - b % prime()) % prime()
}

fn mul(a: &U256, b: &U256) -> U256 {
    let product = a.full_mul(*b) % U512::from(prime());
    U256::try_from(product).expect("reduced below p")
}

fn pow(base: &U256, mut exponent: U256) -> U256 {
    let (mut result, mut square) = (U256::one(), *base);
    while !exponent.is_zero() {
        if exponent.bit(0) {
            result = mul(&result, &square);
        }
        square = mul(&square, &square);
        exponent >>= 1;
    }
    result
}

/// Fermat inverse: `a^(p-2)`.
fn inverse(a: &U256) -> U256 {
    pow(a, prime() - 2)
}
