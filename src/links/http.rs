//! `GET /l/{token}`: extract, call [`super::follow`], answer. A redirect carries
//! `Referrer-Policy: no-referrer` (the token stays out of the destination's logs) and
//! `Cache-Control: no-store` (every click reaches wxtag); a 404 is a plain page with no data.

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use serde::Deserialize;

use super::{Followed, Links, follow};
use crate::domain::{Clock, Scene};
use crate::rules::LiveRules;
use crate::store::Store;

/// The query a tracked link may carry.
#[derive(Debug, Deserialize)]
pub struct LinkQuery {
    /// `?ch=<scene>`: the channel the link was shared through (加参链接). A scene no
    /// `[[qr]]` or `[[channel]]` names, or one that does not parse, is ignored.
    ch: Option<String>,
}

/// The handler of `GET /l/{token}`.
pub async fn redirect(
    token: web::Path<String>,
    // A query that does not read (a repeated `ch`, …) is no reason to keep anyone from
    // their link: it is ignored.
    query: Option<web::Query<LinkQuery>>,
    rules: web::Data<LiveRules>,
    store: web::Data<Store>,
    links: web::Data<Links>,
    clock: web::Data<Clock>,
) -> HttpResponse {
    let rules = rules.load();
    let via = query
        .as_ref()
        .and_then(|q| q.ch.as_deref())
        .and_then(|ch| Scene::parse(ch).ok());
    match follow(&token, via.as_ref(), &rules, &store, &links, clock.now()).await {
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
