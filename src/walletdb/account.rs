//! Account: the one `accounts` row of a wallet file, the view wallet sealed under the user's password the
//! way minotari-cli seals it. Owns the password rules, the `WalletType` JSON, the Argon2id key, the
//! XChaCha20-Poly1305 sealing and the fingerprint. It does not write outputs or know about scans.
//!
//! minotari-cli (`db/accounts.rs` `create_account`, `utils/crypto.rs`) derives a 32-byte key with Argon2id
//! (version 0x13, the argon2 crate's default cost: 19 MiB, 2 passes, 1 lane) from the password bytes as
//! typed and a fresh 16-byte salt, seals `serde_json(WalletType)` with XChaCha20-Poly1305 under a fresh
//! 24-byte nonce and no associated data, and stores ciphertext, nonce and raw salt in three BLOB columns.
//! It puts no rule on the password: any string its `--password` flag takes, empty included, is used
//! byte for byte (the 32-byte padding in its sources applies only to `create-address` output files).

use std::fmt::Write as _;

use argon2::{Algorithm, Argon2, Params, Version};
use blake2::{Blake2b, digest::consts::U64};
use chacha20poly1305::{
    AeadCore, KeyInit, XChaCha20Poly1305,
    aead::{Aead, OsRng, rand_core::RngCore},
};
use rusqlite::{Connection, params};
use tari_crypto::{hash_domain, hashing::DomainSeparatedHasher};
use zeroize::{Zeroize, Zeroizing};

use super::WalletDbError;
use crate::recognize::WalletKey;

/// Longest password accepted. minotari-cli has no limit (Argon2 takes up to 4 GiB); we bound it because
/// passwords reach us over the network and each byte is hashed.
pub const MAX_PASSWORD_LEN: usize = 4096;
/// Longest account name; the client has no limit, but the name is shown in its lists.
pub const MAX_NAME_LEN: usize = 256;
/// The client's default account name (`--name` unset).
pub const DEFAULT_ACCOUNT_NAME: &str = "default";
const SALT_LEN: usize = 16;

hash_domain!(KeyManagerDomain, "com.tari.base_layer.key_manager", 1);
const FINGERPRINT_LABEL: &str = "wallet_identity_fingerprint";

/// Who the wallet file is for. `Debug` never shows the password.
#[derive(Clone)]
pub struct AccountSpec {
    /// `accounts.friendly_name`; minotari-cli selects accounts by it (`--account`), default `"default"`.
    pub name: String,
    /// Seals the account; minotari-cli asks for it on every command.
    pub password: Zeroizing<String>,
    /// The wallet birthday as minotari-cli stores it: days since 2022-01-01 UTC (a `CipherSeed` birthday,
    /// at most 65535). The client reads it only when it has no scanned blocks to resume from; see
    /// [`birthday_days`] to turn a block timestamp into it.
    pub birthday: u64,
}

impl std::fmt::Debug for AccountSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccountSpec")
            .field("name", &self.name)
            .field("password", &"<redacted>")
            .field("birthday", &self.birthday)
            .finish()
    }
}

/// Seconds from the Unix epoch to 2022-01-01 00:00:00 UTC, where Tari wallet birthdays count from.
pub const BIRTHDAY_EPOCH: u64 = 1_640_995_200;

/// The wallet birthday (days since 2022-01-01 UTC) of a wallet first seen in a block with `timestamp`.
pub fn birthday_days(timestamp: u64) -> u64 {
    timestamp.saturating_sub(BIRTHDAY_EPOCH) / 86_400
}

/// What lands in the `accounts` row.
pub struct SealedAccount {
    pub fingerprint: [u8; 64],
    pub ciphertext: Vec<u8>,
    pub nonce: [u8; 24],
    pub salt: [u8; SALT_LEN],
    pub birthday: u16,
}

fn check(spec: &AccountSpec) -> Result<u16, WalletDbError> {
    if spec.name.is_empty() || spec.name.len() > MAX_NAME_LEN {
        return Err(WalletDbError::AccountName {
            len: spec.name.len(),
            max: MAX_NAME_LEN,
        });
    }
    if spec.password.len() > MAX_PASSWORD_LEN {
        return Err(WalletDbError::PasswordTooLong {
            len: spec.password.len(),
            max: MAX_PASSWORD_LEN,
        });
    }
    u16::try_from(spec.birthday).map_err(|_| WalletDbError::Birthday(spec.birthday))
}

/// The client's `WalletType::ViewWallet` JSON, field for field as its `tari_transaction_components` 5.3
/// writes it (`private_spend_key` is always `null` for an imported view key; 6.x dropped the field and
/// reads both forms). Zeroized on drop: it holds the view key.
pub fn view_wallet_json(key: &WalletKey, birthday: u16) -> Zeroizing<String> {
    let view_hex = Zeroizing::new(hex::encode(key.view_bytes()));
    let mut json = Zeroizing::new(String::with_capacity(200));
    write!(
        json,
        r#"{{"ViewWallet":{{"public_spend_key":"{}","private_spend_key":null,"view_key":"{}","birthday":{}}}}}"#,
        hex::encode(key.spend_public_key().as_bytes()),
        view_hex.as_str(),
        birthday
    )
    .expect("writing to a String cannot fail");
    json
}

/// minotari-cli's `calculate_fingerprint` for a view wallet: Blake2b-512 in the key manager's domain over
/// the public spend key, the public view key and the account index 0 (only Ledger wallets have another).
pub fn fingerprint(key: &WalletKey) -> [u8; 64] {
    let hash = DomainSeparatedHasher::<Blake2b<U64>, KeyManagerDomain>::new_with_label(FINGERPRINT_LABEL)
        .chain(key.spend_public_key().as_bytes())
        .chain(key.public_view_key().as_bytes())
        .chain(0u64.to_le_bytes())
        .finalize();
    let mut out = [0u8; 64];
    out.copy_from_slice(hash.as_ref());
    out
}

/// The 32-byte key minotari-cli derives from a password and salt.
pub fn password_key(password: &[u8], salt: &[u8]) -> Result<Zeroizing<[u8; 32]>, WalletDbError> {
    let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, Params::default());
    let mut key = Zeroizing::new([0u8; 32]);
    argon2
        .hash_password_into(password, salt, key.as_mut())
        .map_err(|e| WalletDbError::KeyDerivation(e.to_string()))?;
    Ok(key)
}

/// Seals the view wallet under the spec's password with a fresh salt and nonce.
pub fn seal(key: &WalletKey, spec: &AccountSpec) -> Result<SealedAccount, WalletDbError> {
    let birthday = check(spec)?;
    let mut salt = [0u8; SALT_LEN];
    OsRng.fill_bytes(&mut salt);
    let derived = password_key(spec.password.as_bytes(), &salt)?;
    let cipher = XChaCha20Poly1305::new(derived.as_ref().into());
    let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
    let plaintext = view_wallet_json(key, birthday);
    let ciphertext = cipher
        .encrypt(&nonce, plaintext.as_bytes())
        .map_err(|_| WalletDbError::Encryption)?;
    Ok(SealedAccount {
        fingerprint: fingerprint(key),
        ciphertext,
        nonce: nonce.into(),
        salt,
        birthday,
    })
}

/// Opens a sealed account with a password, as the client does on every command: `None` for a wrong
/// password (the AEAD tag fails), else the `WalletType` JSON.
pub fn open(password: &str, salt: &[u8], nonce: &[u8], ciphertext: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
    let derived = password_key(password.as_bytes(), salt).ok()?;
    let nonce: [u8; 24] = nonce.try_into().ok()?;
    let cipher = XChaCha20Poly1305::new(derived.as_ref().into());
    cipher.decrypt(&nonce.into(), ciphertext).ok().map(Zeroizing::new)
}

/// Inserts the account row; returns its id. `created_at` takes the column default, as in the client.
pub fn insert(conn: &Connection, spec: &AccountSpec, sealed: &SealedAccount) -> Result<i64, WalletDbError> {
    conn.execute(
        "INSERT INTO accounts (friendly_name, fingerprint, encrypted_wallet, cipher_nonce, salt, birthday)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            spec.name,
            &sealed.fingerprint[..],
            sealed.ciphertext,
            &sealed.nonce[..],
            &sealed.salt[..],
            i64::from(sealed.birthday)
        ],
    )?;
    Ok(conn.last_insert_rowid())
}

impl Drop for SealedAccount {
    fn drop(&mut self) {
        // Not secret (it is what the file holds), but the salt and nonce are only for this one file.
        self.salt.zeroize();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> WalletKey {
        WalletKey::from_bytes(
            &[3u8; 32],
            curve25519_dalek::constants::RISTRETTO_BASEPOINT_COMPRESSED.as_bytes(),
        )
        .unwrap()
    }

    fn spec(password: &str) -> AccountSpec {
        AccountSpec {
            name: "default".into(),
            password: Zeroizing::new(password.into()),
            birthday: 600,
        }
    }

    #[test]
    fn seals_the_view_wallet_json_under_the_exact_password() {
        let key = key();
        for password in ["", "x", "a password with spaces ", &"long".repeat(100)] {
            let sealed = seal(&key, &spec(password)).unwrap();
            let json = open(password, &sealed.salt, &sealed.nonce, &sealed.ciphertext).unwrap();
            let value: serde_json::Value = serde_json::from_slice(&json).unwrap();
            assert_eq!(value["ViewWallet"]["view_key"], hex::encode([3u8; 32]));
            assert_eq!(value["ViewWallet"]["birthday"], 600);
            assert!(value["ViewWallet"]["private_spend_key"].is_null());
            // No padding to 32 bytes and no truncation: only the password as typed opens it.
            let padded = format!("{password:0<32}");
            if padded != password {
                assert!(open(&padded, &sealed.salt, &sealed.nonce, &sealed.ciphertext).is_none());
            }
            assert!(open("wrong", &sealed.salt, &sealed.nonce, &sealed.ciphertext).is_none());
        }
    }

    #[test]
    fn the_official_view_wallet_reads_our_json_and_yields_our_fingerprint_keys() {
        use tari_transaction_components::key_manager::wallet_types::WalletType;
        use tari_utilities::ByteArray;
        let key = key();
        let json = view_wallet_json(&key, 600);
        let wallet: WalletType = serde_json::from_str(&json).unwrap();
        assert_eq!(wallet.get_birthday(), Some(600));
        assert_eq!(
            wallet.get_public_spend_key().as_bytes(),
            key.spend_public_key().as_bytes()
        );
        assert_eq!(
            wallet.get_public_view_key().as_bytes(),
            key.public_view_key().as_bytes()
        );
        assert_eq!(fingerprint(&key).len(), 64);
        assert_ne!(fingerprint(&key), [0u8; 64]);
    }

    #[test]
    fn refuses_what_the_row_cannot_hold() {
        let key = key();
        let long = "p".repeat(MAX_PASSWORD_LEN + 1);
        assert!(matches!(
            seal(&key, &spec(&long)),
            Err(WalletDbError::PasswordTooLong { .. })
        ));
        let mut bad = spec("pw");
        bad.birthday = 70_000;
        assert!(matches!(seal(&key, &bad), Err(WalletDbError::Birthday(70_000))));
        bad = spec("pw");
        bad.name = String::new();
        assert!(matches!(seal(&key, &bad), Err(WalletDbError::AccountName { .. })));
        assert!(!format!("{:?}", spec("hunter2")).contains("hunter2"));
    }

    #[test]
    fn birthday_counts_days_from_2022() {
        assert_eq!(birthday_days(BIRTHDAY_EPOCH - 5), 0);
        assert_eq!(birthday_days(BIRTHDAY_EPOCH + 86_400 * 3 + 5), 3);
    }
}
