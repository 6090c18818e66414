//! Event tickets: short-lived, single-use stand-ins for a job's bearer token on `GET .../events`, because
//! a browser's `EventSource` cannot send an `Authorization` header. A ticket is 32 random bytes (hex) that
//! only the job's token holder can obtain (`POST .../events-ticket`), for a job a browser can still
//! follow (`check_live`), held here in memory as its SHA-256 only, until it is used once, expires, or is
//! replaced by newer tickets of the same job. Not persisted: a restart voids them, and the page asks for a
//! new one at its next (re)connect anyway.
//!
//! Bounded per job and in all, so a flood degrades only the flooder's own job: each job keeps its
//! `MAX_OUTSTANDING` newest tickets (the oldest is replaced by a new one) and remembers its last
//! `MAX_GONE` used, expired or replaced ones so a page is told why (`TICKET_USED`, ...), not just
//! `INVALID_TICKET`; the jobs with tickets live in a table of the service's `max_jobs_held` entries
//! that forgets its least recently touched job when full. Every operation is O(1) in the table's size;
//! the sweep forgets jobs from the quiet end only.

use std::{
    collections::{VecDeque, hash_map::RandomState},
    sync::Mutex,
    time::{Duration, Instant},
};

use hashlink::LinkedHashMap;
use sha2::{Digest, Sha256};

use crate::service::{error::ApiError, jobs::job::JobStatus};

/// Tickets of one job waiting for their use: a page needs one per (re)connect, and asks for it just
/// before connecting; a few cover a reconnect racing the previous attempt.
const MAX_OUTSTANDING: usize = 4;
/// Gone tickets of one job still recognised, so a page reusing one learns why it is refused.
const MAX_GONE: usize = 8;
/// How long after its last ticket was issued or used a job's gone tickets are still recognised.
const REMEMBERED_FOR: Duration = Duration::from_secs(600);

type TicketDigest = [u8; 32];

/// Why a ticket no longer opens its stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Gone {
    Used,
    Expired,
    Replaced,
}

impl Gone {
    fn error(self) -> ApiError {
        match self {
            Gone::Used => ApiError::TicketUsed,
            Gone::Expired => ApiError::TicketExpired,
            Gone::Replaced => ApiError::TicketReplaced,
        }
    }
}

/// One job's tickets: the outstanding ones, oldest first, and the last few gone.
struct JobTickets {
    outstanding: VecDeque<(TicketDigest, Instant)>,
    gone: VecDeque<(TicketDigest, Gone)>,
    /// Last issue or use: the table's order, and when the sweep may forget the job.
    touched: Instant,
}

impl JobTickets {
    fn retire(&mut self, digest: TicketDigest, why: Gone) {
        if self.gone.len() == MAX_GONE {
            self.gone.pop_front();
        }
        self.gone.push_back((digest, why));
    }
}

pub(in crate::service) struct Tickets {
    ttl: Duration,
    /// Jobs with tickets, least recently touched first.
    jobs: Mutex<LinkedHashMap<String, JobTickets, RandomState>>,
    max_jobs: usize,
}

impl Tickets {
    /// Tickets valid for `ttl`, for up to `max_jobs` jobs at once (the service's `max_jobs_held`: every
    /// job that can have tickets fits, so only gone jobs are ever forgotten to make room).
    pub(in crate::service) fn new(ttl: Duration, max_jobs: usize) -> Tickets {
        Tickets {
            ttl,
            jobs: Mutex::new(LinkedHashMap::with_hasher(RandomState::new())),
            max_jobs: max_jobs.max(1),
        }
    }

    pub(in crate::service) fn ttl(&self) -> Duration {
        self.ttl
    }

    fn jobs(&self) -> std::sync::MutexGuard<'_, LinkedHashMap<String, JobTickets, RandomState>> {
        self.jobs.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A new ticket for the job `job_id` (the caller has checked the token and that the job is live).
    pub(in crate::service) fn issue(&self, job_id: &str) -> String {
        let now = Instant::now();
        let ticket = hex::encode(rand::random::<[u8; 32]>());
        let mut jobs = self.jobs();
        if !jobs.contains_key(job_id) && jobs.len() >= self.max_jobs {
            jobs.pop_front();
        }
        let entry = jobs.entry(job_id.to_string()).or_insert_with(|| JobTickets {
            outstanding: VecDeque::with_capacity(MAX_OUTSTANDING),
            gone: VecDeque::new(),
            touched: now,
        });
        if entry.outstanding.len() == MAX_OUTSTANDING
            && let Some((oldest, expires)) = entry.outstanding.pop_front()
        {
            let why = if expires <= now { Gone::Expired } else { Gone::Replaced };
            entry.retire(oldest, why);
        }
        entry.outstanding.push_back((digest(&ticket), now + self.ttl));
        entry.touched = now;
        jobs.to_back(job_id);
        ticket
    }

    /// Uses `ticket` for the job `job_id`: once, before it expires, while it is among the job's newest.
    /// A ticket of another job, or one never issued (or forgotten), is `INVALID_TICKET`.
    pub(in crate::service) fn redeem(&self, job_id: &str, ticket: &str) -> Result<(), ApiError> {
        let now = Instant::now();
        let wanted = digest(ticket);
        let mut jobs = self.jobs();
        let entry = jobs.get_mut(job_id).ok_or(ApiError::InvalidTicket)?;
        if let Some(index) = entry.outstanding.iter().position(|(d, _)| *d == wanted) {
            let (_, expires) = entry.outstanding.remove(index).expect("found at index");
            let why = if expires <= now { Gone::Expired } else { Gone::Used };
            entry.retire(wanted, why);
            entry.touched = now;
            jobs.to_back(job_id);
            return match why {
                Gone::Used => Ok(()),
                other => Err(other.error()),
            };
        }
        match entry.gone.iter().find(|(d, _)| *d == wanted) {
            Some((_, why)) => Err(why.error()),
            None => Err(ApiError::InvalidTicket),
        }
    }

    /// Forgets the tickets of a job that can no longer be followed.
    pub(in crate::service) fn forget_job(&self, job_id: &str) {
        self.jobs().remove(job_id);
    }

    /// Forgets jobs whose tickets are all past recognition (the job domain's sweep). The table is in order of
    /// last touch, so this stops at the first job still remembered.
    pub(in crate::service) fn forget_old(&self) {
        let now = Instant::now();
        let mut jobs = self.jobs();
        while let Some((_, entry)) = jobs.front() {
            if entry.touched + self.ttl + REMEMBERED_FOR > now {
                break;
            }
            jobs.pop_front();
        }
    }

    /// Jobs with tickets now.
    #[cfg(test)]
    fn jobs_held(&self) -> usize {
        self.jobs().len()
    }
}

/// Whether a browser may still follow a job's events with a ticket, at `now_ms`: while it waits or
/// scans, and while its result (ready or failed) is kept, since a page that lost its stream must still
/// learn how the job ended. A deleted or expired job (a result past its time, swept or not) has nothing
/// left to follow.
pub(in crate::service) fn check_live(status: &JobStatus, now_ms: u64) -> Result<(), ApiError> {
    match status {
        JobStatus::Queued { .. } | JobStatus::Scanning { .. } => Ok(()),
        JobStatus::Ready { expires_ms, .. } | JobStatus::Failed { expires_ms, .. } if *expires_ms > now_ms => Ok(()),
        JobStatus::Deleted => Err(ApiError::JobDeleted),
        JobStatus::Ready { .. } | JobStatus::Failed { .. } | JobStatus::Expired => Err(ApiError::ResultExpired),
    }
}

/// What is kept of a ticket: its SHA-256 (tickets are 256 random bits, so a plain hash suffices).
fn digest(ticket: &str) -> TicketDigest {
    Sha256::digest(ticket.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ticket_opens_its_job_once() {
        let tickets = Tickets::new(Duration::from_secs(60), 10);
        let ticket = tickets.issue("job-a");
        assert_eq!(ticket.len(), 64);
        assert_eq!(tickets.redeem("job-b", &ticket), Err(ApiError::InvalidTicket));
        assert_eq!(tickets.redeem("job-a", &ticket), Ok(()));
        assert_eq!(tickets.redeem("job-a", &ticket), Err(ApiError::TicketUsed));
        assert_eq!(tickets.redeem("job-a", "00"), Err(ApiError::InvalidTicket));
        assert_ne!(tickets.issue("job-a"), ticket, "tickets are random");
    }

    #[test]
    fn an_expired_ticket_is_refused_as_expired() {
        let tickets = Tickets::new(Duration::from_millis(1), 10);
        let ticket = tickets.issue("job-a");
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(tickets.redeem("job-a", &ticket), Err(ApiError::TicketExpired));
        tickets.forget_old();
        assert_eq!(
            tickets.redeem("job-a", &ticket),
            Err(ApiError::TicketExpired),
            "still recognised"
        );
    }

    #[test]
    fn a_job_keeps_its_newest_tickets_and_says_why_older_ones_are_gone() {
        let tickets = Tickets::new(Duration::from_secs(60), 10);
        let issued: Vec<String> = (0..MAX_OUTSTANDING + 2).map(|_| tickets.issue("job-a")).collect();
        // The two oldest were replaced by newer ones; the newest four still open the stream, once.
        for old in &issued[..2] {
            assert_eq!(tickets.redeem("job-a", old), Err(ApiError::TicketReplaced));
        }
        for new in &issued[2..] {
            assert_eq!(tickets.redeem("job-a", new), Ok(()));
        }
        // Past the remembered few, a gone ticket is merely unknown.
        for _ in 0..MAX_GONE {
            let ticket = tickets.issue("job-a");
            tickets.redeem("job-a", &ticket).unwrap();
        }
        assert_eq!(tickets.redeem("job-a", &issued[0]), Err(ApiError::InvalidTicket));
    }

    #[test]
    fn a_flood_on_one_job_leaves_every_other_jobs_tickets_alone() {
        let tickets = Tickets::new(Duration::from_secs(60), 100);
        let theirs = tickets.issue("job-b");
        for _ in 0..100_000 {
            tickets.issue("job-a");
        }
        assert_eq!(tickets.jobs_held(), 2);
        assert_eq!(tickets.redeem("job-b", &theirs), Ok(()));
        let again = tickets.issue("job-b");
        assert_eq!(tickets.redeem("job-b", &again), Ok(()));
    }

    #[test]
    fn a_full_table_forgets_the_job_touched_longest_ago() {
        let tickets = Tickets::new(Duration::from_secs(60), 2);
        let a = tickets.issue("job-a");
        let b = tickets.issue("job-b");
        tickets.issue("job-a");
        // job-b is the quietest: job-c takes its place.
        let c = tickets.issue("job-c");
        assert_eq!(tickets.jobs_held(), 2);
        assert_eq!(tickets.redeem("job-b", &b), Err(ApiError::InvalidTicket));
        assert_eq!(tickets.redeem("job-a", &a), Ok(()));
        assert_eq!(tickets.redeem("job-c", &c), Ok(()));
        tickets.forget_job("job-c");
        assert_eq!(tickets.jobs_held(), 1);
    }

    #[test]
    fn only_jobs_a_browser_can_still_follow_get_tickets() {
        let now = 1_000_000;
        let ready = |expires_ms| JobStatus::Ready {
            size: 1,
            sha256: String::new(),
            expires_ms,
            stale: false,
            tip_height: None,
        };
        let failed = |expires_ms| JobStatus::Failed {
            code: "X".into(),
            message: String::new(),
            expires_ms,
        };
        assert_eq!(check_live(&JobStatus::Queued { position: 1 }, now), Ok(()));
        assert_eq!(check_live(&JobStatus::Scanning { progress: None }, now), Ok(()));
        assert_eq!(check_live(&ready(now + 1), now), Ok(()));
        assert_eq!(check_live(&failed(now + 1), now), Ok(()));
        assert_eq!(check_live(&ready(now), now), Err(ApiError::ResultExpired));
        assert_eq!(check_live(&failed(now - 1), now), Err(ApiError::ResultExpired));
        assert_eq!(check_live(&JobStatus::Expired, now), Err(ApiError::ResultExpired));
        assert_eq!(check_live(&JobStatus::Deleted, now), Err(ApiError::JobDeleted));
    }
}
