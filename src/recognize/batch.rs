//! Batch recogniser: many outputs against many keys. Owns the order of work that makes a scan cheap:
//! each sender offset key is loaded from the cache's stored form (or decompressed) once per output, each
//! key's `v/2` is prepared once, the `K × n` Diffie-Hellman products of a chunk come from the path
//! `shared` chooses for the pass (per-output tables shared by the keys, or per key), and they are doubled
//! and compressed in one batched inversion.
//! Scratch buffers are reused, so the steady state allocates one vector per chunk, never per output.

use curve25519_dalek::{
    ristretto::{CompressedRistretto, RistrettoPoint},
    scalar::Scalar,
};

use super::{
    aead::{self, Plaintext},
    kdf,
    key::WalletKey,
    opening,
    output::{OutputView, Provenance, Recognized},
    shared::{Multiplication, Products},
    stored_offset::{self, Offset},
};

/// Outputs handled per batched compression: large enough to amortise the one field inversion, small
/// enough that the products stay in cache.
pub const CHUNK: usize = 256;

/// Reusable recogniser state. One per thread; `scan` is the whole API.
#[derive(Default)]
pub struct Recognizer {
    offsets: Vec<Option<RistrettoPoint>>,
    /// Per (output, key) of the chunk, output-major: settled by the own-key attempt, or the index of its
    /// Diffie-Hellman point in `products`.
    pairs: Vec<Pair>,
    products: Vec<RistrettoPoint>,
    /// The chunk's usable sender offset points, for our multiplication paths.
    usable: Vec<RistrettoPoint>,
    lanes: Products,
    plaintext: Plaintext,
    /// The multiplication path every pass takes; `None` chooses per pass (`Multiplication::for_pass`).
    forced: Option<Multiplication>,
}

#[derive(Clone, Copy)]
enum Pair {
    /// Invalid data length or unusable `R` after a failed own-key attempt: not ours.
    NotOurs,
    /// The own-key attempt decrypted with a canonical mask: ownership is decided by the commitment alone.
    OwnKey,
    /// Needs the Diffie-Hellman attempt with `products[index]`.
    DiffieHellman(usize),
}

/// Below this many outputs in a chunk the lanes of our paths would mostly hold padding: dalek's per-key
/// multiplication is used (a single-output `recognize`, the tail of a small scan).
const LANES_FROM_OUTPUTS: usize = 8;

impl Recognizer {
    pub fn new() -> Self {
        Self::default()
    }

    /// A recogniser whose passes all take `how` (tests and benches compare the paths); `None` when that
    /// path cannot run on this machine.
    pub fn with_multiplication(how: Multiplication) -> Option<Self> {
        how.can_run().then(|| Recognizer {
            forced: Some(how),
            ..Self::default()
        })
    }

    /// The multiplication path a pass over `outputs` outputs with `keys` keys takes.
    pub fn multiplication(&self, outputs: usize, keys: usize) -> Multiplication {
        match self.forced {
            Some(how) => how,
            None if outputs.min(CHUNK) < LANES_FROM_OUTPUTS => Multiplication::PerKey,
            None => Multiplication::for_pass(keys),
        }
    }

    /// Tests every output against every key and calls `on_hit` for each output a key owns, in output
    /// order, then key order. Not ours is silence; no input bytes can make this panic.
    pub fn scan(&mut self, outputs: &[OutputView<'_>], keys: &[WalletKey], mut on_hit: impl FnMut(Recognized)) {
        if keys.is_empty() {
            return;
        }
        let how = self.multiplication(outputs.len(), keys.len());
        for (chunk_index, chunk) in outputs.chunks(CHUNK).enumerate() {
            self.scan_chunk(chunk_index * CHUNK, chunk, keys, how, &mut on_hit);
        }
    }

    /// Convenience for one output and one key.
    pub fn recognize(&mut self, output: &OutputView<'_>, key: &WalletKey) -> Option<Recognized> {
        let mut found = None;
        self.scan(std::slice::from_ref(output), std::slice::from_ref(key), |hit| {
            found = Some(hit)
        });
        found
    }

    fn scan_chunk(
        &mut self,
        base: usize,
        chunk: &[OutputView<'_>],
        keys: &[WalletKey],
        how: Multiplication,
        on_hit: &mut impl FnMut(Recognized),
    ) {
        // Per output, once: is `R` a usable point? Outputs with invalid data lengths are skipped whole.
        self.offsets.clear();
        self.offsets.extend(chunk.iter().map(|output| {
            if !aead::valid_length(output.encrypted_data.len()) {
                return None;
            }
            offset_point(output)
        }));

        // Our paths multiply every usable output by every key at once (the `slot`-th usable output's
        // products start at `slot · keys`); dalek's multiplies only the pairs the own-key attempt leaves
        // open. Either way (v/2)·R, constant time in v.
        self.products.clear();
        let lanes = how != Multiplication::PerKey && {
            self.usable.clear();
            self.usable.extend(self.offsets.iter().flatten());
            self.lanes.compute(how, &self.usable, keys, &mut self.products)
        };

        // Own-key attempts (a hash and a tag check each) settle a pair before any Diffie-Hellman attempt.
        self.pairs.clear();
        let mut slot = 0;
        for (i, output) in chunk.iter().enumerate() {
            for (k, key) in keys.iter().enumerate() {
                let pair = if !aead::valid_length(output.encrypted_data.len()) {
                    Pair::NotOurs
                } else if self.own_key_opens(output, key) {
                    Pair::OwnKey
                } else if let Some(point) = &self.offsets[i] {
                    if lanes {
                        Pair::DiffieHellman(slot * keys.len() + k)
                    } else {
                        self.products.push(key.view_half() * point);
                        Pair::DiffieHellman(self.products.len() - 1)
                    }
                } else {
                    Pair::NotOurs
                };
                self.pairs.push(pair);
            }
            if self.offsets[i].is_some() {
                slot += 1;
            }
        }
        // compress(2·(v/2)·R) = compress(v·R) for the whole chunk with one inversion.
        let shared_secrets = RistrettoPoint::double_and_compress_batch(&self.products);

        for (i, output) in chunk.iter().enumerate() {
            for (k, key) in keys.iter().enumerate() {
                let found = match self.pairs[i * keys.len() + k] {
                    Pair::NotOurs => None,
                    Pair::OwnKey => self.own_key_output(base + i, k, output, key),
                    Pair::DiffieHellman(index) => {
                        self.diffie_hellman_output(base + i, k, output, key, &shared_secrets[index])
                    }
                };
                if let Some(hit) = found {
                    on_hit(hit);
                }
            }
        }
    }

    fn own_key_opens(&mut self, output: &OutputView<'_>, key: &WalletKey) -> bool {
        own_key_opens(output, key, &mut self.plaintext)
    }

    /// An own-key decryption decides ownership without falling through: the commitment opens, or not ours.
    fn own_key_output(
        &mut self,
        output_index: usize,
        key_index: usize,
        output: &OutputView<'_>,
        key: &WalletKey,
    ) -> Option<Recognized> {
        let opened = aead::open(
            key.view_bytes(),
            output.commitment,
            output.encrypted_data,
            &mut self.plaintext,
        )?;
        let mask = verified_mask(&opened, output.commitment)?;
        Some(finish(
            output_index,
            key_index,
            output,
            key,
            &opened,
            mask,
            Provenance::OwnViewKey,
            false,
        ))
    }

    fn diffie_hellman_output(
        &mut self,
        output_index: usize,
        key_index: usize,
        output: &OutputView<'_>,
        key: &WalletKey,
        shared_secret: &CompressedRistretto,
    ) -> Option<Recognized> {
        let commitment = output.commitment;
        let encryption_key = kdf::output_encryption_key(shared_secret.as_bytes());
        let opened = aead::open(
            encryption_key.as_bytes(),
            commitment,
            output.encrypted_data,
            &mut self.plaintext,
        )?;
        let mask = verified_mask(&opened, commitment)?;
        let standard_mask = kdf::output_spending_key(shared_secret.as_bytes()) == mask;
        Some(finish(
            output_index,
            key_index,
            output,
            key,
            &opened,
            mask,
            Provenance::DiffieHellman,
            standard_mask,
        ))
    }
}

/// Whether the view key itself decrypts the data to a canonical mask. In the reference a decryption
/// whose mask is not canonical is an error there, so it falls through to the Diffie-Hellman attempt.
pub(super) fn own_key_opens(output: &OutputView<'_>, key: &WalletKey, plaintext: &mut Plaintext) -> bool {
    aead::open(key.view_bytes(), output.commitment, output.encrypted_data, plaintext)
        .is_some_and(|opened| bool::from(Scalar::from_canonical_bytes(opened.mask_bytes()).is_some()))
}

/// `R` as a point, or `None` when it is zero or does not decompress: from the cache's stored form when
/// there is one (loaded in nanoseconds), else decompressed.
pub(super) fn offset_point(output: &OutputView<'_>) -> Option<RistrettoPoint> {
    match output.stored_offset.map(stored_offset::load) {
        Some(Offset::Point(point)) => Some(point),
        Some(Offset::Unusable) => None,
        Some(Offset::Decompress) | None => {
            if *output.sender_offset_public_key == [0u8; 32] {
                return None;
            }
            CompressedRistretto(*output.sender_offset_public_key).decompress()
        }
    }
}

/// The mask of a decryption that counts: canonical, and opening `C = value·H + mask·G`.
fn verified_mask(opened: &aead::Opened<'_>, commitment: &[u8; 32]) -> Option<Scalar> {
    let mask = Option::<Scalar>::from(Scalar::from_canonical_bytes(opened.mask_bytes()))?;
    opening::opens_commitment(commitment, opened.value(), &mask).then_some(mask)
}

#[allow(clippy::too_many_arguments)]
fn finish(
    output_index: usize,
    key_index: usize,
    output: &OutputView<'_>,
    key: &WalletKey,
    opened: &aead::Opened<'_>,
    mask: Scalar,
    provenance: Provenance,
    mask_from_shared_secret: bool,
) -> Recognized {
    let script_class = output
        .script
        .map(|script| opening::classify_script(script, key.spend_public_key(), key.spend_point(), mask.as_bytes()));
    Recognized {
        output_index,
        key_index,
        value: opened.value(),
        mask,
        memo_bytes: opened.memo_bytes().to_vec(),
        provenance,
        mask_from_shared_secret,
        script_class,
    }
}

#[cfg(test)]
mod tests {
    use curve25519_dalek::{ristretto::RistrettoPoint, scalar::Scalar};
    use rand::SeedableRng;
    use rand_chacha::ChaCha20Rng;
    use tari_transaction_components::transaction_components::MemoField;

    use super::*;
    use crate::{
        demo::outputs::{BuiltOutput, one_sided_output, own_output, random_scalar},
        recognize::ScriptClass,
    };

    struct TestWallet {
        view: Scalar,
        spend: RistrettoPoint,
        key: WalletKey,
    }

    fn wallet(rng: &mut ChaCha20Rng) -> TestWallet {
        let view = random_scalar(rng);
        let spend = RistrettoPoint::mul_base(&random_scalar(rng));
        let key = WalletKey::from_bytes(view.as_bytes(), spend.compress().as_bytes()).unwrap();
        TestWallet { view, spend, key }
    }

    fn view(o: &BuiltOutput) -> OutputView<'_> {
        OutputView {
            commitment: &o.commitment,
            sender_offset_public_key: &o.sender_offset_public_key,
            stored_offset: None,
            encrypted_data: &o.encrypted_data,
            script: Some(&o.script),
        }
    }

    fn memo() -> MemoField {
        MemoField::new_open(b"hello".to_vec(), Default::default()).unwrap()
    }

    #[test]
    fn finds_own_and_one_sided_outputs_with_their_openings() {
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        let alice = wallet(&mut rng);
        let bob = wallet(&mut rng);
        let alice_view_public = RistrettoPoint::mul_base(&alice.view);
        let outputs = [
            own_output(&mut rng, &alice.view, &alice.spend, 11, memo()),
            one_sided_output(&mut rng, &alice_view_public, &alice.spend, 22, memo(), true),
            one_sided_output(
                &mut rng,
                &alice_view_public,
                &alice.spend,
                33,
                MemoField::new_empty(),
                false,
            ),
            own_output(&mut rng, &bob.view, &bob.spend, 44, memo()),
        ];
        let views: Vec<_> = outputs.iter().map(view).collect();
        let keys = [alice.key.clone(), bob.key.clone()];
        let mut hits = Vec::new();
        Recognizer::new().scan(&views, &keys, |hit| hits.push(hit));

        let found: Vec<_> = hits
            .iter()
            .map(|h| (h.output_index, h.key_index, h.value, h.provenance))
            .collect();
        assert_eq!(
            found,
            [
                (0, 0, 11, Provenance::OwnViewKey),
                (1, 0, 22, Provenance::DiffieHellman),
                (2, 0, 33, Provenance::DiffieHellman),
                (3, 1, 44, Provenance::OwnViewKey),
            ]
        );
        for (hit, built) in hits.iter().zip(&outputs) {
            assert_eq!(hit.mask, built.mask);
        }
        assert_eq!(hits[0].memo(), memo());
        let classes: Vec<_> = hits.iter().map(|h| h.script_class).collect();
        let spend_key = Some(ScriptClass::SpendKey);
        assert_eq!(classes, [spend_key, Some(ScriptClass::Stealth), spend_key, spend_key]);
        assert!(!hits[0].mask_from_shared_secret && hits[1].mask_from_shared_secret);
    }

    #[test]
    fn malformed_outputs_are_not_ours_and_do_not_disturb_the_rest() {
        let mut rng = ChaCha20Rng::seed_from_u64(2);
        let alice = wallet(&mut rng);
        let alice_view_public = RistrettoPoint::mul_base(&alice.view);
        let good = one_sided_output(&mut rng, &alice_view_public, &alice.spend, 5, memo(), true);
        let mut zero_offset = good.clone();
        zero_offset.sender_offset_public_key = [0; 32];
        let mut bad_offset = good.clone();
        bad_offset.sender_offset_public_key = [0xff; 32];
        let mut flipped_tag = good.clone();
        flipped_tag.encrypted_data[0] ^= 1;
        let mut short = good.clone();
        short.encrypted_data.truncate(79);
        let mut long = good.clone();
        long.encrypted_data.resize(337, 0);
        let mut other_commitment = good.clone();
        other_commitment.commitment = own_output(&mut rng, &alice.view, &alice.spend, 5, memo()).commitment;
        let outputs = [
            zero_offset,
            bad_offset,
            flipped_tag,
            short,
            long,
            other_commitment,
            good,
        ];
        let views: Vec<_> = outputs.iter().map(view).collect();
        let mut hits = Vec::new();
        Recognizer::new().scan(&views, std::slice::from_ref(&alice.key), |hit| {
            hits.push(hit.output_index)
        });
        assert_eq!(hits, [6]);
    }

    #[test]
    fn results_do_not_depend_on_chunking() {
        let mut rng = ChaCha20Rng::seed_from_u64(3);
        let alice = wallet(&mut rng);
        let alice_view_public = RistrettoPoint::mul_base(&alice.view);
        let outputs: Vec<_> = (0..CHUNK + 7)
            .map(|i| match i % 3 {
                0 => own_output(&mut rng, &alice.view, &alice.spend, i as u64, memo()),
                1 => one_sided_output(&mut rng, &alice_view_public, &alice.spend, i as u64, memo(), true),
                _ => {
                    let stranger = RistrettoPoint::mul_base(&random_scalar(&mut rng));
                    one_sided_output(&mut rng, &stranger, &alice.spend, i as u64, memo(), false)
                }
            })
            .collect();
        let views: Vec<_> = outputs.iter().map(view).collect();
        let mut recognizer = Recognizer::new();
        let mut batched = Vec::new();
        recognizer.scan(&views, std::slice::from_ref(&alice.key), |hit| {
            batched.push(hit.output_index)
        });
        let single: Vec<_> = views
            .iter()
            .enumerate()
            .filter(|(_, v)| recognizer.recognize(v, &alice.key).is_some())
            .map(|(i, _)| i)
            .collect();
        assert_eq!(batched, single);
        assert_eq!(batched.len(), (0..CHUNK + 7).filter(|i| i % 3 != 2).count());
    }
}
