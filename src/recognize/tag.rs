//! Tag check: whether an XChaCha20-Poly1305 tag verifies, without decrypting. A miss (nearly every
//! attempt) needs only the Poly1305 key, i.e. one HChaCha20 and the first ChaCha20 block, and the MAC of
//! the padded associated data and ciphertext. Written out here because the `chacha20poly1305` crate's
//! general path costs ~2-3x this on short data: `poly1305`'s AVX2 backend spends ~1.5 µs setting up its
//! powers of `r` per key, and `chacha20`'s vector backend computes four blocks for the one needed. The
//! crate still decrypts the rare attempt whose tag verifies (`aead::open`).
//!
//! Constant time in the key and the data: no branch or memory address depends on them (64- and 128-bit
//! multiplications, masks for the final reduction, `subtle` for the comparison). Checked against the
//! `chacha20poly1305`, `chacha20` and `poly1305` crates in the tests below, and through `aead::open` by the
//! cross-check against the official key manager.

use subtle::ConstantTimeEq;
use zeroize::Zeroize;

const CHACHA_CONSTANTS: [u32; 4] = [0x6170_7865, 0x3320_646e, 0x7962_2d32, 0x6b20_6574];

/// Whether `tag` authenticates `aad` and `ciphertext` under `key` and the 24-byte `nonce`.
pub fn verifies(key: &[u8; 32], nonce: &[u8; 24], aad: &[u8], ciphertext: &[u8], tag: &[u8; 16]) -> bool {
    let mut subkey = hchacha20(key, nonce[..16].try_into().expect("16 bytes"));
    let mut block = chacha20_block(&subkey, 0, &[0, word(&nonce[16..20]), word(&nonce[20..24])]);
    subkey.zeroize();
    let mut poly_key = [0u8; 32];
    for (bytes, w) in poly_key.chunks_exact_mut(4).zip(&block[..8]) {
        bytes.copy_from_slice(&w.to_le_bytes());
    }
    block.zeroize();
    let mut mac = Poly1305::new(&poly_key);
    poly_key.zeroize();
    mac.padded(aad);
    mac.padded(ciphertext);
    let mut lengths = [0u8; 16];
    lengths[..8].copy_from_slice(&(aad.len() as u64).to_le_bytes());
    lengths[8..].copy_from_slice(&(ciphertext.len() as u64).to_le_bytes());
    mac.block(&lengths);
    bool::from(mac.finish().ct_eq(tag))
}

fn word(bytes: &[u8]) -> u32 {
    u32::from_le_bytes(bytes.try_into().expect("4 bytes"))
}

fn quarter_round(s: &mut [u32; 16], a: usize, b: usize, c: usize, d: usize) {
    s[a] = s[a].wrapping_add(s[b]);
    s[d] = (s[d] ^ s[a]).rotate_left(16);
    s[c] = s[c].wrapping_add(s[d]);
    s[b] = (s[b] ^ s[c]).rotate_left(12);
    s[a] = s[a].wrapping_add(s[b]);
    s[d] = (s[d] ^ s[a]).rotate_left(8);
    s[c] = s[c].wrapping_add(s[d]);
    s[b] = (s[b] ^ s[c]).rotate_left(7);
}

/// The ChaCha state of `key` with `tail` (counter and nonce words), after its 20 rounds.
fn chacha20_rounds(key: &[u32; 8], tail: [u32; 4]) -> ([u32; 16], [u32; 16]) {
    let mut initial = [0u32; 16];
    initial[..4].copy_from_slice(&CHACHA_CONSTANTS);
    initial[4..12].copy_from_slice(key);
    initial[12..].copy_from_slice(&tail);
    let mut s = initial;
    for _ in 0..10 {
        quarter_round(&mut s, 0, 4, 8, 12);
        quarter_round(&mut s, 1, 5, 9, 13);
        quarter_round(&mut s, 2, 6, 10, 14);
        quarter_round(&mut s, 3, 7, 11, 15);
        quarter_round(&mut s, 0, 5, 10, 15);
        quarter_round(&mut s, 1, 6, 11, 12);
        quarter_round(&mut s, 2, 7, 8, 13);
        quarter_round(&mut s, 3, 4, 9, 14);
    }
    (initial, s)
}

/// HChaCha20: the XChaCha20 subkey of `key` and the nonce's first 16 bytes.
fn hchacha20(key: &[u8; 32], nonce: &[u8; 16]) -> [u32; 8] {
    let mut key_words = [0u32; 8];
    for (w, bytes) in key_words.iter_mut().zip(key.chunks_exact(4)) {
        *w = word(bytes);
    }
    let tail = [
        word(&nonce[..4]),
        word(&nonce[4..8]),
        word(&nonce[8..12]),
        word(&nonce[12..]),
    ];
    let (mut initial, mut s) = chacha20_rounds(&key_words, tail);
    let mut out = [0u32; 8];
    out[..4].copy_from_slice(&s[..4]);
    out[4..].copy_from_slice(&s[12..]);
    key_words.zeroize();
    initial.zeroize();
    s.zeroize();
    out
}

/// One ChaCha20 (IETF) keystream block as words: the rounds plus the initial state.
fn chacha20_block(key: &[u32; 8], counter: u32, nonce: &[u32; 3]) -> [u32; 16] {
    let (mut initial, mut s) = chacha20_rounds(key, [counter, nonce[0], nonce[1], nonce[2]]);
    for (w, i) in s.iter_mut().zip(&initial) {
        *w = w.wrapping_add(*i);
    }
    initial.zeroize();
    s
}

const MASK_44: u64 = (1 << 44) - 1;
const MASK_42: u64 = (1 << 42) - 1;

/// Poly1305 over whole 16-byte blocks (all the AEAD construction feeds it), in three limbs of 44, 44 and
/// 42 bits with 128-bit products. Zeroized on drop.
struct Poly1305 {
    r: [u64; 3],
    /// `r1·20` and `r2·20`: the reduction mod 2^130 - 5 folded into the products.
    s: [u64; 2],
    h: [u64; 3],
    pad: [u64; 2],
}

impl Poly1305 {
    fn new(key: &[u8; 32]) -> Self {
        let t0 = u64::from_le_bytes(key[..8].try_into().expect("8 bytes"));
        let t1 = u64::from_le_bytes(key[8..16].try_into().expect("8 bytes"));
        // Clamped `r`.
        let r = [
            t0 & 0xffc_0fff_ffff,
            ((t0 >> 44) | (t1 << 20)) & 0xfff_ffc0_ffff,
            (t1 >> 24) & 0x00f_ffff_fc0f,
        ];
        Poly1305 {
            r,
            s: [r[1] * 20, r[2] * 20],
            h: [0; 3],
            pad: [
                u64::from_le_bytes(key[16..24].try_into().expect("8 bytes")),
                u64::from_le_bytes(key[24..].try_into().expect("8 bytes")),
            ],
        }
    }

    /// Absorbs `data` zero-padded to whole blocks.
    fn padded(&mut self, data: &[u8]) {
        let mut blocks = data.chunks_exact(16);
        for block in &mut blocks {
            self.block(block.try_into().expect("16 bytes"));
        }
        let rest = blocks.remainder();
        if !rest.is_empty() {
            let mut last = [0u8; 16];
            last[..rest.len()].copy_from_slice(rest);
            self.block(&last);
        }
    }

    /// `h = (h + block + 2^128)·r mod 2^130 - 5`, partially reduced.
    fn block(&mut self, block: &[u8; 16]) {
        let t0 = u64::from_le_bytes(block[..8].try_into().expect("8 bytes"));
        let t1 = u64::from_le_bytes(block[8..].try_into().expect("8 bytes"));
        let [r0, r1, r2] = self.r;
        let [s1, s2] = self.s;
        let h0 = self.h[0] + (t0 & MASK_44);
        let h1 = self.h[1] + (((t0 >> 44) | (t1 << 20)) & MASK_44);
        let h2 = self.h[2] + (((t1 >> 24) & MASK_42) | (1 << 40));
        let m = |a: u64, b: u64| u128::from(a) * u128::from(b);
        let d0 = m(h0, r0) + m(h1, s2) + m(h2, s1);
        let mut d1 = m(h0, r1) + m(h1, r0) + m(h2, s2);
        let mut d2 = m(h0, r2) + m(h1, r1) + m(h2, r0);
        let mut h0 = (d0 as u64) & MASK_44;
        d1 += d0 >> 44;
        let mut h1 = (d1 as u64) & MASK_44;
        d2 += d1 >> 44;
        let h2 = (d2 as u64) & MASK_42;
        h0 += ((d2 >> 42) as u64) * 5;
        h1 += h0 >> 44;
        h0 &= MASK_44;
        self.h = [h0, h1, h2];
    }

    /// The tag: `h` fully reduced, plus the pad, mod 2^128.
    fn finish(mut self) -> [u8; 16] {
        let [mut h0, mut h1, mut h2] = self.h;
        for _ in 0..2 {
            h2 += h1 >> 44;
            h1 &= MASK_44;
            h0 += (h2 >> 42) * 5;
            h2 &= MASK_42;
            h1 += h0 >> 44;
            h0 &= MASK_44;
        }
        // g = h + 5 - 2^130: h >= p exactly when g does not borrow; select by mask, not by branch.
        let mut g0 = h0 + 5;
        let mut g1 = h1 + (g0 >> 44);
        g0 &= MASK_44;
        let g2 = (h2 + (g1 >> 44)).wrapping_sub(1 << 42);
        g1 &= MASK_44;
        let use_g = (g2 >> 63).wrapping_sub(1);
        h0 = (h0 & !use_g) | (g0 & use_g);
        h1 = (h1 & !use_g) | (g1 & use_g);
        h2 = (h2 & !use_g) | (g2 & use_g & MASK_42);
        let [p0, p1] = self.pad;
        h0 += p0 & MASK_44;
        h1 += (((p0 >> 44) | (p1 << 20)) & MASK_44) + (h0 >> 44);
        h0 &= MASK_44;
        h2 += ((p1 >> 24) & MASK_42) + (h1 >> 44);
        h1 &= MASK_44;
        h2 &= MASK_42;
        let mut tag = [0u8; 16];
        tag[..8].copy_from_slice(&(h0 | (h1 << 44)).to_le_bytes());
        tag[8..].copy_from_slice(&((h1 >> 20) | (h2 << 24)).to_le_bytes());
        self.zeroize();
        tag
    }
}

impl Zeroize for Poly1305 {
    fn zeroize(&mut self) {
        self.r.zeroize();
        self.s.zeroize();
        self.h.zeroize();
        self.pad.zeroize();
    }
}

impl Drop for Poly1305 {
    fn drop(&mut self) {
        self.zeroize();
    }
}

#[cfg(test)]
mod tests {
    use chacha20::cipher::{KeyIvInit, StreamCipher};
    use chacha20poly1305::{AeadInPlace, KeyInit, XChaCha20Poly1305, XNonce};
    use poly1305::universal_hash::UniversalHash;
    use rand::{Rng, RngCore, SeedableRng};
    use rand_chacha::ChaCha20Rng;

    use super::*;

    fn random<const N: usize>(rng: &mut ChaCha20Rng) -> [u8; N] {
        let mut bytes = [0u8; N];
        rng.fill_bytes(&mut bytes);
        bytes
    }

    #[test]
    fn poly1305_matches_the_poly1305_crate() {
        let mut rng = ChaCha20Rng::seed_from_u64(11);
        for len in 0..200 {
            // Keys with every limb extreme as well as random ones.
            let key: [u8; 32] = match len % 3 {
                0 => [0xff; 32],
                _ => random(&mut rng),
            };
            let mut data = vec![0u8; len];
            rng.fill_bytes(&mut data);
            if len % 5 == 0 {
                data.fill(0xff);
            }
            let mut reference = poly1305::Poly1305::new((&key).into());
            reference.update_padded(&data);
            let mut ours = Poly1305::new(&key);
            ours.padded(&data);
            assert_eq!(ours.finish(), <[u8; 16]>::from(reference.finalize()), "length {len}");
        }
    }

    #[test]
    fn chacha20_block_matches_the_chacha20_crate() {
        let mut rng = ChaCha20Rng::seed_from_u64(12);
        for _ in 0..50 {
            let key: [u8; 32] = random(&mut rng);
            let nonce: [u8; 12] = random(&mut rng);
            let mut expected = [0u8; 64];
            chacha20::ChaCha20::new((&key).into(), (&nonce).into()).apply_keystream(&mut expected);
            let words = |b: &[u8]| -> Vec<u32> { b.chunks_exact(4).map(word).collect() };
            let block = chacha20_block(&words(&key).try_into().unwrap(), 0, &words(&nonce).try_into().unwrap());
            let ours: Vec<u8> = block.iter().flat_map(|w| w.to_le_bytes()).collect();
            assert_eq!(ours, expected);
        }
    }

    #[test]
    fn tags_verify_exactly_as_xchacha20poly1305_s() {
        let mut rng = ChaCha20Rng::seed_from_u64(13);
        for len in [0, 1, 15, 16, 17, 40, 100, 296, 333] {
            let key: [u8; 32] = random(&mut rng);
            let nonce: [u8; 24] = random(&mut rng);
            let aad: Vec<u8> = (0..rng.gen_range(0..60)).map(|_| rng.r#gen()).collect();
            let mut data = vec![0u8; len];
            rng.fill_bytes(&mut data);
            let tag: [u8; 16] = XChaCha20Poly1305::new((&key).into())
                .encrypt_in_place_detached(XNonce::from_slice(&nonce), &aad, &mut data)
                .unwrap()
                .into();
            assert!(verifies(&key, &nonce, &aad, &data, &tag), "length {len}");
            // Any one bit of the key, nonce, data or tag changed: refused.
            let mut bad_tag = tag;
            bad_tag[rng.gen_range(0..16)] ^= 1 << rng.gen_range(0..8);
            assert!(!verifies(&key, &nonce, &aad, &data, &bad_tag));
            let mut bad_key = key;
            bad_key[rng.gen_range(0..32)] ^= 1;
            assert!(!verifies(&bad_key, &nonce, &aad, &data, &tag));
            let mut bad_nonce = nonce;
            bad_nonce[rng.gen_range(0..24)] ^= 0x80;
            assert!(!verifies(&key, &bad_nonce, &aad, &data, &tag));
            if len > 0 {
                let mut bad_data = data.clone();
                bad_data[rng.gen_range(0..len)] ^= 4;
                assert!(!verifies(&key, &nonce, &aad, &bad_data, &tag));
            }
        }
    }
}
