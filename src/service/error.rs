//! Service errors: every way a request or a job can fail, with its stable code and HTTP status chosen
//! here and nowhere else. Messages never carry key material, tokens or wallet identifiers.

use std::time::Duration;

use http::StatusCode;
use tari_wallet_sync_sse::seal::SealError;

use crate::recognize::KeyError;

/// A request the service refuses or cannot serve.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// The message says what is wrong and where, never what the body held there.
    #[error("the body is not valid JSON for this request: {0}")]
    MalformedJson(String),
    /// A submission in a format this server no longer (or not yet) accepts.
    #[error(
        "submission format version {0} is not accepted: seal one envelope, version 2 (docs/API.md, \"Submitting\")"
    )]
    UnsupportedVersion(u32),
    /// The sealed envelope opened but its plaintext is not a submission.
    #[error("the sealed envelope does not hold a valid submission")]
    BadEnvelope,
    /// The envelope's timestamp is outside the server's window (a replay, or a client clock far off).
    #[error("the envelope was sealed at a time outside this server's window of {window_seconds} s; seal it anew")]
    EnvelopeExpired { window_seconds: u64 },
    /// An envelope accepted before whose job is gone (a resend of one whose job lives answers with it).
    #[error("this envelope was accepted before and its job is gone; seal a new one for each submission")]
    Replayed,
    #[error("a wallet password is required: the wallet file is sealed with it")]
    PasswordRequired,
    /// Longer than a wallet file accepts, or than the envelope holds once JSON-encoded.
    #[error(
        "the wallet password must be at most {max} bytes, and the submission's fields at most {envelope} bytes \
         once JSON-encoded (quotes, backslashes and control characters take two bytes or more)"
    )]
    PasswordTooLong { max: usize, envelope: usize },
    /// A field longer than any valid value of it.
    #[error("`{field}` must be at most {max} bytes")]
    FieldTooLong { field: &'static str, max: usize },
    /// A submission whose `Content-Type` is not JSON: what a page of another site can send without the
    /// browser asking the server first (a CORS "simple request").
    #[error("send the body as `Content-Type: application/json`")]
    UnsupportedMediaType,
    #[error("{0}")]
    InvalidField(String),
    #[error("{0}")]
    InvalidKey(KeyError),
    #[error("{0}")]
    BadSeal(SealError),
    #[error("the key was sealed to server key {0}, which this server does not hold; fetch /api/v1/server-key")]
    UnknownServerKey(String),
    #[error("a plain view_key is not accepted from this client; seal it to /api/v1/server-key")]
    PlainKeyNotAllowed,
    #[error("the body is larger than {0} bytes")]
    BodyTooLarge(usize),
    #[error("send the job's token as `Authorization: Bearer <token>`")]
    MissingToken,
    #[error("the token does not grant access to this job")]
    InvalidToken,
    #[error("not an events ticket of this job; ask for one with the job's token (POST .../events-ticket)")]
    InvalidTicket,
    #[error("the events ticket expired; ask for a new one for each connection")]
    TicketExpired,
    #[error("the events ticket was used before; ask for a new one for each connection")]
    TicketUsed,
    #[error("newer events tickets of this job replaced this one; ask for one just before each connection")]
    TicketReplaced,
    #[error("no such job")]
    JobNotFound,
    #[error("the job was deleted")]
    JobDeleted,
    #[error("the job's result expired and was wiped; submit again")]
    ResultExpired,
    #[error("the job is {0}; the file is not ready yet")]
    NotReady(&'static str),
    #[error("the job failed ({code}): {message}")]
    JobFailed { code: String, message: String },
    #[error("the range is outside the {0}-byte file")]
    RangeNotSatisfiable(u64),
    #[error("too many {scope} requests; retry after {} s", retry_after.as_secs().max(1))]
    RateLimited { scope: &'static str, retry_after: Duration },
    #[error("the job queue is full; retry after {} s", retry_after.as_secs().max(1))]
    QueueFull { retry_after: Duration },
    /// The server remembers as many recent envelopes as it may (so none is accepted twice).
    #[error("the server has taken as many submissions as it can for now; retry after {} s", retry_after.as_secs().max(1))]
    TooManySubmissions { retry_after: Duration },
    #[error("this job already has {0} event streams open")]
    TooManySubscribers(usize),
    #[error("this client already has {0} event streams open")]
    TooManyStreams(usize),
    #[error("the server has too many open connections")]
    TooManyConnections,
    #[error("the request took too long")]
    Timeout,
    #[error("no route for this path")]
    RouteNotFound,
    #[error("method not allowed on this path")]
    MethodNotAllowed,
    #[error("the service is {0}")]
    Unavailable(&'static str),
    #[error("internal error")]
    Internal,
}

impl ApiError {
    /// The stable machine-readable code clients branch on.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::MalformedJson(_) => "MALFORMED_JSON",
            ApiError::UnsupportedVersion(_) => "UNSUPPORTED_VERSION",
            ApiError::BadEnvelope => "BAD_ENVELOPE",
            ApiError::EnvelopeExpired { .. } => "ENVELOPE_EXPIRED",
            ApiError::Replayed => "REPLAYED",
            ApiError::PasswordRequired => "PASSWORD_REQUIRED",
            ApiError::PasswordTooLong { .. } => "PASSWORD_TOO_LONG",
            ApiError::FieldTooLong { .. } => "FIELD_TOO_LONG",
            ApiError::UnsupportedMediaType => "UNSUPPORTED_MEDIA_TYPE",
            ApiError::InvalidField(_) => "INVALID_FIELD",
            ApiError::InvalidKey(e) => e.code(),
            ApiError::BadSeal(e) => e.code(),
            ApiError::UnknownServerKey(_) => "UNKNOWN_SERVER_KEY",
            ApiError::PlainKeyNotAllowed => "PLAIN_KEY_NOT_ALLOWED",
            ApiError::BodyTooLarge(_) => "BODY_TOO_LARGE",
            ApiError::MissingToken => "MISSING_TOKEN",
            ApiError::InvalidToken => "INVALID_TOKEN",
            ApiError::InvalidTicket => "INVALID_TICKET",
            ApiError::TicketExpired => "TICKET_EXPIRED",
            ApiError::TicketUsed => "TICKET_USED",
            ApiError::TicketReplaced => "TICKET_REPLACED",
            ApiError::JobNotFound => "JOB_NOT_FOUND",
            ApiError::JobDeleted => "JOB_DELETED",
            ApiError::ResultExpired => "RESULT_EXPIRED",
            ApiError::NotReady(_) => "NOT_READY",
            ApiError::JobFailed { .. } => "JOB_FAILED",
            ApiError::RangeNotSatisfiable(_) => "RANGE_NOT_SATISFIABLE",
            ApiError::RateLimited { .. } => "RATE_LIMITED",
            ApiError::QueueFull { .. } => "QUEUE_FULL",
            ApiError::TooManySubmissions { .. } => "TOO_MANY_SUBMISSIONS",
            ApiError::TooManySubscribers(_) => "TOO_MANY_SUBSCRIBERS",
            ApiError::TooManyStreams(_) => "TOO_MANY_STREAMS",
            ApiError::TooManyConnections => "TOO_MANY_CONNECTIONS",
            ApiError::Timeout => "TIMEOUT",
            ApiError::RouteNotFound => "NOT_FOUND",
            ApiError::MethodNotAllowed => "METHOD_NOT_ALLOWED",
            ApiError::Unavailable(_) => "UNAVAILABLE",
            ApiError::Internal => "INTERNAL",
        }
    }

    /// The HTTP status of the error: the one place statuses are chosen.
    pub fn status(&self) -> StatusCode {
        match self {
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

    /// When the client may try again, for `Retry-After`.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            ApiError::RateLimited { retry_after, .. }
            | ApiError::QueueFull { retry_after }
            | ApiError::TooManySubmissions { retry_after } => Some(*retry_after),
            ApiError::TooManySubscribers(_)
            | ApiError::TooManyStreams(_)
            | ApiError::TooManyConnections
            | ApiError::Unavailable(_) => Some(Duration::from_secs(5)),
            _ => None,
        }
    }

    /// The error body: `{"error":{"code","message"}}`.
    pub fn body(&self) -> serde_json::Value {
        serde_json::json!({ "error": { "code": self.code(), "message": self.to_string() } })
    }
}

impl From<KeyError> for ApiError {
    fn from(e: KeyError) -> Self {
        ApiError::InvalidKey(e)
    }
}

impl From<SealError> for ApiError {
    fn from(e: SealError) -> Self {
        ApiError::BadSeal(e)
    }
}

/// Why the service could not start or stopped abnormally.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("the job store at {path}: {reason}")]
    Store { path: String, reason: String },
    #[error("the server key at {path}: {reason}")]
    ServerKey { path: String, reason: String },
    #[error("the cache at {path}: {reason}")]
    Cache { path: String, reason: String },
    #[error("TLS: {0}")]
    Tls(String),
    #[error("accepting connections: {0}")]
    Accept(std::io::Error),
    #[error("{0}")]
    Config(String),
}

/// The failure of a job that was tried `max_attempts` times without an outcome the store recorded (the
/// process died during its scans, or the store would not take the outcome): never scanned again.
pub const TOO_MANY_ATTEMPTS: &str = "TOO_MANY_ATTEMPTS";
pub const TOO_MANY_ATTEMPTS_MESSAGE: &str =
    "the job was tried as often as this server allows without finishing; submit it again";

/// Why a job failed, as its `failed` event and status report it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobFailure {
    pub code: &'static str,
    pub message: String,
    /// A service-side failure worth another attempt.
    pub retryable: bool,
}

impl JobFailure {
    pub fn new(code: &'static str, message: impl Into<String>, retryable: bool) -> JobFailure {
        JobFailure {
            code,
            message: message.into(),
            retryable,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
            assert_eq!(error.status().as_u16(), status, "{code}");
            assert_eq!(error.body()["error"]["code"], code);
        }
        assert!(ApiError::TooManyConnections.retry_after().is_some());
    }
}
