//! Service errors: every way a request or a job can fail, with its stable code. Which HTTP status a
//! refusal is, is the HTTP layer's (`http::refusal`). Messages never carry key material, tokens or wallet
//! identifiers.

use std::time::Duration;

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
    /// A PostgreSQL job store that does not answer (down, unreachable, refusing connections); `url` is
    /// shown with its password replaced.
    #[error("STORE_UNREACHABLE: the job store at {url} does not answer: {reason}")]
    StoreUnreachable { url: String, reason: String },
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

/// What a client is told when a job was tried `max_attempts` times without an outcome the store
/// recorded (the process died during its scans, or the store would not take the outcome).
pub const TOO_MANY_ATTEMPTS_MESSAGE: &str =
    "the job was tried as often as this server allows without finishing; submit it again";

/// The stable code of a job's failure, as its `failed` event, its status and the metrics name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FailureCode {
    /// The service failed on its side (a scan thread stopped, the store could not be read).
    Internal,
    /// The chain cache cannot be read for a pass.
    CacheUnavailable,
    /// The scan could not read the chain cache.
    ScanFailed,
    /// The scan read bytes of the cache that no longer match their checksums.
    CacheDamaged,
    /// The job's sealed envelope is no longer in the store.
    KeyMissing,
    /// The stored envelope no longer opens with the server key.
    BadSeal,
    /// The file builder failed for a reason it does not name.
    BuildFailed,
    /// Tried `max_attempts` times without an outcome the store recorded: never scanned again.
    TooManyAttempts,
    /// A ready job's sealed file is gone (or does not open) after a restart.
    ResultLost,
    /// The job's file is larger than a job store many replicas share keeps (`MAX_STORED_FILE_BYTES`).
    ResultTooLarge,
    /// A code another layer's error owns (the wallet file's builder, the node's outputs, the key parser)
    /// or a custom `ResultBuilder`'s: passed through unchanged.
    Other(&'static str),
}

impl FailureCode {
    /// The stable string clients branch on.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureCode::Internal => "INTERNAL",
            FailureCode::CacheUnavailable => "CACHE_UNAVAILABLE",
            FailureCode::ScanFailed => "SCAN_FAILED",
            FailureCode::CacheDamaged => "CACHE_DAMAGED",
            FailureCode::KeyMissing => "KEY_MISSING",
            FailureCode::BadSeal => "BAD_SEAL",
            FailureCode::BuildFailed => "BUILD_FAILED",
            FailureCode::TooManyAttempts => "TOO_MANY_ATTEMPTS",
            FailureCode::ResultLost => "RESULT_LOST",
            FailureCode::ResultTooLarge => "RESULT_TOO_LARGE",
            FailureCode::Other(code) => code,
        }
    }
}

impl std::fmt::Display for FailureCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a job failed, as its `failed` event and status report it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobFailure {
    pub code: FailureCode,
    pub message: String,
    /// A service-side failure worth another attempt.
    pub retryable: bool,
}

impl JobFailure {
    pub fn new(code: FailureCode, message: impl Into<String>, retryable: bool) -> JobFailure {
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

    /// The strings are what clients branch on and what the store keeps: they never change.
    #[test]
    fn failure_codes_are_stable() {
        let cases = [
            (FailureCode::Internal, "INTERNAL"),
            (FailureCode::CacheUnavailable, "CACHE_UNAVAILABLE"),
            (FailureCode::ScanFailed, "SCAN_FAILED"),
            (FailureCode::CacheDamaged, "CACHE_DAMAGED"),
            (FailureCode::KeyMissing, "KEY_MISSING"),
            (FailureCode::BadSeal, "BAD_SEAL"),
            (FailureCode::BuildFailed, "BUILD_FAILED"),
            (FailureCode::TooManyAttempts, "TOO_MANY_ATTEMPTS"),
            (FailureCode::ResultLost, "RESULT_LOST"),
            (FailureCode::ResultTooLarge, "RESULT_TOO_LARGE"),
            (FailureCode::Other("BUILD_TIMEOUT"), "BUILD_TIMEOUT"),
        ];
        for (code, text) in cases {
            assert_eq!(code.as_str(), text);
            assert_eq!(code.to_string(), text);
        }
    }
}
