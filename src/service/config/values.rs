//! Configuration values: the syntax of each kind of value an operator writes (durations `10m`, rates
//! `30/h`, lists given as a TOML array or a comma-separated string, names such as `never`) and what makes
//! a string an origin a browser sends or an endpoint a webhook can be posted to. Each kind is a serde
//! form (`#[serde(with = ...)]`), so the schema's types parse their own values and every layer (file,
//! environment, flags) reads them alike; each also renders its value back, which is how
//! `docs/config.md`'s defaults are checked against the code.

use std::{fmt, marker::PhantomData, str::FromStr, time::Duration};

use serde::{Deserializer, Serializer, de};

/// The sealing key's file name in the data directory when `server_key_file` is not set.
pub const SERVER_KEY_FILE_NAME: &str = "server-key";

/// A token bucket: `per_window` requests per `window` on average, bursts of up to `per_window`.
/// `per_window == 0` turns the limit off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub per_window: u32,
    pub window: Duration,
}

impl RateLimit {
    pub const OFF: RateLimit = RateLimit {
        per_window: 0,
        window: Duration::from_secs(1),
    };
}

/// Parses a duration such as `3600`, `90s`, `10m`, `1h`, `2d` or `250ms`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number.parse().map_err(|_| format!("`{text}` is not a duration"))?;
    let seconds = match unit.trim() {
        "ms" => return Ok(Duration::from_millis(number)),
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86400,
        _ => return Err(format!("`{text}`: use s, m, h, d or ms")),
    };
    number
        .checked_mul(seconds)
        .map(Duration::from_secs)
        .ok_or_else(|| format!("`{text}` is too long"))
}

/// A duration as an operator writes it: the largest unit that divides it (`1h`, `90s`, `250ms`).
pub fn format_duration(duration: Duration) -> String {
    if duration.subsec_nanos() != 0 {
        return format!("{}ms", duration.as_millis());
    }
    let seconds = duration.as_secs();
    match [(86_400, "d"), (3600, "h"), (60, "m")]
        .into_iter()
        .find(|(unit, _)| seconds != 0 && seconds.is_multiple_of(*unit))
    {
        Some((unit, name)) => format!("{}{name}", seconds / unit),
        None => format!("{seconds}s"),
    }
}

/// Parses a rate such as `6/h`, `30/m`, `10/s` or `0` (off).
pub fn parse_rate(text: &str) -> Result<RateLimit, String> {
    let text = text.trim();
    if text == "0" || text == "off" {
        return Ok(RateLimit::OFF);
    }
    let (count, per) = text
        .split_once('/')
        .ok_or_else(|| format!("`{text}` is not a rate such as 6/h"))?;
    let per_window: u32 = count.trim().parse().map_err(|_| format!("`{text}` is not a rate"))?;
    let window = match per.trim() {
        "s" => Duration::from_secs(1),
        "m" => Duration::from_secs(60),
        "h" => Duration::from_secs(3600),
        "d" => Duration::from_secs(86400),
        other => parse_duration(other)?,
    };
    if window.is_zero() {
        return Err(format!("`{text}`: the window must not be zero"));
    }
    Ok(RateLimit { per_window, window })
}

impl fmt::Display for RateLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.per_window == 0 {
            return f.write_str("0");
        }
        let unit = format_duration(self.window);
        // `1s`, `1m`, ... are written by their unit alone, as the operator would.
        let unit = unit.strip_prefix('1').filter(|u| u.len() == 1).unwrap_or(&unit);
        write!(f, "{}/{unit}", self.per_window)
    }
}

impl FromStr for RateLimit {
    type Err = String;
    fn from_str(text: &str) -> Result<RateLimit, String> {
        parse_rate(text)
    }
}

/// A value read from its text (a string, or a number for values such as `0` or `3600`).
struct TextVisitor<T>(PhantomData<T>, &'static str);

impl<T: FromStr<Err: fmt::Display>> de::Visitor<'_> for TextVisitor<T> {
    type Value = T;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.1)
    }
    fn visit_str<E: de::Error>(self, text: &str) -> Result<T, E> {
        text.parse().map_err(E::custom)
    }
    fn visit_u64<E: de::Error>(self, number: u64) -> Result<T, E> {
        self.visit_str(&number.to_string())
    }
    fn visit_i64<E: de::Error>(self, number: i64) -> Result<T, E> {
        self.visit_str(&number.to_string())
    }
}

/// Durations: `3600`, `90s`, `10m`, `1h`, `2d`, `250ms`.
pub mod duration {
    use crate::service::config::values::*;

    struct Parsed(Duration);
    impl FromStr for Parsed {
        type Err = String;
        fn from_str(text: &str) -> Result<Parsed, String> {
            parse_duration(text).map(Parsed)
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
        let visitor = TextVisitor::<Parsed>(PhantomData, "a duration such as 90s, 10m, 1h or 250ms");
        deserializer.deserialize_any(visitor).map(|parsed| parsed.0)
    }

    pub fn serialize<S: Serializer>(value: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&format_duration(*value))
    }
}

/// A value written as text and parsed by its `FromStr` (rates, addresses, names such as `never`): never a
/// number standing for an enum's variant.
pub mod text {
    use crate::service::config::values::*;

    pub fn deserialize<'de, D, T>(deserializer: D) -> Result<T, D::Error>
    where
        D: Deserializer<'de>,
        T: FromStr<Err: fmt::Display>,
    {
        deserializer.deserialize_any(TextVisitor::<T>(PhantomData, "a string"))
    }

    pub fn serialize<S: Serializer, T: fmt::Display>(value: &T, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(value)
    }
}

/// An optional value written as text (`text`); unset when absent.
pub mod optional_text {
    use crate::service::config::values::*;

    struct OptionVisitor<T>(PhantomData<T>);

    impl<'de, T: FromStr<Err: fmt::Display>> de::Visitor<'de> for OptionVisitor<T> {
        type Value = Option<T>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a string")
        }
        fn visit_none<E: de::Error>(self) -> Result<Option<T>, E> {
            Ok(None)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Option<T>, E> {
            Ok(None)
        }
        fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Option<T>, D::Error> {
            crate::service::config::values::text::deserialize(deserializer).map(Some)
        }
    }

    pub fn deserialize<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
    where
        D: Deserializer<'de>,
        T: FromStr<Err: fmt::Display>,
    {
        deserializer.deserialize_option(OptionVisitor(PhantomData))
    }

    pub fn serialize<S: Serializer, T: fmt::Display>(value: &Option<T>, serializer: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(value) => serializer.collect_str(value),
            None => serializer.serialize_none(),
        }
    }
}

/// A list: a TOML array of strings in the file, comma-separated in an environment variable or a flag.
/// Empty items are skipped, so a trailing comma is harmless.
pub mod list {
    use crate::service::config::values::*;

    struct ListVisitor<T>(PhantomData<T>);

    impl<'de, T: FromStr<Err: fmt::Display>> de::Visitor<'de> for ListVisitor<T> {
        type Value = Vec<T>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a list of strings, or one comma-separated string")
        }
        fn visit_str<E: de::Error>(self, text: &str) -> Result<Vec<T>, E> {
            text.split(',')
                .map(str::trim)
                .filter(|item| !item.is_empty())
                .map(|item| item.parse().map_err(E::custom))
                .collect()
        }
        fn visit_seq<A: de::SeqAccess<'de>>(self, mut items: A) -> Result<Vec<T>, A::Error> {
            let mut list = Vec::new();
            while let Some(item) = items.next_element::<String>()? {
                list.extend(self_parse::<T, A::Error>(&item)?);
            }
            Ok(list)
        }
    }

    fn self_parse<T: FromStr<Err: fmt::Display>, E: de::Error>(item: &str) -> Result<Option<T>, E> {
        let item = item.trim();
        if item.is_empty() {
            return Ok(None);
        }
        item.parse().map(Some).map_err(E::custom)
    }

    pub fn deserialize<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
    where
        D: Deserializer<'de>,
        T: FromStr<Err: fmt::Display>,
    {
        deserializer.deserialize_any(ListVisitor(PhantomData))
    }

    pub fn serialize<S: Serializer, T: fmt::Display>(value: &[T], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(value.iter().map(ToString::to_string))
    }
}

/// A trusted proxy: an address or a CIDR network (`10.0.0.0/8`); an address is its own /32 or /128.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProxyNet(pub ipnet::IpNet);

impl FromStr for ProxyNet {
    type Err = String;
    fn from_str(text: &str) -> Result<ProxyNet, String> {
        text.parse::<ipnet::IpNet>()
            .or_else(|_| text.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
            .map(ProxyNet)
            .map_err(|_| format!("`{text}` is not an address or CIDR such as 10.0.0.0/8"))
    }
}

/// `trusted_proxies`: a `list` of `ProxyNet`s.
pub mod proxies {
    use crate::service::config::values::*;

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<ipnet::IpNet>, D::Error> {
        let nets: Vec<ProxyNet> = crate::service::config::values::list::deserialize(deserializer)?;
        Ok(nets.into_iter().map(|net| net.0).collect())
    }

    pub fn serialize<S: Serializer>(value: &[ipnet::IpNet], serializer: S) -> Result<S::Ok, S::Error> {
        crate::service::config::values::list::serialize(value, serializer)
    }
}

/// What of a configured webhook URL may be shown (in an error, a log): its scheme and host. Its path
/// and query may hold the receiver's secret, and a user or password would be one.
pub fn shown_url(url: &str) -> String {
    match url.parse::<http::Uri>() {
        Ok(uri) => match (uri.scheme_str(), uri.host()) {
            (Some(scheme), Some(host)) => format!("{scheme}://{host}/…"),
            _ => "(a URL)".into(),
        },
        Err(_) => "(not a URL)".into(),
    }
}

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
/// same host or network). Errors show only `shown_url`.
pub fn validate_webhook_url(url: &str) -> Result<(), String> {
    let shown = shown_url(url);
    let uri: http::Uri = url
        .parse()
        .map_err(|_| format!("{shown} is not a URL such as https://hooks.example/tws"))?;
    match uri.scheme_str() {
        Some("http" | "https") => {}
        _ => return Err(format!("{shown} is not an https:// or http:// URL")),
    }
    let authority = uri.authority().ok_or_else(|| format!("{shown} has no host"))?;
    if authority.as_str().contains('@') {
        return Err(format!(
            "{shown}: no user or password in the URL; the signature authenticates"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::service::config::values::*;

    #[test]
    fn parses_durations_and_rates() {
        assert_eq!(parse_duration("3600").unwrap(), Duration::from_secs(3600));
        assert_eq!(parse_duration("1h").unwrap(), Duration::from_secs(3600));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert!(parse_duration("1y").is_err());
        assert!(parse_duration("h").is_err());
        assert_eq!(
            parse_rate("6/h").unwrap(),
            RateLimit {
                per_window: 6,
                window: Duration::from_secs(3600)
            }
        );
        assert_eq!(parse_rate("0").unwrap(), RateLimit::OFF);
        assert_eq!(parse_rate("5/10m").unwrap().window, Duration::from_secs(600));
        assert!(parse_rate("5").is_err());
    }

    /// What a value renders to parses back to it: the doc's defaults are rendered this way.
    #[test]
    fn durations_and_rates_render_as_written() {
        for (text, seconds) in [("1h", 3600), ("10m", 600), ("90s", 90), ("2d", 172_800), ("0s", 0)] {
            assert_eq!(format_duration(Duration::from_secs(seconds)), text);
            assert_eq!(parse_duration(text).unwrap(), Duration::from_secs(seconds));
        }
        assert_eq!(format_duration(Duration::from_millis(250)), "250ms");
        for text in ["30/h", "600/m", "10/s", "1/d", "5/10m", "0"] {
            assert_eq!(parse_rate(text).unwrap().to_string(), text);
        }
    }

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

    /// A webhook URL's path (the receiver's secret, often) and credentials never reach an error.
    #[test]
    fn a_refused_endpoint_shows_only_its_host() {
        for bad in [
            "ftp://hooks.example/s3cr3t-path",
            "http://user:s3cr3t@hooks.example/s3cr3t-path",
        ] {
            let error = validate_webhook_url(bad).unwrap_err();
            assert!(!error.contains("s3cr3t"), "{error}");
            assert!(error.contains("hooks.example"), "{error}");
        }
    }
}
