//! `POST /api/menu/push` and `GET /api/menu/try/{openid}`: the personalised menus of the
//! rules in force published to WeChat, and which menu one lead gets (WeChat's trymatch). The
//! rules in force passed `check`'s menu checks when they loaded, so a push publishes what
//! `wxtag menu push` would.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::json;

use super::error::error_body;
use super::{ApiError, Caller, audit};
use crate::domain::{Clock, OpenId};
use crate::menus::{self, MenuError, Which};
use crate::rules::LiveRules;
use crate::store::Store;
use crate::wechat::client::Client;

/// The lead's path segment (also under `/api/accounts/{appid}`).
#[derive(Debug, Deserialize)]
pub(super) struct OpenIdPath {
    openid: String,
}

/// 503 when wxtag has no WeChat account to call.
fn no_account() -> HttpResponse {
    error_body(
        StatusCode::SERVICE_UNAVAILABLE,
        "unavailable",
        "no wechat account is configured to publish or try menus",
    )
}

/// `POST /api/menu/push`: `{"published": [{"menuid", "tag"}], "calls"}`; 400 when the rules
/// define no `[menu]`, 502 when WeChat refused (the message says how far it got).
pub(super) async fn push(
    caller: Caller,
    rules: web::Data<LiveRules>,
    store: web::Data<Store>,
    wechat: web::Data<Option<Client>>,
    clock: web::Data<Clock>,
) -> Result<HttpResponse, ApiError> {
    let Some(client) = wechat.as_ref().as_ref() else {
        return Ok(no_account());
    };
    let menus = rules.load().menus().clone();
    let result = menus::publish(&store, client, &menus).await;
    audit::record(&store, clock.now(), &caller.name, "menu.push", "menus").await;
    match result {
        Ok(published) => Ok(HttpResponse::Ok().json(json!({
            "published": published.menus,
            "calls": published.calls,
        }))),
        Err(MenuError::Store(error)) => Err(ApiError::Store(error)),
        Err(e @ MenuError::NoMenu) => Err(ApiError::BadRequest(e.to_string())),
        Err(e) => {
            tracing::warn!(error = %e, "the menu push failed");
            Ok(error_body(
                StatusCode::BAD_GATEWAY,
                "wechat",
                &e.to_string(),
            ))
        }
    }
}

/// `GET /api/menu/try/{openid}`: `{"openid", "menu": "for" | "default" | "unknown", "tag",
/// "at", "button"}`, what WeChat shows the lead; 502 when WeChat refused (65302: no such
/// follower).
pub(super) async fn try_lead(
    rules: web::Data<LiveRules>,
    wechat: web::Data<Option<Client>>,
    path: web::Path<OpenIdPath>,
) -> Result<HttpResponse, ApiError> {
    let openid =
        OpenId::parse(&path.openid).map_err(|e| ApiError::BadRequest(format!("openid: {e}")))?;
    let Some(client) = wechat.as_ref().as_ref() else {
        return Ok(no_account());
    };
    let menus = rules.load().menus().clone();
    match menus::try_lead(client, &menus, &openid).await {
        Ok(tried) => {
            let (menu, tag, at) = match &tried.menu {
                Which::For { tag, at } => ("for", Some(tag.as_str()), Some(at.as_str())),
                Which::Default => ("default", None, None),
                Which::Unknown => ("unknown", None, None),
            };
            Ok(HttpResponse::Ok().json(json!({
                "openid": openid.as_str(),
                "menu": menu,
                "tag": tag,
                "at": at,
                "button": tried.buttons,
            })))
        }
        Err(e) => Ok(error_body(
            StatusCode::BAD_GATEWAY,
            "wechat",
            &format!("wechat did not say which menu {openid} gets: {e}"),
        )),
    }
}
