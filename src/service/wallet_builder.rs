//! Wallet-database builder: the `ResultBuilder` the service uses by default. A job's download is the
//! minotari-cli SQLite file `walletdb` builds from the scan result and the owned outputs' full outputs
//! (from the configured sources, each checked against the chain's output hash; rebuilt only for a demo
//! chain), zstd-compressed in chunks.

use zeroize::Zeroizing;

use super::{
    artifact::{Artifact, ResultBuilder},
    error::JobFailure,
};
use crate::{
    cache::CacheView,
    recognize::WalletKey,
    scan::ScanResult,
    source::full_outputs::FullOutputSources,
    walletdb::{AccountSpec, BuildOptions, WalletDbError, account::birthday_days, build_from_chain},
};

/// Builds each job's wallet database.
#[derive(Debug, Clone, Default)]
pub struct WalletDbBuilder {
    pub options: BuildOptions,
    /// Where owned outputs' full outputs come from, asked in order. Empty: only demo chains can be
    /// served; a real chain's jobs fail with `FULL_OUTPUTS_UNAVAILABLE`.
    pub sources: FullOutputSources,
}

impl WalletDbBuilder {
    pub fn new(sources: FullOutputSources) -> WalletDbBuilder {
        WalletDbBuilder {
            options: BuildOptions::default(),
            sources,
        }
    }
}

impl ResultBuilder for WalletDbBuilder {
    fn build(
        &self,
        key: &WalletKey,
        password: Option<Zeroizing<String>>,
        birthday: u64,
        result: &ScanResult,
        chain: &CacheView,
    ) -> Result<Artifact, JobFailure> {
        // The client keeps its birthday as days since 2022; take the day of the wallet's birthday block.
        let birthday_block = chain.block(birthday.max(result.from_height)).map_or(0, |b| b.timestamp);
        let account = AccountSpec {
            name: "default".into(),
            password: password.unwrap_or_default(),
            birthday: birthday_days(birthday_block),
        };
        let file = build_from_chain(key, &account, result, chain, &self.sources, &self.options).map_err(|e| {
            tracing::error!(code = e.code(), error = %e, "building the wallet file failed");
            failure(&e)
        })?;
        Ok(Artifact::from_chunks(file.chunks().to_vec(), file.raw_len, file.sha256))
    }
}

/// The job's failure for a build error: the client learns what kind of fault it was, not the details.
fn failure(error: &WalletDbError) -> JobFailure {
    match error {
        WalletDbError::FullOutputs(e) => JobFailure::new(
            e.code(),
            "the node could not supply this wallet's outputs as mined; try again later",
            e.is_retryable(),
        ),
        e => JobFailure::new("BUILD_FAILED", "the wallet file could not be built", e.is_retryable()),
    }
}
