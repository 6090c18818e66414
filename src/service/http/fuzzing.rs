//! Fuzzing entry points of the HTTP layer (feature `fuzzing` only): the request-header parsers and the
//! submission body's validation, called exactly as the handlers call them. Re-exported by
//! `crate::fuzzing`; nothing else uses this module.

use std::{
    ops::Range,
    path::PathBuf,
    sync::{Arc, OnceLock},
};

use http::{HeaderMap, HeaderValue, header};
use tari_wallet_sync_sse::seal::ServerKey;

use super::{download, events, router::bearer_token, submit};
use crate::service::{
    CacheSource, JsonSummaryBuilder, PlainKeyPolicy, ServiceConfig, SourceControl,
    error::ApiError,
    jobs::Jobs,
    jobs::keyfile,
    jobs::store::{JobStore, MemoryJobStore},
};

/// What a `Range` header asks of a file of known length (the download handler's reading of it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RangeAnswer {
    /// The whole file (no range, or one the server ignores).
    Whole,
    /// These bytes (206).
    Part(Range<u64>),
    /// 416.
    Unsatisfiable,
}

/// Request headers whose only entry is `name: value`; `None` for bytes no header value may hold
/// (hyper never hands such a value to a handler).
fn headers(name: header::HeaderName, value: &[u8]) -> Option<HeaderMap> {
    let mut headers = HeaderMap::new();
    headers.insert(name, HeaderValue::from_bytes(value).ok()?);
    Some(headers)
}

/// A `Range` header's raw bytes against a file of `len` bytes, as `download` reads it.
pub fn range(value: &[u8], len: u64) -> RangeAnswer {
    let Some(text) = headers(header::RANGE, value).and_then(|h| h.get(header::RANGE)?.to_str().ok().map(str::to_owned))
    else {
        return RangeAnswer::Whole;
    };
    match download::parse_range(&text, len) {
        download::Wanted::Whole => RangeAnswer::Whole,
        download::Wanted::Part(range) => RangeAnswer::Part(range),
        download::Wanted::Unsatisfiable => RangeAnswer::Unsatisfiable,
    }
}

/// A `Last-Event-ID` header's raw bytes, as the event stream reads them.
pub fn last_event_id(value: &[u8]) -> Option<u64> {
    events::last_event_id(&headers(header::HeaderName::from_static("last-event-id"), value)?)
}

/// An `Authorization` header's raw bytes, as the job routes read a bearer token from it.
pub fn bearer(value: &[u8]) -> Option<String> {
    bearer_token(&headers(header::AUTHORIZATION, value)?)
}

/// The secret of the server key the submission target's jobs opens boxes with: seeds seal to its
/// public key (`fuzz_server_key`). A fixed, published test key; never a real server's.
pub const FUZZ_SERVER_SECRET: [u8; 32] = [7; 32];

/// The server key of the submission target's jobs.
pub fn fuzz_server_key() -> ServerKey {
    ServerKey::from_bytes(&FUZZ_SERVER_SECRET).expect("a canonical non-zero scalar")
}

/// What a valid submission body comes to, without its secrets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    pub birthday: u64,
    pub spend_public_key: [u8; 32],
    /// The envelope as the store would keep it (`Sealed::to_bytes`; a plain one sealed to the server).
    pub sealed_request: Vec<u8>,
    /// The replay cache would remember it (a sealed envelope; a plain one has no ephemeral key).
    pub remembered: bool,
}

struct FuzzJobs {
    jobs: Jobs,
    _source: SourceControl,
    _dir: PathBuf,
}

/// One jobs per process over a data directory in the system's temporary directory, holding
/// `fuzz_server_key`: a submission's validation reads only its key and config.
fn jobs() -> &'static Jobs {
    static JOBS: OnceLock<FuzzJobs> = OnceLock::new();
    &JOBS
        .get_or_init(|| {
            let dir = std::env::temp_dir().join(format!("tws-fuzz-jobs-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).expect("a temporary data directory");
            let key = keyfile::encode(&fuzz_server_key());
            std::fs::write(dir.join(keyfile::FILE_NAME), &*key).expect("the key file");
            let mut config = ServiceConfig::new(&dir, dir.join("no-cache"));
            config.plain_view_key = PlainKeyPolicy::Loopback;
            // Seeds carry a fixed timestamp: a century's window keeps them inside it.
            config.submission_window = std::time::Duration::from_secs(100 * 365 * 86_400);
            let (control, source) = CacheSource::controlled();
            // Jobs in memory: a fuzz run writes no job store.
            let store: Arc<dyn JobStore> = Arc::new(MemoryJobStore::new());
            let jobs = Jobs::open(config, source, Arc::new(JsonSummaryBuilder::default()), Some(store))
                .expect("the fuzzing jobs");
            FuzzJobs {
                jobs,
                _source: control,
                _dir: dir,
            }
        })
        .jobs
}

/// Validates a `POST /api/v1/wallet/sync` body sent as JSON, as the handler does, from a loopback peer
/// or not. When the submission format changes, this is the one function to point at the new parser.
pub fn submission(body: &[u8], loopback: bool) -> Result<Accepted, ApiError> {
    submission_with_type(Some(b"application/json"), body, loopback)
}

/// `submission` with the request's `Content-Type` value (`None`: no such header), checked first as the
/// handler checks it.
pub fn submission_with_type(content_type: Option<&[u8]>, body: &[u8], loopback: bool) -> Result<Accepted, ApiError> {
    submit::check_content_type(content_type)?;
    let parsed = submit::parse(jobs(), body, loopback)?;
    Ok(Accepted {
        birthday: parsed.birthday,
        spend_public_key: parsed.key.spend_public_key().to_bytes(),
        sealed_request: parsed.sealed_request.to_bytes(),
        remembered: parsed.replay.is_some(),
    })
}
