//! HTTP: the edge over the job domain. The router matches routes and applies the per-IP guards and the
//! request timeout, the handlers answer them, and `refusal` turns every `ApiError` into its status and
//! JSON body. Knows the job domain only, never the store, the cache or the scan.

mod context;
mod cors;
mod download;
mod events;
#[cfg(feature = "fuzzing")]
pub(crate) mod fuzzing;
pub(super) mod idle;
mod job_handlers;
#[cfg(test)]
mod openapi_check;
mod ops;
mod refusal;
mod response;
mod router;
pub(super) mod server;
mod submit;

pub(crate) use context::Ctx;
pub use job_handlers::API_PREFIX;
pub use ops::OPENAPI;
pub(crate) use refusal::error_response;
pub(crate) use router::handle;
