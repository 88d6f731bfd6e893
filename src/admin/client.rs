//! Who is on the other end of a request: the client's address and whether it came over
//! HTTPS, believing `X-Forwarded-For` and `X-Forwarded-Proto` only from trusted proxies
//! (`WXTAG_TRUSTED_PROXIES`).
//!
//! The client is the rightmost address of `X-Forwarded-For` that is not a trusted proxy:
//! every address left of it was written by someone wxtag has no reason to believe.

use std::net::IpAddr;

use actix_web::HttpRequest;
use ipnet::IpNet;

/// The peers whose forwarding headers are believed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

impl Default for TrustedProxies {
    /// Loopback only: a proxy on the same host (`127.0.0.1`, `::1`).
    fn default() -> Self {
        Self(vec![
            IpNet::from(IpAddr::from([127, 0, 0, 1])),
            IpNet::from(IpAddr::from(std::net::Ipv6Addr::LOCALHOST)),
        ])
    }
}

impl TrustedProxies {
    /// Parses a comma-separated list of IPs and CIDRs; `none` trusts no peer.
    pub fn parse(raw: &str) -> Result<Self, String> {
        if raw.trim() == "none" {
            return Ok(Self(Vec::new()));
        }
        raw.split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .map(|item| {
                item.parse::<IpNet>()
                    .or_else(|_| item.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| {
                        format!(
                            "{item:?} is not an IP address or CIDR; list the proxies in front of \
                             wxtag, e.g. 10.0.0.5,10.1.0.0/16, or `none`"
                        )
                    })
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Self)
    }

    /// True when `ip` is one of the trusted proxies.
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|net| net.contains(&ip))
    }
}

/// The client behind a request, as far as wxtag can tell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Client {
    /// The client's address; `None` only when the connection has no peer address.
    pub ip: Option<IpAddr>,
    /// True when the client's request reached wxtag (or its trusted proxy) over HTTPS.
    pub https: bool,
}

impl Client {
    /// The client of `req`: the peer itself, or, when the peer is a trusted proxy, the
    /// rightmost untrusted address of `X-Forwarded-For` and the scheme of
    /// `X-Forwarded-Proto`.
    pub fn of(req: &HttpRequest, trusted: &TrustedProxies) -> Self {
        let peer = req.peer_addr().map(|addr| addr.ip());
        let direct_https = req.app_config().secure();
        let Some(peer) = peer.filter(|ip| trusted.contains(*ip)) else {
            return Self {
                ip: peer,
                https: direct_https,
            };
        };
        let forwarded: Vec<&str> = req
            .headers()
            .get_all("x-forwarded-for")
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .collect();
        let mut ip = peer;
        for hop in forwarded.iter().rev() {
            match hop.parse::<IpAddr>() {
                Ok(hop) if trusted.contains(hop) => ip = hop,
                Ok(hop) => {
                    ip = hop;
                    break;
                }
                Err(_) => break,
            }
        }
        let proto = req
            .headers()
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .map(str::trim);
        Self {
            ip: Some(ip),
            https: direct_https || proto.is_some_and(|p| p.eq_ignore_ascii_case("https")),
        }
    }

    /// The address as text, for the login limiter and logs (`unknown` without a peer).
    pub fn address(&self) -> String {
        self.ip
            .map_or_else(|| "unknown".to_owned(), |ip| ip.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    fn client(peer: &str, headers: &[(&str, &str)], trusted: &str) -> Client {
        let mut req = TestRequest::default().peer_addr(format!("{peer}:4000").parse().unwrap());
        for (name, value) in headers {
            req = req.insert_header((*name, *value));
        }
        Client::of(
            &req.to_http_request(),
            &TrustedProxies::parse(trusted).unwrap(),
        )
    }

    #[test]
    fn forwarding_headers_count_only_from_trusted_peers() {
        let spoof = [
            ("x-forwarded-for", "1.2.3.4"),
            ("x-forwarded-proto", "https"),
        ];
        let direct = client("203.0.113.7", &spoof, "10.0.0.0/8");
        assert_eq!(direct.address(), "203.0.113.7");
        assert!(!direct.https);
        let proxied = client("10.0.0.5", &spoof, "10.0.0.0/8");
        assert_eq!(proxied.address(), "1.2.3.4");
        assert!(proxied.https);
    }

    #[test]
    fn the_client_is_the_rightmost_untrusted_hop() {
        let chain = [("x-forwarded-for", "6.6.6.6, 198.51.100.2, 10.0.0.9")];
        assert_eq!(
            client("10.0.0.5", &chain, "10.0.0.0/8").address(),
            "198.51.100.2"
        );
        let all_trusted = [("x-forwarded-for", "10.0.0.8")];
        assert_eq!(
            client("10.0.0.5", &all_trusted, "10.0.0.0/8").address(),
            "10.0.0.8"
        );
        let garbage = [("x-forwarded-for", "not-an-ip")];
        assert_eq!(
            client("10.0.0.5", &garbage, "10.0.0.0/8").address(),
            "10.0.0.5"
        );
    }

    #[test]
    fn lists_parse_ips_cidrs_and_none_and_name_a_bad_item() {
        let trusted = TrustedProxies::parse("10.0.0.5, 192.168.0.0/16,::1").unwrap();
        assert!(trusted.contains("192.168.3.4".parse().unwrap()));
        assert!(trusted.contains("10.0.0.5".parse().unwrap()));
        assert!(!trusted.contains("10.0.0.6".parse().unwrap()));
        assert!(
            !TrustedProxies::parse("none")
                .unwrap()
                .contains("127.0.0.1".parse().unwrap())
        );
        assert!(TrustedProxies::default().contains("127.0.0.1".parse().unwrap()));
        assert!(!TrustedProxies::default().contains("127.0.0.2".parse().unwrap()));
        assert!(
            TrustedProxies::parse("10.0.0.5,nginx")
                .unwrap_err()
                .contains("\"nginx\"")
        );
    }
}
