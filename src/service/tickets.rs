//! Event tickets: short-lived, single-use stand-ins for a job's bearer token on `GET .../events`, because
//! a browser's `EventSource` cannot send an `Authorization` header. A ticket is 32 random bytes (hex) that
//! only the job's token holder can obtain (`POST .../events-ticket`), held here in memory as its SHA-256
//! only, for one job, until it is used once or expires. Not persisted: a restart voids them, and the page
//! asks for a new one at its next (re)connect anyway.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

use sha2::{Digest, Sha256};

use super::error::ApiError;

/// Tickets held at once, used and expired ones included until forgotten. Each costs about 100 bytes;
/// issuing needs a job's token and counts against the per-client request limit, so this is reached only
/// by very many clients at once, and then a new ticket is refused rather than memory grown.
const MAX_TICKETS: usize = 100_000;
/// How long a used or expired ticket is still recognised, so a page is told `TICKET_USED` or
/// `TICKET_EXPIRED` (and gets a fresh ticket) rather than a bare `INVALID_TICKET`.
const REMEMBERED_FOR: Duration = Duration::from_secs(600);

struct Entry {
    job_id: String,
    expires: Instant,
    used: bool,
}

pub(super) struct Tickets {
    ttl: Duration,
    entries: Mutex<HashMap<[u8; 32], Entry>>,
}

impl Tickets {
    pub(super) fn new(ttl: Duration) -> Tickets {
        Tickets {
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    pub(super) fn ttl(&self) -> Duration {
        self.ttl
    }

    /// A new ticket for the job `job_id` (the caller has checked the token).
    pub(super) fn issue(&self, job_id: &str) -> Result<String, ApiError> {
        let now = Instant::now();
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= MAX_TICKETS {
            entries.retain(|_, e| e.expires + REMEMBERED_FOR > now);
            if entries.len() >= MAX_TICKETS {
                return Err(ApiError::Unavailable("holding too many event tickets"));
            }
        }
        let ticket = hex::encode(rand::random::<[u8; 32]>());
        let entry = Entry {
            job_id: job_id.to_string(),
            expires: now + self.ttl,
            used: false,
        };
        entries.insert(digest(&ticket), entry);
        Ok(ticket)
    }

    /// Uses `ticket` for the job `job_id`: once, before it expires. A ticket of another job, or one never
    /// issued (or forgotten), is `INVALID_TICKET` and stays as it was.
    pub(super) fn redeem(&self, job_id: &str, ticket: &str) -> Result<(), ApiError> {
        let now = Instant::now();
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let entry = entries
            .get_mut(&digest(ticket))
            .filter(|e| e.job_id == job_id && e.expires + REMEMBERED_FOR > now)
            .ok_or(ApiError::InvalidTicket)?;
        if entry.used {
            return Err(ApiError::TicketUsed);
        }
        if entry.expires <= now {
            return Err(ApiError::TicketExpired);
        }
        entry.used = true;
        Ok(())
    }

    /// Forgets tickets past recognition (the engine's sweep).
    pub(super) fn forget_old(&self) {
        let now = Instant::now();
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries.retain(|_, e| e.expires + REMEMBERED_FOR > now);
    }
}

/// What is kept of a ticket: its SHA-256 (tickets are 256 random bits, so a plain hash suffices).
fn digest(ticket: &str) -> [u8; 32] {
    Sha256::digest(ticket.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ticket_opens_its_job_once() {
        let tickets = Tickets::new(Duration::from_secs(60));
        let ticket = tickets.issue("job-a").unwrap();
        assert_eq!(ticket.len(), 64);
        assert_eq!(tickets.redeem("job-b", &ticket), Err(ApiError::InvalidTicket));
        assert_eq!(tickets.redeem("job-a", &ticket), Ok(()));
        assert_eq!(tickets.redeem("job-a", &ticket), Err(ApiError::TicketUsed));
        assert_eq!(tickets.redeem("job-a", "00"), Err(ApiError::InvalidTicket));
        assert_ne!(tickets.issue("job-a").unwrap(), ticket, "tickets are random");
    }

    #[test]
    fn an_expired_ticket_is_refused_as_expired() {
        let tickets = Tickets::new(Duration::from_millis(1));
        let ticket = tickets.issue("job-a").unwrap();
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(tickets.redeem("job-a", &ticket), Err(ApiError::TicketExpired));
        tickets.forget_old();
        assert_eq!(
            tickets.redeem("job-a", &ticket),
            Err(ApiError::TicketExpired),
            "still recognised"
        );
    }
}
