//! Slots: who may hold the service's connections and event streams. Counts open connections in all,
//! per client bucket and per IPv6 aggregate (`requester`), and admits a new one only within every cap:
//!
//! - `max_connections` in all;
//! - `max_connections_per_ip` per client bucket, and that times `ipv6_aggregate_multiple` per aggregate;
//! - headroom: the last quarter of the slots only for clients holding fewer than `FEW` connections, so
//!   a handful of addresses at their caps cannot hold the whole pool: a newcomer still gets in.
//!
//! Trusted proxies carry many clients: only the total applies to them. A `Slot` is a drop guard that
//! gives its counts back and moves the `tws_connections` gauge, so a connection task that ends any way
//! (a panic included) leaves nothing behind. The tables hold only clients with an open connection, so
//! they never exceed `max_connections` entries: nothing to evict, and no count is ever forgotten.
//!
//! `Streams` counts open event streams the same way, per client and aggregate (`max_sse_per_client`).

use std::{
    collections::HashMap,
    net::IpAddr,
    sync::{Arc, Mutex, atomic::Ordering},
};

use tokio::sync::Notify;

use crate::service::{metrics::Level, requester::Client};

/// Connections a client may hold and still get one of the last quarter of the slots: a wallet needs one
/// (HTTP/2) to three (HTTP/1.1: events, status, download).
pub(in crate::service) const FEW: usize = 4;

/// The caps on open connections.
#[derive(Debug, Clone, Copy)]
pub(in crate::service) struct SlotLimits {
    pub total: usize,
    pub per_client: usize,
    pub per_aggregate: usize,
}

impl SlotLimits {
    /// Slots only clients holding fewer than `FEW` connections may take: a quarter of the whole.
    fn headroom(&self) -> usize {
        self.total / 4
    }
}

/// Why a connection was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in crate::service) enum Refusal {
    /// `max_connections` open.
    Full,
    /// The client's bucket or aggregate is at its cap.
    Client,
    /// Only the headroom is left, and the client already holds `FEW` or more.
    Headroom,
}

#[derive(Default)]
struct Counts {
    total: usize,
    buckets: HashMap<IpAddr, usize>,
    aggregates: HashMap<IpAddr, usize>,
}

impl Counts {
    /// What `client` holds: in its bucket, and in its aggregate.
    fn held(&self, client: &Client) -> (usize, usize) {
        let bucket = self.buckets.get(&client.bucket).copied().unwrap_or(0);
        let aggregate = client
            .aggregate
            .and_then(|a| self.aggregates.get(&a).copied())
            .unwrap_or(0);
        (bucket, aggregate)
    }

    fn add(&mut self, client: Option<&Client>) {
        if let Some(client) = client {
            *self.buckets.entry(client.bucket).or_insert(0) += 1;
            if let Some(aggregate) = client.aggregate {
                *self.aggregates.entry(aggregate).or_insert(0) += 1;
            }
        }
        self.total += 1;
    }

    fn remove(&mut self, client: Option<&Client>) {
        if let Some(client) = client {
            release(&mut self.buckets, client.bucket);
            if let Some(aggregate) = client.aggregate {
                release(&mut self.aggregates, aggregate);
            }
        }
        self.total -= 1;
    }
}

pub(in crate::service) struct Slots {
    limits: SlotLimits,
    counts: Mutex<Counts>,
    gauge: Level,
    empty: Notify,
}

impl Slots {
    pub(in crate::service) fn new(limits: SlotLimits, gauge: Level) -> Arc<Slots> {
        Arc::new(Slots {
            limits,
            counts: Mutex::new(Counts::default()),
            gauge,
            empty: Notify::new(),
        })
    }

    fn counts(&self) -> std::sync::MutexGuard<'_, Counts> {
        self.counts.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A slot for a connection from `client` (`None`: a trusted proxy), or why there is none.
    pub(in crate::service) fn take(self: &Arc<Self>, client: Option<Client>) -> Result<Slot, Refusal> {
        let limits = &self.limits;
        let mut counts = self.counts();
        if counts.total >= limits.total {
            return Err(Refusal::Full);
        }
        if let Some(client) = &client {
            let (held, held_by_aggregate) = counts.held(client);
            if held >= limits.per_client || held_by_aggregate >= limits.per_aggregate {
                return Err(Refusal::Client);
            }
            // In the headroom an aggregate counts as its share of `FEW` per bucket it could hold.
            let few_for_aggregate = FEW * limits.per_aggregate / limits.per_client.max(1);
            let in_headroom = counts.total >= limits.total - limits.headroom();
            if in_headroom && (held >= FEW || held_by_aggregate >= few_for_aggregate.max(FEW)) {
                return Err(Refusal::Headroom);
            }
        }
        counts.add(client.as_ref());
        self.gauge.fetch_add(1, Ordering::Relaxed);
        Ok(Slot {
            slots: self.clone(),
            client,
        })
    }

    /// Connections open now.
    pub(in crate::service) fn open(&self) -> usize {
        self.counts().total
    }

    /// Resolves once no connection is open.
    pub(in crate::service) async fn drained(&self) {
        loop {
            let notified = self.empty.notified();
            if self.open() == 0 {
                return;
            }
            notified.await;
        }
    }
}

/// One open connection's place in the counts; dropping it gives the place back.
pub(in crate::service) struct Slot {
    slots: Arc<Slots>,
    client: Option<Client>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut counts = self.slots.counts();
        counts.remove(self.client.as_ref());
        let empty = counts.total == 0;
        drop(counts);
        self.slots.gauge.fetch_sub(1, Ordering::Relaxed);
        if empty {
            self.slots.empty.notify_waiters();
        }
    }
}

/// Event streams open per client bucket and IPv6 aggregate: an open stream keeps its connection open
/// (`idle`), so without this bound one address could hold connections while sending nothing. Bounded
/// like `Slots` by what is open.
pub(in crate::service) struct Streams {
    per_client: usize,
    per_aggregate: usize,
    counts: Mutex<Counts>,
}

impl Streams {
    pub(in crate::service) fn new(per_client: usize, per_aggregate: usize) -> Arc<Streams> {
        Arc::new(Streams {
            per_client,
            per_aggregate,
            counts: Mutex::new(Counts::default()),
        })
    }

    fn counts(&self) -> std::sync::MutexGuard<'_, Counts> {
        self.counts.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A place for one more stream of `client`, or `None` at its cap (the bucket's or the aggregate's).
    pub(in crate::service) fn take(self: &Arc<Self>, client: &Client) -> Option<StreamSlot> {
        let mut counts = self.counts();
        let (held, held_by_aggregate) = counts.held(client);
        if held >= self.per_client || held_by_aggregate >= self.per_aggregate {
            return None;
        }
        counts.add(Some(client));
        Some(StreamSlot {
            streams: self.clone(),
            client: *client,
        })
    }

    /// The cap per client, for the refusal.
    pub(in crate::service) fn per_client(&self) -> usize {
        self.per_client
    }
}

/// One open stream's place; dropping it (with the stream) gives it back.
pub(in crate::service) struct StreamSlot {
    streams: Arc<Streams>,
    client: Client,
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        self.streams.counts().remove(Some(&self.client));
    }
}

fn release(table: &mut HashMap<IpAddr, usize>, key: IpAddr) {
    if let Some(count) = table.get_mut(&key) {
        *count -= 1;
        if *count == 0 {
            table.remove(&key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::requester::ClientRules;

    fn client(text: &str) -> Option<Client> {
        Some(ClientRules::default().of(text.parse().unwrap()))
    }

    fn slots(total: usize, per_client: usize, per_aggregate: usize) -> Arc<Slots> {
        Slots::new(
            SlotLimits {
                total,
                per_client,
                per_aggregate,
            },
            Level::default(),
        )
    }

    #[test]
    fn a_handful_of_clients_at_their_caps_leave_room_for_newcomers() {
        // 16 addresses each trying for 32 of 512 slots, as in the issue.
        let slots = slots(512, 32, 128);
        let mut held = Vec::new();
        let mut refused = 0;
        for round in 0..32 {
            for host in 0..16 {
                match slots.take(client(&format!("192.0.2.{host}"))) {
                    Ok(slot) => held.push(slot),
                    Err(why) => {
                        assert_eq!(why, Refusal::Headroom, "round {round}");
                        refused += 1;
                    }
                }
            }
        }
        assert_eq!(held.len(), 384, "three quarters");
        assert_eq!(refused, 128);
        // 128 newcomers, each with a connection or two, all get in.
        for host in 0..64 {
            for _ in 0..2 {
                held.push(slots.take(client(&format!("198.51.100.{host}"))).unwrap());
            }
        }
        assert_eq!(slots.take(client("203.0.113.1")).err(), Some(Refusal::Full));
        assert_eq!(held.len(), 512);
        assert_eq!(slots.gauge.load(Ordering::Relaxed), 512);
        drop(held);
        assert_eq!(slots.open(), 0);
        assert_eq!(slots.gauge.load(Ordering::Relaxed), 0);
        assert!(slots.counts().buckets.is_empty(), "tables keep only open clients");
    }

    #[test]
    fn per_client_and_per_aggregate_caps_and_proxies() {
        let slots = slots(100, 2, 4);
        let _a = [
            slots.take(client("192.0.2.1")).unwrap(),
            slots.take(client("192.0.2.1")).unwrap(),
        ];
        assert_eq!(slots.take(client("192.0.2.1")).err(), Some(Refusal::Client));
        // Two /64s of one /48 fill its aggregate; a third /64 there is refused, another /48 is not.
        let mut six = Vec::new();
        for subnet in 1..=2 {
            for _ in 0..2 {
                six.push(slots.take(client(&format!("2001:db8:1:{subnet}::1"))).unwrap());
            }
        }
        assert_eq!(slots.take(client("2001:db8:1:3::1")).err(), Some(Refusal::Client));
        six.push(slots.take(client("2001:db8:2:1::1")).unwrap());
        // A trusted proxy's connections count only in the total.
        let proxied: Vec<Slot> = (0..50).map(|_| slots.take(None).unwrap()).collect();
        assert_eq!(slots.open(), 2 + 5 + 50);
        drop(proxied);
        drop(six);
        assert_eq!(slots.open(), 2);
    }

    #[test]
    fn streams_are_capped_per_client_and_per_aggregate() {
        let streams = Streams::new(2, 3);
        let a = client("192.0.2.1").unwrap();
        let held = [streams.take(&a).unwrap(), streams.take(&a).unwrap()];
        assert!(streams.take(&a).is_none());
        assert!(streams.take(&client("192.0.2.2").unwrap()).is_some());
        drop(held);
        assert!(streams.take(&a).is_some(), "given back with the streams");
        let v6: Vec<StreamSlot> = ["2001:db8:1:1::1", "2001:db8:1:1::2", "2001:db8:1:2::1"]
            .iter()
            .map(|ip| streams.take(&client(ip).unwrap()).unwrap())
            .collect();
        assert!(
            streams.take(&client("2001:db8:1:3::1").unwrap()).is_none(),
            "the /48's cap"
        );
        drop(v6);
        assert!(streams.counts().aggregates.is_empty());
    }

    #[test]
    fn a_panicking_connection_task_gives_its_slot_back() {
        let slots = slots(10, 10, 10);
        let slot = slots.take(client("192.0.2.1")).unwrap();
        let task = std::thread::spawn(move || {
            let _slot = slot;
            panic!("a connection task fails");
        });
        assert!(task.join().is_err());
        assert_eq!(slots.open(), 0);
        assert_eq!(slots.gauge.load(Ordering::Relaxed), 0);
    }
}
