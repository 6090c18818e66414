//! Key file: one sealing key on disk, so boxes sealed before a restart still open after it. Where the
//! current key lives is the config's (`server_key_file`, else `DATA_DIR/server-key`; a rotation's next
//! and previous keys have files of their own, `keyring`); it opens every queued job's envelope, so it is
//! best kept apart from the job store. Owns the file format (magic, version, secret, checksum), its
//! atomic creation (at first start, or by `generate` for a rotation) and its 0600 permissions; the
//! envelope itself is `tari_wallet_sync_sse::seal`. One key per file in every role, so a rotation moves
//! files and never rewrites one.
//!
//! Format (44 bytes): `"TWSSKEY"` · version `0x01` · 32 secret bytes (a canonical non-zero scalar) ·
//! CRC-32 (little-endian) of the preceding 40 bytes.

use std::{
    fs,
    io::Write,
    path::{Path, PathBuf},
};

use tari_wallet_sync_sse::seal::ServerKey;
use zeroize::Zeroizing;

use crate::service::error::ServiceError;

const MAGIC: &[u8; 7] = b"TWSSKEY";
const VERSION: u8 = 1;
const FILE_LEN: usize = 44;
/// The key's file name in the data directory, unless the operator names another file.
pub use crate::service::config::SERVER_KEY_FILE_NAME as FILE_NAME;

fn failure(path: &Path) -> impl Fn(String) -> ServiceError + '_ {
    move |reason| ServiceError::ServerKey {
        path: path.display().to_string(),
        reason,
    }
}

/// Loads the key at `path`, creating it (in an existing directory) on first start.
pub fn load_or_create(path: &Path) -> Result<ServerKey, ServiceError> {
    match load(path) {
        Err(_) if !path.exists() => {
            let key = generate(path)?;
            tracing::info!(key_id = %key.key_id(), "created a new server sealing key");
            Ok(key)
        }
        loaded => loaded,
    }
}

/// Loads the key at `path`, which must exist (a rotation's next or previous key).
pub fn load(path: &Path) -> Result<ServerKey, ServiceError> {
    let fail = failure(path);
    let bytes = Zeroizing::new(fs::read(path).map_err(|e| fail(e.to_string()))?);
    tighten_permissions(path).map_err(|e| fail(e.to_string()))?;
    decode(&bytes).map_err(fail)
}

/// Writes a new random key to `path` (0600, atomically) and returns it; an existing file is never
/// replaced (`keygen` for a rotation, and the first start).
pub fn generate(path: &Path) -> Result<ServerKey, ServiceError> {
    let fail = failure(path);
    if path.exists() {
        return Err(fail("a file is already there; a key file is never overwritten".into()));
    }
    let key = ServerKey::generate(&mut rand::rngs::OsRng);
    write_new(path, &encode(&key)).map_err(|e| fail(e.to_string()))?;
    Ok(key)
}

pub(in crate::service) fn encode(key: &ServerKey) -> Zeroizing<Vec<u8>> {
    let mut bytes = Zeroizing::new(Vec::with_capacity(FILE_LEN));
    bytes.extend_from_slice(MAGIC);
    bytes.push(VERSION);
    bytes.extend_from_slice(key.to_bytes().as_ref());
    let crc = crc32fast::hash(&bytes);
    bytes.extend_from_slice(&crc.to_le_bytes());
    bytes
}

fn decode(bytes: &[u8]) -> Result<ServerKey, String> {
    if bytes.len() != FILE_LEN || &bytes[..7] != MAGIC {
        return Err("not a tari-wallet-sync server key file".into());
    }
    if bytes[7] != VERSION {
        return Err(format!(
            "key file version {} is not supported (this build reads {VERSION})",
            bytes[7]
        ));
    }
    let crc = u32::from_le_bytes(bytes[40..44].try_into().expect("4 bytes"));
    if crc != crc32fast::hash(&bytes[..40]) {
        return Err("checksum mismatch: the key file is damaged".into());
    }
    let secret: Zeroizing<[u8; 32]> = Zeroizing::new(bytes[8..40].try_into().expect("32 bytes"));
    ServerKey::from_bytes(&secret).ok_or_else(|| "the stored secret is not a valid key".into())
}

/// Writes a new file readable by the owner only, atomically: a temporary file renamed into place.
fn write_new(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp: PathBuf = path.with_extension("tmp");
    let _ = fs::remove_file(&tmp);
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// A key file others can read is made owner-only again, with a warning.
fn tighten_permissions(path: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(path)?.permissions().mode();
        if mode & 0o077 != 0 {
            tracing::warn!(path = %path.display(), mode = format!("{mode:o}"), "server key file was readable by others; setting 0600");
            fs::set_permissions(path, fs::Permissions::from_mode(0o600))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn persists_the_same_key_with_owner_only_permissions() {
        let dir = tempfile::tempdir().unwrap();
        let first = load_or_create(&dir.path().join(FILE_NAME)).unwrap();
        let again = load_or_create(&dir.path().join(FILE_NAME)).unwrap();
        assert_eq!(first.public_key(), again.public_key());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(dir.path().join(FILE_NAME)).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn generate_never_overwrites_and_load_never_creates() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("next");
        assert!(load(&path).is_err());
        assert!(!path.exists(), "load creates nothing");
        let key = generate(&path).unwrap();
        let error = generate(&path).unwrap_err().to_string();
        assert!(error.contains("never overwritten"), "{error}");
        assert_eq!(load(&path).unwrap().public_key(), key.public_key());
        assert_eq!(load_or_create(&path).unwrap().public_key(), key.public_key());
    }

    #[test]
    fn refuses_a_damaged_or_foreign_file() {
        let dir = tempfile::tempdir().unwrap();
        let key = load_or_create(&dir.path().join("elsewhere")).unwrap();
        let mut bytes = encode(&key).to_vec();
        assert_eq!(bytes.len(), FILE_LEN);
        bytes[20] ^= 1;
        assert!(decode(&bytes).unwrap_err().contains("checksum"));
        bytes[7] = 2;
        assert!(decode(&bytes).unwrap_err().contains("version"));
        assert!(decode(b"hello").is_err());
    }
}
