//! Typed settings from the environment (and a `.env` file when present).
//!
//! Every variable is read and checked once, at start-up; a bad value stops wxtag with a
//! message naming the variable and what to do. Secrets are kept in types whose `Debug`
//! prints `[redacted]`, so settings can be logged whole.

use std::net::SocketAddr;
use std::path::PathBuf;

use secrecy::SecretString;
use thiserror::Error;

mod access;
mod kind;
mod web;

pub use access::{AdminToken, TrustedProxies};
pub use kind::{AccountKind, Cannot, Feature, Kind};
pub use web::{OAuthSetting, PublicUrl, WECHAT_OAUTH_BASE};

use crate::domain::Clock;
use crate::sandbox;
use crate::store::Durability;
use crate::store::history::{DEFAULT_HISTORY_DAYS, MAX_HISTORY_DAYS};
use crate::wechat::api::AppSecret;
use crate::wechat::client::WeChatAccess;
use crate::wechat::crypto::EncodingAesKey;
use crate::wechat::signature::ServerToken;

/// The server token sandbox mode signs with when `WECHAT_TOKEN` is unset.
pub const SANDBOX_TOKEN: &str = "wxtag-sandbox-token";

/// A setting that cannot be used, with the variable it came from.
#[derive(Debug, Error)]
#[error("{var}: {problem}")]
pub struct ConfigError {
    /// The environment variable.
    pub var: &'static str,
    /// What is wrong and what to do.
    pub problem: String,
}

/// Where WeChat's API is: the real one, or the built-in stand-in.
#[derive(Debug, Clone)]
pub enum Mode {
    /// Real WeChat, with the account's AppSecret.
    Live {
        /// `WECHAT_APPSECRET`.
        secret: AppSecret,
    },
    /// No `WECHAT_APPID`: `serve` starts the sandbox and talks to it.
    Sandbox,
}

/// The official account wxtag serves.
#[derive(Debug, Clone)]
pub struct Account {
    /// `WECHAT_APPID` (the sandbox's in sandbox mode).
    pub appid: String,
    /// Live or sandbox.
    pub mode: Mode,
    /// `WECHAT_TOKEN`, the server-config token that signs every push.
    pub token: ServerToken,
    /// `WECHAT_AES_KEY`; `None` means plaintext mode.
    pub aes_key: Option<EncodingAesKey>,
    /// `WECHAT_API_BASE`, where the API client sends calls in live mode.
    pub api_base: String,
    /// `WECHAT_ACCOUNT_KIND` and `WECHAT_VERIFIED`: what the account may use.
    pub kind: AccountKind,
}

impl Account {
    /// Whether the account may use `feature` (its kind and verification), with the reason
    /// in words when it may not.
    pub fn can(&self, feature: Feature) -> Result<(), Cannot> {
        self.kind.can(feature)
    }

    /// How to reach this account's API at `base_url` (in sandbox mode, with the sandbox's
    /// secret).
    pub fn wechat_access(&self, base_url: &str) -> WeChatAccess {
        WeChatAccess {
            base_url: base_url.to_owned(),
            appid: self.appid.clone(),
            secret: self.secret(),
        }
    }
}

/// Every setting wxtag reads.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The account.
    pub account: Account,
    /// `REDIS_URL`; `None` means start a local redis-server in `data_dir/redis`.
    pub redis_url: Option<SecretString>,
    /// `WXTAG_BIND`, the address `serve` listens on.
    pub bind: SocketAddr,
    /// `WXTAG_CHANNELS`, the folder of channel rule files.
    pub channels_dir: PathBuf,
    /// `WXTAG_ADMIN_TOKEN`; `None` means `serve` makes one and prints it once.
    pub admin_token: Option<AdminToken>,
    /// `WXTAG_DATA`, where local state (the local Redis) lives.
    pub data_dir: PathBuf,
    /// `WXTAG_DURABILITY`: refuse a Redis that can lose answered events (`strict`, the
    /// default), or accept it (`relaxed`).
    pub durability: Durability,
    /// `WXTAG_TRUSTED_PROXIES`: the peers whose forwarding headers are believed.
    pub trusted_proxies: TrustedProxies,
    /// `WXTAG_CLOCK_OFFSET_SECS`: wxtag's clock, shifted for tests and demos (0 by default).
    pub clock: Clock,
    /// `WXTAG_HISTORY_DAYS`: how many days of touch history each lead keeps (1 to 400).
    pub history_days: u32,
    /// `WXTAG_PUBLIC_URL`: where browsers reach wxtag; without it, replies send a
    /// `[[link]]`'s plain destination, untracked.
    pub public_url: Option<PublicUrl>,
    /// `WECHAT_OAUTH` and `WECHAT_OAUTH_BASE`: whether (and where) a browser's WeChat user is
    /// identified before a link records anything.
    pub oauth: OAuthSetting,
}

impl Settings {
    /// Reads `.env` (if present, without overriding the real environment), then the environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        // A missing .env is normal; a malformed one is reported by the variables it breaks.
        let _ = dotenvy::dotenv();
        Self::from_vars(|name| std::env::var(name).ok())
    }

    /// Reads settings through `var`, which returns a variable's value if set.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| var(name).filter(|value| !value.trim().is_empty());
        let account = account(&get)?;
        let bind = get("WXTAG_BIND").unwrap_or_else(|| "127.0.0.1:8080".to_owned());
        let bind: SocketAddr = bind.parse().map_err(|_| ConfigError {
            var: "WXTAG_BIND",
            problem: format!("{bind:?} is not an address; use host:port, e.g. 127.0.0.1:8080"),
        })?;
        if matches!(account.mode, Mode::Sandbox)
            && get("WECHAT_TOKEN").is_none_or(|token| token == SANDBOX_TOKEN)
            && !bind.ip().is_loopback()
        {
            return Err(ConfigError {
                var: "WECHAT_TOKEN",
                problem: format!(
                    "sandbox mode signs pushes with the public default token {SANDBOX_TOKEN}, \
                     so on {bind} (WXTAG_BIND, not loopback) anyone could post pushes; set \
                     WECHAT_TOKEN to a token of your own, or bind to 127.0.0.1"
                ),
            });
        }
        let admin_token = get("WXTAG_ADMIN_TOKEN")
            .map(|token| {
                AdminToken::parse(&token).map_err(|problem| ConfigError {
                    var: "WXTAG_ADMIN_TOKEN",
                    problem,
                })
            })
            .transpose()?;
        let durability = get("WXTAG_DURABILITY")
            .map(|raw| {
                Durability::parse(&raw).map_err(|problem| ConfigError {
                    var: "WXTAG_DURABILITY",
                    problem,
                })
            })
            .transpose()?
            .unwrap_or_default();
        let public_url = web::public_url(&get)?;
        let oauth = web::oauth(
            &get,
            matches!(account.mode, Mode::Sandbox),
            public_url.as_ref(),
        )?;
        if oauth != OAuthSetting::Off
            && let Err(cannot) = account.can(Feature::WebAuthorisation)
        {
            return Err(ConfigError {
                var: "WECHAT_OAUTH",
                problem: format!(
                    "base: {cannot}; set WECHAT_OAUTH=off, or fix WECHAT_ACCOUNT_KIND and \
                     WECHAT_VERIFIED if the MP console says otherwise"
                ),
            });
        }
        Ok(Self {
            account,
            redis_url: get("REDIS_URL").map(SecretString::from),
            bind,
            channels_dir: get("WXTAG_CHANNELS")
                .unwrap_or_else(|| "channels".into())
                .into(),
            admin_token,
            data_dir: get("WXTAG_DATA").unwrap_or_else(|| "data".into()).into(),
            durability,
            trusted_proxies: trusted_proxies(&get)?,
            clock: clock(&get)?,
            history_days: history_days(&get)?,
            public_url,
            oauth,
        })
    }

    /// True when no real WeChat account is configured.
    pub fn is_sandbox(&self) -> bool {
        matches!(self.account.mode, Mode::Sandbox)
    }
}

/// `WXTAG_TRUSTED_PROXIES`: comma-separated IPs and CIDRs, or `none`; unset means loopback.
fn trusted_proxies(get: &impl Fn(&str) -> Option<String>) -> Result<TrustedProxies, ConfigError> {
    get("WXTAG_TRUSTED_PROXIES")
        .map(|raw| {
            TrustedProxies::parse(&raw).map_err(|problem| ConfigError {
                var: "WXTAG_TRUSTED_PROXIES",
                problem,
            })
        })
        .transpose()
        .map(Option::unwrap_or_default)
}

/// `WXTAG_CLOCK_OFFSET_SECS`: seconds (may be negative) added to every clock of wxtag.
fn clock(get: &impl Fn(&str) -> Option<String>) -> Result<Clock, ConfigError> {
    let Some(raw) = get("WXTAG_CLOCK_OFFSET_SECS") else {
        return Ok(Clock::default());
    };
    let offset_secs = raw.trim().parse::<i64>().map_err(|_| ConfigError {
        var: "WXTAG_CLOCK_OFFSET_SECS",
        problem: format!(
            "{raw:?} is not a whole number of seconds; write e.g. 2678400 for 31 days later, \
             -3600 for an hour earlier, or leave it unset (for tests and demos only)"
        ),
    })?;
    Ok(Clock::shifted(offset_secs))
}

/// `WXTAG_HISTORY_DAYS`: 1 to [`MAX_HISTORY_DAYS`], default [`DEFAULT_HISTORY_DAYS`].
fn history_days(get: &impl Fn(&str) -> Option<String>) -> Result<u32, ConfigError> {
    let Some(raw) = get("WXTAG_HISTORY_DAYS") else {
        return Ok(DEFAULT_HISTORY_DAYS);
    };
    raw.trim()
        .parse::<u32>()
        .ok()
        .filter(|days| (1..=MAX_HISTORY_DAYS).contains(days))
        .ok_or_else(|| ConfigError {
            var: "WXTAG_HISTORY_DAYS",
            problem: format!(
                "{raw:?} is not a number of days from 1 to {MAX_HISTORY_DAYS}; write e.g. \
                 {DEFAULT_HISTORY_DAYS} (the default), or leave it unset"
            ),
        })
}

fn account(get: &impl Fn(&str) -> Option<String>) -> Result<Account, ConfigError> {
    let kind = kind::account_kind(get)?;
    let aes_key = get("WECHAT_AES_KEY")
        .map(|key| {
            EncodingAesKey::parse(key.trim()).map_err(|error| ConfigError {
                var: "WECHAT_AES_KEY",
                problem: format!(
                    "{error}; copy the 43-character EncodingAESKey from the MP console \
                     (开发 > 基本配置), or leave it empty for plaintext mode"
                ),
            })
        })
        .transpose()?;
    let api_base = get("WECHAT_API_BASE")
        .unwrap_or_else(|| "https://api.weixin.qq.com".to_owned())
        .trim_end_matches('/')
        .to_owned();
    if !(api_base.starts_with("https://") || api_base.starts_with("http://")) {
        return Err(ConfigError {
            var: "WECHAT_API_BASE",
            problem: format!("{api_base:?} is not an http(s) URL"),
        });
    }
    let Some(appid) = get("WECHAT_APPID") else {
        if get("WECHAT_APPSECRET").is_some() {
            return Err(ConfigError {
                var: "WECHAT_APPID",
                problem: "is not set, but WECHAT_APPSECRET is: a half-configured live account; \
                          set WECHAT_APPID (MP console, 开发 > 基本配置) and WECHAT_TOKEN too, or \
                          unset WECHAT_APPSECRET to run in sandbox mode"
                    .to_owned(),
            });
        }
        let token = get("WECHAT_TOKEN").unwrap_or_else(|| SANDBOX_TOKEN.to_owned());
        return Ok(Account {
            appid: sandbox::DEFAULT_APPID.to_owned(),
            mode: Mode::Sandbox,
            token: ServerToken::new(token),
            aes_key,
            api_base,
            kind,
        });
    };
    let appid = appid.trim().to_owned();
    if !appid.starts_with("wx") || !appid.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(ConfigError {
            var: "WECHAT_APPID",
            problem: format!(
                "{appid:?} does not look like an AppID (wx followed by letters and digits); \
                 copy it from the MP console (开发 > 基本配置)"
            ),
        });
    }
    let required = |var: &'static str, what: &str| {
        get(var).ok_or_else(|| ConfigError {
            var,
            problem: format!("is required when WECHAT_APPID is set; {what}"),
        })
    };
    let secret = required(
        "WECHAT_APPSECRET",
        "copy the AppSecret from the MP console (开发 > 基本配置)",
    )?;
    let token = required(
        "WECHAT_TOKEN",
        "use the Token (令牌) entered in the MP console's server configuration",
    )?;
    if !(3..=32).contains(&token.len()) || !token.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(ConfigError {
            var: "WECHAT_TOKEN",
            problem: "must be 3 to 32 letters or digits, as the MP console requires".to_owned(),
        });
    }
    Ok(Account {
        appid,
        mode: Mode::Live {
            secret: AppSecret::new(secret),
        },
        token: ServerToken::new(token),
        aes_key,
        api_base,
        kind,
    })
}

impl Account {
    /// The AppSecret the API client fetches tokens with (the sandbox's own in sandbox mode).
    pub fn secret(&self) -> AppSecret {
        match &self.mode {
            Mode::Live { secret } => secret.clone(),
            Mode::Sandbox => AppSecret::new(sandbox::DEFAULT_SECRET),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings(vars: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::from_vars(|name| vars.get(name).cloned())
    }

    #[test]
    fn nothing_set_is_sandbox_mode_with_defaults() {
        let s = settings(&[]).unwrap();
        assert!(s.is_sandbox());
        assert_eq!(s.account.appid, sandbox::DEFAULT_APPID);
        assert_eq!(s.bind.to_string(), "127.0.0.1:8080");
        assert_eq!(s.channels_dir, PathBuf::from("channels"));
        assert!(s.redis_url.is_none() && s.admin_token.is_none() && s.account.aes_key.is_none());
        assert_eq!(s.clock, Clock::default());
        assert_eq!(s.history_days, DEFAULT_HISTORY_DAYS);
    }

    #[test]
    fn the_clock_offset_is_any_whole_number_of_seconds() {
        let later = settings(&[("WXTAG_CLOCK_OFFSET_SECS", "2678400")]).unwrap();
        assert_eq!(later.clock.offset_secs(), 2_678_400);
        let earlier = settings(&[("WXTAG_CLOCK_OFFSET_SECS", " -3600 ")]).unwrap();
        assert_eq!(earlier.clock.offset_secs(), -3600);
        for bad in ["1.5", "31d", "99999999999999999999"] {
            let err = settings(&[("WXTAG_CLOCK_OFFSET_SECS", bad)]).unwrap_err();
            assert_eq!(err.var, "WXTAG_CLOCK_OFFSET_SECS", "{err}");
        }
    }

    #[test]
    fn history_days_are_one_to_four_hundred() {
        for (raw, days) in [("1", 1), ("400", 400), ("30", 30)] {
            let s = settings(&[("WXTAG_HISTORY_DAYS", raw)]).unwrap();
            assert_eq!(s.history_days, days);
        }
        for bad in ["0", "401", "-5", "ninety"] {
            let err = settings(&[("WXTAG_HISTORY_DAYS", bad)]).unwrap_err();
            assert_eq!(err.var, "WXTAG_HISTORY_DAYS", "{err}");
            assert!(err.problem.contains("1 to 400"), "{err}");
        }
    }

    #[test]
    fn live_mode_needs_secret_and_token_and_names_the_variable() {
        let err = settings(&[("WECHAT_APPID", "wx2c2769f8efd9abc2")]).unwrap_err();
        assert_eq!(err.var, "WECHAT_APPSECRET");
        let err = settings(&[
            ("WECHAT_APPID", "wx2c2769f8efd9abc2"),
            ("WECHAT_APPSECRET", "s3cret"),
        ])
        .unwrap_err();
        assert_eq!(err.var, "WECHAT_TOKEN");
        let ok = settings(&[
            ("WECHAT_APPID", "wx2c2769f8efd9abc2"),
            ("WECHAT_APPSECRET", "s3cret"),
            ("WECHAT_TOKEN", "spamtest"),
            (
                "WECHAT_AES_KEY",
                "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
            ),
        ])
        .unwrap();
        assert!(!ok.is_sandbox());
        assert!(ok.account.aes_key.is_some());
    }

    #[test]
    fn a_secret_without_an_appid_is_a_half_configured_account() {
        let err = settings(&[("WECHAT_APPSECRET", "s3cret")]).unwrap_err();
        assert_eq!(err.var, "WECHAT_APPID", "{err}");
        assert!(err.problem.contains("WECHAT_APPSECRET"), "{err}");
    }

    #[test]
    fn sandbox_mode_honours_a_token_and_refuses_the_public_one_off_loopback() {
        let s = settings(&[("WECHAT_TOKEN", "benchtoken")]).unwrap();
        assert!(s.is_sandbox());
        let err = settings(&[("WXTAG_BIND", "0.0.0.0:8080")]).unwrap_err();
        assert_eq!(err.var, "WECHAT_TOKEN", "{err}");
        let named = settings(&[("WXTAG_BIND", "[::]:8080"), ("WECHAT_TOKEN", SANDBOX_TOKEN)]);
        assert!(named.is_err(), "the public token named is still public");
        assert!(err.problem.contains(SANDBOX_TOKEN), "{err}");
        for ok in [
            &[
                ("WXTAG_BIND", "0.0.0.0:8080"),
                ("WECHAT_TOKEN", "own1token"),
            ][..],
            &[("WXTAG_BIND", "127.0.0.1:8080")][..],
            &[("WXTAG_BIND", "[::1]:8080")][..],
        ] {
            assert!(settings(ok).is_ok(), "{ok:?}");
        }
    }

    #[test]
    fn bad_values_stop_with_the_variable_named() {
        for (var, value) in [
            ("WECHAT_AES_KEY", "too-short"),
            ("WXTAG_BIND", "not an address"),
            ("WECHAT_API_BASE", "ftp://x"),
            ("WECHAT_APPID", "appid-without-wx"),
            ("WXTAG_TRUSTED_PROXIES", "10.0.0.1,proxy.local"),
        ] {
            let err = settings(&[(var, value)]).unwrap_err();
            assert_eq!(err.var, var, "{err}");
        }
    }

    #[test]
    fn the_public_url_is_parsed_and_named_when_bad() {
        assert!(settings(&[]).unwrap().public_url.is_none());
        let s = settings(&[("WXTAG_PUBLIC_URL", "https://wx.example.com/")]).unwrap();
        assert_eq!(
            s.public_url.as_ref().map(PublicUrl::as_str),
            Some("https://wx.example.com")
        );
        for bad in ["wx.example.com", "https://wx.example.com/?utm=1", "ftp://x"] {
            let err = settings(&[("WXTAG_PUBLIC_URL", bad)]).unwrap_err();
            assert_eq!(err.var, "WXTAG_PUBLIC_URL", "{err}");
            assert!(
                err.to_string().contains("e.g. https://wx.example.com"),
                "{err}"
            );
        }
    }

    #[test]
    fn the_account_kind_defaults_to_a_verified_service_account_and_refuses_at_start() {
        let default = settings(&[]).unwrap();
        assert_eq!(default.account.kind, AccountKind::default());
        assert!(default.account.can(Feature::Templates).is_ok());
        let subscription = settings(&[("WECHAT_ACCOUNT_KIND", "subscription")]).unwrap();
        assert_eq!(subscription.account.kind.kind, Kind::Subscription);
        assert!(subscription.account.can(Feature::Templates).is_err());
        for (var, bad) in [
            ("WECHAT_ACCOUNT_KIND", "服务号"),
            ("WECHAT_VERIFIED", "yes"),
        ] {
            let err = settings(&[(var, bad)]).unwrap_err();
            assert_eq!(err.var, var, "{err}");
        }
        for refused in [
            [
                ("WECHAT_ACCOUNT_KIND", "subscription"),
                ("WECHAT_OAUTH", "base"),
            ],
            [("WECHAT_VERIFIED", "false"), ("WECHAT_OAUTH", "base")],
        ] {
            let err = settings(&refused).unwrap_err();
            assert_eq!(err.var, "WECHAT_OAUTH", "{err}");
            assert!(
                err.problem.contains(
                    "web authorisation (WECHAT_OAUTH=base) need a verified service account"
                ),
                "{err}"
            );
        }
    }

    #[test]
    fn web_authorisation_is_off_by_default_and_base_needs_a_public_url() {
        assert_eq!(settings(&[]).unwrap().oauth, OAuthSetting::Off);
        assert_eq!(
            settings(&[("WECHAT_OAUTH", "off")]).unwrap().oauth,
            OAuthSetting::Off
        );
        let live = [
            ("WECHAT_APPID", "wx2c2769f8efd9abc2"),
            ("WECHAT_APPSECRET", "s3cret"),
            ("WECHAT_TOKEN", "spamtest"),
        ];
        let with = |extra: &[(&'static str, &'static str)]| {
            let mut vars = live.to_vec();
            vars.extend_from_slice(extra);
            settings(&vars)
        };
        let no_url = with(&[("WECHAT_OAUTH", "base")]).unwrap_err();
        assert!(no_url.problem.contains("WXTAG_PUBLIC_URL"), "{no_url}");
        // Sandbox mode serves links at serve's own address without one.
        assert!(settings(&[("WECHAT_OAUTH", "base")]).is_ok());
        let typo = with(&[("WECHAT_OAUTH", "userinfo")]).unwrap_err();
        for err in [no_url, typo] {
            assert_eq!(err.var, "WECHAT_OAUTH", "{err}");
        }
        let on = [
            ("WECHAT_OAUTH", "base"),
            ("WXTAG_PUBLIC_URL", "https://wx.example.com"),
        ];
        let live_on = with(&on).unwrap();
        assert_eq!(
            live_on.oauth,
            OAuthSetting::Base {
                authorize_base: None
            }
        );
        // Sandbox mode authorises against the sandbox (its own AppID), offline.
        assert!(settings(&on).unwrap().is_sandbox());
        let based = settings(&[
            on[0],
            on[1],
            ("WECHAT_OAUTH_BASE", "http://127.0.0.1:9100/"),
        ])
        .unwrap();
        assert_eq!(
            based.oauth,
            OAuthSetting::Base {
                authorize_base: Some("http://127.0.0.1:9100".to_owned())
            }
        );
        for bad in ["open.weixin.qq.com", "https://", "https://x/?a=1"] {
            let err = settings(&[("WECHAT_OAUTH_BASE", bad)]).unwrap_err();
            assert_eq!(err.var, "WECHAT_OAUTH_BASE", "{err}");
        }
    }

    #[test]
    fn debug_output_never_shows_a_secret() {
        let s = settings(&[
            ("WECHAT_APPID", "wx2c2769f8efd9abc2"),
            ("WECHAT_APPSECRET", "very-secret-value"),
            ("WECHAT_TOKEN", "tokenvalue123"),
            (
                "WECHAT_AES_KEY",
                "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
            ),
            ("REDIS_URL", "redis://:hunter2@localhost"),
            ("WXTAG_ADMIN_TOKEN", "admin-token-value-long-enough"),
        ])
        .unwrap();
        let shown = format!("{s:?}");
        for secret in [
            "very-secret-value",
            "tokenvalue123",
            "abcdefghijklmnop",
            "hunter2",
            "admin-token-value",
        ] {
            assert!(!shown.contains(secret), "{secret} leaked in {shown}");
        }
    }
}
