//! Wallet-database builder: the `ResultBuilder` the service uses by default. A job's download is the
//! minotari-cli SQLite file `walletdb` builds from the scan result, zstd-compressed in chunks.

use zeroize::Zeroizing;

use super::artifact::{Artifact, ResultBuilder};
use crate::{
    cache::CacheView,
    recognize::WalletKey,
    scan::ScanResult,
    walletdb::{AccountSpec, BuildOptions, CacheReconstruction, account::birthday_days, build_wallet_file},
};

/// Builds each job's wallet database. Full outputs come from the cache (`CacheReconstruction`), the only
/// source the service reads today; see `docs/walletdb.md` for what that leaves out.
#[derive(Debug, Clone, Default)]
pub struct WalletDbBuilder {
    pub options: BuildOptions,
}

impl ResultBuilder for WalletDbBuilder {
    fn build(
        &self,
        key: &WalletKey,
        password: Option<Zeroizing<String>>,
        birthday: u64,
        result: &ScanResult,
        chain: &CacheView,
    ) -> Result<Artifact, String> {
        // The client keeps its birthday as days since 2022; take the day of the wallet's birthday block.
        let birthday_block = chain.block(birthday.max(result.from_height)).map_or(0, |b| b.timestamp);
        let account = AccountSpec {
            name: "default".into(),
            password: password.unwrap_or_default(),
            birthday: birthday_days(birthday_block),
        };
        let full = CacheReconstruction::new(chain);
        let file = build_wallet_file(key, &account, result, chain, &full, &self.options).map_err(|e| e.to_string())?;
        Ok(Artifact::from_chunks(file.chunks().to_vec(), file.raw_len, file.sha256))
    }
}
