//! The admin API (JSON over HTTP, every route behind the admin token) and the dashboard (pages).
//!
//! Handlers are thin: parse the request into domain values, call the [`Store`](crate::store::Store), shape the
//! answer. Errors share one JSON shape (see [`ApiError`]).

mod auth;
mod channels;
mod dashboard;
mod dead_letters;
mod error;
mod export;
mod leads;
mod qr;
mod tags;

use actix_web::web;

pub use auth::{Admin, AdminPage, AdminToken, LoginRequired, Unauthorized};
pub use channels::ChannelReport;
pub use error::ApiError;

/// Any other method or path under `/api`: 404 in the API's JSON shape (still behind the token).
async fn no_such_route(
    _: Admin,
    req: actix_web::HttpRequest,
) -> Result<actix_web::HttpResponse, ApiError> {
    Err(ApiError::NotFound(format!(
        "no API route {} {}; see the README's admin API table",
        req.method(),
        req.path()
    )))
}

/// Registers the admin routes under `/api`, and the dashboard's pages.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/api")
            .app_data(error::query_config())
            .app_data(error::path_config())
            .app_data(error::json_config())
            .route("/leads", web::get().to(leads::list))
            .route("/leads/{openid}", web::get().to(leads::get))
            .route("/leads/{openid}/tags", web::post().to(leads::edit_tags))
            .route("/channels", web::get().to(channels::report))
            .route("/tags", web::get().to(tags::list))
            .route("/export.csv", web::get().to(export::export))
            .route("/dead-letters", web::get().to(dead_letters::list))
            .route("/channels/{scene}/qr.png", web::get().to(qr::png))
            .default_service(web::to(no_such_route)),
    );
    cfg.configure(dashboard::routes);
}
