//! Submission: accepting a wallet's request. Owns the admission of a new job (the per-client and
//! per-wallet rate limits, the client's scan budget in output-keys, the bounds of the queue and of the
//! jobs and bytes held, in all and per client, with headroom kept for clients holding little), the
//! answer to an envelope sent again, and the new job's first store row. Opening and validating the
//! request body is `http::submit`; the order of the queue is `fair_queue`; scanning is `scheduler`.
//!
//! Every submission is a job of its own with its own credentials: two submissions for the same wallet
//! share a scan pass when they are queued together (`scheduler`), never a job. An envelope is remembered
//! only once it is accepted, in the job's own transaction: sent again (a retry after a lost answer, or a
//! replay) it answers with the same job and grants nothing (the token never travels); refused, it may be
//! sent again after the wait. Accepting runs to completion on a task of its own, whatever happens to the
//! request meanwhile (a reset HTTP/2 stream, a timeout), so a queue slot reserved for it is always given
//! back or filled.

use std::{
    net::IpAddr,
    sync::{Arc, atomic::Ordering},
    time::{Duration, Instant},
};

use blake2::{Blake2b, Digest, digest::consts::U32};
use tari_wallet_sync_sse::{
    envelope::SubmissionSecrets,
    seal::{SealError, Sealed},
};

use super::{
    Jobs, Registry, blocking,
    envelope::{self, OpenError},
    keyring::shown_key_id,
    output_keys, renumber_queue,
};
use crate::{
    recognize::{KeyError, WalletKey},
    service::{
        clock::now_ms,
        error::ApiError,
        jobs::job::{Job, JobStatus, new_job_id},
        jobs::store::{Inserted, MAX_SEEN_ENVELOPES, NewJob, SUBMISSION_FORMAT},
        limits::rate::Refused,
        requester::{Client, Port},
    },
};

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
    /// The token's public result key (`sealed_files::result_public_key`).
    pub result_key: [u8; 32],
    /// The envelope's ephemeral key and until when (ms) it must be remembered; `None` for a plain one.
    pub replay: Option<([u8; 32], u64)>,
}

/// What a submission gets back.
pub struct Submitted {
    pub job_id: String,
    pub status: JobStatus,
}

/// Share of a global bound (queue slots, jobs held) open to every client; the rest is headroom that only
/// clients holding fewer than `FEW` jobs may use, so a handful of addresses filling the bound leave room
/// for newcomers.
const OPEN_SHARE: (usize, usize) = (3, 4);
const FEW: usize = 2;

/// Whether a client holding `holds` may take one more of `capacity` when `used` are taken.
fn admits(used: usize, capacity: usize, holds: usize) -> bool {
    let open = capacity * OPEN_SHARE.0 / OPEN_SHARE.1;
    used < capacity && (used < open.max(1) || holds < FEW)
}

/// Queue slots promised to a submission still being written to the store; given back when dropped,
/// whatever ends the submission.
struct Reservation {
    jobs: Arc<Jobs>,
    bucket: IpAddr,
}

impl Reservation {
    fn take(jobs: &Arc<Jobs>, registry: &mut Registry, bucket: IpAddr) -> Reservation {
        registry.reserved += 1;
        *registry.reserved_by.entry(bucket).or_insert(0) += 1;
        Reservation {
            jobs: jobs.clone(),
            bucket,
        }
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        let mut registry = self.jobs.registry();
        registry.reserved -= 1;
        if let Some(count) = registry.reserved_by.get_mut(&self.bucket) {
            *count -= 1;
            if *count == 0 {
                registry.reserved_by.remove(&self.bucket);
            }
        }
    }
}

/// What one client holds now, and the jobs held in all.
#[derive(Debug, Default)]
struct Holdings {
    /// Jobs of every client that are not tombstones.
    live: usize,
    /// This client's jobs that are not tombstones, queued and scanning among them.
    client_live: usize,
    client_waiting: usize,
    /// Bytes of this client's finished files.
    client_bytes: u64,
    /// When this client's earliest finished job expires (ms), if it has one.
    client_next_expiry: Option<u64>,
}

impl Holdings {
    fn note_expiry(&mut self, expires_ms: u64) {
        self.client_next_expiry = Some(self.client_next_expiry.map_or(expires_ms, |e| e.min(expires_ms)));
    }

    /// The wait until this client's earliest finished job expires (at least a second).
    fn until_next_expiry(&self, now_ms: u64) -> Duration {
        let ms = self.client_next_expiry.map_or(0, |e| e.saturating_sub(now_ms));
        Duration::from_millis(ms).max(Duration::from_secs(1))
    }

    fn of(registry: &Registry, bucket: IpAddr) -> Holdings {
        let mut holdings = Holdings::default();
        for job in registry.jobs.values() {
            let status = job.status();
            if status.is_tombstone() {
                continue;
            }
            holdings.live += 1;
            if job.client != Some(bucket) {
                continue;
            }
            holdings.client_live += 1;
            match status {
                JobStatus::Queued { .. } | JobStatus::Scanning { .. } => holdings.client_waiting += 1,
                JobStatus::Ready { size, expires_ms, .. } => {
                    holdings.client_bytes += size;
                    holdings.note_expiry(expires_ms);
                }
                JobStatus::Failed { expires_ms, .. } => holdings.note_expiry(expires_ms),
                JobStatus::Deleted | JobStatus::Expired => {}
            }
        }
        let reserved = registry.reserved_by.get(&bucket).copied().unwrap_or(0);
        holdings.live += registry.reserved;
        holdings.client_live += reserved;
        holdings.client_waiting += reserved;
        holdings
    }
}

impl Jobs {
    /// Any API request from `client`.
    pub fn check_request_rate(&self, client: &Client) -> Result<(), ApiError> {
        self.ip_requests
            .check((), client)
            .map_err(|refused| self.rate_limited(refused, ["ip_requests", "ip_requests_aggregate"], "request"))
    }

    /// An operations route (health, readiness, metrics, an unknown path) from `client` on `port`.
    pub fn check_operations_rate(&self, port: Port, client: &Client) -> Result<(), ApiError> {
        self.ip_operations
            .check(port, client)
            .map_err(|refused| self.rate_limited(refused, ["ip_operations", "ip_operations_aggregate"], "operations"))
    }

    /// A submission from `client`, checked before its body is even read.
    pub fn check_submit_rate(&self, client: &Client) -> Result<(), ApiError> {
        self.ip_submissions
            .check((), client)
            .map_err(|refused| self.rate_limited(refused, ["ip_submissions", "ip_submissions_aggregate"], "submission"))
    }

    /// Counts a refusal of a per-client limit under its metric scope (`[client's, aggregate's]`, by which
    /// limit refused it) and says so in the client's words.
    fn rate_limited(&self, refused: Refused, metric: [&'static str; 2], scope: &'static str) -> ApiError {
        self.metrics.rate_limited(metric[usize::from(refused.by_aggregate)]);
        ApiError::RateLimited {
            scope,
            retry_after: refused.retry_after,
        }
    }

    /// Opens a submission's envelope (`envelope`, the one place envelopes are opened) with the key
    /// `key_id` names, else with each key held: `UNKNOWN_SERVER_KEY` for a key this server does not hold,
    /// `BAD_SEAL` for one not sealed to this server or tampered with, `BAD_ENVELOPE` for one that holds
    /// no submission.
    pub fn open_envelope(&self, key_id: Option<&str>, sealed: &Sealed) -> Result<SubmissionSecrets, ApiError> {
        envelope::open(&self.server_keys, key_id, sealed)
            .map(|opened| opened.secrets)
            .map_err(|error| match error {
                OpenError::UnknownKey => ApiError::UnknownServerKey(shown_key_id(key_id.unwrap_or_default())),
                OpenError::Seal(error) => ApiError::from(error),
                OpenError::Contents => ApiError::BadEnvelope,
            })
    }

    /// The wallet key `secrets` carry, read with the parser the scan reads it with.
    pub fn wallet_key(&self, secrets: &SubmissionSecrets) -> Result<WalletKey, KeyError> {
        envelope::wallet_key(secrets)
    }

    /// Seals a plain submission to the server's own key, so the store never holds it in the clear.
    /// `SealError::TooLong` for a plaintext no box holds (the caller checks the fields' sizes first).
    pub fn seal_to_self(&self, secrets: &SubmissionSecrets) -> Result<Sealed, SealError> {
        envelope::seal_to_self(&self.server_keys, secrets)
    }

    /// The keyed fingerprint of a wallet: its public view key, what the per-wallet limit keys on. (Not
    /// its spend key: a fresh random spend key per submission must not pass as another wallet.)
    fn wallet_fingerprint(&self, key: &WalletKey) -> [u8; 32] {
        let mut hasher = Blake2b::<U32>::new();
        hasher.update(self.fingerprint_key.as_ref());
        for part in [&b"wallet-view-key"[..], key.public_view_key().as_bytes()] {
            hasher.update((part.len() as u64).to_le_bytes());
            hasher.update(part);
        }
        hasher.finalize().into()
    }

    /// Accepts a validated submission from `client` as a new queued job, or answers with the job its
    /// envelope was accepted as before. Runs on a task of its own, so a request that goes away meanwhile
    /// leaves nothing half done.
    pub async fn submit(self: &Arc<Self>, submission: Submission, client: Client) -> Result<Submitted, ApiError> {
        let jobs = self.clone();
        tokio::spawn(async move { jobs.accept(submission, client).await })
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
        // An envelope accepted before answers with its job before anything is charged.
        if let Some((ephemeral, _)) = submission.replay {
            let store = self.store.clone();
            if let Some(earlier) = blocking(move || store.envelope_job(&ephemeral)).await? {
                return self.repeated_anywhere(earlier).await;
            }
            if self.store.envelopes_remembered() >= MAX_SEEN_ENVELOPES {
                return Err(self.envelopes_full().await);
            }
        }
        let wallet = self.wallet_fingerprint(&submission.key);
        let cost = {
            let (jobs, birthday) = (self.clone(), submission.birthday);
            tokio::task::spawn_blocking(move || jobs.source.pricing_view().map(|view| output_keys(&view, birthday)))
                .await
                .unwrap_or(None)
        };
        let reservation = {
            let mut registry = self.registry();
            self.admit(&registry, client.bucket)?;
            // Last, so a submission refused for room does not use up one of the wallet's syncs or the
            // client's budget; a chain not yet readable (importing) cannot price it, and charges nothing.
            self.wallet_syncs.check(&wallet).map_err(|retry_after| {
                self.metrics.rate_limited("wallet");
                ApiError::RateLimited {
                    scope: "wallet",
                    retry_after,
                }
            })?;
            if let Some(cost) = cost {
                self.scan_budgets.check_n(&client.bucket, cost).map_err(|retry_after| {
                    self.metrics.rate_limited("scan_budget");
                    ApiError::RateLimited {
                        scope: "scan budget",
                        retry_after,
                    }
                })?;
            }
            Reservation::take(self, &mut registry, client.bucket)
        };
        let id = new_job_id(self.config.replica_id.as_deref());
        let created_ms = now_ms();
        let (store, job_id) = (self.store.clone(), id.clone());
        let sealed_request = submission.sealed_request.to_bytes();
        let (birthday, token_hash, result_key) = (submission.birthday, submission.token_hash, submission.result_key);
        let envelope = submission.replay;
        let client_fingerprint = self.client_fingerprint(client.bucket);
        drop(submission);
        let inserted = blocking(move || {
            store.insert(&NewJob {
                id: &job_id,
                birthday,
                sealed_request: &sealed_request,
                format: SUBMISSION_FORMAT,
                token_hash: &token_hash,
                result_key: &result_key,
                created_ms,
                envelope: envelope.as_ref().map(|(ephemeral, until)| (ephemeral, *until)),
                client: client_fingerprint,
            })
        })
        .await?;
        if let Inserted::Repeat(earlier) = inserted {
            // The same envelope, sent twice at once: the other was accepted first.
            return self.repeated_anywhere(earlier).await;
        }
        let mut registry = self.registry();
        // The follower may have made the job of its row already (a fleet hears its own inserts): it is
        // in the queue in this client's lane then.
        let job = match registry.jobs.get(&id).cloned() {
            Some(known) => known,
            None => {
                let mut job = Job::new(
                    id.clone(),
                    birthday,
                    created_ms,
                    self.boot,
                    vec![token_hash],
                    JobStatus::Queued { position: 0 },
                    self.metrics.jobs.clone(),
                );
                job.client = Some(client.bucket);
                if self.is_shared() {
                    // A new row is at revision 1 in every shared store.
                    job = job.numbered_from_revision(1);
                }
                let job = Arc::new(job);
                registry
                    .queue
                    .push(job.clone(), self.lane_of(client.bucket), cost.unwrap_or(1));
                job
            }
        };
        registry.jobs.insert(id.clone(), job.clone());
        renumber_queue(&registry.queue);
        drop(registry);
        drop(reservation);
        self.metrics.jobs_submitted.fetch_add(1, Ordering::Relaxed);
        self.queue_notify.notify_one();
        let status = job.status();
        let position = match status {
            JobStatus::Queued { position } => position,
            _ => 0,
        };
        tracing::info!(job = %id, position, output_keys = cost, "job queued");
        Ok(Submitted { job_id: id, status })
    }

    /// `repeated`, after reading the earlier job from the store if it was accepted at another replica of a
    /// fleet that this one has not heard of yet.
    async fn repeated_anywhere(&self, earlier: Option<String>) -> Result<Submitted, ApiError> {
        if let Some(id) = &earlier {
            self.look_up(id).await;
        }
        self.repeated(earlier)
    }

    /// The answer to an envelope accepted before: its job as it is now. The client derived the job's
    /// token when it sealed the envelope, so this tells a resending client where its job is and a
    /// replayer nothing it can use. A job already forgotten (its tombstone purged) leaves nothing to
    /// point at: the envelope is refused as replayed.
    fn repeated(&self, earlier: Option<String>) -> Result<Submitted, ApiError> {
        self.metrics.rate_limited("repeat");
        let job = earlier.and_then(|id| self.registry().jobs.get(&id).cloned());
        match job {
            Some(job) => Ok(Submitted {
                job_id: job.id.clone(),
                status: job.status(),
            }),
            None => Err(ApiError::Replayed),
        }
    }

    /// Refused for room: this client's own bounds first (its share says more than a full queue), then the
    /// bounds every client shares, with their headroom; each with the real wait: until this client's first
    /// job leaves the queue, until its earliest finished job expires, or until the running pass ends.
    fn admit(&self, registry: &Registry, bucket: IpAddr) -> Result<(), ApiError> {
        let config = &self.config;
        let now = Instant::now();
        let holdings = Holdings::of(registry, bucket);
        let waiting = registry.queue.len() + registry.reserved;
        let lane = self.lane_of(bucket);
        // A slot of its own frees when one of its jobs is done: with one queued, at the end of the pass
        // that takes it; with none, its scanning jobs end with the running pass.
        let until_own_turn = || match registry.queue.queued_by(lane) {
            0 => self.pace.wait(now, 0),
            _ => self
                .pace
                .wait(now, registry.queue.work_until_done(lane, self.pass_bounds())),
        };
        if holdings.client_waiting >= config.max_queued_per_client {
            self.metrics.rate_limited("client_queue");
            return Err(ApiError::RateLimited {
                scope: "queued job",
                retry_after: until_own_turn(),
            });
        }
        if holdings.client_live >= config.max_jobs_per_client {
            self.metrics.rate_limited("client_jobs");
            let retry_after = match holdings.client_next_expiry {
                Some(_) => holdings.until_next_expiry(now_ms()),
                None => until_own_turn(),
            };
            return Err(ApiError::RateLimited {
                scope: "held job",
                retry_after,
            });
        }
        if holdings.client_bytes >= config.max_held_bytes_per_client {
            self.metrics.rate_limited("client_bytes");
            return Err(ApiError::RateLimited {
                scope: "held file bytes",
                retry_after: holdings.until_next_expiry(now_ms()),
            });
        }
        if !admits(waiting, config.max_queued_jobs, holdings.client_waiting) {
            // Full for this client: room comes when its own first job leaves, or for anyone when passes
            // drain the queue.
            let retry_after = if holdings.client_waiting > 0 {
                until_own_turn()
            } else {
                self.pace.wait(now, 0)
            };
            return Err(ApiError::QueueFull { retry_after });
        }
        if !admits(holdings.live, config.max_jobs_held, holdings.client_live) {
            let retry_after = if holdings.client_live > holdings.client_waiting {
                holdings.until_next_expiry(now_ms())
            } else {
                self.pace.wait(now, 0)
            };
            return Err(ApiError::QueueFull { retry_after });
        }
        Ok(())
    }

    /// Every envelope the store may remember is remembered: new ones wait until the oldest window ends.
    async fn envelopes_full(&self) -> ApiError {
        let store = self.store.clone();
        let oldest = blocking(move || store.oldest_envelope_ms()).await.ok().flatten();
        let wait = oldest.map_or(0, |ms| ms.saturating_sub(now_ms()));
        self.metrics.rate_limited("envelopes");
        ApiError::TooManySubmissions {
            retry_after: Duration::from_millis(wait).max(Duration::from_secs(1)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headroom_is_kept_for_clients_holding_little() {
        // Open to all up to three quarters; beyond, only to clients holding fewer than two.
        assert!(admits(0, 8, 5));
        assert!(admits(5, 8, 5));
        assert!(!admits(6, 8, 2));
        assert!(admits(6, 8, 1));
        assert!(admits(7, 8, 0));
        assert!(!admits(8, 8, 0), "full is full");
        // A bound of one is open to the first client whatever it holds.
        assert!(admits(0, 1, 3));
        assert!(!admits(1, 1, 0));
    }
}
