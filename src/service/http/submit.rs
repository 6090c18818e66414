//! Submission: `POST /api/v1/wallet/sync`. Reads the bounded body, parses and validates it (sealed or
//! plain view key, spend key, birthday, sealed password) into an engine `Submission`, answers 202. Every
//! refusal has its own code; none echoes key material.

use http::{HeaderValue, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use serde::Deserialize;
use tari_wallet_sync_sse::seal::{LABEL_VIEW_KEY, LABEL_WALLET_PASSWORD, Sealed, SealedBox};
use zeroize::Zeroizing;

use super::{Body, Ctx, json, routes::urls};
use crate::{
    recognize::{KeyError, WalletKey},
    service::{config::PlainKeyPolicy, engine::Engine, error::ApiError, submission::Submission},
};

/// The submission body. Unknown fields are refused so a misspelt `sealed_view_key` cannot pass silently.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SubmitBody {
    sealed_view_key: Option<SealedBox>,
    view_key: Option<String>,
    spend_public_key: String,
    birthday: Option<u64>,
    wallet_password: Option<SealedBox>,
    /// The `key_id` of the server key the boxes were sealed to, to tell a rotated key from a bad box.
    key_id: Option<String>,
}

impl Drop for SubmitBody {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        if let Some(key) = self.view_key.as_mut() {
            key.zeroize();
        }
    }
}

pub(super) async fn submit(ctx: &Ctx, request: Request<Incoming>) -> Result<Response<Body>, ApiError> {
    let engine = &ctx.engine;
    engine.check_submit_rate(ctx.peer.ip().to_canonical())?;
    let limit = engine.config().max_body_bytes;
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
    let submission = parse(engine, &body, loopback)?;
    let submitted = engine.submit(submission).await?;
    let links = urls(&submitted.job_id);
    let mut value = serde_json::json!({
        "job_id": submitted.job_id,
        "token": submitted.token,
        "state": submitted.status.name(),
        "deduplicated": submitted.deduplicated,
    });
    if let crate::service::job::JobStatus::Queued { position } = submitted.status {
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

/// Validates a body into a submission.
pub(super) fn parse(engine: &Engine, body: &[u8], loopback: bool) -> Result<Submission, ApiError> {
    let parsed: SubmitBody = serde_json::from_slice(body).map_err(|e| ApiError::MalformedJson(e.to_string()))?;
    if let Some(key_id) = &parsed.key_id
        && *key_id != engine.server_key().key_id()
    {
        return Err(ApiError::UnknownServerKey(key_id.chars().take(32).collect()));
    }
    let spend = hex::decode(parsed.spend_public_key.trim()).map_err(|_| KeyError::NotHex)?;
    let (view_key, sealed_view_key) = match (&parsed.sealed_view_key, &parsed.view_key) {
        (Some(wire), None) => {
            let sealed = Sealed::from_wire(wire)?;
            let opened = engine.server_key().open(LABEL_VIEW_KEY, &sealed)?;
            (opened, Some(sealed))
        }
        (None, Some(plain)) => {
            let allowed = match engine.config().plain_view_key {
                PlainKeyPolicy::Always => true,
                PlainKeyPolicy::Loopback => loopback,
                PlainKeyPolicy::Never => false,
            };
            if !allowed {
                return Err(ApiError::PlainKeyNotAllowed);
            }
            let bytes = Zeroizing::new(hex::decode(plain.trim()).map_err(|_| KeyError::NotHex)?);
            (bytes, None)
        }
        (Some(_), Some(_)) => {
            return Err(ApiError::InvalidField(
                "send either sealed_view_key or view_key, not both".into(),
            ));
        }
        (None, None) => {
            return Err(ApiError::InvalidField(
                "sealed_view_key is required (or view_key where allowed)".into(),
            ));
        }
    };
    let key = WalletKey::from_bytes(&view_key, &spend)?;
    // A plain key is sealed to the server's own key at once: the store only ever holds boxes.
    let sealed_view_key = sealed_view_key.unwrap_or_else(|| engine.seal_to_self(LABEL_VIEW_KEY, &view_key));
    let (sealed_password, password) = match &parsed.wallet_password {
        Some(wire) => {
            let sealed = Sealed::from_wire(wire)?;
            let opened = engine.server_key().open(LABEL_WALLET_PASSWORD, &sealed)?;
            let text = std::str::from_utf8(&opened)
                .map_err(|_| ApiError::InvalidField("wallet_password must be UTF-8".into()))?;
            (Some(sealed), Some(Zeroizing::new(text.to_string())))
        }
        None => (None, None),
    };
    Ok(Submission {
        key,
        sealed_view_key,
        sealed_password,
        password,
        birthday: parsed.birthday.unwrap_or(0),
    })
}
