//! Logging in and out of the dashboard: the login form, the cookie that keeps the admin token
//! (HttpOnly, `SameSite=Strict`, `Secure` when served over HTTPS), and its removal.

use actix_web::cookie::{Cookie, SameSite, time::Duration};
use actix_web::{HttpRequest, HttpResponse, http::StatusCode, web};
use askama::Template;
use serde::Deserialize;

use super::{PageError, html, same_origin, see_other};
use crate::admin::AdminToken;
use crate::admin::auth::{COOKIE, LOGIN_PATH, carries_token};

/// How long a login lasts.
const LOGIN_DAYS: i64 = 7;

/// The login page.
#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage<'a> {
    nav: &'static str,
    next: &'a str,
    error: bool,
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
    req: HttpRequest,
    query: web::Query<NextQuery>,
) -> Result<HttpResponse, PageError> {
    let next = local_path(query.next.as_deref().unwrap_or("/"));
    if carries_token(&req) {
        return Ok(see_other(next, None));
    }
    let page = LoginPage {
        nav: "",
        next,
        error: false,
    };
    html(StatusCode::OK, &page)
}

/// `POST /login`: with the right token, sets the cookie and goes on to `next`; else the form
/// again with 401.
pub(super) async fn login(
    req: HttpRequest,
    token: web::Data<AdminToken>,
    form: web::Form<LoginForm>,
) -> Result<HttpResponse, PageError> {
    same_origin(&req)?;
    let next = local_path(&form.next);
    if !token.matches(form.token.trim()) {
        tracing::warn!("dashboard login refused: wrong admin token");
        let page = LoginPage {
            nav: "",
            next,
            error: true,
        };
        return html(StatusCode::UNAUTHORIZED, &page);
    }
    let cookie = Cookie::build(COOKIE, token.reveal().to_owned())
        .path("/")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(req.connection_info().scheme() == "https")
        .max_age(Duration::days(LOGIN_DAYS))
        .finish();
    Ok(see_other(next, Some(&cookie)))
}

/// `POST /logout`: removes the cookie and shows the login form.
pub(super) async fn logout(req: HttpRequest) -> Result<HttpResponse, PageError> {
    same_origin(&req)?;
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
