//! The segment pages: the list (`/segments`), the builder (`/build`, see [`super::builder`]),
//! and one segment's page (`/segments/{name}`): its size and condition, the members per day
//! for 30 days, its profile, its members page by page, its export, and bulk tagging with the
//! dry run shown before the job starts.
//!
//! The builder counts on "preview" and on "save", not on every added row, so building stays
//! quick at a million leads; the page of a saved segment reads the profile kept with its last
//! count. While a bulk job runs, the segment's page shows its progress at the top and
//! refreshes itself every two seconds (a `meta` refresh: no script; the page's address has
//! no `#fragment`, which would turn the refresh into a scroll).

use actix_web::{HttpRequest, HttpResponse, http::StatusCode, web};
use askama::Template;
use serde::Deserialize;

use super::builder::{Action, Draft, GroupKind, LeafKind, Post, Row, row_of};
use super::chart::{Series, StackedChart};
use super::labels::{channel_name, short_time};
use super::leads::tag_options;
use super::words::Words;
use super::{Lang, Nav, PageError, html, same_origin, see_other};
use crate::admin::segments::{checked_tags, delete_recorded};
use crate::admin::{ApiError, Caller, audit};
use crate::domain::{Clock, SegmentName, UnixTime};
use crate::rules::{LiveRules, Rules};
use crate::segments::jobs::{self, DryRun, JobStatus};
use crate::segments::{self, Cursor, Listed, SegmentError, profile};
use crate::store::{Lead, SEGMENT_DAYS, SegmentProfile, Share, Store, china_time};

/// Members per page of a segment.
const PAGE: usize = 50;

impl From<SegmentError> for PageError {
    fn from(error: SegmentError) -> Self {
        ApiError::from(error).into()
    }
}

/// The segment list.
#[derive(Template)]
#[template(path = "segments.html")]
struct ListPage {
    nav: Nav,
    rows: Vec<ListRow>,
}

/// One saved segment's row.
struct ListRow {
    name: String,
    members: Option<u64>,
    counted_at: String,
    by: String,
    updated: String,
}

/// `GET /segments`: every saved segment with its last count.
pub(super) async fn list(lang: Lang, store: web::Data<Store>) -> Result<HttpResponse, PageError> {
    let rows = segments::list(&store)
        .await?
        .into_iter()
        .map(|s| ListRow {
            name: s.name.to_string(),
            members: s.members,
            counted_at: s.counted_at.as_deref().map(short_time).unwrap_or_default(),
            by: s.by,
            updated: short_time(&s.updated),
        })
        .collect();
    let page = ListPage {
        nav: lang.nav("segments"),
        rows,
    };
    html(StatusCode::OK, &page)
}

/// A profile as the page shows it: shares as percentages of the picked members.
struct ProfileView {
    picked: u64,
    /// True when the members were more than those picked: the shares are estimates.
    estimated: bool,
    parts: Vec<ProfilePart>,
}

/// One table of a profile.
struct ProfilePart {
    title: &'static str,
    rows: Vec<ShareRow>,
}

/// One bar of a profile.
struct ShareRow {
    label: String,
    percent: f64,
}

impl ProfileView {
    fn new(t: &'static Words, rules: &Rules, profile: &SegmentProfile, members: u64) -> Self {
        let picked = profile.picked;
        let rows = |shares: &[Share], label: &dyn Fn(&str) -> String| {
            shares
                .iter()
                .map(|s| ShareRow {
                    label: label(&s.name),
                    percent: (s.leads as f64 / picked.max(1) as f64 * 1000.0).round() / 10.0,
                })
                .collect()
        };
        let same = |name: &str| name.to_owned();
        let channel = |scene: &str| channel_name(t, rules, Some(scene)).name;
        Self {
            picked,
            estimated: members > picked,
            parts: vec![
                ProfilePart {
                    title: t.profile_tags,
                    rows: rows(&profile.tags, &same),
                },
                ProfilePart {
                    title: t.profile_channels,
                    rows: rows(&profile.first_channels, &channel),
                },
                ProfilePart {
                    title: t.profile_stages,
                    rows: rows(&profile.stages, &same),
                },
            ],
        }
    }
}

/// The builder.
#[derive(Template)]
#[template(path = "build.html")]
struct BuildPage {
    nav: Nav,
    name: String,
    rows: Vec<Row>,
    /// The condition as JSON text, for the JSON box.
    json: String,
    /// True when the builder cannot show the condition: it is edited as JSON only.
    json_mode: bool,
    error: Option<String>,
    /// The row the error is about (empty for none).
    error_row: String,
    preview: Option<PreviewView>,
    profile: Option<ProfileView>,
    warnings: Vec<String>,
    groups: [GroupKind; 3],
    leaves: [LeafKind; 11],
    tag_options: Vec<String>,
    channel_options: Vec<String>,
}

/// A preview's count and sample.
struct PreviewView {
    count: u64,
    took_ms: u64,
    complete: bool,
    sample: Vec<String>,
}

impl BuildPage {
    async fn new(
        lang: Lang,
        store: &Store,
        rules: &Rules,
        name: String,
        draft: Option<Draft>,
        json: String,
    ) -> Result<Self, PageError> {
        let tag_options = tag_options(store).await?;
        let channel_options = rules.channels().map(|c| c.scene.to_string()).collect();
        Ok(Self {
            nav: lang.nav("segments"),
            name,
            rows: draft.as_ref().map(Draft::rows).unwrap_or_default(),
            json_mode: draft.is_none(),
            json,
            error: None,
            error_row: String::new(),
            preview: None,
            profile: None,
            warnings: Vec::new(),
            groups: GroupKind::EVERY,
            leaves: LeafKind::EVERY,
            tag_options,
            channel_options,
        })
    }
}

/// Text made safe for a path segment or query value of a redirect (`Location` is ASCII).
pub(super) fn path_part(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// Pretty JSON text of a condition.
fn pretty(when: &serde_json::Value) -> String {
    serde_json::to_string_pretty(when).unwrap_or_default()
}

/// `?segment=` of the builder: the saved segment to edit.
#[derive(Debug, Deserialize)]
pub(super) struct BuildQuery {
    segment: Option<String>,
}

/// `GET /build` (`?segment=NAME` to edit a saved one): the builder.
pub(super) async fn builder(
    lang: Lang,
    store: web::Data<Store>,
    rules: web::Data<LiveRules>,
    query: web::Query<BuildQuery>,
) -> Result<HttpResponse, PageError> {
    let rules = rules.load();
    let (name, draft, json) = match &query.segment {
        Some(raw) => {
            let name = segment_name(lang.0, raw)?;
            let (definition, _) = segments::load(&store, &name).await?;
            let draft = Draft::from_json(&definition.when);
            (name.to_string(), draft, pretty(&definition.when))
        }
        None => {
            let draft = Draft::new();
            let json = pretty(&draft.to_json());
            (String::new(), Some(draft), json)
        }
    };
    let page = BuildPage::new(lang, &store, &rules, name, draft, json).await?;
    html(StatusCode::OK, &page)
}

/// The segment name of a path or form, or the page that says what is wrong with it.
fn segment_name(t: &Words, raw: &str) -> Result<SegmentName, PageError> {
    SegmentName::parse(raw.trim()).map_err(|e| PageError::BadRequest(t.bad_segment.fill(e)))
}

/// `POST /build`: applies the button pressed to the posted tree, then shows the builder
/// again with the preview, or saves and goes to the segment's page.
pub(super) async fn build(
    caller: Caller,
    req: HttpRequest,
    store: web::Data<Store>,
    rules: web::Data<LiveRules>,
    clock: web::Data<Clock>,
    form: web::Form<Vec<(String, String)>>,
) -> Result<HttpResponse, PageError> {
    let lang = Lang(super::words::for_request(&req));
    let t = lang.0;
    same_origin(&req)?;
    let rules = rules.load();
    let post = Post::read(&form);
    let (action, name, counts) = (post.action.clone(), post.name.clone(), post.counts());
    let mut page =
        BuildPage::new(lang, &store, &rules, name.clone(), post.draft, post.json).await?;
    let when = match post.when {
        Ok(when) => when,
        Err(why) => {
            page.error = Some(t.bad_json.fill(why));
            return html(StatusCode::BAD_REQUEST, &page);
        }
    };
    let condition = match segments::parse(&when) {
        Ok(condition) => condition,
        Err(_) if !counts => return html(StatusCode::OK, &page),
        Err(SegmentError::Condition(e)) => {
            page.error_row = row_of(&e.path);
            page.error = Some(t.bad_condition.fill(SegmentError::Condition(e)));
            return html(StatusCode::BAD_REQUEST, &page);
        }
        Err(other) => return Err(other.into()),
    };
    if !counts {
        return html(StatusCode::OK, &page);
    }
    let now = clock.now();
    if action == Action::Save {
        if name.is_empty() {
            page.error = Some(t.name_needed.to_owned());
            return html(StatusCode::BAD_REQUEST, &page);
        }
        let name = match SegmentName::parse(&name) {
            Ok(name) => name,
            Err(e) => {
                page.error = Some(t.bad_segment.fill(e));
                return html(StatusCode::BAD_REQUEST, &page);
            }
        };
        segments::save(&store, &rules, &name, when, &caller.name, now).await?;
        audit::record(&store, now, &caller.name, "segment.save", name.as_str()).await;
        let location = format!("/segments/{}", path_part(name.as_str()));
        return Ok(see_other(&location, None));
    }
    let found = segments::preview(&store, &rules, &condition, now).await?;
    page.warnings = segments::warnings(&store, &rules, &condition).await?;
    let kept = profile::profile(&store, &rules, &found).await?;
    page.profile = Some(ProfileView::new(t, &rules, &kept, found.count));
    page.preview = Some(PreviewView {
        count: found.count,
        took_ms: found.took_ms(),
        complete: found.complete,
        sample: found.sample.iter().map(ToString::to_string).collect(),
    });
    html(StatusCode::OK, &page)
}

/// One segment's page.
#[derive(Template)]
#[template(path = "segment.html")]
struct SegmentPage {
    nav: Nav,
    name: String,
    /// The condition as the builder's rows, empty when the builder cannot show it.
    rows: Vec<Row>,
    when_json: String,
    members: Option<u64>,
    counted_at: String,
    by: String,
    updated: String,
    chart: StackedChart,
    chart_label: &'static str,
    profile: Option<ProfileView>,
    leads: Vec<MemberRow>,
    total: u64,
    next_cursor: Option<String>,
    job: Option<JobView>,
    /// True while a job shown runs: the page refreshes itself.
    refresh: bool,
    add: String,
    remove: String,
    dry: Option<DryRun>,
    error: Option<String>,
    tag_options: Vec<String>,
}

/// A member's row.
struct MemberRow {
    openid: String,
    first_channel: String,
    tags: Vec<String>,
    last_seen: String,
}

impl MemberRow {
    fn new(t: &Words, rules: &Rules, lead: Lead) -> Self {
        Self {
            first_channel: channel_name(t, rules, lead.first_channel.as_deref()).name,
            tags: lead.tags.into_iter().map(|t| t.name).collect(),
            last_seen: short_time(&lead.last_seen),
            openid: lead.openid.to_string(),
        }
    }
}

/// A bulk job as the page shows it.
struct JobView {
    state: &'static str,
    class: &'static str,
    progress: String,
}

impl JobView {
    fn new(t: &'static Words, status: &JobStatus) -> Self {
        let (state, class) = match status.state.as_str() {
            "running" => (t.job_running, "wait"),
            "done" => (t.job_done, "ok"),
            "cancelled" => (t.job_cancelled, "bad"),
            _ => (t.job_failed, "bad"),
        };
        Self {
            state,
            class,
            progress: format!("{} / {}", status.done, status.total),
        }
    }
}

/// The query of a segment's page: a members page's cursor, a job to show.
#[derive(Debug, Deserialize)]
pub(super) struct SegmentQuery {
    cursor: Option<String>,
    job: Option<String>,
}

/// The path of a segment's pages.
#[derive(Debug, Deserialize)]
pub(super) struct SegmentPath {
    name: String,
}

/// What a segment page is built from besides the request.
struct Shown<'a> {
    lang: Lang,
    store: &'a Store,
    rules: &'a Rules,
    clock: &'a Clock,
}

impl Shown<'_> {
    /// The page of segment `name` with members from `cursor`, and job `job` when given.
    async fn page(
        &self,
        name: &SegmentName,
        cursor: Option<&str>,
        job: Option<&str>,
    ) -> Result<SegmentPage, PageError> {
        let t = self.lang.0;
        let now = self.clock.now();
        let cursor = cursor.map(Cursor::parse).transpose()?;
        let members = segments::members(self.store, self.rules, name, cursor, PAGE, now).await?;
        // Read after the members: a first page may have just counted the segment.
        let listed: Listed = segments::find(self.store, name).await?;
        let job = match job {
            Some(id) => jobs::status(self.store, id).await?,
            None => None,
        };
        let (days, values) = trend(&listed, now);
        let series = Series {
            name: name.to_string(),
            colour: 0,
            values,
        };
        let profile = listed
            .profile
            .as_ref()
            .map(|p| ProfileView::new(t, self.rules, p, listed.members.unwrap_or(0)));
        let tag_options = tag_options(self.store).await?;
        Ok(SegmentPage {
            nav: self.lang.nav("segments"),
            name: name.to_string(),
            rows: Draft::from_json(&listed.when)
                .map(|d| d.rows())
                .unwrap_or_default(),
            when_json: pretty(&listed.when),
            members: listed.members,
            counted_at: listed
                .counted_at
                .as_deref()
                .map(short_time)
                .unwrap_or_default(),
            by: listed.by,
            updated: short_time(&listed.updated),
            chart: StackedChart::new(&days, &[series]),
            chart_label: t.trend_title,
            profile,
            total: members.total,
            next_cursor: members.next_cursor,
            leads: members
                .leads
                .into_iter()
                .map(|lead| MemberRow::new(t, self.rules, lead))
                .collect(),
            refresh: job.as_ref().is_some_and(|j| j.state == "running"),
            job: job.as_ref().map(|j| JobView::new(t, j)),
            add: String::new(),
            remove: String::new(),
            dry: None,
            error: None,
            tag_options,
        })
    }
}

/// The trend's days, the last [`SEGMENT_DAYS`] up to today (China time), and the members
/// counted on each (0 for a day without a count, before the segment was made).
fn trend(listed: &Listed, now: UnixTime) -> (Vec<String>, Vec<i64>) {
    let today = chrono::DateTime::from_timestamp(now.0, 0)
        .unwrap_or_default()
        .with_timezone(&china_time())
        .date_naive();
    let days: Vec<String> = (0..SEGMENT_DAYS as u64)
        .rev()
        .filter_map(|back| today.checked_sub_days(chrono::Days::new(back)))
        .map(|d| d.format("%Y-%m-%d").to_string())
        .collect();
    let values = days
        .iter()
        .map(|day| {
            listed
                .days
                .iter()
                .find(|d| &d.date == day)
                .map_or(0, |d| i64::try_from(d.members).unwrap_or(i64::MAX))
        })
        .collect();
    (days, values)
}

/// `GET /segments/{name}?cursor=&job=`: the segment's page.
pub(super) async fn page(
    lang: Lang,
    store: web::Data<Store>,
    rules: web::Data<LiveRules>,
    clock: web::Data<Clock>,
    path: web::Path<SegmentPath>,
    query: web::Query<SegmentQuery>,
) -> Result<HttpResponse, PageError> {
    let name = segment_name(lang.0, &path.name)?;
    let rules = rules.load();
    let shown = Shown {
        lang,
        store: &store,
        rules: &rules,
        clock: &clock,
    };
    let page = shown
        .page(&name, query.cursor.as_deref(), query.job.as_deref())
        .await?;
    html(StatusCode::OK, &page)
}

/// The language and segment of a form posted to a segment's page, refused when it comes
/// from another site.
fn posted_to(req: &HttpRequest, path: &SegmentPath) -> Result<(Lang, SegmentName), PageError> {
    let lang = Lang(super::words::for_request(req));
    same_origin(req)?;
    Ok((lang, segment_name(lang.0, &path.name)?))
}

/// The bulk tagging form: the tags (comma-separated), and `dry_run` or `confirm`.
#[derive(Debug, Deserialize)]
pub(super) struct BulkForm {
    #[serde(default)]
    add: String,
    #[serde(default)]
    remove: String,
    #[serde(default)]
    act: String,
}

/// Tags written in one box: separated by commas (either width) or `、`.
fn tag_list(raw: &str) -> Vec<String> {
    raw.split([',', '，', '、'])
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .collect()
}

/// `POST /segments/{name}/tags`: `dry_run` shows the segment with what tagging every member
/// would do and a button to confirm; `confirm` starts the job and shows its progress.
pub(super) async fn bulk(
    caller: Caller,
    req: HttpRequest,
    store: web::Data<Store>,
    rules: web::Data<LiveRules>,
    clock: web::Data<Clock>,
    path: web::Path<SegmentPath>,
    form: web::Form<BulkForm>,
) -> Result<HttpResponse, PageError> {
    let (lang, name) = posted_to(&req, &path)?;
    let rules = rules.load();
    let shown = Shown {
        lang,
        store: &store,
        rules: &rules,
        clock: &clock,
    };
    let (add, remove) = (tag_list(&form.add), tag_list(&form.remove));
    let tags = checked_tags(&rules, &add, &remove);
    let now = clock.now();
    match tags {
        Ok(tags) if form.act == "confirm" => {
            let id = jobs::start(&store, &rules, &name, &tags, &caller.name, now).await?;
            audit::record(&store, now, &caller.name, "segment.tags", name.as_str()).await;
            let location = format!(
                "/segments/{}?job={}",
                path_part(name.as_str()),
                path_part(&id)
            );
            Ok(see_other(&location, None))
        }
        Ok(tags) => {
            let mut page = shown.page(&name, None, None).await?;
            page.dry = Some(jobs::dry_run(&store, &rules, &name, &tags, now).await?);
            page.add = add.join(", ");
            page.remove = remove.join(", ");
            html(StatusCode::OK, &page)
        }
        Err(error) => {
            let status = match error {
                ApiError::Conflict(_) => StatusCode::CONFLICT,
                _ => StatusCode::BAD_REQUEST,
            };
            let mut page = shown.page(&name, None, None).await?;
            page.error = Some(lang.0.bad_bulk.fill(PageError::from(error)));
            page.add = form.add.clone();
            page.remove = form.remove.clone();
            html(status, &page)
        }
    }
}

/// `POST /segments/{name}/delete`: deletes the segment and goes back to the list.
pub(super) async fn delete(
    caller: Caller,
    req: HttpRequest,
    store: web::Data<Store>,
    clock: web::Data<Clock>,
    path: web::Path<SegmentPath>,
) -> Result<HttpResponse, PageError> {
    let (_, name) = posted_to(&req, &path)?;
    delete_recorded(&store, &caller, &name, clock.now()).await?;
    Ok(see_other("/segments", None))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tag_box_takes_commas_of_either_width_and_enumeration_commas() {
        assert_eq!(
            tag_list(" 展会线索， 兴趣:PLC,客户、 ,"),
            ["展会线索", "兴趣:PLC", "客户"]
        );
        assert!(tag_list("  ").is_empty());
    }
}
