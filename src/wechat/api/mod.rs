//! The client for WeChat's HTTP API: access tokens, user tags, followers, QR codes,
//! customer-service and template messages, the blacklist and web authorisation's code
//! exchange.
//!
//! [`WeChatApi`] is built once and cloned; it holds one connection pool. Every call that needs
//! an access token takes an [`AccessToken`] and sends it as the `access_token` query parameter,
//! as WeChat requires. The token and the app secret never reach `Debug` output, logs or error
//! messages: reqwest errors are stripped of their URL before they are kept.
//!
//! WeChat answers errors as HTTP 200 with `{"errcode":N,"errmsg":"…"}`; [`ApiError`] keeps the
//! code and the classification switches on it, never on `errmsg` (which carries a request id).
//! The same client talks to the sandbox (`wxtag sandbox`, or the one inside `serve`) over
//! plain `http://`.
//!
//! The calls and their wire format are here; the types callers see live per family: the errors
//! (`error.rs`), tokens and the secret (`token.rs`), tags (`tags.rs`), followers (`users.rs`),
//! QR codes (`qrcode.rs`), messages and the blacklist (`messages.rs`), and custom menus
//! (`menus.rs`, which holds its calls too).

mod error;
mod menus;
mod messages;
mod qrcode;
mod tags;
mod token;
mod users;

use std::sync::Once;
use std::time::Duration;

use reqwest::{Method, Url};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::domain::{OpenId, TagId, TagName, UnixTime};

pub use error::{ApiError, SendRefusal};
pub use menus::{
    Button, ButtonProblem, ConditionalMenu, DefaultMenu, MatchRule, MenuSet, check_menu,
    count_problem,
};
pub use messages::{CustomMessage, TemplateMessage};
pub use qrcode::{QrRequest, QrScene, QrTicket};
pub use tags::WeChatTag;
pub use token::{AccessToken, AppSecret, TokenGrant};
pub use users::{Page, UserInfo, WebUser};

/// The JSON every WeChat answer may carry when it fails.
#[derive(Deserialize)]
struct ErrorProbe {
    #[serde(default)]
    errcode: i64,
    #[serde(default)]
    errmsg: String,
}

/// Answers that carry nothing but `errcode: 0`.
#[derive(Deserialize)]
pub(super) struct Ack {}

#[derive(Deserialize)]
struct TokenBody {
    access_token: String,
    expires_in: u64,
}

#[derive(Serialize)]
struct StableTokenRequest<'a> {
    grant_type: &'static str,
    appid: &'a str,
    secret: &'a str,
    force_refresh: bool,
}

#[derive(Serialize)]
struct TagEnvelope<T> {
    tag: T,
}

#[derive(Serialize)]
struct NewTag<'a> {
    name: &'a str,
}

#[derive(Serialize)]
struct TagRef<'a> {
    id: TagId,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
}

#[derive(Deserialize)]
struct CreatedTagBody {
    tag: CreatedTag,
}

#[derive(Deserialize)]
struct CreatedTag {
    id: TagId,
}

#[derive(Deserialize)]
struct TagsBody {
    #[serde(default)]
    tags: Vec<WeChatTag>,
}

#[derive(Serialize)]
struct BatchBody<'a> {
    openid_list: &'a [OpenId],
    tagid: TagId,
}

#[derive(Serialize)]
struct OpenIdBody<'a> {
    openid: &'a OpenId,
}

#[derive(Deserialize)]
struct TagIdListBody {
    #[serde(default)]
    tagid_list: Vec<TagId>,
}

#[derive(Serialize)]
struct TagMembersRequest<'a> {
    tagid: TagId,
    next_openid: &'a str,
}

#[derive(Deserialize)]
pub(super) struct PageBody {
    #[serde(default)]
    total: Option<u64>,
    #[serde(default)]
    count: u64,
    #[serde(default)]
    data: Option<PageData>,
    #[serde(default)]
    next_openid: String,
}

#[derive(Deserialize)]
struct PageData {
    #[serde(default)]
    openid: Vec<OpenId>,
}

impl PageBody {
    pub(super) fn into_page(self) -> Result<Page, ApiError> {
        let openids = match self.data {
            Some(data) if self.count > 0 => data.openid,
            _ => Vec::new(),
        };
        let next_openid = if openids.is_empty() || self.next_openid.is_empty() {
            None
        } else {
            Some(
                OpenId::parse(&self.next_openid)
                    .map_err(|e| ApiError::Decode(format!("next_openid is not an openid: {e}")))?,
            )
        };
        Ok(Page {
            openids,
            next_openid,
            total: self.total,
        })
    }
}

#[derive(Deserialize)]
struct UserInfoBody {
    #[serde(default)]
    subscribe: u8,
    openid: OpenId,
    #[serde(default)]
    subscribe_time: Option<i64>,
    #[serde(default)]
    subscribe_scene: Option<String>,
    #[serde(default)]
    qr_scene: u32,
    #[serde(default)]
    qr_scene_str: String,
    #[serde(default)]
    tagid_list: Vec<TagId>,
}

/// Installs rustls' ring crypto provider for the process, once; a provider someone else
/// installed first is kept. Call it before building any other reqwest client (reqwest is built
/// without a provider of its own); [`WeChatApi::new`] calls it.
pub fn install_crypto_provider() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        // An `Err` only means a provider is already installed, which is what we need.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// A client for WeChat's HTTP API (or the sandbox); cheap to clone, build it once.
#[derive(Debug, Clone)]
pub struct WeChatApi {
    http: reqwest::Client,
    base: String,
}

/// The secrets a request carries, to scrub from any error text.
type Secrets<'a> = [&'a str];

impl WeChatApi {
    /// Builds a client for the API at `base_url` (e.g. `https://api.weixin.qq.com`), giving up
    /// on any call after `timeout`.
    pub fn new(base_url: &str, timeout: Duration) -> Result<Self, ApiError> {
        let bad = |reason: String| ApiError::BaseUrl {
            url: base_url.to_owned(),
            reason,
        };
        let url = Url::parse(base_url).map_err(|e| bad(e.to_string()))?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(bad(
                "it must be an http:// or https:// url with a host".into()
            ));
        }
        if url.query().is_some() {
            return Err(bad("it must not carry a query string".into()));
        }
        install_crypto_provider();
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .user_agent(concat!("wxtag/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ApiError::Transport(error_text(e, &[])))?;
        Ok(Self {
            http,
            base: base_url.trim_end_matches('/').to_owned(),
        })
    }

    /// Fetches the stable access token (`POST /cgi-bin/stable_token`): the same token until it
    /// nears expiry; `force_refresh` voids it and makes a new one (20 times a day at most).
    pub async fn stable_token(
        &self,
        appid: &str,
        secret: &AppSecret,
        force_refresh: bool,
    ) -> Result<TokenGrant, ApiError> {
        let body = StableTokenRequest {
            grant_type: "client_credential",
            appid,
            secret: secret.expose(),
            force_refresh,
        };
        let request = self.http.post(self.url("stable_token")).json(&body);
        let grant: TokenBody = self.send(request, &[secret.expose()]).await?;
        Ok(grant.into())
    }

    /// Fetches a classic access token (`GET /cgi-bin/token`). Every call voids the previous
    /// token (after a short overlap): use [`Self::stable_token`] unless you own the only caller.
    pub async fn classic_token(
        &self,
        appid: &str,
        secret: &AppSecret,
    ) -> Result<TokenGrant, ApiError> {
        let request = self.http.get(self.url("token")).query(&[
            ("grant_type", "client_credential"),
            ("appid", appid),
            ("secret", secret.expose()),
        ]);
        let grant: TokenBody = self.send(request, &[secret.expose()]).await?;
        Ok(grant.into())
    }

    /// Creates a tag (`tags/create`); a duplicate name answers 45157.
    pub async fn create_tag(&self, token: &AccessToken, name: &TagName) -> Result<TagId, ApiError> {
        let body = TagEnvelope {
            tag: NewTag {
                name: name.as_str(),
            },
        };
        let created: CreatedTagBody = self
            .call(token, Method::POST, "tags/create", &[], Some(&body))
            .await?;
        Ok(created.tag.id)
    }

    /// Lists every tag of the account (`tags/get`), system tag 2 (星标组) included.
    pub async fn get_tags(&self, token: &AccessToken) -> Result<Vec<WeChatTag>, ApiError> {
        let tags: TagsBody = self
            .call::<(), _>(token, Method::GET, "tags/get", &[], None)
            .await?;
        Ok(tags.tags)
    }

    /// Renames a tag (`tags/update`).
    pub async fn update_tag(
        &self,
        token: &AccessToken,
        id: TagId,
        name: &TagName,
    ) -> Result<(), ApiError> {
        let body = TagEnvelope {
            tag: TagRef {
                id,
                name: Some(name.as_str()),
            },
        };
        self.call::<_, Ack>(token, Method::POST, "tags/update", &[], Some(&body))
            .await
            .map(drop)
    }

    /// Deletes a tag and takes it off all its followers (`tags/delete`).
    pub async fn delete_tag(&self, token: &AccessToken, id: TagId) -> Result<(), ApiError> {
        let body = TagEnvelope {
            tag: TagRef { id, name: None },
        };
        self.call::<_, Ack>(token, Method::POST, "tags/delete", &[], Some(&body))
            .await
            .map(drop)
    }

    /// Puts a tag on up to 50 followers (`tags/members/batchtagging`).
    pub async fn batch_tagging(
        &self,
        token: &AccessToken,
        tag_id: TagId,
        openids: &[OpenId],
    ) -> Result<(), ApiError> {
        self.batch(token, "tags/members/batchtagging", tag_id, openids)
            .await
    }

    /// Takes a tag off up to 50 followers (`tags/members/batchuntagging`).
    pub async fn batch_untagging(
        &self,
        token: &AccessToken,
        tag_id: TagId,
        openids: &[OpenId],
    ) -> Result<(), ApiError> {
        self.batch(token, "tags/members/batchuntagging", tag_id, openids)
            .await
    }

    async fn batch(
        &self,
        token: &AccessToken,
        path: &str,
        tag_id: TagId,
        openids: &[OpenId],
    ) -> Result<(), ApiError> {
        let body = BatchBody {
            openid_list: openids,
            tagid: tag_id,
        };
        self.call::<_, Ack>(token, Method::POST, path, &[], Some(&body))
            .await
            .map(drop)
    }

    /// The tags one follower carries (`tags/getidlist`).
    pub async fn tags_of_user(
        &self,
        token: &AccessToken,
        openid: &OpenId,
    ) -> Result<Vec<TagId>, ApiError> {
        let body = OpenIdBody { openid };
        let list: TagIdListBody = self
            .call(token, Method::POST, "tags/getidlist", &[], Some(&body))
            .await?;
        Ok(list.tagid_list)
    }

    /// One page of a tag's followers (`user/tag/get`); pass the previous page's `next_openid`.
    pub async fn tag_members(
        &self,
        token: &AccessToken,
        tag_id: TagId,
        next_openid: Option<&OpenId>,
    ) -> Result<Page, ApiError> {
        let body = TagMembersRequest {
            tagid: tag_id,
            next_openid: next_openid.map_or("", OpenId::as_str),
        };
        let page: PageBody = self
            .call(token, Method::POST, "user/tag/get", &[], Some(&body))
            .await?;
        page.into_page()
    }

    /// One page of the account's followers (`user/get`); pass the previous page's `next_openid`.
    pub async fn followers(
        &self,
        token: &AccessToken,
        next_openid: Option<&OpenId>,
    ) -> Result<Page, ApiError> {
        let query = [("next_openid", next_openid.map_or("", OpenId::as_str))];
        let page: PageBody = self
            .call::<(), _>(token, Method::GET, "user/get", &query, None)
            .await?;
        page.into_page()
    }

    /// One follower's profile (`user/info`).
    pub async fn user_info(
        &self,
        token: &AccessToken,
        openid: &OpenId,
    ) -> Result<UserInfo, ApiError> {
        let query = [("openid", openid.as_str()), ("lang", "zh_CN")];
        let info: UserInfoBody = self
            .call::<(), _>(token, Method::GET, "user/info", &query, None)
            .await?;
        Ok(UserInfo {
            openid: info.openid,
            subscribed: info.subscribe == 1,
            subscribe_time: info.subscribe_time.map(UnixTime),
            subscribe_scene: info.subscribe_scene,
            qr_scene: info.qr_scene,
            qr_scene_str: info.qr_scene_str,
            tag_ids: info.tagid_list,
        })
    }

    /// Creates a parametric QR code (`qrcode/create`), with the mandatory
    /// `action_info.scene` nesting.
    pub async fn create_qrcode(
        &self,
        token: &AccessToken,
        request: &QrRequest,
    ) -> Result<QrTicket, ApiError> {
        self.call(
            token,
            Method::POST,
            "qrcode/create",
            &[],
            Some(&request.body()),
        )
        .await
    }

    /// Exchanges a web authorisation code (`GET /sns/oauth2/access_token`) for the openid
    /// (and unionid) of the browser's user. A code works once, for 5 minutes: 40029 for an
    /// unknown or expired code, 40163 for a used one. Called once, never retried (a retry of
    /// a code WeChat did take would only answer 40163).
    pub async fn web_user(
        &self,
        appid: &str,
        secret: &AppSecret,
        code: &str,
    ) -> Result<WebUser, ApiError> {
        let request = self
            .http
            .get(format!("{}/sns/oauth2/access_token", self.base))
            .query(&[
                ("appid", appid),
                ("secret", secret.expose()),
                ("code", code),
                ("grant_type", "authorization_code"),
            ]);
        self.send(request, &[secret.expose(), code]).await
    }

    fn url(&self, path: &str) -> String {
        format!("{}/cgi-bin/{path}", self.base)
    }

    /// Calls `/cgi-bin/{path}` with the token (and `query`), sending `body` as JSON if given.
    pub(super) async fn call<B: Serialize, T: DeserializeOwned>(
        &self,
        token: &AccessToken,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&B>,
    ) -> Result<T, ApiError> {
        let mut request = self
            .http
            .request(method, self.url(path))
            .query(&[("access_token", token.expose())])
            .query(query);
        if let Some(body) = body {
            request = request.json(body);
        }
        self.send(request, &[token.expose()]).await
    }

    /// Sends the request and reads WeChat's answer: errcode first, then the expected shape.
    async fn send<T: DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
        secrets: &Secrets<'_>,
    ) -> Result<T, ApiError> {
        let response = request.send().await.map_err(|e| failure(e, secrets))?;
        let status = response.status();
        if !status.is_success() {
            return Err(ApiError::Http {
                status: status.as_u16(),
            });
        }
        let bytes = response.bytes().await.map_err(|e| failure(e, secrets))?;
        let probe: ErrorProbe = serde_json::from_slice(&bytes).map_err(decode_error)?;
        if probe.errcode != 0 {
            return Err(ApiError::WeChat {
                code: probe.errcode,
                message: probe.errmsg,
            });
        }
        serde_json::from_slice(&bytes).map_err(decode_error)
    }
}

impl From<TokenBody> for TokenGrant {
    fn from(body: TokenBody) -> Self {
        Self {
            token: AccessToken::new(body.access_token),
            expires_in: Duration::from_secs(body.expires_in),
        }
    }
}

/// Turns a reqwest failure into [`ApiError::Timeout`] or a URL-free [`ApiError::Transport`].
fn failure(err: reqwest::Error, secrets: &Secrets<'_>) -> ApiError {
    if err.is_timeout() {
        ApiError::Timeout
    } else {
        ApiError::Transport(error_text(err, secrets))
    }
}

/// The error and its causes as one line, without the URL (it holds the access token) and with
/// any secret scrubbed in case a cause quoted it.
fn error_text(err: reqwest::Error, secrets: &Secrets<'_>) -> String {
    let err = err.without_url();
    let mut text = err.to_string();
    let mut cause = std::error::Error::source(&err);
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    secrets
        .iter()
        .filter(|s| !s.is_empty())
        .fold(text, |t, s| t.replace(s, "<redacted>"))
}

/// Describes a JSON decoding failure by kind and position only: serde's own message may quote
/// values from the body, and a token answer's body holds the token.
fn decode_error(err: serde_json::Error) -> ApiError {
    let kind = match err.classify() {
        serde_json::error::Category::Io => "an i/o error",
        serde_json::error::Category::Syntax => "invalid json",
        serde_json::error::Category::Data => "json of an unexpected shape",
        serde_json::error::Category::Eof => "truncated json",
    };
    ApiError::Decode(format!(
        "{kind} at line {} column {}",
        err.line(),
        err.column()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_base_url_must_be_http_with_a_host() {
        let timeout = Duration::from_secs(1);
        assert!(WeChatApi::new("https://api.weixin.qq.com", timeout).is_ok());
        assert!(WeChatApi::new("http://127.0.0.1:8081/", timeout).is_ok());
        for bad in ["api.weixin.qq.com", "ftp://x", "http://x/?a=1", ""] {
            let err = WeChatApi::new(bad, timeout).unwrap_err();
            assert!(matches!(err, ApiError::BaseUrl { .. }), "{bad}");
            assert!(err.is_fatal_config());
        }
    }

    #[test]
    fn the_page_after_the_last_is_empty_and_ends_paging() {
        let last: PageBody =
            serde_json::from_str(r#"{"total":3,"count":0,"next_openid":""}"#).unwrap();
        let page = last.into_page().unwrap();
        assert!(page.openids.is_empty() && page.next_openid.is_none());
        let full: PageBody =
            serde_json::from_str(r#"{"count":2,"data":{"openid":["oA","oB"]},"next_openid":"oB"}"#)
                .unwrap();
        let page = full.into_page().unwrap();
        assert_eq!(page.next_openid, Some(OpenId::parse("oB").unwrap()));
        assert_eq!(page.total, None);
    }
}
