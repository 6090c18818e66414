//! Wallet database errors: why a wallet file could not be built. Messages never carry the password, key
//! bytes or anything that identifies the wallet beyond heights and output hashes the chain shows anyway.

use crate::source::full_outputs::FullOutputError;

/// Why `build_wallet_file` failed.
#[derive(Debug, thiserror::Error)]
pub enum WalletDbError {
    #[error("the account name must be 1 to {max} bytes, got {len}")]
    AccountName { len: usize, max: usize },
    #[error("the password is {len} bytes; at most {max} are accepted")]
    PasswordTooLong { len: usize, max: usize },
    #[error("the wallet birthday {0} does not fit minotari-cli's u16 day count")]
    Birthday(u64),
    #[error("deriving the password key failed: {0}")]
    KeyDerivation(String),
    #[error("encrypting the account failed")]
    Encryption,
    /// The owned outputs' full outputs could not all be had, checked against the chain.
    #[error(transparent)]
    FullOutputs(#[from] FullOutputError),
    #[error("{given} full outputs for {owned} owned outputs")]
    FullOutputCount { owned: usize, given: usize },
    #[error("the full output at height {height} hashes to {got}, the chain says {expected}")]
    OutputHashMismatch { height: u64, expected: String, got: String },
    #[error("building the wallet output at height {height} failed: {reason}")]
    WalletOutput { height: u64, reason: String },
    #[error("no block hash for height {0}: the chain view does not reach it")]
    MissingBlock(u64),
    #[error("the block at height {0} is not the one the scan saw: the chain view and the scan result differ")]
    ChainMismatch(u64),
    #[error("timestamp {0} is out of range")]
    Timestamp(u64),
    #[error("SQLite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("compressing the wallet file: {0}")]
    Compress(#[from] std::io::Error),
}

impl WalletDbError {
    /// Stable machine-readable code for APIs and CLIs.
    pub fn code(&self) -> &'static str {
        match self {
            WalletDbError::AccountName { .. } => "ACCOUNT_NAME",
            WalletDbError::PasswordTooLong { .. } => "PASSWORD_TOO_LONG",
            WalletDbError::Birthday(_) => "BIRTHDAY_RANGE",
            WalletDbError::FullOutputs(e) => e.code(),
            WalletDbError::MissingBlock(_) => "SOURCE_UNAVAILABLE",
            WalletDbError::OutputHashMismatch { .. } | WalletDbError::ChainMismatch(_) => "SOURCE_INCONSISTENT",
            _ => "WALLET_DB_INTERNAL",
        }
    }

    /// Worth trying the job again later: a source that may answer then, a chain that moved meanwhile.
    pub fn is_retryable(&self) -> bool {
        match self {
            WalletDbError::FullOutputs(e) => e.is_retryable(),
            WalletDbError::MissingBlock(_)
            | WalletDbError::ChainMismatch(_)
            | WalletDbError::OutputHashMismatch { .. } => true,
            _ => false,
        }
    }
}
