//! Limits: how much one client may ask for. Rate limits per client and wallet (`rate`: GCRA, LRU-bounded)
//! and connection caps (`slots`: in all, per client and IPv6 aggregate, headroom for newcomers). The job
//! domain admits through them and the HTTP edge accepts connections through them; neither is imported
//! here.

pub(super) mod rate;
pub(super) mod slots;
