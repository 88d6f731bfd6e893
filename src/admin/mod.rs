//! The admin API (JSON over HTTP, behind bearer credentials) and the dashboard (pages,
//! behind a login session).
//!
//! Every route is registered from one table ([`routes`]), whose guards let a request in before
//! any handler runs. Handlers are thin: parse the request into domain values, call the
//! [`Store`](crate::store::Store), shape the answer. Errors share one JSON shape (see
//! [`ApiError`]).

pub mod audit;
mod auth;
mod channels;
pub mod client;
mod contacts;
mod dashboard;
mod dead_letters;
mod error;
mod events;
pub(crate) mod export;
mod leads;
mod menus;
mod oauth_callback;
mod qr;
mod routes;
mod segments;
mod tags;

pub use auth::{Access, AdminToken, Caller, LoginRequired, Need, Unauthorized};
pub use channels::ChannelReport;
pub use dashboard::RulesFolder;
pub use error::ApiError;
pub(crate) use leads::{DerivedTag, first_derived};
pub use routes::{Gate, RouteInfo, register as routes, route_table};

/// Any other method or path under `/api`: 404 in the API's JSON shape (behind the scope's
/// guard, so only with a credential).
async fn no_such_route(req: actix_web::HttpRequest) -> Result<actix_web::HttpResponse, ApiError> {
    Err(ApiError::NotFound(format!(
        "no API route {} {}; see the README's admin API table",
        req.method(),
        req.path()
    )))
}
