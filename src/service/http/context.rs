//! Handler context: what every route handler gets (the job domain, the peer, the port, the shutdown signal).

use std::{net::SocketAddr, sync::Arc};

use tokio_util::sync::CancellationToken;

use crate::service::{jobs::Jobs, requester::Port};

/// What every handler gets.
pub(crate) struct Ctx {
    pub jobs: Arc<Jobs>,
    pub peer: SocketAddr,
    pub port: Port,
    pub shutdown: CancellationToken,
}
