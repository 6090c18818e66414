//! Job store settings: where the job store lives (`job_store`: the embedded SQLite file, or a PostgreSQL
//! URL that replicas share) and how its connections are secured (`job_store_tls`). Owns the parsing of
//! the URL and the one way it is ever shown: with its password replaced, so no error, log line or
//! rendered default carries it. Not the store itself (`jobs::store`).

use std::{fmt, str::FromStr};

use zeroize::Zeroizing;

/// What a password is shown as.
pub const PASSWORD_SHOWN: &str = "***";

/// Where the job store lives.
#[derive(Clone, PartialEq, Eq, Default)]
pub enum JobStoreLocation {
    /// `jobs.sqlite` in the data directory: one replica, nothing to run beside it.
    #[default]
    Sqlite,
    /// A PostgreSQL database, shared by every replica.
    Postgres(PostgresUrl),
}

impl FromStr for JobStoreLocation {
    type Err = String;
    fn from_str(text: &str) -> Result<JobStoreLocation, String> {
        if text.trim() == "sqlite" {
            return Ok(JobStoreLocation::Sqlite);
        }
        text.parse().map(JobStoreLocation::Postgres)
    }
}

/// Shown with the password replaced.
impl fmt::Display for JobStoreLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JobStoreLocation::Sqlite => f.write_str("sqlite"),
            JobStoreLocation::Postgres(url) => url.fmt(f),
        }
    }
}

impl fmt::Debug for JobStoreLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// A `postgres://` (or `postgresql://`) URL as libpq writes them, checked when read. Its text is wiped
/// when dropped; `Display` and `Debug` show it with the password replaced (`shown`).
#[derive(Clone, PartialEq, Eq)]
pub struct PostgresUrl {
    text: Zeroizing<String>,
}

/// Query parameters the URL may not carry: TLS is `job_store_tls`'s and `job_store_ca_file`'s, so one
/// setting says it and the docs' table stays true.
const TLS_PARAMETERS: &[&str] = &["sslmode", "sslrootcert", "sslcert", "sslkey", "sslnegotiation"];

impl PostgresUrl {
    /// The URL as written, password included: for the client library only.
    pub fn expose(&self) -> &str {
        &self.text
    }

    /// The URL with its password (in the user part or a `password=` parameter) replaced by `***`.
    pub fn shown(&self) -> String {
        shown_postgres_url(&self.text)
    }

    /// The password written in the URL, if any (to scrub it from a library's error text).
    pub fn password(&self) -> Option<&str> {
        let (userinfo, _) = split_userinfo(&self.text)?;
        userinfo
            .split_once(':')
            .map(|(_, password)| password)
            .filter(|p| !p.is_empty())
    }
}

impl FromStr for PostgresUrl {
    type Err = String;
    fn from_str(text: &str) -> Result<PostgresUrl, String> {
        let text = text.trim();
        let shown = shown_postgres_url(text);
        if !(text.starts_with("postgres://") || text.starts_with("postgresql://")) {
            return Err(format!(
                "`{shown}` is neither `sqlite` nor a URL such as postgres://tws@db.internal:5432/tws"
            ));
        }
        if let Some((_, query)) = text.split_once('?') {
            for pair in query.split('&') {
                let key = pair.split_once('=').map_or(pair, |(key, _)| key);
                if TLS_PARAMETERS.contains(&key) {
                    return Err(format!(
                        "{shown}: `{key}` is not read from the URL; set job_store_tls (and job_store_ca_file)"
                    ));
                }
            }
        }
        let config: tokio_postgres::Config = text.parse().map_err(|e: tokio_postgres::Error| {
            format!("{shown} is not a PostgreSQL URL: {}", scrub(&e.to_string(), text))
        })?;
        if config.get_hosts().is_empty() {
            return Err(format!("{shown} names no host"));
        }
        if config.get_user().is_none() {
            return Err(format!("{shown} names no user (postgres://USER@HOST/DATABASE)"));
        }
        Ok(PostgresUrl {
            text: Zeroizing::new(text.to_string()),
        })
    }
}

impl fmt::Display for PostgresUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.shown())
    }
}

impl fmt::Debug for PostgresUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.shown())
    }
}

/// How connections to a PostgreSQL job store are secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum JobStoreTls {
    /// Cleartext: a database on the same host or a private network the operator trusts.
    #[default]
    Disable,
    /// Encrypted, the server not authenticated (libpq's `sslmode=require`): stops a passive listener only.
    Require,
    /// Encrypted to a server whose certificate chains to Mozilla's roots or `job_store_ca_file` and names
    /// the URL's host (libpq's `sslmode=verify-full`).
    VerifyFull,
}

impl FromStr for JobStoreTls {
    type Err = String;
    fn from_str(text: &str) -> Result<JobStoreTls, String> {
        match text.trim() {
            "disable" => Ok(JobStoreTls::Disable),
            "require" => Ok(JobStoreTls::Require),
            "verify-full" => Ok(JobStoreTls::VerifyFull),
            other => Err(format!("`{other}` is not one of disable, require, verify-full")),
        }
    }
}

impl fmt::Display for JobStoreTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            JobStoreTls::Disable => "disable",
            JobStoreTls::Require => "require",
            JobStoreTls::VerifyFull => "verify-full",
        })
    }
}

/// `url`'s user part (before the last `@` of its authority) and the rest, if it has one.
fn split_userinfo(url: &str) -> Option<(&str, &str)> {
    let (_, rest) = url.split_once("://")?;
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (userinfo, _) = rest[..end].rsplit_once('@')?;
    Some((userinfo, &rest[userinfo.len()..]))
}

/// `url` with the password of its user part and of a `password=` parameter replaced by `***`; anything
/// that is not a URL is shown as `(not a URL)`, since it could be a password pasted in the wrong place.
pub fn shown_postgres_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return "(not a URL)".into();
    };
    let mut shown = format!("{scheme}://");
    match split_userinfo(url) {
        Some((userinfo, after)) => {
            match userinfo.split_once(':') {
                Some((user, _)) => shown.push_str(&format!("{user}:{PASSWORD_SHOWN}")),
                None => shown.push_str(userinfo),
            }
            shown.push_str(after);
        }
        None => shown.push_str(rest),
    }
    match shown.split_once('?') {
        Some((base, query)) => {
            let query: Vec<String> = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some(("password", _)) => format!("password={PASSWORD_SHOWN}"),
                    _ => pair.to_string(),
                })
                .collect();
            format!("{base}?{}", query.join("&"))
        }
        None => shown,
    }
}

/// `text` with every copy of the URL's passwords replaced by `***` (a library's error may quote what it
/// was given).
pub fn scrub(text: &str, url: &str) -> String {
    let mut scrubbed = text.to_string();
    let mut secrets: Vec<&str> = Vec::new();
    if let Some((userinfo, _)) = split_userinfo(url)
        && let Some((_, password)) = userinfo.split_once(':')
    {
        secrets.push(password);
    }
    if let Some((_, query)) = url.split_once('?') {
        secrets.extend(query.split('&').filter_map(|pair| pair.strip_prefix("password=")));
    }
    for secret in secrets.into_iter().filter(|s| !s.is_empty()) {
        scrubbed = scrubbed.replace(secret, PASSWORD_SHOWN);
    }
    scrubbed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_is_shown_without_its_password() {
        let url: PostgresUrl = "postgres://tws:s3cr3t@db.internal:5432/tws?application_name=x&password=0th3r"
            .parse()
            .unwrap();
        for shown in [url.to_string(), format!("{url:?}"), url.shown()] {
            assert!(!shown.contains("s3cr3t") && !shown.contains("0th3r"), "{shown}");
            assert!(shown.contains("tws:***@db.internal:5432/tws"), "{shown}");
        }
        assert_eq!(url.password(), Some("s3cr3t"));
        let location: JobStoreLocation = url.expose().parse().unwrap();
        assert!(!format!("{location:?} {location}").contains("s3cr3t"));
        assert_eq!(
            scrub("auth failed for s3cr3t and 0th3r", url.expose()),
            "auth failed for *** and ***"
        );
    }

    #[test]
    fn a_refused_url_never_echoes_its_password() {
        for bad in [
            "mysql://root:s3cr3t@db/x",
            "postgres://tws:s3cr3t@db/x?sslmode=disable",
            "postgres://:s3cr3t@/x",
            "s3cr3t",
        ] {
            let error = bad.parse::<JobStoreLocation>().unwrap_err();
            assert!(!error.contains("s3cr3t"), "{error}");
        }
        assert!(
            "postgres://tws@db/x?sslrootcert=/ca.pem"
                .parse::<PostgresUrl>()
                .unwrap_err()
                .contains("job_store_tls")
        );
    }

    #[test]
    fn names_parse_and_render_back() {
        assert_eq!("sqlite".parse::<JobStoreLocation>().unwrap(), JobStoreLocation::Sqlite);
        assert_eq!(JobStoreLocation::Sqlite.to_string(), "sqlite");
        for mode in ["disable", "require", "verify-full"] {
            assert_eq!(mode.parse::<JobStoreTls>().unwrap().to_string(), mode);
        }
        assert!("verify-ca".parse::<JobStoreTls>().is_err());
        let url = "postgresql://tws@127.0.0.1:5433/tws?connect_timeout=5";
        assert_eq!(url.parse::<JobStoreLocation>().unwrap().to_string(), url);
    }
}
