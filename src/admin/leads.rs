//! `GET /api/leads`, `GET /api/leads/{openid}` and sales' tag edits, which may not touch a
//! derived tag (the rules in `channels/` own those).

use std::fmt;

use actix_web::{HttpResponse, web};
use serde::Deserialize;

use super::{ApiError, Caller, audit};
use crate::domain::{Clock, OpenId, Scene, TagName};
use crate::rules::derive::is_derived_source;
use crate::rules::lead_view;
use crate::rules::{LiveRules, Rules};
use crate::store::{ChangedCursor, LeadFilter, LeadTag, ListError, Store};

/// A lead's path segment; the struct (not a bare string) also takes the paths under
/// `/api/accounts/{appid}`, whose appid the scope's guard has checked.
#[derive(Debug, Deserialize)]
pub(super) struct LeadPath {
    openid: String,
}

impl LeadPath {
    /// The openid as written in the path.
    pub(super) fn openid(&self) -> &str {
        &self.openid
    }
}

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
    updated_since: Option<String>,
}

fn bad(param: &str, error: impl std::fmt::Display) -> ApiError {
    ApiError::BadRequest(format!("parameter {param}: {error}"))
}

impl From<ListError> for ApiError {
    fn from(error: ListError) -> Self {
        match error {
            ListError::Cursor(why) => bad("cursor", why),
            ListError::Store(cause) => ApiError::Store(cause),
        }
    }
}

/// `GET /api/leads?tag=&channel=&subscribed=&limit=&cursor=`: a page of leads, without
/// their timelines; a bad cursor is a 400. With `updated_since=RFC3339` (and no filter), the
/// leads changed since then, oldest change first, paged by their own cursor.
pub(super) async fn list(
    store: web::Data<Store>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let limit = query.limit.unwrap_or(50);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(bad(
            "limit",
            format!("{limit} is not between 1 and {MAX_LIMIT}"),
        ));
    }
    if let Some(since) = &query.updated_since {
        let cursor = changed_cursor(&query, since)?;
        return Ok(HttpResponse::Ok().json(store.changed_leads(&cursor, limit).await?));
    }
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
    let page = store.leads(&filter, limit, query.cursor.as_deref()).await?;
    Ok(HttpResponse::Ok().json(page))
}

/// Where a page of `updated_since` starts: the `cursor` it gave, or the time itself.
fn changed_cursor(query: &ListQuery, since: &str) -> Result<ChangedCursor, ApiError> {
    if query.tag.is_some() || query.channel.is_some() || query.subscribed.is_some() {
        return Err(ApiError::BadRequest(
            "updated_since pages every changed lead; leave out tag, channel and subscribed"
                .to_owned(),
        ));
    }
    let since = chrono::DateTime::parse_from_rfc3339(since).map_err(|e| {
        bad(
            "updated_since",
            format!(
                "{since:?} is not RFC 3339 with an offset ({e}), e.g. 2026-12-01T10:00:00+08:00"
            ),
        )
    })?;
    match &query.cursor {
        Some(raw) => ChangedCursor::decode(raw).ok_or_else(|| {
            bad(
                "cursor",
                format!("{raw:?} is not a cursor this list gave; pass next_cursor back as it is"),
            )
        }),
        None => Ok(ChangedCursor {
            micros: since.timestamp_micros(),
            after: None,
        }),
    }
}

/// The body of a tag edit.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct TagEdit {
    #[serde(default)]
    add: Vec<String>,
    #[serde(default)]
    remove: Vec<String>,
}

/// Where sales' own tags come from, as the lead's tag sources show it.
pub const ADMIN_SOURCE: &str = "admin";

fn tag_names(param: &str, raw: &[String]) -> Result<Vec<TagName>, ApiError> {
    raw.iter()
        .map(|t| TagName::parse(t).map_err(|e| bad(param, e)))
        .collect()
}

/// A tag a sales edit would add or remove although the rules derive it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DerivedTag<'a> {
    /// The tag.
    pub(crate) tag: &'a TagName,
    /// What derives it (`rule:<name>`, …), when the lead holds it by that source.
    pub(crate) by: Option<&'a str>,
}

/// The first tag of a sales edit (`add`, then `remove`) that `rules` derive.
pub(crate) fn first_derived<'a>(
    rules: &Rules,
    add: &'a [TagName],
    remove: &'a [TagName],
) -> Option<&'a TagName> {
    add.iter()
        .chain(remove)
        .find(|tag| rules.is_derived(tag.as_str()))
}

impl<'a> DerivedTag<'a> {
    /// `tag`, with the derived source the lead's `tags` hold it by, if they do.
    pub(crate) fn held_in(tag: &'a TagName, tags: &'a [LeadTag]) -> Self {
        let by = tags
            .iter()
            .find(|held| held.name == tag.as_str() && is_derived_source(&held.source))
            .map(|held| held.source.as_str());
        Self { tag, by }
    }
}

impl fmt::Display for DerivedTag<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.by {
            Some(by) => write!(f, "{} is derived by {by}", self.tag)?,
            None => write!(
                f,
                "{} is derived (by a [[rule]], [[tiers]], [lifecycle] or [[preference]])",
                self.tag
            )?,
        }
        f.write_str("; change the rule in channels/ instead")
    }
}

/// `POST /api/leads/{openid}/tags` `{"add": [...], "remove": [...]}`: sales' own tags.
/// Answers the lead as it is after the edit; an edit that touches a derived tag is a 409
/// naming it, and changes nothing.
pub(super) async fn edit_tags(
    caller: Caller,
    store: web::Data<Store>,
    rules: web::Data<LiveRules>,
    clock: web::Data<Clock>,
    path: web::Path<LeadPath>,
    edit: web::Json<TagEdit>,
) -> Result<HttpResponse, ApiError> {
    let openid = OpenId::parse(&path.openid).map_err(|e| bad("openid", e))?;
    let add = tag_names("add", &edit.add)?;
    let remove = tag_names("remove", &edit.remove)?;
    if add.iter().any(|t| remove.contains(t)) {
        return Err(ApiError::BadRequest(
            "a tag is both added and removed".to_owned(),
        ));
    }
    let missing = || ApiError::NotFound(format!("no lead with openid {openid}"));
    let rules = rules.load();
    if let Some(tag) = first_derived(&rules, &add, &remove) {
        // Only a refused edit reads the lead first: to say which rule holds the tag.
        let lead = store.lead(&openid).await?.ok_or_else(missing)?;
        let derived = DerivedTag::held_in(tag, &lead.tags);
        return Err(ApiError::Conflict(derived.to_string()));
    }
    let now = clock.now();
    store
        .edit_tags(
            &openid,
            &add,
            &remove,
            ADMIN_SOURCE,
            &rules.watch().edited_mask(&add, &remove),
            now,
        )
        .await?
        .ok_or_else(missing)?;
    audit::record(&store, now, &caller.name, "tags.edit", openid.as_str()).await;
    let lead = store.lead(&openid).await?.ok_or_else(missing)?;
    Ok(HttpResponse::Ok().json(lead))
}

/// `PUT /api/leads/{openid}/do_not_contact`: the lead asked not to be contacted; no send or
/// broadcast reaches it until the mark is cleared. Answers the lead.
pub(super) async fn do_not_contact(
    caller: Caller,
    store: web::Data<Store>,
    rules: web::Data<LiveRules>,
    clock: web::Data<Clock>,
    path: web::Path<LeadPath>,
) -> Result<HttpResponse, ApiError> {
    let source = format!("{ADMIN_SOURCE}:{}", caller.name);
    mark_contact(&caller, &store, &rules, &clock, &path, Some(&source)).await
}

/// `DELETE /api/leads/{openid}/do_not_contact`: the lead may be contacted again (within
/// WeChat's rules). Answers the lead.
pub(super) async fn contact_again(
    caller: Caller,
    store: web::Data<Store>,
    rules: web::Data<LiveRules>,
    clock: web::Data<Clock>,
    path: web::Path<LeadPath>,
) -> Result<HttpResponse, ApiError> {
    mark_contact(&caller, &store, &rules, &clock, &path, None).await
}

/// Sets (`source`) or clears the do-not-contact mark, audits it, and answers the lead.
async fn mark_contact(
    caller: &Caller,
    store: &Store,
    rules: &LiveRules,
    clock: &Clock,
    path: &LeadPath,
    source: Option<&str>,
) -> Result<HttpResponse, ApiError> {
    let openid = OpenId::parse(&path.openid).map_err(|e| bad("openid", e))?;
    let missing = || ApiError::NotFound(format!("no lead with openid {openid}"));
    let now = clock.now();
    store
        .set_do_not_contact(&openid, source, now)
        .await?
        .ok_or_else(missing)?;
    let what = if source.is_some() {
        "do_not_contact.set"
    } else {
        "do_not_contact.clear"
    };
    audit::record(store, now, &caller.name, what, openid.as_str()).await;
    let lead = lead_view::lead_view(store, &rules.load(), &openid, now)
        .await?
        .ok_or_else(missing)?;
    Ok(HttpResponse::Ok().json(lead))
}

/// `GET /api/leads/{openid}`: one lead with its channels, tags and timeline.
pub(super) async fn get(
    store: web::Data<Store>,
    rules: web::Data<LiveRules>,
    clock: web::Data<Clock>,
    path: web::Path<LeadPath>,
) -> Result<HttpResponse, ApiError> {
    let openid = OpenId::parse(&path.openid).map_err(|e| bad("openid", e))?;
    match lead_view::lead_view(&store, &rules.load(), &openid, clock.now()).await? {
        Some(lead) => Ok(HttpResponse::Ok().json(lead)),
        None => Err(ApiError::NotFound(format!("no lead with openid {openid}"))),
    }
}
