//! `GET /api/dead-letters`: tag changes WeChat refused for good, newest first.

use actix_web::{HttpResponse, web};
use serde::Deserialize;

use super::ApiError;
use crate::store::Store;

/// The most dead letters one answer holds.
const MAX_LIMIT: usize = 1000;

/// The query: how many to show.
#[derive(Debug, Deserialize)]
pub(super) struct Query {
    limit: Option<usize>,
}

/// `GET /api/dead-letters?limit=`: `{"total", "dead_letters": [...]}`, newest first.
pub(super) async fn list(
    store: web::Data<Store>,
    query: web::Query<Query>,
) -> Result<HttpResponse, ApiError> {
    let limit = query.limit.unwrap_or(100);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::BadRequest(format!(
            "parameter limit: {limit} is not between 1 and {MAX_LIMIT}"
        )));
    }
    let letters = store.dead_letters(limit).await?;
    Ok(HttpResponse::Ok()
        .json(serde_json::json!({ "total": letters.total, "dead_letters": letters.newest })))
}
