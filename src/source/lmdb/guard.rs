//! The running-node check. A base node opens its LMDB without LMDB's own locking and instead holds an
//! exclusive `flock` on `.chain_storage_file.lock` for as long as it runs; the file stays behind when it
//! stops. So the test is a non-blocking lock attempt, never the file's presence. We keep a shared lock
//! while reading, so a node cannot start on the database halfway through an import.

use std::{
    fs::{File, TryLockError},
    path::Path,
};

use super::LmdbError;

/// The node's lock file, relative to its database directory (tari_core's `acquire_exclusive_file_lock`).
pub const NODE_LOCK_FILE: &str = ".chain_storage_file.lock";

/// Held for as long as the database is read; `None` inside for a copy that has no lock file.
#[derive(Debug)]
pub struct NodeLockGuard {
    _file: Option<File>,
}

impl NodeLockGuard {
    /// Takes a shared lock on the node's lock file, or refuses with `NodeRunning` if a node holds it.
    pub fn acquire(dir: &Path) -> Result<NodeLockGuard, LmdbError> {
        let path = dir.join(NODE_LOCK_FILE);
        let file = match File::open(&path) {
            Ok(file) => file,
            // A copy (of a stopped node's database, a snapshot) has no lock file, and no node runs on it.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(NodeLockGuard { _file: None }),
            Err(source) => {
                return Err(LmdbError::Io {
                    dir: dir.into(),
                    source,
                });
            }
        };
        match file.try_lock_shared() {
            Ok(()) => Ok(NodeLockGuard { _file: Some(file) }),
            Err(TryLockError::WouldBlock) => Err(LmdbError::NodeRunning { dir: dir.into() }),
            Err(TryLockError::Error(source)) => Err(LmdbError::Io {
                dir: dir.into(),
                source,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_lock_file_means_a_running_node() {
        let dir = tempfile::tempdir().unwrap();
        let node = File::create(dir.path().join(NODE_LOCK_FILE)).unwrap();
        node.try_lock().unwrap(); // what the node does: an exclusive flock
        let err = NodeLockGuard::acquire(dir.path()).unwrap_err();
        assert_eq!(err.code(), "NODE_RUNNING");
        let text = err.to_string();
        assert!(
            !text.contains("mdb_copy"),
            "no copy of a running node's database: {text}"
        );
        assert!(text.contains("stop the node"), "{text}");
        assert!(text.contains("tari-wallet-sync follow"), "{text}");

        // The node stops: the file stays, the lock goes.
        node.unlock().unwrap();
        let guard = NodeLockGuard::acquire(dir.path()).unwrap();
        // While we read, a node cannot take its exclusive lock.
        let starting = File::create(dir.path().join(NODE_LOCK_FILE)).unwrap();
        assert!(starting.try_lock().is_err());
        drop(guard);
        starting.try_lock().unwrap();
    }

    #[test]
    fn a_copy_without_a_lock_file_is_fine() {
        let dir = tempfile::tempdir().unwrap();
        NodeLockGuard::acquire(dir.path()).unwrap();
    }
}
