//! What a source of full outputs says when it cannot answer.

/// Why a source could not answer. The message is for operators: it names the source, never a key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{source_name}: {reason}")]
pub struct SourceFailure {
    pub source_name: String,
    pub reason: String,
}
