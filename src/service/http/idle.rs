//! Idle: when a connection has nothing to do. Counts the requests open on one connection (an HTTP/2
//! stream, an HTTP/1.1 request in flight, a response body still streaming: an event stream or a
//! download is a request until its body ends) and says when the connection should close:
//!
//! - it never carried a request within `first_request` (the header timeout, or the idle timeout if
//!   shorter): a connection opened only to hold a slot;
//! - it has had no request open for `idle`: HTTP/1.1 keep-alive and HTTP/2 alike. Control traffic
//!   (HTTP/2 `PING`, `SETTINGS`, `WINDOW_UPDATE`, stray bytes) is not a request and keeps nothing open;
//! - its time with no request open, summed over its life, reached `idle_budget`: a client cannot hold a
//!   slot for ever with one cheap request every `idle`;
//! - once the server has begun to close it (a `GOAWAY`), it has had no request open for `grace`: a peer
//!   that never acknowledges the close does not keep it.
//!
//! Knows nothing of HTTP: the server begins a request (`begin`) when hyper hands it one and ends it when
//! the response body is dropped (`Tracked`).

use std::{
    pin::Pin,
    sync::{Arc, Mutex},
    task::{Context, Poll},
    time::Duration,
};

use hyper::body::{Body, Frame, SizeHint};
use tokio::{sync::Notify, time::Instant};

/// The limits of one connection's idleness.
#[derive(Debug, Clone, Copy)]
pub struct IdleLimits {
    pub first_request: Duration,
    pub idle: Duration,
    pub idle_budget: Duration,
    pub grace: Duration,
}

/// Why a connection should close.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdleClose {
    NoRequest,
    Idle,
    IdleBudget,
    /// Closing began and the peer has not finished it.
    Grace,
}

impl IdleClose {
    pub fn name(self) -> &'static str {
        match self {
            IdleClose::NoRequest => "no_request",
            IdleClose::Idle => "idle",
            IdleClose::IdleBudget => "idle_budget",
            IdleClose::Grace => "close_grace",
        }
    }
}

struct State {
    open: usize,
    /// When `open` last became zero (or the connection opened).
    idle_since: Instant,
    /// Idle time of the connection's earlier idle spells.
    idle_spent: Duration,
    ever: bool,
    /// When the server began to close the connection.
    closing: Option<Instant>,
}

struct Shared {
    limits: IdleLimits,
    state: Mutex<State>,
    changed: Notify,
}

impl Shared {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The open requests of one connection.
#[derive(Clone)]
pub struct Requests {
    shared: Arc<Shared>,
}

impl Requests {
    pub fn new(limits: IdleLimits) -> Requests {
        let state = State {
            open: 0,
            idle_since: Instant::now(),
            idle_spent: Duration::ZERO,
            ever: false,
            closing: None,
        };
        Requests {
            shared: Arc::new(Shared {
                limits,
                state: Mutex::new(state),
                changed: Notify::new(),
            }),
        }
    }

    /// A request begins; it ends when the guard is dropped.
    pub fn begin(&self) -> RequestGuard {
        let mut state = self.shared.state();
        if state.open == 0 {
            let spell = state.idle_since.elapsed();
            state.idle_spent += spell;
        }
        state.open += 1;
        state.ever = true;
        drop(state);
        self.shared.changed.notify_one();
        RequestGuard {
            shared: self.shared.clone(),
        }
    }

    /// The server has begun to close the connection: once no request is open, it gets `grace` to finish.
    pub fn closing(&self) {
        self.shared.state().closing.get_or_insert_with(Instant::now);
        self.shared.changed.notify_one();
    }

    /// Resolves when the connection should close, and says why.
    pub async fn watch(&self) -> IdleClose {
        loop {
            let deadline = {
                let state = self.shared.state();
                (state.open == 0).then(|| self.deadline(&state))
            };
            match deadline {
                None => self.shared.changed.notified().await,
                Some((at, why)) => {
                    if Instant::now() >= at {
                        return why;
                    }
                    tokio::select! {
                        _ = self.shared.changed.notified() => {}
                        _ = tokio::time::sleep_until(at) => {}
                    }
                }
            }
        }
    }

    /// When an idle connection (no request open) should close, and why.
    fn deadline(&self, state: &State) -> (Instant, IdleClose) {
        let limits = &self.shared.limits;
        if let Some(closing) = state.closing {
            return (state.idle_since.max(closing) + limits.grace, IdleClose::Grace);
        }
        let mut at = match state.ever {
            true => (state.idle_since + limits.idle, IdleClose::Idle),
            false => (
                state.idle_since + limits.first_request.min(limits.idle),
                IdleClose::NoRequest,
            ),
        };
        let budget_left = state.idle_since + limits.idle_budget.saturating_sub(state.idle_spent);
        if budget_left < at.0 {
            at = (budget_left, IdleClose::IdleBudget);
        }
        at
    }
}

/// One open request; dropping it ends the request.
pub struct RequestGuard {
    shared: Arc<Shared>,
}

impl Drop for RequestGuard {
    fn drop(&mut self) {
        let mut state = self.shared.state();
        state.open -= 1;
        if state.open == 0 {
            state.idle_since = Instant::now();
        }
        drop(state);
        self.shared.changed.notify_one();
    }
}

/// A response body that keeps its request open until hyper drops it: after its last frame, or when the
/// peer goes away or resets the stream.
pub struct Tracked<B> {
    inner: B,
    _request: RequestGuard,
}

impl<B> Tracked<B> {
    pub fn new(inner: B, request: RequestGuard) -> Tracked<B> {
        Tracked {
            inner,
            _request: request,
        }
    }
}

impl<B: Body + Unpin> Body for Tracked<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: IdleLimits = IdleLimits {
        first_request: Duration::from_secs(10),
        idle: Duration::from_secs(60),
        idle_budget: Duration::from_secs(300),
        grace: Duration::from_secs(2),
    };

    /// Runs `requests.watch()` to its end and says when (from now) and why.
    async fn closes(requests: &Requests) -> (Duration, IdleClose) {
        let started = Instant::now();
        let why = requests.watch().await;
        (started.elapsed(), why)
    }

    #[tokio::test(start_paused = true)]
    async fn a_connection_that_never_sends_a_request_closes_after_the_first_request_limit() {
        let requests = Requests::new(LIMITS);
        assert_eq!(closes(&requests).await, (Duration::from_secs(10), IdleClose::NoRequest));
        let shorter_idle = Requests::new(IdleLimits {
            idle: Duration::from_secs(3),
            ..LIMITS
        });
        assert_eq!(
            closes(&shorter_idle).await,
            (Duration::from_secs(3), IdleClose::NoRequest)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn an_open_request_keeps_the_connection_and_idleness_counts_from_its_end() {
        let requests = Requests::new(LIMITS);
        let watch = tokio::spawn({
            let requests = requests.clone();
            async move { closes(&requests).await }
        });
        tokio::time::sleep(Duration::from_secs(5)).await;
        // An event stream open for ten minutes, and a short request beside it.
        let stream = requests.begin();
        let status = requests.begin();
        tokio::time::sleep(Duration::from_secs(1)).await;
        drop(status);
        tokio::time::sleep(Duration::from_secs(600)).await;
        assert!(!watch.is_finished(), "a request is open");
        drop(stream);
        // Idle from here: 60 s more.
        let (after, why) = watch.await.unwrap();
        assert_eq!((after, why), (Duration::from_secs(5 + 1 + 600 + 60), IdleClose::Idle));
    }

    #[tokio::test(start_paused = true)]
    async fn idle_spells_add_up_to_the_budget() {
        let requests = Requests::new(LIMITS);
        let watch = tokio::spawn({
            let requests = requests.clone();
            async move { closes(&requests).await }
        });
        // A request every 40 s, below the idle timeout, each taking no time: the idle spells add up.
        for k in 0..8 {
            if k > 0 {
                tokio::time::sleep(Duration::from_secs(40)).await;
            }
            drop(requests.begin());
        }
        assert!(!watch.is_finished());
        // 280 s spent by the last request: 20 s of the 300 s budget left, well before the idle timeout.
        let (after, why) = watch.await.unwrap();
        assert_eq!((after, why), (Duration::from_secs(300), IdleClose::IdleBudget));
    }

    #[tokio::test(start_paused = true)]
    async fn a_closing_connection_gets_its_grace_once_idle() {
        let requests = Requests::new(LIMITS);
        let open = requests.begin();
        requests.closing();
        let watch = tokio::spawn({
            let requests = requests.clone();
            async move { closes(&requests).await }
        });
        tokio::time::sleep(Duration::from_secs(30)).await;
        assert!(!watch.is_finished(), "its last request still runs");
        drop(open);
        let (after, why) = watch.await.unwrap();
        assert_eq!((after, why), (Duration::from_secs(32), IdleClose::Grace));
    }

    #[tokio::test(start_paused = true)]
    async fn a_tracked_body_holds_its_request_until_dropped() {
        use http_body_util::{BodyExt, Full};

        let requests = Requests::new(LIMITS);
        let mut body = Tracked::new(Full::new(bytes::Bytes::from_static(b"abc")), requests.begin());
        assert_eq!(requests.shared.state().open, 1);
        let frame = body.frame().await.unwrap().unwrap();
        assert_eq!(frame.into_data().unwrap(), "abc");
        assert_eq!(requests.shared.state().open, 1, "until hyper drops it");
        drop(body);
        assert_eq!(requests.shared.state().open, 0);
    }
}
