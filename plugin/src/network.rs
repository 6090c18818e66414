//! Network: which Tari network one run of the plugin reads, settled before anything hashes. The
//! configuration may name it; the data always says it (a node database's and a node's genesis block, an
//! existing cache's network byte). All of them must agree, a disagreement is `NETWORK_MISMATCH` naming
//! both, and the one network is then set for the process (`tari_wallet_sync::network::use_network`), so
//! the official crates hash under it and nothing can switch it later.

use std::{path::Path, time::Duration};

use anyhow::{Result, anyhow};
use tari_wallet_sync::{
    cache::{CacheError, CacheView},
    network::{self, Network, NetworkError},
    source::{ClientOptions, NodeClient, lmdb::NodeDb},
};

use crate::config::DEFAULT_NETWORK;

/// Something that says which network it is on.
#[derive(Debug, Clone)]
pub struct Evidence {
    /// Names the witness in errors and logs: "the configuration", "the cache in …".
    pub what: String,
    pub network: Network,
}

impl Evidence {
    pub fn new(what: impl Into<String>, network: Network) -> Evidence {
        Evidence {
            what: what.into(),
            network,
        }
    }
}

/// Settles the run's network from the configured one and the evidence (all must agree; with neither,
/// mainnet) and makes it the process network. A refusal carries its code (`NETWORK_MISMATCH`,
/// `NETWORK_CONFLICT`, `NETWORK_ENV_DISAGREES`).
pub fn settle(configured: Option<Network>, evidence: impl IntoIterator<Item = Evidence>) -> Result<Network> {
    let mut witnesses: Vec<Evidence> = configured
        .map(|n| Evidence::new("the configuration (network)", n))
        .into_iter()
        .collect();
    witnesses.extend(evidence);
    let chosen = match witnesses.first() {
        Some(first) => {
            if let Some(other) = witnesses.iter().find(|w| w.network != first.network) {
                return Err(refused(NetworkError::Mismatch {
                    what: other.what.clone(),
                    expected: first.network,
                    found: other.network,
                })
                .context(format!("{} says {}", first.what, first.network)));
            }
            first.network
        }
        None => {
            tracing::warn!(network = %DEFAULT_NETWORK, "no network configured and no data to tell it by: assuming it");
            DEFAULT_NETWORK
        }
    };
    network::use_network(chosen).map_err(refused)?;
    tracing::info!(network = %chosen, "network");
    Ok(chosen)
}

/// An error that keeps its stable code in the message.
pub fn refused(error: NetworkError) -> anyhow::Error {
    let code = error.code();
    anyhow!(error).context(format!("network check failed ({code})"))
}

/// The network an existing cache in `dir` was made for; `None` if the directory holds no cache yet.
pub fn cache_evidence(dir: &Path) -> Result<Option<Evidence>> {
    match CacheView::open(dir) {
        Ok(view) => {
            let network = network::from_byte(view.network()).map_err(refused)?;
            Ok(Some(Evidence::new(format!("the cache in {}", dir.display()), network)))
        }
        Err(CacheError::NotFound { .. }) => Ok(None),
        Err(e) => Err(anyhow!(e).context(format!("opening the cache in {}", dir.display()))),
    }
}

/// The network of a node database, from its genesis block.
pub fn lmdb_evidence(db: &NodeDb) -> Result<Evidence> {
    let network = db.network().map_err(|e| {
        let code = e.code();
        anyhow!(e).context(format!("telling the node database's network ({code})"))
    })?;
    Ok(Evidence::new(
        format!("the node database in {}", db.dir().display()),
        network,
    ))
}

/// The network of the node at `url`, from the genesis block it reports; `None` (with a warning) if it
/// cannot be asked now: the follower checks it again once it answers.
pub async fn node_evidence(url: &str) -> Option<Evidence> {
    let options = ClientOptions {
        request_timeout: Duration::from_secs(5),
        ..ClientOptions::default()
    };
    let asked = async {
        let client = NodeClient::with_options(url, options)?;
        client.header(0).await
    };
    match asked.await {
        Ok(Some(genesis)) => match network::network_of_genesis(&genesis.hash) {
            Some(network) => Some(Evidence::new(format!("the node at {url}"), network)),
            None => {
                tracing::warn!(node = url, genesis = %hex::encode(genesis.hash), "the node's genesis is no known network's");
                None
            }
        },
        Ok(None) => None,
        Err(error) => {
            tracing::warn!(node = url, %error, "cannot ask the node which network it is on now");
            None
        }
    }
}
