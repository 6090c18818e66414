//! tari-wallet-sync-sse: what the service and wallet apps share.
//!
//! ```text
//! event    typed job events (queued, progress, ready, failed) and their SSE encoding
//! seal     the sealed-key envelope: seal (wallet side) and open (server side), one construction
//! client   (feature `client`) HTTP/1.1 + h2c requests and an event stream that resumes by Last-Event-ID
//! ```

pub mod event;
pub mod seal;

#[cfg(feature = "client")]
pub mod client;

pub use event::{IdentifiedEvent, JobEvent, KEEP_ALIVE, encode_retry, percent};
