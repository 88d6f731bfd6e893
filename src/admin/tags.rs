//! `GET /api/tags`: every tag with its lead count, WeChat id and sync state.

use actix_web::{HttpResponse, web};
use serde::Serialize;

use super::ApiError;
use crate::domain::UnixTime;
use crate::store::{Store, TagState, rfc3339};

/// One tag as the API shows it.
#[derive(Debug, Serialize)]
pub struct TagView {
    /// The tag name.
    pub name: String,
    /// How many leads carry it.
    pub leads: u64,
    /// When it was first applied.
    pub first_applied: String,
    /// Its WeChat tag id, once it has one.
    pub wechat_id: Option<u64>,
    /// `synced` (it has a WeChat id), `pending` (not yet), `unsynced: <reason>` (WeChat will
    /// not take it), or `external` (made in the WeChat console: shown, never deleted).
    pub sync_state: String,
}

/// `GET /api/tags`, most-used first.
pub(super) async fn list(store: web::Data<Store>) -> Result<HttpResponse, ApiError> {
    let sync = store.tag_sync().await?;
    let mut tags: Vec<TagView> = store
        .tag_counts()
        .await?
        .into_iter()
        .map(|t| {
            let wechat_id = sync.wechat_ids.get(&t.name).copied();
            let sync_state = match sync.state_of(&t.name) {
                TagState::External => "external".to_owned(),
                TagState::Unsynced(reason) => format!("unsynced: {reason}"),
                TagState::Synced => "synced".to_owned(),
                TagState::Pending => "pending".to_owned(),
            };
            TagView {
                first_applied: rfc3339(UnixTime(t.first_applied)),
                name: t.name,
                leads: t.leads,
                wechat_id,
                sync_state,
            }
        })
        .collect();
    tags.sort_by(|a, b| b.leads.cmp(&a.leads).then_with(|| a.name.cmp(&b.name)));
    Ok(HttpResponse::Ok().json(tags))
}
