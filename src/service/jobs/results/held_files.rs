//! Held files: which finished files stay in memory, within `max_held_bytes`. A file whose sealed copy is
//! on disk (`sealed_files`) may be let go at any time, since the job's own token reopens it at its next
//! download; so when a new file would pass the bound, the least recently used ones go, and a file larger
//! than the whole bound is never held. A file that could not be written to disk is kept whatever it costs
//! (it exists nowhere else), and counted. Owns the accounting only; the file itself hangs on its `Job`.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use crate::service::{jobs::job::Job, jobs::results::artifact::Artifact};

struct Held {
    job: Arc<Job>,
    bytes: u64,
    /// Only in memory: never let go.
    pinned: bool,
    used: u64,
}

#[derive(Default)]
struct Table {
    files: HashMap<String, Held>,
    bytes: u64,
    uses: u64,
}

pub struct HeldFiles {
    max_bytes: u64,
    table: Mutex<Table>,
}

impl HeldFiles {
    pub fn new(max_bytes: u64) -> HeldFiles {
        HeldFiles {
            max_bytes,
            table: Mutex::new(Table::default()),
        }
    }

    fn table(&self) -> std::sync::MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Holds `artifact` on `job` if the bound allows (letting go of the least recently used files whose
    /// copies are on disk), or always when it is not `on_disk`. Returns whether it is held.
    pub fn hold(&self, job: &Arc<Job>, artifact: Arc<Artifact>, on_disk: bool) -> bool {
        let bytes = artifact.zstd_len;
        let mut table = self.table();
        if let Some(old) = table.files.remove(&job.id) {
            table.bytes -= old.bytes;
        }
        if on_disk && bytes > self.max_bytes {
            job.set_artifact(None);
            return false;
        }
        while on_disk && table.bytes + bytes > self.max_bytes {
            let Some(oldest) = table
                .files
                .iter()
                .filter(|(_, held)| !held.pinned)
                .min_by_key(|(_, held)| held.used)
                .map(|(id, _)| id.clone())
            else {
                break;
            };
            let gone = table.files.remove(&oldest).expect("just found");
            table.bytes -= gone.bytes;
            gone.job.set_artifact(None);
        }
        if on_disk && table.bytes + bytes > self.max_bytes {
            // Only pinned files are left, and they fill the bound: this one is read from disk when asked.
            job.set_artifact(None);
            return false;
        }
        table.uses += 1;
        let used = table.uses;
        table.bytes += bytes;
        table.files.insert(
            job.id.clone(),
            Held {
                job: job.clone(),
                bytes,
                pinned: !on_disk,
                used,
            },
        );
        job.set_artifact(Some(artifact));
        true
    }

    /// A download read `job_id`'s file: it is the most recently used.
    pub fn touch(&self, job_id: &str) {
        let mut table = self.table();
        table.uses += 1;
        let used = table.uses;
        if let Some(held) = table.files.get_mut(job_id) {
            held.used = used;
        }
    }

    /// Lets go of `job`'s file (deleted, expired, lost).
    pub fn release(&self, job: &Job) {
        job.set_artifact(None);
        let mut table = self.table();
        if let Some(held) = table.files.remove(&job.id) {
            table.bytes -= held.bytes;
        }
    }

    /// Bytes held in memory now.
    pub fn bytes(&self) -> u64 {
        self.table().bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::{jobs::job::JobStatus, metrics::JobGauges};

    fn job(id: &str) -> Arc<Job> {
        Arc::new(Job::new(
            id.into(),
            0,
            0,
            1,
            Vec::new(),
            JobStatus::Queued { position: 0 },
            JobGauges::default(),
        ))
    }

    fn file(len: usize) -> Arc<Artifact> {
        use rand::{RngCore, SeedableRng};
        let mut raw = vec![0u8; len];
        rand::rngs::StdRng::seed_from_u64(len as u64).fill_bytes(&mut raw);
        Arc::new(Artifact::compress(&raw, 1).unwrap())
    }

    #[test]
    fn the_least_recently_used_go_first_and_the_bound_holds() {
        let size = file(10_000).zstd_len;
        let held = HeldFiles::new(size * 3);
        let jobs: Vec<Arc<Job>> = (0..4).map(|i| job(&format!("j{i}"))).collect();
        for job in &jobs[..3] {
            assert!(held.hold(job, file(10_000), true));
        }
        held.touch("j0");
        assert!(held.hold(&jobs[3], file(10_000), true));
        assert_eq!(held.bytes(), size * 3);
        let in_memory: Vec<bool> = jobs.iter().map(|j| j.artifact().is_some()).collect();
        assert_eq!(in_memory, [true, false, true, true], "j1 was the least recently used");
        held.release(&jobs[0]);
        assert!(jobs[0].artifact().is_none());
        assert_eq!(held.bytes(), size * 2);
    }

    #[test]
    fn a_file_larger_than_the_bound_is_read_from_disk_and_one_only_in_memory_is_kept() {
        let big = file(50_000);
        let held = HeldFiles::new(big.zstd_len - 1);
        let a = job("a");
        assert!(!held.hold(&a, big.clone(), true));
        assert!(a.artifact().is_none());
        assert_eq!(held.bytes(), 0);
        // Not on disk: it exists nowhere else, so it is kept past the bound, and never let go for others.
        assert!(held.hold(&a, big.clone(), false));
        let b = job("b");
        assert!(!held.hold(&b, file(10_000), true));
        assert!(a.artifact().is_some());
        assert_eq!(held.bytes(), big.zstd_len);
    }
}
