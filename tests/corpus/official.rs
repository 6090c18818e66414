//! Official builders: coinbases and `TransactionBuilder` transactions, with range proofs, the slow part of
//! the corpus that is built by exactly the code a wallet runs.

use super::*;

impl CorpusBuilder {
    pub(super) fn add_coinbases(&mut self) {
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

    pub(super) fn coinbase_memo(&mut self, height: u64) -> MemoField {
        match height % 3 {
            0 => MemoField::new_empty(),
            1 => MemoField::new_open(height.to_le_bytes().to_vec(), TxType::Coinbase).expect("short"),
            _ => self.random_memo(),
        }
    }

    pub(super) fn add_transactions(&mut self) {
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
    pub(super) fn add_transaction(&mut self, sender: Party, payments: &[Payment]) {
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

    pub(super) fn push_built(
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

    pub(super) fn intent(
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
}
