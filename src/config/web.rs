//! The settings of wxtag's pages outside the chat: `WXTAG_PUBLIC_URL`, where followers reach
//! wxtag from a browser (tracked links), and web authorisation (`WECHAT_OAUTH`,
//! `WECHAT_OAUTH_BASE`), which identifies the browser's WeChat user (snsapi_base).

use std::fmt;

use super::ConfigError;

/// `WXTAG_PUBLIC_URL`: the absolute `http(s)://` address followers' browsers reach wxtag at,
/// without a query, a fragment or a trailing `/`, e.g. `https://wx.example.com`.
#[derive(Clone, PartialEq, Eq)]
pub struct PublicUrl(String);

impl PublicUrl {
    /// The longest public URL accepted, in bytes: tracked links must fit WeChat's text
    /// replies (see `rules::LINK_URL_MAX_BYTES`).
    pub const MAX_LEN: usize = 100;

    /// Parses an absolute `http://` or `https://` URL with a host and no query, fragment,
    /// user info or white space; trailing `/`s are dropped.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let url = raw.trim().trim_end_matches('/');
        let example = "write the address browsers reach wxtag at, e.g. https://wx.example.com";
        let Some(rest) = url
            .strip_prefix("https://")
            .or_else(|| url.strip_prefix("http://"))
        else {
            return Err(format!(
                "{raw:?} is not an http:// or https:// URL; {example}"
            ));
        };
        let host = rest.split('/').next().unwrap_or_default();
        let problem = if host.is_empty() {
            Some("has no host")
        } else if host.contains('@') {
            Some("holds user info (@)")
        } else if url.contains(['?', '#']) {
            Some("has a query or a fragment")
        } else if url
            .chars()
            .any(|c| !c.is_ascii_graphic() || "\"<>\\^`{|}".contains(c))
        {
            Some("holds white space or characters a URL must escape")
        } else if url.len() > Self::MAX_LEN {
            Some("is longer than 100 bytes")
        } else {
            None
        };
        match problem {
            Some(problem) => Err(format!("{raw:?} {problem}; {example}")),
            None => Ok(Self(url.to_owned())),
        }
    }

    /// The URL, without a trailing `/`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PublicUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicUrl({:?})", self.0)
    }
}

impl fmt::Display for PublicUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// `WXTAG_PUBLIC_URL`, if set.
pub(super) fn public_url(
    get: &impl Fn(&str) -> Option<String>,
) -> Result<Option<PublicUrl>, ConfigError> {
    get("WXTAG_PUBLIC_URL")
        .map(|raw| {
            PublicUrl::parse(&raw).map_err(|problem| ConfigError {
                var: "WXTAG_PUBLIC_URL",
                problem,
            })
        })
        .transpose()
}

/// `WECHAT_OAUTH`: whether wxtag identifies the browser's WeChat user before a tracked link
/// (or a form) records anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OAuthSetting {
    /// `off` (the default): links credit the lead their token names.
    Off,
    /// `base`: web authorisation with `snsapi_base`, through `authorize_base`.
    Base {
        /// `WECHAT_OAUTH_BASE` when set (no trailing `/`); `None`: WeChat's
        /// `https://open.weixin.qq.com`, or the built-in sandbox in sandbox mode.
        authorize_base: Option<String>,
    },
}

/// WeChat's web authorisation host, `WECHAT_OAUTH_BASE`'s default outside sandbox mode.
pub const WECHAT_OAUTH_BASE: &str = "https://open.weixin.qq.com";

/// `WECHAT_OAUTH` (`off`, the default, or `base`) and `WECHAT_OAUTH_BASE` (an http(s) URL),
/// checked in full. `base` needs `WXTAG_PUBLIC_URL` (where WeChat sends the browser back),
/// except in sandbox mode, where `serve` serves links at its own address without one; it
/// runs with the account's AppID, or in sandbox mode with the sandbox's (the built-in
/// stand-in serves web authorisation too, so the flow runs offline).
pub(super) fn oauth(
    get: &impl Fn(&str) -> Option<String>,
    sandbox: bool,
    public_url: Option<&PublicUrl>,
) -> Result<OAuthSetting, ConfigError> {
    let authorize_base = match get("WECHAT_OAUTH_BASE") {
        None => None,
        Some(base) => {
            let base = base.trim().trim_end_matches('/');
            let host = base
                .strip_prefix("https://")
                .or_else(|| base.strip_prefix("http://"));
            if host.is_none_or(|h| h.is_empty() || h.contains(['?', '#', '@'])) {
                return Err(ConfigError {
                    var: "WECHAT_OAUTH_BASE",
                    problem: format!(
                        "{base:?} is not an http(s) URL without a query; write e.g. \
                         {WECHAT_OAUTH_BASE} (the default), or leave it unset"
                    ),
                });
            }
            Some(base.to_owned())
        }
    };
    let mode = get("WECHAT_OAUTH").unwrap_or_else(|| "off".to_owned());
    let problem = match mode.trim() {
        "off" => return Ok(OAuthSetting::Off),
        "base" if public_url.is_none() && !sandbox => {
            "base needs WXTAG_PUBLIC_URL (where WeChat sends the \
             browser back), e.g. WXTAG_PUBLIC_URL=https://wx.example.com; or set WECHAT_OAUTH=off"
                .to_owned()
        }
        "base" => return Ok(OAuthSetting::Base { authorize_base }),
        other => format!("{other:?} is not off or base; write WECHAT_OAUTH=off (the default)"),
    };
    Err(ConfigError {
        var: "WECHAT_OAUTH",
        problem,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_public_url_is_absolute_http_without_query_or_trailing_slash() {
        for (raw, url) in [
            ("https://wx.example.com", "https://wx.example.com"),
            ("https://wx.example.com/", "https://wx.example.com"),
            (
                " http://127.0.0.1:8080/wxtag// ",
                "http://127.0.0.1:8080/wxtag",
            ),
        ] {
            assert_eq!(PublicUrl::parse(raw).unwrap().as_str(), url);
        }
        for bad in [
            "wx.example.com",
            "ftp://wx.example.com",
            "https://",
            "https:///path",
            "https://wx.example.com/?a=1",
            "https://wx.example.com/#top",
            "https://user@wx.example.com",
            "https://wx example.com",
            &format!("https://{}.com", "a".repeat(100)),
        ] {
            let err = PublicUrl::parse(bad).unwrap_err();
            assert!(err.contains("e.g. https://wx.example.com"), "{bad}: {err}");
        }
    }
}
