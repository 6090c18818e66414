//! Event stream: `GET .../events` as Server-Sent Events. The first message is the job's current state
//! (unless `Last-Event-ID` names exactly that event), then every change as it happens, keep-alive comments
//! while nothing changes, and the end after `ready` or `failed` or when the service shuts down. A slow
//! client never holds up a scan: it sees the latest state, not a backlog. An open stream keeps its
//! connection open, so streams are bounded per client (`max_sse_per_client`) as well as per job.

use std::{
    convert::Infallible,
    sync::{Arc, atomic::Ordering},
};

use bytes::Bytes;
use futures_util::StreamExt;
use http::{HeaderMap, HeaderValue, Response, StatusCode, header};
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use tari_wallet_sync_sse::{KEEP_ALIVE, encode_retry};
use tokio::{sync::watch, time::Interval};
use tokio_util::sync::CancellationToken;

use super::{context::Ctx, job_handlers::download_url, response::Body};
use crate::service::{
    error::ApiError,
    jobs::Jobs,
    jobs::job::{Job, Snapshot, SubscriberGuard},
    limits::slots::StreamSlot,
    requester::Client,
};

/// Reconnection delay suggested to clients.
const RETRY_MILLIS: u64 = 2000;

struct Stream {
    receiver: watch::Receiver<Snapshot>,
    last_sent: Option<u64>,
    download_url: String,
    keep_alive: Interval,
    shutdown: CancellationToken,
    preamble: bool,
    done: bool,
    _subscriber: SubscriberGuard,
    /// The client's place among its `max_sse_per_client` streams.
    _client_slot: StreamSlot,
    _gauge: GaugeGuard,
}

/// Counts open streams in the metrics while alive.
struct GaugeGuard(Arc<Jobs>);

impl Drop for GaugeGuard {
    fn drop(&mut self) {
        self.0.metrics().sse_subscribers.fetch_sub(1, Ordering::Relaxed);
    }
}

pub(super) fn events(
    ctx: &Ctx,
    client: &Client,
    job: Arc<Job>,
    headers: &HeaderMap,
) -> Result<Response<Body>, ApiError> {
    // An open stream keeps its connection open: the client's streams are bounded before the job's.
    let streams = &ctx.jobs.streams();
    let client_slot = streams
        .take(client)
        .ok_or(ApiError::TooManyStreams(streams.per_client()))?;
    let max = ctx.jobs.config().max_sse_per_job;
    let subscriber = job.try_subscribe(max).ok_or(ApiError::TooManySubscribers(max))?;
    ctx.jobs.metrics().sse_subscribers.fetch_add(1, Ordering::Relaxed);
    let last_event_id = last_event_id(headers);
    let period = ctx.jobs.config().sse_keep_alive;
    let mut keep_alive = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    keep_alive.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let state = Stream {
        receiver: job.subscribe(),
        last_sent: last_event_id,
        download_url: download_url(&job.id),
        keep_alive,
        shutdown: ctx.shutdown.clone(),
        preamble: true,
        done: false,
        _subscriber: subscriber,
        _client_slot: client_slot,
        _gauge: GaugeGuard(ctx.jobs.clone()),
    };
    let stream = futures_util::stream::unfold(state, next).map(|bytes| Ok::<_, Infallible>(Frame::data(bytes)));
    let mut response = Response::new(StreamBody::new(stream).boxed_unsync());
    *response.status_mut() = StatusCode::OK;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    Ok(response)
}

/// The events ticket of `?ticket=<hex>` (a browser's `EventSource` cannot send the bearer token). A
/// ticket is hex, so it needs no percent-decoding; anything else is no ticket of ours either way.
pub(super) fn ticket(uri: &http::Uri) -> Option<&str> {
    uri.query()?.split('&').find_map(|pair| pair.strip_prefix("ticket="))
}

/// The event id a reconnecting client last saw (`Last-Event-ID`); anything but a number is none.
pub(super) fn last_event_id(headers: &HeaderMap) -> Option<u64> {
    headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
}

/// The next chunk of the stream: the current state if not yet sent, else whatever comes first of a
/// change, a keep-alive tick or shutdown.
async fn next(mut state: Stream) -> Option<(Bytes, Stream)> {
    if state.done {
        return None;
    }
    loop {
        let snapshot = state.receiver.borrow_and_update().clone();
        if state.last_sent != Some(snapshot.event_id) {
            state.last_sent = Some(snapshot.event_id);
            let event = snapshot.event(&state.download_url);
            state.done = event.is_terminal();
            let mut text = String::new();
            if std::mem::take(&mut state.preamble) {
                text.push_str(&encode_retry(RETRY_MILLIS));
            }
            text.push_str(&event.encode(snapshot.event_id));
            return Some((Bytes::from(text), state));
        }
        tokio::select! {
            changed = state.receiver.changed() => {
                if changed.is_err() {
                    return None;
                }
            }
            _ = state.keep_alive.tick() => {
                return Some((Bytes::from_static(KEEP_ALIVE.as_bytes()), state));
            }
            _ = state.shutdown.cancelled() => return None,
        }
    }
}
