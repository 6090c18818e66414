//! TLS: what our HTTP clients (the wallet client of `client`, the service's webhook sender) need to speak
//! HTTPS: a rustls configuration (the `ring` provider, TLS 1.2 and 1.3) trusting Mozilla's roots
//! (`webpki-roots`, the same on every platform, a phone included) plus any CA the caller adds from a PEM
//! file, and the hyper connector that offers `h2` and/or `http/1.1` by ALPN and still speaks plain
//! `http://`. Owns the reading of CA files and the naming of TLS failures; it keeps no state.

use std::{path::Path, sync::Arc, time::Duration};

pub use hyper_rustls::HttpsConnector;
use hyper_rustls::HttpsConnectorBuilder;
pub use hyper_util::client::legacy::connect::HttpConnector;
pub use rustls::{ClientConfig, pki_types::CertificateDer};
use rustls::{RootCertStore, pki_types::pem::PemObject};

/// A CA file larger than this is not a CA bundle: refused before it is read whole.
const MAX_CA_FILE_BYTES: u64 = 4 * 1024 * 1024;

/// A CA file or certificate that cannot be used. Each has a stable code (`code`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TlsError {
    #[error("CA file {path}: {reason}")]
    CaFileUnreadable { path: String, reason: String },
    #[error("CA file {path}: larger than {MAX_CA_FILE_BYTES} bytes")]
    CaFileTooLarge { path: String },
    #[error("CA certificates: {0}")]
    CaPem(String),
    #[error("CA certificates: no `BEGIN CERTIFICATE` block in the PEM text")]
    NoCertificate,
    #[error("CA certificate {index} is not usable as a trust anchor: {reason}")]
    BadCertificate { index: usize, reason: String },
}

impl TlsError {
    pub fn code(&self) -> &'static str {
        match self {
            TlsError::CaFileUnreadable { .. } => "CA_FILE_UNREADABLE",
            TlsError::CaFileTooLarge { .. } => "CA_FILE_TOO_LARGE",
            TlsError::CaPem(_) => "CA_PEM_INVALID",
            TlsError::NoCertificate => "CA_NO_CERTIFICATE",
            TlsError::BadCertificate { .. } => "CA_CERTIFICATE_INVALID",
        }
    }
}

/// The certificates of a PEM text (other blocks, such as a key, are skipped); at least one.
pub fn certificates_from_pem(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certificates = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::CaPem(e.to_string()))?;
    if certificates.is_empty() {
        return Err(TlsError::NoCertificate);
    }
    Ok(certificates)
}

/// The certificates of a PEM file (an operator's or a wallet app's own CA).
pub fn certificates_from_file(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let shown = path.display().to_string();
    let unreadable = |e: std::io::Error| TlsError::CaFileUnreadable {
        path: shown.clone(),
        reason: e.to_string(),
    };
    if std::fs::metadata(path).map_err(unreadable)?.len() > MAX_CA_FILE_BYTES {
        return Err(TlsError::CaFileTooLarge { path: shown });
    }
    let pem = std::fs::read(path).map_err(unreadable)?;
    certificates_from_pem(&pem).map_err(|e| match e {
        TlsError::NoCertificate => TlsError::CaFileUnreadable {
            path: shown,
            reason: "no `BEGIN CERTIFICATE` block in it".into(),
        },
        other => other,
    })
}

/// A client configuration trusting Mozilla's roots and `extra_roots`, with no ALPN set (the connector
/// sets it from the protocols it enables).
pub fn client_config(extra_roots: &[CertificateDer<'static>]) -> Result<ClientConfig, TlsError> {
    let mut roots = RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    for (index, certificate) in extra_roots.iter().enumerate() {
        roots.add(certificate.clone()).map_err(|e| TlsError::BadCertificate {
            index,
            reason: e.to_string(),
        })?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("the ring provider supports TLS 1.2 and 1.3")
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(config)
}

/// Which protocols a connection offers by ALPN over TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alpn {
    /// `h2` then `http/1.1`: the server chooses.
    Both,
    Http1,
    Http2,
}

/// A connector for `https://` (rustls, `alpn`) and `http://` URLs, whose TCP connect gives up after
/// `connect_timeout` (an address that never answers costs that, not the caller's whole deadline).
pub fn connector(config: ClientConfig, alpn: Alpn, connect_timeout: Option<Duration>) -> HttpsConnector<HttpConnector> {
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    http.set_connect_timeout(connect_timeout);
    let builder = HttpsConnectorBuilder::new().with_tls_config(config).https_or_http();
    match alpn {
        Alpn::Both => builder.enable_http1().enable_http2().wrap_connector(http),
        Alpn::Http1 => builder.enable_http1().wrap_connector(http),
        Alpn::Http2 => builder.enable_http2().wrap_connector(http),
    }
}

/// Why a TLS handshake failed, for people, if `error` (or an error it wraps) is one: a certificate the
/// client does not trust is named as such, so it is not mistaken for a network fault.
pub fn tls_failure(error: &(dyn std::error::Error + 'static)) -> Option<TlsFailure> {
    let mut next = Some(error);
    while let Some(error) = next {
        let inner = error
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            .map(|inner| inner as &(dyn std::error::Error + 'static));
        for candidate in [Some(error), inner].into_iter().flatten() {
            if let Some(tls) = candidate.downcast_ref::<rustls::Error>() {
                return Some(TlsFailure::of(tls));
            }
        }
        // An io::Error's `source` skips the error it wraps: follow the wrapped one.
        next = inner.or_else(|| error.source());
    }
    None
}

/// A failed TLS handshake, classified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsFailure {
    /// The server's certificate does not chain to a trusted root, is for another name, or has expired.
    Untrusted(String),
    /// Anything else (no common protocol version or ALPN protocol, a peer that is not TLS, an alert).
    Handshake(String),
}

impl TlsFailure {
    fn of(error: &rustls::Error) -> TlsFailure {
        match error {
            rustls::Error::InvalidCertificate(reason) => TlsFailure::Untrusted(format!(
                "the server's certificate is not trusted ({reason:?}): it must chain to a public root or to a \
                 CA given as a CA file, and name the host of the URL"
            )),
            other => TlsFailure::Handshake(format!("TLS handshake: {other}")),
        }
    }
}

impl std::fmt::Display for TlsFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TlsFailure::Untrusted(text) | TlsFailure::Handshake(text) => f.write_str(text),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_without_a_certificate_is_refused_with_its_code() {
        assert_eq!(certificates_from_pem(b"").unwrap_err().code(), "CA_NO_CERTIFICATE");
        let key_only = b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
        assert_eq!(certificates_from_pem(key_only).unwrap_err(), TlsError::NoCertificate);
        let truncated = b"-----BEGIN CERTIFICATE-----\nAAAA\n";
        assert_eq!(certificates_from_pem(truncated).unwrap_err().code(), "CA_PEM_INVALID");
    }

    #[test]
    fn a_certificate_that_is_not_der_is_no_trust_anchor() {
        let garbage = b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        let certificates = certificates_from_pem(garbage).unwrap();
        let error = client_config(&certificates).unwrap_err();
        assert_eq!(error.code(), "CA_CERTIFICATE_INVALID", "{error}");
    }

    #[test]
    fn a_missing_ca_file_is_named() {
        let error = certificates_from_file(Path::new("/nonexistent/ca.pem")).unwrap_err();
        assert_eq!(error.code(), "CA_FILE_UNREADABLE");
        assert!(error.to_string().contains("/nonexistent/ca.pem"), "{error}");
    }

    #[test]
    fn an_untrusted_certificate_is_found_inside_io_errors() {
        let tls = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        let io = std::io::Error::new(std::io::ErrorKind::InvalidData, tls);
        let wrapped: Box<dyn std::error::Error + Send + Sync> = Box::new(io);
        match tls_failure(wrapped.as_ref()) {
            Some(TlsFailure::Untrusted(text)) => assert!(text.contains("UnknownIssuer"), "{text}"),
            other => panic!("{other:?}"),
        }
        assert_eq!(tls_failure(&std::io::Error::other("refused")), None);
    }
}
