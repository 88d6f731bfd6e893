//! The sandbox's web authorisation (网页授权, snsapi_base): the browser's side
//! (`GET /connect/oauth2/authorize`) and the server's (`GET /sns/oauth2/access_token`).
//!
//! **Who the browser is.** WeChat knows its user; the sandbox reads a `sandbox_openid`
//! cookie on its own origin (and, when set, a `sandbox_unionid` one, which the code's
//! exchange then answers as `unionid`). Without the cookie, `authorize` answers a small page
//! (no JavaScript) listing the sandbox's followers and a box to type any openid; picking one
//! (`GET /sandbox/oauth/pick?openid=…&back=…`) sets the cookie and goes back to the same
//! authorisation. A test sends the cookie itself.
//!
//! **What it checks, as WeChat does.** The query's parameters in exactly WeChat's order
//! (`appid`, `redirect_uri`, `response_type`, `scope`, `state`), else a page saying
//! 该链接无法访问; the appid (10012 on another), `response_type=code`, a `scope` of
//! `snsapi_base` or `snsapi_userinfo` (10005 otherwise), an absolute http(s) `redirect_uri`
//! (10011), a `state` of at most 128 `[A-Za-z0-9]` (10013 otherwise). Then it redirects to
//! `redirect_uri?code=…&state=…`.
//!
//! **Codes** are single use and expire after [`CODE_TTL`] unused: the exchange answers 40029
//! for an unknown or expired code, 40163 for one used already, and checks `grant_type`
//! (`authorization_code`, else 40002), the appid and the secret like the token endpoints.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use rand::RngExt;
use serde::Deserialize;
use serde_json::{Value, json};

use super::errcode::WxError;
use super::lock;
use super::state::Account;
use crate::domain::OpenId;

/// How long an unused code can be exchanged: WeChat's 5 minutes.
pub const CODE_TTL: Duration = Duration::from_secs(300);

/// The most codes kept at once; past it the oldest go first (a browser loop cannot grow
/// the sandbox without bound).
const MAX_CODES: usize = 100_000;

/// The cookie naming the sandbox browser's user.
pub const OPENID_COOKIE: &str = "sandbox_openid";

/// The cookie naming the user's unionid, when the test wants one given.
pub const UNIONID_COOKIE: &str = "sandbox_unionid";

/// WeChat's authorisation parameters, in the order WeChat insists on.
const ORDER: [&str; 5] = ["appid", "redirect_uri", "response_type", "scope", "state"];

/// One code handed to a browser.
#[derive(Debug, Clone)]
struct Code {
    openid: OpenId,
    unionid: Option<String>,
    issued: Instant,
    used: bool,
}

/// What an exchanged code says: WeChat's answer to `sns/oauth2/access_token`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct WebGrant {
    pub(super) openid: OpenId,
    pub(super) unionid: Option<String>,
    pub(super) scope: String,
}

/// The codes handed out and not yet forgotten.
#[derive(Debug, Default)]
pub(super) struct WebCodes {
    codes: HashMap<String, (Code, String)>,
}

impl WebCodes {
    /// A new code for `openid` (with `scope`), issued at `now`.
    pub(super) fn issue(
        &mut self,
        openid: OpenId,
        unionid: Option<String>,
        scope: &str,
        now: Instant,
        rng: &mut impl rand::Rng,
    ) -> String {
        self.codes
            .retain(|_, (code, _)| now.saturating_duration_since(code.issued) < CODE_TTL);
        if self.codes.len() >= MAX_CODES
            && let Some(oldest) = self
                .codes
                .iter()
                .min_by_key(|(_, (code, _))| code.issued)
                .map(|(k, _)| k.clone())
        {
            self.codes.remove(&oldest);
        }
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        let code: String = (0..32)
            .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
            .collect();
        let entry = Code {
            openid,
            unionid,
            issued: now,
            used: false,
        };
        self.codes.insert(code.clone(), (entry, scope.to_owned()));
        code
    }

    /// Uses `code` at `now`: 40029 unknown or expired, 40163 used before.
    pub(super) fn redeem(&mut self, code: &str, now: Instant) -> Result<WebGrant, WxError> {
        let (entry, scope) = self.codes.get_mut(code).ok_or(WxError::InvalidCode)?;
        if now.saturating_duration_since(entry.issued) >= CODE_TTL {
            return Err(WxError::InvalidCode);
        }
        if entry.used {
            return Err(WxError::CodeUsed);
        }
        entry.used = true;
        Ok(WebGrant {
            openid: entry.openid.clone(),
            unionid: entry.unionid.clone(),
            scope: scope.clone(),
        })
    }
}

/// Registers the web authorisation's routes.
pub(super) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/connect/oauth2/authorize", web::get().to(authorize))
        .route("/sandbox/oauth/pick", web::get().to(pick))
        .route("/sns/oauth2/access_token", web::get().to(access_token));
}

/// The shared account, as handlers receive it.
type Shared = web::Data<std::sync::Mutex<Account>>;

/// A plain page, as WeChat's in-app browser shows its refusals.
fn page(status: actix_web::http::StatusCode, body: &str) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(format!(
            "<!doctype html><meta charset=utf-8><meta name=viewport \
             content=\"width=device-width\"><title>sandbox 网页授权</title>{body}"
        ))
}

/// A refusal page naming WeChat's errcode.
fn refusal(code: u32, what: &str) -> HttpResponse {
    page(
        actix_web::http::StatusCode::BAD_REQUEST,
        &format!("<h1>{code}</h1><p>{what}</p>"),
    )
}

/// `GET /connect/oauth2/authorize`.
async fn authorize(shared: Shared, req: HttpRequest) -> HttpResponse {
    let pairs = match web::Query::<Vec<(String, String)>>::from_query(req.query_string()) {
        Ok(pairs) => pairs.into_inner(),
        Err(_) => return refusal(10012, "该链接无法访问 (the query cannot be read)"),
    };
    let names: Vec<&str> = pairs.iter().map(|(k, _)| k.as_str()).collect();
    if names != ORDER {
        return refusal(
            10012,
            "该链接无法访问: the parameters must be appid, redirect_uri, response_type, scope, \
             state, in this order",
        );
    }
    let value = |i: usize| pairs[i].1.as_str();
    let (appid, redirect_uri, response_type, scope, state) =
        (value(0), value(1), value(2), value(3), value(4));
    let expected_appid = lock(&shared).appid().to_owned();
    if appid != expected_appid {
        return refusal(10012, "appid 参数错误 (not this account's appid)");
    }
    if response_type != "code" {
        return refusal(10012, "response_type must be code");
    }
    if !matches!(scope, "snsapi_base" | "snsapi_userinfo") {
        return refusal(10005, "scope 参数错误或没有 scope 权限");
    }
    if !(redirect_uri.starts_with("https://") || redirect_uri.starts_with("http://")) {
        return refusal(10011, "redirect_uri 参数错误");
    }
    if state.is_empty() || state.len() > 128 || !state.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return refusal(10013, "state 参数错误: 1-128 of [A-Za-z0-9]");
    }
    let cookie = |name: &str| req.cookie(name).map(|c| c.value().to_owned());
    let Some(openid) = cookie(OPENID_COOKIE).and_then(|raw| OpenId::parse(&raw).ok()) else {
        return picker(&shared, &format!("{}?{}", req.path(), req.query_string()));
    };
    let code = lock(&shared).issue_web_code(openid, cookie(UNIONID_COOKIE), scope);
    let glue = if redirect_uri.contains('?') { '&' } else { '?' };
    HttpResponse::Found()
        .insert_header((
            header::LOCATION,
            format!("{redirect_uri}{glue}code={code}&state={state}"),
        ))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish()
}

/// The page that asks who the browser is: the followers, or an openid typed in.
fn picker(shared: &Shared, back: &str) -> HttpResponse {
    let followers = lock(shared).some_followers(50);
    // In a link's query it is percent-encoded; in the form's field the browser encodes it.
    let Ok(field) = askama::filters::escape(back, askama::filters::Html);
    let back = utf8_percent_encode(back, NON_ALPHANUMERIC).to_string();
    let mut body = String::from(
        "<h1>sandbox: who is this browser?</h1><p>WeChat would know its user. Pick a \
         follower, or type an openid.</p><ul>",
    );
    for openid in followers {
        // Openids are [A-Za-z0-9_-]: nothing to escape.
        let _ = write!(
            body,
            "<li><a href=\"/sandbox/oauth/pick?openid={openid}&amp;back={back}\">{openid}</a></li>"
        );
    }
    let _ = write!(
        body,
        "</ul><form method=get action=\"/sandbox/oauth/pick\"><input type=hidden name=back \
         value=\"{field}\"><input name=openid required pattern=\"[A-Za-z0-9_-]{{1,64}}\"> \
         <button>use this openid</button></form>"
    );
    page(actix_web::http::StatusCode::OK, &body)
}

#[derive(Deserialize)]
struct Pick {
    openid: String,
    back: String,
}

/// `GET /sandbox/oauth/pick`: remembers the browser's user and goes back to the
/// authorisation (only ever to the sandbox's own `authorize`).
async fn pick(query: web::Query<Pick>) -> HttpResponse {
    let Ok(openid) = OpenId::parse(&query.openid) else {
        return refusal(40003, "not an openid: 1-64 of A-Z a-z 0-9 _ -");
    };
    if !query.back.starts_with("/connect/oauth2/authorize?") {
        return refusal(
            10011,
            "back must be this sandbox's /connect/oauth2/authorize",
        );
    }
    HttpResponse::Found()
        .insert_header((header::LOCATION, query.back.clone()))
        .insert_header((
            header::SET_COOKIE,
            format!("{OPENID_COOKIE}={openid}; Path=/; HttpOnly; SameSite=Lax"),
        ))
        .finish()
}

#[derive(Deserialize)]
struct ExchangeQuery {
    appid: Option<String>,
    secret: Option<String>,
    code: Option<String>,
    grant_type: Option<String>,
}

/// `GET /sns/oauth2/access_token`.
async fn access_token(shared: Shared, query: web::Query<ExchangeQuery>) -> HttpResponse {
    const PATH: &str = "/sns/oauth2/access_token";
    let mut account = lock(&shared);
    let rid = account.next_request_id();
    let result = account.exchange_web_code(
        query.grant_type.as_deref(),
        query.appid.as_deref(),
        query.secret.as_deref(),
        query.code.as_deref(),
    );
    let outcome = result.as_ref().map_or_else(|e| e.code(), |_| 0);
    account.count(PATH, outcome.to_string());
    drop(account);
    let body: Value = match result {
        Ok(grant) => {
            let mut body = json!({
                "access_token": format!("sandbox-web-{rid:08x}"),
                "expires_in": 7200,
                "refresh_token": format!("sandbox-refresh-{rid:08x}"),
                "openid": grant.openid,
                "scope": grant.scope,
            });
            if let Some(unionid) = grant.unionid {
                body["unionid"] = json!(unionid);
            }
            body
        }
        Err(e) => json!({
            "errcode": e.code(),
            "errmsg": format!("{} rid: sandbox-{rid:08x}", e.errmsg()),
        }),
    };
    HttpResponse::Ok().json(body)
}
