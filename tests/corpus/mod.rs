//! Cross-check corpus: genuine Tari outputs built by the official crate for a handful of test wallets, plus
//! decoys derived from them. Every output records how it was built and whom it was built for, so the test can
//! check the official key manager against the builder's intent before using it as the oracle for ours.
//!
//! Range proofs are the only slow part of building an output, and recognition never reads them, so the
//! official builders that make them (coinbases, `TransactionBuilder`) supply tens of outputs while the bulk is
//! made with the same key-manager calls minus the proof.

mod dual_key;

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

    // ---- Official builders ----

    fn add_coinbases(&mut self) {
        let constants = create_consensus_constants(0);
        let miner = KeyManager::new_random().expect("a random wallet");
        let mut height = 1;
        for party in self.all_parties() {
            for (stealth, range_proof_type) in [
                (true, RangeProofType::BulletProofPlus),
                (true, RangeProofType::RevealedValue),
                (false, RangeProofType::BulletProofPlus),
                (false, RangeProofType::RevealedValue),
            ] {
                let kind = match (stealth, range_proof_type) {
                    (true, RangeProofType::BulletProofPlus) => Kind::CoinbaseStealthBulletProof,
                    (true, RangeProofType::RevealedValue) => Kind::CoinbaseStealthRevealedValue,
                    (false, RangeProofType::BulletProofPlus) => Kind::CoinbaseSpendKeyBulletProof,
                    (false, RangeProofType::RevealedValue) => Kind::CoinbaseSpendKeyRevealedValue,
                };
                let memo = self.coinbase_memo(height);
                let address = self.wallet(party).address.clone();
                let reward = self.rng.gen_range(1_000..100_000_000_000);
                let (output, _kernel) = generate_coinbase(
                    MicroMinotari::from(self.rng.gen_range(0..10_000)),
                    MicroMinotari::from(reward),
                    height,
                    &CoinBaseExtra::default(),
                    &miner,
                    &address,
                    stealth,
                    &constants,
                    range_proof_type,
                    memo,
                )
                .expect("coinbase");
                let class = if stealth {
                    ScriptClass::Stealth
                } else {
                    ScriptClass::SpendKey
                };
                self.push_built(party, kind, Provenance::DiffieHellman, true, class, &output);
                height += 1;
            }
            // The address's payment id replaces the memo.
            let len = self.rng.gen_range(1..=64);
            let payment_id = self.random_bytes(len);
            let address = self
                .wallet(party)
                .address
                .with_memo_field_payment_id(payment_id)
                .expect("short payment id");
            let (output, _kernel) = generate_coinbase(
                MicroMinotari::from(0),
                MicroMinotari::from(self.rng.gen_range(1_000..1_000_000)),
                height,
                &CoinBaseExtra::default(),
                &miner,
                &address,
                true,
                &constants,
                RangeProofType::BulletProofPlus,
                MemoField::new_empty(),
            )
            .expect("coinbase");
            let kind = Kind::CoinbaseToAddressWithPaymentId;
            self.push_built(
                party,
                kind,
                Provenance::DiffieHellman,
                true,
                ScriptClass::Stealth,
                &output,
            );
            height += 1;
        }
    }

    fn coinbase_memo(&mut self, height: u64) -> MemoField {
        match height % 3 {
            0 => MemoField::new_empty(),
            1 => MemoField::new_open(height.to_le_bytes().to_vec(), TxType::Coinbase).expect("short"),
            _ => self.random_memo(),
        }
    }

    fn add_transactions(&mut self) {
        let scanned = self.scanned.len();
        for s in 0..scanned {
            let sender = Party::Scanned(s);
            let next = Party::Scanned((s + 1) % scanned);
            let after_next = Party::Scanned((s + 2) % scanned);
            let foreign = Party::Foreign(s % self.foreign.len());
            self.add_transaction(
                sender,
                &[Payment::Stealth(next), Payment::Stealth(foreign), Payment::ToSelf],
            );
            self.add_transaction(sender, &[Payment::Burn]);
            self.add_transaction(sender, &[Payment::MultisigDeposit(after_next)]);
            for r in (0..scanned).filter(|&r| r != s) {
                self.add_transaction(sender, &[Payment::Stealth(Party::Scanned(r))]);
            }
        }
        // Foreign senders: their change and funding outputs are decoys for the scanned wallets.
        for f in 0..self.foreign.len() {
            for s in 0..scanned {
                if (s + f) % 2 == 0 {
                    self.add_transaction(Party::Foreign(f), &[Payment::Stealth(Party::Scanned(s))]);
                }
            }
        }
    }

    /// One `TransactionBuilder` transaction from `sender`, funded by one fresh input, with change.
    fn add_transaction(&mut self, sender: Party, payments: &[Payment]) {
        let key_manager = self.wallet(sender).key_manager.clone();
        let input_memo = self.random_memo();
        let input = create_test_input(
            MicroMinotari::from(10_000_000),
            0,
            &key_manager,
            vec![],
            Some(input_memo),
        );
        let input_output = input.to_transaction_output().expect("input output");
        self.push_built(
            sender,
            Kind::FundingOutput,
            Provenance::OwnViewKey,
            false,
            ScriptClass::Nop,
            &input_output,
        );

        let mut builder =
            TransactionBuilder::new(create_consensus_constants(0), key_manager.clone(), NETWORK).expect("builder");
        builder
            .with_lock_height(0)
            .with_fee_per_gram(MicroMinotari::from(5))
            .with_input(input)
            .expect("input");
        if payments.iter().any(|p| matches!(p, Payment::Burn)) {
            builder
                .with_tx_type(TxType::Burn)
                .with_kernel_features(KernelFeatures::create_burn());
        }
        let mut expected = Vec::new();
        for payment in payments {
            let amount = MicroMinotari::from(self.rng.gen_range(1_000..1_000_000));
            let memo = self.random_memo();
            let (spec, owner, kind, provenance, class) = match *payment {
                Payment::Stealth(to) => {
                    let address = self.wallet(to).address.clone();
                    let spec = RecipientSpec::stealth(address, amount, OutputFeatures::default(), memo);
                    (
                        spec,
                        to,
                        Kind::StealthPayment,
                        Provenance::DiffieHellman,
                        ScriptClass::Stealth,
                    )
                }
                Payment::ToSelf => {
                    let spec = RecipientSpec::to_self(amount, OutputFeatures::default(), memo);
                    (spec, sender, Kind::ToSelf, Provenance::OwnViewKey, ScriptClass::Stealth)
                }
                Payment::Burn => {
                    let spec = RecipientSpec::burn(amount, OutputFeatures::create_burn_output(), memo)
                        .with_script(script!(Nop).expect("script"))
                        .with_script_key(RecipientScriptKey::Zero);
                    (spec, sender, Kind::Burn, Provenance::OwnViewKey, ScriptClass::Nop)
                }
                Payment::MultisigDeposit(to) => {
                    let parties = vec![
                        self.wallet(to).spend_public().clone(),
                        self.wallet(sender).spend_public().clone(),
                    ];
                    let address = self.wallet(to).address.clone();
                    let message = Box::new(self.rng.r#gen::<[u8; 32]>());
                    let spec = RecipientSpec::stealth(address, amount, OutputFeatures::default(), memo)
                        .with_multisig_script(1, parties, message);
                    (
                        spec,
                        to,
                        Kind::MultisigDeposit,
                        Provenance::DiffieHellman,
                        ScriptClass::Other,
                    )
                }
            };
            builder.with_recipient_spec(spec).expect("spec");
            let mask_from_shared_secret = provenance == Provenance::DiffieHellman;
            expected.push((owner, kind, provenance, mask_from_shared_secret, class));
        }
        builder.reserve_sender_offset_keys(&[]).expect("reserve");
        let finalized = builder.build().expect("transaction");

        let outputs = finalized.transaction.body.outputs();
        let find = |commitment: &CompressedCommitment| {
            outputs
                .iter()
                .find(|o| o.commitment == *commitment)
                .expect("built output is in the transaction")
                .clone()
        };
        assert_eq!(finalized.spec_outputs.len(), expected.len());
        for (wallet_output, (owner, kind, provenance, dh_mask, class)) in finalized.spec_outputs.iter().zip(expected) {
            let output = find(wallet_output.commitment());
            self.push_built(owner, kind, provenance, dh_mask, class, &output);
        }
        let change = finalized.change.as_ref().expect("the input leaves change");
        let change = find(change.commitment());
        self.push_built(
            sender,
            Kind::Change,
            Provenance::OwnViewKey,
            false,
            ScriptClass::Stealth,
            &change,
        );
        assert_eq!(
            outputs.len(),
            finalized.spec_outputs.len() + 1,
            "every output is accounted for"
        );
    }

    fn push_built(
        &mut self,
        owner: Party,
        kind: Kind,
        provenance: Provenance,
        mask_from_shared_secret: bool,
        class: ScriptClass,
        output: &TransactionOutput,
    ) {
        let intent = self.intent(owner, provenance, mask_from_shared_secret, Some(class));
        self.push(CorpusOutput::from_transaction_output(kind, intent, output));
    }

    fn intent(
        &self,
        owner: Party,
        provenance: Provenance,
        mask_from_shared_secret: bool,
        script_class: Option<ScriptClass>,
    ) -> Intent {
        match owner {
            Party::Scanned(wallet) => Intent::Owned {
                wallet,
                provenance,
                mask_from_shared_secret,
                script_class,
            },
            Party::Foreign(_) => Intent::NotOwned,
        }
    }

    // ---- Key-manager outputs without range proofs ----

    fn add_cheap_outputs(&mut self) {
        for party in self.all_parties() {
            let weight = if matches!(party, Party::Scanned(_)) { 3 } else { 1 };
            for _ in 0..110 * weight {
                let output = self.own_output(party);
                self.push(output);
            }
            for _ in 0..110 * weight {
                let payer = self.random_party();
                let output = self.one_sided_output(payer, party, true);
                self.push(output);
            }
            for _ in 0..35 * weight {
                let payer = self.random_party();
                let output = self.one_sided_output(payer, party, false);
                self.push(output);
            }
        }
    }

    /// An output a wallet makes for itself, as its change outputs are made.
    fn own_output(&mut self, owner: Party) -> CorpusOutput {
        let (value, memo) = (self.random_value(), self.random_memo());
        let wallet = self.wallet(owner);
        let key_manager = &wallet.key_manager;
        let (mask, script_key) = key_manager.get_next_commitment_mask_and_script_key().expect("keys");
        let commitment = key_manager
            .get_commitment(&mask.key_id, &PrivateKey::from(value))
            .expect("commitment");
        let data = key_manager
            .encrypt_data_for_recovery(&mask.key_id, None, value, memo)
            .expect("encrypt");
        let sender_offset = key_manager.get_random_key(None, None).expect("key").pub_key;
        let stealth = script_key.pub_key;
        let spend = wallet.spend_public().clone();
        let (script, class) = self.random_script(&stealth, &spend);
        CorpusOutput {
            kind: Kind::OwnOutput,
            intent: self.intent(owner, Provenance::OwnViewKey, false, class),
            commitment: bytes32(commitment.as_bytes()),
            sender_offset_public_key: bytes32(sender_offset.as_bytes()),
            encrypted_data: data.to_byte_vec(),
            script,
        }
    }

    /// A one-sided payment from `payer` to `recipient`: a fresh sender offset key `r`, data under the DH key of
    /// `r` and the recipient's view key, and the DH-derived mask or one the payer chose.
    fn one_sided_output(&mut self, payer: Party, recipient: Party, derived_mask: bool) -> CorpusOutput {
        let (value, memo) = (self.random_value(), self.random_memo());
        let payer_keys = &self.wallet(payer).key_manager;
        let recipient_wallet = self.wallet(recipient);
        let sender_offset = payer_keys.get_random_key(None, None).expect("key");
        let view_public = recipient_wallet.view_public().clone();
        let mask_id = if derived_mask {
            TariKeyId::DHCommitmentMask {
                private_key: sender_offset.key_id.clone().into(),
                public_key: view_public.clone(),
            }
        } else {
            payer_keys.get_random_key(None, None).expect("key").key_id
        };
        let encryption_id = TariKeyId::DHEncryptedData {
            private_key: sender_offset.key_id.clone().into(),
            public_key: view_public,
        };
        let commitment = payer_keys
            .get_commitment(&mask_id, &PrivateKey::from(value))
            .expect("commitment");
        let data = payer_keys
            .encrypt_data_for_recovery(&mask_id, Some(&encryption_id), value, memo)
            .expect("encrypt");
        let spend = recipient_wallet.spend_public().clone();
        let stealth = payer_keys
            .stealth_address_script_spending_key(&mask_id, &spend)
            .expect("stealth key");
        let (script, class) = self.random_script(&stealth, &spend);
        let kind = if derived_mask {
            Kind::OneSidedDerivedMask
        } else {
            Kind::OneSidedSenderChosenMask
        };
        CorpusOutput {
            kind,
            intent: self.intent(recipient, Provenance::DiffieHellman, derived_mask, class),
            commitment: bytes32(commitment.as_bytes()),
            sender_offset_public_key: bytes32(sender_offset.pub_key.as_bytes()),
            encrypted_data: data.to_byte_vec(),
            script,
        }
    }

    /// A script of each class (or none), built with `tari_script`.
    fn random_script(
        &mut self,
        stealth: &CompressedPublicKey,
        spend: &CompressedPublicKey,
    ) -> (Option<Vec<u8>>, Option<ScriptClass>) {
        let (script, class) = match self.rng.gen_range(0..6) {
            0 | 1 => (push_pubkey_script(stealth), ScriptClass::Stealth),
            2 => (push_pubkey_script(spend), ScriptClass::SpendKey),
            3 => (script!(Nop).expect("script"), ScriptClass::Nop),
            4 => {
                // A height-locked spend-key script: the value is ours whatever the script says.
                let ops = vec![
                    Opcode::CheckHeightVerify(self.rng.gen_range(0..1_000_000)),
                    Opcode::PushPubKey(Box::new(spend.clone())),
                ];
                (TariScript::new(ops).expect("script"), ScriptClass::Other)
            }
            _ => return (None, None),
        };
        (Some(script.to_bytes()), Some(class))
    }

    // ---- Hand-sealed plaintexts ----

    fn add_sealed_outputs(&mut self) {
        for wallet in 0..self.scanned.len() {
            let owner = Party::Scanned(wallet);
            for id in [0u64, 7, 999, 1_000, 123_456] {
                // Premine outputs carry an 8-byte id; below 1000 `MemoField::from_bytes` reads it as an open memo.
                let output = self.sealed_output(owner, Kind::SealedPremineMemo, id.to_le_bytes().to_vec(), false);
                self.push(output);
            }
            for tag in [3u8, 4] {
                for _ in 0..3 {
                    let memo = self.legacy_memo(tag);
                    let output = self.sealed_output(owner, Kind::SealedLegacyMemo, memo, false);
                    self.push(output);
                }
            }
            for len in (0..=MAX_MEMO_LEN)
                .step_by(16)
                .chain([1, 8, 33, 129, 130, 131, 255, 256])
            {
                let mut memo = self.random_bytes(len);
                if let Some(first) = memo.first_mut() {
                    *first = self.rng.gen_range(0..10); // every tag, known or not
                }
                let output = self.sealed_output(owner, Kind::SealedArbitraryMemo, memo, false);
                self.push(output);
            }
            for one_sided in [false, true] {
                let kind = if one_sided {
                    Kind::NonCanonicalMaskOneSided
                } else {
                    Kind::NonCanonicalMaskOwnKey
                };
                for _ in 0..6 {
                    let output = self.sealed_output(owner, kind, Vec::new(), one_sided);
                    self.push(output);
                }
            }
            for _ in 0..4 {
                let output = self.sealed_output(owner, Kind::SealedEncryptedData79, Vec::new(), false);
                self.push(output);
                let mut memo = vec![7u8]; // a Raw memo one byte over the limit
                memo.extend(self.random_bytes(MAX_MEMO_LEN));
                let output = self.sealed_output(owner, Kind::SealedEncryptedData337, memo, false);
                self.push(output);
            }
        }
    }

    /// Legacy memo bytes: `tag ‖ amount u64 ‖ 5 metadata bytes ‖ address ‖ payment id`.
    fn legacy_memo(&mut self, tag: u8) -> Vec<u8> {
        let party = self.random_party();
        let mut memo = vec![tag];
        memo.extend_from_slice(&self.rng.gen_range(0..1_000_000u64).to_le_bytes());
        memo.extend_from_slice(&[TxType::PaymentToOther.as_u8(), 10, 0, 0, 0]);
        memo.extend_from_slice(&self.wallet(party).address.to_vec());
        let len = self.rng.gen_range(0..40);
        let payment_id = self.random_bytes(len);
        memo.extend_from_slice(&payment_id);
        memo
    }

    /// An output whose plaintext `value ‖ mask ‖ memo` is written by hand and sealed with the official KDF, under
    /// the owner's view key or a DH key. Decoy kinds bend the plaintext: a non-canonical mask, a 31-byte mask
    /// (79 bytes of data) or a 257-byte memo (337 bytes).
    fn sealed_output(&mut self, owner: Party, kind: Kind, memo: Vec<u8>, one_sided: bool) -> CorpusOutput {
        let value = self.random_value();
        let mask = random_private_key(&mut self.rng);
        let commitment = commit(&mask, value);
        let sender_offset = random_private_key(&mut self.rng);
        let sender_offset_public = CompressedPublicKey::from_secret_key(&sender_offset);
        let key = if one_sided {
            dh_encryption_key(&sender_offset, self.wallet(owner).view_public())
        } else {
            self.wallet(owner).key_manager.get_private_view_key()
        };
        let mask_bytes: [u8; 32] = match kind {
            Kind::NonCanonicalMaskOwnKey | Kind::NonCanonicalMaskOneSided if self.rng.gen_bool(0.75) => {
                non_canonical_encoding(&mask)
            }
            Kind::NonCanonicalMaskOwnKey | Kind::NonCanonicalMaskOneSided => [0xff; 32],
            _ => bytes32(mask.as_bytes()),
        };
        let mut plaintext = value.to_le_bytes().to_vec();
        plaintext.extend_from_slice(&mask_bytes);
        plaintext.extend_from_slice(&memo);
        if kind == Kind::SealedEncryptedData79 {
            plaintext.truncate(8 + 31);
        }
        let encrypted_data = seal(&key, &commitment, &plaintext, &mut self.rng);
        let intent = if kind.is_decoy() {
            Intent::NotOwned
        } else {
            self.intent(owner, Provenance::OwnViewKey, false, None)
        };
        CorpusOutput {
            kind,
            intent,
            commitment,
            sender_offset_public_key: bytes32(sender_offset_public.as_bytes()),
            encrypted_data,
            script: None,
        }
    }

    // ---- Decoys ----

    fn add_decoys(&mut self) {
        let owned: Vec<CorpusOutput> = self.outputs.iter().filter(|o| o.owner().is_some()).cloned().collect();
        for _ in 0..40 {
            for decoy in [
                Kind::ZeroSenderOffsetKey,
                Kind::InvalidSenderOffsetKey,
                Kind::FlippedTagBit,
                Kind::FlippedNonceBit,
                Kind::FlippedCiphertextBit,
                Kind::SwappedCommitment,
            ] {
                let source = owned.choose(&mut self.rng).expect("owned outputs").clone();
                let other = owned.choose(&mut self.rng).expect("owned outputs").clone();
                let output = self.derive_decoy(decoy, source, &other);
                self.push(output);
            }
        }
        self.add_length_decoys();
        for wallet in 0..self.scanned.len() {
            for _ in 0..6 {
                for kind in [
                    Kind::ValueMismatchOwnKey,
                    Kind::ValueMismatchOneSided,
                    Kind::MaskMismatchOwnKey,
                    Kind::MaskMismatchOneSided,
                ] {
                    let output = self.mismatched_output(Party::Scanned(wallet), kind);
                    self.push(output);
                }
            }
            for _ in 0..3 {
                let output = self.undecodable_commitment_output(Party::Scanned(wallet));
                self.push(output);
            }
        }
        for _ in 0..8 {
            let output = self.identity_offset_key_forgery();
            self.push(output);
        }
        for wallet in 0..self.scanned.len() {
            for kind in [
                Kind::DualKeyViewKeyDecides,
                Kind::DualKeyFallsThroughToDh,
                Kind::DualKeyViewKeyFirst,
            ] {
                for _ in 0..4 {
                    let output = self.dual_key_output(Party::Scanned(wallet), kind);
                    self.push(output);
                }
            }
        }
    }

    fn derive_decoy(&mut self, kind: Kind, mut output: CorpusOutput, other: &CorpusOutput) -> CorpusOutput {
        let own_key = matches!(
            output.intent,
            Intent::Owned {
                provenance: Provenance::OwnViewKey,
                ..
            }
        );
        output.kind = kind;
        match kind {
            Kind::ZeroSenderOffsetKey | Kind::InvalidSenderOffsetKey => {
                output.sender_offset_public_key = if kind == Kind::ZeroSenderOffsetKey {
                    [0; 32]
                } else {
                    self.invalid_point()
                };
                // The view-key attempt comes first and never reads `R`.
                if !own_key {
                    output.intent = Intent::NotOwned;
                }
                return output;
            }
            Kind::FlippedTagBit => self.flip_bit(&mut output.encrypted_data, 0..16),
            Kind::FlippedNonceBit => self.flip_bit(&mut output.encrypted_data, 16..40),
            Kind::FlippedCiphertextBit => {
                let len = output.encrypted_data.len();
                self.flip_bit(&mut output.encrypted_data, 40..len);
            }
            Kind::SwappedCommitment => {
                output.commitment = other.commitment;
                if output.commitment == other.commitment && output.encrypted_data == other.encrypted_data {
                    return output; // the same output drawn twice: still genuine
                }
            }
            _ => unreachable!("not a derived decoy: {kind:?}"),
        }
        output.intent = Intent::NotOwned;
        output
    }

    fn flip_bit(&mut self, data: &mut [u8], range: std::ops::Range<usize>) {
        let byte = self.rng.gen_range(range);
        data[byte] ^= 1 << self.rng.gen_range(0..8);
    }

    /// 32 bytes that are not a Ristretto encoding.
    fn invalid_point(&mut self) -> [u8; 32] {
        if self.rng.gen_bool(0.3) {
            return [0xff; 32];
        }
        loop {
            let mut bytes: [u8; 32] = self.rng.r#gen();
            bytes[31] &= 0x7f; // a canonical field element, so decompression fails for the curve reason
            bytes[0] &= 0xfe;
            if CompressedRistretto(bytes).decompress().is_none() {
                return bytes;
            }
        }
    }

    /// Own-key outputs of exactly 80 and 336 bytes (empty and largest memo), cut or extended by one byte, and
    /// random bytes of both valid lengths.
    fn add_length_decoys(&mut self) {
        for wallet in 0..self.scanned.len() {
            for _ in 0..8 {
                let owner = Party::Scanned(wallet);
                let mut shortest = self.own_output_with_memo(owner, MemoField::new_empty());
                assert_eq!(shortest.encrypted_data.len(), 80);
                shortest.encrypted_data.pop();
                shortest.kind = Kind::EncryptedData79;
                shortest.intent = Intent::NotOwned;
                self.push(shortest);

                let largest = MemoField::new_raw(self.random_bytes(MAX_MEMO_LEN - 1)).expect("largest raw memo");
                let mut longest = self.own_output_with_memo(owner, largest);
                assert_eq!(longest.encrypted_data.len(), 336);
                longest.encrypted_data.push(self.rng.r#gen());
                longest.kind = Kind::EncryptedData337;
                longest.intent = Intent::NotOwned;
                self.push(longest);

                for (kind, len) in [(Kind::Garbage80, 80), (Kind::Garbage336, 336)] {
                    let mut garbage = self.own_output_with_memo(owner, MemoField::new_empty());
                    garbage.encrypted_data = self.random_bytes(len);
                    garbage.kind = kind;
                    garbage.intent = Intent::NotOwned;
                    self.push(garbage);
                }
            }
        }
    }

    fn own_output_with_memo(&mut self, owner: Party, memo: MemoField) -> CorpusOutput {
        let value = self.random_value();
        let key_manager = &self.wallet(owner).key_manager;
        let mask = key_manager.get_random_key(None, None).expect("key").key_id;
        let commitment = key_manager
            .get_commitment(&mask, &PrivateKey::from(value))
            .expect("commitment");
        let data = key_manager
            .encrypt_data_for_recovery(&mask, None, value, memo)
            .expect("encrypt");
        let sender_offset = key_manager.get_random_key(None, None).expect("key").pub_key;
        CorpusOutput {
            kind: Kind::OwnOutput,
            intent: self.intent(owner, Provenance::OwnViewKey, false, None),
            commitment: bytes32(commitment.as_bytes()),
            sender_offset_public_key: bytes32(sender_offset.as_bytes()),
            encrypted_data: data.to_byte_vec(),
            script: None,
        }
    }

    /// Data that decrypts under the owner's key (view or DH) but does not open the commitment: either the value
    /// is off by one, as in the official `output_with_matching_and_mismatched_encrypted_data`, or the mask differs.
    fn mismatched_output(&mut self, owner: Party, kind: Kind) -> CorpusOutput {
        let value = self.random_value().min(u64::MAX - 1);
        let memo = self.random_memo();
        let mask = random_private_key(&mut self.rng);
        let commitment = commit(&mask, value);
        let commitment_key = CompressedCommitment::from_canonical_bytes(&commitment).expect("32 bytes");
        let sender_offset = random_private_key(&mut self.rng);
        let one_sided = matches!(kind, Kind::ValueMismatchOneSided | Kind::MaskMismatchOneSided);
        let key = if one_sided {
            dh_encryption_key(&sender_offset, self.wallet(owner).view_public())
        } else {
            self.wallet(owner).key_manager.get_private_view_key()
        };
        let (sealed_value, sealed_mask) = match kind {
            Kind::ValueMismatchOwnKey | Kind::ValueMismatchOneSided => (value + 1, mask),
            _ => (value, random_private_key(&mut self.rng)),
        };
        let data = EncryptedData::encrypt_data(&key, &commitment_key, sealed_value.into(), &sealed_mask, memo)
            .expect("encrypt");
        CorpusOutput {
            kind,
            intent: Intent::NotOwned,
            commitment,
            sender_offset_public_key: bytes32(CompressedPublicKey::from_secret_key(&sender_offset).as_bytes()),
            encrypted_data: data.to_byte_vec(),
            script: None,
        }
    }

    /// Data sealed under the owner's view key and a "commitment" that is not a point. The official key manager
    /// decrypts it, then fails to decompress the commitment and returns an error.
    fn undecodable_commitment_output(&mut self, owner: Party) -> CorpusOutput {
        let commitment = self.invalid_point();
        let commitment_key = CompressedCommitment::from_canonical_bytes(&commitment).expect("32 bytes");
        let (value, memo) = (self.random_value(), self.random_memo());
        let mask = random_private_key(&mut self.rng);
        let view_key = self.wallet(owner).key_manager.get_private_view_key();
        let data = EncryptedData::encrypt_data(&view_key, &commitment_key, value.into(), &mask, memo).expect("encrypt");
        let sender_offset = CompressedPublicKey::from_secret_key(&random_private_key(&mut self.rng));
        CorpusOutput {
            kind: Kind::UndecodableCommitment,
            intent: Intent::NotOwned,
            commitment,
            sender_offset_public_key: bytes32(sender_offset.as_bytes()),
            encrypted_data: data.to_byte_vec(),
            script: None,
        }
    }

    /// Data that authenticates under both the owner's view key and the DH key of a fresh sender offset key (see
    /// `dual_key`). One key's plaintext is chosen, a valid opening of the commitment; the other key's plaintext is
    /// whatever falls out, drawn again until its mask is canonical or not, as `kind` needs.
    fn dual_key_output(&mut self, owner: Party, kind: Kind) -> CorpusOutput {
        let view_key = self.wallet(owner).key_manager.get_private_view_key();
        let view_public = self.wallet(owner).view_public().clone();
        loop {
            let sender_offset = random_private_key(&mut self.rng);
            let (dh_key, dh_mask) = dh_keys(&sender_offset, &view_public);
            let value = self.random_value();
            let (chosen_key, other_key, mask) = match kind {
                Kind::DualKeyViewKeyFirst => (&view_key, &dh_key, random_private_key(&mut self.rng)),
                _ => (&dh_key, &view_key, dh_mask),
            };
            let commitment = commit(&mask, value);
            // value ‖ mask ‖ a Raw memo of 40 bytes, bytes 8..24 of which are the free block
            let mut plaintext = value.to_le_bytes().to_vec();
            plaintext.extend_from_slice(mask.as_bytes());
            plaintext.push(7);
            plaintext.extend(self.random_bytes(39));
            let nonce: [u8; 24] = self.rng.r#gen();
            let (chosen, other) = (aead_key(chosen_key, &commitment), aead_key(other_key, &commitment));
            let Some((data, other_plaintext)) = dual_key::seal_for_two_keys(&chosen, &other, &plaintext, &nonce) else {
                continue;
            };
            let other_mask_canonical = PrivateKey::from_canonical_bytes(&other_plaintext[8..40]).is_ok();
            let intent = match kind {
                Kind::DualKeyViewKeyDecides if other_mask_canonical => Intent::NotOwned,
                Kind::DualKeyFallsThroughToDh if !other_mask_canonical => {
                    self.intent(owner, Provenance::DiffieHellman, true, None)
                }
                Kind::DualKeyViewKeyFirst => self.intent(owner, Provenance::OwnViewKey, false, None),
                _ => continue,
            };
            assert!(authenticates(&view_key, &commitment, &data) && authenticates(&dh_key, &commitment, &data));
            return CorpusOutput {
                kind,
                intent,
                commitment,
                sender_offset_public_key: bytes32(CompressedPublicKey::from_secret_key(&sender_offset).as_bytes()),
                encrypted_data: data,
                script: None,
            };
        }
    }

    /// A one-sided output sealed for the shared secret `compress(v·identity)`, which is the same for every view
    /// key, and published with the all-zero sender offset key.
    fn identity_offset_key_forgery(&mut self) -> CorpusOutput {
        let identity = CompressedPublicKey::default();
        let encryption_key = public_key_to_output_encryption_key(&identity).expect("uniform bytes");
        let mask = public_key_to_output_spending_key(&identity).expect("uniform bytes");
        let (value, memo) = (self.random_value(), self.random_memo());
        let commitment = commit(&mask, value);
        let commitment_key = CompressedCommitment::from_canonical_bytes(&commitment).expect("32 bytes");
        let data =
            EncryptedData::encrypt_data(&encryption_key, &commitment_key, value.into(), &mask, memo).expect("encrypt");
        CorpusOutput {
            kind: Kind::IdentityOffsetKeyForgery,
            intent: Intent::NotOwned,
            commitment,
            sender_offset_public_key: bytes32(identity.as_bytes()),
            encrypted_data: data.to_byte_vec(),
            script: None,
        }
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
