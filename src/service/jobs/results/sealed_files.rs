//! Result store: finished files at rest (`DATA_DIR/results/<job_id>`), so a job that was ready before a
//! restart is ready after it. Nothing is written in the clear, and the server alone cannot open a file:
//! each file is encrypted under its own random file key, kept on disk only sealed (the `SealedBox`
//! construction of `tari_wallet_sync_sse::seal`) to a key pair derived from a bearer token of the job,
//! whose hash is all the server keeps of the token:
//!
//! ```text
//! t = Scalar::from_bytes_mod_order_wide(BLAKE2b-512("tari-wallet-sync/result-key/v1" || token))   never stored
//! T = t·G                  stored per token at submission (`store`: tokens.result_key)
//! K = 32 random bytes      one per file, stored as seal(T, label "result_file_key/" || job_id, K) per token
//! file = header || XChaCha20-Poly1305(key K, nonce n, aad FILE_DOMAIN || len(job_id) || job_id || header,
//!                                     raw length (u64 LE) || the zstd bytes)
//! header (32 bytes) = "TWSR" | version 2 | 3 zero bytes | n (24 bytes)
//! ```
//! Version 1 files (written before the raw length was sealed too) are still read: their 40-byte header
//! is `"TWSR" | 1 | 3 zero bytes | raw length (u64 LE) | n`, the sealed part the zstd bytes alone.
//! A token gets its own sealed `K` because a resubmission shares the job under a new token. After a
//! restart the first authorised download derives `t` from the presented token, opens `K`, then the file,
//! checks its SHA-256 against the stored one and keeps it in memory again; a file that is missing or does
//! not open fails its job with `RESULT_LOST`. The folder is the service's own: a symlink in its place is
//! refused, and the start-up clean-up removes only regular files named like a job's. Owns the files,
//! their format and that glue; which jobs are ready is the job domain's and the store's. With a store
//! many replicas share, the same sealed bytes (`seal_file`) are kept in the store with the job instead of
//! in this folder, and opened from there (`open_file`).

use std::{
    fs::{self, File, OpenOptions},
    io::{self, Read, Write},
    path::{Path, PathBuf},
    sync::Arc,
};

use blake2::{Blake2b512, Digest};
use bytes::Bytes;
use chacha20poly1305::{KeyInit, XChaCha20Poly1305, XNonce, aead::AeadInPlace};
use curve25519_dalek::{ristretto::RistrettoPoint, scalar::Scalar};
use sha2::Sha256;
use tari_wallet_sync_sse::seal::{LABEL_RESULT_FILE_KEY, NONCE_LEN, SealError, Sealed, ServerKey, TAG_LEN, seal};
use zeroize::{Zeroize, Zeroizing};

use crate::service::{jobs::job::plausible_job_id, jobs::results::artifact::Artifact};

/// The directory under the data directory.
pub const DIR_NAME: &str = "results";
/// What a client is told when a job's file was lost (not written, removed or damaged): `RESULT_LOST`.
pub const RESULT_LOST_MESSAGE: &str = "the server restarted and the file could not be recovered; submit again";
const RESULT_KEY_DOMAIN: &[u8] = b"tari-wallet-sync/result-key/v1";
const FILE_DOMAIN: &[u8] = b"tari-wallet-sync/result-file/v1";
const MAGIC: &[u8; 4] = b"TWSR";
/// The version written: the raw length sealed with the bytes.
const VERSION: u8 = 2;
const HEADER_LEN: usize = 8 + NONCE_LEN;
/// Version 1: the raw length in the clear header.
const VERSION_1: u8 = 1;
const HEADER_LEN_1: usize = 16 + NONCE_LEN;

/// A file's encryption key.
pub type FileKey = Zeroizing<[u8; 32]>;

/// The token's result secret `t` (zeroized on drop).
fn result_secret(token: &str) -> Zeroizing<Scalar> {
    let mut hasher = Blake2b512::new();
    hasher.update(RESULT_KEY_DOMAIN);
    hasher.update(token.as_bytes());
    let mut digest = hasher.finalize();
    let mut wide = Zeroizing::new([0u8; 64]);
    wide.copy_from_slice(&digest);
    digest.as_mut_slice().zeroize();
    Zeroizing::new(Scalar::from_bytes_mod_order_wide(&wide))
}

/// The token's public result key `T = t·G`, stored with the token's hash.
pub fn result_public_key(token: &str) -> [u8; 32] {
    RistrettoPoint::mul_base(&result_secret(token)).compress().to_bytes()
}

fn file_key_label(job_id: &str) -> Vec<u8> {
    [LABEL_RESULT_FILE_KEY, b"/", job_id.as_bytes()].concat()
}

/// `K` sealed to the result key `T` of one token of job `job_id`.
pub fn seal_file_key(result_key: &[u8; 32], job_id: &str, key: &FileKey) -> Result<Vec<u8>, SealError> {
    seal(result_key, &file_key_label(job_id), key.as_ref()).map(|sealed| sealed.to_bytes())
}

/// Opens a sealed `K` with the token it was sealed to; `None` if it does not open.
pub fn open_file_key(token: &str, job_id: &str, sealed: &[u8]) -> Option<FileKey> {
    let secret = Zeroizing::new(result_secret(token).to_bytes());
    let pair = ServerKey::from_bytes(&secret)?;
    let opened = pair
        .open(&file_key_label(job_id), &Sealed::from_bytes(sealed).ok()?)
        .ok()?;
    let mut key = FileKey::default();
    (opened.len() == key.len()).then(|| {
        key.copy_from_slice(&opened);
        key
    })
}

/// Why a file could not be read back.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("the file is missing")]
    Missing,
    #[error("reading the file: {0}")]
    Io(#[from] io::Error),
    #[error("the file is damaged: {0}")]
    Damaged(&'static str),
}

/// The files, one per ready job. Blocking calls: the service runs them on the blocking pool.
#[derive(Clone)]
pub struct ResultStore {
    dir: Arc<PathBuf>,
}

/// Why the folder of the files cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum DirError {
    #[error("{0}: a symlink or another file where the service keeps its own folder; make it a directory")]
    NotADirectory(PathBuf),
    /// Ready jobs have files in it: a folder missing for a moment (a mount not up yet, a restore under
    /// way) must not lose them all.
    #[error(
        "{path}: missing, while {expected} ready jobs have their files there; restore it, or create it empty \
         to let those jobs fail with RESULT_LOST"
    )]
    Missing { path: PathBuf, expected: u64 },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

impl ResultStore {
    /// Opens `DATA_DIR/results`, owner-only (0700). Missing, it is created, unless `expected` ready jobs
    /// have files written there.
    pub fn open(data_dir: &Path, expected: u64) -> Result<ResultStore, DirError> {
        let dir = data_dir.join(DIR_NAME);
        let io_error = |source| DirError::Io {
            path: dir.clone(),
            source,
        };
        match fs::symlink_metadata(&dir) {
            Ok(meta) if meta.is_dir() => {}
            Ok(_) => return Err(DirError::NotADirectory(dir)),
            Err(e) if e.kind() == io::ErrorKind::NotFound && expected > 0 => {
                return Err(DirError::Missing { path: dir, expected });
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let mut builder = fs::DirBuilder::new();
                #[cfg(unix)]
                std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
                builder.create(&dir).map_err(io_error)?;
            }
            Err(e) => return Err(io_error(e)),
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).map_err(io_error)?;
        }
        Ok(ResultStore { dir: Arc::new(dir) })
    }

    /// Where job `id`'s file is (ids are `[A-Za-z0-9_-]`: never a path of their own).
    pub fn path(&self, id: &str) -> PathBuf {
        self.dir.join(id)
    }

    pub fn exists(&self, id: &str) -> bool {
        matches!(self.presence(id), Ok(true))
    }

    /// Whether job `id`'s file is there (a regular file, not a link); an error when that cannot be told
    /// (the folder unreadable for a moment): then nothing may be concluded.
    pub fn presence(&self, id: &str) -> io::Result<bool> {
        match fs::symlink_metadata(self.path(id)) {
            Ok(meta) => Ok(meta.is_file()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Writes the file encrypted under `key` (`seal_file`), atomically: a temporary file (0600), fsync, rename,
    /// fsync of the directory. An older file of the job is replaced.
    pub fn write(&self, id: &str, artifact: &Artifact, key: &FileKey) -> io::Result<()> {
        let sealed = seal_file(id, artifact, key)?;
        let temporary = self.dir.join(format!("{id}.tmp"));
        let written = (|| {
            let mut options = OpenOptions::new();
            options.write(true).create(true).truncate(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let mut file = options.open(&temporary)?;
            file.write_all(&sealed)?;
            file.sync_all()?;
            fs::rename(&temporary, self.path(id))?;
            File::open(self.dir.as_path())?.sync_all()
        })();
        if written.is_err() {
            let _ = fs::remove_file(&temporary);
        }
        written
    }

    /// Reads job `id`'s file (version 2, or 1), decrypts it with `key` and checks its SHA-256 (`open_file`).
    pub fn read(&self, id: &str, key: &FileKey, sha256: &[u8; 32]) -> Result<Artifact, FileError> {
        let mut file = match File::open(self.path(id)) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(FileError::Missing),
            opened => opened?,
        };
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        open_file(id, bytes, key, sha256)
    }

    /// Removes job `id`'s file if there is one.
    pub fn remove(&self, id: &str) {
        match fs::remove_file(self.path(id)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => {
                tracing::warn!(job = %id, error = %e, "cannot remove a result file");
            }
            _ => {}
        }
    }

    /// Removes every file of a job `keep` does not name (and leftover temporary files): at start, after
    /// the jobs are loaded. Only regular files named like a job's (or its temporary file) go; anything
    /// else in the folder (a link, a directory, another name) is left alone and counted in `.1`.
    pub fn remove_others(&self, keep: impl Fn(&str) -> bool) -> io::Result<(usize, usize)> {
        let (mut removed, mut foreign) = (0, 0);
        for entry in fs::read_dir(self.dir.as_path())? {
            let entry = entry?;
            let name = entry.file_name();
            let job = name.to_str().map(|n| n.strip_suffix(".tmp").unwrap_or(n));
            // `file_type` does not follow a link: a link is never a regular file here.
            let ours = entry.file_type()?.is_file() && job.is_some_and(plausible_job_id);
            if !ours {
                foreign += 1;
            } else if !name.to_str().is_some_and(&keep) {
                fs::remove_file(entry.path())?;
                removed += 1;
            }
        }
        Ok((removed, foreign))
    }
}

/// Job `id`'s file as the bytes a file on disk (or a shared store's row) holds: the header, then the raw
/// length and the zstd stream encrypted under `key`, bound to the job id.
pub fn seal_file(id: &str, artifact: &Artifact, key: &FileKey) -> io::Result<Vec<u8>> {
    let nonce: [u8; NONCE_LEN] = rand::random();
    let header = header(&nonce);
    let mut body = Vec::with_capacity(8 + artifact.zstd_len as usize + TAG_LEN);
    body.extend_from_slice(&artifact.raw_len.to_le_bytes());
    for slice in artifact.slices(0..artifact.zstd_len) {
        body.extend_from_slice(&slice);
    }
    XChaCha20Poly1305::new(key.as_ref().into())
        .encrypt_in_place(XNonce::from_slice(&nonce), &aad(id, &header), &mut body)
        .map_err(|_| io::Error::other("the file could not be encrypted"))?;
    let mut sealed = Vec::with_capacity(HEADER_LEN + body.len());
    sealed.extend_from_slice(&header);
    sealed.extend_from_slice(&body);
    Ok(sealed)
}

/// Job `id`'s file from its sealed bytes (version 2, or 1): decrypted with `key`, its SHA-256 checked.
pub fn open_file(id: &str, mut bytes: Vec<u8>, key: &FileKey, sha256: &[u8; 32]) -> Result<Artifact, FileError> {
    if bytes.len() < 5 || &bytes[..4] != MAGIC {
        return Err(FileError::Damaged("not a result file"));
    }
    let header_len = match bytes[4] {
        VERSION => HEADER_LEN,
        VERSION_1 => HEADER_LEN_1,
        _ => {
            return Err(FileError::Damaged(
                "a result file of a version this build does not read",
            ));
        }
    };
    if bytes.len() < header_len {
        return Err(FileError::Damaged("shorter than its header"));
    }
    let header: Vec<u8> = bytes.drain(..header_len).collect();
    let mut body = bytes;
    let nonce = &header[header_len - NONCE_LEN..];
    XChaCha20Poly1305::new(key.as_ref().into())
        .decrypt_in_place(XNonce::from_slice(nonce), &aad(id, &header), &mut body)
        .map_err(|_| FileError::Damaged("it does not decrypt"))?;
    let (raw_len, zstd) = if header[4] == VERSION {
        if body.len() < 8 {
            return Err(FileError::Damaged("shorter than its sealed length"));
        }
        let raw_len: Vec<u8> = body.drain(..8).collect();
        (u64::from_le_bytes(raw_len[..].try_into().expect("8 bytes")), body)
    } else {
        (u64::from_le_bytes(header[8..16].try_into().expect("8 bytes")), body)
    };
    if <[u8; 32]>::from(Sha256::digest(&zstd)) != *sha256 {
        return Err(FileError::Damaged("its SHA-256 is not the job's"));
    }
    Ok(Artifact::from_bytes(Bytes::from(zstd), raw_len, *sha256))
}

fn header(nonce: &[u8; NONCE_LEN]) -> [u8; HEADER_LEN] {
    let mut header = [0u8; HEADER_LEN];
    header[..4].copy_from_slice(MAGIC);
    header[4] = VERSION;
    header[8..].copy_from_slice(nonce);
    header
}

fn aad(job_id: &str, header: &[u8]) -> Vec<u8> {
    let length = (job_id.len() as u64).to_le_bytes();
    [FILE_DOMAIN, &length, job_id.as_bytes(), header].concat()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Incompressible: several chunks.
    fn artifact() -> Artifact {
        use rand::{RngCore, SeedableRng};
        let mut raw = vec![0u8; 200_000];
        rand::rngs::StdRng::seed_from_u64(1).fill_bytes(&mut raw);
        Artifact::compress(&raw, 1).unwrap()
    }

    #[test]
    fn a_file_opens_with_its_key_for_its_job_only_and_never_holds_plaintext() {
        let dir = tempfile::tempdir().unwrap();
        let results = ResultStore::open(dir.path(), 0).unwrap();
        let artifact = artifact();
        assert!(artifact.zstd_len > 2 * crate::service::jobs::results::artifact::CHUNK_LEN as u64);
        let key = FileKey::new([7; 32]);
        results.write("job-1", &artifact, &key).unwrap();
        let plain = artifact.slices(0..artifact.zstd_len).concat();
        let stored = fs::read(results.path("job-1")).unwrap();
        assert_eq!(stored.len(), HEADER_LEN + 8 + plain.len() + TAG_LEN);
        assert_eq!(&stored[..5], b"TWSR\x02");
        assert!(
            !stored.windows(8).any(|w| w == artifact.raw_len.to_le_bytes()),
            "the raw length is sealed, not in the clear"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!((mode(&results.dir), mode(&results.path("job-1"))), (0o700, 0o600));
        }
        assert!(!stored.windows(64).any(|w| w == &plain[..64]), "no plaintext at rest");

        let again = results.read("job-1", &key, &artifact.sha256).unwrap();
        assert_eq!(again.slices(0..again.zstd_len).concat(), plain);
        assert_eq!((again.raw_len, again.etag()), (artifact.raw_len, artifact.etag()));

        // Another key, another job's name for the same bytes, another hash, damage: all refused.
        let wrong = |e: Result<Artifact, FileError>| matches!(e, Err(FileError::Damaged(_)));
        assert!(wrong(results.read("job-1", &FileKey::new([8; 32]), &artifact.sha256)));
        fs::copy(results.path("job-1"), results.path("job-2")).unwrap();
        assert!(wrong(results.read("job-2", &key, &artifact.sha256)));
        assert!(wrong(results.read("job-1", &key, &[0; 32])));
        let mut damaged = stored.clone();
        damaged[HEADER_LEN + 1000] ^= 1;
        fs::write(results.path("job-1"), &damaged).unwrap();
        assert!(wrong(results.read("job-1", &key, &artifact.sha256)));
        fs::write(results.path("job-1"), &stored[..10]).unwrap();
        assert!(wrong(results.read("job-1", &key, &artifact.sha256)));
        results.remove("job-1");
        assert!(matches!(
            results.read("job-1", &key, &artifact.sha256),
            Err(FileError::Missing)
        ));

        fs::write(results.dir.join("job-3.tmp"), b"partial").unwrap();
        assert_eq!(results.remove_others(|id| id == "job-2").unwrap(), (1, 0));
        assert!(results.exists("job-2"));
    }

    /// The version-1 layout, as the previous build wrote it: the raw length in the clear header.
    fn write_version_1(results: &ResultStore, id: &str, artifact: &Artifact, key: &FileKey) {
        let nonce = [5u8; NONCE_LEN];
        let mut header = [0u8; HEADER_LEN_1];
        header[..4].copy_from_slice(MAGIC);
        header[4] = VERSION_1;
        header[8..16].copy_from_slice(&artifact.raw_len.to_le_bytes());
        header[16..].copy_from_slice(&nonce);
        let mut body = artifact.slices(0..artifact.zstd_len).concat();
        XChaCha20Poly1305::new(key.as_ref().into())
            .encrypt_in_place(XNonce::from_slice(&nonce), &aad(id, &header), &mut body)
            .unwrap();
        fs::write(results.path(id), [&header[..], &body].concat()).unwrap();
    }

    #[test]
    fn a_version_1_file_still_opens() {
        let dir = tempfile::tempdir().unwrap();
        let results = ResultStore::open(dir.path(), 0).unwrap();
        let (artifact, key) = (artifact(), FileKey::new([7; 32]));
        write_version_1(&results, "job-1", &artifact, &key);
        let again = results.read("job-1", &key, &artifact.sha256).unwrap();
        assert_eq!((again.raw_len, again.etag()), (artifact.raw_len, artifact.etag()));
        let mut unknown = fs::read(results.path("job-1")).unwrap();
        unknown[4] = 3;
        fs::write(results.path("job-1"), &unknown).unwrap();
        assert!(matches!(
            results.read("job-1", &key, &artifact.sha256),
            Err(FileError::Damaged(_))
        ));
    }

    /// The folder is the service's own: a link in its place is refused, a missing one is recreated only
    /// when no ready job has a file in it, and the clean-up removes only job files, never through a link.
    #[cfg(unix)]
    #[test]
    fn the_folder_is_never_followed_elsewhere_nor_taken_for_empty() {
        let dir = tempfile::tempdir().unwrap();
        let elsewhere = tempfile::tempdir().unwrap();
        fs::write(elsewhere.path().join("precious"), b"not the service's").unwrap();
        std::os::unix::fs::symlink(elsewhere.path(), dir.path().join(DIR_NAME)).unwrap();
        assert!(matches!(
            ResultStore::open(dir.path(), 0),
            Err(DirError::NotADirectory(_))
        ));
        fs::remove_file(dir.path().join(DIR_NAME)).unwrap();

        let missing = ResultStore::open(dir.path(), 2).err().unwrap();
        assert!(matches!(missing, DirError::Missing { expected: 2, .. }), "{missing}");
        assert!(
            !dir.path().join(DIR_NAME).exists(),
            "not created while files are expected"
        );
        let results = ResultStore::open(dir.path(), 0).unwrap();

        std::os::unix::fs::symlink(elsewhere.path().join("precious"), results.path("job-9")).unwrap();
        std::os::unix::fs::symlink(elsewhere.path(), results.path("job-8")).unwrap();
        fs::create_dir(results.path("job-7")).unwrap();
        fs::write(results.path("notes.txt"), b"an operator's").unwrap();
        fs::write(results.path("job-6"), b"a file of no job").unwrap();
        assert_eq!(results.remove_others(|_| false).unwrap(), (1, 4));
        assert!(
            !results.exists("job-6") && !results.exists("job-9"),
            "a link is not a job's file"
        );
        assert!(results.path("notes.txt").exists() && results.path("job-7").is_dir());
        assert_eq!(
            fs::read(elsewhere.path().join("precious")).unwrap(),
            b"not the service's"
        );
        assert!(!results.presence("job-9").unwrap());
    }

    #[test]
    fn a_file_key_opens_with_its_token_for_its_job_only() {
        let key = FileKey::new([3; 32]);
        let sealed = seal_file_key(&result_public_key("token-a"), "job-1", &key).unwrap();
        assert_eq!(open_file_key("token-a", "job-1", &sealed).as_deref(), Some(&[3; 32]));
        assert!(open_file_key("token-b", "job-1", &sealed).is_none());
        assert!(open_file_key("token-a", "job-2", &sealed).is_none());
        assert!(open_file_key("token-a", "job-1", &sealed[..20]).is_none());
    }

    /// Pins the derivation (checked against libsodium's ristretto255): a change would make every stored
    /// file unreadable after an upgrade.
    #[test]
    fn result_key_golden_vector() {
        assert_eq!(
            hex::encode(result_public_key(&"ab".repeat(32))),
            "3af2e1638b8b5458240723e66c24673d6e67de29b71eb8648330e6fcb56c677a"
        );
    }
}
