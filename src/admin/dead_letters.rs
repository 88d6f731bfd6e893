//! `GET /api/dead-letters`: tag changes WeChat refused for good, newest first.

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};

use super::{Admin, ApiError};
use crate::store::{DeadLetter, Store};

/// The most dead letters one answer holds.
const MAX_LIMIT: usize = 1000;

/// The query: how many to show.
#[derive(Debug, Deserialize)]
pub(super) struct Query {
    limit: Option<usize>,
}

/// One dead letter as the API shows it.
#[derive(Debug, Serialize)]
pub struct DeadLetterView {
    /// The lead.
    pub openid: String,
    /// The tag.
    pub tag: String,
    /// `add` or `remove`.
    pub op: String,
    /// WeChat's errcode, when WeChat answered with one.
    pub errcode: Option<i64>,
    /// What went wrong, and what to do.
    pub error: String,
    /// When the sync gave up on it (RFC 3339).
    pub at: String,
}

impl From<DeadLetter> for DeadLetterView {
    fn from(letter: DeadLetter) -> Self {
        Self {
            openid: letter.openid,
            tag: letter.tag,
            op: letter.op,
            errcode: letter.errcode,
            error: letter.error,
            at: letter.at,
        }
    }
}

/// `GET /api/dead-letters?limit=`: `{"total", "dead_letters": [...]}`, newest first.
pub(super) async fn list(
    _: Admin,
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
    let newest: Vec<DeadLetterView> = letters.newest.into_iter().map(Into::into).collect();
    Ok(HttpResponse::Ok()
        .json(serde_json::json!({ "total": letters.total, "dead_letters": newest })))
}
