//! Who may reach the admin side, as settings: the built-in admin token
//! (`WXTAG_ADMIN_TOKEN`) and the proxies whose forwarding headers are believed
//! (`WXTAG_TRUSTED_PROXIES`). Parsed once at start; `admin` applies them to requests.

use std::net::IpAddr;

use ipnet::IpNet;
use secrecy::{ExposeSecret, SecretString};
use subtle::ConstantTimeEq;

/// The shortest admin token accepted from the environment.
const MIN_LEN: usize = 16;

/// The built-in `admin` credential's token (`WXTAG_ADMIN_TOKEN`).
#[derive(Debug, Clone)]
pub struct AdminToken(SecretString);

impl AdminToken {
    /// Accepts a token of at least 16 visible ASCII characters.
    pub fn parse(raw: &str) -> Result<Self, String> {
        if raw.len() < MIN_LEN || !raw.chars().all(|c| c.is_ascii_graphic()) {
            return Err(format!(
                "must be at least {MIN_LEN} visible ASCII characters without spaces; \
                 make one with `openssl rand -hex 16`"
            ));
        }
        Ok(Self(SecretString::from(raw)))
    }

    /// A fresh random token (32 hex digits), for a `serve` started without one.
    pub fn generate() -> Self {
        let bytes: [u8; 16] = rand::random();
        Self(SecretString::from(hex::encode(bytes)))
    }

    /// The token itself, to print once at start-up or to send as a client.
    pub fn reveal(&self) -> &str {
        self.0.expose_secret()
    }

    /// True when `candidate` is this token; the comparison takes the same time either way.
    pub fn matches(&self, candidate: &str) -> bool {
        self.0
            .expose_secret()
            .as_bytes()
            .ct_eq(candidate.as_bytes())
            .into()
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_enough_and_compared_exactly() {
        assert!(AdminToken::parse("short").is_err());
        assert!(AdminToken::parse("has a space in it ok").is_err());
        let token = AdminToken::parse("0123456789abcdef").unwrap();
        assert!(token.matches("0123456789abcdef"));
        assert!(!token.matches("0123456789abcdeF"));
        assert!(!token.matches("0123456789abcdef0"));
        assert!(!token.matches(""));
        assert!(!format!("{token:?}").contains("0123456789"));
    }

    #[test]
    fn generated_tokens_differ_and_parse() {
        let (a, b) = (AdminToken::generate(), AdminToken::generate());
        assert_ne!(a.reveal(), b.reveal());
        assert!(AdminToken::parse(a.reveal()).is_ok());
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
