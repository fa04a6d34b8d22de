//! R18: adding and removing tokens (`/v1/app/*`) only from the networks the bank allows. The
//! client's address is the TCP peer's, unless that peer is a proxy the configuration trusts: then
//! it is read from the one header the configuration names. Nothing is assumed: with no trusted
//! proxy, every forwarding header is ignored.

use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

use axum::http::HeaderMap;
use ipnet::IpNet;
use serde::{Deserialize, Serialize};

/// `[network]` of the configuration file.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct NetworkSection {
    /// Networks (CIDR, or single addresses) whose clients may use `/v1/app/*`.
    pub app_allow: Vec<String>,
    /// Reverse proxies (CIDR or addresses) whose `proxy_header` is believed.
    pub trusted_proxies: Vec<String>,
    /// `x-forwarded-for`, `forwarded` (RFC 7239) or `x-real-ip`.
    pub proxy_header: String,
}

impl Default for NetworkSection {
    fn default() -> Self {
        NetworkSection {
            app_allow: vec!["0.0.0.0/0".into(), "::/0".into()],
            trusted_proxies: Vec::new(),
            proxy_header: "x-forwarded-for".into(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ProxyHeader {
    XForwardedFor,
    Forwarded,
    XRealIp,
}

impl ProxyHeader {
    fn name(self) -> &'static str {
        match self {
            ProxyHeader::XForwardedFor => "x-forwarded-for",
            ProxyHeader::Forwarded => "forwarded",
            ProxyHeader::XRealIp => "x-real-ip",
        }
    }
}

/// The policy the server enforces, parsed from [`NetworkSection`].
#[derive(Debug, Clone)]
pub struct NetPolicy {
    allow: Vec<IpNet>,
    proxies: Vec<IpNet>,
    header: ProxyHeader,
}

/// The client's address as the policy found it, for handlers that want it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub IpAddr);

fn parse_nets(setting: &str, list: &[String]) -> Result<Vec<IpNet>, String> {
    list.iter()
        .map(|s| {
            let s = s.trim();
            IpNet::from_str(s)
                .map(|n| n.trunc())
                .or_else(|_| IpAddr::from_str(s).map(IpNet::from))
                .map_err(|_| format!("network.{setting}: {s:?} is no address or CIDR network"))
        })
        .collect()
}

/// `::ffff:192.0.2.1` is `192.0.2.1`: a dual-stack socket reports IPv4 peers that way.
fn canonical(ip: IpAddr) -> IpAddr {
    ip.to_canonical()
}

/// One hop of a forwarding header: an address, perhaps with a port, perhaps bracketed or quoted.
/// `unknown`, obfuscated names (`_hidden`) and anything else: `None`.
fn parse_hop(s: &str) -> Option<IpAddr> {
    let s = s.trim().trim_matches('"');
    if let Ok(ip) = IpAddr::from_str(s) {
        return Some(canonical(ip));
    }
    if let Ok(sa) = SocketAddr::from_str(s) {
        return Some(canonical(sa.ip()));
    }
    let inner = s.strip_prefix('[')?.split(']').next()?;
    IpAddr::from_str(inner).ok().map(canonical)
}

impl NetPolicy {
    pub fn from_section(s: &NetworkSection) -> Result<NetPolicy, String> {
        let header = match s.proxy_header.to_ascii_lowercase().as_str() {
            "x-forwarded-for" => ProxyHeader::XForwardedFor,
            "forwarded" => ProxyHeader::Forwarded,
            "x-real-ip" => ProxyHeader::XRealIp,
            other => {
                return Err(format!(
                    "network.proxy_header: {other:?} is not one of x-forwarded-for, forwarded, x-real-ip"
                ))
            }
        };
        Ok(NetPolicy {
            allow: parse_nets("app_allow", &s.app_allow)?,
            proxies: parse_nets("trusted_proxies", &s.trusted_proxies)?,
            header,
        })
    }

    /// Whether `/v1/app/*` is open to every address (the default): the server warns at start.
    pub fn allows_everything(&self) -> bool {
        let v4 = self
            .allow
            .iter()
            .any(|n| matches!(n, IpNet::V4(_)) && n.prefix_len() == 0);
        let v6 = self
            .allow
            .iter()
            .any(|n| matches!(n, IpNet::V6(_)) && n.prefix_len() == 0);
        v4 && v6
    }

    fn trusted(&self, ip: IpAddr) -> bool {
        self.proxies.iter().any(|n| n.contains(&ip))
    }

    /// The client behind `peer`: `peer` itself unless it is a trusted proxy; then the nearest
    /// address in the proxy header that is not a trusted proxy (read right to left, the order in
    /// which proxies append). `None` when the header names a hop that is no address (`unknown`):
    /// the client cannot be placed.
    pub fn client_addr(&self, peer: IpAddr, headers: &HeaderMap) -> Option<IpAddr> {
        let peer = canonical(peer);
        if !self.trusted(peer) {
            return Some(peer);
        }
        let hops: Vec<Option<IpAddr>> = headers
            .get_all(self.header.name())
            .iter()
            .flat_map(|v| {
                let text = v.to_str().unwrap_or("\u{0}");
                text.split(',')
                    .map(|element| match self.header {
                        ProxyHeader::Forwarded => element
                            .split(';')
                            .find_map(|pair| {
                                let (k, v) = pair.split_once('=')?;
                                k.trim().eq_ignore_ascii_case("for").then_some(v)
                            })
                            .and_then(parse_hop),
                        _ => parse_hop(element),
                    })
                    .collect::<Vec<_>>()
            })
            .collect();
        let mut client = peer;
        for hop in hops.into_iter().rev() {
            let ip = hop?;
            client = ip;
            if !self.trusted(ip) {
                break;
            }
        }
        Some(client)
    }

    /// Whether `client` may add or remove tokens (R18).
    pub fn app_allowed(&self, client: IpAddr) -> bool {
        let client = canonical(client);
        self.allow.iter().any(|n| n.contains(&client))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn policy(allow: &[&str], proxies: &[&str], header: &str) -> NetPolicy {
        NetPolicy::from_section(&NetworkSection {
            app_allow: allow.iter().map(|s| s.to_string()).collect(),
            trusted_proxies: proxies.iter().map(|s| s.to_string()).collect(),
            proxy_header: header.into(),
        })
        .unwrap()
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn headers_of_untrusted_peers_are_ignored() {
        let p = policy(&["10.0.0.0/8"], &[], "x-forwarded-for");
        let h = headers(&[("x-forwarded-for", "10.1.2.3")]);
        assert_eq!(
            p.client_addr(ip("203.0.113.9"), &h),
            Some(ip("203.0.113.9"))
        );
        let p = policy(&["10.0.0.0/8"], &["192.0.2.1"], "x-forwarded-for");
        assert_eq!(
            p.client_addr(ip("203.0.113.9"), &h),
            Some(ip("203.0.113.9"))
        );
    }

    #[test]
    fn a_trusted_chain_is_read_right_to_left() {
        let p = policy(
            &["0.0.0.0/0"],
            &["192.0.2.0/24", "2001:db8::/32"],
            "x-forwarded-for",
        );
        // The client put a lie first; the trusted proxies appended the truth.
        let h = headers(&[("x-forwarded-for", "10.9.9.9, 198.51.100.7, 192.0.2.5")]);
        assert_eq!(p.client_addr(ip("192.0.2.1"), &h), Some(ip("198.51.100.7")));
        // Several header lines are one list.
        let h = headers(&[
            ("x-forwarded-for", "10.9.9.9"),
            ("x-forwarded-for", "198.51.100.7:4711"),
        ]);
        assert_eq!(p.client_addr(ip("192.0.2.1"), &h), Some(ip("198.51.100.7")));
        // No header: the proxy itself.
        assert_eq!(
            p.client_addr(ip("192.0.2.1"), &HeaderMap::new()),
            Some(ip("192.0.2.1"))
        );
        // A hop that is no address: the client cannot be placed.
        let h = headers(&[("x-forwarded-for", "unknown")]);
        assert_eq!(p.client_addr(ip("192.0.2.1"), &h), None);
        // IPv6 and IPv4-mapped peers.
        let h = headers(&[("x-forwarded-for", "[2001:db9::1]:443")]);
        assert_eq!(
            p.client_addr(ip("2001:db8::1"), &h),
            Some(ip("2001:db9::1"))
        );
        let h = headers(&[("x-forwarded-for", "198.51.100.8")]);
        assert_eq!(
            p.client_addr(ip("::ffff:192.0.2.1"), &h),
            Some(ip("198.51.100.8"))
        );
    }

    #[test]
    fn forwarded_and_x_real_ip() {
        let p = policy(&["0.0.0.0/0"], &["192.0.2.1"], "forwarded");
        let h = headers(&[(
            "forwarded",
            "for=10.9.9.9, for=\"[2001:db8:cafe::17]:4711\";proto=https",
        )]);
        assert_eq!(
            p.client_addr(ip("192.0.2.1"), &h),
            Some(ip("2001:db8:cafe::17"))
        );
        let h = headers(&[("forwarded", "proto=https;For=198.51.100.3")]);
        assert_eq!(p.client_addr(ip("192.0.2.1"), &h), Some(ip("198.51.100.3")));
        let h = headers(&[("forwarded", "for=_hidden")]);
        assert_eq!(p.client_addr(ip("192.0.2.1"), &h), None);
        // The header the policy does not name is ignored even from a trusted proxy.
        let h = headers(&[("x-forwarded-for", "198.51.100.3")]);
        assert_eq!(p.client_addr(ip("192.0.2.1"), &h), Some(ip("192.0.2.1")));
        let p = policy(&["0.0.0.0/0"], &["192.0.2.1"], "X-Real-IP");
        let h = headers(&[("x-real-ip", "198.51.100.4")]);
        assert_eq!(p.client_addr(ip("192.0.2.1"), &h), Some(ip("198.51.100.4")));
    }

    #[test]
    fn allow_lists() {
        let p = policy(
            &["10.0.0.0/8", "2001:db8::/32", "198.51.100.7"],
            &[],
            "forwarded",
        );
        assert!(p.app_allowed(ip("10.200.0.1")));
        assert!(p.app_allowed(ip("::ffff:10.200.0.1")));
        assert!(p.app_allowed(ip("2001:db8::9")));
        assert!(p.app_allowed(ip("198.51.100.7")));
        assert!(!p.app_allowed(ip("198.51.100.8")));
        assert!(!p.app_allowed(ip("127.0.0.1")));
        assert!(!p.allows_everything());
        assert!(NetPolicy::from_section(&NetworkSection::default())
            .unwrap()
            .allows_everything());
        let bad = NetworkSection {
            app_allow: vec!["10.0.0.0/33".into()],
            ..NetworkSection::default()
        };
        assert!(NetPolicy::from_section(&bad)
            .unwrap_err()
            .contains("app_allow"));
        let bad = NetworkSection {
            proxy_header: "x-client-ip".into(),
            ..NetworkSection::default()
        };
        assert!(NetPolicy::from_section(&bad)
            .unwrap_err()
            .contains("proxy_header"));
    }
}
