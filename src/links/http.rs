//! `GET /l/{token}`: extract, call [`super::follow`], answer. A redirect carries
//! `Referrer-Policy: no-referrer` (the token stays out of the destination's logs) and
//! `Cache-Control: no-store` (every click reaches wxtag); a 404 is a plain page with no data.

use actix_web::http::header;
use actix_web::{HttpResponse, web};

use super::{Followed, Links, follow};
use crate::domain::Clock;
use crate::rules::LiveRules;
use crate::store::Store;

/// The handler of `GET /l/{token}`.
pub async fn redirect(
    token: web::Path<String>,
    rules: web::Data<LiveRules>,
    store: web::Data<Store>,
    links: web::Data<Links>,
    clock: web::Data<Clock>,
) -> HttpResponse {
    let rules = rules.load();
    match follow(&token, &rules, &store, &links, clock.now()).await {
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
