//! Logging in and out of the dashboard.
//!
//! A login with a known credential's token opens a session in Redis (named by the SHA-256 of
//! a 128-bit random id, which is all the cookie holds) for [`SESSION_HOURS`]; logout ends it
//! server-side, so a copied cookie stops working too. The cookie is HttpOnly,
//! `SameSite=Strict`, and `Secure` unless the server is bound to loopback and the client
//! came over plain HTTP. Login attempts are limited per client address
//! ([`MAX_LOGINS_PER_MINUTE`], shared by every process through Redis); each refusal is
//! logged with the address.
//!
//! The cookie is a random id looked up in Redis rather than a signed value: the lookup is
//! needed anyway for logout to revoke it, and a random id needs no signing key to manage.

use actix_web::cookie::{Cookie, SameSite, time::Duration};
use actix_web::{HttpRequest, HttpResponse, http::StatusCode, web};
use askama::Template;
use serde::Deserialize;

use super::{Lang, Nav, PageError, html, same_origin, see_other};
use crate::admin::Access;
use crate::admin::audit;
use crate::admin::auth::{COOKIE, LOGIN_PATH};
use crate::domain::Clock;
use crate::store::Store;

/// How long a login lasts.
pub const SESSION_HOURS: i64 = 12;

/// Login attempts one client address may make per minute.
pub const MAX_LOGINS_PER_MINUTE: u64 = 10;

/// The login page.
#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage<'a> {
    nav: Nav,
    next: &'a str,
    error: bool,
    throttled: bool,
}

/// `?next=`: the page to return to after logging in.
#[derive(Debug, Deserialize)]
pub(super) struct NextQuery {
    next: Option<String>,
}

/// The posted login form.
#[derive(Debug, Deserialize)]
pub(super) struct LoginForm {
    token: String,
    #[serde(default)]
    next: String,
}

/// `next` when it is a path on this site, else `/`: a login never sends the browser away.
fn local_path(next: &str) -> &str {
    let local = next.starts_with('/')
        && !next.starts_with("//")
        && next.is_ascii()
        && !next.contains(|c: char| c == '\\' || c.is_ascii_control());
    if local { next } else { "/" }
}

/// `GET /login`: the form; a browser already logged in goes on to `next`.
pub(super) async fn form(
    lang: Lang,
    req: HttpRequest,
    access: web::Data<Access>,
    store: web::Data<Store>,
    query: web::Query<NextQuery>,
) -> Result<HttpResponse, PageError> {
    let next = local_path(query.next.as_deref().unwrap_or("/"));
    if access.session(&store, &req).await?.is_some() {
        return Ok(see_other(next, None));
    }
    let page = LoginPage {
        nav: lang.nav(""),
        next,
        error: false,
        throttled: false,
    };
    html(StatusCode::OK, &page)
}

/// `POST /login`: with a known credential's token, opens a session, sets its cookie and goes
/// on to `next`; else the form again with 401, or 429 past the per-address limit.
pub(super) async fn login(
    lang: Lang,
    req: HttpRequest,
    access: web::Data<Access>,
    store: web::Data<Store>,
    clock: web::Data<Clock>,
    form: web::Form<LoginForm>,
) -> Result<HttpResponse, PageError> {
    same_origin(&req)?;
    let next = local_path(&form.next);
    let client = access.client(&req);
    let refused = |status: StatusCode, throttled: bool| {
        let page = LoginPage {
            nav: lang.nav(""),
            next,
            error: !throttled,
            throttled,
        };
        html(status, &page)
    };
    let attempts = store.count_login_attempt(&client.address()).await?;
    if attempts > MAX_LOGINS_PER_MINUTE {
        tracing::warn!(
            client = %client.address(),
            attempts,
            "dashboard login refused: too many attempts from this address this minute"
        );
        return refused(StatusCode::TOO_MANY_REQUESTS, true);
    }
    let Some((caller, token_digest)) = access.by_token(&store, form.token.trim()).await? else {
        tracing::warn!(client = %client.address(), "dashboard login refused: unknown token");
        return refused(StatusCode::UNAUTHORIZED, false);
    };
    let ttl = Duration::hours(SESSION_HOURS);
    let id = store
        .start_session(&token_digest, ttl.whole_seconds().unsigned_abs())
        .await?;
    audit::record(&store, clock.now(), &caller.name, "login", "").await;
    let cookie = Cookie::build(COOKIE, id)
        .path("/")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(access.secure_cookie(&client))
        .max_age(ttl)
        .finish();
    Ok(see_other(next, Some(&cookie)))
}

/// `POST /logout`: ends the session server-side, removes the cookie and shows the login form.
pub(super) async fn logout(
    req: HttpRequest,
    access: web::Data<Access>,
    store: web::Data<Store>,
    clock: web::Data<Clock>,
) -> Result<HttpResponse, PageError> {
    same_origin(&req)?;
    if let Some(cookie) = req.cookie(COOKIE) {
        if let Some(caller) = access.session(&store, &req).await? {
            audit::record(&store, clock.now(), &caller.name, "logout", "").await;
        }
        store.end_session(cookie.value()).await?;
    }
    let mut removal = Cookie::build(COOKIE, "")
        .path("/")
        .http_only(true)
        .same_site(SameSite::Strict)
        .finish();
    removal.make_removal();
    Ok(see_other(LOGIN_PATH, Some(&removal)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_are_followed_after_login() {
        assert_eq!(local_path("/leads/o1?x=1"), "/leads/o1?x=1");
        for away in [
            "https://evil.example/",
            "//evil.example/",
            "/\\evil.example",
            "evil",
            "",
            "/a\r\nSet-Cookie: x",
            "/线索",
        ] {
            assert_eq!(local_path(away), "/", "{away:?}");
        }
    }
}
