//! Fair queue: the jobs waiting for a scan, in the order passes take them. A job costs output-keys (the
//! outputs from its birthday to the tip, each tested against its key), and clients are served by
//! start-time fair queuing over that cost: each job gets a start tag `max(virtual time, the finish tag of
//! its client's previous job)` and a finish tag `start + cost`; passes take jobs by start tag, and among
//! equal start tags (one round) the clients with fewer jobs waiting first. So a client that floods the
//! queue with genesis wallets waits behind its own jobs, while a newcomer's job starts at the current
//! virtual time and heads its round. Owns only the ordering and the per-pass selection; what a job costs,
//! who its client is and what the bounds are come from the caller. Pure data: no clock, no I/O.

use std::{
    collections::{BTreeMap, HashMap},
    net::IpAddr,
    sync::Arc,
};

use crate::service::jobs::job::Job;

/// Whose turn a job waits for: a client (its address bucket), a client as every replica of a fleet knows
/// it (the keyed fingerprint of its bucket, stored with the job: the store keeps no address), or every job
/// reloaded after a single replica's restart (their clients are not stored).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Lane {
    Client(IpAddr),
    Fingerprint([u8; 16]),
    Recovered,
}

/// A job's place: start tag, then arrival.
type Place = (u128, u64);

/// A job in the queue, or taken from it for a pass (and given back as it was if the pass cannot run it).
#[derive(Clone)]
pub struct Queued {
    pub job: Arc<Job>,
    pub lane: Lane,
    /// Output-keys when it was queued.
    pub cost: u64,
    place: Place,
}

/// What one pass may take.
#[derive(Debug, Clone, Copy)]
pub struct PassBounds {
    /// Keys (jobs) in one pass.
    pub max_jobs: usize,
    /// Output-keys in one pass; the first job is taken whatever it costs.
    pub max_output_keys: u64,
}

#[derive(Default)]
pub struct FairQueue {
    entries: BTreeMap<Place, Queued>,
    /// Each lane's last finish tag, while it can still matter (it is above the virtual time).
    finish: HashMap<Lane, u128>,
    virtual_time: u128,
    arrivals: u64,
}

impl FairQueue {
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Queues `job` for `lane` at `cost` output-keys (at least 1: a job always moves its lane on).
    pub fn push(&mut self, job: Arc<Job>, lane: Lane, cost: u64) {
        let start = self.virtual_time.max(self.finish.get(&lane).copied().unwrap_or(0));
        self.finish.insert(lane, start + u128::from(cost.max(1)));
        self.arrivals += 1;
        let place = (start, self.arrivals);
        self.entries.insert(place, Queued { job, lane, cost, place });
    }

    /// Puts taken jobs back where they were (a pass that could not run, a retry): ahead of what arrived
    /// since, as they were.
    pub fn restore(&mut self, taken: Vec<Queued>) {
        for queued in taken {
            self.entries.insert(queued.place, queued);
        }
    }

    /// Whether `job` waits in the queue.
    pub fn contains(&self, job: &Arc<Job>) -> bool {
        self.entries.values().any(|q| Arc::ptr_eq(&q.job, job))
    }

    /// Removes `job` (deleted while queued).
    pub fn remove(&mut self, job: &Arc<Job>) -> bool {
        let place = self
            .entries
            .iter()
            .find(|(_, q)| Arc::ptr_eq(&q.job, job))
            .map(|(place, _)| *place);
        place.is_some_and(|place| self.entries.remove(&place).is_some())
    }

    /// Takes the jobs of the next pass: in queue order, each that fits within `bounds` (`cost_now`
    /// prices a job against the pass's own snapshot), skipping one that does not fit so cheaper jobs
    /// behind it still go; the first is taken whatever it costs, so a skipped job heads the next pass.
    pub fn take_pass(&mut self, bounds: PassBounds, mut cost_now: impl FnMut(&Job) -> u64) -> Vec<Queued> {
        let mut taken: Vec<Place> = Vec::new();
        let mut total: u64 = 0;
        for queued in self.in_order() {
            let place = &queued.place;
            if taken.len() >= bounds.max_jobs.max(1) {
                break;
            }
            let cost = cost_now(&queued.job);
            if taken.is_empty() || total.saturating_add(cost) <= bounds.max_output_keys {
                total = total.saturating_add(cost);
                taken.push(*place);
            }
        }
        let taken: Vec<Queued> = taken.iter().filter_map(|place| self.entries.remove(place)).collect();
        if let Some(latest) = taken.iter().map(|q| q.place.0).max() {
            self.virtual_time = self.virtual_time.max(latest);
        }
        // A lane whose last finish is behind the virtual time starts at the virtual time anyway.
        let now = self.virtual_time;
        self.finish.retain(|_, finish| *finish > now);
        taken
    }

    /// The queued jobs in the order passes will take them (ignoring the per-pass cost bound): by start
    /// tag, then, within a round, the client with fewer jobs waiting first, then by arrival.
    pub fn in_order(&self) -> Vec<&Queued> {
        let mut waiting: HashMap<Lane, usize> = HashMap::new();
        for queued in self.entries.values() {
            *waiting.entry(queued.lane).or_insert(0) += 1;
        }
        let mut order: Vec<&Queued> = self.entries.values().collect();
        order.sort_by_key(|q| (q.place.0, waiting[&q.lane], q.place.1));
        order
    }

    /// Jobs `lane` has queued.
    pub fn queued_by(&self, lane: Lane) -> usize {
        self.entries.values().filter(|q| q.lane == lane).count()
    }

    /// Output-keys the coming passes scan up to the end of the one that takes `lane`'s first job (all
    /// queued, if it has none), the passes composed as `take_pass` composes them at today's prices: what a
    /// client waits for until one of its queued jobs is done.
    pub fn work_until_done(&self, lane: Lane, bounds: PassBounds) -> u64 {
        let mut left: Vec<&Queued> = self.in_order();
        let mut work: u64 = 0;
        while !left.is_empty() {
            let (mut taken, mut total, mut count) = (Vec::new(), 0u64, 0usize);
            for (index, queued) in left.iter().enumerate() {
                if count >= bounds.max_jobs.max(1) {
                    break;
                }
                if count == 0 || total.saturating_add(queued.cost) <= bounds.max_output_keys {
                    total = total.saturating_add(queued.cost);
                    count += 1;
                    taken.push(index);
                }
            }
            work = work.saturating_add(total);
            if taken.iter().any(|&index| left[index].lane == lane) {
                return work;
            }
            for index in taken.into_iter().rev() {
                left.remove(index);
            }
        }
        work
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::{
        jobs::job::{Job, JobStatus},
        metrics::JobGauges,
    };

    fn job(id: &str, birthday: u64) -> Arc<Job> {
        Arc::new(Job::new(
            id.into(),
            birthday,
            0,
            1,
            Vec::new(),
            JobStatus::Queued { position: 0 },
            JobGauges::default(),
        ))
    }

    fn client(n: u8) -> Lane {
        Lane::Client(IpAddr::from([203, 0, 113, n]))
    }

    fn ids(taken: &[Queued]) -> Vec<String> {
        taken.iter().map(|q| q.job.id.clone()).collect()
    }

    const ALL: PassBounds = PassBounds {
        max_jobs: 64,
        max_output_keys: u64::MAX,
    };

    #[test]
    fn a_newcomer_goes_ahead_of_a_flood() {
        let mut queue = FairQueue::default();
        for i in 0..8 {
            queue.push(job(&format!("flood-{i}"), 0), client(1), 100_000);
        }
        queue.push(job("newcomer", 0), client(2), 100_000);
        let order: Vec<&str> = queue.in_order().iter().map(|q| q.job.id.as_str()).collect();
        assert_eq!(order[..2], ["newcomer", "flood-0"], "{order:?}");
        let first = queue.take_pass(
            PassBounds {
                max_jobs: 64,
                max_output_keys: 200_000,
            },
            |_| 100_000,
        );
        assert_eq!(ids(&first), ["newcomer", "flood-0"]);
    }

    #[test]
    fn within_a_round_the_client_with_fewer_jobs_waiting_goes_first() {
        let mut queue = FairQueue::default();
        // Sixteen flooders' first jobs arrived together (one round); then a newcomer, in the same round.
        for flooder in 0..16 {
            for i in 0..8 {
                queue.push(job(&format!("f{flooder}-{i}"), 0), client(flooder), 100);
            }
        }
        queue.push(job("newcomer", 0), client(99), 100);
        assert_eq!(queue.in_order()[0].job.id, "newcomer");
        // Once the newcomer's job is taken, the round goes on in arrival order.
        queue.take_pass(
            PassBounds {
                max_jobs: 1,
                max_output_keys: u64::MAX,
            },
            |_| 100,
        );
        let heads: Vec<String> = queue.in_order()[..3].iter().map(|q| q.job.id.clone()).collect();
        assert_eq!(heads, ["f0-0", "f1-0", "f2-0"]);
    }

    #[test]
    fn clients_share_passes_by_cost_not_by_job_count() {
        let mut queue = FairQueue::default();
        // A genesis wallet costs as much as ten young ones: the young client gets ten turns to its one.
        for i in 0..3 {
            queue.push(job(&format!("old-{i}"), 0), client(1), 1000);
        }
        for i in 0..20 {
            queue.push(job(&format!("young-{i}"), 0), client(2), 100);
        }
        let order: Vec<String> = queue.in_order().iter().map(|q| q.job.id.clone()).collect();
        let old_1 = order.iter().position(|id| id == "old-1").unwrap();
        assert_eq!(old_1, 11, "old-0, then ten young ones, then old-1: {order:?}");
    }

    #[test]
    fn a_pass_is_bounded_by_output_keys_and_skips_what_does_not_fit() {
        let mut queue = FairQueue::default();
        queue.push(job("a", 0), client(1), 500);
        queue.push(job("big", 0), client(2), 900);
        queue.push(job("c", 0), client(3), 400);
        let bounds = PassBounds {
            max_jobs: 64,
            max_output_keys: 1000,
        };
        let pass = queue.take_pass(bounds, |j| if j.id == "big" { 900 } else { 450 });
        assert_eq!(ids(&pass), ["a", "c"], "the big one does not fit beside a");
        // It heads the next pass, whatever it costs.
        let next = queue.take_pass(
            PassBounds {
                max_jobs: 64,
                max_output_keys: 1,
            },
            |_| 900,
        );
        assert_eq!(ids(&next), ["big"]);
        assert!(queue.is_empty());
    }

    #[test]
    fn the_key_bound_holds_and_restored_jobs_keep_their_place() {
        let mut queue = FairQueue::default();
        for i in 0..5 {
            queue.push(job(&format!("j{i}"), 0), client(i), 10);
        }
        let bounds = PassBounds {
            max_jobs: 2,
            max_output_keys: u64::MAX,
        };
        let pass = queue.take_pass(bounds, |_| 10);
        assert_eq!(ids(&pass), ["j0", "j1"]);
        queue.push(job("late", 0), client(9), 10);
        queue.restore(pass);
        let order: Vec<String> = queue.in_order().iter().map(|q| q.job.id.clone()).collect();
        assert_eq!(order, ["j0", "j1", "j2", "j3", "j4", "late"]);
    }

    #[test]
    fn removal_counts_and_cost_ahead() {
        let mut queue = FairQueue::default();
        let a = job("a", 0);
        queue.push(a.clone(), client(1), 10);
        queue.push(job("b", 0), client(1), 10);
        queue.push(job("c", 0), client(2), 7);
        assert_eq!(queue.queued_by(client(1)), 2);
        // a and c share the first round (c's client has fewer jobs waiting); one job per pass here.
        let one = PassBounds {
            max_jobs: 1,
            max_output_keys: u64::MAX,
        };
        assert_eq!(queue.work_until_done(client(2), one), 7, "c's pass");
        assert_eq!(queue.work_until_done(client(1), one), 17, "c's, then a's");
        assert_eq!(queue.work_until_done(client(3), one), 27, "all");
        // Passes of up to 20 output-keys: c and a share the first, so a is done with it.
        let twenty = PassBounds {
            max_jobs: 64,
            max_output_keys: 20,
        };
        assert_eq!(queue.work_until_done(client(1), twenty), 17);
        assert!(queue.remove(&a));
        assert!(!queue.remove(&a));
        assert_eq!(queue.queued_by(client(1)), 1);
        assert_eq!(queue.take_pass(ALL, |_| 1).len(), 2);
        assert!(queue.finish.is_empty() || queue.finish.values().all(|f| *f > queue.virtual_time));
    }

    #[test]
    fn a_returning_client_starts_at_the_virtual_time_not_its_old_credit() {
        let mut queue = FairQueue::default();
        queue.push(job("a", 0), client(1), 10);
        queue.take_pass(ALL, |_| 10);
        // Client 2 was busy alone for a long while; client 1 comes back: no credit for its idle time.
        for i in 0..5 {
            queue.push(job(&format!("b{i}"), 0), client(2), 1000);
            queue.take_pass(ALL, |_| 1000);
        }
        queue.push(job("b5", 0), client(2), 1000);
        queue.push(job("b6", 0), client(2), 1000);
        queue.push(job("a2", 0), client(1), 1000);
        queue.push(job("a3", 0), client(1), 1000);
        let order: Vec<String> = queue.in_order().iter().map(|q| q.job.id.clone()).collect();
        // It starts at the job in service (b4's start), so it alternates with client 2 from there.
        assert_eq!(order, ["a2", "b5", "a3", "b6"]);
    }
}
