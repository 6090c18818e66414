//! Operations: the background work over the job domain while the service runs. The janitor expires
//! results, the source watcher follows the chain view (and marks draining), and the webhook sender
//! delivers the outbox the job store keeps. Each stops on the service's shutdown token.

pub(super) mod janitor;
pub(super) mod source_watcher;
pub(super) mod webhooks;
