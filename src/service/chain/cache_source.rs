//! Cache source: where the service's scans read the chain, and what it says about readiness. Either a
//! directory another writer fills (a demo chain, an imported cache, a `follow` process), a follower in
//! this process (its newest published view and its state), or a source the plugin moves through stages
//! with a `SourceControl` (importing, then following). The job domain asks it for one snapshot per scan pass
//! and for a report; it never follows, imports or writes a cache itself. A cache a failed import left
//! behind, and a node that says it is not synced, are never reported current: files from them are stale
//! (or, for the node and by the operator's choice, jobs wait).
//!
//! It also keeps the served cache honest: a directory is followed by refreshing one snapshot (each
//! segment is checked against its checksums once, when first mapped, never again per pass), and
//! `verify_in_background` re-reads every segment now and then. Damage found either way shows on
//! `/ready` as `CACHE_DAMAGED` (state `degraded`); the scheduler fails the jobs whose scan read the
//! damaged blocks, and serves the others as usual, not stale.

use std::{
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::service::{
    chain::lifecycle::{
        CACHE_DAMAGED, IMPORT_FAILED, ImportProgress, Lifecycle, NODE_NOT_SYNCED, SourceFault, SourceReport,
    },
    config::UnsyncedNode,
};
use crate::{
    cache::{CacheError, CacheView, Damage},
    source::{FollowerHandle, FollowerState},
};

#[derive(Clone)]
enum Stage {
    Starting,
    Importing(ImportProgress),
    Directory(PathBuf),
    /// The cache in the directory holds what a failed import published: part of the chain.
    Partial(PathBuf),
    Following(FollowerHandle),
}

/// Where the service's scans read the chain. Cheap to clone.
#[derive(Clone)]
pub struct CacheSource {
    stage: watch::Receiver<Stage>,
    /// Keeps the stage's sender of a fixed source alive (a `SourceControl` holds it otherwise).
    _fixed: Option<Arc<watch::Sender<Stage>>>,
    /// What a directory's cache held when last opened (a follower's is read live from its view).
    seen: Arc<Mutex<Option<Seen>>>,
    /// What a node that says it is not synced means for jobs.
    unsynced: UnsyncedNode,
    /// A directory's newest snapshot opened, and when: what submissions are priced against between
    /// passes (a snapshot survives the writer's later changes, so holding it is safe).
    pricing: Arc<Mutex<Option<(Instant, CacheView)>>>,
    /// The directory's snapshot and the damage found in the cache.
    integrity: Arc<Integrity>,
}

/// What the source knows about the integrity of its cache.
#[derive(Default)]
struct Integrity {
    /// A directory source's last snapshot: the next pass refreshes it, so only new bytes are checked.
    kept: Mutex<Option<CacheView>>,
    /// Damage the last open of the directory ran into (cleared by an open that succeeds). Damage found
    /// in an open snapshot is kept with its maps (`CacheView::damage`).
    open_damage: Mutex<Option<Damage>>,
    /// Bumped whenever damage is found, so the source's watchers wake and log the change.
    found: watch::Sender<u64>,
}

impl Integrity {
    /// The newest state of the cache in `dir`: the kept snapshot refreshed, or opened anew.
    fn open(&self, dir: &Path) -> Result<CacheView, CacheError> {
        let kept = lock(&self.kept).clone().filter(|view| view.dir() == dir);
        let opened = match kept {
            Some(view) => view.refresh(),
            None => CacheView::open(dir),
        };
        match &opened {
            Ok(view) => {
                *lock(&self.kept) = Some(view.clone());
                *lock(&self.open_damage) = None;
            }
            Err(CacheError::Damaged(damage)) => {
                let new = lock(&self.open_damage).replace(damage.clone()).is_none();
                if new {
                    tracing::error!(error = %damage, "the served cache is damaged");
                    self.found.send_modify(|n| *n += 1);
                }
            }
            Err(_) => {}
        }
        opened
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

/// A directory's snapshot older than this is opened anew before it prices a submission.
const PRICING_VIEW_AGE: Duration = Duration::from_secs(30);

/// The tip and size of a snapshot, kept for reports between passes.
#[derive(Debug, Clone, Copy)]
struct Seen {
    tip_height: Option<u64>,
    tip_time: Option<u64>,
    outputs: u64,
}

impl Seen {
    fn of(view: &CacheView) -> Seen {
        let tip = view.tip();
        Seen {
            tip_height: tip.map(|t| t.height),
            tip_time: tip.and_then(|t| view.block(t.height)).map(|b| b.timestamp),
            outputs: view.output_count(),
        }
    }
}

/// The plugin's end of a staged source: reports an import's progress, then hands over a follower (or
/// a finished directory). Dropping it leaves the last stage in place.
pub struct SourceControl {
    tx: watch::Sender<Stage>,
    seen: Arc<Mutex<Option<Seen>>>,
    integrity: Arc<Integrity>,
}

impl SourceControl {
    /// An import is running: the service reports `Importing` with this progress; jobs wait.
    pub fn importing(&self, done: u64, total: u64) {
        self.tx.send_replace(Stage::Importing(ImportProgress { done, total }));
    }

    /// From now on the chain comes from this follower (polling or fed).
    pub fn follow(&self, handle: FollowerHandle) {
        self.tx.send_replace(Stage::Following(handle));
    }

    /// From now on the chain is the cache in `dir`, as it is (nothing follows the node).
    pub fn directory(&self, dir: impl Into<PathBuf>) {
        let dir = dir.into();
        self.note_tip(&dir);
        self.tx.send_replace(Stage::Directory(dir));
    }

    /// From now on the chain is the cache in `dir`, which a failed import left part-filled: served,
    /// but only as stale (`IMPORT_FAILED`), never as current.
    pub fn partial_directory(&self, dir: impl Into<PathBuf>) {
        let dir = dir.into();
        self.note_tip(&dir);
        self.tx.send_replace(Stage::Partial(dir));
    }

    /// `/ready` shows the cache's tip from the hand-over on, not only after the first pass. A cache
    /// that does not open reports no tip; the pass that opens it says why.
    fn note_tip(&self, dir: &Path) {
        match self.integrity.open(dir) {
            Ok(view) => *self.seen.lock().unwrap_or_else(|p| p.into_inner()) = Some(Seen::of(&view)),
            Err(error) => tracing::warn!(%error, "the handed-over cache does not open"),
        }
    }
}

/// A snapshot for one scan pass.
pub(in crate::service) struct PassView {
    pub view: CacheView,
    /// Scanned while degraded: the node may have blocks this snapshot lacks.
    pub stale: bool,
}

impl CacheSource {
    fn fixed(stage: Stage) -> CacheSource {
        let (tx, rx) = watch::channel(stage);
        CacheSource {
            stage: rx,
            _fixed: Some(Arc::new(tx)),
            seen: Arc::new(Mutex::new(None)),
            unsynced: UnsyncedNode::default(),
            pricing: Arc::new(Mutex::new(None)),
            integrity: Arc::default(),
        }
    }

    /// The cache in `dir`, written by someone else; each pass opens its newest published state. Always
    /// `Ready`: nothing here knows how far behind a node it is.
    pub fn directory(dir: impl Into<PathBuf>) -> CacheSource {
        CacheSource::fixed(Stage::Directory(dir.into()))
    }

    /// A follower in this process: each pass scans its newest published view; its state is the
    /// lifecycle (`Starting`, `CatchingUp`, `Ready`, `Degraded`; a stopped follower is `Degraded`).
    pub fn follower(handle: FollowerHandle) -> CacheSource {
        CacheSource::fixed(Stage::Following(handle))
    }

    /// A source the plugin moves through stages with the returned control; it starts as `Starting`.
    pub fn controlled() -> (SourceControl, CacheSource) {
        let (tx, rx) = watch::channel(Stage::Starting);
        let source = CacheSource {
            stage: rx,
            _fixed: None,
            seen: Arc::new(Mutex::new(None)),
            unsynced: UnsyncedNode::default(),
            pricing: Arc::new(Mutex::new(None)),
            integrity: Arc::default(),
        };
        let control = SourceControl {
            tx,
            seen: source.seen.clone(),
            integrity: source.integrity.clone(),
        };
        (control, source)
    }

    /// What a node that says it is not synced means (the job domain sets the operator's choice).
    pub(in crate::service) fn set_unsynced_node(&mut self, policy: UnsyncedNode) {
        self.unsynced = policy;
    }

    /// The directory of a directory source, if it is one now.
    pub(in crate::service) fn directory_path(&self) -> Option<PathBuf> {
        match &*self.stage.borrow() {
            Stage::Directory(dir) | Stage::Partial(dir) => Some(dir.clone()),
            _ => None,
        }
    }

    /// Opens a directory source's cache now (at startup, to fail fast on a wrong path); other sources
    /// have nothing to check.
    pub(in crate::service) fn check(&self) -> Result<(), (PathBuf, CacheError)> {
        if let Some(dir) = self.directory_path() {
            let view = self.integrity.open(&dir).map_err(|e| (dir.clone(), e))?;
            self.remember(&view);
        }
        Ok(())
    }

    fn remember(&self, view: &CacheView) {
        *self.seen.lock().unwrap_or_else(|p| p.into_inner()) = Some(Seen::of(view));
        *self.pricing.lock().unwrap_or_else(|p| p.into_inner()) = Some((Instant::now(), view.clone()));
    }

    /// A recent snapshot to price a submission against (what its scan would cost), or `None` while the
    /// source has none (starting, importing). Blocking for a directory source whose last snapshot is
    /// older than `PRICING_VIEW_AGE` (it opens the cache): call it off the async runtime.
    pub(in crate::service) fn pricing_view(&self) -> Option<CacheView> {
        let stage = self.stage.borrow().clone();
        match stage {
            Stage::Following(handle) => Some(handle.view()),
            Stage::Directory(dir) | Stage::Partial(dir) => {
                let recent = self
                    .pricing
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .as_ref()
                    .filter(|(at, _)| at.elapsed() < PRICING_VIEW_AGE)
                    .map(|(_, view)| view.clone());
                recent.or_else(|| {
                    let view = self.integrity.open(&dir).ok()?;
                    self.remember(&view);
                    Some(view)
                })
            }
            Stage::Starting | Stage::Importing(_) => None,
        }
    }

    /// The source's own state (the job domain puts draining and stopping on top): `Degraded` while its
    /// cache is damaged.
    pub(in crate::service) fn lifecycle(&self) -> Lifecycle {
        let lifecycle = self.chain_lifecycle();
        if lifecycle.scans() && self.damage().is_some() {
            return Lifecycle::Degraded;
        }
        lifecycle
    }

    /// The snapshot scans read now, without opening anything: a follower's latest view, or a directory's
    /// last snapshot (`None` before its first open and while nothing scans).
    fn current_view(&self) -> Option<CacheView> {
        match &*self.stage.borrow() {
            Stage::Following(handle) => Some(handle.view()),
            Stage::Directory(dir) | Stage::Partial(dir) => lock(&self.integrity.kept)
                .clone()
                .filter(|view| view.dir() == dir.as_path()),
            Stage::Starting | Stage::Importing(_) => None,
        }
    }

    /// The first damage known in the served cache: a failed open of the directory, or damage a check
    /// found in the current snapshot.
    fn damage(&self) -> Option<Damage> {
        let failed_open = match &*self.stage.borrow() {
            Stage::Directory(_) | Stage::Partial(_) => lock(&self.integrity.open_damage).clone(),
            _ => None,
        };
        failed_open.or_else(|| self.current_view()?.damage().into_iter().next())
    }

    /// The chain source's state alone, damage aside.
    fn chain_lifecycle(&self) -> Lifecycle {
        match &*self.stage.borrow() {
            Stage::Starting => Lifecycle::Starting,
            Stage::Importing(_) => Lifecycle::Importing,
            Stage::Directory(_) => Lifecycle::Ready,
            Stage::Partial(_) => Lifecycle::Degraded,
            Stage::Following(handle) => match handle.state() {
                FollowerState::Starting => Lifecycle::Starting,
                FollowerState::CatchingUp { .. } => Lifecycle::CatchingUp,
                FollowerState::Ready if handle.node_synced() == Some(false) => match self.unsynced {
                    UnsyncedNode::Stale => Lifecycle::Degraded,
                    UnsyncedNode::Wait => Lifecycle::CatchingUp,
                },
                FollowerState::Ready => Lifecycle::Ready,
                FollowerState::Degraded { .. } | FollowerState::Stopped { .. } => Lifecycle::Degraded,
            },
        }
    }

    /// Everything `/ready` reports about the source.
    pub(in crate::service) fn report(&self) -> SourceReport {
        let stage = self.stage.borrow().clone();
        let mut report = SourceReport {
            lifecycle: self.lifecycle(),
            cache_tip_height: None,
            cache_tip_time: None,
            cache_outputs: 0,
            node_tip_height: None,
            import: None,
            fault: None,
            degraded_since: None,
        };
        let seen = match &stage {
            Stage::Following(handle) => Some(Seen::of(&handle.view())),
            _ => *self.seen.lock().unwrap_or_else(|p| p.into_inner()),
        };
        if let Some(seen) = seen {
            report.cache_tip_height = seen.tip_height;
            report.cache_tip_time = seen.tip_time;
            report.cache_outputs = seen.outputs;
        }
        match stage {
            Stage::Importing(progress) => report.import = Some(progress),
            Stage::Following(handle) => {
                report.node_tip_height = handle.node_tip();
                match handle.state() {
                    FollowerState::Degraded { since, error } => {
                        report.fault = Some(SourceFault::from_error(&error));
                        report.degraded_since = Some(since);
                    }
                    FollowerState::Stopped { reason } => report.fault = Some(SourceFault::stopped(reason.as_ref())),
                    FollowerState::CatchingUp { node_tip, .. } => {
                        report.node_tip_height = report.node_tip_height.max(Some(node_tip));
                    }
                    FollowerState::Ready if handle.node_synced() == Some(false) => {
                        report.fault = Some(SourceFault::of(NODE_NOT_SYNCED));
                    }
                    _ => {}
                }
            }
            Stage::Partial(_) => report.fault = Some(SourceFault::of(IMPORT_FAILED)),
            Stage::Starting | Stage::Directory(_) => {}
        }
        // What the operator must act on comes first.
        if self.damage().is_some() {
            report.fault = Some(SourceFault::of(CACHE_DAMAGED));
        }
        report
    }

    /// The snapshot a pass scans, or `None` when the source does not scan now (see
    /// `Lifecycle::scans`). Blocking for a directory source (it opens the cache): call it off the
    /// async runtime.
    pub(in crate::service) fn pass_view(&self) -> Option<Result<PassView, CacheError>> {
        let lifecycle = self.chain_lifecycle();
        if !lifecycle.scans() {
            return None;
        }
        // Stale says the node may have newer blocks; damage fails only the jobs that read it (`build`).
        let stale = lifecycle == Lifecycle::Degraded;
        let stage = self.stage.borrow().clone();
        match stage {
            Stage::Directory(dir) | Stage::Partial(dir) => Some(self.integrity.open(&dir).map(|view| {
                self.remember(&view);
                PassView { view, stale }
            })),
            Stage::Following(handle) => Some(Ok(PassView {
                view: handle.view(),
                stale,
            })),
            Stage::Starting | Stage::Importing(_) => None,
        }
    }

    /// A watcher of everything that can change the lifecycle or the snapshot.
    pub(in crate::service) fn watch(&self) -> SourceWatch {
        let mut stage = self.stage.clone();
        stage.mark_unchanged();
        let mut damage = self.integrity.found.subscribe();
        damage.mark_unchanged();
        let mut watch = SourceWatch {
            stage,
            stage_open: true,
            follower: None,
            damage,
        };
        watch.follow_stage();
        watch
    }
}

/// How much of its time the background check may spend reading: it pauses four times as long as each
/// segment took, so it takes at most a fifth of one core (and of the disk) from the scans.
const VERIFY_PAUSE_FACTOR: u32 = 4;

/// Re-reads the served cache now and then until `stop`: every `interval` (zero: never), each segment and
/// spent-index run of the current snapshot whole against its checksums, one at a time on the blocking
/// pool, pausing between them (`VERIFY_PAUSE_FACTOR`). What rots after a segment was first mapped is
/// found here: logged with the file and how to rebuild, shown on `/ready`, and failing the jobs whose
/// scan reads it.
pub(in crate::service) async fn verify_in_background(source: CacheSource, interval: Duration, stop: CancellationToken) {
    if interval.is_zero() {
        return;
    }
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(interval) => {}
        }
        let Some(view) = source.current_view() else { continue };
        let (segments, runs) = (view.segment_count(), view.run_count());
        let started = Instant::now();
        let mut damaged = 0usize;
        for i in 0..segments + runs {
            let (view, began) = (view.clone(), Instant::now());
            let checked = tokio::task::spawn_blocking(move || match i.checked_sub(segments) {
                None => view.check_segment(i),
                Some(run) => view.check_run(run),
            })
            .await;
            if matches!(checked, Ok(Err(_))) {
                damaged += 1;
                source.integrity.found.send_modify(|n| *n += 1);
            }
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(began.elapsed() * VERIFY_PAUSE_FACTOR) => {}
            }
        }
        tracing::info!(
            segments,
            runs,
            damaged,
            seconds = started.elapsed().as_secs(),
            "background cache check"
        );
    }
}

/// Wakes on any change of a source: its stage, its follower's state or published view, damage found.
pub(in crate::service) struct SourceWatch {
    stage: watch::Receiver<Stage>,
    stage_open: bool,
    follower: Option<FollowerWatch>,
    damage: watch::Receiver<u64>,
}

/// The receivers of a follower whose changes can change the lifecycle or the snapshot.
struct FollowerWatch {
    states: watch::Receiver<FollowerState>,
    views: watch::Receiver<CacheView>,
    synced: watch::Receiver<Option<bool>>,
}

impl SourceWatch {
    fn follow_stage(&mut self) {
        self.follower = match &*self.stage.borrow() {
            Stage::Following(handle) => {
                let mut watch = FollowerWatch {
                    states: handle.states(),
                    views: handle.views(),
                    synced: handle.node_synced_changes(),
                };
                watch.states.mark_unchanged();
                watch.views.mark_unchanged();
                watch.synced.mark_unchanged();
                Some(watch)
            }
            _ => None,
        };
    }

    /// Waits for the next change; `false` once nothing can change any more.
    pub async fn changed(&mut self) -> bool {
        enum Woke {
            Stage(bool),
            Follower(bool),
            Damage,
        }
        loop {
            if !self.stage_open && self.follower.is_none() {
                return false;
            }
            // The damage counter's sender lives as long as the source: it never closes first.
            let woke = match self.follower.as_mut() {
                Some(f) => tokio::select! {
                    r = self.stage.changed(), if self.stage_open => Woke::Stage(r.is_ok()),
                    r = f.states.changed() => Woke::Follower(r.is_ok()),
                    r = f.views.changed() => Woke::Follower(r.is_ok()),
                    r = f.synced.changed() => Woke::Follower(r.is_ok()),
                    Ok(()) = self.damage.changed() => Woke::Damage,
                },
                None => tokio::select! {
                    r = self.stage.changed(), if self.stage_open => Woke::Stage(r.is_ok()),
                    Ok(()) = self.damage.changed() => Woke::Damage,
                },
            };
            match woke {
                Woke::Stage(true) => {
                    self.follow_stage();
                    return true;
                }
                Woke::Stage(false) => self.stage_open = false,
                Woke::Follower(true) | Woke::Damage => return true,
                // The follower is gone (its task ended): its last state and view stay readable.
                Woke::Follower(false) => {
                    self.follower = None;
                    return true;
                }
            }
        }
    }
}
