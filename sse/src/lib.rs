//! tari-wallet-sync-sse: what the service and wallet apps share.
//!
//! ```text
//! event    typed job events (queued, progress, ready, failed) and their SSE encoding
//! seal     sealed boxes: seal (wallet side) and open (server side), one construction
//! envelope the sealed submission (version 2): its plaintext, its body, the token derivation
//! proof    output proofs against a header's block_output_mr: their encoding, the header's hash preimage, the checks
//! client   (feature `client`) HTTP/1.1 and HTTP/2 (h2c, or TLS with ALPN) requests and an event stream
//!          that resumes by Last-Event-ID
//! tls      (feature `tls`, part of `client`) rustls settings, CA files and the HTTPS connector our
//!          clients share (the service's webhook sender too)
//! ```

pub mod envelope;
pub mod event;
pub mod proof;
pub mod seal;

#[cfg(feature = "client")]
pub mod client;
#[cfg(feature = "tls")]
pub mod tls;

pub use event::{IdentifiedEvent, JobEvent, KEEP_ALIVE, encode_retry, percent};
