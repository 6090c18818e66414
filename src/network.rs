//! Network: which Tari network this process reads, and how it tells one network's data from another's.
//! Owns the process network (the one the official crates hash under), the official genesis hashes and
//! the checks that a database, a node or a cache belongs to the configured network. Not configuration
//! (the plugin reads the name) and not the chain itself.
//!
//! Every consensus hash (block headers, outputs) is domain-separated by the network byte, which the
//! official crates read from a process-wide setting (`Network::set_current`), else the `TARI_NETWORK`
//! environment variable, else the build's default (Esmeralda for a test-network build, MainNet for a
//! mainnet build). A reader that never sets it hashes a node's data under the wrong domain. So every
//! entry point that hashes calls [`use_network`] first, and code that hashes checks [`require`].
//!
//! One build serves every network: we set the network explicitly, so the crates' build-time target
//! (`TARI_TARGET_NETWORK`, which only decides their default and which networks
//! `tari_common::network_check` lets a *node* join) never decides what we hash under. The network comes
//! from the configuration or from the data itself (its genesis block), and the two are checked against
//! each other.

pub use tari_common::configuration::Network;

/// Every network, in the order errors list them.
pub const NETWORKS: [Network; 6] = [
    Network::MainNet,
    Network::StageNet,
    Network::NextNet,
    Network::Esmeralda,
    Network::Igor,
    Network::LocalNet,
];

/// The official genesis block hash of each network, as tari_core 6.3.0-pre.2 pins them in its genesis
/// sanity tests (`blocks/genesis_block.rs`), each hashed under its own network byte. Checked in CI
/// against the fixture database's genesis (LocalNet) and recomputed for every network by
/// `tools/node-fixture genesis`.
pub fn genesis_hash(network: Network) -> [u8; 32] {
    let hex = match network {
        Network::MainNet => "01f0cf665bd4cd31cbb2b2470236389c483522b350335e10a4a5dca34cb85990",
        Network::StageNet => "a100a8fb378d4a1367b769680dc1b7b1d53b274c55aa679b7eedea4e703272c2",
        Network::NextNet => "15fdb3fe7ad08615ff5342113349558a047ee372cb297bec84bdaf4c52cf189e",
        Network::Esmeralda => "3c3681ad318eb54ca3f3e8aed79d3d207d94a5291aec84ba1a0b628633db3621",
        Network::Igor => "486f0f75a50acadd7e57c5dfcfbf9daece94784d6f35db855012942700216e00",
        Network::LocalNet => "bd2126f3f5220653d93dc6eade3d062c26845de9859ec9d0b5c758a5a0b6ef3f",
    };
    let mut hash = [0u8; 32];
    hex::decode_to_slice(hex, &mut hash).expect("a 32-byte hex constant");
    hash
}

/// The network whose genesis block has `hash`, if any.
pub fn network_of_genesis(hash: &[u8; 32]) -> Option<Network> {
    NETWORKS.into_iter().find(|&n| genesis_hash(n) == *hash)
}

/// Why a network cannot be used, or why data is not of the configured network.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NetworkError {
    #[error("unknown network {0:?}: mainnet, stagenet, nextnet, esmeralda, igor or localnet")]
    Unknown(String),
    #[error("unknown network byte {0:#04x}")]
    UnknownByte(u8),
    /// Something in this process (a host node, an earlier call) already hashes under another network.
    #[error("this process already uses network {current}; it cannot also read {wanted} (one network per process)")]
    Conflict { current: Network, wanted: Network },
    /// `TARI_NETWORK` names another network than the configured one: one of the two is a mistake.
    #[error("TARI_NETWORK={env} in the environment, but the configured network is {wanted}; make them agree")]
    EnvDisagrees { env: String, wanted: Network },
    /// Data (a node database, a node, a cache) belongs to another network than the configured one.
    #[error("{what} is on {found}, but the configured network is {expected}")]
    Mismatch {
        what: String,
        expected: Network,
        found: Network,
    },
    /// Data whose genesis block is no known network's (a foreign chain, or a database too damaged to tell).
    #[error("{what} has genesis block {genesis}, which is no Tari network's; is it a Tari base node's chain?")]
    UnknownGenesis { what: String, genesis: String },
    /// Code that hashes ran before any entry point chose the network.
    #[error("the process network is not set (hashing now would use the crates' default, {default})")]
    NotSet { default: Network },
}

impl NetworkError {
    /// A short stable code for logs, scripts and API errors.
    pub fn code(&self) -> &'static str {
        match self {
            NetworkError::Unknown(_) | NetworkError::UnknownByte(_) => "UNKNOWN_NETWORK",
            NetworkError::Conflict { .. } => "NETWORK_CONFLICT",
            NetworkError::EnvDisagrees { .. } => "NETWORK_ENV_DISAGREES",
            NetworkError::Mismatch { .. } => "NETWORK_MISMATCH",
            NetworkError::UnknownGenesis { .. } => "UNKNOWN_GENESIS",
            NetworkError::NotSet { .. } => "NETWORK_NOT_SET",
        }
    }
}

/// A network by name (`mainnet`, `stagenet`, `nextnet`, `esmeralda`, `igor`, `localnet`).
pub fn parse(name: &str) -> Result<Network, NetworkError> {
    name.trim()
        .parse::<Network>()
        .map_err(|_| NetworkError::Unknown(name.to_owned()))
}

/// The network of a network byte, as caches record it.
pub fn from_byte(byte: u8) -> Result<Network, NetworkError> {
    Network::try_from(byte).map_err(|_| NetworkError::UnknownByte(byte))
}

/// The network byte of a network name, as caches record it.
pub fn network_byte(name: &str) -> Result<u8, NetworkError> {
    parse(name).map(Network::as_byte)
}

/// Makes `network` the process network, the one every official hash uses from now on. Refuses when the
/// process already uses another (a host node that set its own, an earlier call) and when `TARI_NETWORK`
/// names another: either would otherwise hash silently under one network while the configuration says
/// another. Setting the same network again is fine.
pub fn use_network(network: Network) -> Result<(), NetworkError> {
    if let Ok(env) = std::env::var("TARI_NETWORK")
        && parse(&env).ok() != Some(network)
    {
        return Err(NetworkError::EnvDisagrees { env, wanted: network });
    }
    match Network::set_current(network) {
        Ok(()) => Ok(()),
        Err(current) if current == network => Ok(()),
        Err(current) => Err(NetworkError::Conflict {
            current,
            wanted: network,
        }),
    }
}

/// [`use_network`] for a network byte.
pub fn use_network_byte(byte: u8) -> Result<Network, NetworkError> {
    let network = from_byte(byte)?;
    use_network(network)?;
    Ok(network)
}

/// The process network, which must have been set (by [`use_network`] or by a host node) and be the
/// network of `byte`: what code that hashes checks before it trusts a hash comparison.
pub fn require(byte: u8) -> Result<Network, NetworkError> {
    let wanted = from_byte(byte)?;
    if !Network::is_set() {
        return Err(NetworkError::NotSet {
            default: Network::get_current_or_user_setting_or_default(),
        });
    }
    match Network::get_current() {
        current if current == wanted => Ok(current),
        current => Err(NetworkError::Conflict { current, wanted }),
    }
}

/// Checks that data whose genesis block is `genesis` belongs to `expected`; `what` names the data in
/// the error ("the node at http://…", "the database in …").
pub fn check_genesis(what: &str, expected: Network, genesis: &[u8; 32]) -> Result<(), NetworkError> {
    match network_of_genesis(genesis) {
        Some(found) if found == expected => Ok(()),
        Some(found) => Err(NetworkError::Mismatch {
            what: what.to_owned(),
            expected,
            found,
        }),
        None => Err(NetworkError::UnknownGenesis {
            what: what.to_owned(),
            genesis: hex::encode(genesis),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_network_has_its_own_genesis() {
        for network in NETWORKS {
            assert_eq!(network_of_genesis(&genesis_hash(network)), Some(network));
        }
        assert_eq!(network_of_genesis(&[0; 32]), None);
    }

    #[test]
    fn names_and_bytes_round_trip() {
        for network in NETWORKS {
            assert_eq!(parse(network.as_key_str()), Ok(network));
            assert_eq!(from_byte(network.as_byte()), Ok(network));
        }
        assert_eq!(parse("esme"), Ok(Network::Esmeralda));
        assert_eq!(parse("testnet").unwrap_err().code(), "UNKNOWN_NETWORK");
        assert_eq!(from_byte(0x99).unwrap_err().code(), "UNKNOWN_NETWORK");
    }

    #[test]
    fn a_genesis_of_another_network_names_both() {
        let err = check_genesis("the node", Network::MainNet, &genesis_hash(Network::LocalNet)).unwrap_err();
        assert_eq!(err.code(), "NETWORK_MISMATCH");
        let text = err.to_string();
        assert!(text.contains("localnet") && text.contains("mainnet"), "{text}");
        let err = check_genesis("the node", Network::MainNet, &[7; 32]).unwrap_err();
        assert_eq!(err.code(), "UNKNOWN_GENESIS");
        check_genesis("the node", Network::Igor, &genesis_hash(Network::Igor)).unwrap();
    }
}
