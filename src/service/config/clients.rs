//! Client rules: the configured part of telling clients apart (which peers are trusted proxies, the
//! header they append to, the IPv6 prefixes that make one client and one aggregate). A schema section of
//! its own; how a request's client is found from these rules is `service::client`'s.

use ipnet::IpNet;

use super::values;

/// The header a trusted proxy appends the address of its own peer to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ForwardedHeader {
    /// `X-Forwarded-For: client, proxy1, ...` (nginx `$proxy_add_x_forwarded_for`, HAProxy
    /// `option forwardfor`, AWS ALB, Traefik).
    #[default]
    XForwardedFor,
    /// `Forwarded: for=client, for=proxy1` (RFC 7239), for proxies configured to append it.
    Forwarded,
}

impl ForwardedHeader {
    pub fn name(self) -> &'static str {
        match self {
            ForwardedHeader::XForwardedFor => "x-forwarded-for",
            ForwardedHeader::Forwarded => "forwarded",
        }
    }
}

impl std::fmt::Display for ForwardedHeader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for ForwardedHeader {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "x-forwarded-for" => Ok(ForwardedHeader::XForwardedFor),
            "forwarded" => Ok(ForwardedHeader::Forwarded),
            other => Err(format!("`{other}` is not one of x-forwarded-for, forwarded")),
        }
    }
}

/// How the service tells clients apart.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClientRules {
    /// Peers whose forwarding header is believed (a reverse proxy, a load balancer).
    #[serde(with = "values::proxies")]
    pub trusted_proxies: Vec<IpNet>,
    /// The one header those proxies append to.
    #[serde(with = "values::text")]
    pub forwarded_header: ForwardedHeader,
    /// IPv6 addresses sharing this many leading bits are one client for limits (64: a subnet).
    pub ipv6_prefix_len: u8,
    /// IPv6 clients sharing this many leading bits are one aggregate with limits of its own (48: a site).
    pub ipv6_aggregate_prefix_len: u8,
}

impl Default for ClientRules {
    fn default() -> Self {
        ClientRules {
            trusted_proxies: Vec::new(),
            forwarded_header: ForwardedHeader::XForwardedFor,
            ipv6_prefix_len: 64,
            ipv6_aggregate_prefix_len: 48,
        }
    }
}
