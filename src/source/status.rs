//! Follower status: the state a follower (polling or fed) reports, the newest published cache snapshot
//! and the node's tip as last seen, all on `watch` channels, so the service reads them without locks and
//! `/ready` or `/metrics` always see the latest. Owns the state enum and the handle; not the following
//! itself.

use std::{sync::Arc, time::SystemTime};

use tokio::sync::watch;

use super::SourceError;
use crate::cache::CacheView;

/// Where a follower stands.
#[derive(Debug, Clone)]
pub enum FollowerState {
    /// Not yet in contact with the node.
    Starting,
    /// Appending batches: the cache's tip (`None` while empty) and the node's tip.
    CatchingUp { height: Option<u64>, node_tip: u64 },
    /// At the node's tip (or ahead of a node that is still syncing).
    Ready,
    /// The node has failed since `since`; the cache keeps serving its last published state and the
    /// follower retries with backoff. `error` is the latest fault.
    Degraded { since: SystemTime, error: Arc<SourceError> },
    /// Cancelled (`reason: None`), or stopped by a fault retrying cannot fix.
    Stopped { reason: Option<StopReason> },
}

/// Why a follower stopped for good: the error's stable code and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StopReason {
    pub code: &'static str,
    pub message: String,
}

impl StopReason {
    pub fn of(error: &SourceError) -> StopReason {
        StopReason {
            code: error.code(),
            message: error.to_string(),
        }
    }
}

impl FollowerState {
    /// A short stable name for logs and metrics.
    pub fn name(&self) -> &'static str {
        match self {
            FollowerState::Starting => "starting",
            FollowerState::CatchingUp { .. } => "catching_up",
            FollowerState::Ready => "ready",
            FollowerState::Degraded { .. } => "degraded",
            FollowerState::Stopped { .. } => "stopped",
        }
    }

    pub fn is_ready(&self) -> bool {
        matches!(self, FollowerState::Ready)
    }

    pub fn is_degraded(&self) -> bool {
        matches!(self, FollowerState::Degraded { .. })
    }
}

/// What readers of a follower hold: its state and the newest published snapshot. Cheap to clone.
#[derive(Clone)]
pub struct FollowerHandle {
    state: watch::Receiver<FollowerState>,
    view: watch::Receiver<CacheView>,
    node_tip: watch::Receiver<Option<u64>>,
    node_synced: watch::Receiver<Option<bool>>,
}

impl FollowerHandle {
    pub fn state(&self) -> FollowerState {
        self.state.borrow().clone()
    }

    /// The newest snapshot the follower published.
    pub fn view(&self) -> CacheView {
        self.view.borrow().clone()
    }

    /// The node's tip height when last heard from (`None` before the first answer). During an outage it
    /// is the last height the node reported, not its current one.
    pub fn node_tip(&self) -> Option<u64> {
        *self.node_tip.borrow()
    }

    /// Whether the node said it is synced with its network when last heard from (`None` before the first
    /// answer, and for a fed follower: the host node pushes only what it has accepted).
    pub fn node_synced(&self) -> Option<bool> {
        *self.node_synced.borrow()
    }

    /// A receiver of every state change (a `watch`: a reader that lags sees the latest only).
    pub fn states(&self) -> watch::Receiver<FollowerState> {
        self.state.clone()
    }

    /// A receiver of every change of `node_synced`.
    pub fn node_synced_changes(&self) -> watch::Receiver<Option<bool>> {
        self.node_synced.clone()
    }

    /// A receiver of every published snapshot.
    pub fn views(&self) -> watch::Receiver<CacheView> {
        self.view.clone()
    }

    /// Waits until the state satisfies `pred` and returns it; `None` if the follower is gone.
    pub async fn wait_for(&self, pred: impl FnMut(&FollowerState) -> bool) -> Option<FollowerState> {
        let mut rx = self.state.clone();
        rx.wait_for(pred).await.ok().map(|s| s.clone())
    }
}

/// The sending half, owned by the follower.
pub(crate) struct Publisher {
    state: watch::Sender<FollowerState>,
    view: watch::Sender<CacheView>,
    node_tip: watch::Sender<Option<u64>>,
    node_synced: watch::Sender<Option<bool>>,
}

impl Publisher {
    pub fn new(view: CacheView) -> (Publisher, FollowerHandle) {
        let (state_tx, state_rx) = watch::channel(FollowerState::Starting);
        let (view_tx, view_rx) = watch::channel(view);
        let (tip_tx, tip_rx) = watch::channel(None);
        let (synced_tx, synced_rx) = watch::channel(None);
        let handle = FollowerHandle {
            state: state_rx,
            view: view_rx,
            node_tip: tip_rx,
            node_synced: synced_rx,
        };
        (
            Publisher {
                state: state_tx,
                view: view_tx,
                node_tip: tip_tx,
                node_synced: synced_tx,
            },
            handle,
        )
    }

    /// Sets the state; logs changes of kind (not every catch-up batch).
    pub fn set(&self, state: FollowerState) {
        let before = self.state.borrow().name();
        if before != state.name() {
            match &state {
                FollowerState::Degraded { error, .. } => tracing::warn!(from = before, %error, "follower degraded"),
                s => tracing::info!(from = before, to = s.name(), "follower state"),
            }
        }
        self.state.send_replace(state);
    }

    pub fn view(&self, view: CacheView) {
        self.view.send_replace(view);
    }

    /// Records the node's tip height (only changes wake readers).
    pub fn node_tip(&self, height: u64) {
        self.node_tip.send_if_modified(|tip| {
            let changed = *tip != Some(height);
            *tip = Some(height);
            changed
        });
    }

    /// Records whether the node says it is synced (only changes wake readers).
    pub fn node_synced(&self, synced: bool) {
        self.node_synced.send_if_modified(|now| {
            let changed = *now != Some(synced);
            if changed {
                tracing::info!(synced, "the node's sync status");
            }
            *now = Some(synced);
            changed
        });
    }
}
