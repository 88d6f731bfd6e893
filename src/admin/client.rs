//! Who is on the other end of a request: the client's address and whether it came over
//! HTTPS, believing `X-Forwarded-For` and `X-Forwarded-Proto` only from trusted proxies
//! (`WXTAG_TRUSTED_PROXIES`).
//!
//! The client is the rightmost address of `X-Forwarded-For` that is not a trusted proxy:
//! every address left of it was written by someone wxtag has no reason to believe.

use std::net::IpAddr;

use actix_web::HttpRequest;

pub use crate::config::TrustedProxies;

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
}
