//! Cross-check corpus: genuine Tari outputs built by the official crate for a handful of test wallets, plus
//! decoys derived from them. Every output records how it was built and whom it was built for, so the test can
//! check the official key manager against the builder's intent before using it as the oracle for ours.
//!
//! Range proofs are the only slow part of building an output, and recognition never reads them, so the
//! official builders that make them (coinbases, `TransactionBuilder`) supply tens of outputs while the bulk is
//! made with the same key-manager calls minus the proof.

mod cheap;
mod decoys;
mod dual_key;
mod official;

use std::collections::BTreeMap;

use chacha20poly1305::{AeadInPlace, KeyInit, XChaCha20Poly1305, XNonce};
use curve25519_dalek::ristretto::CompressedRistretto;
use rand::{Rng, SeedableRng, rngs::StdRng, seq::SliceRandom};
use tari_common::configuration::Network;
use tari_common_types::{
    tari_address::TariAddress,
    types::{CommitmentFactory, CompressedCommitment, CompressedPublicKey, FixedHash, PrivateKey},
};
use tari_crypto::{
    commitment::HomomorphicCommitmentFactory, hash_domain, hashing::DomainSeparatedHasher, keys::SecretKey,
    tari_utilities::ByteArray,
};
use tari_script::{Opcode, TariScript, push_pubkey_script, script};
use tari_transaction_components::{
    MicroMinotari, TransactionBuilder, generate_coinbase,
    key_manager::{
        KeyManager, TariKeyId, TransactionKeyManagerInterface,
        wallet_types::{SpendWallet, ViewWallet, WalletType},
    },
    test_helpers::{create_consensus_constants, create_test_input},
    transaction_builder::{RecipientScriptKey, RecipientSpec},
    transaction_components::{
        CoinBaseExtra, EncryptedData, KernelFeatures, MemoField, OutputFeatures, RangeProofType, TransactionOutput,
        memo_field::TxType,
        one_sided::{public_key_to_output_encryption_key, public_key_to_output_spending_key},
    },
};
use tari_wallet_sync::recognize::{OutputView, Provenance, ScriptClass, WalletKey};

const NETWORK: Network = Network::LocalNet;
/// Scanned wallets: the keys handed to our recogniser and to the oracle.
const SCANNED_WALLETS: usize = 4;
/// Wallets that pay and get paid but are never scanned: their outputs are decoys for the scanned ones.
const FOREIGN_WALLETS: usize = 2;
const MAX_MEMO_LEN: usize = 256;
const TX_TYPES: [TxType; 11] = [
    TxType::PaymentToOther,
    TxType::PaymentToSelf,
    TxType::Burn,
    TxType::CoinSplit,
    TxType::CoinJoin,
    TxType::ValidatorNodeRegistration,
    TxType::ClaimAtomicSwap,
    TxType::HtlcAtomicSwapRefund,
    TxType::CodeTemplateRegistration,
    TxType::ImportedUtxoNoneRewindable,
    TxType::Coinbase,
];

/// How an output was made. Decoy kinds are derived from, or shaped like, genuine outputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    // Official builders, with range proofs.
    CoinbaseStealthBulletProof,
    CoinbaseStealthRevealedValue,
    CoinbaseSpendKeyBulletProof,
    CoinbaseSpendKeyRevealedValue,
    /// Coinbase to an address carrying a payment id, which overrides the memo.
    CoinbaseToAddressWithPaymentId,
    /// `TransactionBuilder::add_stealth_recipient`.
    StealthPayment,
    /// The sender's change output of a `TransactionBuilder` transaction.
    Change,
    /// `RecipientSpec::to_self`.
    ToSelf,
    /// `RecipientSpec::burn` with a `Nop` script, as the official plain-burn test builds it.
    Burn,
    /// `RecipientSpec::stealth(..).with_multisig_script(..)`: a multisig deposit, non-standard script.
    MultisigDeposit,
    /// `create_test_input`: the funding output of each transaction, own-key with a `Nop` script.
    FundingOutput,
    // The same key-manager calls as the builders, without range proofs.
    /// Mask from `get_next_commitment_mask_and_script_key`, data from `encrypt_data_for_recovery` (view key).
    OwnOutput,
    /// `DHCommitmentMask` mask and `DHEncryptedData` key, as coinbases and stealth payments use.
    OneSidedDerivedMask,
    /// `DHEncryptedData` key with a mask the sender chose.
    OneSidedSenderChosenMask,
    // Encrypted with a hand-rolled AEAD (official KDF), for plaintexts the official encoder never writes.
    /// The premine's 8-byte memo.
    SealedPremineMemo,
    /// Legacy `AddressAndDataV1` / `TransactionInfoV1` memo tags.
    SealedLegacyMemo,
    /// Arbitrary memo bytes of every length 0..=256.
    SealedArbitraryMemo,
    // Decoys.
    /// A copy with an all-zero sender offset key: still ours when the data is under the view key itself.
    ZeroSenderOffsetKey,
    /// A copy with a sender offset key that does not decompress.
    InvalidSenderOffsetKey,
    /// An 80-byte genuine output cut to 79 bytes: official `EncryptedData::from_bytes` refuses it.
    EncryptedData79,
    /// A 336-byte genuine output extended to 337 bytes: official `EncryptedData::from_bytes` refuses it.
    EncryptedData337,
    /// A valid AEAD of 79 bytes under the view key (a 31-byte mask): refused for its length alone.
    SealedEncryptedData79,
    /// A valid AEAD of 337 bytes under the view key (a 257-byte memo) whose value and mask open the commitment:
    /// refused for its length alone.
    SealedEncryptedData337,
    /// Random bytes at the two length limits.
    Garbage80,
    Garbage336,
    FlippedTagBit,
    FlippedNonceBit,
    FlippedCiphertextBit,
    /// Data and commitment from two different outputs.
    SwappedCommitment,
    /// Data under the view key whose value does not open the commitment (the official test's pattern).
    ValueMismatchOwnKey,
    ValueMismatchOneSided,
    /// Data whose mask does not open the commitment.
    MaskMismatchOwnKey,
    MaskMismatchOneSided,
    /// A mask that is not a canonical scalar, under the view key and under the DH key: usually `m + l`, the
    /// non-canonical encoding of the very mask that opens the commitment, so only canonicity rejects it.
    NonCanonicalMaskOwnKey,
    NonCanonicalMaskOneSided,
    /// Data that authenticates under the view key (canonical mask, does not open the commitment) and under the
    /// DH key (opens it): the official recogniser stops at the view key, so not ours.
    DualKeyViewKeyDecides,
    /// Data that authenticates under the view key with a non-canonical mask and under the DH key with a valid
    /// opening: the official recogniser falls through to the DH key, so ours.
    DualKeyFallsThroughToDh,
    /// Data whose view-key opening is valid and which also authenticates under the DH key: the view key wins.
    DualKeyViewKeyFirst,
    /// Sender offset key all zero, data under `k_enc` and mask `k_mask` of the compressed identity: what
    /// `v·R` would give for every wallet if the zero key were not refused.
    IdentityOffsetKeyForgery,
    /// Data sealed under the view key and a commitment that is not a point: the official key manager errors.
    UndecodableCommitment,
}

impl Kind {
    /// Built by an official builder that also makes range proofs, signatures and kernels.
    pub fn is_full_builder(self) -> bool {
        use Kind::*;
        matches!(
            self,
            CoinbaseStealthBulletProof
                | CoinbaseStealthRevealedValue
                | CoinbaseSpendKeyBulletProof
                | CoinbaseSpendKeyRevealedValue
                | CoinbaseToAddressWithPaymentId
                | StealthPayment
                | Change
                | ToSelf
                | Burn
                | MultisigDeposit
                | FundingOutput
        )
    }

    pub fn is_decoy(self) -> bool {
        use Kind::*;
        !self.is_full_builder()
            && !matches!(
                self,
                OwnOutput
                    | OneSidedDerivedMask
                    | OneSidedSenderChosenMask
                    | SealedPremineMemo
                    | SealedLegacyMemo
                    | SealedArbitraryMemo
                    | DualKeyFallsThroughToDh
                    | DualKeyViewKeyFirst
            )
    }
}

/// Whom an output was built for, among the scanned wallets, and what that wallet should learn from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Intent {
    Owned {
        wallet: usize,
        provenance: Provenance,
        /// Whether the mask is the standard `k_mask(v·R)` (official key id `DHCommitmentMask`).
        mask_from_shared_secret: bool,
        /// The class the script was built to have; `None` when the output carries no script.
        script_class: Option<ScriptClass>,
    },
    /// Not ours for any scanned wallet: a foreign wallet's output, or a decoy.
    NotOwned,
}

/// One output of the corpus: the bytes a scanner reads, and how and for whom they were made.
#[derive(Debug, Clone)]
pub struct CorpusOutput {
    pub kind: Kind,
    pub intent: Intent,
    pub commitment: [u8; 32],
    pub sender_offset_public_key: [u8; 32],
    pub encrypted_data: Vec<u8>,
    /// Raw opcodes (`TariScript::to_bytes`), when the output carries a script.
    pub script: Option<Vec<u8>>,
}

impl CorpusOutput {
    pub fn view(&self) -> OutputView<'_> {
        OutputView {
            commitment: &self.commitment,
            sender_offset_public_key: &self.sender_offset_public_key,
            stored_offset: None,
            encrypted_data: &self.encrypted_data,
            script: self.script.as_deref(),
        }
    }

    fn from_transaction_output(kind: Kind, intent: Intent, output: &TransactionOutput) -> Self {
        CorpusOutput {
            kind,
            intent,
            commitment: bytes32(output.commitment.as_bytes()),
            sender_offset_public_key: bytes32(output.sender_offset_public_key.as_bytes()),
            encrypted_data: output.encrypted_data.to_byte_vec(),
            script: Some(output.script.to_bytes()),
        }
    }

    fn owner(&self) -> Option<usize> {
        match self.intent {
            Intent::Owned { wallet, .. } => Some(wallet),
            Intent::NotOwned => None,
        }
    }
}

/// A test wallet: its full key manager builds and spends; a view-only key manager over the same view key and
/// public spend key is the reference recogniser (the spec's oracle); `key` is what our recogniser gets.
pub struct TestWallet {
    pub name: String,
    pub key_manager: KeyManager,
    pub oracle: KeyManager,
    pub address: TariAddress,
    pub key: WalletKey,
}

impl TestWallet {
    fn new(name: String, key_manager: KeyManager) -> Self {
        let view_key = key_manager.get_private_view_key();
        let spend_public = key_manager.get_spend_key().pub_key;
        let oracle = KeyManager::new(WalletType::ViewWallet(ViewWallet::new(
            spend_public.clone(),
            view_key.clone(),
            None,
        )))
        .expect("a software view wallet");
        let address = TariAddress::new_dual_address_with_default_features(
            key_manager.get_view_key().pub_key,
            spend_public.clone(),
            NETWORK,
        )
        .expect("valid keys");
        let key = WalletKey::from_bytes(view_key.as_bytes(), spend_public.as_bytes()).expect("valid wallet keys");
        TestWallet {
            name,
            key_manager,
            oracle,
            address,
            key,
        }
    }

    /// A spend wallet whose keys come from the seeded RNG.
    fn seeded(name: String, rng: &mut StdRng) -> Self {
        let spend_wallet = SpendWallet::new(random_private_key(rng), random_private_key(rng), None);
        Self::new(
            name,
            KeyManager::new(WalletType::SpendWallet(spend_wallet)).expect("a software wallet"),
        )
    }

    /// A seed-words wallet as `KeyManager::new_random` makes it (its keys come from the OS RNG).
    fn from_new_random(name: String) -> Self {
        Self::new(name, KeyManager::new_random().expect("a random wallet"))
    }

    fn spend_public(&self) -> &CompressedPublicKey {
        self.address.public_spend_key()
    }

    fn view_public(&self) -> &CompressedPublicKey {
        self.address.public_view_key().expect("dual address")
    }
}

/// A wallet of the corpus, scanned or not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Party {
    Scanned(usize),
    Foreign(usize),
}

/// What a transaction pays, for `CorpusBuilder::add_transaction`.
#[derive(Debug, Clone, Copy)]
enum Payment {
    Stealth(Party),
    ToSelf,
    Burn,
    MultisigDeposit(Party),
}

pub struct Corpus {
    pub wallets: Vec<TestWallet>,
    pub outputs: Vec<CorpusOutput>,
}

impl Corpus {
    /// The corpus the cross-check runs on. Deterministic in structure; the official crate draws some keys and
    /// every nonce from the OS RNG, so the bytes differ between runs.
    pub fn build(seed: u64) -> Self {
        let mut builder = CorpusBuilder::new(seed);
        builder.add_coinbases();
        builder.add_transactions();
        builder.add_cheap_outputs();
        builder.add_sealed_outputs();
        builder.add_decoys();
        builder.finish()
    }

    /// Counts per kind, for the report.
    pub fn kind_counts(&self) -> BTreeMap<Kind, usize> {
        let mut counts = BTreeMap::new();
        for output in &self.outputs {
            *counts.entry(output.kind).or_insert(0) += 1;
        }
        counts
    }
}

struct CorpusBuilder {
    rng: StdRng,
    scanned: Vec<TestWallet>,
    foreign: Vec<TestWallet>,
    outputs: Vec<CorpusOutput>,
}

impl CorpusBuilder {
    fn new(seed: u64) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut scanned: Vec<TestWallet> = (0..SCANNED_WALLETS - 1)
            .map(|i| TestWallet::seeded(format!("scanned-{i}"), &mut rng))
            .collect();
        scanned.push(TestWallet::from_new_random(format!("scanned-{}", SCANNED_WALLETS - 1)));
        let foreign = (0..FOREIGN_WALLETS)
            .map(|i| TestWallet::seeded(format!("foreign-{i}"), &mut rng))
            .collect();
        CorpusBuilder {
            rng,
            scanned,
            foreign,
            outputs: Vec::new(),
        }
    }

    fn finish(mut self) -> Corpus {
        // Mixed order, so every batch chunk holds a bit of everything.
        self.outputs.shuffle(&mut self.rng);
        Corpus {
            wallets: self.scanned,
            outputs: self.outputs,
        }
    }

    fn wallet(&self, party: Party) -> &TestWallet {
        match party {
            Party::Scanned(i) => &self.scanned[i],
            Party::Foreign(i) => &self.foreign[i],
        }
    }

    fn all_parties(&self) -> Vec<Party> {
        (0..self.scanned.len())
            .map(Party::Scanned)
            .chain((0..self.foreign.len()).map(Party::Foreign))
            .collect()
    }

    fn random_party(&mut self) -> Party {
        *self.all_parties().choose(&mut self.rng).expect("wallets exist")
    }

    fn push(&mut self, output: CorpusOutput) {
        self.outputs.push(output);
    }

    // ---- Values and memos ----

    fn random_value(&mut self) -> u64 {
        match self.rng.gen_range(0..20) {
            0 => 0,
            1 => u64::MAX,
            2 => self.rng.r#gen(),
            _ => self.rng.gen_range(1..100_000_000_000),
        }
    }

    fn random_bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.rng.r#gen()).collect()
    }

    fn random_tx_type(&mut self) -> TxType {
        *TX_TYPES.choose(&mut self.rng).expect("tx types")
    }

    /// A payment id length: often the largest that fits, so the 256-byte memo limit is exercised.
    fn payment_id_len(&mut self, max: usize) -> usize {
        if self.rng.gen_bool(0.3) {
            max
        } else {
            self.rng.gen_range(0..=max)
        }
    }

    /// A memo of every variant the official encoder writes, at sizes up to the 256-byte limit.
    fn random_memo(&mut self) -> MemoField {
        let party = self.random_party();
        let address = self.wallet(party).address.clone();
        match self.rng.gen_range(0..8) {
            0 => MemoField::new_empty(),
            1 => {
                let mut bytes = vec![1u8];
                bytes.extend(self.random_bytes(32));
                let memo = MemoField::from_bytes(&bytes);
                assert!(memo.is_u256());
                memo
            }
            2 => {
                let len = self.payment_id_len(MAX_MEMO_LEN - 2);
                let tx_type = self.random_tx_type();
                MemoField::new_open(self.random_bytes(len), tx_type).expect("fits")
            }
            3 => {
                let fee = MicroMinotari::from(self.rng.gen_range(0..u64::from(u32::MAX)));
                let (one_sided, tx_type) = (self.rng.r#gen(), self.random_tx_type());
                let len = self.payment_id_len(MAX_MEMO_LEN - address.get_size() - 8);
                let payment_id = self.random_bytes(len);
                MemoField::new_address_and_data(address, fee, one_sided, tx_type, payment_id).expect("fits")
            }
            4 => {
                let hashes: Vec<FixedHash> = (0..self.rng.gen_range(0..=2))
                    .map(|_| FixedHash::from(self.rng.r#gen::<[u8; 32]>()))
                    .collect();
                let len = self.payment_id_len(MAX_MEMO_LEN - address.get_size() - 17 - 32 * hashes.len());
                let payment_id = self.random_bytes(len);
                let amount = MicroMinotari::from(self.rng.gen_range(0..u64::MAX));
                let fee = MicroMinotari::from(self.rng.gen_range(0..u64::from(u32::MAX)));
                let (one_sided, tx_type) = (self.rng.r#gen(), self.random_tx_type());
                MemoField::new_transaction_info(address, amount, fee, one_sided, tx_type, hashes, payment_id)
                    .expect("fits")
            }
            5 => {
                let len = self.payment_id_len(MAX_MEMO_LEN - 1);
                MemoField::new_raw(self.random_bytes(len)).expect("fits")
            }
            // Encodes to 8 bytes that `from_bytes` reads back as a premine id.
            6 => MemoField::new_open(vec![0; 6], TxType::PaymentToOther).expect("fits"),
            _ => {
                // Whatever `from_bytes` makes of random bytes, re-encoded by the official encoder.
                let len = self.rng.gen_range(0..MAX_MEMO_LEN - 1);
                let mut bytes = self.random_bytes(len);
                if let Some(first) = bytes.first_mut() {
                    *first = self.rng.gen_range(0..10);
                }
                let memo = MemoField::from_bytes(&bytes);
                if memo.get_size() <= MAX_MEMO_LEN {
                    memo
                } else {
                    MemoField::new_empty()
                }
            }
        }
    }
}

/// `value·H + mask·G` with the official default commitment factory.
fn commit(mask: &PrivateKey, value: u64) -> [u8; 32] {
    bytes32(CompressedCommitment::from_commitment(CommitmentFactory::default().commit_value(mask, value)).as_bytes())
}

/// The keys a sender derives from its offset key `r` and the recipient's view key `V`, with the official
/// functions: the encryption key `k_enc(r·V)` and the mask `k_mask(r·V)`.
fn dh_keys(sender_offset: &PrivateKey, view_public: &CompressedPublicKey) -> (PrivateKey, PrivateKey) {
    let shared = sender_offset * &view_public.to_public_key().expect("valid view key");
    let shared = CompressedPublicKey::new_from_pk(shared);
    (
        public_key_to_output_encryption_key(&shared).expect("uniform bytes"),
        public_key_to_output_spending_key(&shared).expect("uniform bytes"),
    )
}

fn dh_encryption_key(sender_offset: &PrivateKey, view_public: &CompressedPublicKey) -> PrivateKey {
    dh_keys(sender_offset, view_public).0
}

hash_domain!(
    SecureNonceKdfDomain,
    "com.tari.base_layer.core.transactions.secure_nonce_kdf",
    0
);

/// `kdf_aead(key, commitment)`, the XChaCha20-Poly1305 key of encrypted data, from the official hasher and domain.
fn aead_key(key: &PrivateKey, commitment: &[u8; 32]) -> [u8; 32] {
    type Blake2b256 = blake2::Blake2b<blake2::digest::consts::U32>;
    let hash = DomainSeparatedHasher::<Blake2b256, SecureNonceKdfDomain>::new_with_label("encrypted_value_and_mask")
        .chain(key.as_bytes())
        .chain(commitment)
        .finalize();
    bytes32(hash.as_ref())
}

/// `tag ‖ nonce ‖ ciphertext` of `plaintext` under `kdf_aead(key, commitment)`: what `EncryptedData::encrypt_data`
/// writes, for plaintexts it would never write.
fn seal(key: &PrivateKey, commitment: &[u8; 32], plaintext: &[u8], rng: &mut StdRng) -> Vec<u8> {
    let cipher = XChaCha20Poly1305::new_from_slice(&aead_key(key, commitment)).expect("32-byte key");
    let nonce: [u8; 24] = rng.r#gen();
    let mut ciphertext = plaintext.to_vec();
    let tag = cipher
        .encrypt_in_place_detached(XNonce::from_slice(&nonce), dual_key::AAD, &mut ciphertext)
        .expect("encrypt");
    [tag.as_slice(), &nonce, &ciphertext].concat()
}

/// Whether `data` authenticates under `key` (the AEAD alone, before any mask or commitment check).
fn authenticates(key: &PrivateKey, commitment: &[u8; 32], data: &[u8]) -> bool {
    let cipher = XChaCha20Poly1305::new_from_slice(&aead_key(key, commitment)).expect("32-byte key");
    let (tag, rest) = data.split_at(16);
    let (nonce, ciphertext) = rest.split_at(24);
    let mut buffer = ciphertext.to_vec();
    cipher
        .decrypt_in_place_detached(XNonce::from_slice(nonce), dual_key::AAD, &mut buffer, tag.into())
        .is_ok()
}

/// `m + l` (`l` the group order) in 32 little-endian bytes: decodes to the same scalar modulo `l`, but is not
/// its canonical encoding, so `from_canonical_bytes` refuses it.
fn non_canonical_encoding(mask: &PrivateKey) -> [u8; 32] {
    const GROUP_ORDER: [u8; 32] = [
        0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14, 0, 0, 0, 0, 0,
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
    ];
    let mut sum = [0u8; 32];
    let mut carry = 0u16;
    for (i, byte) in sum.iter_mut().enumerate() {
        let total = u16::from(mask.as_bytes()[i]) + u16::from(GROUP_ORDER[i]) + carry;
        *byte = total as u8;
        carry = total >> 8;
    }
    assert_eq!(carry, 0, "m + l < 2^254 fits in 32 bytes");
    let reduced = curve25519_dalek::scalar::Scalar::from_bytes_mod_order(sum);
    assert_eq!(reduced.as_bytes(), mask.as_bytes(), "same scalar");
    assert!(
        bool::from(curve25519_dalek::scalar::Scalar::from_canonical_bytes(sum).is_none()),
        "not canonical"
    );
    sum
}

fn random_private_key(rng: &mut StdRng) -> PrivateKey {
    let wide: [u8; 64] = std::array::from_fn(|_| rng.r#gen());
    PrivateKey::from_uniform_bytes(&wide).expect("64 bytes")
}

fn bytes32(bytes: &[u8]) -> [u8; 32] {
    bytes.try_into().expect("32 bytes")
}
