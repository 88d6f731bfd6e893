//! `GET /api/leads` and `GET /api/leads/{openid}`.

use actix_web::{HttpResponse, web};
use serde::Deserialize;

use super::{Admin, ApiError};
use crate::domain::{OpenId, Scene, TagName};
use crate::store::{LeadFilter, Store};

/// The largest page of leads.
const MAX_LIMIT: usize = 100;

/// The query of a lead list.
#[derive(Debug, Deserialize)]
pub(super) struct ListQuery {
    tag: Option<String>,
    channel: Option<String>,
    subscribed: Option<bool>,
    limit: Option<usize>,
    cursor: Option<String>,
}

fn bad(param: &str, error: impl std::fmt::Display) -> ApiError {
    ApiError::BadRequest(format!("parameter {param}: {error}"))
}

/// `GET /api/leads?tag=&channel=&subscribed=&limit=&cursor=`: a page of leads.
pub(super) async fn list(
    _: Admin,
    store: web::Data<Store>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let filter = LeadFilter {
        tag: query
            .tag
            .as_deref()
            .map(TagName::parse)
            .transpose()
            .map_err(|e| bad("tag", e))?,
        channel: query
            .channel
            .as_deref()
            .map(Scene::parse)
            .transpose()
            .map_err(|e| bad("channel", e))?,
        subscribed: query.subscribed,
    };
    let limit = query.limit.unwrap_or(50);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(bad(
            "limit",
            format!("{limit} is not between 1 and {MAX_LIMIT}"),
        ));
    }
    let page = store.leads(&filter, limit, query.cursor.as_deref()).await?;
    Ok(HttpResponse::Ok().json(page))
}

/// `GET /api/leads/{openid}`: one lead with its channels, tags and timeline.
pub(super) async fn get(
    _: Admin,
    store: web::Data<Store>,
    openid: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let openid = OpenId::parse(&openid).map_err(|e| bad("openid", e))?;
    match store.lead(&openid).await? {
        Some(lead) => Ok(HttpResponse::Ok().json(lead)),
        None => Err(ApiError::NotFound(format!("no lead with openid {openid}"))),
    }
}
