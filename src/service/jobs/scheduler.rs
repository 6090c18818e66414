//! Scheduler: turns queued jobs into scan passes. Waits for work and for a source that scans (ready, or
//! degraded: then the files are marked stale), lets a short delay gather more jobs, scans up to
//! `max_batch_keys` wallets in one pass over one snapshot on its own rayon pool (off the async runtime),
//! builds each job's file, stores it sealed (`sealed_files`), records the outcome and wipes the keys. One
//! pass at a time: a pass already uses every scan thread. A pass that ends after shutdown began leaves its
//! jobs queued for the next start (the drain does not wait for files to be written). Owns no HTTP and no
//! state of its own beyond the pool.
//!
//! On a store many replicas share, a pass claims what its fair queue picked (`JobStore::claim`) and scans
//! only what it got, renews its leases every third of `job_lease` while it runs and writes nothing for a
//! job whose lease it lost (the store refuses it too); the sealed file goes into the store with the
//! job's `ready` (one write), and every job of the pass is read back from the store afterwards, so this
//! replica shows it under the store's revision like every other. Nothing is claimed while the store does
//! not answer.

use std::{
    collections::HashSet,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use rayon::prelude::*;
use tokio_util::sync::CancellationToken;
use zeroize::Zeroizing;

use super::{Jobs, blocking, envelope, keyring::KeyRole, output_keys, renumber_queue};
use crate::{
    cache::{CacheError, CacheView},
    recognize::WalletKey,
    scan::{Progress, ScanError, ScanOptions, ScanRequest, scan},
    service::{
        chain::cache_source::PassView,
        clock::now_ms,
        error::{FailureCode, JobFailure, TOO_MANY_ATTEMPTS_MESSAGE},
        jobs::job::{Job, JobStatus},
        jobs::results::artifact::Artifact,
        jobs::store::{JobStoreError, StoredResult},
    },
    walletdb::Interrupt,
};

/// How one job of a pass ended.
pub(super) enum Outcome {
    Ready {
        artifact: Artifact,
        /// Scanned from a degraded source's last snapshot.
        stale: bool,
        tip_height: Option<u64>,
    },
    Failed(JobFailure),
    /// The service is shutting down mid-scan: the job stays queued in the store for the next start.
    Interrupted,
    /// Deleted while it was scanned.
    Dropped,
    /// Its lease was lost (another replica took the job over): nothing is written for it.
    Lost,
}

/// A job of the pass with its opened keys.
struct Member {
    job: Arc<Job>,
    key: WalletKey,
    password: Option<Zeroizing<String>>,
}

/// Runs passes until `shutdown`.
pub(in crate::service) async fn run(jobs: Arc<Jobs>, shutdown: CancellationToken) {
    let threads = jobs.config.scan_threads;
    let pool = match rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("tws-scan-{i}"))
        .build()
    {
        Ok(pool) => Arc::new(pool),
        Err(error) => {
            tracing::error!(%error, "cannot start the scan threads; no job will be scanned");
            return;
        }
    };
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = wait_for_work(&jobs) => {}
        }
        // Let jobs submitted together share the pass.
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tokio::time::sleep(jobs.config.batch_delay) => {}
        }
        // The snapshot first: a source that stopped scanning meanwhile leaves the jobs queued.
        let snapshot = {
            let jobs = jobs.clone();
            match tokio::task::spawn_blocking(move || jobs.source.pass_view()).await {
                Ok(Some(snapshot)) => snapshot,
                Ok(None) => continue,
                Err(error) => Err(CacheError::Io {
                    path: "cache".into(),
                    source: std::io::Error::other(error.to_string()),
                }),
            }
        };
        // A snapshot that does not open fails the pass's jobs (`CACHE_UNAVAILABLE`, retried): they are
        // taken as if free, up to the key bound.
        let price = |job: &Job| {
            snapshot
                .as_ref()
                .map_or(1, |pass| output_keys(&pass.view, job.birthday))
        };
        let batch = take_batch(&jobs, price);
        if batch.is_empty() {
            continue;
        }
        let batch = match claim_batch(&jobs, batch).await {
            Some(batch) => batch,
            None => {
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        if batch.is_empty() {
            continue;
        }
        let pass_keys: u64 = batch.iter().map(|job| price(job)).sum();
        let lost = Arc::new(Mutex::new(HashSet::new()));
        let renewals = jobs.is_shared().then(|| {
            let ids = batch.iter().map(|job| job.id.clone()).collect();
            tokio::spawn(renew_leases(jobs.clone(), ids, lost.clone()))
        });
        jobs.pace.started(Instant::now(), pass_keys);
        let cancel = Arc::new(AtomicBool::new(false));
        let stop_on_shutdown = {
            let (cancel, shutdown) = (cancel.clone(), shutdown.clone());
            tokio::spawn(async move {
                shutdown.cancelled().await;
                cancel.store(true, Ordering::Relaxed);
            })
        };
        let pass = {
            let (jobs, pool, batch, cancel) = (jobs.clone(), pool.clone(), batch.clone(), cancel.clone());
            let shutdown = shutdown.clone();
            tokio::task::spawn_blocking(move || run_pass(&jobs, &pool, snapshot, &batch, &cancel, &shutdown))
        };
        let outcomes = match pass.await {
            Ok(outcomes) => outcomes,
            Err(error) => {
                tracing::error!(%error, "scan pass panicked");
                let failure = JobFailure::new(FailureCode::Internal, "the scan stopped unexpectedly", true);
                batch.iter().map(|_| Outcome::Failed(failure.clone())).collect()
            }
        };
        stop_on_shutdown.abort();
        if let Some(renewals) = renewals {
            renewals.abort();
        }
        jobs.pace.finished(Instant::now(), pass_keys);
        let outcomes = {
            let lost = lost.lock().unwrap_or_else(|p| p.into_inner());
            batch
                .iter()
                .zip(outcomes)
                .map(|(job, outcome)| match lost.contains(&job.id) {
                    true => Outcome::Lost,
                    false => outcome,
                })
                .collect()
        };
        let ids: Vec<String> = batch.iter().map(|job| job.id.clone()).collect();
        finish(&jobs, batch, outcomes).await;
        after_pass(&jobs, &ids).await;
    }
    tracing::debug!("scheduler stopped");
}

/// The pass over: its jobs leave it, and in a fleet each is read back as the store holds it now, under
/// its revision (and put back in the queue if it is queued there).
pub(super) async fn after_pass(jobs: &Jobs, ids: &[String]) {
    jobs.registry().in_pass.clear();
    if jobs.is_shared() {
        for id in ids {
            jobs.refresh(id).await;
        }
    }
}

/// Waits until jobs are queued and the source scans (the source's changes notify too).
async fn wait_for_work(jobs: &Jobs) {
    loop {
        let notified = jobs.queue_notify.notified();
        if !jobs.registry().queue.is_empty() && jobs.lifecycle().scans() && jobs.store_reachable() {
            return;
        }
        notified.await;
    }
}

/// Takes the next pass's jobs off the queue, fairly between clients and within the pass's bounds priced
/// against its snapshot, and marks them scanning (a job deleted meanwhile is left out).
pub(super) fn take_batch(jobs: &Jobs, price: impl Fn(&Job) -> u64) -> Vec<Arc<Job>> {
    let bounds = jobs.pass_bounds();
    let mut registry = jobs.registry();
    let taken = registry.queue.take_pass(bounds, price);
    let mut batch = Vec::with_capacity(taken.len());
    for queued in taken {
        // In a fleet the scan starts when the store grants the claim (`claim_batch`).
        let starts = match jobs.is_shared() {
            true => !queued.job.is_cancelled(),
            false => queued.job.start_scan(),
        };
        if starts {
            if !jobs.is_shared() {
                queued.job.attempts.fetch_add(1, Ordering::Relaxed);
            }
            batch.push(queued.job.clone());
            registry.in_pass.insert(queued.job.id.clone(), queued);
        }
    }
    renumber_queue(&registry.queue);
    batch
}

/// Claims the pass's jobs in the store before the scan starts; `None` if the store could not be written
/// (the jobs go back to their places). A single replica's store grants every claim (a job deleted
/// meanwhile is dropped by the pass). In a fleet the pass keeps only what it got, each job starting its
/// scan under the claim's revision; one another replica holds, or deleted, is read back from the store;
/// one claimed more often than `max_attempts` (replicas that died in its scans) fails with
/// `TOO_MANY_ATTEMPTS` instead.
pub(super) async fn claim_batch(jobs: &Jobs, batch: Vec<Arc<Job>>) -> Option<Vec<Arc<Job>>> {
    if !jobs.store_reachable() {
        // The store did not answer its last ping: whatever this replica claimed now it might not be able
        // to finish; the other replicas take the work.
        requeue_in_memory(jobs, &batch);
        return None;
    }
    let ids: Vec<String> = batch.iter().map(|job| job.id.clone()).collect();
    let (store, now) = (jobs.store.clone(), now_ms());
    let Ok(claimed) = blocking(move || store.claim(&ids, now)).await else {
        requeue_in_memory(jobs, &batch);
        return None;
    };
    if !jobs.is_shared() {
        return Some(batch);
    }
    let mut got = Vec::with_capacity(claimed.len());
    let (mut missed, mut worn) = (Vec::new(), Vec::new());
    for job in batch {
        match claimed.iter().find(|c| c.id == job.id) {
            Some(claim) if claim.attempts > jobs.config.max_attempts => worn.push(job),
            Some(claim) => {
                job.attempts.store(claim.attempts, Ordering::Relaxed);
                // The follower may have shown the claim already (it hears this replica's changes too);
                // a later revision is someone else's change (a DELETE) after the claim.
                job.apply_stored(JobStatus::Scanning { progress: None }, claim.revision);
                if job.revision() == claim.revision && !job.is_cancelled() {
                    got.push(job);
                } else {
                    missed.push(job);
                }
            }
            None => missed.push(job),
        }
    }
    {
        let mut registry = jobs.registry();
        for job in missed.iter().chain(&worn) {
            registry.in_pass.remove(&job.id);
        }
    }
    for job in worn {
        let (store, id, now) = (jobs.store.clone(), job.id.clone(), now_ms());
        let expires = now + jobs.config.result_ttl.as_millis() as u64;
        let failed = blocking(move || {
            store.finish_failed(
                &id,
                FailureCode::TooManyAttempts.as_str(),
                TOO_MANY_ATTEMPTS_MESSAGE,
                now,
                expires,
            )
        })
        .await;
        if matches!(failed, Ok(true)) {
            jobs.metrics.job_failed(FailureCode::TooManyAttempts.as_str());
            tracing::warn!(job = %job.id, code = %FailureCode::TooManyAttempts, "job failed");
        }
        missed.push(job);
    }
    for job in missed {
        jobs.refresh(&job.id).await;
    }
    Some(got)
}

/// Renews the pass's leases every third of `job_lease` until aborted; the jobs the store says this
/// replica no longer holds go into `lost`.
async fn renew_leases(jobs: Arc<Jobs>, ids: Vec<String>, lost: Arc<Mutex<HashSet<String>>>) {
    let period = jobs.config.job_lease / 3;
    loop {
        tokio::time::sleep(period).await;
        let (store, ids, now) = (jobs.store.clone(), ids.clone(), now_ms());
        match blocking(move || store.renew(&ids, now)).await {
            Ok(gone) if !gone.is_empty() => {
                tracing::warn!(
                    jobs = gone.len(),
                    "leases lost mid-pass; their outcomes will not be written"
                );
                lost.lock().unwrap_or_else(|p| p.into_inner()).extend(gone);
            }
            // Not renewed this time (the store did not answer): the lease lasts two more periods.
            _ => {}
        }
    }
}

/// Puts jobs back in their places in the queue, except those deleted meanwhile: a DELETE is final.
fn requeue_in_memory(jobs: &Jobs, batch: &[Arc<Job>]) {
    let mut registry = jobs.registry();
    let mut back = Vec::new();
    for job in batch {
        let place = registry.in_pass.remove(&job.id);
        if job.advance(JobStatus::Queued { position: 0 })
            && let Some(queued) = place
        {
            back.push(queued);
        }
    }
    registry.queue.restore(back);
    renumber_queue(&registry.queue);
}

/// One pass, on a blocking thread: open the keys, scan, build the files. Outcomes in batch order.
fn run_pass(
    jobs: &Jobs,
    pool: &rayon::ThreadPool,
    snapshot: Result<PassView, CacheError>,
    batch: &[Arc<Job>],
    cancel: &AtomicBool,
    shutdown: &CancellationToken,
) -> Vec<Outcome> {
    let started = Instant::now();
    let PassView { view, stale } = match snapshot {
        Ok(snapshot) => snapshot,
        Err(error) => {
            tracing::error!(%error, "cannot open the cache for a scan pass");
            let failure = JobFailure::new(FailureCode::CacheUnavailable, "the chain cache cannot be read", true);
            return batch.iter().map(|_| Outcome::Failed(failure.clone())).collect();
        }
    };
    let mut outcomes: Vec<Option<Outcome>> = batch.iter().map(|_| None).collect();
    let mut members: Vec<(usize, Member)> = Vec::new();
    for (index, job) in batch.iter().enumerate() {
        if job.is_cancelled() {
            outcomes[index] = Some(Outcome::Dropped);
            continue;
        }
        match open_keys(jobs, job) {
            Ok(member) => members.push((index, member)),
            Err(failure) => outcomes[index] = Some(Outcome::Failed(failure)),
        }
    }
    if !members.is_empty() {
        // Jobs for the same wallet and birthday share one scan request: each still gets a file of its own.
        let mut requests: Vec<ScanRequest> = Vec::new();
        let mut request_of: Vec<usize> = Vec::with_capacity(members.len());
        for (_, m) in &members {
            let same = requests.iter().position(|r| {
                r.birthday == m.job.birthday
                    && r.key.spend_public_key() == m.key.spend_public_key()
                    && bool::from(subtle::ConstantTimeEq::ct_eq(
                        &r.key.view_bytes()[..],
                        &m.key.view_bytes()[..],
                    ))
            });
            request_of.push(same.unwrap_or_else(|| {
                requests.push(ScanRequest {
                    key: m.key.clone(),
                    birthday: m.job.birthday,
                });
                requests.len() - 1
            }));
        }
        let on_progress = |p: Progress| {
            for (_, member) in &members {
                member.job.publish_progress(p);
                jobs.report_progress(&member.job);
            }
            if members.iter().all(|(_, m)| m.job.is_cancelled()) {
                cancel.store(true, Ordering::Relaxed);
            }
        };
        let scanned = pool.install(|| scan(&view, &requests, &ScanOptions::default(), &on_progress, cancel));
        let elapsed = started.elapsed();
        let first = members.iter().map(|(_, m)| view.first_output_at(m.job.birthday)).min();
        let outputs = view.output_count().saturating_sub(first.unwrap_or(0));
        let metrics = &jobs.metrics;
        metrics.passes.fetch_add(1, Ordering::Relaxed);
        metrics.pass_duration.observe(elapsed);
        metrics.outputs_scanned.fetch_add(outputs, Ordering::Relaxed);
        metrics
            .key_outputs_scanned
            .fetch_add(outputs * requests.len() as u64, Ordering::Relaxed);
        tracing::info!(
            keys = requests.len(),
            jobs = members.len(),
            outputs,
            stale,
            ms = elapsed.as_millis() as u64,
            "scan pass"
        );
        match scanned {
            Ok(results) => {
                drop(requests);
                let indices: Vec<usize> = members.iter().map(|(index, _)| *index).collect();
                let built: Vec<Outcome> = pool.install(|| {
                    members
                        .par_drain(..)
                        .zip(request_of.into_par_iter())
                        .map(|((_, member), r)| build(jobs, member, &results[r], &view, stale, shutdown))
                        .collect()
                });
                for (index, outcome) in indices.into_iter().zip(built) {
                    outcomes[index] = Some(outcome);
                }
            }
            Err(ScanError::Cancelled) => {
                for (index, member) in members.drain(..) {
                    outcomes[index] = Some(if shutdown.is_cancelled() && !member.job.is_cancelled() {
                        Outcome::Interrupted
                    } else {
                        Outcome::Dropped
                    });
                }
            }
            Err(error @ ScanError::Cache { .. }) => {
                tracing::error!(%error, "scan pass failed");
                let failure = JobFailure::new(FailureCode::ScanFailed, "the chain cache could not be scanned", true);
                for (index, _) in members.drain(..) {
                    outcomes[index] = Some(Outcome::Failed(failure.clone()));
                }
            }
        }
    }
    outcomes.into_iter().map(|o| o.unwrap_or(Outcome::Dropped)).collect()
}

/// Opens a job's sealed envelope from the store (`envelope`, the one place envelopes are opened).
fn open_keys(jobs: &Jobs, job: &Arc<Job>) -> Result<Member, JobFailure> {
    let parts = jobs
        .store
        .sealed(&job.id)
        .map_err(|_| JobFailure::new(FailureCode::Internal, "the job store could not be read", true))?
        .ok_or_else(|| JobFailure::new(FailureCode::KeyMissing, "the job's key is no longer stored", false))?;
    let opened = envelope::open_stored(&jobs.server_keys, &parts).map_err(|_| {
        JobFailure::new(
            FailureCode::BadSeal,
            "the stored key opens with none of the server's keys (sealed to a key since dropped?)",
            false,
        )
    })?;
    if opened.key != KeyRole::Current {
        // Tells the operator of a rotation that jobs sealed to another key are still being scanned.
        tracing::info!(job = %job.id, key = opened.key.name(), "a queued job's envelope opened with a rotated key");
    }
    let secrets = opened.secrets;
    // The parser the submission was accepted with: what passed there opens here.
    let key = envelope::wallet_key(&secrets)
        .map_err(|e| JobFailure::new(FailureCode::Other(e.code()), e.to_string(), false))?;
    Ok(Member {
        job: job.clone(),
        key,
        password: Some(Zeroizing::new(secrets.wallet_password.clone())),
    })
}

/// Builds one job's file. The builder polls the job's deadline (`build_timeout`) and its cancellation (a
/// `DELETE`, or shutdown), so neither a crafted wallet nor a slow build holds a scan thread for long.
fn build(
    jobs: &Jobs,
    member: Member,
    result: &crate::scan::ScanResult,
    view: &CacheView,
    stale: bool,
    shutdown: &CancellationToken,
) -> Outcome {
    if member.job.is_cancelled() {
        return Outcome::Dropped;
    }
    if shutdown.is_cancelled() {
        return Outcome::Interrupted;
    }
    if let Some(damage) = result
        .tip
        .and_then(|tip| view.damage_between(result.from_height, tip.height))
    {
        // The scan read bytes that no longer match their checksum: its result may miss outputs.
        tracing::error!(job = %member.job.id, error = %damage, "the cache is damaged where the job's scan read");
        return Outcome::Failed(JobFailure::new(
            FailureCode::CacheDamaged,
            "the server's chain cache is damaged in the range this wallet needs; try again after the operator rebuilds it",
            false,
        ));
    }
    let cancelled = || member.job.is_cancelled() || shutdown.is_cancelled();
    let interrupt = Interrupt::new(jobs.config.build_timeout, &cancelled);
    let started = Instant::now();
    let built = jobs.builder.build(
        &member.key,
        member.password,
        member.job.birthday,
        result,
        view,
        &interrupt,
    );
    jobs.metrics.build_duration.observe(started.elapsed());
    match built {
        // Deleted while it was built: a DELETE is final, whatever the build made of it.
        _ if member.job.is_cancelled() => Outcome::Dropped,
        // The drain does not wait for a file to be stored: queued again, the job completes after the
        // restart rather than risk a file half written when the process ends.
        _ if shutdown.is_cancelled() => Outcome::Interrupted,
        Ok(artifact) => Outcome::Ready {
            artifact,
            stale,
            tip_height: result.tip.map(|t| t.height),
        },
        Err(failure) => {
            tracing::warn!(job = %member.job.id, code = %failure.code, "building the job's file failed");
            Outcome::Failed(failure)
        }
    }
}

/// Shows a job's scan outcome (ready or failed, already written to the store); whether it now shows
/// it. In a fleet the outcome is read back from the store first, so it is announced under the store's
/// revision as every replica announces it: a stream opened here in between would otherwise end on the
/// outcome under the scan's last id, another replica's under the next revision's.
async fn shown_as(jobs: &Jobs, job: &Arc<Job>, outcome: JobStatus) -> bool {
    if !jobs.is_shared() {
        return job.advance(outcome);
    }
    jobs.refresh(&job.id).await;
    job.status().name() == outcome.name()
}

/// The largest file a job store many replicas share keeps with its job (a row's value; PostgreSQL holds
/// up to 1 GB in one, and every replica's first download reads it whole into memory). A wallet's file is
/// tens of KB to a few MB: one beyond this is a wallet no fleet should hand out in one piece.
pub const MAX_STORED_FILE_BYTES: u64 = 256 << 20;

/// With a shared store, a file above `MAX_STORED_FILE_BYTES` fails its job (`RESULT_TOO_LARGE`, not
/// retried: the same wallet makes the same file) rather than a write the store would refuse or a row
/// every replica must read whole.
fn bounded_for_store(shared: bool, outcome: Outcome) -> Outcome {
    match outcome {
        Outcome::Ready { artifact, .. } if shared && artifact.zstd_len > MAX_STORED_FILE_BYTES => {
            Outcome::Failed(JobFailure::new(
                FailureCode::ResultTooLarge,
                format!(
                    "the wallet's file ({} bytes compressed) is larger than a shared job store keeps ({MAX_STORED_FILE_BYTES} bytes)",
                    artifact.zstd_len
                ),
                false,
            ))
        }
        other => other,
    }
}

/// Records each outcome in the store (wiping the keys of every job whose scan ended) and in memory.
/// Memory follows the store: a job is `ready` or `failed` only once the store says so and its keys are
/// gone, and a job whose outcome cannot be written stays as the store holds it (`unrecorded`).
pub(super) async fn finish(jobs: &Arc<Jobs>, batch: Vec<Arc<Job>>, outcomes: Vec<Outcome>) {
    let ttl = jobs.config.result_ttl.as_millis() as u64;
    let mut requeue = Vec::new();
    let mut recorder = Recorder::default();
    for (job, outcome) in batch.into_iter().zip(outcomes) {
        let outcome = bounded_for_store(jobs.is_shared(), outcome);
        let now = now_ms();
        let store = jobs.store.clone();
        let id = job.id.clone();
        match outcome {
            Outcome::Ready {
                artifact,
                stale,
                tip_height,
            } => {
                let artifact = Arc::new(artifact);
                let result = StoredResult {
                    size: artifact.zstd_len,
                    sha256: artifact.sha256_hex(),
                    stale,
                    tip_height,
                };
                // On disk (sealed) before the store says ready, so a ready job has its file there unless
                // the write failed; a crash in between leaves the job scanning, to be scanned again. In a
                // fleet the sealed file goes into the store with the `ready` itself.
                let (on_disk, file) = match jobs.is_shared() {
                    true => {
                        let file = jobs.seal_for_store(&job.id, &artifact).await;
                        (file.is_some(), file)
                    }
                    false => (jobs.persist_result(&job.id, &artifact).await, None),
                };
                let stored = result.clone();
                let made = recorder
                    .write(move || store.finish_ready(&id, &stored, file.as_deref(), now, now + ttl))
                    .await;
                let Some(changed) = made else {
                    // Still scanning in the store: its file is not a ready job's.
                    jobs.discard_result(&job.id).await;
                    unrecorded(jobs, &mut recorder, job, &mut requeue).await;
                    continue;
                };
                if !changed && jobs.is_shared() {
                    // Deleted meanwhile, or taken over by another replica after this one's lease ended:
                    // the store keeps what happened there.
                    tracing::warn!(job = %job.id, "the scan's result was not written: the job is no longer this replica's");
                    continue;
                }
                let size = result.size;
                jobs.held.hold(&job, artifact, on_disk);
                let ready = JobStatus::Ready {
                    size,
                    sha256: result.sha256,
                    expires_ms: now + ttl,
                    stale,
                    tip_height,
                };
                if !shown_as(jobs, &job, ready).await {
                    // Deleted while its file was built or written: the DELETE stands, the file goes.
                    jobs.held.release(&job);
                    jobs.discard_result(&job.id).await;
                    continue;
                }
                jobs.metrics.jobs_ready.fetch_add(1, Ordering::Relaxed);
                let took = Duration::from_millis(now.saturating_sub(job.created_ms));
                jobs.metrics.job_duration.observe(took);
                tracing::info!(job = %job.id, size, stale, ms = took.as_millis() as u64, "job ready");
            }
            Outcome::Failed(failure)
                if failure.retryable && job.attempts.load(Ordering::Relaxed) < jobs.config.max_attempts =>
            {
                tracing::warn!(job = %job.id, code = %failure.code, "job attempt failed; retrying");
                jobs.metrics.jobs_retried.fetch_add(1, Ordering::Relaxed);
                // Unwritten, the store still says scanning: the next pass and a restart take that as
                // queued, the attempt counted either way. In a fleet a job no longer this replica's
                // is not queued here (the store's state is read back after the pass).
                let requeued = blocking(move || store.requeue(&id, false)).await;
                if !(jobs.is_shared() && matches!(requeued, Ok(false))) {
                    requeue.push(job);
                }
            }
            Outcome::Failed(failure) => {
                let (code, message) = (failure.code.as_str(), failure.message.clone());
                let made = recorder
                    .write(move || store.finish_failed(&id, code, &message, now, now + ttl))
                    .await;
                match made {
                    None => {
                        unrecorded(jobs, &mut recorder, job, &mut requeue).await;
                        continue;
                    }
                    Some(false) if jobs.is_shared() => continue,
                    Some(_) => {}
                }
                let failed = JobStatus::Failed {
                    code: failure.code.to_string(),
                    message: failure.message,
                    expires_ms: now + ttl,
                };
                if !shown_as(jobs, &job, failed).await {
                    continue;
                }
                jobs.metrics.job_failed(failure.code.as_str());
                tracing::warn!(job = %job.id, code = %failure.code, "job failed");
            }
            Outcome::Interrupted => {
                let _ = blocking(move || store.requeue(&id, true)).await;
            }
            Outcome::Dropped | Outcome::Lost => {}
        }
    }
    if !requeue.is_empty() {
        requeue_in_memory(jobs, &requeue);
        jobs.queue_notify.notify_one();
    }
    let store = jobs.store.clone();
    let _ = blocking(move || store.checkpoint()).await;
}

/// Waits before each retry of a write that records how a job ended: a store that is briefly locked or
/// short of space gets a few seconds. Beyond them the job stays as the store holds it (`unrecorded`).
const FINISH_RETRY_DELAYS: [Duration; 3] = [
    Duration::from_millis(100),
    Duration::from_millis(500),
    Duration::from_secs(2),
];

/// Makes the writes of one `finish`. Once a write has failed after every retry the store is taken to be
/// down for the rest of the pass: each further write is tried once, so a pass of many jobs does not
/// wait out the retries of each.
#[derive(Default)]
struct Recorder {
    store_down: bool,
}

impl Recorder {
    /// Runs `write` on the blocking pool, retried after each of `FINISH_RETRY_DELAYS` unless the store is
    /// down; whether the job changed (`write`'s answer), `None` if the write was not made.
    async fn write(
        &mut self,
        write: impl Fn() -> Result<bool, JobStoreError> + Clone + Send + 'static,
    ) -> Option<bool> {
        let retries = if self.store_down {
            &[][..]
        } else {
            &FINISH_RETRY_DELAYS[..]
        };
        let mut made = blocking(write.clone()).await.ok();
        for delay in retries {
            if made.is_some() {
                break;
            }
            tokio::time::sleep(*delay).await;
            made = blocking(write.clone()).await.ok();
        }
        self.store_down = made.is_none();
        made
    }
}

/// A job whose outcome the store would not take: it holds the job as scanning, sealed keys and all, so
/// memory never calls it finished (a `failed` job must have no keys left on disk). While it has
/// attempts left it is scanned again (the next pass counts the attempt in the store, and a restart
/// would queue it as well). After its last one it fails with `TOO_MANY_ATTEMPTS` if the store takes
/// that; if not, it stays scanning and out of the queue, never scanned again, until a restart fails it
/// with that code (`Jobs::recover`).
async fn unrecorded(jobs: &Arc<Jobs>, recorder: &mut Recorder, job: Arc<Job>, requeue: &mut Vec<Arc<Job>>) {
    if job.attempts.load(Ordering::Relaxed) < jobs.config.max_attempts {
        tracing::error!(job = %job.id, "the job's outcome could not be stored; it will be scanned again");
        let (store, id) = (jobs.store.clone(), job.id.clone());
        let _ = blocking(move || store.requeue(&id, false)).await;
        requeue.push(job);
        return;
    }
    let now = now_ms();
    let expires_ms = now + jobs.config.result_ttl.as_millis() as u64;
    let (store, id) = (jobs.store.clone(), job.id.clone());
    let recorded = recorder
        .write(move || {
            store.finish_failed(
                &id,
                FailureCode::TooManyAttempts.as_str(),
                TOO_MANY_ATTEMPTS_MESSAGE,
                now,
                expires_ms,
            )
        })
        .await;
    if recorded.is_none() {
        tracing::error!(
            job = %job.id,
            "the job's outcome could not be stored after its last attempt; it stays as stored (scanning) until \
             a restart fails it with TOO_MANY_ATTEMPTS"
        );
        return;
    }
    let failed = JobStatus::Failed {
        code: FailureCode::TooManyAttempts.to_string(),
        message: TOO_MANY_ATTEMPTS_MESSAGE.into(),
        expires_ms,
    };
    if job.advance(failed) {
        jobs.metrics.job_failed(FailureCode::TooManyAttempts.as_str());
        tracing::warn!(job = %job.id, code = %FailureCode::TooManyAttempts, "job failed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ready(zstd_len: u64) -> Outcome {
        let mut artifact = Artifact::from_chunks(vec![vec![1, 2, 3]], 3, [0; 32]);
        artifact.zstd_len = zstd_len;
        Outcome::Ready {
            artifact,
            stale: false,
            tip_height: None,
        }
    }

    #[test]
    fn a_file_too_large_for_a_shared_store_fails_its_job_and_only_there() {
        let Outcome::Failed(failure) = bounded_for_store(true, ready(MAX_STORED_FILE_BYTES + 1)) else {
            panic!("a shared store does not take it");
        };
        assert_eq!((failure.code.as_str(), failure.retryable), ("RESULT_TOO_LARGE", false));
        assert!(matches!(
            bounded_for_store(true, ready(MAX_STORED_FILE_BYTES)),
            Outcome::Ready { .. }
        ));
        assert!(
            matches!(
                bounded_for_store(false, ready(MAX_STORED_FILE_BYTES + 1)),
                Outcome::Ready { .. }
            ),
            "one replica's disk keeps it"
        );
    }
}
