//! The OpenAPI document against the code that serves it: every documented path and method is routed and
//! every routed one documented, every route has a documented example, and every refusal's code and
//! status appears in the document (and no code the service never sends). Tests only.

use std::{collections::BTreeSet, time::Duration};

use http::Method;
use tari_wallet_sync_sse::seal::SealError;

use super::{ops::OPENAPI, refusal, router::Route};
use crate::{recognize::KeyError, service::error::ApiError};

const JOB: &str = "0123abcd";
const METHODS: [&str; 7] = ["get", "head", "post", "put", "patch", "delete", "options"];

fn document() -> serde_json::Value {
    serde_json::from_str(OPENAPI).expect("openapi.json is JSON")
}

/// Whether the document has `method` on `path` (a `HEAD` is documented by its `GET`).
fn documented(doc: &serde_json::Value, path: &str, method: &str) -> bool {
    let operations = &doc["paths"][path];
    operations[method].is_object() || (method == "head" && operations["get"].is_object())
}

fn routed(route: &Route) -> bool {
    !matches!(route, Route::NotFound | Route::MethodNotAllowed)
}

/// A request each route answers, as documented. Exhaustive: a new route must be given one here.
fn example(route: &Route) -> Option<(Method, &'static str)> {
    Some(match route {
        Route::ServerKey => (Method::GET, "/api/v1/server-key"),
        Route::Submit => (Method::POST, "/api/v1/wallet/sync"),
        Route::Status(_) => (Method::GET, "/api/v1/wallet/sync/{job_id}/status"),
        Route::Events(_) => (Method::GET, "/api/v1/wallet/sync/{job_id}/events"),
        Route::EventsTicket(_) => (Method::POST, "/api/v1/wallet/sync/{job_id}/events-ticket"),
        Route::Download(_) => (Method::GET, "/api/v1/wallet/sync/{job_id}/download"),
        Route::Delete(_) => (Method::DELETE, "/api/v1/wallet/sync/{job_id}"),
        Route::Health => (Method::GET, "/health"),
        Route::Live => (Method::GET, "/live"),
        Route::Ready => (Method::GET, "/ready"),
        Route::Metrics => (Method::GET, "/metrics"),
        Route::OpenApi => (Method::GET, "/api/v1/openapi.json"),
        Route::Preflight => (Method::OPTIONS, "/api/v1/wallet/sync"),
        Route::NotFound | Route::MethodNotAllowed => return None,
    })
}

#[test]
fn every_documented_operation_is_routed_and_every_routed_one_documented() {
    let doc = document();
    let paths = doc["paths"].as_object().expect("paths");
    for path in paths.keys() {
        let concrete = path.replace("{job_id}", JOB);
        for method in METHODS {
            let route = Route::of(&method.to_uppercase().parse().unwrap(), &concrete);
            assert_eq!(
                documented(&doc, path, method),
                routed(&route),
                "{method} {path}: routed to {route:?}, documented: {}",
                documented(&doc, path, method)
            );
        }
    }
    let id = JOB.to_string();
    let routes = [
        Route::ServerKey,
        Route::Submit,
        Route::Status(id.clone()),
        Route::Events(id.clone()),
        Route::EventsTicket(id.clone()),
        Route::Download(id.clone()),
        Route::Delete(id),
        Route::Health,
        Route::Live,
        Route::Ready,
        Route::Metrics,
        Route::OpenApi,
        Route::Preflight,
    ];
    for route in routes {
        let (method, path) = example(&route).expect("a served route");
        assert!(paths.contains_key(path), "{route:?}: {path} is not documented");
        assert_eq!(
            Route::of(&method, &path.replace("{job_id}", JOB)),
            route,
            "{method} {path}"
        );
        assert!(
            documented(&doc, path, &method.as_str().to_lowercase()),
            "{method} {path}"
        );
    }
}

/// One of each refusal. Exhaustive over `ApiError` (the match in `variant`): a new refusal fails to compile
/// until it is listed here, and then must be in the document.
fn every_refusal() -> Vec<ApiError> {
    let wait = Duration::from_secs(1);
    let mut all = vec![
        ApiError::MalformedJson(String::new()),
        ApiError::UnsupportedVersion(1),
        ApiError::BadEnvelope,
        ApiError::EnvelopeExpired { window_seconds: 600 },
        ApiError::Replayed,
        ApiError::PasswordRequired,
        ApiError::PasswordTooLong { max: 1, envelope: 1 },
        ApiError::FieldTooLong { field: "x", max: 1 },
        ApiError::UnsupportedMediaType,
        ApiError::InvalidField(String::new()),
        ApiError::BadSeal(SealError::Open),
        ApiError::UnknownServerKey(String::new()),
        ApiError::PlainKeyNotAllowed,
        ApiError::BodyTooLarge(1),
        ApiError::MissingToken,
        ApiError::InvalidToken,
        ApiError::InvalidTicket,
        ApiError::TicketExpired,
        ApiError::TicketUsed,
        ApiError::TicketReplaced,
        ApiError::JobNotFound,
        ApiError::JobDeleted,
        ApiError::ResultExpired,
        ApiError::NotReady("queued"),
        ApiError::JobFailed {
            code: String::new(),
            message: String::new(),
        },
        ApiError::RangeNotSatisfiable(1),
        ApiError::RateLimited {
            scope: "x",
            retry_after: wait,
        },
        ApiError::QueueFull { retry_after: wait },
        ApiError::TooManySubmissions { retry_after: wait },
        ApiError::TooManySubscribers(1),
        ApiError::TooManyStreams(1),
        ApiError::TooManyConnections,
        ApiError::Timeout,
        ApiError::RouteNotFound,
        ApiError::MethodNotAllowed,
        ApiError::Unavailable("starting"),
        ApiError::Internal,
    ];
    all.extend(
        [
            KeyError::ViewKeyLength(1),
            KeyError::NonCanonicalViewKey,
            KeyError::ZeroViewKey,
            KeyError::SpendKeyLength(1),
            KeyError::InvalidSpendKey,
            KeyError::IdentitySpendKey,
            KeyError::NotHex,
        ]
        .map(ApiError::InvalidKey),
    );
    for error in &all {
        variant(error);
    }
    all
}

/// Compiles only while every variant of `ApiError` is named: the reminder to list new ones above.
fn variant(error: &ApiError) {
    match error {
        ApiError::MalformedJson(_)
        | ApiError::UnsupportedVersion(_)
        | ApiError::BadEnvelope
        | ApiError::EnvelopeExpired { .. }
        | ApiError::Replayed
        | ApiError::PasswordRequired
        | ApiError::PasswordTooLong { .. }
        | ApiError::FieldTooLong { .. }
        | ApiError::UnsupportedMediaType
        | ApiError::InvalidField(_)
        | ApiError::InvalidKey(_)
        | ApiError::BadSeal(_)
        | ApiError::UnknownServerKey(_)
        | ApiError::PlainKeyNotAllowed
        | ApiError::BodyTooLarge(_)
        | ApiError::MissingToken
        | ApiError::InvalidToken
        | ApiError::InvalidTicket
        | ApiError::TicketExpired
        | ApiError::TicketUsed
        | ApiError::TicketReplaced
        | ApiError::JobNotFound
        | ApiError::JobDeleted
        | ApiError::ResultExpired
        | ApiError::NotReady(_)
        | ApiError::JobFailed { .. }
        | ApiError::RangeNotSatisfiable(_)
        | ApiError::RateLimited { .. }
        | ApiError::QueueFull { .. }
        | ApiError::TooManySubmissions { .. }
        | ApiError::TooManySubscribers(_)
        | ApiError::TooManyStreams(_)
        | ApiError::TooManyConnections
        | ApiError::Timeout
        | ApiError::RouteNotFound
        | ApiError::MethodNotAllowed
        | ApiError::Unavailable(_)
        | ApiError::Internal => {}
    }
}

#[test]
fn every_refusal_code_and_status_is_documented_and_every_documented_code_is_sent() {
    let doc = document();
    let documented_codes: BTreeSet<String> = doc["components"]["schemas"]["Error"]["properties"]["error"]["properties"]
        ["code"]["enum"]
        .as_array()
        .expect("the Error schema's code enum")
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect();
    let documented_statuses: BTreeSet<String> = doc["paths"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|operations| operations.as_object().unwrap().values())
        .filter_map(|operation| operation["responses"].as_object())
        .flat_map(|responses| responses.keys().cloned())
        .collect();
    let mut sent = BTreeSet::new();
    for error in every_refusal() {
        let code = error.code();
        assert!(documented_codes.contains(code), "{code} is not in the Error schema");
        // Answered outside every documented operation: too many connections before any route (one
        // HTTP/1.1 response, then the close), an unknown path or method by definition.
        let outside_operations = matches!(
            error,
            ApiError::TooManyConnections | ApiError::RouteNotFound | ApiError::MethodNotAllowed
        );
        if !outside_operations {
            let status = refusal::status(&error);
            assert!(
                documented_statuses.contains(status.as_str()),
                "{code}'s status {status} is documented on no operation"
            );
        }
        sent.insert(code.to_string());
    }
    let never_sent: Vec<&String> = documented_codes.difference(&sent).collect();
    assert!(never_sent.is_empty(), "documented but never sent: {never_sent:?}");
}
