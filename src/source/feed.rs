//! Block feed: the push side of following, for a node that runs the plugin in-process and tells it
//! about each block it adds or rolls back, instead of being polled. Events go through a bounded
//! channel to one task that owns the cache; the events waiting when it wakes are applied together
//! (one publish for a run of added blocks), so a node syncing fast is not slowed to one fsync per
//! block. Owns the `BlockFeed` trait, its channel sender and the applying task.
//!
//! An added block that does not extend the cache's tip (the node skipped a rollback or a block) is
//! refused: the feed reports `Degraded` with the error and keeps going, and the next event that fits
//! makes it `Ready` again.

use std::{sync::Arc, time::SystemTime};

use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::{
    FollowerHandle, FollowerState, SourceError,
    status::{Publisher, StopReason},
};
use crate::cache::{BlockData, Cache, CacheError, Tip};

/// What a node tells the plugin about its chain.
pub trait BlockFeed {
    /// `block` is the node's new tip.
    fn block_added(&self, block: BlockData) -> impl Future<Output = Result<(), SourceError>> + Send;
    /// The block at `height` left the node's chain, and every block above it.
    fn block_rolled_back(&self, height: u64) -> impl Future<Output = Result<(), SourceError>> + Send;
}

enum Message {
    Added(BlockData),
    RolledBack(u64),
    /// Answered with the cache's tip once everything sent before is published.
    Flush(oneshot::Sender<Option<Tip>>),
}

/// The node's end of a feed. Cheap to clone; sending waits while the channel is full.
#[derive(Clone)]
pub struct FeedSender {
    tx: mpsc::Sender<Message>,
}

impl BlockFeed for FeedSender {
    async fn block_added(&self, block: BlockData) -> Result<(), SourceError> {
        self.tx
            .send(Message::Added(block))
            .await
            .map_err(|_| SourceError::FeedClosed)
    }

    async fn block_rolled_back(&self, height: u64) -> Result<(), SourceError> {
        self.tx
            .send(Message::RolledBack(height))
            .await
            .map_err(|_| SourceError::FeedClosed)
    }
}

impl FeedSender {
    /// Waits until every event sent before is applied and published; returns the cache's tip then.
    pub async fn flush(&self) -> Result<Option<Tip>, SourceError> {
        let (tx, rx) = oneshot::channel();
        self.tx
            .send(Message::Flush(tx))
            .await
            .map_err(|_| SourceError::FeedClosed)?;
        rx.await.map_err(|_| SourceError::FeedClosed)
    }
}

/// The applying task's state: owns the cache while the feed runs.
pub struct FeedFollower {
    rx: mpsc::Receiver<Message>,
    cache: Cache,
    publisher: Publisher,
    handle: FollowerHandle,
}

/// Events taken per wake-up: bounds one batch's memory and how long a flush waits behind it.
const MAX_EVENTS_PER_APPLY: usize = 256;

/// A feed into `cache`. `capacity` bounds the events in flight: the node waits when the plugin is
/// behind by that many, rather than the plugin buffering without limit.
pub fn block_feed(cache: Cache, capacity: usize) -> (FeedSender, FeedFollower) {
    let (tx, rx) = mpsc::channel(capacity.max(1));
    let (publisher, handle) = Publisher::new(cache.view());
    (
        FeedSender { tx },
        FeedFollower {
            rx,
            cache,
            publisher,
            handle,
        },
    )
}

impl FeedFollower {
    pub fn handle(&self) -> FollowerHandle {
        self.handle.clone()
    }

    /// Applies events until `cancel` or until every sender is dropped; returns the cache. Stops with
    /// the error on a cache fault.
    pub async fn run(mut self, cancel: CancellationToken) -> Result<Cache, SourceError> {
        self.publisher.set(FollowerState::Ready);
        let mut degraded_since = None;
        loop {
            let first = tokio::select! {
                _ = cancel.cancelled() => break,
                m = self.rx.recv() => match m {
                    Some(m) => m,
                    None => break,
                },
            };
            let mut events = vec![first];
            while events.len() < MAX_EVENTS_PER_APPLY {
                match self.rx.try_recv() {
                    Ok(m) => events.push(m),
                    Err(_) => break,
                }
            }
            let mut cache = self.cache;
            let (cache, outcome) = tokio::task::spawn_blocking(move || {
                let outcome = apply(&mut cache, events);
                (cache, outcome)
            })
            .await
            .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()));
            self.cache = cache;
            let Applied {
                last,
                node_tip,
                flushes,
            } = match outcome {
                Ok(a) => a,
                Err(e) => {
                    let error = SourceError::from(e);
                    self.publisher.set(FollowerState::Stopped {
                        reason: Some(StopReason::of(&error)),
                    });
                    return Err(error);
                }
            };
            self.publisher.view(self.cache.view());
            if let Some(height) = node_tip {
                self.publisher.node_tip(height);
            }
            match last {
                Some(Err(error)) => {
                    let since = *degraded_since.get_or_insert_with(SystemTime::now);
                    self.publisher.set(FollowerState::Degraded {
                        since,
                        error: Arc::new(error),
                    });
                }
                Some(Ok(())) => {
                    degraded_since = None;
                    self.publisher.set(FollowerState::Ready);
                }
                None => {} // only flushes: the state stands
            }
            for (reply, tip) in flushes {
                let _ = reply.send(tip); // a flusher that stopped waiting needs no answer
            }
        }
        self.publisher.set(FollowerState::Stopped { reason: None });
        Ok(self.cache)
    }
}

struct Applied {
    /// How the last event that can be refused (an added block, a rollback) went; `None` if there was
    /// none.
    last: Option<Result<(), SourceError>>,
    /// The node's tip as the events tell it: the last block added, or the one below the last rollback.
    node_tip: Option<u64>,
    flushes: Vec<(oneshot::Sender<Option<Tip>>, Option<Tip>)>,
}

/// Applies `events` in order: runs of added blocks as one batch each, rollbacks and flushes between.
fn apply(cache: &mut Cache, events: Vec<Message>) -> Result<Applied, CacheError> {
    let mut applied = Applied {
        last: None,
        node_tip: None,
        flushes: Vec::new(),
    };
    let mut events = events.into_iter().peekable();
    while let Some(event) = events.next() {
        match event {
            Message::Added(first) => {
                let mut batch = cache.batch();
                let mut block = first;
                loop {
                    applied.node_tip = Some(block.height);
                    match extends(batch.tip(), &block) {
                        Ok(()) => {
                            batch.append(&block)?;
                            applied.last = Some(Ok(()));
                        }
                        Err(e) => {
                            tracing::warn!(height = block.height, error = %e, "feed: block refused");
                            applied.last = Some(Err(SourceError::Cache(e)));
                        }
                    }
                    match events.next_if(|m| matches!(m, Message::Added(_))) {
                        Some(Message::Added(b)) => block = b,
                        _ => break,
                    }
                }
                batch.publish()?;
            }
            Message::RolledBack(height) => match height.checked_sub(1) {
                Some(keep) => {
                    cache.rollback_to(keep)?;
                    applied.node_tip = Some(keep);
                    applied.last = Some(Ok(()));
                }
                None => {
                    applied.last = Some(Err(SourceError::malformed(
                        "feed",
                        "the genesis block cannot be rolled back",
                    )));
                }
            },
            Message::Flush(reply) => applied.flushes.push((reply, cache.tip())),
        }
    }
    Ok(applied)
}

/// Whether `block` can follow `tip` (any block starts an empty cache).
fn extends(tip: Option<Tip>, block: &BlockData) -> Result<(), CacheError> {
    let Some(tip) = tip else { return Ok(()) };
    if block.height != tip.height.saturating_add(1) {
        return Err(CacheError::NotNext {
            height: block.height,
            expected: tip.height.saturating_add(1),
        });
    }
    if block.prev_hash != tip.hash {
        return Err(CacheError::PrevHashMismatch {
            height: block.height,
            tip_height: tip.height,
        });
    }
    Ok(())
}
