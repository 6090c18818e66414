//! Keyring: the sealing keys one server holds while a fleet rotates its key, and which of them a box is
//! tried with. The `current` key is advertised (`GET /api/v1/server-key`) and seals plain submissions;
//! a `next` key is accepted but not yet advertised (every replica must accept it before any advertises
//! it); a `previous` key is still accepted (envelopes sealed before the switch, queued jobs) and named as
//! such. Each comes from a key file of its own (`keyfile`; `server_key_file`, `next_server_key_file`,
//! `previous_server_key_file`): only the current one is created when missing, since a missing `next` or
//! `previous` is a deployment mistake, not a first start. The rotation procedure is `docs/fleet.md`'s.
//! Opening a box is `envelope`'s.

use std::path::Path;

use tari_wallet_sync_sse::seal::ServerKey;

use super::keyfile;
use crate::service::{config::ServiceConfig, error::ServiceError};

/// What a key is to the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in crate::service) enum KeyRole {
    Current,
    Next,
    Previous,
}

impl KeyRole {
    pub(in crate::service) fn name(self) -> &'static str {
        match self {
            KeyRole::Current => "current",
            KeyRole::Next => "next",
            KeyRole::Previous => "previous",
        }
    }
}

/// The server's sealing keys: one current, at most one next and one previous, all distinct.
pub struct ServerKeys {
    current: ServerKey,
    next: Option<ServerKey>,
    previous: Option<ServerKey>,
}

impl ServerKeys {
    /// One key, nothing rotating.
    pub fn single(current: ServerKey) -> ServerKeys {
        ServerKeys {
            current,
            next: None,
            previous: None,
        }
    }

    /// Keys in the roles given, unchecked (the domain's unit tests).
    #[cfg(test)]
    pub(in crate::service) fn for_tests(
        current: ServerKey,
        next: Option<ServerKey>,
        previous: Option<ServerKey>,
    ) -> Self {
        ServerKeys {
            current,
            next,
            previous,
        }
    }

    /// The keys the config names: the current one loaded or created, `next` and `previous` loaded (a
    /// missing file is refused). The same key in two roles is refused: it is a rotation step half done
    /// (a file copied rather than moved), and would hide which key a replica advertises.
    pub fn load(config: &ServiceConfig) -> Result<ServerKeys, ServiceError> {
        let current = keyfile::load_or_create(&config.server_key_path())?;
        let load = |path: &Option<std::path::PathBuf>| path.as_deref().map(keyfile::load).transpose();
        let keys = ServerKeys {
            current,
            next: load(&config.next_server_key_file)?,
            previous: load(&config.previous_server_key_file)?,
        };
        keys.check_distinct(config)?;
        tracing::info!(
            current = %keys.current.key_id(),
            next = keys.next.as_ref().map(ServerKey::key_id).unwrap_or_default(),
            previous = keys.previous.as_ref().map(ServerKey::key_id).unwrap_or_default(),
            "server sealing keys"
        );
        Ok(keys)
    }

    fn check_distinct(&self, config: &ServiceConfig) -> Result<(), ServiceError> {
        let named = [
            (KeyRole::Next, &self.next, &config.next_server_key_file),
            (KeyRole::Previous, &self.previous, &config.previous_server_key_file),
        ];
        let mut seen = vec![(KeyRole::Current, self.current.public_key())];
        for (role, key, path) in named {
            let (Some(key), Some(path)) = (key, path) else { continue };
            if let Some((other, _)) = seen.iter().find(|(_, public)| *public == key.public_key()) {
                return Err(same_key(path, role, *other));
            }
            seen.push((role, key.public_key()));
        }
        Ok(())
    }

    /// The advertised key: plain submissions are sealed to it.
    pub fn current(&self) -> &ServerKey {
        &self.current
    }

    /// The key still accepted after a switch, if any.
    pub fn previous(&self) -> Option<&ServerKey> {
        self.previous.as_ref()
    }

    /// Every key with its role, the current first, then the next (a client ahead of this replica), then
    /// the previous: the order a box without a key id is tried in.
    pub(in crate::service) fn in_order(&self) -> impl Iterator<Item = (KeyRole, &ServerKey)> {
        std::iter::once((KeyRole::Current, &self.current))
            .chain(self.next.as_ref().map(|key| (KeyRole::Next, key)))
            .chain(self.previous.as_ref().map(|key| (KeyRole::Previous, key)))
    }

    /// The key named `key_id`, if this server holds it.
    pub(in crate::service) fn by_id(&self, key_id: &str) -> Option<(KeyRole, &ServerKey)> {
        self.in_order().find(|(_, key)| key.key_id() == key_id)
    }
}

/// A key id as a refusal may echo it: its hex digits only, at most the 16 a key id has.
pub(in crate::service) fn shown_key_id(key_id: &str) -> String {
    key_id.chars().filter(char::is_ascii_hexdigit).take(16).collect()
}

fn same_key(path: &Path, role: KeyRole, other: KeyRole) -> ServiceError {
    ServiceError::ServerKey {
        path: path.display().to_string(),
        reason: format!(
            "the {} key is the same key as the {} one; each role needs its own key file (docs/fleet.md)",
            role.name(),
            other.name()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key_file(dir: &Path, name: &str) -> (std::path::PathBuf, ServerKey) {
        let path = dir.join(name);
        let key = keyfile::load_or_create(&path).unwrap();
        (path, key)
    }

    #[test]
    fn loads_each_role_and_finds_a_key_by_its_id() {
        let dir = tempfile::tempdir().unwrap();
        let (current_path, current) = key_file(dir.path(), "current");
        let (next_path, next) = key_file(dir.path(), "next");
        let (previous_path, previous) = key_file(dir.path(), "previous");
        let mut config = ServiceConfig::new(dir.path().join("data"), dir.path().join("cache"));
        config.server_key_file = Some(current_path);
        config.next_server_key_file = Some(next_path);
        config.previous_server_key_file = Some(previous_path);
        let keys = ServerKeys::load(&config).unwrap();
        assert_eq!(keys.current().public_key(), current.public_key());
        assert_eq!(keys.previous().unwrap().public_key(), previous.public_key());
        let roles: Vec<_> = keys.in_order().map(|(role, key)| (role, key.key_id())).collect();
        assert_eq!(
            roles,
            [
                (KeyRole::Current, current.key_id()),
                (KeyRole::Next, next.key_id()),
                (KeyRole::Previous, previous.key_id())
            ]
        );
        assert_eq!(keys.by_id(&next.key_id()).unwrap().0, KeyRole::Next);
        assert!(keys.by_id("0000000000000000").is_none());
    }

    #[test]
    fn a_missing_next_or_previous_file_is_refused_not_created() {
        let dir = tempfile::tempdir().unwrap();
        let (current_path, _) = key_file(dir.path(), "current");
        for role in ["next", "previous"] {
            let mut config = ServiceConfig::new(dir.path().join("data"), dir.path().join("cache"));
            config.server_key_file = Some(current_path.clone());
            let missing = Some(dir.path().join(format!("{role}-missing")));
            if role == "next" {
                config.next_server_key_file = missing;
            } else {
                config.previous_server_key_file = missing;
            }
            let error = ServerKeys::load(&config).err().expect("refused").to_string();
            assert!(error.contains(&format!("{role}-missing")), "{error}");
            assert!(!dir.path().join(format!("{role}-missing")).exists(), "not created");
        }
    }

    #[test]
    fn the_same_key_in_two_roles_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (current_path, _) = key_file(dir.path(), "current");
        let copy = dir.path().join("copy");
        std::fs::copy(&current_path, &copy).unwrap();
        let mut config = ServiceConfig::new(dir.path().join("data"), dir.path().join("cache"));
        config.server_key_file = Some(current_path);
        config.previous_server_key_file = Some(copy);
        let error = ServerKeys::load(&config).err().expect("refused").to_string();
        assert!(
            error.contains("previous key is the same key as the current one"),
            "{error}"
        );
    }
}
