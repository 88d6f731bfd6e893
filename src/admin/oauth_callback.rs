//! `GET /oauth/callback` (public: WeChat sends followers' browsers here): extract, call
//! [`OAuth::callback`], answer. It lives with the admin routes because it answers for every
//! path an authorisation returns to (links and forms alike).
//!
//! - identified: the identity cookie is set and the browser goes to its path at once (a
//!   302, so Back or a refresh never submits the code again);
//! - a reused or expired code: the one fresh authorisation;
//! - WeChat did not identify the user: a tracked link still sends the browser on to its
//!   destination, recording nothing (the click cannot be credited to anyone safely); a form
//!   (the only other path) is served marked `oauth=failed`, so it asks no second time (its
//!   submission then goes by the link's token);
//! - a bad state or return path: a plain page (400), whatever the path.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};

use super::Access;
use crate::domain::Clock;
use crate::forms::http::OAUTH_FAILED;
use crate::links::http::{answer, channel_of};
use crate::links::{Clicker, Links, PATH, follow};
use crate::oauth::{Callback, CallbackQuery, OAuth, redirect};
use crate::rules::LiveRules;
use crate::store::Store;

/// The handler of `GET /oauth/callback`.
pub async fn callback(
    req: HttpRequest,
    query: web::Query<CallbackQuery>,
    oauth: web::Data<Option<OAuth>>,
    store: web::Data<Store>,
    rules: web::Data<LiveRules>,
    links: web::Data<Links>,
    clock: web::Data<Clock>,
) -> HttpResponse {
    let Some(oauth) = oauth.as_ref() else {
        return page(
            StatusCode::NOT_FOUND,
            "web authorisation is off on this server (WECHAT_OAUTH)",
        );
    };
    let now = clock.now();
    let outcome = match oauth.callback(&store, &query, now).await {
        Ok(outcome) => outcome,
        Err(error) => {
            tracing::error!(%error, "web authorisation callback: redis failed");
            return page(
                StatusCode::SERVICE_UNAVAILABLE,
                "wxtag cannot reach its database just now",
            );
        }
    };
    match outcome {
        Callback::Identified { identity, to } => {
            // Access is always registered (startup); without it, no `Secure` is claimed.
            let https = req
                .app_data::<web::Data<Access>>()
                .is_some_and(|access| access.client(&req).https);
            match oauth.cookie(&store, &identity, https, now).await {
                Ok(cookie) => {
                    let mut response = redirect(to.as_str());
                    if let Err(error) = response.add_cookie(&cookie) {
                        tracing::error!(%error, "cannot set the identity cookie");
                    }
                    response.headers_mut().insert(
                        header::REFERRER_POLICY,
                        header::HeaderValue::from_static("no-referrer"),
                    );
                    response
                }
                Err(error) => {
                    tracing::error!(%error, "cannot sign the identity cookie");
                    page(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "wxtag cannot reach its database just now",
                    )
                }
            }
        }
        Callback::Again(url) => redirect(&url),
        Callback::BadState(why) => {
            tracing::info!(%why, "web authorisation callback refused");
            page(StatusCode::BAD_REQUEST, &why)
        }
        Callback::Failed { to, why } => {
            tracing::info!(%why, "web authorisation did not identify the user");
            match to.as_str().strip_prefix(PATH) {
                Some(link) => {
                    let (token, query) = link.split_once('?').unwrap_or((link, ""));
                    let via = channel_of(query);
                    let rules = rules.load();
                    let unknown = &Clicker::Unknown;
                    answer(follow(token, via.as_ref(), &rules, &store, &links, unknown, now).await)
                }
                // The other return paths are forms: served all the same, marked so they
                // start no second authorisation (no loop); a submission then goes by the
                // link's token.
                None => {
                    let mark = if to.as_str().contains('?') { '&' } else { '?' };
                    redirect(&format!("{}{mark}{OAUTH_FAILED}", to.as_str()))
                }
            }
        }
    }
}

/// The plain page a person reads when identification did not work: what happened, and
/// what to do (open the link again from the chat).
fn page(status: StatusCode, what: &str) -> HttpResponse {
    let Ok(what) = askama::filters::escape(what, askama::filters::Html);
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(format!(
            "<!doctype html><html lang=zh><meta charset=utf-8>\
             <meta name=viewport content=\"width=device-width\"><title>无法确认身份</title>\
             <h1>无法确认您的微信身份</h1><p>wxtag could not confirm who you are on WeChat: \
             {what}.</p><p>请回到公众号对话中重新打开链接。Please open the link again from the \
             chat with the official account.</p></html>"
        ))
}
