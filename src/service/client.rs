//! Client: who a request comes from, for limits and logs. The TCP peer, unless the peer is one of the
//! operator's `trusted_proxies`: then the address the proxy forwarded (`Forwarded: for=`, else
//! `X-Forwarded-For`), read right to left past the trusted hops, so a client cannot pick its own address
//! by sending the header itself. Limits key on the client's bucket: an IPv4 address, or an IPv6 address's
//! `/64` (configurable), since one user holds a whole IPv6 prefix.

use std::net::{IpAddr, Ipv6Addr};

use http::{HeaderMap, header::FORWARDED};
use ipnet::IpNet;

/// The client of one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Client {
    pub ip: IpAddr,
    /// What per-client limits key on.
    pub bucket: IpAddr,
}

/// How the service tells clients apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientRules {
    /// Peers whose forwarding headers are believed (a reverse proxy, a load balancer).
    pub trusted_proxies: Vec<IpNet>,
    /// IPv6 addresses sharing this many leading bits are one client for limits (64: a subnet).
    pub ipv6_prefix_len: u8,
}

impl Default for ClientRules {
    fn default() -> Self {
        ClientRules {
            trusted_proxies: Vec::new(),
            ipv6_prefix_len: 64,
        }
    }
}

impl ClientRules {
    fn trusted(&self, ip: IpAddr) -> bool {
        self.trusted_proxies.iter().any(|net| net.contains(&ip))
    }

    /// The client of a request from `peer` with `headers`.
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> Client {
        let peer = peer.to_canonical();
        let ip = if self.trusted(peer) {
            forwarded_chain(headers)
                .into_iter()
                .rev()
                .find(|hop| !self.trusted(*hop))
                .unwrap_or(peer)
        } else {
            peer
        };
        Client {
            ip,
            bucket: self.bucket(ip),
        }
    }

    /// `ip`'s bucket: itself for IPv4, its prefix for IPv6.
    pub fn bucket(&self, ip: IpAddr) -> IpAddr {
        match ip.to_canonical() {
            IpAddr::V4(v4) => IpAddr::V4(v4),
            IpAddr::V6(v6) => {
                let bits = u32::from(self.ipv6_prefix_len.min(128));
                let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
                IpAddr::V6(Ipv6Addr::from(u128::from(v6) & mask))
            }
        }
    }
}

/// The addresses a request passed through, client first: `Forwarded`'s `for=` values if there is one,
/// else `X-Forwarded-For`'s. An entry that is not an address (`unknown`, an obfuscated name) ends the
/// chain there: nothing to its left can be believed.
fn forwarded_chain(headers: &HeaderMap) -> Vec<IpAddr> {
    let forwarded: Vec<&str> = headers
        .get_all(FORWARDED)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|element| {
            element.split(';').find_map(|pair| {
                let (name, value) = pair.trim().split_once('=')?;
                name.trim().eq_ignore_ascii_case("for").then_some(value.trim())
            })
        })
        .collect();
    let hops: Vec<&str> = if forwarded.is_empty() {
        headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .collect()
    } else {
        forwarded
    };
    let parsed: Vec<Option<IpAddr>> = hops.iter().map(|hop| parse_hop(hop)).collect();
    // Only the addresses after the last unparsable entry: a proxy appends, so those are the believable end.
    let start = parsed.iter().rposition(Option::is_none).map_or(0, |i| i + 1);
    parsed[start..].iter().flatten().copied().collect()
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

    fn rules(proxies: &[&str]) -> ClientRules {
        ClientRules {
            trusted_proxies: proxies.iter().map(|p| p.parse().unwrap()).collect(),
            ipv6_prefix_len: 64,
        }
    }

    #[test]
    fn forwarding_headers_count_only_from_trusted_proxies() {
        let spoofed = headers(&[("x-forwarded-for", "9.9.9.9")]);
        let peer: IpAddr = "203.0.113.5".parse().unwrap();
        assert_eq!(rules(&[]).client(peer, &spoofed).ip, peer, "nobody trusted");
        assert_eq!(
            rules(&["10.0.0.0/8"]).client(peer, &spoofed).ip,
            peer,
            "not a trusted peer"
        );
        let proxy: IpAddr = "10.0.0.2".parse().unwrap();
        let through = headers(&[("x-forwarded-for", "9.9.9.9, 198.51.100.7, 10.0.0.3")]);
        // Right to left past the trusted hops: the first untrusted one is the client (9.9.9.9 may be forged).
        assert_eq!(
            rules(&["10.0.0.0/8"]).client(proxy, &through).ip,
            "198.51.100.7".parse::<IpAddr>().unwrap()
        );
        let forwarded = headers(&[("forwarded", r#"for=192.0.2.60;proto=http, for="[2001:db8::17]:4711""#)]);
        assert_eq!(
            rules(&["10.0.0.0/8"]).client(proxy, &forwarded).ip,
            "2001:db8::17".parse::<IpAddr>().unwrap()
        );
        let unknown = headers(&[("x-forwarded-for", "198.51.100.7, unknown")]);
        assert_eq!(
            rules(&["10.0.0.0/8"]).client(proxy, &unknown).ip,
            proxy,
            "no address to believe"
        );
        let with_port = headers(&[("x-forwarded-for", "198.51.100.7:5555")]);
        assert_eq!(
            rules(&["10.0.0.0/8"]).client(proxy, &with_port).ip,
            "198.51.100.7".parse::<IpAddr>().unwrap()
        );
    }

    #[test]
    fn ipv6_clients_share_a_bucket_per_prefix() {
        let r = rules(&[]);
        let a = r.bucket("2001:db8:1:2:aaaa::1".parse().unwrap());
        let b = r.bucket("2001:db8:1:2:bbbb::9".parse().unwrap());
        let c = r.bucket("2001:db8:1:3::1".parse().unwrap());
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(a, "2001:db8:1:2::".parse::<IpAddr>().unwrap());
        let mapped = r.bucket("::ffff:192.0.2.1".parse().unwrap());
        assert_eq!(mapped, "192.0.2.1".parse::<IpAddr>().unwrap(), "IPv4-mapped is IPv4");
        let whole = ClientRules {
            ipv6_prefix_len: 128,
            ..ClientRules::default()
        };
        assert_ne!(
            whole.bucket("2001:db8::1".parse().unwrap()),
            whole.bucket("2001:db8::2".parse().unwrap())
        );
    }
}
