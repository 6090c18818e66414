//! Client: who a request comes from, for limits and logs. The TCP peer, unless the peer is one of the
//! operator's `trusted_proxies`: then the address the proxy forwarded in the one header the operator
//! names (`forwarded_header`: `X-Forwarded-For` by default, or `Forwarded`), read right to left past the
//! trusted hops. The other header is ignored entirely: common proxies (nginx, HAProxy, ALB, Traefik)
//! append to one and pass the client's own copy of the other through, so believing both would let a
//! client pick its own address.
//!
//! Limits key on the client's bucket: an IPv4 address, or an IPv6 address's `/64` (configurable), since
//! one user holds a whole IPv6 prefix. An IPv6 client also belongs to an aggregate (its `/48` by default)
//! with limits of its own, so one holder of a `/48` cannot multiply its limits by its 65,536 `/64`s.

use std::{
    net::{IpAddr, Ipv6Addr},
    sync::atomic::{AtomicBool, Ordering},
};

use http::{HeaderMap, HeaderName, header::FORWARDED};

pub use super::config::{ClientRules, ForwardedHeader};

/// Which listener a request arrived on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Port {
    /// `listen`: the API, and the operations routes (but `/metrics` when the operator has a port).
    Public,
    /// `metrics_listen`: the operations routes only.
    Operator,
}

/// The client of one request (or connection).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Client {
    pub ip: IpAddr,
    /// What per-client limits key on.
    pub bucket: IpAddr,
    /// The wider prefix an IPv6 client's bucket belongs to, limited as a whole; `None` for IPv4.
    pub aggregate: Option<IpAddr>,
}

impl ForwardedHeader {
    fn header(self) -> HeaderName {
        match self {
            ForwardedHeader::XForwardedFor => HeaderName::from_static("x-forwarded-for"),
            ForwardedHeader::Forwarded => FORWARDED,
        }
    }

    fn other(self) -> ForwardedHeader {
        match self {
            ForwardedHeader::XForwardedFor => ForwardedHeader::Forwarded,
            ForwardedHeader::Forwarded => ForwardedHeader::XForwardedFor,
        }
    }
}

/// Set once a trusted proxy sent the other forwarding header but not the configured one: logged once,
/// since it means every client behind that proxy shares the proxy's limits.
static WARNED_OTHER_HEADER: AtomicBool = AtomicBool::new(false);

impl ClientRules {
    /// Whether `ip` is one of the trusted proxies.
    pub fn trusted(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.trusted_proxies.iter().any(|net| net.contains(&ip))
    }

    /// The client of a request from `peer` with `headers`.
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> Client {
        let peer = peer.to_canonical();
        if !self.trusted(peer) {
            return self.of(peer);
        }
        let name = self.forwarded_header.header();
        if !headers.contains_key(&name)
            && headers.contains_key(self.forwarded_header.other().header())
            && !WARNED_OTHER_HEADER.swap(true, Ordering::Relaxed)
        {
            tracing::warn!(
                configured = self.forwarded_header.name(),
                sent = self.forwarded_header.other().name(),
                "a trusted proxy forwards the other header: its clients all count as the proxy (set forwarded_header)"
            );
        }
        self.of(self.rightmost_untrusted(peer, &forwarded_chain(headers, self.forwarded_header)))
    }

    /// The client at `ip` itself (a connection's peer, before any request says more).
    pub fn of(&self, ip: IpAddr) -> Client {
        let ip = ip.to_canonical();
        let aggregate = match ip {
            IpAddr::V6(v6) if self.ipv6_aggregate_prefix_len < self.ipv6_prefix_len => {
                Some(IpAddr::V6(mask(v6, self.ipv6_aggregate_prefix_len)))
            }
            _ => None,
        };
        Client {
            ip,
            bucket: self.bucket(ip),
            aggregate,
        }
    }

    /// `ip`'s bucket: itself for IPv4, its prefix for IPv6.
    pub fn bucket(&self, ip: IpAddr) -> IpAddr {
        match ip.to_canonical() {
            IpAddr::V4(v4) => IpAddr::V4(v4),
            IpAddr::V6(v6) => IpAddr::V6(mask(v6, self.ipv6_prefix_len)),
        }
    }

    /// Walks `chain` (client first, as proxies append) from the right past trusted hops: the first
    /// untrusted address is the client. An entry that is not an address (`unknown`, an obfuscated name)
    /// ends the walk: the trusted hop that wrote it is as far as anything can be believed. A chain of
    /// trusted hops only is a request from inside the trusted network: its first hop is the client.
    fn rightmost_untrusted(&self, peer: IpAddr, chain: &[Option<IpAddr>]) -> IpAddr {
        let mut nearest = peer;
        for hop in chain.iter().rev() {
            match hop.map(|ip| ip.to_canonical()) {
                Some(ip) if self.trusted(ip) => nearest = ip,
                Some(ip) => return ip,
                None => return nearest,
            }
        }
        nearest
    }
}

/// `v6` with all but its first `bits` bits cleared.
fn mask(v6: Ipv6Addr, bits: u8) -> Ipv6Addr {
    let bits = u32::from(bits.min(128));
    let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
    Ipv6Addr::from(u128::from(v6) & mask)
}

/// The hops in every `header` line, in order: client first. Each is an address or `None` (not one).
/// Elements are split at every comma, quotes or not: a client's unbalanced quote in its own part of the
/// header then cannot swallow the elements proxies append to its right, which are all this reads.
fn forwarded_chain(headers: &HeaderMap, header: ForwardedHeader) -> Vec<Option<IpAddr>> {
    headers
        .get_all(header.header())
        .iter()
        .flat_map(|value| value.as_bytes().split(|&b| b == b','))
        .map(|element| {
            let element = std::str::from_utf8(element).ok()?;
            match header {
                ForwardedHeader::XForwardedFor => parse_hop(element),
                ForwardedHeader::Forwarded => element.split(';').find_map(|pair| {
                    let (name, value) = pair.trim().split_once('=')?;
                    name.trim().eq_ignore_ascii_case("for").then(|| parse_hop(value))?
                }),
            }
        })
        .collect()
}

/// One hop: `1.2.3.4`, `1.2.3.4:80`, `2001:db8::1`, `[2001:db8::1]:80`, optionally quoted.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim().trim_matches('"');
    if let Ok(ip) = hop.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Some(rest) = hop.strip_prefix('[') {
        return rest.split_once(']')?.0.parse().ok();
    }
    let (host, port) = hop.rsplit_once(':')?;
    port.parse::<u16>().ok()?;
    host.parse::<std::net::Ipv4Addr>().ok().map(IpAddr::V4)
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    fn rules(proxies: &[&str], header: ForwardedHeader) -> ClientRules {
        ClientRules {
            trusted_proxies: proxies.iter().map(|p| p.parse().unwrap()).collect(),
            forwarded_header: header,
            ..ClientRules::default()
        }
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    const XFF: ForwardedHeader = ForwardedHeader::XForwardedFor;
    const FWD: ForwardedHeader = ForwardedHeader::Forwarded;

    #[test]
    fn forwarding_headers_count_only_from_trusted_proxies() {
        let spoofed = headers(&[("x-forwarded-for", "9.9.9.9")]);
        let peer = ip("203.0.113.5");
        assert_eq!(rules(&[], XFF).client(peer, &spoofed).ip, peer, "nobody trusted");
        assert_eq!(
            rules(&["10.0.0.0/8"], XFF).client(peer, &spoofed).ip,
            peer,
            "not a trusted peer"
        );
        let proxy = ip("10.0.0.2");
        let through = headers(&[("x-forwarded-for", "9.9.9.9, 198.51.100.7, 10.0.0.3")]);
        // Right to left past the trusted hops: the first untrusted one is the client (9.9.9.9 may be forged).
        assert_eq!(
            rules(&["10.0.0.0/8"], XFF).client(proxy, &through).ip,
            ip("198.51.100.7")
        );
        let unknown = headers(&[("x-forwarded-for", "198.51.100.7, unknown")]);
        assert_eq!(
            rules(&["10.0.0.0/8"], XFF).client(proxy, &unknown).ip,
            proxy,
            "no address to believe"
        );
        let behind_two = headers(&[("x-forwarded-for", "198.51.100.7, unknown, 10.0.0.3")]);
        assert_eq!(
            rules(&["10.0.0.0/8"], XFF).client(proxy, &behind_two).ip,
            ip("10.0.0.3"),
            "the proxy that could not tell"
        );
        let inside = headers(&[("x-forwarded-for", "10.0.0.9, 10.0.0.3")]);
        assert_eq!(rules(&["10.0.0.0/8"], XFF).client(proxy, &inside).ip, ip("10.0.0.9"));
        let with_port = headers(&[("x-forwarded-for", "198.51.100.7:5555")]);
        assert_eq!(
            rules(&["10.0.0.0/8"], XFF).client(proxy, &with_port).ip,
            ip("198.51.100.7")
        );
        // Several lines (HAProxy adds its own) are one list, in order.
        let lines = headers(&[("x-forwarded-for", "9.9.9.9"), ("x-forwarded-for", "198.51.100.8")]);
        assert_eq!(rules(&["10.0.0.0/8"], XFF).client(proxy, &lines).ip, ip("198.51.100.8"));
    }

    #[test]
    fn only_the_configured_header_is_read() {
        let proxy = ip("10.0.0.2");
        // A client's own Forwarded passes through a proxy that appends X-Forwarded-For.
        let both = headers(&[
            ("forwarded", "for=192.0.2.66"),
            ("x-forwarded-for", "192.0.2.77, 198.51.100.7"),
        ]);
        assert_eq!(rules(&["10.0.0.2/32"], XFF).client(proxy, &both).ip, ip("198.51.100.7"));
        // And the other way round for a proxy that appends Forwarded.
        let both = headers(&[
            ("x-forwarded-for", "192.0.2.77"),
            ("forwarded", r#"for=192.0.2.66, for="[2001:db8::17]:4711";proto=https"#),
        ]);
        assert_eq!(rules(&["10.0.0.2/32"], FWD).client(proxy, &both).ip, ip("2001:db8::17"));
        // The configured one missing: the proxy itself, whatever the other says.
        let other_only = headers(&[("forwarded", "for=192.0.2.66")]);
        assert_eq!(rules(&["10.0.0.2/32"], XFF).client(proxy, &other_only).ip, proxy);
        let other_only = headers(&[("x-forwarded-for", "192.0.2.66")]);
        assert_eq!(rules(&["10.0.0.2/32"], FWD).client(proxy, &other_only).ip, proxy);
    }

    #[test]
    fn a_client_cannot_hide_the_hops_appended_after_its_own() {
        let proxy = ip("10.0.0.2");
        let r = rules(&["10.0.0.2/32"], FWD);
        // An unbalanced quote or an element without `for` to the left changes nothing to the right.
        for forged in [
            r#"for="192.0.2.1, for=198.51.100.7"#,
            r#"for=192.0.2.1;by="x, for=198.51.100.7"#,
            "proto=https, for=198.51.100.7",
        ] {
            assert_eq!(
                r.client(proxy, &headers(&[("forwarded", forged)])).ip,
                ip("198.51.100.7"),
                "{forged}"
            );
        }
        // Bytes that are not text in the client's part do not void the proxy's part.
        let mut map = HeaderMap::new();
        map.append(
            "x-forwarded-for",
            HeaderValue::from_bytes(b"\xff\xfe, 198.51.100.9").unwrap(),
        );
        assert_eq!(rules(&["10.0.0.2/32"], XFF).client(proxy, &map).ip, ip("198.51.100.9"));
        // An empty element to the left (a proxy's template appending to an absent header) is never reached.
        let empty = headers(&[("forwarded", ", for=198.51.100.7")]);
        assert_eq!(r.client(proxy, &empty).ip, ip("198.51.100.7"));
    }

    #[test]
    fn header_names_parse() {
        assert_eq!("X-Forwarded-For".parse::<ForwardedHeader>().unwrap(), XFF);
        assert_eq!("forwarded".parse::<ForwardedHeader>().unwrap(), FWD);
        assert!("x-real-ip".parse::<ForwardedHeader>().is_err());
    }

    #[test]
    fn ipv6_clients_share_a_bucket_per_prefix_and_an_aggregate_per_wider_one() {
        let r = ClientRules::default();
        let a = r.of(ip("2001:db8:1:2:aaaa::1"));
        let b = r.of(ip("2001:db8:1:2:bbbb::9"));
        let c = r.of(ip("2001:db8:1:3::1"));
        let d = r.of(ip("2001:db8:2:3::1"));
        assert_eq!(a.bucket, b.bucket);
        assert_ne!(a.bucket, c.bucket);
        assert_eq!(a.bucket, ip("2001:db8:1:2::"));
        assert_eq!(a.aggregate, Some(ip("2001:db8:1::")));
        assert_eq!(a.aggregate, c.aggregate, "one /48");
        assert_ne!(a.aggregate, d.aggregate);
        let mapped = r.of(ip("::ffff:192.0.2.1"));
        assert_eq!(mapped.bucket, ip("192.0.2.1"), "IPv4-mapped is IPv4");
        assert_eq!(mapped.aggregate, None, "IPv4 has no aggregate");
        let whole = ClientRules {
            ipv6_prefix_len: 128,
            ..ClientRules::default()
        };
        assert_ne!(whole.bucket(ip("2001:db8::1")), whole.bucket(ip("2001:db8::2")));
        // An aggregate no wider than the bucket is the bucket: no second limit.
        let same = ClientRules {
            ipv6_aggregate_prefix_len: 64,
            ..ClientRules::default()
        };
        assert_eq!(same.of(ip("2001:db8::1")).aggregate, None);
    }
}
