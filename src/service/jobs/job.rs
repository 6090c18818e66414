//! Job: one wallet's sync request in memory: its state and event stream (a `watch` channel holding the
//! latest event, so a late or resuming subscriber starts from the current state), its token hashes, its
//! file once built (with the key of its sealed copy on disk), and its subscriber count. Persistence is
//! `store` and `results`; scheduling is `scheduler`.
//!
//! Event ids: `boot << 32 | sequence` for a single replica, so they grow across restarts; on a store many
//! replicas share, `revision << 32 | n` (`numbered_from_revision`): every state change comes from the store with its
//! revision (`apply_stored`), progress is numbered within it, so every replica gives the same event the
//! same id and a stream resumes (`Last-Event-ID`) at any of them.

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering},
    },
    time::Instant,
};

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tari_wallet_sync_sse::{JobEvent, percent};
use tokio::sync::watch;

use crate::scan::Progress;
use crate::service::{jobs::results::artifact::Artifact, metrics::JobGauges};

/// Longest job id accepted in a path (replica prefix + 32 hex characters).
pub const MAX_JOB_ID_LEN: usize = 96;

/// Progress as a status report carries it.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ProgressView {
    pub outputs_done: u64,
    pub outputs_total: u64,
    pub blocks_done: u64,
    pub blocks_total: u64,
    pub height: u64,
    pub percent: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub eta_seconds: Option<u64>,
}

/// Progress reports waiting to be told to the other replicas of a fleet (`fleet`). Scan threads never
/// wait for room: a report that finds the channel full is dropped, and the next one (which says more) goes.
pub const PROGRESS_BACKLOG: usize = 64;

/// A scan's progress as told to the other replicas of a fleet.
pub struct ProgressReport {
    pub id: String,
    pub event_id: u64,
    pub view: ProgressView,
}

/// Where a job is.
#[derive(Debug, Clone, PartialEq)]
pub enum JobStatus {
    Queued {
        position: u64,
    },
    Scanning {
        progress: Option<ProgressView>,
    },
    Ready {
        size: u64,
        sha256: String,
        expires_ms: u64,
        /// Scanned while the source was degraded (from the last published cache).
        stale: bool,
        /// The cache tip the scan reached (`None`: an empty cache).
        tip_height: Option<u64>,
    },
    Failed {
        code: String,
        message: String,
        expires_ms: u64,
    },
    Deleted,
    Expired,
}

impl JobStatus {
    pub fn name(&self) -> &'static str {
        match self {
            JobStatus::Queued { .. } => "queued",
            JobStatus::Scanning { .. } => "scanning",
            JobStatus::Ready { .. } => "ready",
            JobStatus::Failed { .. } => "failed",
            JobStatus::Deleted => "deleted",
            JobStatus::Expired => "expired",
        }
    }

    /// Deleted or expired: only a tombstone is left (not counted against `max_jobs_held`).
    pub fn is_tombstone(&self) -> bool {
        matches!(self, JobStatus::Deleted | JobStatus::Expired)
    }
}

/// The latest state with the id of the event that announced it.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    pub event_id: u64,
    pub status: JobStatus,
}

impl Snapshot {
    /// The SSE event for this state. Deleted and expired jobs end their streams with `failed`.
    pub fn event(&self, download_url: &str) -> JobEvent {
        match &self.status {
            JobStatus::Queued { position } => JobEvent::Queued { position: *position },
            JobStatus::Scanning { progress } => {
                let p = progress.unwrap_or(ProgressView {
                    outputs_done: 0,
                    outputs_total: 0,
                    blocks_done: 0,
                    blocks_total: 0,
                    height: 0,
                    percent: 0.0,
                    eta_seconds: None,
                });
                JobEvent::Progress {
                    outputs_done: p.outputs_done,
                    outputs_total: p.outputs_total,
                    blocks_done: p.blocks_done,
                    blocks_total: p.blocks_total,
                    height: p.height,
                    percent: p.percent,
                    eta_seconds: p.eta_seconds,
                }
            }
            JobStatus::Ready {
                size,
                sha256,
                stale,
                tip_height,
                ..
            } => JobEvent::Ready {
                size: *size,
                sha256: sha256.clone(),
                download_url: download_url.to_string(),
                stale: *stale,
                tip_height: *tip_height,
            },
            JobStatus::Failed { code, message, .. } => JobEvent::Failed {
                code: code.clone(),
                message: message.clone(),
            },
            JobStatus::Deleted => JobEvent::Failed {
                code: "JOB_DELETED".into(),
                message: "the job was deleted".into(),
            },
            JobStatus::Expired => JobEvent::Failed {
                code: "RESULT_EXPIRED".into(),
                message: "the job's result expired and was wiped".into(),
            },
        }
    }
}

/// SHA-256 of a bearer token: all the service keeps of it.
pub fn hash_token(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// A fresh job id: 16 random bytes as hex, after the replica's prefix if any.
pub fn new_job_id(replica: Option<&str>) -> String {
    let random = hex::encode(rand::random::<[u8; 16]>());
    match replica {
        Some(prefix) => format!("{prefix}-{random}"),
        None => random,
    }
}

/// Whether a path segment can be a job id at all (anything else is answered as unknown).
pub fn plausible_job_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_JOB_ID_LEN
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// One job in memory.
pub struct Job {
    pub id: String,
    /// The bucket of the client that submitted it (`None` for jobs reloaded after a restart): what the
    /// per-client queue bound counts.
    pub client: Option<std::net::IpAddr>,
    pub birthday: u64,
    pub created_ms: u64,
    /// Event ids are `boot << 32 | sequence`, so they grow across restarts (0 in a fleet).
    boot: u64,
    /// Event ids come from the store's revisions (`numbered_from_revision`): a state change made here moves no id
    /// until the store's revision of it is applied.
    fleet: bool,
    tokens: Mutex<Vec<[u8; 32]>>,
    state: watch::Sender<Snapshot>,
    artifact: Mutex<Option<Arc<Artifact>>>,
    /// Held while the file is opened from disk after a restart, so concurrent downloads open it once.
    pub loading: tokio::sync::Mutex<()>,
    subscribers: AtomicUsize,
    cancelled: AtomicBool,
    pub attempts: AtomicU32,
    /// When the current scan started and how far it was then, for the ETA.
    scan_clock: Mutex<Option<Instant>>,
    /// `tws_jobs{state}`: this job counts in its state's gauge while it lives.
    gauges: JobGauges,
}

impl Job {
    /// A job from its stored fields, counted in `gauges` under its state while it lives.
    pub fn new(
        id: String,
        birthday: u64,
        created_ms: u64,
        boot: u64,
        tokens: Vec<[u8; 32]>,
        status: JobStatus,
        gauges: JobGauges,
    ) -> Job {
        gauges.entered(status.name());
        let (state, _) = watch::channel(Snapshot {
            event_id: boot << 32 | 1,
            status,
        });
        Job {
            id,
            client: None,
            birthday,
            created_ms,
            boot,
            fleet: false,
            tokens: Mutex::new(tokens),
            state,
            artifact: Mutex::new(None),
            loading: tokio::sync::Mutex::new(()),
            subscribers: AtomicUsize::new(0),
            cancelled: AtomicBool::new(false),
            attempts: AtomicU32::new(0),
            scan_clock: Mutex::new(None),
            gauges,
        }
    }

    /// This job numbered by the store's revisions, at `revision` now (a store many replicas share).
    pub fn numbered_from_revision(mut self, revision: u64) -> Job {
        self.fleet = true;
        self.boot = 0;
        self.state.send_modify(|snapshot| snapshot.event_id = revision << 32);
        self
    }

    /// The store revision the current state came with (a fleet's job).
    pub fn revision(&self) -> u64 {
        self.state.borrow().event_id >> 32
    }

    /// The state the store holds at `revision`, if newer than what this job shows: event id
    /// `revision << 32`; a tombstone cancels a running scan too. Whether it was applied.
    pub fn apply_stored(&self, status: JobStatus, revision: u64) -> bool {
        let mut applied = false;
        self.state.send_if_modified(|snapshot| {
            // A job deleted here stays deleted whatever a claim racing the DELETE wrote: the store's
            // tombstone follows.
            if revision <= snapshot.event_id >> 32 || (self.is_cancelled() && !status.is_tombstone()) {
                return false;
            }
            if status.is_tombstone() {
                self.cancelled.store(true, Ordering::Release);
            }
            if snapshot.status.name() != status.name() {
                self.gauges.left(snapshot.status.name());
                self.gauges.entered(status.name());
            }
            if matches!(status, JobStatus::Scanning { .. }) && !matches!(snapshot.status, JobStatus::Scanning { .. }) {
                *self.scan_clock.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
            }
            snapshot.status = status;
            snapshot.event_id = revision << 32;
            applied = true;
            true
        });
        applied
    }

    /// Progress another replica published under `event_id`: shown if it belongs to the scan this job
    /// shows (the same revision) and is newer than what it shows.
    pub fn apply_progress(&self, view: ProgressView, event_id: u64) -> bool {
        self.state.send_if_modified(|snapshot| {
            let JobStatus::Scanning { progress } = &mut snapshot.status else {
                return false;
            };
            if event_id >> 32 != snapshot.event_id >> 32 || event_id <= snapshot.event_id {
                return false;
            }
            *progress = Some(view);
            snapshot.event_id = event_id;
            true
        })
    }

    /// Whether `token` is one of this job's, compared in constant time against every stored hash.
    pub fn authorize(&self, token: &str) -> bool {
        let presented = hash_token(token);
        let tokens = self.tokens.lock().unwrap_or_else(|p| p.into_inner());
        tokens
            .iter()
            .fold(subtle::Choice::from(0u8), |found, stored| {
                found | stored.ct_eq(&presented)
            })
            .into()
    }

    pub fn snapshot(&self) -> Snapshot {
        self.state.borrow().clone()
    }

    pub fn status(&self) -> JobStatus {
        self.state.borrow().status.clone()
    }

    pub fn subscribe(&self) -> watch::Receiver<Snapshot> {
        self.state.subscribe()
    }

    /// Moves to `status` under a new event id (unless it is the current status already).
    pub fn set_status(&self, status: JobStatus) {
        let boot = self.boot;
        self.state.send_if_modified(|snapshot| {
            if snapshot.status == status {
                return false;
            }
            self.move_to(snapshot, status, boot);
            true
        });
    }

    /// One transition, under the channel's lock: a new event id, and the state gauges move with the
    /// state, one transition at a time.
    fn move_to(&self, snapshot: &mut Snapshot, status: JobStatus, boot: u64) {
        // In a fleet the store numbers state changes (`apply_stored`): one made here is shown at once
        // but announced under the store's revision.
        if !self.fleet {
            snapshot.event_id = next_id(snapshot.event_id, boot);
        }
        if snapshot.status.name() != status.name() {
            self.gauges.left(snapshot.status.name());
            self.gauges.entered(status.name());
        }
        snapshot.status = status;
    }

    /// Moves a live job on (queued again, scanning, ready, failed), unless it was deleted: a DELETE always
    /// wins over a pass that finishes at the same moment. The check and the change are one step under
    /// the state's lock, and `delete` cancels before it marks the job deleted, so whichever comes second
    /// sees the other. Returns whether the job moved.
    pub fn advance(&self, status: JobStatus) -> bool {
        let boot = self.boot;
        let mut moved = false;
        self.state.send_if_modified(|snapshot| {
            if self.cancelled.load(Ordering::Acquire) || snapshot.status.is_tombstone() {
                return false;
            }
            moved = true;
            if snapshot.status == status {
                return false;
            }
            self.move_to(snapshot, status, boot);
            true
        });
        moved
    }

    /// Starts a scan: progress from zero, the ETA clock from now. `false` if the job was deleted.
    pub fn start_scan(&self) -> bool {
        *self.scan_clock.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
        self.advance(JobStatus::Scanning { progress: None })
    }

    /// Publishes scan progress if it moves forward (strictly more outputs, or the first report); callable
    /// from scan threads.
    pub fn publish_progress(&self, p: Progress) {
        let started = *self.scan_clock.lock().unwrap_or_else(|p| p.into_inner());
        let eta_seconds = started.and_then(|t| {
            let elapsed = t.elapsed().as_secs_f64();
            (p.outputs_done > 0 && elapsed > 0.0).then(|| {
                let rate = p.outputs_done as f64 / elapsed;
                (p.outputs_total.saturating_sub(p.outputs_done) as f64 / rate).ceil() as u64
            })
        });
        let view = ProgressView {
            outputs_done: p.outputs_done,
            outputs_total: p.outputs_total,
            blocks_done: p.blocks_done,
            blocks_total: p.blocks_total,
            height: p.height,
            percent: percent(p.outputs_done, p.outputs_total),
            eta_seconds,
        };
        let boot = self.boot;
        self.state.send_if_modified(|snapshot| {
            let JobStatus::Scanning { progress } = &mut snapshot.status else {
                return false;
            };
            // The scan's start was announced as zero progress: the first report must move past it.
            let forward = match progress {
                None => view.outputs_done > 0,
                Some(last) => {
                    view.outputs_done > last.outputs_done
                        && view.blocks_done >= last.blocks_done
                        && view.height >= last.height
                        && view.outputs_total == last.outputs_total
                }
            };
            if forward {
                *progress = Some(view);
                snapshot.event_id = next_id(snapshot.event_id, boot);
            }
            forward
        });
    }

    /// Holds the file in memory; `None` drops it.
    pub fn set_artifact(&self, artifact: Option<Arc<Artifact>>) {
        *self.artifact.lock().unwrap_or_else(|p| p.into_inner()) = artifact;
    }

    pub fn artifact(&self) -> Option<Arc<Artifact>> {
        self.artifact.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Marks the job deleted for a running scan to drop it.
    pub fn cancel(&self) {
        // Under the state's lock, so an `advance` in progress finishes before and one after sees it.
        self.state.send_if_modified(|_| {
            self.cancelled.store(true, Ordering::Release);
            false
        });
    }

    pub fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Acquire)
    }

    /// Counts one more event stream if fewer than `max` are open.
    pub fn try_subscribe(self: &Arc<Self>, max: usize) -> Option<SubscriberGuard> {
        self.subscribers
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < max).then_some(n + 1))
            .ok()
            .map(|_| SubscriberGuard { job: self.clone() })
    }
}

impl Drop for Job {
    fn drop(&mut self) {
        self.gauges.left(self.state.borrow().status.name());
    }
}

fn next_id(current: u64, boot: u64) -> u64 {
    (current + 1).max(boot << 32 | 1)
}

/// One open event stream of a job; uncounted when dropped.
pub struct SubscriberGuard {
    job: Arc<Job>,
}

impl Drop for SubscriberGuard {
    fn drop(&mut self) {
        self.job.subscribers.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job() -> Arc<Job> {
        counted_job(JobGauges::default())
    }

    fn counted_job(gauges: JobGauges) -> Arc<Job> {
        Arc::new(Job::new(
            "j".into(),
            0,
            0,
            3,
            vec![hash_token("right")],
            JobStatus::Queued { position: 1 },
            gauges,
        ))
    }

    /// The state gauges follow every transition (not progress or renumbering within a state) and let go
    /// of a dropped job.
    #[test]
    fn a_job_moves_its_state_gauge() {
        let gauges = JobGauges::default();
        let counts = |g: &JobGauges| ["queued", "scanning", "ready"].map(|s| g.count(s));
        let job = counted_job(gauges.clone());
        let other = counted_job(gauges.clone());
        assert_eq!(counts(&gauges), [2, 0, 0]);
        job.set_status(JobStatus::Queued { position: 2 });
        assert_eq!(counts(&gauges), [2, 0, 0], "a new position is no new state");
        job.start_scan();
        job.publish_progress(progress(10, 1));
        assert_eq!(counts(&gauges), [1, 1, 0]);
        job.set_status(JobStatus::Ready {
            size: 1,
            sha256: String::new(),
            expires_ms: 0,
            stale: false,
            tip_height: None,
        });
        assert_eq!(counts(&gauges), [1, 0, 1]);
        drop(job);
        assert_eq!(counts(&gauges), [1, 0, 0]);
        drop(other);
        assert_eq!(counts(&gauges), [0, 0, 0]);
    }

    fn progress(done: u64, height: u64) -> Progress {
        Progress {
            outputs_done: done,
            outputs_total: 100,
            blocks_done: height,
            blocks_total: 10,
            height,
        }
    }

    #[test]
    fn tokens_are_checked_against_their_hashes() {
        let job = job();
        assert!(job.authorize("right"));
        assert!(!job.authorize("wrong"));
        let two = Job::new(
            "j2".into(),
            0,
            0,
            3,
            vec![hash_token("right"), hash_token("second")],
            JobStatus::Queued { position: 1 },
            JobGauges::default(),
        );
        assert!(two.authorize("second") && two.authorize("right") && !two.authorize("third"));
    }

    #[test]
    fn progress_only_moves_forward_and_ids_grow() {
        let job = job();
        let first = job.snapshot().event_id;
        assert_eq!(first >> 32, 3);
        job.start_scan();
        job.publish_progress(progress(10, 1));
        let at_ten = job.snapshot();
        job.publish_progress(progress(5, 1));
        job.publish_progress(progress(10, 1));
        assert_eq!(job.snapshot(), at_ten, "no step back, no repeat");
        job.publish_progress(progress(50, 5));
        let JobStatus::Scanning { progress: Some(p) } = job.status() else {
            panic!()
        };
        assert_eq!((p.outputs_done, p.percent), (50, 50.0));
        assert!(job.snapshot().event_id > at_ten.event_id && at_ten.event_id > first);
    }

    #[test]
    fn subscribers_are_bounded() {
        let job = job();
        let a = job.try_subscribe(2).unwrap();
        let _b = job.try_subscribe(2).unwrap();
        assert!(job.try_subscribe(2).is_none());
        drop(a);
        assert!(job.try_subscribe(2).is_some());
    }

    #[test]
    fn job_ids_are_plausible_and_others_are_not() {
        assert!(plausible_job_id(&new_job_id(Some("r1"))));
        assert_eq!(new_job_id(None).len(), 32);
        assert!(!plausible_job_id("../etc"));
        assert!(!plausible_job_id(""));
        assert!(!plausible_job_id(&"a".repeat(200)));
    }
}
