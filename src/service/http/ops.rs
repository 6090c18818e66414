//! Operations routes: the server's sealing key, health, liveness, readiness, Prometheus metrics and the
//! OpenAPI document. Each reads memory only (no store query), so an unauthenticated request costs
//! little; the router limits them per client IP besides.

use std::time::SystemTime;

use http::{Response, StatusCode};
use tari_wallet_sync_sse::{
    envelope::{LABEL_SUBMISSION, SUBMISSION_VERSION, TOKEN_DOMAIN},
    seal::KDF_DOMAIN,
};

use super::{
    refusal::error_response_with,
    response::{Body, json, text},
};
use crate::service::{chain::lifecycle::Lifecycle, error::ApiError, jobs::Jobs, metrics::Format};

/// The OpenAPI 3.1 document of the v1 API (kept beside the code it describes; a test checks they agree).
pub const OPENAPI: &str = include_str!("../openapi.json");

/// `GET /api/v1/server-key`: the current key, and the previous key's id while a rotation still accepts
/// it (a rotation's next key is never advertised: not every replica may hold it yet).
pub(super) fn server_key(jobs: &Jobs) -> Response<Body> {
    let keys = jobs.server_keys();
    let key = keys.current();
    json(
        StatusCode::OK,
        &serde_json::json!({
            "public_key": hex::encode(key.public_key()),
            "key_id": key.key_id(),
            "previous_key_id": keys.previous().map(|previous| previous.key_id()),
            "algorithm": "ristretto255-blake2b-xchacha20poly1305",
            "kdf_domain": String::from_utf8_lossy(KDF_DOMAIN),
            "submission_version": SUBMISSION_VERSION,
            "labels": { "submission": String::from_utf8_lossy(LABEL_SUBMISSION) },
            "token_domain": String::from_utf8_lossy(TOKEN_DOMAIN),
            "submission_window_seconds": jobs.config().submission_window.as_secs(),
        }),
    )
}

/// `GET /health`: a summary for people and dashboards; 200 whatever the lifecycle (the process serves).
pub(super) fn health(jobs: &Jobs) -> Response<Body> {
    let report = jobs.report();
    let lifecycle = report.lifecycle;
    json(
        StatusCode::OK,
        &serde_json::json!({
            "status": if lifecycle == Lifecycle::Ready { "ok" } else { lifecycle.name() },
            "lifecycle": lifecycle.name(),
            "version": env!("CARGO_PKG_VERSION"),
            "queue_depth": jobs.queue_depth(),
            "cache": { "tip_height": report.cache_tip_height, "outputs": report.cache_outputs },
            "node": { "tip_height": report.node_tip_height },
        }),
    )
}

/// `GET /ready`: 200 only when `ready` (at the node's tip, scanning current files); otherwise 503
/// `UNAVAILABLE`. Both carry the state, the cache's and the node's tips, how far and how long the cache
/// is behind, an import's progress and, while degraded, the node's latest error.
pub(super) fn ready(jobs: &Jobs) -> Response<Body> {
    let report = jobs.report();
    let body = report.to_json(SystemTime::now());
    match report.lifecycle {
        Lifecycle::Ready => json(StatusCode::OK, &body),
        other => error_response_with(&ApiError::Unavailable(other.name()), body),
    }
}

/// `GET /metrics`: the Prometheus text format 0.0.4, or OpenMetrics 1.0.0 for a scraper that asks for
/// it (`Accept`). Reads counters and O(1) gauges only (`Jobs::scrape`): no store query, no job walk.
pub(super) fn metrics(jobs: &Jobs, headers: &http::HeaderMap) -> Response<Body> {
    let accept = headers.get(http::header::ACCEPT).and_then(|v| v.to_str().ok());
    let format = Format::negotiate(accept);
    let mut response = text(
        StatusCode::OK,
        format.content_type(),
        jobs.metrics().render(&jobs.scrape(), format),
    );
    response
        .headers_mut()
        .insert(http::header::CACHE_CONTROL, http::HeaderValue::from_static("no-store"));
    response
}

/// `GET /api/v1/openapi.json`.
pub(super) fn openapi() -> Response<Body> {
    let mut response = text(StatusCode::OK, "application/json", OPENAPI.to_string());
    response.headers_mut().insert(
        http::header::CACHE_CONTROL,
        http::HeaderValue::from_static("max-age=3600"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::chain::lifecycle::source_fault_codes;

    /// The document's operations routes: their rate limits, metrics' formats and source fault codes.
    #[test]
    fn openapi_matches_the_implementation() {
        let document: serde_json::Value = serde_json::from_str(OPENAPI).unwrap();
        // Every refusal's code and status, and every route: `openapi_check`.
        assert_eq!(document["paths"].as_object().unwrap().len(), 12);
        for path in ["/health", "/live", "/ready", "/metrics"] {
            let limited = &document["paths"][path]["get"]["responses"]["429"];
            assert!(limited.is_object(), "{path} documents its rate limit");
        }
        let metrics = &document["paths"]["/metrics"]["get"]["responses"];
        assert!(metrics["404"].is_object(), "/metrics documents metrics_listen's 404");
        for format in [Format::Prometheus, Format::OpenMetrics] {
            let documented = metrics["200"]["content"]
                .as_object()
                .unwrap()
                .keys()
                .any(|media| format.content_type().starts_with(media.as_str()));
            assert!(documented, "openapi.json lacks {}", format.content_type());
        }
        let ready = &document["components"]["schemas"]["ReadyReport"]["properties"];
        let states: Vec<&str> = Lifecycle::ALL.iter().map(|s| s.name()).collect();
        assert_eq!(ready["state"]["enum"], serde_json::json!(states));
        assert_eq!(
            ready["node_error"]["properties"]["code"]["enum"],
            serde_json::json!(source_fault_codes().collect::<Vec<_>>())
        );
    }
}
