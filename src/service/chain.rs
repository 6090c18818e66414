//! Chain: the view of the chain a scan pass reads (`cache_source`: a cache directory, a follower's
//! published snapshots, or a staged import) and the service's phase over it (`lifecycle`: Starting ..
//! Stopped, and the source's faults). Reads the cache and the source; knows nothing of jobs or HTTP.

pub(super) mod cache_source;
pub(super) mod lifecycle;
