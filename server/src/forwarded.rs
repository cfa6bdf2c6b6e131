//! Who the client is behind a proxy: `X-Forwarded-For` read from the right.
//!
//! Every proxy appends the address it received the request from, so the
//! rightmost values were written by proxies we run and the leftmost by the
//! client (who may write anything). The client is therefore the rightmost hop
//! that is not one of our trusted proxies:
//!
//! - without `--trust-forwarded-for`, the header is ignored: the client is the
//!   TCP peer;
//! - with it and no `--trusted-proxy`, the TCP peer is taken to be the one
//!   proxy: the client is the rightmost value (what that proxy appended);
//! - with `--trusted-proxy CIDR...`, the header is read only when the TCP peer
//!   is in one of those ranges (a request that bypasses the proxy cannot forge
//!   it), then walked from the right over every hop in those ranges; the first
//!   hop outside them is the client. If every hop is trusted, the leftmost one
//!   is. A value that is not an address ends the walk at the last good hop.

use std::{net::IpAddr, str::FromStr as _};

use ipnet::IpNet;

/// How much of `X-Forwarded-For` to believe.
#[derive(Clone, Debug, Default)]
pub struct ForwardedPolicy {
    /// Read the header at all.
    pub trust: bool,
    /// The proxies whose hops are skipped; empty: the TCP peer is the only one.
    pub proxies: Vec<IpNet>,
}

impl ForwardedPolicy {
    fn is_proxy(&self, ip: IpAddr) -> bool {
        self.proxies.iter().any(|net| net.contains(&ip))
    }

    /// The client's address, from the TCP peer and every `X-Forwarded-For`
    /// value in the order the headers came.
    #[must_use]
    pub fn client(&self, peer: Option<IpAddr>, forwarded_for: &[&str]) -> Option<IpAddr> {
        let peer = peer.map(|ip| ip.to_canonical());
        if !self.trust {
            return peer;
        }
        if !self.proxies.is_empty() && !peer.is_some_and(|p| self.is_proxy(p)) {
            return peer;
        }
        let hops = forwarded_for
            .iter()
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .filter(|h| !h.is_empty());
        let mut last = peer;
        for hop in hops.rev() {
            let Some(ip) = parse_hop(hop) else {
                return last;
            };
            if self.proxies.is_empty() || !self.is_proxy(ip) {
                return Some(ip);
            }
            last = Some(ip);
        }
        last
    }
}

/// An address as proxies write it: `192.0.2.1`, `2001:db8::1`, with or without
/// a port (`192.0.2.1:4711`, `[2001:db8::1]:4711`).
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let ip = IpAddr::from_str(hop).ok().or_else(|| {
        std::net::SocketAddr::from_str(hop)
            .ok()
            .map(|s| s.ip())
            .or_else(|| IpAddr::from_str(hop.strip_prefix('[')?.strip_suffix(']')?).ok())
    })?;
    Some(ip.to_canonical())
}

/// Parses `--trusted-proxy`: a CIDR (`10.0.0.0/8`, `2001:db8::/32`) or one
/// address (`192.0.2.7`, a /32 or /128).
///
/// # Errors
/// Why the value is not one, naming it, for clap's one-line message.
pub fn parse_cidr(s: &str) -> Result<IpNet, CidrError> {
    let s = s.trim();
    if let Ok(net) = IpNet::from_str(s) {
        if net.addr() != net.network() {
            return Err(CidrError::HostBits {
                given: s.to_owned(),
                network: net.trunc(),
            });
        }
        return Ok(net);
    }
    IpAddr::from_str(s)
        .map(IpNet::from)
        .map_err(|_| CidrError::NotAnAddress(s.to_owned()))
}

/// Why a `--trusted-proxy` value is not a network.
#[derive(Debug, thiserror::Error)]
pub enum CidrError {
    #[error("{given:?} has host bits set: did you mean {network}?")]
    HostBits { given: String, network: IpNet },
    #[error("{0:?} is not an address or a CIDR range (e.g. 10.0.0.0/8 or 2001:db8::/32)")]
    NotAnAddress(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Option<IpAddr> {
        Some(IpAddr::from_str(s).expect("ip"))
    }

    fn policy(proxies: &[&str]) -> ForwardedPolicy {
        ForwardedPolicy {
            trust: true,
            proxies: proxies
                .iter()
                .map(|p| parse_cidr(p).expect("cidr"))
                .collect(),
        }
    }

    #[test]
    fn without_trust_the_peer_is_the_client() {
        let p = ForwardedPolicy::default();
        assert_eq!(p.client(ip("10.0.0.5"), &["203.0.113.9"]), ip("10.0.0.5"));
    }

    #[test]
    fn a_spoofed_leftmost_value_is_ignored() {
        // The client sent `X-Forwarded-For: 1.2.3.4`; HAProxy appended the real
        // address. Only the appended one counts.
        let spoofed = ["1.2.3.4, 203.0.113.9"];
        assert_eq!(
            policy(&[]).client(ip("10.0.0.5"), &spoofed),
            ip("203.0.113.9")
        );
        assert_eq!(
            policy(&["10.0.0.0/8"]).client(ip("10.0.0.5"), &spoofed),
            ip("203.0.113.9")
        );
        // Spoofed values that look like our own proxies do not help either.
        assert_eq!(
            policy(&["10.0.0.0/8"]).client(ip("10.0.0.5"), &["10.9.9.9, 203.0.113.9"]),
            ip("203.0.113.9")
        );
    }

    #[test]
    fn the_walk_skips_every_trusted_hop_from_the_right() {
        // client -> CDN edge (198.51.100.0/24) -> HAProxy (10.0.0.5) -> us.
        let p = policy(&["10.0.0.0/8", "198.51.100.0/24"]);
        assert_eq!(
            p.client(ip("10.0.0.5"), &["6.6.6.6, 203.0.113.9, 198.51.100.20"]),
            ip("203.0.113.9")
        );
        // Two header lines read as one list, in order.
        assert_eq!(
            p.client(ip("10.0.0.5"), &["6.6.6.6, 203.0.113.9", "198.51.100.20"]),
            ip("203.0.113.9")
        );
        // Every hop trusted: the leftmost is as far as we can see.
        assert_eq!(
            p.client(ip("10.0.0.5"), &["198.51.100.7, 10.1.1.1"]),
            ip("198.51.100.7")
        );
        // No header at all: the proxy itself.
        assert_eq!(p.client(ip("10.0.0.5"), &[]), ip("10.0.0.5"));
        // Garbage ends the walk at the last good hop.
        assert_eq!(
            p.client(ip("10.0.0.5"), &["203.0.113.9, nonsense, 10.2.2.2"]),
            ip("10.2.2.2")
        );
        assert_eq!(p.client(ip("10.0.0.5"), &["nonsense"]), ip("10.0.0.5"));
    }

    #[test]
    fn a_peer_that_is_not_a_trusted_proxy_cannot_forward() {
        let p = policy(&["10.0.0.0/8"]);
        assert_eq!(
            p.client(ip("203.0.113.50"), &["1.2.3.4"]),
            ip("203.0.113.50")
        );
    }

    #[test]
    fn ipv6_ports_and_mapped_addresses() {
        let p = policy(&["2001:db8::/32", "10.0.0.0/8"]);
        assert_eq!(
            p.client(ip("2001:db8::1"), &["[2001:db9::7]:5555, 2001:db8::2"]),
            ip("2001:db9::7")
        );
        // A dual-stack listener reports IPv4 peers as ::ffff:a.b.c.d.
        assert_eq!(
            p.client(ip("::ffff:10.0.0.5"), &["203.0.113.9:443"]),
            ip("203.0.113.9")
        );
    }

    #[test]
    fn cidrs_parse_or_say_why_not() {
        assert_eq!(
            parse_cidr("10.0.0.0/8").expect("v4").to_string(),
            "10.0.0.0/8"
        );
        assert_eq!(
            parse_cidr("2001:db8::/32").expect("v6").to_string(),
            "2001:db8::/32"
        );
        assert_eq!(
            parse_cidr("192.0.2.7").expect("one").to_string(),
            "192.0.2.7/32"
        );
        assert_eq!(parse_cidr("::1").expect("one v6").to_string(), "::1/128");
        for bad in [
            "10.0.0.0/33",
            "10.0.0/8",
            "proxy",
            "",
            "10.0.0.1/8",
            "2001:db8::/129",
        ] {
            let e = parse_cidr(bad).expect_err(bad).to_string();
            assert!(e.contains(&format!("{:?}", bad.trim())), "{e}");
        }
    }
}
