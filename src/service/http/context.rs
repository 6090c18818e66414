//! Handler context: what every route handler gets (the engine, the peer, the port, the shutdown signal).

use std::{net::SocketAddr, sync::Arc};

use tokio_util::sync::CancellationToken;

use crate::service::{client::Port, engine::Engine};

/// What every handler gets.
pub(crate) struct Ctx {
    pub engine: Arc<Engine>,
    pub peer: SocketAddr,
    pub port: Port,
    pub shutdown: CancellationToken,
}
