//! `GET /api/contacts`: every form submission (contact), newest first: the ones that landed
//! on a lead (`attached`) and the ones kept apart (no identity, or a forwarded link
//! submitted by someone with another phone or name, `lead` naming whose link it was).

use actix_web::{HttpResponse, web};
use serde::Deserialize;

use super::ApiError;
use crate::store::{CONTACTS_PAGE_MAX, Store};

/// The query: where to go on from and how many.
#[derive(Debug, Deserialize)]
pub(super) struct Query {
    cursor: Option<u64>,
    limit: Option<u64>,
}

/// `GET /api/contacts?cursor=&limit=`: `{"contacts": [...], "next_cursor"}`; `limit` 1-100
/// (50); pass `next_cursor` back for the next page.
pub(super) async fn list(
    store: web::Data<Store>,
    query: web::Query<Query>,
) -> Result<HttpResponse, ApiError> {
    let limit = query.limit.unwrap_or(50);
    if !(1..=CONTACTS_PAGE_MAX).contains(&limit) {
        return Err(ApiError::BadRequest(format!(
            "parameter limit: {limit} is not between 1 and {CONTACTS_PAGE_MAX}"
        )));
    }
    if query.cursor == Some(0) {
        return Err(ApiError::BadRequest(
            "parameter cursor: 0 is no cursor; pass the next_cursor a page gave".to_owned(),
        ));
    }
    let (contacts, next) = store.contacts(query.cursor, limit).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "contacts": contacts, "next_cursor": next })))
}
