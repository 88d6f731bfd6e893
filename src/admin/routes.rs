//! Every admin route in one table, and the guards the table puts in front of each.
//!
//! The app registers admin routes only from [`route_table`]'s entries, so a route cannot be
//! added without saying what it needs:
//! - the API is registered twice: `/api/accounts/{appid}/…` and today's `/api/…`, the single
//!   account's aliases. A guard on each `/api` scope lets in only a bearer credential (401
//!   otherwise, for every path under it, unknown ones too) and answers an unknown appid with
//!   a JSON 404; a guard on each route checks the credential's role and account (403).
//! - dashboard pages get one guard each: a session cookie, or the login redirect; then the
//!   same role and account check, answered with a page.
//! - public routes (`/login`, `/logout`, `/assets/…`, and what followers' browsers open: the
//!   tracked links' `/l/{token}`, web authorisation's `/oauth/callback` and the lead forms'
//!   `/f/{id}`) are marked public here, in the open.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::middleware::{Next, from_fn};
use actix_web::web::{self, Data};
use actix_web::{Error, HttpMessage, guard};

use super::auth::{Access, Caller, LoginRequired, Need, Unauthorized};
use super::dashboard::{self, PageError};
use super::{
    ApiError, channels, contacts, dead_letters, error, events, export, leads, menus, qr, segments,
    tags,
};
use crate::store::Store;

/// What stands in front of a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    /// Anyone: the login page, logout, the dashboard's assets.
    Public,
    /// An API route: a bearer credential whose role allows this.
    Api(Need),
    /// A dashboard page or form: a session whose credential's role allows this.
    Page(Need),
}

/// One admin route, as the app registers it.
#[derive(Debug, Clone)]
pub struct RouteInfo {
    /// Its method.
    pub method: Method,
    /// Its full path pattern, e.g. `/api/accounts/{appid}/leads/{openid}`.
    pub path: String,
    /// What stands in front of it.
    pub gate: Gate,
}

/// One entry of the table: the route, its gate, and its handler.
pub(super) struct Entry {
    pub(super) method: Method,
    pub(super) path: &'static str,
    pub(super) gate: Gate,
    pub(super) handler: fn() -> actix_web::Route,
}

impl Entry {
    /// An entry of the table.
    pub(super) fn new(
        method: Method,
        path: &'static str,
        gate: Gate,
        handler: fn() -> actix_web::Route,
    ) -> Self {
        Self {
            method,
            path,
            gate,
            handler,
        }
    }
}

/// The API's routes, relative to `/api` and `/api/accounts/{appid}`.
fn api() -> Vec<Entry> {
    let entry = |method, path, need, handler| Entry::new(method, path, Gate::Api(need), handler);
    vec![
        entry(Method::GET, "/leads", Need::Read, || {
            web::route().to(leads::list)
        }),
        entry(Method::GET, "/leads/{openid}", Need::Read, || {
            web::route().to(leads::get)
        }),
        entry(Method::POST, "/leads/{openid}/tags", Need::EditTags, || {
            web::route().to(leads::edit_tags)
        }),
        entry(
            Method::PUT,
            "/leads/{openid}/do_not_contact",
            Need::EditTags,
            || web::route().to(leads::do_not_contact),
        ),
        entry(
            Method::DELETE,
            "/leads/{openid}/do_not_contact",
            Need::EditTags,
            || web::route().to(leads::contact_again),
        ),
        entry(Method::GET, "/contacts", Need::Read, || {
            web::route().to(contacts::list)
        }),
        entry(
            Method::POST,
            "/leads/{openid}/identity",
            Need::Ingest,
            || web::route().to(events::identity),
        ),
        entry(Method::POST, "/events", Need::Ingest, || {
            web::route().to(events::post)
        }),
        entry(Method::GET, "/channels", Need::Read, || {
            web::route().to(channels::report)
        }),
        entry(Method::GET, "/tags", Need::Read, || {
            web::route().to(tags::list)
        }),
        entry(Method::GET, "/export.csv", Need::Export, || {
            web::route().to(export::export)
        }),
        entry(Method::GET, "/dead-letters", Need::Read, || {
            web::route().to(dead_letters::list)
        }),
        entry(Method::GET, "/channels/{scene}/qr.png", Need::Read, || {
            web::route().to(qr::png)
        }),
        entry(Method::GET, "/segments", Need::Read, || {
            web::route().to(segments::list)
        }),
        entry(Method::POST, "/segments/preview", Need::Read, || {
            web::route().to(segments::preview)
        }),
        entry(Method::PUT, "/segments/{name}", Need::EditSegments, || {
            web::route().to(segments::put)
        }),
        entry(
            Method::DELETE,
            "/segments/{name}",
            Need::EditSegments,
            || web::route().to(segments::delete),
        ),
        entry(Method::GET, "/segments/{name}/leads", Need::Read, || {
            web::route().to(segments::leads)
        }),
        entry(
            Method::GET,
            "/segments/{name}/export.csv",
            Need::Export,
            || web::route().to(segments::export),
        ),
        entry(
            Method::POST,
            "/segments/{name}/tags",
            Need::EditSegments,
            || web::route().to(segments::bulk_tags),
        ),
        entry(Method::GET, "/jobs/{id}", Need::Read, || {
            web::route().to(segments::job)
        }),
        entry(Method::DELETE, "/jobs/{id}", Need::EditSegments, || {
            web::route().to(segments::cancel_job)
        }),
        entry(Method::POST, "/menu/push", Need::Menus, || {
            web::route().to(menus::push)
        }),
        entry(Method::GET, "/menu/try/{openid}", Need::Read, || {
            web::route().to(menus::try_lead)
        }),
    ]
}

/// The routes followers' browsers open, outside the dashboard: public by nature.
fn outside() -> Vec<Entry> {
    vec![
        Entry::new(Method::GET, "/l/{token}", Gate::Public, || {
            web::route().to(crate::links::http::redirect)
        }),
        Entry::new(
            Method::GET,
            crate::oauth::CALLBACK_PATH,
            Gate::Public,
            || web::route().to(super::oauth_callback::callback),
        ),
        Entry::new(Method::GET, "/f/{id}", Gate::Public, || {
            web::route().to(crate::forms::http::page)
        }),
        Entry::new(Method::POST, "/f/{id}", Gate::Public, || {
            web::route().to(submit_form)
        }),
    ]
}

/// `POST /f/{id}`: a lead form's submission, told the client's address (through trusted
/// proxies) for its rate limit.
async fn submit_form(
    req: actix_web::HttpRequest,
    id: web::Path<String>,
    payload: web::Payload,
    access: Data<Access>,
) -> actix_web::HttpResponse {
    let client = access.client(&req).address();
    crate::forms::http::post(req, id, payload, client).await
}

/// Where the API is mounted: the account's own paths first (`/api` would swallow them).
const API_PREFIXES: [&str; 2] = ["/api/accounts/{appid}", "/api"];

/// Every admin route the app registers: the API under both prefixes, the dashboard's pages.
pub fn route_table() -> Vec<RouteInfo> {
    let api = API_PREFIXES.iter().flat_map(|prefix| {
        api().into_iter().map(move |e| RouteInfo {
            method: e.method,
            path: format!("{prefix}{}", e.path),
            gate: e.gate,
        })
    });
    let pages = dashboard::entries().into_iter().map(|e| RouteInfo {
        method: e.method,
        path: e.path.to_owned(),
        gate: e.gate,
    });
    let outside = outside().into_iter().map(|e| RouteInfo {
        method: e.method,
        path: e.path.to_owned(),
        gate: e.gate,
    });
    api.chain(pages).chain(outside).collect()
}

/// Registers the admin routes: the API under `/api` (both prefixes), the dashboard, and
/// the tracked links' redirect.
pub fn register(cfg: &mut web::ServiceConfig) {
    for prefix in API_PREFIXES {
        let mut scope = web::scope(prefix)
            .app_data(error::query_config())
            .app_data(error::path_config())
            .app_data(error::json_config())
            .wrap(from_fn(authenticate_api));
        for entry in api() {
            scope = scope.service(resource(entry));
        }
        cfg.service(scope.default_service(web::to(super::no_such_route)));
    }
    // Outside each page's gate, so a page the gate refuses is in the request's language too.
    for entry in dashboard::entries() {
        cfg.service(resource(entry).wrap(from_fn(dashboard::localize)));
    }
    for entry in outside() {
        cfg.service(resource(entry));
    }
}

/// The resource of one entry, behind its gate.
fn resource(
    entry: Entry,
) -> actix_web::Resource<
    impl actix_web::dev::ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<BoxBody>,
        Error = Error,
        InitError = (),
    >,
> {
    let route = (entry.handler)().method(entry.method.clone());
    let gate = entry.gate;
    web::resource(entry.path)
        .guard(guard::Method(entry.method))
        .route(route)
        .wrap(from_fn(move |req, next| pass(gate, req, next)))
}

/// The shared pieces a guard needs; always registered by `startup`.
fn parts(req: &ServiceRequest) -> Option<(Data<Access>, Data<Store>)> {
    Some((
        req.app_data::<Data<Access>>()?.clone(),
        req.app_data::<Data<Store>>()?.clone(),
    ))
}

/// The `/api` scopes' guard: a bearer credential (else 401, empty), on this server's account
/// (else a JSON 404); the caller is kept for the route's guard and the handler.
async fn authenticate_api(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let Some((access, store)) = parts(&req) else {
        return Ok(req.error_response(Unauthorized));
    };
    let caller = match access.bearer(&store, req.request()).await {
        Ok(Some(caller)) => caller,
        Ok(None) => return Ok(req.error_response(Unauthorized)),
        Err(error) => return Ok(req.error_response(ApiError::Store(error))),
    };
    if let Some(appid) = req.match_info().get("appid")
        && appid != access.appid()
    {
        let why = format!(
            "no account {appid} on this server (it serves {}); check the appid in the path",
            access.appid()
        );
        return Ok(req.error_response(ApiError::NotFound(why)));
    }
    req.extensions_mut().insert(caller);
    Ok(next.call(req).await?.map_into_boxed_body())
}

/// One route's guard, as its gate says.
async fn pass(
    gate: Gate,
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    match gate {
        Gate::Public => {}
        Gate::Api(need) => {
            let caller = req.extensions().get::<Caller>().cloned();
            let Some((access, _)) = parts(&req) else {
                return Ok(req.error_response(Unauthorized));
            };
            match caller {
                None => return Ok(req.error_response(Unauthorized)),
                Some(caller) if !caller.may(need, access.appid()) => {
                    let why = format!(
                        "the credential {:?} (role {}) may not do this on account {}",
                        caller.name,
                        caller.role.as_str(),
                        access.appid()
                    );
                    return Ok(req.error_response(ApiError::Forbidden(why)));
                }
                Some(_) => {}
            }
        }
        Gate::Page(need) => {
            let Some((access, store)) = parts(&req) else {
                let login = LoginRequired::for_request(req.request());
                return Ok(req.error_response(login));
            };
            match access.session(&store, req.request()).await {
                Ok(None) => {
                    let login = LoginRequired::for_request(req.request());
                    return Ok(req.error_response(login));
                }
                Err(error) => return Ok(req.error_response(PageError::Store(error))),
                Ok(Some(caller)) if !caller.may(need, access.appid()) => {
                    return Ok(req.error_response(PageError::Forbidden));
                }
                Ok(Some(caller)) => {
                    req.extensions_mut().insert(caller);
                }
            }
        }
    }
    Ok(next.call(req).await?.map_into_boxed_body())
}
