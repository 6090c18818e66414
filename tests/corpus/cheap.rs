//! Cheap outputs: own and one-sided outputs made with the same key-manager calls minus the range proof,
//! and hand-sealed plaintexts the official encoder never writes (premine and legacy memos).

use super::*;

impl CorpusBuilder {
    pub(super) fn add_cheap_outputs(&mut self) {
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
    pub(super) fn own_output(&mut self, owner: Party) -> CorpusOutput {
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
    pub(super) fn one_sided_output(&mut self, payer: Party, recipient: Party, derived_mask: bool) -> CorpusOutput {
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
    pub(super) fn random_script(
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

    pub(super) fn add_sealed_outputs(&mut self) {
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
    pub(super) fn legacy_memo(&mut self, tag: u8) -> Vec<u8> {
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
    pub(super) fn sealed_output(&mut self, owner: Party, kind: Kind, memo: Vec<u8>, one_sided: bool) -> CorpusOutput {
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
}
