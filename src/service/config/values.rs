//! Parsed configuration values: what makes a string an origin a browser sends, an endpoint a webhook
//! can be posted to, and where the server key lives by default. The config checks its values with these;
//! the HTTP layer and the webhook sender use the values, they do not parse them again.

/// The sealing key's file name in the data directory when `server_key_file` is not set.
pub const SERVER_KEY_FILE_NAME: &str = "server-key";

/// Checks one configured origin: `scheme://host[:port]` as a browser sends it in `Origin`, nothing more.
pub fn validate_origin(origin: &str) -> Result<(), String> {
    let rest = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"))
        .ok_or_else(|| format!("`{origin}` is not an origin such as https://wallet.example (http:// or https://)"))?;
    let host = rest.rsplit_once(':').map_or(
        rest,
        |(host, port)| {
            if port.parse::<u16>().is_ok() { host } else { rest }
        },
    );
    let host_ok = !host.is_empty()
        && (host
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
            || (host.starts_with('[') && host.ends_with(']')));
    if !host_ok || rest.contains(['/', '?', '#', '@']) {
        return Err(format!(
            "`{origin}` is not an exact origin: scheme, lower-case host and optional port, no path or trailing slash"
        ));
    }
    Ok(())
}

/// Checks one configured endpoint: `https://host[:port][/path]` (or `http://`, for a receiver on the
/// same host or network).
pub fn validate_webhook_url(url: &str) -> Result<(), String> {
    let uri: http::Uri = url
        .parse()
        .map_err(|_| format!("`{url}` is not a URL such as https://hooks.example/tws"))?;
    match uri.scheme_str() {
        Some("http" | "https") => {}
        _ => return Err(format!("`{url}` is not an https:// or http:// URL")),
    }
    let authority = uri.authority().ok_or_else(|| format!("`{url}` has no host"))?;
    if authority.as_str().contains('@') {
        return Err(format!(
            "`{url}`: no user or password in the URL; the signature authenticates"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_exact() {
        for good in [
            "https://wallet.example",
            "http://127.0.0.1:5173",
            "https://a-b.example:8443",
            "http://[::1]:8080",
        ] {
            validate_origin(good).unwrap_or_else(|e| panic!("{good}: {e}"));
        }
        for bad in [
            "*",
            "wallet.example",
            "https://wallet.example/",
            "https://wallet.example/app",
            "https://Wallet.example",
            "https://",
            "ftp://wallet.example",
            "https://user@wallet.example",
        ] {
            assert!(validate_origin(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn endpoints_are_https_or_http_urls() {
        validate_webhook_url("http://127.0.0.1:9000/hooks").unwrap();
        validate_webhook_url("http://hooks.internal/tws").unwrap();
        validate_webhook_url("https://hooks.example/x").unwrap();
        validate_webhook_url("https://[::1]:8443/x?k=v").unwrap();
        for bad in [
            "ftp://x",
            "https:///no-host",
            "hooks.example",
            "http://user:pw@hooks.example/",
            "",
        ] {
            assert!(validate_webhook_url(bad).is_err(), "{bad}");
        }
    }
}
