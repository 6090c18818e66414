//! Data directory: the folder that holds the job store, the result files and, by default, the server key
//! is created owner-only, and the operator is warned when the key shares it (a copy of the folder would
//! open every queued job).

use super::{ServiceConfig, ServiceError, keyfile};

/// Creates the data directory owner-only (0700, and so any parent it creates), or narrows an existing one
/// that others may enter, with a warning: it holds the job store and, by default, the server key. Every
/// creator of the directory calls this first (the plugin too), so it is 0700 whoever comes first.
pub fn create_private_dir(dir: &std::path::Path) -> Result<(), ServiceError> {
    let fail = |e: std::io::Error| ServiceError::Config(format!("creating {}: {e}", dir.display()));
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        match std::fs::metadata(dir) {
            Ok(meta) if meta.is_dir() => {
                let mode = meta.permissions().mode();
                if mode & 0o077 != 0 {
                    tracing::warn!(path = %dir.display(), mode = format!("{:o}", mode & 0o777), "the data directory was open to other users; setting 0700");
                    if let Err(error) = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)) {
                        tracing::warn!(path = %dir.display(), %error, "cannot narrow the data directory");
                    }
                }
                Ok(())
            }
            Ok(_) => Err(fail(std::io::Error::other("not a directory"))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(fail),
            Err(e) => Err(fail(e)),
        }
    }
    #[cfg(not(unix))]
    {
        std::fs::create_dir_all(dir).map_err(fail)
    }
}

/// The server key opens every queued job's envelope: kept in the job store's directory, a copy of that
/// directory (a backup) opens them too. Says so, and about a key file left there after the key moved.
pub(super) fn warn_if_key_beside_store(config: &ServiceConfig, key_file: &std::path::Path) {
    let canonical = |p: &std::path::Path| std::fs::canonicalize(p).ok();
    let data_dir = canonical(&config.data_dir);
    let key_dir = key_file.parent().and_then(canonical);
    if data_dir.is_some() && data_dir == key_dir {
        tracing::warn!(
            key = %key_file.display(),
            "the server key shares the job store's directory: a copy of it opens every queued job; set \
             server_key_file (or a systemd credential named server-key) to keep it apart"
        );
    } else if config.data_dir.join(keyfile::FILE_NAME).exists() {
        tracing::warn!(
            left = %config.data_dir.join(keyfile::FILE_NAME).display(),
            key = %key_file.display(),
            "a server key file is still in the data directory; remove it once the key in use is the one \
             elsewhere"
        );
    }
}
