//! Submission: accepting a wallet's request. Owns the per-IP and per-wallet rate limits' checks, the
//! keyed fingerprints (wallet, and wallet + birthday + password for deduplication), reuse of a live
//! identical job, the queue's bounds and the new job's first store row. Validation of the request body
//! is `http::submit`; scanning is `scheduler`.

use std::{
    net::IpAddr,
    sync::{Arc, atomic::Ordering},
    time::{Duration, Instant},
};

use blake2::{Blake2b, Digest, digest::consts::U32};
use tari_wallet_sync_sse::seal::{Sealed, seal};
use zeroize::Zeroizing;

use super::{
    engine::{Engine, blocking, now_ms},
    error::ApiError,
    job::{Job, JobStatus, hash_token, new_job_id, new_token},
    lifecycle::Lifecycle,
    result_store::result_public_key,
    store::NewJob,
};
use crate::recognize::WalletKey;

/// A validated submission: the key (to fingerprint it, then dropped), the box to store, the rest.
pub struct Submission {
    pub key: WalletKey,
    pub sealed_view_key: Sealed,
    pub sealed_password: Option<Sealed>,
    /// The opened password, only to tell submissions apart; zeroized when the submission is dropped.
    pub password: Option<Zeroizing<String>>,
    pub birthday: u64,
}

/// What a submission gets back.
pub struct Submitted {
    pub job_id: String,
    pub token: String,
    pub status: JobStatus,
    pub deduplicated: bool,
}

impl Engine {
    /// Any API request from `ip`.
    pub fn check_request_rate(&self, ip: IpAddr) -> Result<(), ApiError> {
        self.ip_requests.check(&ip, Instant::now()).map_err(|retry_after| {
            self.metrics.rate_limited("ip_requests");
            ApiError::RateLimited {
                scope: "request",
                retry_after,
            }
        })
    }

    /// A submission from `ip`, checked before its body is even parsed.
    pub fn check_submit_rate(&self, ip: IpAddr) -> Result<(), ApiError> {
        self.ip_submissions.check(&ip, Instant::now()).map_err(|retry_after| {
            self.metrics.rate_limited("ip_submissions");
            ApiError::RateLimited {
                scope: "submission",
                retry_after,
            }
        })
    }

    /// Seals a plain view key to the server's own key, so the store never holds it in the clear.
    pub fn seal_to_self(&self, label: &[u8], plaintext: &[u8]) -> Sealed {
        seal(&self.server_key.public_key(), label, plaintext).expect("our own key is valid and the input short")
    }

    fn fingerprints(&self, submission: &Submission) -> ([u8; 32], [u8; 32]) {
        let keyed = |parts: &[&[u8]]| -> [u8; 32] {
            let mut hasher = Blake2b::<U32>::new();
            hasher.update(self.fingerprint_key.as_ref());
            for part in parts {
                hasher.update((part.len() as u64).to_le_bytes());
                hasher.update(part);
            }
            hasher.finalize().into()
        };
        let public_view = submission.key.public_view_key();
        let wallet = keyed(&[
            b"wallet",
            public_view.as_bytes(),
            submission.key.spend_public_key().as_bytes(),
        ]);
        let password = submission.password.as_ref().map_or(&b""[..], |p| p.as_bytes());
        let has_password = [u8::from(submission.password.is_some())];
        let dedupe = keyed(&[
            b"dedupe",
            &wallet,
            &submission.birthday.to_le_bytes(),
            &has_password,
            password,
        ]);
        (wallet, dedupe)
    }

    /// Accepts a validated submission: the existing job for an identical recent one, else a new queued job.
    pub async fn submit(self: &Arc<Self>, submission: Submission) -> Result<Submitted, ApiError> {
        // Accepted in every state but draining: jobs submitted while the source imports or catches up
        // wait in the queue until it scans (`Lifecycle::scans`).
        let lifecycle = self.lifecycle();
        if !lifecycle.accepts() {
            return Err(ApiError::Unavailable(lifecycle.name()));
        }
        let (wallet, dedupe) = self.fingerprints(&submission);
        let token = new_token();
        let token_hash = hash_token(&token);
        let result_key = result_public_key(&token);
        if let Some(existing) = self.find_duplicate(&dedupe) {
            let (store, id) = (self.store.clone(), existing.id.clone());
            blocking(move || store.add_token(&id, &token_hash, &result_key)).await?;
            existing.add_token_hash(token_hash);
            // Joining a job whose file is already stored: the new token gets the file's key too.
            self.seal_file_key_to_new_tokens(&existing).await;
            self.metrics.jobs_deduplicated.fetch_add(1, Ordering::Relaxed);
            return Ok(Submitted {
                job_id: existing.id.clone(),
                token,
                status: existing.status(),
                deduplicated: true,
            });
        }
        self.wallet_syncs
            .check(&wallet, Instant::now())
            .map_err(|retry_after| {
                self.metrics.rate_limited("wallet");
                ApiError::RateLimited {
                    scope: "wallet",
                    retry_after,
                }
            })?;
        {
            let mut registry = self.registry();
            let queue_full = registry.queue.len() + registry.reserved >= self.config.max_queued_jobs;
            if queue_full || registry.jobs.len() + registry.reserved >= self.config.max_jobs_held {
                drop(registry);
                self.wallet_syncs.refund(&wallet);
                return Err(ApiError::QueueFull {
                    retry_after: self.queue_retry_after(),
                });
            }
            registry.reserved += 1;
        }
        let id = new_job_id(self.config.replica_id.as_deref());
        let created_ms = now_ms();
        let (store, job_id) = (self.store.clone(), id.clone());
        let sealed_view_key = submission.sealed_view_key.to_bytes();
        let sealed_password = submission.sealed_password.as_ref().map(Sealed::to_bytes);
        let spend = submission.key.spend_public_key().to_bytes();
        let birthday = submission.birthday;
        drop(submission);
        let inserted = blocking(move || {
            store.insert(&NewJob {
                id: &job_id,
                dedupe: &dedupe,
                birthday,
                spend_public_key: &spend,
                sealed_view_key: &sealed_view_key,
                sealed_password: sealed_password.as_deref(),
                token_hash: &token_hash,
                result_key: &result_key,
                created_ms,
            })
        })
        .await;
        let mut registry = self.registry();
        registry.reserved -= 1;
        inserted?;
        let position = registry.queue.len() as u64 + 1;
        let status = JobStatus::Queued { position };
        let job = Arc::new(Job::new(
            id.clone(),
            dedupe,
            birthday,
            created_ms,
            self.boot,
            vec![token_hash],
            status.clone(),
            self.metrics.jobs.clone(),
        ));
        registry.queue.push_back(job.clone());
        registry.by_dedupe.insert(dedupe, job.clone());
        registry.jobs.insert(id.clone(), job);
        drop(registry);
        self.metrics.jobs_submitted.fetch_add(1, Ordering::Relaxed);
        self.queue_notify.notify_one();
        tracing::info!(job = %id, position, "job queued");
        Ok(Submitted {
            job_id: id,
            token,
            status,
            deduplicated: false,
        })
    }

    fn find_duplicate(&self, dedupe: &[u8; 32]) -> Option<Arc<Job>> {
        let registry = self.registry();
        let job = registry.by_dedupe.get(dedupe)?;
        let age = Duration::from_millis(now_ms().saturating_sub(job.created_ms));
        let live = match job.status() {
            JobStatus::Queued { .. } | JobStatus::Scanning { .. } => true,
            // A file scanned while the node was away is reused only while it still is: once the source
            // is current again, the wallet's resubmission gets a current file.
            JobStatus::Ready { stale, .. } => !stale || self.lifecycle() == Lifecycle::Degraded,
            _ => false,
        };
        (live && age <= self.config.dedupe_window && !job.is_cancelled()).then(|| job.clone())
    }

    /// A guess of when the queue will have room: one pass at the mean pace so far (10 s before any).
    fn queue_retry_after(&self) -> Duration {
        let pass = self.metrics.pass_duration.mean().unwrap_or(Duration::from_secs(10));
        pass.clamp(Duration::from_secs(1), Duration::from_secs(300))
    }
}
