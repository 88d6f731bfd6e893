//! `GET /api/tags`: every tag with its lead count.

use actix_web::{HttpResponse, web};
use serde::Serialize;

use super::{Admin, ApiError};
use crate::domain::UnixTime;
use crate::store::{Store, rfc3339};

/// One tag as the API shows it.
#[derive(Debug, Serialize)]
pub struct TagView {
    /// The tag name.
    pub name: String,
    /// How many leads carry it.
    pub leads: u64,
    /// When it was first applied.
    pub first_applied: String,
}

/// `GET /api/tags`, most-used first.
pub(super) async fn list(_: Admin, store: web::Data<Store>) -> Result<HttpResponse, ApiError> {
    let mut tags: Vec<TagView> = store
        .tag_counts()
        .await?
        .into_iter()
        .map(|t| TagView {
            name: t.name,
            leads: t.leads,
            first_applied: rfc3339(UnixTime(t.first_applied)),
        })
        .collect();
    tags.sort_by(|a, b| b.leads.cmp(&a.leads).then_with(|| a.name.cmp(&b.name)));
    Ok(HttpResponse::Ok().json(tags))
}
