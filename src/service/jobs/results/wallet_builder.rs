//! Wallet-database builder: the `ResultBuilder` the service uses by default. A job's download is the
//! minotari-cli SQLite file `walletdb` builds from the scan result and the owned outputs' full outputs
//! (from the configured sources, each checked against the chain's output hash; rebuilt only for a demo
//! chain), zstd-compressed in chunks.

use zeroize::Zeroizing;

use crate::service::{
    error::{FailureCode, JobFailure},
    jobs::results::artifact::{Artifact, ResultBuilder},
};
use crate::{
    cache::CacheView,
    recognize::WalletKey,
    scan::ScanResult,
    source::full_outputs::FullOutputSources,
    walletdb::{
        AccountSpec, BuildOptions, Interrupt, Stopped, WalletDbError, account::birthday_days, build_from_chain_until,
    },
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
        interrupt: &Interrupt<'_>,
    ) -> Result<Artifact, JobFailure> {
        // The client keeps its birthday as days since 2022; take the day of the wallet's birthday block.
        let birthday_block = chain.block(birthday.max(result.from_height)).map_or(0, |b| b.timestamp);
        let account = AccountSpec {
            name: "default".into(),
            password: password.unwrap_or_default(),
            birthday: birthday_days(birthday_block),
        };
        let built = build_from_chain_until(key, &account, result, chain, &self.sources, &self.options, interrupt);
        let file = built.map_err(|e| {
            match &e {
                // Heights of a wallet's outputs point at the wallet: the log gets the count only.
                WalletDbError::OutputImport { count, .. } => {
                    tracing::error!(code = e.code(), count, "owned outputs could not be imported")
                }
                WalletDbError::Stopped(Stopped::Cancelled) => tracing::debug!("the build was cancelled"),
                // A proof failure names the block, which points at the wallet: the log gets the code only.
                WalletDbError::Proof(_) => tracing::error!(code = e.code(), "the wallet's proofs could not be built"),
                _ => tracing::error!(code = e.code(), error = %e, "building the wallet file failed"),
            }
            failure(&e)
        })?;
        if file.summary.search_exhausted_blocks > 0 {
            tracing::warn!(
                blocks = file.summary.search_exhausted_blocks,
                "change-matching search budget spent: some change shows unmatched in the file's history"
            );
        }
        Ok(Artifact::from_chunks(file.chunks().to_vec(), file.raw_len, file.sha256))
    }
}

/// The job's failure for a build error: the client learns what kind of fault it was, not the details.
fn failure(error: &WalletDbError) -> JobFailure {
    match error {
        WalletDbError::FullOutputs(e) => JobFailure::new(
            FailureCode::Other(e.code()),
            "the node could not supply this wallet's outputs as mined; try again later",
            e.is_retryable(),
        ),
        WalletDbError::Proof(e) => JobFailure::new(
            FailureCode::Other(e.code()),
            "the node could not supply the blocks or headers this wallet's proofs need; try again later",
            e.is_retryable(),
        ),
        // The message names how many and where, never a key: the job's owner can find the outputs.
        WalletDbError::OutputImport { .. } => {
            JobFailure::new(FailureCode::Other(error.code()), error.to_string(), false)
        }
        // Built again, it would run as long again.
        WalletDbError::Stopped(Stopped::Deadline { limit }) => JobFailure::new(
            FailureCode::Other(error.code()),
            format!(
                "the wallet file took longer than the server allows ({} s) to build",
                limit.as_secs()
            ),
            false,
        ),
        WalletDbError::Stopped(Stopped::Cancelled) => {
            JobFailure::new(FailureCode::Other(error.code()), "the build was cancelled", false)
        }
        e => JobFailure::new(
            FailureCode::BuildFailed,
            "the wallet file could not be built",
            e.is_retryable(),
        ),
    }
}
