//! `GET /l/{token}`: extract, identify the clicker when web authorisation is on, call
//! [`super::follow`], answer. A redirect carries `Referrer-Policy: no-referrer` (the token
//! stays out of the destination's logs) and `Cache-Control: no-store` (every click reaches
//! wxtag); a 404 is a plain page with no data.
//!
//! With `WECHAT_OAUTH=base`, a click without a valid identity cookie whose token would record
//! something ([`super::worth_identifying`]) first goes through web authorisation
//! ([`crate::oauth::OAuth::start`]), which returns here with the cookie set.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};

use super::{Clicker, Followed, Links, PATH, follow, worth_identifying};
use crate::domain::Clock;
use crate::oauth::{OAuth, ReturnPath};
use crate::rules::LiveRules;
use crate::store::Store;

/// The handler of `GET /l/{token}`.
pub async fn redirect(
    req: HttpRequest,
    token: web::Path<String>,
    rules: web::Data<LiveRules>,
    store: web::Data<Store>,
    links: web::Data<Links>,
    oauth: web::Data<Option<OAuth>>,
    clock: web::Data<Clock>,
) -> HttpResponse {
    let rules = rules.load();
    let now = clock.now();
    let clicker = match oauth.as_ref() {
        None => Clicker::Lead,
        Some(oauth) => match oauth.identified(&store, &req, now).await {
            Some(identity) => Clicker::Identified(identity),
            None if worth_identifying(&token, &rules, &store, &links, now).await => {
                let started = match ReturnPath::parse(&format!("{PATH}{token}")) {
                    Ok(to) => oauth
                        .start(&store, &to, now)
                        .await
                        .map_err(|e| e.to_string()),
                    Err(why) => Err(why),
                };
                match started {
                    Ok(response) => return response,
                    Err(error) => {
                        tracing::error!(%error, "cannot start web authorisation; the click goes on unrecorded");
                        Clicker::Unknown
                    }
                }
            }
            None => Clicker::Unknown,
        },
    };
    answer(follow(&token, &rules, &store, &links, &clicker, now).await)
}

/// The answer to a followed link: the redirect with the privacy headers, or the 404 page.
pub fn answer(followed: Followed) -> HttpResponse {
    match followed {
        Followed::Redirect { url, click } => {
            tracing::debug!(?click, "link followed");
            HttpResponse::Found()
                .insert_header((header::LOCATION, url))
                .insert_header((header::REFERRER_POLICY, "no-referrer"))
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .finish()
        }
        Followed::NotFound => HttpResponse::NotFound()
            .content_type("text/plain; charset=utf-8")
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .body("not found\n"),
    }
}
