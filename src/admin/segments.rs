//! The segment routes: list, save, delete, preview, members, export and bulk tagging with
//! its jobs (`segments` does the work; these parse the request and shape the answer).

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::json;

use super::leads::{DerivedTag, first_derived};
use super::{ApiError, Caller, audit, export};
use crate::domain::{Clock, SegmentName, TagName, UnixTime};
use crate::rules::LiveRules;
use crate::segments::jobs::{self, BulkTags};
use crate::segments::{self, Cursor, SegmentError};
use crate::store::{Store, StoreError, day_of};

/// A segment's path segment (the struct also takes the paths under `/api/accounts/{appid}`).
#[derive(Debug, Deserialize)]
pub(super) struct SegmentPath {
    name: String,
}

impl SegmentPath {
    fn name(&self) -> Result<SegmentName, ApiError> {
        SegmentName::parse(&self.name).map_err(|e| ApiError::BadRequest(format!("name: {e}")))
    }
}

/// The body of a save or preview.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct When {
    when: serde_json::Value,
}

/// The query of a members page.
#[derive(Debug, Deserialize)]
pub(super) struct PageQuery {
    cursor: Option<String>,
    limit: Option<usize>,
}

/// The largest page of members.
const MAX_LIMIT: usize = 100;

impl From<SegmentError> for ApiError {
    fn from(error: SegmentError) -> Self {
        match error {
            SegmentError::Condition(_) | SegmentError::Cursor(_) => {
                ApiError::BadRequest(error.to_string())
            }
            SegmentError::NotFound(_) => ApiError::NotFound(error.to_string()),
            SegmentError::Corrupt { name, why } => ApiError::Store(StoreError::Corrupt {
                key: format!("the saved segment {name:?}"),
                what: why,
            }),
            SegmentError::Store(cause) => ApiError::Store(cause),
        }
    }
}

/// `GET /api/segments`: every saved segment with its last count and its days.
pub(super) async fn list(store: web::Data<Store>) -> Result<HttpResponse, ApiError> {
    let segments = segments::list(&store).await?;
    Ok(HttpResponse::Ok().json(json!({ "segments": segments })))
}

/// `POST /api/segments/preview` `{"when": …}`: the count, a sample of members and the time
/// it took, with warnings for what the account has never seen.
pub(super) async fn preview(
    store: web::Data<Store>,
    rules: web::Data<LiveRules>,
    clock: web::Data<Clock>,
    body: web::Json<When>,
) -> Result<HttpResponse, ApiError> {
    let condition = segments::parse(&body.when)?;
    let preview =
        segments::preview_with_warnings(&store, &rules.load(), &condition, clock.now()).await?;
    Ok(HttpResponse::Ok().json(preview))
}

/// `PUT /api/segments/{name}` `{"when": …}`: saves (or replaces) the segment and counts it.
pub(super) async fn put(
    caller: Caller,
    store: web::Data<Store>,
    rules: web::Data<LiveRules>,
    clock: web::Data<Clock>,
    path: web::Path<SegmentPath>,
    body: web::Json<When>,
) -> Result<HttpResponse, ApiError> {
    let name = path.name()?;
    let body = body.into_inner();
    let rules = rules.load();
    let now = clock.now();
    let condition = segments::parse(&body.when)?;
    let warnings = segments::warnings(&store, &rules, &condition).await?;
    let (segment, found) =
        segments::save(&store, &rules, &name, body.when, &caller.name, now).await?;
    audit::record(&store, now, &caller.name, "segment.save", name.as_str()).await;
    let mut answer = serde_json::to_value(&segment).unwrap_or_default();
    answer["warnings"] = json!(warnings);
    answer["took_ms"] = json!(found.took_ms());
    Ok(HttpResponse::Ok().json(answer))
}

/// `DELETE /api/segments/{name}`: 204, or 404 when there is none.
pub(super) async fn delete(
    caller: Caller,
    store: web::Data<Store>,
    clock: web::Data<Clock>,
    path: web::Path<SegmentPath>,
) -> Result<HttpResponse, ApiError> {
    delete_recorded(&store, &caller, &path.name()?, clock.now()).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Deletes a saved segment and records who did (the API's and the dashboard's delete).
pub(super) async fn delete_recorded(
    store: &Store,
    caller: &Caller,
    name: &SegmentName,
    now: UnixTime,
) -> Result<(), ApiError> {
    if !segments::delete(store, name).await? {
        return Err(SegmentError::NotFound(name.to_string()).into());
    }
    audit::record(store, now, &caller.name, "segment.delete", name.as_str()).await;
    Ok(())
}

/// `GET /api/segments/{name}/leads?cursor=&limit=`: a page of members, from a snapshot.
pub(super) async fn leads(
    store: web::Data<Store>,
    rules: web::Data<LiveRules>,
    clock: web::Data<Clock>,
    path: web::Path<SegmentPath>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let name = path.name()?;
    let limit = query.limit.unwrap_or(50);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::BadRequest(format!(
            "parameter limit: {limit} is not between 1 and {MAX_LIMIT}"
        )));
    }
    let cursor = query.cursor.as_deref().map(Cursor::parse).transpose()?;
    let page = segments::members(&store, &rules.load(), &name, cursor, limit, clock.now()).await?;
    Ok(HttpResponse::Ok().json(page))
}

/// `GET /api/segments/{name}/export.csv`: the members, as `/api/export.csv` writes leads.
pub(super) async fn export(
    store: web::Data<Store>,
    rules: web::Data<LiveRules>,
    clock: web::Data<Clock>,
    path: web::Path<SegmentPath>,
) -> Result<HttpResponse, ApiError> {
    let name = path.name()?;
    let now: UnixTime = clock.now();
    let (snapshot, _) = segments::current_snapshot(&store, &rules.load(), &name, now).await?;
    let pages = segments::snapshot_leads(store.get_ref().clone(), snapshot);
    Ok(export::csv(
        format!("wxtag-segment-{}.csv", day_of(now)),
        pages,
    ))
}

/// The body of a bulk tagging request.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct BulkBody {
    #[serde(default)]
    add: Vec<String>,
    #[serde(default)]
    remove: Vec<String>,
    #[serde(default)]
    dry_run: bool,
}

/// A job's path segment.
#[derive(Debug, Deserialize)]
pub(super) struct JobPath {
    id: String,
}

/// The tags of a bulk tagging request, checked: tag names, something to do, no tag both
/// added and removed, and no derived tag (a 409, as for a sales edit).
pub(super) fn checked_tags(
    rules: &crate::rules::Rules,
    add: &[String],
    remove: &[String],
) -> Result<BulkTags, ApiError> {
    let parse = |param: &str, raw: &[String]| -> Result<Vec<TagName>, ApiError> {
        raw.iter()
            .map(|t| TagName::parse(t).map_err(|e| ApiError::BadRequest(format!("{param}: {e}"))))
            .collect()
    };
    let tags = BulkTags {
        add: parse("add", add)?,
        remove: parse("remove", remove)?,
    };
    if tags.add.is_empty() && tags.remove.is_empty() {
        return Err(ApiError::BadRequest(
            "nothing to do: give tags to add or remove".to_owned(),
        ));
    }
    if tags.add.iter().any(|t| tags.remove.contains(t)) {
        return Err(ApiError::BadRequest(
            "a tag is both added and removed".to_owned(),
        ));
    }
    if let Some(tag) = first_derived(rules, &tags.add, &tags.remove) {
        return Err(ApiError::Conflict(DerivedTag { tag, by: None }.to_string()));
    }
    Ok(tags)
}

/// `POST /api/segments/{name}/tags` `{"add", "remove", "dry_run"}`: with `dry_run`, what
/// tagging every member would do (`leads`, `changes`, `wechat_calls`, `over_20`); without, a
/// job doing it (`{"job"}`, 202). A derived tag is a 409, as for a sales edit.
pub(super) async fn bulk_tags(
    caller: Caller,
    store: web::Data<Store>,
    rules: web::Data<LiveRules>,
    clock: web::Data<Clock>,
    path: web::Path<SegmentPath>,
    body: web::Json<BulkBody>,
) -> Result<HttpResponse, ApiError> {
    let name = path.name()?;
    let rules = rules.load();
    let tags = checked_tags(&rules, &body.add, &body.remove)?;
    let now = clock.now();
    if body.dry_run {
        let dry = jobs::dry_run(&store, &rules, &name, &tags, now).await?;
        return Ok(HttpResponse::Ok().json(dry));
    }
    let id = jobs::start(&store, &rules, &name, &tags, &caller.name, now).await?;
    audit::record(&store, now, &caller.name, "segment.tags", name.as_str()).await;
    Ok(HttpResponse::Accepted().json(json!({ "job": id })))
}

/// `GET /api/jobs/{id}`: `{"state", "done", "total", …}`.
pub(super) async fn job(
    store: web::Data<Store>,
    path: web::Path<JobPath>,
) -> Result<HttpResponse, ApiError> {
    match jobs::status(&store, &path.id).await? {
        Some(status) => Ok(HttpResponse::Ok().json(status)),
        None => Err(ApiError::NotFound(format!("no job {}", path.id))),
    }
}

/// `DELETE /api/jobs/{id}`: cancels a running job (what it did stays): 204, 404 for no such
/// job, 409 for one that has ended.
pub(super) async fn cancel_job(
    caller: Caller,
    store: web::Data<Store>,
    clock: web::Data<Clock>,
    path: web::Path<JobPath>,
) -> Result<HttpResponse, ApiError> {
    let Some(status) = jobs::status(&store, &path.id).await? else {
        return Err(ApiError::NotFound(format!("no job {}", path.id)));
    };
    if !jobs::cancel(&store, &path.id).await? {
        return Err(ApiError::Conflict(format!(
            "job {} has ended ({}); nothing to cancel",
            path.id, status.state
        )));
    }
    audit::record(&store, clock.now(), &caller.name, "job.cancel", &path.id).await;
    Ok(HttpResponse::NoContent().finish())
}
