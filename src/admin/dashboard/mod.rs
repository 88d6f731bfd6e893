//! The dashboard: server-rendered pages for marketers and sales, in Chinese or English (every
//! label from [`words`]' tables), behind a login session.
//!
//! - `/` channels: follows, scans, unfollows, net and new leads per channel over a date
//!   range, a per-day chart, and each channel's QR code to download;
//! - `/leads` and `/leads/{openid}`: search, and one lead's channels, score, stage, tags
//!   (when and why, a derived tag's why in words) and timeline, where sales add and remove
//!   their own tags;
//! - `/tags`: the derived tags by kind, leads per tag, WeChat sync state and the sync
//!   worker's dead letters;
//! - `/segments`, `/build` and `/segments/{name}`: saved segments, the builder (nested
//!   groups by form controls, the count and profile before saving), and one segment's size,
//!   30-day trend, profile, members, export and bulk tagging with its dry run;
//! - `/preview`: what the rules in force, and the files on disk before a reload, would tag
//!   and untag among the existing leads now;
//! - `/export.csv` and `/channels/{scene}/qr.png`: the API's export and QR code, behind the
//!   session (the API itself takes only bearer tokens);
//! - `/login`, `/logout`, and `/assets/…` (embedded; nothing comes from a CDN).
//!
//! Pages are askama templates under `templates/`, which escape every value; charts are inline
//! SVG drawn from numbers computed in [`chart`]. Pages use no JavaScript, and say so in their
//! Content-Security-Policy. Pages tell time by the app's [`Clock`](crate::domain::Clock) (shifted by
//! `WXTAG_CLOCK_OFFSET_SECS`), so scores and windows read as the scheduler sees them. Forms
//! post back to the page's own origin: a request the browser marks as coming from another
//! site (`Sec-Fetch-Site`) is refused, and so is one whose `Origin` (or, without it,
//! `Referer`) names another host when `Sec-Fetch-Site` is absent.

mod assets;
mod builder;
mod channels;
mod chart;
mod labels;
mod leads;
mod preview;
mod segments;
mod session;
mod tags;
mod words;

use actix_web::cookie::Cookie;
use actix_web::http::Method;
use actix_web::{HttpRequest, HttpResponse, ResponseError, http::StatusCode, http::header, web};
use askama::Template;

use crate::admin::routes::{Entry, Gate};
use crate::admin::{ApiError, Need};
use crate::store::StoreError;
pub use preview::RulesFolder;
pub(super) use words::localize;
use words::{Lang, Nav, Words};

/// What a page may load: its own stylesheet and images, nothing else, and no scripts.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'self'; img-src 'self' data:; \
     form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The dashboard's pages, forms and assets, each with its gate, for the route table.
pub(super) fn entries() -> Vec<Entry> {
    let entry = Entry::new;
    let read = Gate::Page(Need::Read);
    vec![
        entry(Method::GET, "/", read, || web::route().to(channels::page)),
        entry(Method::GET, "/login", Gate::Public, || {
            web::route().to(session::form)
        }),
        entry(Method::POST, "/login", Gate::Public, || {
            web::route().to(session::login)
        }),
        entry(Method::POST, "/logout", Gate::Public, || {
            web::route().to(session::logout)
        }),
        entry(Method::GET, "/leads", read, || web::route().to(leads::list)),
        entry(Method::GET, "/leads/{openid}", read, || {
            web::route().to(leads::page)
        }),
        entry(
            Method::POST,
            "/leads/{openid}/tags",
            Gate::Page(Need::EditTags),
            || web::route().to(leads::edit_tags),
        ),
        entry(Method::GET, "/leads/{openid}/tags", read, || {
            web::route().to(leads::tags_anchor)
        }),
        entry(Method::GET, "/tags", read, || web::route().to(tags::page)),
        entry(Method::GET, "/preview", read, || {
            web::route().to(preview::page)
        }),
        entry(Method::GET, "/segments", read, || {
            web::route().to(segments::list)
        }),
        entry(Method::GET, "/build", read, || {
            web::route().to(segments::builder)
        }),
        entry(
            Method::POST,
            "/build",
            Gate::Page(Need::EditSegments),
            || web::route().to(segments::build),
        ),
        entry(Method::GET, "/segments/{name}", read, || {
            web::route().to(segments::page)
        }),
        entry(
            Method::POST,
            "/segments/{name}/tags",
            Gate::Page(Need::EditSegments),
            || web::route().to(segments::bulk),
        ),
        entry(
            Method::POST,
            "/segments/{name}/delete",
            Gate::Page(Need::EditSegments),
            || web::route().to(segments::delete),
        ),
        entry(
            Method::GET,
            "/segments/{name}/export.csv",
            Gate::Page(Need::Export),
            || web::route().to(crate::admin::segments::export),
        ),
        entry(Method::GET, "/export.csv", Gate::Page(Need::Export), || {
            web::route().to(crate::admin::export::export)
        }),
        entry(Method::GET, "/channels/{scene}/qr.png", read, || {
            web::route().to(crate::admin::qr::png)
        }),
        entry(Method::GET, "/assets/{name}", Gate::Public, || {
            web::route().to(assets::serve)
        }),
    ]
}

/// A dashboard request that failed, answered as a page.
#[derive(Debug, thiserror::Error)]
pub enum PageError {
    /// The request is malformed: a bad parameter or path segment.
    #[error("{0}")]
    BadRequest(String),
    /// The thing asked for does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The form conflicts with what the rules own (a derived tag).
    #[error("{0}")]
    Conflict(String),
    /// A form was posted from another site.
    #[error("a form was posted from another site")]
    CrossSite,
    /// The logged-in credential's role (or account) does not allow this page or form.
    #[error("the logged-in credential may not do this")]
    Forbidden,
    /// Redis failed; the cause is logged, not shown.
    #[error("redis failed: {0}")]
    Store(#[from] StoreError),
    /// A template failed to render; the cause is logged, not shown.
    #[error("a page failed to render: {0}")]
    Render(#[from] askama::Error),
    /// Work off the async threads (reading the files on disk) did not finish; logged.
    #[error("a page's blocking work did not finish: {0}")]
    Blocking(#[from] actix_web::error::BlockingError),
}

impl From<ApiError> for PageError {
    fn from(error: ApiError) -> Self {
        match error {
            ApiError::BadRequest(why) | ApiError::TooLarge(why) => PageError::BadRequest(why),
            ApiError::NotFound(why) => PageError::NotFound(why),
            ApiError::Conflict(why) => PageError::Conflict(why),
            ApiError::Forbidden(_) => PageError::Forbidden,
            ApiError::Store(cause) => PageError::Store(cause),
        }
    }
}

/// The page shown for a [`PageError`].
#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    nav: Nav,
    status: u16,
    message: &'a str,
}

impl ResponseError for PageError {
    fn status_code(&self) -> StatusCode {
        match self {
            PageError::BadRequest(_) => StatusCode::BAD_REQUEST,
            PageError::NotFound(_) => StatusCode::NOT_FOUND,
            PageError::Conflict(_) => StatusCode::CONFLICT,
            PageError::CrossSite | PageError::Forbidden => StatusCode::FORBIDDEN,
            PageError::Store(_) | PageError::Render(_) | PageError::Blocking(_) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            PageError::Store(cause) => tracing::error!(error = %cause, "dashboard page failed"),
            PageError::Render(cause) => tracing::error!(error = %cause, "dashboard page failed"),
            PageError::Blocking(cause) => tracing::error!(error = %cause, "dashboard page failed"),
            PageError::BadRequest(_)
            | PageError::NotFound(_)
            | PageError::Conflict(_)
            | PageError::CrossSite
            | PageError::Forbidden => {}
        }
        self.page(&words::ZH)
    }
}

impl PageError {
    /// What the error page says, in `t`'s language.
    fn message(&self, t: &'static Words) -> &str {
        match self {
            PageError::BadRequest(why) | PageError::NotFound(why) | PageError::Conflict(why) => why,
            PageError::CrossSite => t.cross_site,
            PageError::Forbidden => t.forbidden,
            PageError::Store(_) | PageError::Render(_) | PageError::Blocking(_) => t.internal,
        }
    }

    /// The error page in `t`'s language (plain text if even that fails to render).
    fn page(&self, t: &'static Words) -> HttpResponse {
        let message = self.message(t);
        let page = ErrorPage {
            nav: Lang(t).nav("error"),
            status: self.status_code().as_u16(),
            message,
        };
        html(self.status_code(), &page).unwrap_or_else(|_| {
            HttpResponse::build(self.status_code())
                .content_type("text/plain; charset=utf-8")
                .body(message.to_owned())
        })
    }
}

/// A rendered page with the dashboard's security headers; pages hold personal data, so no
/// cache keeps them.
fn html(status: StatusCode, page: &impl Template) -> Result<HttpResponse, PageError> {
    let body = page.render()?;
    Ok(HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::REFERRER_POLICY, "same-origin"))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(body))
}

/// A `303 See Other` to a path of this site, as form posts answer; with a cookie to set.
///
/// The cookie goes out percent-encoded, as the request side decodes it.
fn see_other(location: &str, cookie: Option<&Cookie<'_>>) -> HttpResponse {
    let mut response = HttpResponse::SeeOther();
    response
        .insert_header((header::LOCATION, location))
        .insert_header((header::CACHE_CONTROL, "no-store"));
    if let Some(cookie) = cookie {
        response.append_header((header::SET_COOKIE, cookie.encoded().to_string()));
    }
    response.finish()
}

/// Refuses a form post the browser says came from another site (or a sibling subdomain,
/// which `SameSite=Strict` lets through). Without `Sec-Fetch-Site` (older browsers), the
/// `Origin` header, or else the `Referer`, must name this host. Clients that send none of
/// the three (scripts, curl) pass: they carry no browser's cookie by accident.
fn same_origin(req: &HttpRequest) -> Result<(), PageError> {
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
    if let Some(site) = header("sec-fetch-site") {
        return match site {
            "cross-site" | "same-site" => Err(PageError::CrossSite),
            _ => Ok(()),
        };
    }
    let Some(claimed) = header("origin").or_else(|| header("referer")) else {
        return Ok(());
    };
    let host = header("host").unwrap_or("");
    let authority = claimed.split_once("://").map_or("", |(_, rest)| {
        rest.split(['/', '?', '#']).next().unwrap_or("")
    });
    if !host.is_empty() && authority.eq_ignore_ascii_case(host) {
        Ok(())
    } else {
        Err(PageError::CrossSite)
    }
}
