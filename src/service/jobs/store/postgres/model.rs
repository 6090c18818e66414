//! The values that cross the PostgreSQL store's files: why a call failed (`Failure`, before its text is
//! scrubbed of the URL's password), the conversions between the domain's numbers and the columns', and
//! the records of the fleet calls (`Claimed`, `StoreChange`, `StoredJobRow`). A leaf: it imports nothing
//! of the store.

/// Why a call failed, before it is told (with the URL's password scrubbed).
#[derive(Debug)]
pub enum Failure {
    Postgres(tokio_postgres::Error),
    Pool(deadpool_postgres::PoolError),
    /// The store refuses (a newer schema, a payload too large): the reason as said.
    Refused(String),
}

impl From<tokio_postgres::Error> for Failure {
    fn from(error: tokio_postgres::Error) -> Failure {
        Failure::Postgres(error)
    }
}

impl From<deadpool_postgres::PoolError> for Failure {
    fn from(error: deadpool_postgres::PoolError) -> Failure {
        Failure::Pool(error)
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Postgres(error) | Failure::Pool(deadpool_postgres::PoolError::Backend(error)) => {
                describe(error, f)
            }
            Failure::Pool(error) => write!(f, "{error}"),
            Failure::Refused(reason) => f.write_str(reason),
        }
    }
}

/// A client error with what caused it (the server's message and SQLSTATE, or the I/O error under it).
fn describe(error: &tokio_postgres::Error, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
    if let Some(db) = error.as_db_error() {
        return write!(f, "{} ({})", db.message(), db.code().code());
    }
    write!(f, "{error}")?;
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        write!(f, ": {cause}")?;
        source = cause.source();
    }
    Ok(())
}

/// A failure that means the database was not reached (refused, timed out, no such host, closed): not
/// an answer from it.
pub fn is_unreachable(failure: &Failure) -> bool {
    match failure {
        Failure::Pool(deadpool_postgres::PoolError::Backend(error)) | Failure::Postgres(error) => {
            error.as_db_error().is_none_or(|db| {
                // Too many connections, or starting up / shutting down: not there for us yet.
                matches!(db.code().code(), "53300" | "57P03")
            })
        }
        Failure::Pool(_) => true,
        Failure::Refused(_) => false,
    }
}

/// i64 for a column, from a u64 the domain counts in (ms since 1970 and heights fit many times over).
pub fn sql(value: u64) -> i64 {
    value.min(i64::MAX as u64) as i64
}

/// u64 for the domain, from a column that is never negative unless someone wrote it by hand.
pub fn domain(value: i64) -> u64 {
    value.max(0) as u64
}

/// A 32-byte column read back (a shorter one, written by hand, reads as zeros and matches nothing).
pub fn bytes32(bytes: &[u8]) -> [u8; 32] {
    bytes.try_into().unwrap_or([0; 32])
}
