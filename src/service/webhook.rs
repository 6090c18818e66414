//! Webhooks: job events (`ready`, `failed`, `expired`) for integrators, POSTed to the operator's
//! endpoints (`webhook_urls`, `http://` or `https://`; never a URL a request chose) and signed with the
//! operator's shared secret. Owns the payload, the signature, the secret and the TLS trust of the
//! delivery client (`WebhookSetup`); the queue is the job store's (`webhook_deliveries`, written in the
//! same transaction as the job's state, so it survives a restart). A payload never holds a key, token,
//! ticket or password.
//!
//! ```text
//! X-TWS-Signature: t=<unix seconds>,v1=hex(HMAC-SHA256(secret, "<t>." || body))
//!
//! backoff    the delay before a delivery's next attempt (pure)
//! breaker    the circuit breaker's policy (pure)
//! endpoint   the endpoints with their live numbers (queue, breaker) and the drops by reason
//! ```

pub(super) mod backoff;
pub(super) mod breaker;
pub mod endpoint;

use std::path::Path;

use hmac::{Hmac, Mac};
use sha2::Sha256;
use tari_wallet_sync_sse::tls::{self, ClientConfig};
use zeroize::Zeroizing;

use crate::service::{config::ServiceConfig, error::ServiceError};

pub use breaker::BreakerState;
pub use endpoint::DropReason;

/// The header carrying the signature.
pub const SIGNATURE_HEADER: &str = "x-tws-signature";
/// The header repeating the event's id, for receivers that deduplicate before parsing.
pub const EVENT_ID_HEADER: &str = "x-tws-event-id";
/// A secret shorter than this is a password, not a key.
const MIN_SECRET_LEN: usize = 16;

/// A job event as delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebhookEvent<'a> {
    Ready {
        size: u64,
        sha256: &'a str,
        stale: bool,
        tip_height: Option<u64>,
        expires_ms: u64,
    },
    Failed {
        code: &'a str,
        message: &'a str,
        expires_ms: u64,
    },
    Expired,
}

impl WebhookEvent<'_> {
    pub fn name(&self) -> &'static str {
        match self {
            WebhookEvent::Ready { .. } => "ready",
            WebhookEvent::Failed { .. } => "failed",
            WebhookEvent::Expired => "expired",
        }
    }
}

/// The event's id (32 random hex digits, the same for every endpoint and attempt, so a receiver can
/// drop a repeat) and its JSON body: the same names as `GET .../status`.
pub(super) fn payload(job_id: &str, event: &WebhookEvent<'_>, now_ms: u64) -> (String, Vec<u8>) {
    let id = hex::encode(rand::random::<[u8; 16]>());
    let mut body = serde_json::json!({
        "id": id,
        "type": event.name(),
        "job_id": job_id,
        "state": event.name(),
        "timestamp": now_ms / 1000,
    });
    match event {
        WebhookEvent::Ready {
            size,
            sha256,
            stale,
            tip_height,
            expires_ms,
        } => {
            body["result"] = serde_json::json!({
                "size": size,
                "sha256": sha256,
                "stale": stale,
                "tip_height": tip_height,
                "expires_at": expires_ms / 1000,
            });
        }
        WebhookEvent::Failed {
            code,
            message,
            expires_ms,
        } => {
            body["error"] = serde_json::json!({ "code": code, "message": message });
            body["expires_at"] = (expires_ms / 1000).into();
        }
        WebhookEvent::Expired => {}
    }
    (id, serde_json::to_vec(&body).expect("plain data"))
}

/// The operator's shared secret: read once at start, zeroized when dropped, never shown.
#[derive(Clone)]
pub struct WebhookSecret(Zeroizing<Vec<u8>>);

impl std::fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookSecret(<redacted>)")
    }
}

impl WebhookSecret {
    pub fn new(bytes: &[u8]) -> Result<WebhookSecret, String> {
        if bytes.len() < MIN_SECRET_LEN {
            return Err(format!(
                "the webhook secret must be at least {MIN_SECRET_LEN} bytes (e.g. `openssl rand -hex 32`)"
            ));
        }
        Ok(WebhookSecret(Zeroizing::new(bytes.to_vec())))
    }

    /// The file's contents without the line end an editor adds.
    pub fn load(path: &Path) -> Result<WebhookSecret, ServiceError> {
        let fail = |reason: String| ServiceError::Config(format!("webhook_secret_file {}: {reason}", path.display()));
        let text = Zeroizing::new(std::fs::read(path).map_err(|e| fail(e.to_string()))?);
        let end = text.iter().rposition(|b| !b.is_ascii_whitespace()).map_or(0, |i| i + 1);
        WebhookSecret::new(&text[..end]).map_err(fail)
    }

    /// `t=<unix>,v1=<hex>`: HMAC-SHA256 over `"<unix>." || body`.
    pub fn sign(&self, unix: u64, body: &[u8]) -> String {
        format!(
            "t={unix},v1={}",
            hex::encode(self.mac(unix, body).finalize().into_bytes())
        )
    }

    /// Whether `header` is a valid signature of `body` made within `tolerance_secs` of `now` (what a
    /// receiver does; compared in constant time).
    pub fn verify(&self, header: &str, body: &[u8], now: u64, tolerance_secs: u64) -> bool {
        let mut unix = None;
        let mut signatures = Vec::new();
        for part in header.split(',') {
            match part.trim().split_once('=') {
                Some(("t", value)) => unix = value.parse::<u64>().ok(),
                Some(("v1", value)) => signatures.extend(hex::decode(value).ok()),
                _ => {}
            }
        }
        let Some(unix) = unix.filter(|t| t.abs_diff(now) <= tolerance_secs) else {
            return false;
        };
        signatures
            .iter()
            .any(|signature| self.mac(unix, body).verify_slice(signature).is_ok())
    }

    fn mac(&self, unix: u64, body: &[u8]) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes keys of any length");
        mac.update(unix.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        mac
    }
}

/// What delivering webhooks needs beside the queue, read once at start: the signing secret and the TLS
/// trust (Mozilla's roots plus the operator's `webhook_ca_file`).
#[derive(Clone)]
pub struct WebhookSetup {
    pub(super) secret: WebhookSecret,
    pub(super) tls: ClientConfig,
}

impl WebhookSetup {
    /// `None` when no endpoint is configured. A secret or CA file that cannot be used stops the start.
    pub fn load(config: &ServiceConfig) -> Result<Option<WebhookSetup>, ServiceError> {
        let (Some(secret_file), false) = (&config.webhook_secret_file, config.webhook_urls.is_empty()) else {
            return Ok(None);
        };
        let secret = WebhookSecret::load(secret_file)?;
        let extra_roots = match &config.webhook_ca_file {
            Some(path) => tls::certificates_from_file(path)
                .map_err(|e| ServiceError::Config(format!("webhook_ca_file: {e} ({})", e.code())))?,
            None => Vec::new(),
        };
        let tls = tls::client_config(&extra_roots)
            .map_err(|e| ServiceError::Config(format!("webhook_ca_file: {e} ({})", e.code())))?;
        Ok(Some(WebhookSetup { secret, tls }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_verifies_with_the_secret_only_and_in_time() {
        let secret = WebhookSecret::new(b"0123456789abcdef0123").unwrap();
        let body = br#"{"id":"x"}"#;
        let header = secret.sign(1_800_000_000, body);
        assert!(header.starts_with("t=1800000000,v1="));
        assert!(secret.verify(&header, body, 1_800_000_100, 300));
        assert!(!secret.verify(&header, body, 1_800_000_400, 300), "too old");
        assert!(!secret.verify(&header, br#"{"id":"y"}"#, 1_800_000_000, 300));
        let other = WebhookSecret::new(b"another secret, long enough").unwrap();
        assert!(!other.verify(&header, body, 1_800_000_000, 300));
        assert!(WebhookSecret::new(b"short").is_err());
        assert_eq!(format!("{secret:?}"), "WebhookSecret(<redacted>)");
    }

    /// The signature recipe of docs/API.md, pinned: HMAC-SHA256 (RFC 4231 test case 2's key and data).
    #[test]
    fn golden_signature() {
        let secret = WebhookSecret::new(b"Jefe, what do ya want for nothing?").unwrap();
        let header = secret.sign(1, b"{}");
        let mut mac = Hmac::<Sha256>::new_from_slice(b"Jefe, what do ya want for nothing?").unwrap();
        mac.update(b"1.{}");
        assert_eq!(header, format!("t=1,v1={}", hex::encode(mac.finalize().into_bytes())));
    }

    #[test]
    fn payloads_carry_state_fields_and_no_secret() {
        let event = WebhookEvent::Ready {
            size: 10,
            sha256: "ab",
            stale: false,
            tip_height: Some(39),
            expires_ms: 5_000,
        };
        let (id, body) = payload("job-1", &event, 2_000);
        let value: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(value["id"], id);
        assert_eq!(id.len(), 32);
        assert_eq!(value["type"], "ready");
        assert_eq!(value["job_id"], "job-1");
        assert_eq!(value["timestamp"], 2);
        assert_eq!(value["result"]["tip_height"], 39);
        assert_eq!(value["result"]["expires_at"], 5);
        let keys: Vec<&String> = value.as_object().unwrap().keys().collect();
        assert_eq!(keys.len(), 6, "{keys:?}");
        let (_, failed) = payload(
            "job-1",
            &WebhookEvent::Failed {
                code: "BUILD_FAILED",
                message: "m",
                expires_ms: 0,
            },
            0,
        );
        let value: serde_json::Value = serde_json::from_slice(&failed).unwrap();
        assert_eq!(value["error"]["code"], "BUILD_FAILED");
    }

    #[test]
    fn the_secret_file_is_read_without_its_line_end_and_a_short_one_refused() {
        let dir = std::env::temp_dir().join(format!("tws-webhook-secret-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("secret");
        std::fs::write(&path, "0123456789abcdef\n").unwrap();
        let secret = WebhookSecret::load(&path).unwrap();
        assert_eq!(
            secret.sign(1, b"x"),
            WebhookSecret::new(b"0123456789abcdef").unwrap().sign(1, b"x")
        );
        std::fs::write(&path, "short\n").unwrap();
        let error = WebhookSecret::load(&path).unwrap_err().to_string();
        assert!(
            error.contains("at least 16 bytes") && !error.contains("short"),
            "{error}"
        );
        assert!(WebhookSecret::load(&dir.join("missing")).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
