//! Web authorisation (网页授权, `snsapi_base`, `WECHAT_OAUTH=base`): who the browser's WeChat
//! user is, before a tracked link (or a form) records anything.
//!
//! For the pages that need it there are two calls:
//! - [`OAuth::identified`]: the identity of a request, from its identity cookie (signed,
//!   HttpOnly, `SameSite=Lax`, trusted [`signed::COOKIE_LIFETIME_SECS`]), or `None`;
//! - [`OAuth::start`]: the redirect that starts an authorisation returning to a wxtag path
//!   ([`ReturnPath`]: `/l/…` or `/f/…`, never another site).
//!
//! The flow: [`OAuth::start`] sends the browser to
//! `$WECHAT_OAUTH_BASE/connect/oauth2/authorize?appid=…&redirect_uri=…&response_type=code&scope=snsapi_base&state=…#wechat_redirect`
//! (WeChat checks this order), the `redirect_uri` being `$WXTAG_PUBLIC_URL/oauth/callback?to=<path>`
//! and the state signed ([`signed::State`]). WeChat sends the browser to the callback with a
//! code; [`OAuth::callback`] checks the state, exchanges the code once through
//! `sns/oauth2/access_token` on the WeChat API (the sandbox in sandbox mode), and the handler
//! (`admin::oauth_callback`) sets the cookie and redirects away at once, so Back or a refresh never submits
//! the code again. A reused or expired code (40029, 40163) gets one fresh authorisation (the
//! attempt is counted in the signed state), then [`Callback::Failed`]: never a loop.

pub mod signed;

use std::fmt;
use std::time::Duration;

use actix_web::HttpRequest;
use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::header;
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Deserialize;

use crate::config::PublicUrl;
use crate::domain::{OpenId, UnionId, UnixTime};
use crate::metrics::Metrics;
use crate::store::{KeyRing, KeySet, Store, StoreError};
use crate::wechat::api::{ApiError, AppSecret, WeChatApi};
use crate::wechat::client::count_call;
use signed::State;

/// The callback's path, under `WXTAG_PUBLIC_URL`.
pub const CALLBACK_PATH: &str = "/oauth/callback";

/// The identity cookie's name.
pub const COOKIE: &str = "wxtag_id";

/// The wxtag paths an authorisation may return to: tracked links and forms.
pub const RETURN_PREFIXES: [&str; 2] = ["/l/", "/f/"];

/// How long the code exchange may take.
const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(10);

/// Who the browser's WeChat user is, as web authorisation said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The user's openid for this account (a follower or not).
    pub openid: OpenId,
    /// The user's unionid, when WeChat gave one.
    pub unionid: Option<UnionId>,
}

/// A path of wxtag's own to return to after an authorisation: one of [`RETURN_PREFIXES`],
/// at most 1,024 bytes of `A-Z a-z 0-9 - . _ ~ / ? = & % +`, never `//` (so never another
/// host: no open redirect).
#[derive(Clone, PartialEq, Eq)]
pub struct ReturnPath(String);

impl ReturnPath {
    /// The longest path accepted.
    pub const MAX_LEN: usize = 1024;

    /// Parses a return path, or says why it is not one.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let allowed = |c: char| c.is_ascii_alphanumeric() || "-._~/?=&%+".contains(c);
        if !RETURN_PREFIXES.iter().any(|p| raw.starts_with(p)) {
            Err(format!(
                "{raw:?} is not under {}",
                RETURN_PREFIXES.join(" or ")
            ))
        } else if raw.len() > Self::MAX_LEN || raw.contains("//") || !raw.chars().all(allowed) {
            Err(format!(
                "{raw:?} is longer than {} bytes, holds // or a character a path may not",
                Self::MAX_LEN
            ))
        } else {
            Ok(Self(raw.to_owned()))
        }
    }

    /// The path.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ReturnPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ReturnPath({:?})", self.0)
    }
}

impl fmt::Display for ReturnPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What WeChat sends the browser back to the callback with.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct CallbackQuery {
    /// Where to return (wxtag put it in the `redirect_uri`).
    pub to: Option<String>,
    /// The code; missing when the user refused (never for `snsapi_base`).
    pub code: Option<String>,
    /// The state wxtag signed.
    pub state: Option<String>,
}

/// What the callback comes to.
#[derive(Debug)]
pub enum Callback {
    /// The user is known: set the cookie, go to `to`.
    Identified {
        /// Who the user is.
        identity: Identity,
        /// Where to go.
        to: ReturnPath,
    },
    /// The code was reused or expired: one fresh authorisation, at this URL.
    Again(String),
    /// The state is missing, altered, too old, or returns nowhere of wxtag's: a plain page.
    BadState(String),
    /// WeChat did not say who the user is: `to` may go on without an identity.
    Failed {
        /// Where the browser was going.
        to: ReturnPath,
        /// What happened, for the page and the log.
        why: String,
    },
}

/// Web authorisation for one account: its AppID and secret, where the browser goes
/// (`WECHAT_OAUTH_BASE`), where it comes back (`WXTAG_PUBLIC_URL`), and the signing keys.
#[derive(Debug, Clone)]
pub struct OAuth {
    appid: String,
    secret: AppSecret,
    authorize_base: String,
    public_url: PublicUrl,
    api: WeChatApi,
    keys: KeyRing,
    metrics: Metrics,
}

/// How to reach web authorisation, for [`OAuth::new`].
#[derive(Debug, Clone)]
pub struct OAuthAccess {
    /// The AppID.
    pub appid: String,
    /// The AppSecret (the code exchange needs it).
    pub secret: AppSecret,
    /// `WECHAT_OAUTH_BASE`, or the sandbox's URL in sandbox mode.
    pub authorize_base: String,
    /// `WXTAG_PUBLIC_URL`: where WeChat sends the browser back.
    pub public_url: PublicUrl,
    /// The WeChat API (`WECHAT_API_BASE`, or the sandbox's), for `sns/oauth2/access_token`.
    pub api_base: String,
}

impl OAuth {
    /// Web authorisation as `access` says, counting its calls in `metrics`.
    pub fn new(access: OAuthAccess, metrics: Metrics) -> Result<Self, ApiError> {
        Ok(Self {
            api: WeChatApi::new(&access.api_base, EXCHANGE_TIMEOUT)?,
            appid: access.appid,
            secret: access.secret,
            authorize_base: access.authorize_base.trim_end_matches('/').to_owned(),
            public_url: access.public_url,
            keys: KeyRing::of(KeySet::OAuth),
            metrics,
        })
    }

    /// The identity of `req`, from a valid identity cookie; `None` without one (or when its
    /// key cannot be read, logged).
    pub async fn identified(
        &self,
        store: &Store,
        req: &HttpRequest,
        now: UnixTime,
    ) -> Option<Identity> {
        let cookie = req.cookie(COOKIE)?;
        let id = signed::identity_key_id(cookie.value())?;
        let key = match self.keys.key(store, id).await {
            Ok(key) => key,
            Err(error) => {
                tracing::error!(%error, "cannot read the web authorisation keys");
                return None;
            }
        };
        signed::verify_identity(cookie.value(), key.as_ref(), now)
    }

    /// The redirect (302) that starts an authorisation returning to the wxtag path `to`;
    /// the error says why it cannot (a path that is no [`ReturnPath`], or Redis), in words.
    pub async fn start(
        &self,
        store: &Store,
        to: &str,
        now: UnixTime,
    ) -> Result<actix_web::HttpResponse, String> {
        let to = ReturnPath::parse(to)?;
        let url = self
            .authorize_url(store, &to, 0, now)
            .await
            .map_err(|e| e.to_string())?;
        Ok(redirect(&url))
    }

    /// The authorisation URL of attempt `attempt`, with a state signed now.
    async fn authorize_url(
        &self,
        store: &Store,
        to: &ReturnPath,
        attempt: u8,
        now: UnixTime,
    ) -> Result<String, StoreError> {
        let key = self.keys.signing_key(store).await?;
        let state = State {
            key_id: key.id,
            issued: now,
            attempt,
        }
        .sign(&key, to);
        let back = format!(
            "{}{CALLBACK_PATH}?to={}",
            self.public_url,
            utf8_percent_encode(to.as_str(), NON_ALPHANUMERIC)
        );
        Ok(format!(
            "{}/connect/oauth2/authorize?appid={}&redirect_uri={}&response_type=code\
             &scope=snsapi_base&state={state}#wechat_redirect",
            self.authorize_base,
            self.appid,
            utf8_percent_encode(&back, NON_ALPHANUMERIC)
        ))
    }

    /// What the callback with `query` comes to at `now`: the state checked, then the code
    /// exchanged once.
    pub async fn callback(
        &self,
        store: &Store,
        query: &CallbackQuery,
        now: UnixTime,
    ) -> Result<Callback, StoreError> {
        let to = match query.to.as_deref().map(ReturnPath::parse) {
            Some(Ok(to)) => to,
            Some(Err(why)) => return Ok(Callback::BadState(why)),
            None => return Ok(Callback::BadState("no return path (to)".to_owned())),
        };
        let raw = query.state.as_deref().unwrap_or_default();
        let key = match State::key_id_of(raw) {
            Some(id) => self.keys.key(store, id).await?,
            None => None,
        };
        let Some(state) = State::verify(raw, key.as_ref(), &to, now) else {
            return Ok(Callback::BadState(
                "the state is missing, altered, or older than 10 minutes".to_owned(),
            ));
        };
        let Some(code) = query.code.as_deref().filter(|c| !c.is_empty()) else {
            return Ok(Callback::Failed {
                to,
                why: "WeChat sent no code".to_owned(),
            });
        };
        let result = self.api.web_user(&self.appid, &self.secret, code).await;
        count_call(&self.metrics, "sns/oauth2/access_token", &result);
        Ok(match result {
            Ok(user) => Callback::Identified {
                identity: Identity {
                    openid: user.openid,
                    unionid: user.unionid,
                },
                to,
            },
            Err(e)
                if matches!(e.code(), Some(40029 | 40163))
                    && state.attempt + 1 < signed::MAX_ATTEMPTS =>
            {
                tracing::info!(
                    errcode = e.code(),
                    "web authorisation code reused or expired: authorising once more"
                );
                Callback::Again(
                    self.authorize_url(store, &to, state.attempt + 1, now)
                        .await?,
                )
            }
            Err(e) => Callback::Failed {
                to,
                why: format!("WeChat did not say who you are ({e})"),
            },
        })
    }

    /// The identity cookie for `identity`, signed now: HttpOnly, `SameSite=Lax` (it must
    /// come with the top-level navigation back from WeChat), `Secure` over https.
    pub async fn cookie(
        &self,
        store: &Store,
        identity: &Identity,
        https: bool,
        now: UnixTime,
    ) -> Result<Cookie<'static>, StoreError> {
        let key = self.keys.signing_key(store).await?;
        Ok(
            Cookie::build(COOKIE, signed::sign_identity(identity, &key, now))
                .path("/")
                .http_only(true)
                .same_site(SameSite::Lax)
                .secure(https)
                .max_age(actix_web::cookie::time::Duration::seconds(
                    signed::COOKIE_LIFETIME_SECS,
                ))
                .finish(),
        )
    }
}

/// A 302 to `url`, never cached.
pub fn redirect(url: &str) -> actix_web::HttpResponse {
    actix_web::HttpResponse::Found()
        .insert_header((header::LOCATION, url))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_return_path_is_one_of_wxtags_own() {
        for good in ["/l/abc.def", "/f/trial?t=abc&ch=expo-2026", "/l/a%2Fb"] {
            assert_eq!(ReturnPath::parse(good).unwrap().as_str(), good);
        }
        for bad in [
            "https://evil.example/",
            "//evil.example/l/",
            "/l//evil.example",
            "/api/leads",
            "/l/a b",
            "/l/a\\b",
            "/l/a#b",
            &format!("/l/{}", "a".repeat(1024)),
        ] {
            assert!(ReturnPath::parse(bad).is_err(), "{bad}");
        }
    }
}
