//! `GET /l/{token}`: extract, identify the clicker when web authorisation is on, call
//! [`super::follow`], answer. A redirect carries `Referrer-Policy: no-referrer` (the token
//! stays out of the destination's logs) and `Cache-Control: no-store` (every click reaches
//! wxtag); a 404 is a plain page with no data.
//!
//! With `WECHAT_OAUTH=base`, a click without a valid identity cookie whose token would record
//! something ([`super::worth_identifying`]) first goes through web authorisation
//! ([`crate::oauth::OAuth::start`]), which returns here (with its `?ch=`) with the cookie set.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;

use super::{Clicker, Followed, Links, PATH, follow, worth_identifying};
use crate::domain::{Clock, Scene};
use crate::oauth::OAuth;
use crate::rules::LiveRules;
use crate::store::Store;

/// The query a tracked link may carry.
#[derive(Debug, Deserialize)]
pub struct LinkQuery {
    /// `?ch=<scene>`: the channel the link was shared through (加参链接). A scene no
    /// `[[qr]]` or `[[channel]]` names, or one that does not parse, is ignored.
    ch: Option<String>,
}

/// The channel a link's query (`ch=<scene>`) names, if it reads. A query that does not read
/// (a repeated `ch`, …) is no reason to keep anyone from their link: it is ignored.
pub fn channel_of(query: &str) -> Option<Scene> {
    web::Query::<LinkQuery>::from_query(query)
        .ok()
        .and_then(|q| q.into_inner().ch)
        .and_then(|ch| Scene::parse(&ch).ok())
}

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
    let via = channel_of(req.query_string());
    let clicker = match oauth.as_ref() {
        None => Clicker::Lead,
        Some(oauth) => match oauth.identified(&store, &req, now).await {
            Some(identity) => Clicker::Identified(identity),
            None if worth_identifying(&token, &rules, &store, &links, now).await => {
                let back = match &via {
                    Some(scene) => format!("{PATH}{token}?ch={scene}"),
                    None => format!("{PATH}{token}"),
                };
                match oauth.start(&store, &back, now).await {
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
    answer(follow(&token, via.as_ref(), &rules, &store, &links, &clicker, now).await)
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
