//! Decoys: outputs derived from genuine ones that must not be recognised (or must be, exactly as the
//! official code does): bad keys and lengths, flipped bits, failed openings, two-key data.

use super::*;

impl CorpusBuilder {
    pub(super) fn add_decoys(&mut self) {
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

    pub(super) fn derive_decoy(&mut self, kind: Kind, mut output: CorpusOutput, other: &CorpusOutput) -> CorpusOutput {
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

    pub(super) fn flip_bit(&mut self, data: &mut [u8], range: std::ops::Range<usize>) {
        let byte = self.rng.gen_range(range);
        data[byte] ^= 1 << self.rng.gen_range(0..8);
    }

    /// 32 bytes that are not a Ristretto encoding.
    pub(super) fn invalid_point(&mut self) -> [u8; 32] {
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
    pub(super) fn add_length_decoys(&mut self) {
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

    pub(super) fn own_output_with_memo(&mut self, owner: Party, memo: MemoField) -> CorpusOutput {
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
    pub(super) fn mismatched_output(&mut self, owner: Party, kind: Kind) -> CorpusOutput {
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
    pub(super) fn undecodable_commitment_output(&mut self, owner: Party) -> CorpusOutput {
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
    pub(super) fn dual_key_output(&mut self, owner: Party, kind: Kind) -> CorpusOutput {
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
    pub(super) fn identity_offset_key_forgery(&mut self) -> CorpusOutput {
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
}
