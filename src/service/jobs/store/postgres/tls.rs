//! TLS to the PostgreSQL job store: one rustls connector (the `ring` provider the server's own TLS
//! uses) for the three modes of `job_store_tls`. `disable` never uses it; `verify-full` trusts Mozilla's
//! roots and `job_store_ca_file` and checks the certificate names the URL's host; `require` encrypts
//! without authenticating the server, as libpq's `sslmode=require` does (a passive listener learns
//! nothing; an active one can pose as the database: use `verify-full` across networks you do not own).

use std::sync::Arc;

use tari_wallet_sync_sse::tls;
use tokio_postgres::config::SslMode;
use tokio_postgres_rustls::MakeRustlsConnect;
use tokio_rustls::rustls::{
    self, DigitallySignedStruct, SignatureScheme,
    client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier},
    crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature},
    pki_types::{CertificateDer, ServerName, UnixTime},
};

use crate::service::config::JobStoreTls;

/// The connector and the mode the client library is told, for `mode` (and its CA file).
pub(super) fn connector(
    mode: JobStoreTls,
    ca_file: Option<&std::path::Path>,
) -> Result<(MakeRustlsConnect, SslMode), String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = match mode {
        JobStoreTls::Disable | JobStoreTls::VerifyFull => {
            let extra = match ca_file {
                Some(path) => tls::certificates_from_file(path).map_err(|e| format!("{} ({})", e, e.code()))?,
                None => Vec::new(),
            };
            tls::client_config(&extra).map_err(|e| format!("{} ({})", e, e.code()))?
        }
        JobStoreTls::Require => rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(EncryptOnly(provider)))
            .with_no_client_auth(),
    };
    let ssl_mode = match mode {
        JobStoreTls::Disable => SslMode::Disable,
        JobStoreTls::Require | JobStoreTls::VerifyFull => SslMode::Require,
    };
    Ok((MakeRustlsConnect::new(config), ssl_mode))
}

/// `require`: any certificate is accepted, but the handshake's signatures are still checked (so the
/// session keys are the ones the certificate's key signed for).
#[derive(Debug)]
struct EncryptOnly(Arc<CryptoProvider>);

impl ServerCertVerifier for EncryptOnly {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
