//! The job domain's result files: a finished file written to disk sealed under a key only the job's tokens
//! open, reopened by a download after a restart, and a job failed `RESULT_LOST` when its file is gone.
//! The file format and the folder are `sealed_files`' (a child of this module, with the other result
//! nouns: `artifact`, `held_files`, `wallet_builder`); this is when the job domain uses them.

pub mod artifact;
pub(in crate::service) mod held_files;
pub(in crate::service) mod sealed_files;
pub(in crate::service) mod wallet_builder;

use std::sync::{Arc, atomic::Ordering};

use zeroize::Zeroizing;

use super::Jobs;
use crate::service::{
    clock::now_ms,
    error::{ApiError, FailureCode},
    jobs::job::{Job, JobStatus, hash_token},
    jobs::results::artifact::Artifact,
    jobs::results::sealed_files::{
        FileError, FileKey, RESULT_LOST_MESSAGE, open_file, open_file_key, seal_file, seal_file_key,
    },
    jobs::store::JobStore,
};

/// Why a stored file could not be served to a token.
enum LoadError {
    /// This token has no sealed file key that opens (a write that failed, a token from before schema 2).
    Token,
    File(FileError),
    Store(crate::service::jobs::store::JobStoreError),
}

impl Jobs {
    /// Writes a finished file to disk, encrypted under a new key sealed to every token of the job. Returns
    /// the key (for tokens added later), or `None` if the file could not be written: the job is still
    /// ready, its file just does not survive a restart.
    pub(super) async fn persist_result(&self, job_id: &str, artifact: &Arc<Artifact>) -> bool {
        let (store, results, id) = (self.store.clone(), self.results.clone(), job_id.to_string());
        let artifact = artifact.clone();
        let sealing_key = FileKey::new(rand::random());
        let written = tokio::task::spawn_blocking(move || {
            let written = (|| -> Result<(), String> {
                results.write(&id, &artifact, &sealing_key).map_err(|e| e.to_string())?;
                seal_key_to_tokens(&*store, &id, &sealing_key)
            })();
            if written.is_err() {
                results.remove(&id);
            }
            written
        })
        .await
        .unwrap_or_else(|e| Err(e.to_string()));
        match written {
            Ok(()) => {
                self.metrics.result_files_written.fetch_add(1, Ordering::Relaxed);
                true
            }
            Err(reason) => {
                self.metrics.result_file_failures.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(job = %job_id, %reason, "the file could not be stored; it will not survive a restart");
                false
            }
        }
    }

    /// A finished file sealed for a store many replicas share: the bytes `persist_result` would write to
    /// disk, its new key sealed to every token of the job. `None` if that failed (the job is ready here
    /// only, as a file that cannot be written to disk is).
    pub(super) async fn seal_for_store(&self, job_id: &str, artifact: &Arc<Artifact>) -> Option<Vec<u8>> {
        let (store, id, artifact) = (self.store.clone(), job_id.to_string(), artifact.clone());
        let sealing_key = FileKey::new(rand::random());
        let sealed = tokio::task::spawn_blocking(move || -> Result<Vec<u8>, String> {
            let bytes = seal_file(&id, &artifact, &sealing_key).map_err(|e| e.to_string())?;
            seal_key_to_tokens(&*store, &id, &sealing_key)?;
            Ok(bytes)
        })
        .await
        .unwrap_or_else(|e| Err(e.to_string()));
        match sealed {
            Ok(bytes) => Some(bytes),
            Err(reason) => {
                self.metrics.result_file_failures.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(job = %job_id, %reason, "the file could not be sealed for the store; only this replica serves it");
                None
            }
        }
    }

    /// Removes a job's file (deleted while it was written).
    pub(super) async fn discard_result(&self, id: &str) {
        let (results, id) = (self.results.clone(), id.to_string());
        let _ = tokio::task::spawn_blocking(move || results.remove(&id)).await;
    }

    /// A ready job's file from disk, opened with `token` (already checked against the job's hashes), then
    /// held in memory again. A file that is missing or does not open fails the job with `RESULT_LOST`; a
    /// token without a sealed file key of its own is refused with that code, the job left as it is.
    pub(super) async fn load_result(&self, job: &Arc<Job>, token: &str) -> Result<Arc<Artifact>, ApiError> {
        let _one_at_a_time = job.loading.lock().await;
        let status = job.status();
        let (JobStatus::Ready { sha256, .. }, None) = (&status, job.artifact()) else {
            return Jobs::held_artifact(job, status);
        };
        let sha256: [u8; 32] = hex::decode(sha256)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or(ApiError::Internal)?;
        let (store, results, id) = (self.store.clone(), self.results.clone(), job.id.clone());
        let (token, hash) = (Zeroizing::new(token.to_string()), hash_token(token));
        let shared = self.is_shared();
        let loaded = tokio::task::spawn_blocking(move || {
            let sealed = store.sealed_file_key(&id, &hash).map_err(LoadError::Store)?;
            // A fleet keeps the sealed file in the store, a single replica in its folder.
            let stored_file = match shared {
                true => store.result_file(&id).map_err(LoadError::Store)?,
                false => None,
            };
            let Some(key) = sealed.and_then(|sealed| open_file_key(&token, &id, &sealed)) else {
                let there = if shared {
                    stored_file.is_some()
                } else {
                    results.exists(&id)
                };
                return Err(if there {
                    LoadError::Token
                } else {
                    LoadError::File(FileError::Missing)
                });
            };
            match (shared, stored_file) {
                (false, _) => results.read(&id, &key, &sha256).map_err(LoadError::File),
                (true, Some(bytes)) => open_file(&id, bytes, &key, &sha256).map_err(LoadError::File),
                (true, None) => Err(LoadError::File(FileError::Missing)),
            }
        })
        .await
        .map_err(|_| ApiError::Internal)?;
        match loaded {
            Ok(artifact) => {
                let artifact = Arc::new(artifact);
                if matches!(job.status(), JobStatus::Ready { .. }) && !job.is_cancelled() {
                    self.held.hold(job, artifact.clone(), true);
                }
                self.metrics.results_reopened.fetch_add(1, Ordering::Relaxed);
                tracing::info!(job = %job.id, size = artifact.zstd_len, "result reopened from disk");
                Ok(artifact)
            }
            Err(LoadError::Token) => Err(ApiError::JobFailed {
                code: FailureCode::ResultLost.to_string(),
                message: "the stored file cannot be opened with this token; submit again".into(),
            }),
            Err(LoadError::Store(error)) => {
                tracing::error!(%error, "job store");
                Err(ApiError::Internal)
            }
            // A read that failed may work next time: the job keeps its file.
            Err(LoadError::File(FileError::Io(error))) => {
                tracing::error!(job = %job.id, %error, "reading a stored result");
                Err(ApiError::Internal)
            }
            Err(LoadError::File(error)) => {
                tracing::warn!(job = %job.id, %error, "a stored result is lost");
                self.lose_result(job).await;
                Err(ApiError::JobFailed {
                    code: FailureCode::ResultLost.to_string(),
                    message: RESULT_LOST_MESSAGE.into(),
                })
            }
        }
    }

    /// Fails a ready job whose file is gone: `RESULT_LOST` in the store and in memory, the file removed.
    async fn lose_result(&self, job: &Job) {
        let now = now_ms();
        let expires_ms = now + self.config.result_ttl.as_millis() as u64;
        let (store, results, id) = (self.store.clone(), self.results.clone(), job.id.clone());
        let stored = tokio::task::spawn_blocking(move || {
            results.remove(&id);
            store.finish_failed(
                &id,
                FailureCode::ResultLost.as_str(),
                RESULT_LOST_MESSAGE,
                now,
                expires_ms,
            )
        })
        .await;
        if !matches!(stored, Ok(Ok(_))) {
            tracing::error!(job = %job.id, "cannot record a lost result in the job store");
        }
        if matches!(job.status(), JobStatus::Ready { .. }) {
            job.set_status(JobStatus::Failed {
                code: FailureCode::ResultLost.to_string(),
                message: RESULT_LOST_MESSAGE.into(),
                expires_ms,
            });
            self.metrics.job_failed(FailureCode::ResultLost.as_str());
        }
        if self.is_shared() {
            self.refresh(&job.id).await;
        }
    }
}

/// Seals a new file's key to every token of job `id` that has a result key.
fn seal_key_to_tokens(store: &dyn JobStore, id: &str, key: &FileKey) -> Result<(), String> {
    let recipients = store.result_keys(id, false).map_err(|e| e.to_string())?;
    if recipients.is_empty() {
        return Err("no token of the job has a result key".into());
    }
    for (hash, public) in recipients {
        let sealed = seal_file_key(&public, id, key).map_err(|e| e.to_string())?;
        store
            .set_sealed_file_key(id, &hash, &sealed)
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}
