//! Refusals as HTTP: the status of every `ApiError`, its JSON body and the headers its status calls for
//! (`Retry-After`, `WWW-Authenticate`, `Content-Range`, `Allow`). The domain says what went wrong and
//! when to retry; this module alone says how HTTP carries it.

use http::{HeaderValue, Response, StatusCode, header};

use super::response::{Body, json};
use crate::service::error::ApiError;

/// The HTTP status of `error`: the one place statuses are chosen.
pub fn status(error: &ApiError) -> StatusCode {
    match error {
        ApiError::MalformedJson(_)
        | ApiError::UnsupportedVersion(_)
        | ApiError::BadEnvelope
        | ApiError::EnvelopeExpired { .. }
        | ApiError::PasswordRequired
        | ApiError::PasswordTooLong { .. }
        | ApiError::FieldTooLong { .. }
        | ApiError::InvalidField(_)
        | ApiError::InvalidKey(_)
        | ApiError::BadSeal(_)
        | ApiError::UnknownServerKey(_) => StatusCode::BAD_REQUEST,
        ApiError::Replayed => StatusCode::CONFLICT,
        ApiError::PlainKeyNotAllowed => StatusCode::FORBIDDEN,
        ApiError::BodyTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
        ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ApiError::MissingToken
        | ApiError::InvalidToken
        | ApiError::InvalidTicket
        | ApiError::TicketExpired
        | ApiError::TicketUsed
        | ApiError::TicketReplaced => StatusCode::UNAUTHORIZED,
        ApiError::JobNotFound | ApiError::RouteNotFound => StatusCode::NOT_FOUND,
        ApiError::JobDeleted | ApiError::ResultExpired => StatusCode::GONE,
        ApiError::NotReady(_) | ApiError::JobFailed { .. } => StatusCode::CONFLICT,
        ApiError::RangeNotSatisfiable(_) => StatusCode::RANGE_NOT_SATISFIABLE,
        ApiError::RateLimited { .. } | ApiError::TooManySubscribers(_) | ApiError::TooManyStreams(_) => {
            StatusCode::TOO_MANY_REQUESTS
        }
        ApiError::QueueFull { .. }
        | ApiError::TooManySubmissions { .. }
        | ApiError::TooManyConnections
        | ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        ApiError::Timeout => StatusCode::REQUEST_TIMEOUT,
        ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
        ApiError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// The error body: `{"error":{"code","message"}}`.
pub fn body(error: &ApiError) -> serde_json::Value {
    serde_json::json!({ "error": { "code": error.code(), "message": error.to_string() } })
}

/// The JSON error response of `error`, with `Retry-After`, `WWW-Authenticate` or `Content-Range` where
/// its status calls for one.
pub(crate) fn error_response(error: &ApiError) -> Response<Body> {
    error_response_with(error, serde_json::Value::Null)
}

/// `error_response` with the fields of the object `extra` beside `error` in the body.
pub(crate) fn error_response_with(error: &ApiError, extra: serde_json::Value) -> Response<Body> {
    let mut body = body(error);
    if let (Some(body), serde_json::Value::Object(extra)) = (body.as_object_mut(), extra) {
        body.extend(extra);
    }
    let mut response = json(status(error), &body);
    let headers = response.headers_mut();
    if let Some(after) = error.retry_after() {
        let secs = after.as_secs() + u64::from(after.subsec_nanos() > 0);
        headers.insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
    }
    match error {
        ApiError::MissingToken | ApiError::InvalidToken => {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        ApiError::RangeNotSatisfiable(len) => {
            let value = HeaderValue::from_str(&format!("bytes */{len}")).expect("ASCII");
            headers.insert(header::CONTENT_RANGE, value);
        }
        ApiError::MethodNotAllowed => {
            headers.insert(
                header::ALLOW,
                HeaderValue::from_static("GET, HEAD, POST, DELETE, OPTIONS"),
            );
        }
        _ => {}
    }
    response
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tari_wallet_sync_sse::seal::SealError;

    use super::*;
    use crate::recognize::KeyError;

    #[test]
    fn codes_and_statuses_are_stable() {
        let cases = [
            (ApiError::MalformedJson("x".into()), "MALFORMED_JSON", 400),
            (
                ApiError::InvalidKey(KeyError::NonCanonicalViewKey),
                "NON_CANONICAL_SCALAR",
                400,
            ),
            (ApiError::InvalidKey(KeyError::InvalidSpendKey), "INVALID_POINT", 400),
            (ApiError::BadSeal(SealError::Open), "BAD_SEAL", 400),
            (ApiError::PlainKeyNotAllowed, "PLAIN_KEY_NOT_ALLOWED", 403),
            (ApiError::UnsupportedVersion(1), "UNSUPPORTED_VERSION", 400),
            (ApiError::BadEnvelope, "BAD_ENVELOPE", 400),
            (
                ApiError::EnvelopeExpired { window_seconds: 600 },
                "ENVELOPE_EXPIRED",
                400,
            ),
            (ApiError::Replayed, "REPLAYED", 409),
            (ApiError::PasswordRequired, "PASSWORD_REQUIRED", 400),
            (ApiError::BodyTooLarge(10), "BODY_TOO_LARGE", 413),
            (ApiError::InvalidToken, "INVALID_TOKEN", 401),
            (ApiError::InvalidTicket, "INVALID_TICKET", 401),
            (ApiError::TicketExpired, "TICKET_EXPIRED", 401),
            (ApiError::TicketUsed, "TICKET_USED", 401),
            (ApiError::TicketReplaced, "TICKET_REPLACED", 401),
            (ApiError::TooManyStreams(8), "TOO_MANY_STREAMS", 429),
            (ApiError::JobNotFound, "JOB_NOT_FOUND", 404),
            (
                ApiError::PasswordTooLong {
                    max: 4096,
                    envelope: 5120,
                },
                "PASSWORD_TOO_LONG",
                400,
            ),
            (
                ApiError::FieldTooLong {
                    field: "view_key",
                    max: 128,
                },
                "FIELD_TOO_LONG",
                400,
            ),
            (ApiError::UnsupportedMediaType, "UNSUPPORTED_MEDIA_TYPE", 415),
            (ApiError::JobDeleted, "JOB_DELETED", 410),
            (ApiError::NotReady("queued"), "NOT_READY", 409),
            (ApiError::RangeNotSatisfiable(5), "RANGE_NOT_SATISFIABLE", 416),
            (
                ApiError::QueueFull {
                    retry_after: Duration::from_secs(3),
                },
                "QUEUE_FULL",
                503,
            ),
            (
                ApiError::TooManySubmissions {
                    retry_after: Duration::from_secs(3),
                },
                "TOO_MANY_SUBMISSIONS",
                503,
            ),
        ];
        for (error, code, status) in cases {
            assert_eq!(error.code(), code);
            assert_eq!(super::status(&error).as_u16(), status, "{code}");
            assert_eq!(body(&error)["error"]["code"], code);
        }
        assert!(ApiError::TooManyConnections.retry_after().is_some());
    }
}
