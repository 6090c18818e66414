//! Webhook sender: starts one worker (`worker`) per configured endpoint, all sharing one HTTP(S) client
//! (`poster`),
//! and waits for them to stop. Endpoints never wait for each other: one that black-holes its requests
//! holds only its own worker, and its own breaker then stops it from trying for a while.

use std::sync::Arc;

use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

mod poster;
mod worker;

use poster::Poster;
use worker::Worker;

use crate::service::{jobs::Jobs, webhook::WebhookSetup};

pub(crate) async fn run(jobs: Arc<Jobs>, setup: WebhookSetup, stop: CancellationToken) {
    let config = jobs.config();
    let poster = Arc::new(Poster::new(
        setup,
        config.webhook_connect_timeout,
        config.webhook_attempt_timeout,
    ));
    let endpoints = jobs.outbox().webhook_endpoints();
    tracing::info!(endpoints = endpoints.list().len(), "webhook sender started");
    let mut workers = JoinSet::new();
    for index in 0..endpoints.list().len() {
        let span = tracing::info_span!("webhook", endpoint = endpoints.list()[index].label());
        let worker = Worker::new(jobs.clone(), endpoints.clone(), index, poster.clone());
        workers.spawn(worker.run(stop.clone()).instrument(span));
    }
    while let Some(ended) = workers.join_next().await {
        if let Err(error) = ended {
            tracing::error!(%error, "a webhook worker failed");
        }
    }
}
