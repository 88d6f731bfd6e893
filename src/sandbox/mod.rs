//! The sandbox: a local stand-in for WeChat's HTTP API, with its limits, error codes and
//! faults, for users, tests and benchmarks that run with no network.
//!
//! It keeps one official account in memory (behind a mutex never held across an `.await`)
//! and serves WeChat's paths, so pointing `WECHAT_API_BASE` at it is all a client needs.
//! [`run`] serves it on a listener; [`SandboxHandle`] does the same and also lets a test read
//! and steer the state without HTTP.
//!
//! # WeChat's endpoints
//!
//! | method | path | what the sandbox does |
//! |---|---|---|
//! | GET | `/cgi-bin/token` | classic token: every call issues a **new** token and voids the previous one (after `classic_overlap_secs`, default 0 — WeChat's overlap is about 300) |
//! | POST | `/cgi-bin/stable_token` | the same token until its last 24th of life (5 min of 2 h), then a new one; `force_refresh` voids it at once, at most once per 30 s |
//! | POST | `/cgi-bin/tags/create` | ids from 100 up; 45157 empty or duplicate name, 45158 over 30, 45056 over 100 tags |
//! | GET | `/cgi-bin/tags/get` | every tag with its `count`, 星标组 (2) included |
//! | POST | `/cgi-bin/tags/update`, `/cgi-bin/tags/delete` | 45058 for ids 0/1/2, 45159 for an unknown id |
//! | POST | `/cgi-bin/tags/members/batchtagging`, `…/batchuntagging` | all or nothing; 40032 for 0 or over 50 openids, 40003 bad openid, 45159 unknown tag, 45059 a user past 20 tags |
//! | POST | `/cgi-bin/tags/getidlist` | a follower's tag ids |
//! | POST | `/cgi-bin/user/tag/get` | a tag's followers, `page_size` per page, paged by `next_openid` |
//! | GET | `/cgi-bin/user/get` | the followers, paged the same way, with `total` |
//! | GET | `/cgi-bin/user/info` | `subscribe: 1`, the tag ids, `ADD_SCENE_OTHERS` |
//! | POST | `/cgi-bin/qrcode/create` | the four `action_name`s; the `url` names kind and scene; a missing `action_info.scene` gives scene 0, as at WeChat; a permanent scene asked again gets its old ticket |
//! | POST | `/cgi-bin/message/custom/send` | inside the window a user's action opened, with its count (see `messages.rs`): 43019 blacklisted, 43004 unfollowed, 45015 outside every window, 45047 count used; recorded in the state, delivered nowhere |
//! | POST | `/cgi-bin/message/template/send` | verified service accounts only (48001), 40037 empty `template_id`, 47003 a `data` value not `{"value": string}`; answers a `msgid`; recorded as `msgtype` `template` |
//! | POST | `/cgi-bin/tags/members/getblacklist` | the blacklist after `begin_openid`, `page_size` per page, with `total` |
//! | POST | `/cgi-bin/menu/create`, GET `/cgi-bin/menu/get`, `/cgi-bin/menu/delete` | the default menu, buttons checked as WeChat does (40016-40027, 65308, 65317); `get` reads rules back as `group_id` (46003 without a menu); `delete` removes every menu |
//! | POST | `/cgi-bin/menu/addconditional`, `…/delconditional` | 65303 without a default menu, 65304 empty rule, 65305 past 20 menus, 65316 past 3 link domains across them, 45159 unknown tag; 65301 unknown menuid |
//! | POST | `/cgi-bin/menu/trymatch` | the tag applied to the follower last (in `batchtagging` order) picks the newest conditional menu for it, else the default; 65302 for a user who does not follow (see `menus.rs`) |
//! | GET | `/connect/oauth2/authorize` | web authorisation's browser side: WeChat's parameter order checked, the user from a `sandbox_openid` cookie (else a page to pick one), then `redirect_uri?code=…&state=…` (see `oauth.rs`) |
//! | GET | `/sns/oauth2/access_token` | a code for `openid` (and `unionid` when the browser had a `sandbox_unionid` cookie); codes are single use and expire after 5 minutes (40029 unknown or expired, 40163 used, 41008 missing), `grant_type=authorization_code` (40002), appid and secret checked; never faulted |
//!
//! Token errors: 41001 no `access_token`, 40001 unknown or voided token, 42001 expired.
//! Token requests: 40002 `grant_type` not `client_credential`, 41002/41004 appid/secret
//! missing, 40013 wrong appid, 40125 wrong secret. A body that is not the endpoint's JSON:
//! 47001. Errors come as HTTP 200 with `errmsg` ending in a request id (`rid: …`), as at
//! WeChat.
//!
//! **Who follows.** Any well-formed openid (1–64 of `[A-Za-z0-9_-]`) counts as a follower,
//! except one starting with `invalid_openid_prefix` (default `invalid_`): that one, like a
//! malformed openid, gets 40003. `user/get` lists the followers the sandbox knows: those ever
//! tagged and those registered through `POST /sandbox/followers`. A user who unfollowed
//! (`POST /sandbox/unfollow`) loses every tag, as on WeChat; tagging them, untagging them or
//! reading their tags answers 40003, and `user/info` says `subscribe: 0` with nothing but the
//! openid, until they follow again (`POST /sandbox/followers`).
//!
//! # Sandbox-only endpoints (never faulted)
//!
//! | method | path | body → answer |
//! |---|---|---|
//! | GET | `/sandbox/state` | → [`SandboxState`]: tags with members, followers with tag ids, calls by endpoint and outcome, tokens issued, QR codes, messages, faults, menus |
//! | POST | `/sandbox/reset` | → 204; a fresh account (same config and faults) |
//! | POST | `/sandbox/tags` | `{"name", "members": [openid…]}` → 201 `{"id", "name"}`: a tag made by staff in the MP console |
//! | POST | `/sandbox/followers` | `{"openids": […]}` → `{"registered": n}` (also follows again after an unfollow) |
//! | POST | `/sandbox/unfollow` | `{"openids": […]}` → `{"unfollowed": n}`: they unfollow |
//! | POST | `/sandbox/faults` | a [`Faults`] object (missing fields take defaults) → the faults now in force |
//! | POST | `/sandbox/interactions` | `{"openid", "kind": "message" \| "follow" \| "scan" \| "click", "at"?}` → 204: the user did that (at unix `at`, default now), opening its customer-service window |
//! | POST | `/sandbox/blacklist` | `{"openids": […]}` → `{"blacklisted": n}`: they blacklist the account |
//! | POST | `/sandbox/send_faults` | `{"errcodes": [-1, 43019, …]}` → 204: the next message sends answer these, in order |
//! | POST | `/sandbox/clock` | `{"advance_secs": n}` → 204; moves the sandbox clock on, to expire tokens (and web authorisation codes, and close customer-service windows) without waiting |
//! | GET | `/sandbox/oauth/pick?openid=&back=` | sets the `sandbox_openid` cookie and goes back to `back` (only the sandbox's own `/connect/oauth2/authorize?…`) |
//!
//! Refusals of `/sandbox/tags`, `/sandbox/followers` and `/sandbox/unfollow` are HTTP 400 with `errcode`/`errmsg`.
//!
//! # Flags of `wxtag sandbox`, and env vars
//!
//! [`SandboxConfig`] derives `clap::Args`: flatten it into a command to get these.
//!
//! | flag | env | effect |
//! |---|---|---|
//! | `--busy-rate F` | `WXTAG_SANDBOX_BUSY_RATE` | fraction of `/cgi-bin/` calls answered `errcode -1` |
//! | `--quota-rate F` | `WXTAG_SANDBOX_QUOTA_RATE` | fraction answered `errcode 45009` |
//! | `--http-500-rate F` | `WXTAG_SANDBOX_HTTP_500_RATE` | fraction answered HTTP 500 |
//! | `--timeout-rate F` | `WXTAG_SANDBOX_TIMEOUT_RATE` | fraction that hang `--hang-ms` before answering -1 |
//! | `--hang-ms N` | `WXTAG_SANDBOX_HANG_MS` | how long a hang lasts (default 30000) |
//! | `--latency-ms N` | `WXTAG_SANDBOX_LATENCY_MS` | added to every `/cgi-bin/` call |
//! | `--seed N` | `WXTAG_SANDBOX_SEED` | seeds faults and tokens, for reproducible runs |
//! | `--token-ttl-secs N` | `WXTAG_SANDBOX_TOKEN_TTL_SECS` | token lifetime (default 7200; 0 makes every token expire at once → 42001) |
//! | `--classic-overlap-secs N` | `WXTAG_SANDBOX_CLASSIC_OVERLAP_SECS` | how long a replaced classic token still works (default 0) |
//! | `--page-size N` | `WXTAG_SANDBOX_PAGE_SIZE` | openids per page of `user/get` and `user/tag/get` (default 10000) |
//! | `--invalid-openid-prefix P` | `WXTAG_SANDBOX_INVALID_OPENID_PREFIX` | openids that are not followers (default `invalid_`) |
//! | `--tag-name-unit chars\|bytes` | `WXTAG_SANDBOX_TAG_NAME_UNIT` | how the 30-long tag-name limit counts (default `bytes`, as WeChat counts: 45158 beyond) |
//! | `--account-kind K` | `WECHAT_ACCOUNT_KIND` | `service` (default) or `subscription`: templates need a verified service account |
//! | `--verified B` | `WECHAT_VERIFIED` | `true` (default) or `false` |
//! | `--appid A` | `WECHAT_APPID` | the appid accepted (default `wxsandbox0000000`) |
//! | `--secret S` | `WECHAT_APPSECRET` | the secret accepted (default `sandbox-secret`) |
//!
//! Rates are fractions from 0 to 1; faults are rolled in the order timeout, HTTP 500, busy,
//! quota (see [`Faults`]). The appid and secret read the same variables as `wxtag serve`, so a
//! bot pointed at the sandbox with `WECHAT_API_BASE` logs in with its own `.env`.
//!
//! A server stops within a second of being told to, even with hung calls in flight.

mod errcode;
mod faults;
mod menus;
mod messages;
mod oauth;
mod qr;
mod routes;
mod state;
mod tokens;
mod view;

#[cfg(test)]
mod tests;

use std::fmt;
use std::net::TcpListener;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::{App, HttpServer, web};
use serde::{Deserialize, Serialize};

pub use errcode::WxError;
pub use faults::{DEFAULT_HANG_MS, Faults};
pub use menus::{ConditionalView, MenuCode, MenusView};
pub use messages::Interaction;
pub use oauth::{CODE_TTL, OPENID_COOKIE, UNIONID_COOKIE};
pub use view::{FollowerView, MessageView, QrView, SandboxState, TagView, TokensIssued};

use crate::domain::{OpenId, TagId, UnixTime};
use crate::wechat::api::AppSecret;
use state::Account;

/// The appid the sandbox accepts unless told otherwise.
pub const DEFAULT_APPID: &str = "wxsandbox0000000";

/// The app secret the sandbox accepts unless told otherwise.
pub const DEFAULT_SECRET: &str = "sandbox-secret";

/// WeChat's token lifetime.
pub const DEFAULT_TOKEN_TTL_SECS: u64 = 7200;

/// WeChat's largest page of openids.
pub const DEFAULT_PAGE_SIZE: usize = 10_000;

/// Openids starting with this are not followers (40003) unless told otherwise.
pub const DEFAULT_INVALID_OPENID_PREFIX: &str = "invalid_";

/// How the 30-long limit on tag names is counted (WeChat's own docs disagree).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TagNameUnit {
    /// 30 characters, as WeChat's parameter description says (not what WeChat does).
    Chars,
    /// 30 UTF-8 bytes (10 CJK characters), as the 45158 message says and WeChat counts.
    #[default]
    Bytes,
}

/// What kind of account the sandbox is (templates need a verified service account).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum AccountKind {
    /// 服务号.
    #[default]
    Service,
    /// 公众号 (订阅号).
    Subscription,
}

/// The sandbox account's settings; every field is a flag of `wxtag sandbox` and an env var.
#[derive(Debug, Clone, clap::Args)]
pub struct SandboxConfig {
    /// The AppID the sandbox accepts.
    #[arg(long, env = "WECHAT_APPID", default_value = DEFAULT_APPID)]
    pub appid: String,
    /// The AppSecret the sandbox accepts.
    #[arg(long, env = "WECHAT_APPSECRET", default_value = DEFAULT_SECRET, hide_env_values = true)]
    pub secret: AppSecret,
    /// How long an access token lives, in seconds (WeChat: 7200).
    #[arg(long, env = "WXTAG_SANDBOX_TOKEN_TTL_SECS", default_value_t = DEFAULT_TOKEN_TTL_SECS)]
    pub token_ttl_secs: u64,
    /// How long a classic token keeps working after a newer one was fetched (WeChat: ~300).
    #[arg(long, env = "WXTAG_SANDBOX_CLASSIC_OVERLAP_SECS", default_value_t = 0)]
    pub classic_overlap_secs: u64,
    /// How many openids one page of `user/get` or `user/tag/get` holds (WeChat: 10000).
    #[arg(long, env = "WXTAG_SANDBOX_PAGE_SIZE", default_value_t = DEFAULT_PAGE_SIZE)]
    pub page_size: usize,
    /// Openids starting with this are not followers and get 40003.
    #[arg(long, env = "WXTAG_SANDBOX_INVALID_OPENID_PREFIX", default_value = DEFAULT_INVALID_OPENID_PREFIX)]
    pub invalid_openid_prefix: String,
    /// Whether the 30-long tag-name limit counts characters or UTF-8 bytes.
    #[arg(long, env = "WXTAG_SANDBOX_TAG_NAME_UNIT", value_enum, default_value_t = TagNameUnit::Bytes)]
    pub tag_name_unit: TagNameUnit,
    /// The account's kind: `service` (服务号) or `subscription` (公众号).
    #[arg(long, env = "WECHAT_ACCOUNT_KIND", value_enum, default_value_t = AccountKind::Service)]
    pub account_kind: AccountKind,
    /// Whether the account is verified (认证).
    #[arg(long, env = "WECHAT_VERIFIED", default_value_t = true, action = clap::ArgAction::Set)]
    pub verified: bool,
    /// The faults to inject.
    #[command(flatten)]
    pub faults: Faults,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        Self {
            appid: DEFAULT_APPID.to_owned(),
            secret: AppSecret::new(DEFAULT_SECRET),
            token_ttl_secs: DEFAULT_TOKEN_TTL_SECS,
            classic_overlap_secs: 0,
            page_size: DEFAULT_PAGE_SIZE,
            invalid_openid_prefix: DEFAULT_INVALID_OPENID_PREFIX.to_owned(),
            tag_name_unit: TagNameUnit::Bytes,
            account_kind: AccountKind::Service,
            verified: true,
            faults: Faults::default(),
        }
    }
}

/// A sandbox account, shared by its server and whoever holds a clone of the handle.
#[derive(Clone)]
pub struct SandboxHandle {
    account: Arc<Mutex<Account>>,
}

impl fmt::Debug for SandboxHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The account holds live tokens: keep them out of Debug output.
        f.debug_struct("SandboxHandle").finish_non_exhaustive()
    }
}

/// Locks the account; a panic elsewhere while it was held does not make it unusable.
fn lock(account: &Mutex<Account>) -> MutexGuard<'_, Account> {
    account.lock().unwrap_or_else(PoisonError::into_inner)
}

impl SandboxHandle {
    /// A fresh account with these settings, not yet served.
    pub fn new(config: SandboxConfig) -> Self {
        Self {
            account: Arc::new(Mutex::new(Account::new(config))),
        }
    }

    /// Serves the account on `listener` (bound by the caller; port 0 works). The returned
    /// server does nothing until awaited or spawned.
    pub fn serve(&self, listener: TcpListener) -> std::io::Result<Server> {
        let account = web::Data::from(Arc::clone(&self.account));
        let server = HttpServer::new(move || {
            App::new()
                .app_data(account.clone())
                .configure(routes::configure)
                .configure(oauth::configure)
        })
        .listen(listener)?
        .shutdown_timeout(1)
        .run();
        Ok(server)
    }

    /// Everything the account holds now (what `GET /sandbox/state` answers).
    pub fn state(&self) -> SandboxState {
        lock(&self.account).view()
    }

    /// Starts the account over, keeping its settings and faults.
    pub fn reset(&self) {
        lock(&self.account).reset();
    }

    /// Replaces the faults in force; a seed in them reseeds the random numbers.
    pub fn set_faults(&self, faults: Faults) {
        lock(&self.account).set_faults(faults);
    }

    /// Moves the sandbox clock forward, e.g. past a token's expiry.
    pub fn advance_clock(&self, by: Duration) {
        lock(&self.account).advance_clock(by);
    }

    /// Registers followers, all or none (40003 for an openid with the invalid prefix);
    /// returns how many were new.
    pub fn add_followers(&self, openids: &[OpenId]) -> Result<usize, WxError> {
        lock(&self.account).add_followers(openids)
    }

    /// Users unfollow, all or none: they lose their tags, and tagging them answers 40003 until
    /// they follow again ([`Self::add_followers`]); returns how many followed.
    pub fn unfollow(&self, openids: &[OpenId]) -> Result<usize, WxError> {
        lock(&self.account).unfollow(openids)
    }

    /// The user did something at `at` (now when `None`), opening a customer-service window
    /// (what `POST /sandbox/interactions` does).
    pub fn interact(
        &self,
        openid: &OpenId,
        kind: Interaction,
        at: Option<UnixTime>,
    ) -> Result<(), WxError> {
        lock(&self.account).interact(openid.as_str(), kind, at)
    }

    /// Users blacklist the account (what `POST /sandbox/blacklist` does); returns how many
    /// were new on it.
    pub fn blacklist(&self, openids: &[OpenId]) -> Result<usize, WxError> {
        lock(&self.account).blacklist(openids)
    }

    /// The next message sends answer these errcodes, in order (what
    /// `POST /sandbox/send_faults` does): -1, 45009, 40003, 43004, 43019, 45015, 45047,
    /// 47003 or 48002.
    pub fn script_send_errors(&self, codes: &[i64]) -> Result<(), WxError> {
        lock(&self.account).script_send_errors(codes)
    }

    /// Creates a tag with members as staff would in the MP console (no 50-per-call limit,
    /// every other rule applies).
    pub fn create_console_tag(&self, name: &str, members: &[OpenId]) -> Result<TagId, WxError> {
        lock(&self.account).console_tag(name, members)
    }
}

/// Serves a fresh sandbox account on `listener`; the caller spawns (or awaits) the server.
pub fn run(listener: TcpListener, config: SandboxConfig) -> std::io::Result<Server> {
    SandboxHandle::new(config).serve(listener)
}
