//! Submission: `POST /api/v1/wallet/sync`. Refuses a body that is not JSON by its `Content-Type` (415:
//! another site's page could post a form or plain text without the browser asking the server first),
//! reads the bounded body, has the job domain open the one sealed envelope (version 2, `tari_wallet_sync_sse::envelope`)
//! that carries every secret and every field that must not be swapped, checks its window, the size of
//! every field (the password against what a wallet file accepts, so a job never fails for it after its
//! scan) and its job secret, and hands the job domain a `Submission`; answers 202 with the job's id and URLs
//! (never a token: the client derives it from its job secret). A version-1 body is refused with
//! `UNSUPPORTED_VERSION`. Every refusal has its own code; none echoes what the body held.

use http::{HeaderValue, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use serde::{Deserialize, de::IgnoredAny};
use tari_wallet_sync_sse::{
    envelope::{SUBMISSION_VERSION, SubmissionSecrets, unix_now},
    seal::{MAX_PLAINTEXT_LEN, SealError, Sealed, SealedBox},
};
use zeroize::Zeroizing;

use super::{
    context::Ctx,
    job_handlers::urls,
    response::{Body, json},
};
use crate::{
    service::{
        config::PlainKeyPolicy, error::ApiError, jobs::Jobs, jobs::job::hash_token, jobs::keyring::shown_key_id,
        jobs::results::sealed_files::result_public_key, jobs::submission::Submission, requester::Client,
    },
    walletdb::account::MAX_PASSWORD_LEN,
};

/// The submission body. Unknown fields are refused, so a misspelt field cannot pass silently; the
/// version-1 fields are named only to refuse them with a clear code.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Wire {
    version: Option<u32>,
    /// The `key_id` of the server key the envelope was sealed to: the server opens it with that key (a
    /// rotation's previous or next one included) and tells a key it no longer holds from a bad box.
    key_id: Option<String>,
    envelope: Option<SealedBox>,
    /// The envelope's plaintext unsealed: for local testing only, where `plain_view_key` allows it.
    plain: Option<SubmissionSecrets>,
    sealed_view_key: Option<IgnoredAny>,
    view_key: Option<IgnoredAny>,
    spend_public_key: Option<IgnoredAny>,
    birthday: Option<IgnoredAny>,
    wallet_password: Option<IgnoredAny>,
}

impl Wire {
    fn has_version_1_fields(&self) -> bool {
        self.sealed_view_key.is_some()
            || self.view_key.is_some()
            || self.spend_public_key.is_some()
            || self.birthday.is_some()
            || self.wallet_password.is_some()
    }
}

/// Longest key field accepted: 64 hex characters and room for the whitespace a pasted key brings.
pub const MAX_KEY_FIELD_LEN: usize = 128;
/// The job secret: 32 bytes as hex, exactly.
const JOB_SECRET_LEN: usize = 64;

pub(super) async fn submit(ctx: &Ctx, client: &Client, request: Request<Incoming>) -> Result<Response<Body>, ApiError> {
    let jobs = &ctx.jobs;
    // Before the rate check: a request no browser could have been made to send does not use up the
    // client's submissions.
    check_content_type(request.headers().get(header::CONTENT_TYPE).map(HeaderValue::as_bytes))?;
    jobs.check_submit_rate(client)?;
    let limit = jobs.config().max_body_bytes;
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit as u64) {
        return Err(ApiError::BodyTooLarge(limit));
    }
    let body = Limited::new(request.into_body(), limit)
        .collect()
        .await
        .map_err(|e| {
            if e.downcast_ref::<http_body_util::LengthLimitError>().is_some() {
                ApiError::BodyTooLarge(limit)
            } else {
                ApiError::MalformedJson("the body could not be read".into())
            }
        })?
        .to_bytes();
    let body = Zeroizing::new(body.to_vec());
    let loopback = ctx.peer.ip().to_canonical().is_loopback();
    let submission = parse(jobs, &body, loopback)?;
    let submitted = jobs.submit(submission, *client).await?;
    let links = urls(&submitted.job_id);
    let mut value = serde_json::json!({
        "job_id": submitted.job_id,
        "state": submitted.status.name(),
    });
    if let crate::service::jobs::job::JobStatus::Queued { position } = submitted.status {
        value["queue_position"] = position.into();
    }
    for (name, url) in &links {
        value[*name] = url.clone().into();
    }
    let mut response = json(StatusCode::ACCEPTED, &value);
    let location = HeaderValue::from_str(&links[0].1).expect("job ids are URL-safe");
    response.headers_mut().insert(header::LOCATION, location);
    Ok(response)
}

/// A submission's `Content-Type` must be `application/json` (any case), parameters such as `charset`
/// allowed. Anything else, or none, is 415: a page of another site can make a browser post
/// `text/plain`, a form or no type at all without a CORS preflight, never JSON.
pub(super) fn check_content_type(value: Option<&[u8]>) -> Result<(), ApiError> {
    let essence = value
        .and_then(|v| std::str::from_utf8(v).ok())
        .and_then(|v| v.split(';').next())
        .map(str::trim);
    match essence {
        Some(essence) if essence.eq_ignore_ascii_case("application/json") => Ok(()),
        _ => Err(ApiError::UnsupportedMediaType),
    }
}

/// Every field within the size a valid value can have, so nothing downstream meets one it cannot hold:
/// the password within what a wallet file accepts (the scan's build checks it again, too late to tell
/// the client), the keys and the job secret within their hex.
fn check_sizes(secrets: &SubmissionSecrets) -> Result<(), ApiError> {
    for (field, value, max) in [
        ("view_key", &secrets.view_key, MAX_KEY_FIELD_LEN),
        ("spend_public_key", &secrets.spend_public_key, MAX_KEY_FIELD_LEN),
        ("job_secret", &secrets.job_secret, JOB_SECRET_LEN),
    ] {
        if value.len() > max {
            return Err(ApiError::FieldTooLong { field, max });
        }
    }
    if secrets.wallet_password.len() > MAX_PASSWORD_LEN {
        return Err(password_too_long());
    }
    Ok(())
}

fn password_too_long() -> ApiError {
    ApiError::PasswordTooLong {
        max: MAX_PASSWORD_LEN,
        envelope: MAX_PLAINTEXT_LEN,
    }
}

/// What a JSON error says: its kind and position, never the text it choked on (which may be a key).
pub(super) fn json_error(e: &serde_json::Error) -> ApiError {
    let kind = match e.classify() {
        serde_json::error::Category::Io => "unreadable",
        serde_json::error::Category::Syntax => "not JSON",
        serde_json::error::Category::Data => "a field is unknown, missing or of the wrong type",
        serde_json::error::Category::Eof => "cut short",
    };
    ApiError::MalformedJson(format!("{kind} (line {}, column {})", e.line(), e.column()))
}

/// Validates a body into a submission.
pub(super) fn parse(jobs: &Jobs, body: &[u8], loopback: bool) -> Result<Submission, ApiError> {
    let wire: Wire = serde_json::from_slice(body).map_err(|e| json_error(&e))?;
    match wire.version {
        Some(SUBMISSION_VERSION) => {}
        Some(other) => return Err(ApiError::UnsupportedVersion(other)),
        None if wire.has_version_1_fields() => return Err(ApiError::UnsupportedVersion(1)),
        None => return Err(ApiError::InvalidField("`version` is required (2)".into())),
    }
    if wire.has_version_1_fields() {
        return Err(ApiError::InvalidField(
            "version 2 carries every field inside the envelope".into(),
        ));
    }
    // A key this server no longer holds is named as such whatever else the body holds: the client's
    // answer is to fetch the key again.
    if let Some(key_id) = &wire.key_id
        && jobs.server_keys().by_id(key_id).is_none()
    {
        return Err(ApiError::UnknownServerKey(shown_key_id(key_id)));
    }
    let (secrets, sealed) = match (wire.envelope, wire.plain) {
        (Some(envelope), None) => {
            let sealed = Sealed::from_wire(&envelope)?;
            // The key the client names (current, or a rotation's next or previous), else each key held.
            (jobs.open_envelope(wire.key_id.as_deref(), &sealed)?, Some(sealed))
        }
        (None, Some(plain)) => {
            let allowed = match jobs.config().plain_view_key {
                PlainKeyPolicy::Always => true,
                PlainKeyPolicy::Loopback => loopback,
                PlainKeyPolicy::Never => false,
            };
            if !allowed {
                return Err(ApiError::PlainKeyNotAllowed);
            }
            (plain, None)
        }
        (Some(_), Some(_)) => return Err(ApiError::InvalidField("send either envelope or plain, not both".into())),
        (None, None) => return Err(ApiError::InvalidField("`envelope` is required".into())),
    };
    let window = jobs.config().submission_window;
    let now = unix_now();
    if secrets.timestamp.abs_diff(now) > window.as_secs() {
        return Err(ApiError::EnvelopeExpired {
            window_seconds: window.as_secs(),
        });
    }
    check_sizes(&secrets)?;
    if secrets.wallet_password.is_empty() {
        return Err(ApiError::PasswordRequired);
    }
    let token = secrets
        .token()
        .ok_or_else(|| ApiError::InvalidField("job_secret must be 32 bytes of hex".into()))?;
    // The scan reopens the envelope and reads the key with this same parser (`jobs::envelope`).
    let key = jobs.wallet_key(&secrets)?;
    // A plain submission is sealed to the server's own key at once: the store only ever holds boxes.
    let (sealed, replay_key) = match sealed {
        Some(sealed) => {
            let replay_key = sealed.ephemeral_public_key;
            (sealed, Some(replay_key))
        }
        // Within the field sizes only a password with many escaped characters outgrows a box.
        None => match jobs.seal_to_self(&secrets) {
            Ok(sealed) => (sealed, None),
            Err(SealError::TooLong) => return Err(password_too_long()),
            Err(error) => {
                tracing::error!(%error, "sealing a plain submission to the server's own key");
                return Err(ApiError::Internal);
            }
        },
    };
    Ok(Submission {
        key,
        sealed_request: sealed,
        birthday: secrets.birthday,
        token_hash: hash_token(&token),
        result_key: result_public_key(&token),
        // Remembered until the envelope's own window closes: after that its timestamp refuses it anyway.
        replay: replay_key.map(|key| (key, (secrets.timestamp + window.as_secs()) * 1000)),
    })
}
