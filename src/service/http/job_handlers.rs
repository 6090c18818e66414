//! Job routes: a job's status report and its deletion, and the URLs every job answer links to.

use http::{Response, StatusCode};

use super::response::{Body, json};
use crate::service::{
    error::ApiError,
    jobs::Jobs,
    jobs::job::{Job, JobStatus},
};

/// Where the v1 API lives.
pub const API_PREFIX: &str = "/api/v1";

/// The job's URLs, status first (it is also the submission's `Location`).
pub(super) fn urls(job_id: &str) -> [(&'static str, String); 3] {
    let base = format!("{API_PREFIX}/wallet/sync/{job_id}");
    [
        ("status_url", format!("{base}/status")),
        ("events_url", format!("{base}/events")),
        ("download_url", format!("{base}/download")),
    ]
}

pub(super) fn download_url(job_id: &str) -> String {
    format!("{API_PREFIX}/wallet/sync/{job_id}/download")
}

/// `POST .../events-ticket`: a single-use ticket for the job's event stream, for a browser's
/// `EventSource` (which cannot send the bearer token), and the stream's URL with it.
pub(super) fn events_ticket(jobs: &Jobs, job: &Job) -> Result<Response<Body>, ApiError> {
    let (ticket, ttl) = jobs.issue_ticket(job)?;
    let events_url = format!("{API_PREFIX}/wallet/sync/{}/events?ticket={ticket}", job.id);
    let value = serde_json::json!({
        "ticket": ticket,
        "expires_in": ttl.as_secs().max(1),
        "events_url": events_url,
    });
    Ok(json(StatusCode::OK, &value))
}

/// `GET .../status`: the same facts as the event stream, as one JSON object.
pub(super) fn status(job: &Job) -> Result<Response<Body>, ApiError> {
    let snapshot = job.snapshot();
    let mut value = serde_json::json!({
        "job_id": job.id,
        "state": snapshot.status.name(),
        "event_id": snapshot.event_id,
        "created_at": job.created_ms / 1000,
    });
    match &snapshot.status {
        JobStatus::Queued { position } => value["queue_position"] = (*position).into(),
        JobStatus::Scanning { progress } => {
            if let Some(progress) = progress {
                value["progress"] = serde_json::to_value(progress).expect("plain data");
            }
        }
        JobStatus::Ready {
            size,
            sha256,
            expires_ms,
            stale,
            tip_height,
        } => {
            value["result"] = serde_json::json!({
                "size": size,
                "sha256": sha256,
                "download_url": download_url(&job.id),
                "expires_at": expires_ms / 1000,
                "stale": stale,
                "tip_height": tip_height,
            });
        }
        JobStatus::Failed {
            code,
            message,
            expires_ms,
        } => {
            value["error"] = serde_json::json!({ "code": code, "message": message });
            value["expires_at"] = (expires_ms / 1000).into();
        }
        JobStatus::Deleted | JobStatus::Expired => {}
    }
    for (name, url) in urls(&job.id) {
        value[name] = url.into();
    }
    Ok(json(StatusCode::OK, &value))
}

/// `DELETE .../{job_id}`: cancels or wipes the job.
pub(super) async fn delete(jobs: &Jobs, job: &std::sync::Arc<Job>) -> Result<Response<Body>, ApiError> {
    jobs.delete(job).await?;
    Ok(json(
        StatusCode::OK,
        &serde_json::json!({ "job_id": job.id, "state": "deleted" }),
    ))
}
