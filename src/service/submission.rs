//! Submission: accepting a wallet's request. Owns the per-client and per-wallet rate limits' checks, the
//! replay check of sealed envelopes, the queue's bounds (in all, and per client) and the new job's first
//! store row. Opening and validating the request body is `http::submit`; scanning is `scheduler`.
//!
//! Every submission is a job of its own with its own credentials: two submissions for the same wallet
//! share a scan pass when they are queued together (`scheduler`), never a job. Accepting runs to
//! completion on a task of its own, whatever happens to the request meanwhile (a reset HTTP/2 stream, a
//! timeout), so a queue slot reserved for it is always given back or filled.

use std::{
    sync::{Arc, atomic::Ordering},
    time::Duration,
};

use blake2::{Blake2b, Digest, digest::consts::U32};
use tari_wallet_sync_sse::seal::{SealError, Sealed, seal};

use super::{
    Port,
    client::Client,
    engine::{Engine, Registry, blocking, now_ms},
    error::ApiError,
    job::{Job, JobStatus, new_job_id},
    store::{NewJob, SUBMISSION_FORMAT},
};
use crate::recognize::WalletKey;

/// A validated submission: the key (to fingerprint it, then dropped), the sealed envelope to store, the
/// credentials the client derived.
pub struct Submission {
    pub key: WalletKey,
    /// The envelope as sealed (a plain submission sealed to the server's own key): what the store keeps
    /// until the scan opens it.
    pub sealed_request: Sealed,
    pub birthday: u64,
    /// SHA-256 of the bearer token the client derived from its job secret.
    pub token_hash: [u8; 32],
    /// The token's public result key (`result_store::result_public_key`).
    pub result_key: [u8; 32],
    /// The envelope's ephemeral key and until when (ms) it must be remembered; `None` for a plain one.
    pub replay: Option<([u8; 32], u64)>,
}

/// What a submission gets back.
pub struct Submitted {
    pub job_id: String,
    pub status: JobStatus,
}

/// A queue slot promised to a submission still being written to the store; given back when dropped,
/// whatever ends the submission.
struct Reservation {
    engine: Arc<Engine>,
}

impl Reservation {
    fn take(engine: &Arc<Engine>, registry: &mut Registry) -> Reservation {
        registry.reserved += 1;
        Reservation { engine: engine.clone() }
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.engine.registry().reserved -= 1;
    }
}

impl Engine {
    /// Any API request from `client`.
    pub fn check_request_rate(&self, client: &Client) -> Result<(), ApiError> {
        self.ip_requests.check(&client.bucket).map_err(|retry_after| {
            self.metrics.rate_limited("ip_requests");
            ApiError::RateLimited {
                scope: "request",
                retry_after,
            }
        })
    }

    /// An operations route (health, readiness, metrics, an unknown path) from `client` on `port`.
    pub fn check_operations_rate(&self, port: Port, client: &Client) -> Result<(), ApiError> {
        self.ip_operations.check(&(port, client.bucket)).map_err(|retry_after| {
            self.metrics.rate_limited("ip_operations");
            ApiError::RateLimited {
                scope: "operations",
                retry_after,
            }
        })
    }

    /// A submission from `client`, checked before its body is even read.
    pub fn check_submit_rate(&self, client: &Client) -> Result<(), ApiError> {
        self.ip_submissions.check(&client.bucket).map_err(|retry_after| {
            self.metrics.rate_limited("ip_submissions");
            ApiError::RateLimited {
                scope: "submission",
                retry_after,
            }
        })
    }

    /// Seals a plain submission to the server's own key, so the store never holds it in the clear.
    /// `SealError::TooLong` for a plaintext no box holds (the caller checks the fields' sizes first).
    pub fn seal_to_self(&self, label: &[u8], plaintext: &[u8]) -> Result<Sealed, SealError> {
        seal(&self.server_key.public_key(), label, plaintext)
    }

    /// The keyed fingerprint of a wallet (its public keys): what the per-wallet limit keys on.
    fn wallet_fingerprint(&self, key: &WalletKey) -> [u8; 32] {
        let mut hasher = Blake2b::<U32>::new();
        hasher.update(self.fingerprint_key.as_ref());
        for part in [
            &b"wallet"[..],
            key.public_view_key().as_bytes(),
            key.spend_public_key().as_bytes(),
        ] {
            hasher.update((part.len() as u64).to_le_bytes());
            hasher.update(part);
        }
        hasher.finalize().into()
    }

    /// Accepts a validated submission from `client` as a new queued job. Runs on a task of its own, so a
    /// request that goes away meanwhile leaves nothing half done.
    pub async fn submit(self: &Arc<Self>, submission: Submission, client: Client) -> Result<Submitted, ApiError> {
        let engine = self.clone();
        tokio::spawn(async move { engine.accept(submission, client).await })
            .await
            .map_err(|error| {
                tracing::error!(%error, "the submission task failed");
                ApiError::Internal
            })?
    }

    async fn accept(self: &Arc<Self>, submission: Submission, client: Client) -> Result<Submitted, ApiError> {
        // Accepted in every state but draining: jobs submitted while the source imports or catches up
        // wait in the queue until it scans (`Lifecycle::scans`).
        let lifecycle = self.lifecycle();
        if !lifecycle.accepts() {
            return Err(ApiError::Unavailable(lifecycle.name()));
        }
        // A replayed envelope is refused before anything else is decided, so it always reads as one.
        if let Some((ephemeral, until_ms)) = submission.replay {
            let store = self.store.clone();
            let now = now_ms();
            if !blocking(move || store.note_envelope(&ephemeral, until_ms, now)).await? {
                self.metrics.rate_limited("replay");
                return Err(ApiError::Replayed);
            }
        }
        let wallet = self.wallet_fingerprint(&submission.key);
        let reservation = {
            let mut registry = self.registry();
            let live = registry.jobs.values().filter(|j| !j.status().is_tombstone()).count();
            let queue_full = registry.queue.len() + registry.reserved >= self.config.max_queued_jobs;
            if queue_full || live + registry.reserved >= self.config.max_jobs_held {
                return Err(ApiError::QueueFull {
                    retry_after: self.queue_retry_after(),
                });
            }
            let queued_by_client = registry
                .queue
                .iter()
                .filter(|j| j.client == Some(client.bucket))
                .count();
            if queued_by_client >= self.config.max_queued_per_client {
                self.metrics.rate_limited("client_queue");
                return Err(ApiError::RateLimited {
                    scope: "queued job",
                    retry_after: self.queue_retry_after(),
                });
            }
            // Last, so a submission refused for room does not use up one of the wallet's syncs.
            self.wallet_syncs.check(&wallet).map_err(|retry_after| {
                self.metrics.rate_limited("wallet");
                ApiError::RateLimited {
                    scope: "wallet",
                    retry_after,
                }
            })?;
            Reservation::take(self, &mut registry)
        };
        #[cfg(feature = "test-util")]
        tokio::time::sleep(self.config.test_accept_delay).await;
        let id = new_job_id(self.config.replica_id.as_deref());
        let created_ms = now_ms();
        let (store, job_id) = (self.store.clone(), id.clone());
        let sealed_request = submission.sealed_request.to_bytes();
        let (birthday, token_hash, result_key) = (submission.birthday, submission.token_hash, submission.result_key);
        drop(submission);
        blocking(move || {
            store.insert(&NewJob {
                id: &job_id,
                birthday,
                sealed_request: &sealed_request,
                format: SUBMISSION_FORMAT,
                token_hash: &token_hash,
                result_key: &result_key,
                created_ms,
            })
        })
        .await?;
        let mut registry = self.registry();
        let position = registry.queue.len() as u64 + 1;
        let status = JobStatus::Queued { position };
        let mut job = Job::new(
            id.clone(),
            birthday,
            created_ms,
            self.boot,
            vec![token_hash],
            status.clone(),
            self.metrics.jobs.clone(),
        );
        job.client = Some(client.bucket);
        let job = Arc::new(job);
        registry.queue.push_back(job.clone());
        registry.jobs.insert(id.clone(), job);
        drop(registry);
        drop(reservation);
        self.metrics.jobs_submitted.fetch_add(1, Ordering::Relaxed);
        self.queue_notify.notify_one();
        tracing::info!(job = %id, position, "job queued");
        Ok(Submitted { job_id: id, status })
    }

    /// A guess of when the queue will have room: one pass at the mean pace so far (10 s before any).
    fn queue_retry_after(&self) -> Duration {
        let pass = self.metrics.pass_duration.mean().unwrap_or(Duration::from_secs(10));
        pass.clamp(Duration::from_secs(1), Duration::from_secs(300))
    }
}
