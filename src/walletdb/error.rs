//! Wallet database errors: why a wallet file could not be built. Messages never carry the password, key
//! bytes or anything that identifies the wallet beyond heights and output hashes the chain shows anyway.

use super::interrupt::Stopped;
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
    /// The owned outputs' proofs could not be built and checked against their headers.
    #[error(transparent)]
    Proof(#[from] crate::proof::ProofBuildError),
    #[error("{given} full outputs for {owned} owned outputs")]
    FullOutputCount { owned: usize, given: usize },
    #[error("the full output at height {height} hashes to {got}, the chain says {expected}")]
    OutputHashMismatch { height: u64, expected: String, got: String },
    #[error("building the wallet output at height {height} failed: {reason}")]
    WalletOutput { height: u64, reason: String },
    /// Owned outputs the official wallet code cannot import (`WalletOutput::new_imported`: no script key
    /// the wallet can derive for their script). The client's scanner drops such outputs silently; a file
    /// without them would show a wrong balance, so none is built.
    #[error("{}", import_failed(.count, .heights))]
    OutputImport { count: usize, heights: Heights },
    /// The build ran past its deadline or its job was cancelled.
    #[error("{}", stopped(.0))]
    Stopped(Stopped),
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
            WalletDbError::Proof(e) => e.code(),
            WalletDbError::MissingBlock(_) => "SOURCE_UNAVAILABLE",
            WalletDbError::OutputHashMismatch { .. } | WalletDbError::ChainMismatch(_) => "SOURCE_INCONSISTENT",
            WalletDbError::OutputImport { .. } => "OUTPUT_IMPORT_FAILED",
            WalletDbError::Stopped(Stopped::Deadline { .. }) => "BUILD_TIMEOUT",
            WalletDbError::Stopped(Stopped::Cancelled) => "BUILD_CANCELLED",
            _ => "WALLET_DB_INTERNAL",
        }
    }

    /// Worth trying the job again later: a source that may answer then, a chain that moved meanwhile.
    pub fn is_retryable(&self) -> bool {
        match self {
            WalletDbError::FullOutputs(e) => e.is_retryable(),
            WalletDbError::Proof(e) => e.is_retryable(),
            WalletDbError::MissingBlock(_)
            | WalletDbError::ChainMismatch(_)
            | WalletDbError::OutputHashMismatch { .. } => true,
            _ => false,
        }
    }
}

fn import_failed(count: &usize, heights: &Heights) -> String {
    let (s, them) = if *count == 1 { ("", "its") } else { ("s", "their") };
    format!(
        "{count} owned output{s} could not be imported: the wallet cannot derive a script key for {them} script \
         (at height{s} {heights})"
    )
}

fn stopped(how: &Stopped) -> String {
    match how {
        Stopped::Deadline { limit } => format!("the build ran past its {} s deadline", limit.as_secs()),
        Stopped::Cancelled => "the build was cancelled".into(),
    }
}

/// Heights of some outputs, for a message: the first few, then how many more.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Heights(pub Vec<u64>);

impl Heights {
    /// Heights named before "and N more": enough to find the outputs, never a page of numbers.
    const SHOWN: usize = 5;
}

impl std::fmt::Display for Heights {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shown: Vec<String> = self.0.iter().take(Self::SHOWN).map(u64::to_string).collect();
        write!(f, "{}", shown.join(", "))?;
        if self.0.len() > Self::SHOWN {
            write!(f, " and {} more", self.0.len() - Self::SHOWN)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn import_failures_say_how_many_and_where() {
        let one = WalletDbError::OutputImport {
            count: 1,
            heights: Heights(vec![12]),
        };
        assert_eq!(
            one.to_string(),
            "1 owned output could not be imported: the wallet cannot derive a script key for its script (at height 12)"
        );
        let many = WalletDbError::OutputImport {
            count: 7,
            heights: Heights((1..=7).collect()),
        };
        assert!(many.to_string().starts_with("7 owned outputs could not be imported"));
        assert!(
            many.to_string().ends_with("(at heights 1, 2, 3, 4, 5 and 2 more)"),
            "{many}"
        );
        assert_eq!(many.code(), "OUTPUT_IMPORT_FAILED");
        let late = WalletDbError::Stopped(Stopped::Deadline {
            limit: std::time::Duration::from_secs(300),
        });
        assert_eq!(
            (late.code(), late.to_string().as_str()),
            ("BUILD_TIMEOUT", "the build ran past its 300 s deadline")
        );
    }
}
