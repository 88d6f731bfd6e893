//! The client for WeChat's HTTP API: access tokens, user tags, followers, QR codes and
//! customer-service text.
//!
//! [`WeChatApi`] is built once and cloned; it holds one connection pool. Every call that needs
//! an access token takes an [`AccessToken`] and sends it as the `access_token` query parameter,
//! as WeChat requires. The token and the app secret never reach `Debug` output, logs or error
//! messages: reqwest errors are stripped of their URL before they are kept.
//!
//! WeChat answers errors as HTTP 200 with `{"errcode":N,"errmsg":"…"}`; [`ApiError`] keeps the
//! code and the classification switches on it, never on `errmsg` (which carries a request id).
//! The same client talks to the sandbox ([`crate::sandbox`]) over plain `http://`.

use std::fmt;
use std::sync::Once;
use std::time::Duration;

use reqwest::{Method, Url};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::domain::{OpenId, Scene, TagId, TagName, UnixTime};

/// Declares a secret string newtype whose `Debug` says only that it is redacted.
macro_rules! secret_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone)]
        pub struct $name(SecretString);

        impl $name {
            /// Wraps the secret text.
            pub fn new(value: impl Into<String>) -> Self {
                Self(SecretString::from(value.into()))
            }

            /// The secret text, for sending it where it belongs and nowhere else.
            pub fn expose(&self) -> &str {
                self.0.expose_secret()
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(concat!(stringify!($name), "(<redacted>)"))
            }
        }

        impl std::str::FromStr for $name {
            type Err = std::convert::Infallible;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Ok(Self::new(s))
            }
        }
    };
}

secret_type!(
    /// An access token for WeChat's API (`access_token`); `Debug` never shows it.
    AccessToken
);

secret_type!(
    /// An official account's AppSecret (开发者密码); `Debug` never shows it.
    AppSecret
);

/// An access token as WeChat granted it.
#[derive(Debug, Clone)]
pub struct TokenGrant {
    /// The token.
    pub token: AccessToken,
    /// How long it stays valid from now (for `stable_token`: the remaining lifetime).
    pub expires_in: Duration,
}

/// A tag as `tags/get` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct WeChatTag {
    /// The tag's id.
    pub id: TagId,
    /// The name as WeChat holds it; kept as text because staff may have made it in the console.
    pub name: String,
    /// How many followers carry the tag.
    #[serde(default)]
    pub count: u64,
}

/// One page of openids from `user/get` or `user/tag/get`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    /// The openids on this page (empty on the page after the last).
    pub openids: Vec<OpenId>,
    /// Where the next page starts; `None` when this page was empty, i.e. the list is done.
    pub next_openid: Option<OpenId>,
    /// The total number of followers (`user/get` only).
    pub total: Option<u64>,
}

/// A follower's profile as `user/info` returns it (names and avatars are no longer sent).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserInfo {
    /// The follower's openid.
    pub openid: OpenId,
    /// Whether the user follows the account now; when not, the other fields are empty.
    pub subscribed: bool,
    /// When the user last followed.
    pub subscribe_time: Option<UnixTime>,
    /// How the user followed, e.g. `ADD_SCENE_QR_CODE`.
    pub subscribe_scene: Option<String>,
    /// The integer scene of the QR code the user followed through (0 when none).
    pub qr_scene: u32,
    /// The string scene of the QR code the user followed through (empty when none).
    pub qr_scene_str: String,
    /// The tags the user carries.
    pub tag_ids: Vec<TagId>,
}

/// The scene a parametric QR code carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QrScene {
    /// An integer `scene_id` (temporary: non-zero 32-bit; permanent: 1 to 100000).
    Id(u32),
    /// A `scene_str`.
    Str(Scene),
}

/// What `qrcode/create` is asked for; each variant pair maps to one `action_name`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QrRequest {
    /// `QR_SCENE` / `QR_STR_SCENE`: expires after `expire_seconds` (WeChat's maximum is 30 days).
    Temporary {
        /// The scene.
        scene: QrScene,
        /// Lifetime in seconds, at most 2,592,000.
        expire_seconds: u32,
    },
    /// `QR_LIMIT_SCENE` / `QR_LIMIT_STR_SCENE`: never expires; at most 100,000 per account.
    Permanent {
        /// The scene.
        scene: QrScene,
    },
}

impl QrRequest {
    /// WeChat's `action_name` for this request.
    pub fn action_name(&self) -> &'static str {
        match self {
            Self::Temporary {
                scene: QrScene::Id(_),
                ..
            } => "QR_SCENE",
            Self::Temporary {
                scene: QrScene::Str(_),
                ..
            } => "QR_STR_SCENE",
            Self::Permanent {
                scene: QrScene::Id(_),
            } => "QR_LIMIT_SCENE",
            Self::Permanent {
                scene: QrScene::Str(_),
            } => "QR_LIMIT_STR_SCENE",
        }
    }

    fn body(&self) -> QrBody<'_> {
        let (scene, expire_seconds) = match self {
            Self::Temporary {
                scene,
                expire_seconds,
            } => (scene, Some(*expire_seconds)),
            Self::Permanent { scene } => (scene, None),
        };
        let scene = match scene {
            QrScene::Id(scene_id) => SceneBody::Id {
                scene_id: *scene_id,
            },
            QrScene::Str(scene) => SceneBody::Str {
                scene_str: scene.as_str(),
            },
        };
        QrBody {
            expire_seconds,
            action_name: self.action_name(),
            action_info: ActionInfo { scene },
        }
    }
}

/// A created QR code.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct QrTicket {
    /// The ticket, for `showqrcode` (URL-encode it: it holds `+`, `/`, `=`).
    pub ticket: String,
    /// The content the QR image encodes; render it with [`crate::wechat::qrcode::render_png`].
    pub url: String,
    /// Seconds until the code expires; `None` for permanent codes.
    #[serde(default)]
    pub expire_seconds: Option<u64>,
}

/// Why a call to WeChat failed.
#[derive(Debug, Error)]
pub enum ApiError {
    /// WeChat answered with a non-zero `errcode`.
    #[error("{}", describe_wechat(*code, message))]
    WeChat {
        /// The `errcode`.
        code: i64,
        /// The `errmsg`, for people (it carries a request id; never match on it).
        message: String,
    },
    /// WeChat (or something in front of it) answered with a non-2xx HTTP status.
    #[error("wechat answered http status {status}")]
    Http {
        /// The HTTP status code.
        status: u16,
    },
    /// No answer within the client's timeout.
    #[error("the call to wechat timed out; it is retried with backoff")]
    Timeout,
    /// The request could not be sent or the answer not received (DNS, connect, TLS, reset).
    #[error("could not reach wechat: {0}")]
    Transport(String),
    /// The answer was not the JSON this call expects.
    #[error("wechat's answer could not be read: {0}")]
    Decode(String),
    /// The configured API base URL is unusable.
    #[error(
        "the wechat api base url {url:?} is not usable: {reason}; set WECHAT_API_BASE to e.g. https://api.weixin.qq.com"
    )]
    BaseUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// Errcodes that mean the token must be refreshed (once) before retrying.
const TOKEN_ERRORS: [i64; 3] = [40001, 40014, 42001];

/// Errcodes that no retry can fix: the operator must change the configuration or the console.
const FATAL_CONFIG_ERRORS: [i64; 12] = [
    40013, 40125, 40164, 40243, 41002, 41004, 48001, 48004, 89501, 89503, 89506, 89507,
];

impl ApiError {
    /// WeChat's errcode, when WeChat answered with one.
    pub fn code(&self) -> Option<i64> {
        match self {
            Self::WeChat { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// True for 40001, 40014, 42001: refresh the token once, then retry.
    pub fn is_token_error(&self) -> bool {
        self.code().is_some_and(|c| TOKEN_ERRORS.contains(&c))
    }

    /// True when trying again later may succeed: busy (-1), quotas (45009, 45011), HTTP 5xx,
    /// timeouts and transport failures.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::WeChat { code, .. } => matches!(code, -1 | 45009 | 45011),
            Self::Http { status } => *status >= 500,
            Self::Timeout | Self::Transport(_) => true,
            Self::Decode(_) | Self::BaseUrl { .. } => false,
        }
    }

    /// True when only the operator can fix it (wrong appid/secret, IP whitelist, frozen
    /// secret, admin confirmation, missing API permission); never retry these in a loop.
    pub fn is_fatal_config(&self) -> bool {
        match self {
            Self::BaseUrl { .. } => true,
            _ => self
                .code()
                .is_some_and(|c| FATAL_CONFIG_ERRORS.contains(&c)),
        }
    }
}

/// The message for a WeChat errcode: for configuration errors, what to fix and where.
fn describe_wechat(code: i64, message: &str) -> String {
    let fix = match code {
        40013 => {
            "wechat refused the appid: set WECHAT_APPID to the official account's AppID from the MP console (设置与开发 → 基本配置)"
        }
        40125 => {
            "wechat refused the app secret: copy the current AppSecret from the MP console (设置与开发 → 基本配置) into WECHAT_APPSECRET; resetting it there voids the old one"
        }
        40164 => {
            "wechat refused this server's ip: add this server's egress IP to the IP whitelist (IP白名单) in the MP console"
        }
        40243 => "the app secret is frozen: unfreeze or reset it in the MP console",
        41002 => "no appid was sent: set WECHAT_APPID",
        41004 => "no app secret was sent: set WECHAT_APPSECRET",
        48001 | 48004 => {
            "this account may not call this api: it needs the permission (usually a verified service account) in the MP console"
        }
        89501 | 89503 => {
            "wechat is waiting for the account admin to confirm calls from this ip: approve the confirmation wechat sent, then retry"
        }
        89506 | 89507 => {
            "the account admin rejected calls from this ip and wechat blocks it for a while: approve the ip in the MP console"
        }
        40001 | 40014 | 42001 => {
            "the access token is invalid or expired: fetch a new one and retry once"
        }
        -1 => "wechat is busy: retry with backoff",
        45009 => {
            "the daily api quota is used up: wait for the daily reset or clear it (clear_quota)"
        }
        45011 => "the per-minute api quota is used up: back off and retry",
        _ => "wechat refused the call",
    };
    format!("{fix} (errcode {code}: {message})")
}

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
struct Ack {}

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
struct PageBody {
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
    fn into_page(self) -> Result<Page, ApiError> {
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

#[derive(Serialize)]
struct QrBody<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    expire_seconds: Option<u32>,
    action_name: &'static str,
    action_info: ActionInfo<'a>,
}

#[derive(Serialize)]
struct ActionInfo<'a> {
    scene: SceneBody<'a>,
}

#[derive(Serialize)]
#[serde(untagged)]
enum SceneBody<'a> {
    Id { scene_id: u32 },
    Str { scene_str: &'a str },
}

#[derive(Serialize)]
struct CustomText<'a> {
    touser: &'a OpenId,
    msgtype: &'static str,
    text: TextContent<'a>,
}

#[derive(Serialize)]
struct TextContent<'a> {
    content: &'a str,
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

    /// Sends a customer-service text message (`message/custom/send`); WeChat only delivers it
    /// within 48 hours of the follower's last interaction (45015 otherwise).
    pub async fn send_text(
        &self,
        token: &AccessToken,
        to: &OpenId,
        text: &str,
    ) -> Result<(), ApiError> {
        let body = CustomText {
            touser: to,
            msgtype: "text",
            text: TextContent { content: text },
        };
        self.call::<_, Ack>(token, Method::POST, "message/custom/send", &[], Some(&body))
            .await
            .map(drop)
    }

    fn url(&self, path: &str) -> String {
        format!("{}/cgi-bin/{path}", self.base)
    }

    /// Calls `/cgi-bin/{path}` with the token (and `query`), sending `body` as JSON if given.
    async fn call<B: Serialize, T: DeserializeOwned>(
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

    fn wechat(code: i64) -> ApiError {
        ApiError::WeChat {
            code,
            message: format!("some text rid: {code}"),
        }
    }

    #[test]
    fn errors_are_classified_by_errcode() {
        for code in [40001, 40014, 42001] {
            assert!(wechat(code).is_token_error(), "{code}");
            assert!(!wechat(code).is_retryable() && !wechat(code).is_fatal_config());
        }
        for code in [-1, 45009, 45011] {
            assert!(wechat(code).is_retryable(), "{code}");
        }
        for code in [40125, 40164, 40013, 40243, 89503] {
            assert!(wechat(code).is_fatal_config(), "{code}");
            assert!(!wechat(code).is_retryable());
        }
        assert!(ApiError::Http { status: 502 }.is_retryable());
        assert!(!ApiError::Http { status: 404 }.is_retryable());
        assert!(ApiError::Timeout.is_retryable());
        assert!(!ApiError::Decode("x".into()).is_retryable());
        assert_eq!(wechat(45157).code(), Some(45157));
        assert_eq!(ApiError::Timeout.code(), None);
    }

    #[test]
    fn config_errors_say_what_to_fix() {
        let ip = ApiError::WeChat {
            code: 40164,
            message: "invalid ip 1.2.3.4 ipv6 ::ffff:1.2.3.4, not in whitelist".into(),
        };
        let text = ip.to_string();
        assert!(text.contains("IP whitelist"), "{text}");
        assert!(text.contains("1.2.3.4"), "{text}");
        assert!(wechat(40125).to_string().contains("WECHAT_APPSECRET"));
        assert!(wechat(89503).to_string().contains("approve"));
    }

    #[test]
    fn secrets_are_redacted_in_debug() {
        let token = AccessToken::new("tok-123");
        let secret = AppSecret::new("sec-456");
        let grant = TokenGrant {
            token: token.clone(),
            expires_in: Duration::from_secs(1),
        };
        let shown = format!("{token:?} {secret:?} {grant:?}");
        assert!(
            !shown.contains("tok-123") && !shown.contains("sec-456"),
            "{shown}"
        );
        assert_eq!(token.expose(), "tok-123");
    }

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
    fn qr_requests_nest_the_scene_under_action_info() {
        let scene = Scene::parse("expo-2026").unwrap();
        let temporary = QrRequest::Temporary {
            scene: QrScene::Str(scene),
            expire_seconds: 604_800,
        };
        assert_eq!(
            serde_json::to_value(temporary.body()).unwrap(),
            serde_json::json!({"expire_seconds":604800,"action_name":"QR_STR_SCENE",
                "action_info":{"scene":{"scene_str":"expo-2026"}}})
        );
        let permanent = QrRequest::Permanent {
            scene: QrScene::Id(123),
        };
        assert_eq!(
            serde_json::to_value(permanent.body()).unwrap(),
            serde_json::json!({"action_name":"QR_LIMIT_SCENE",
                "action_info":{"scene":{"scene_id":123}}})
        );
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
