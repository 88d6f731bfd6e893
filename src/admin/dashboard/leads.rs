//! The lead pages: `/leads` finds leads by openid, tag, channel and subscription;
//! `/leads/{openid}` shows where one lead came from, its score and stage, its tags with when
//! and why (a derived tag's why in words, from [`lead_view::lead_view`]), and its timeline, and
//! lets sales add and remove their own tags (never a derived one).

use actix_web::{HttpRequest, HttpResponse, http::StatusCode, web};
use askama::Template;
use serde::Deserialize;

use super::labels::{ChannelName, Why, channel_name, event_kind, short_time, why};
use super::words::Words;
use super::{Lang, Nav, PageError, html, same_origin, see_other};
use crate::admin::leads::{ADMIN_SOURCE, DerivedTag, first_derived};
use crate::admin::{Caller, audit};
use crate::domain::{Clock, OpenId, Scene, TagName};
use crate::rules::LiveRules;
use crate::rules::Rules;
use crate::rules::lead_view;
use crate::store::{Lead, LeadFilter, Store};

/// Leads per page of the list.
const PAGE_SIZE: usize = 50;

/// The search form; empty fields are ignored.
#[derive(Debug, Default, Deserialize)]
pub(super) struct SearchQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    tag: String,
    #[serde(default)]
    channel: String,
    #[serde(default)]
    subscribed: String,
    cursor: Option<String>,
}

/// A lead's subscription as a badge: its CSS state and its label.
#[derive(Debug)]
struct Subscription {
    state: &'static str,
    label: &'static str,
}

impl Subscription {
    /// The badge of a lead that follows, unfollowed, or was never seen following (`None`).
    fn of(t: &Words, subscribed: Option<bool>) -> Self {
        match subscribed {
            Some(true) => Self {
                state: "ok",
                label: t.subscribed,
            },
            Some(false) => Self {
                state: "bad",
                label: t.unsubscribed,
            },
            None => Self {
                state: "",
                label: t.never_followed,
            },
        }
    }
}

/// One lead in the list.
#[derive(Debug)]
struct LeadRow {
    openid: String,
    subscription: Subscription,
    first_channel: String,
    tags: Vec<String>,
    last_seen: String,
}

/// The lead list and its search form.
#[derive(Template)]
#[template(path = "leads.html")]
struct LeadsPage {
    nav: Nav,
    q: String,
    tag: String,
    channel: String,
    subscribed: String,
    error: Option<String>,
    tag_options: Vec<String>,
    channel_options: Vec<ChannelName>,
    rows: Vec<LeadRow>,
    next_cursor: Option<String>,
}

/// One tag on the lead page.
#[derive(Debug)]
struct TagRow {
    name: String,
    at: String,
    why: Why,
    /// A derived tag's why in words (e.g. "3 touches in 30 days, last 2026-12-01 10:02").
    detail: Option<String>,
    /// Given and taken by the rules over time, never by hand.
    derived: bool,
    /// Added by sales (and not derived), so sales may remove it here.
    own: bool,
}

/// One form field on the lead page.
#[derive(Debug)]
struct FieldRow {
    name: String,
    value: String,
    form: String,
    at: String,
    /// Known by the form link's token (a forward may have filled it in).
    by_link: bool,
}

/// One timeline entry on the lead page.
#[derive(Debug)]
struct EventRow {
    at: String,
    kind: &'static str,
    detail: String,
}

/// One lead's page.
#[derive(Template)]
#[template(path = "lead.html")]
struct LeadView {
    nav: Nav,
    openid: String,
    subscription: Subscription,
    first_channel: ChannelName,
    path: Vec<ChannelName>,
    first_seen: String,
    last_seen: String,
    location: Option<String>,
    /// The UnionID web authorisation gave, if any.
    unionid: Option<String>,
    /// The id another system knows the lead by, once joined.
    external_id: Option<String>,
    /// Who asked that the lead not be contacted, and when.
    do_not_contact: Option<String>,
    /// How wxtag learnt the user blacklisted the account, and when.
    blacklisted: Option<String>,
    /// The score now, with two decimals; `None` where the page is shown without it.
    score: Option<String>,
    /// The stage tag; `None` without a `[lifecycle]`.
    stage: Option<String>,
    tags: Vec<TagRow>,
    /// Some tag is derived, so the page says what that means.
    any_derived: bool,
    fields: Vec<FieldRow>,
    events: Vec<EventRow>,
    tag_options: Vec<String>,
    /// Why the last tag edit was refused, and the text that was refused.
    error: Option<String>,
    draft: String,
}

fn non_empty(raw: &str) -> Option<&str> {
    Some(raw.trim()).filter(|s| !s.is_empty())
}

/// Every tag ever applied, by name, for the pickers.
pub(super) async fn tag_options(store: &Store) -> Result<Vec<String>, PageError> {
    let mut names: Vec<String> = store
        .tag_counts()
        .await?
        .into_iter()
        .map(|t| t.name)
        .collect();
    names.sort();
    Ok(names)
}

/// `GET /leads?q=&tag=&channel=&subscribed=&cursor=`: an openid goes straight to its lead;
/// otherwise a page of leads matching the filters.
pub(super) async fn list(
    lang: Lang,
    store: web::Data<Store>,
    rules: web::Data<LiveRules>,
    query: web::Query<SearchQuery>,
) -> Result<HttpResponse, PageError> {
    let t = lang.0;
    let query = query.into_inner();
    let mut error = None;
    let mut filter = LeadFilter::default();
    if let Some(q) = non_empty(&query.q) {
        match OpenId::parse(q) {
            Ok(openid) if store.lead(&openid).await?.is_some() => {
                return Ok(see_other(&format!("/leads/{openid}"), None));
            }
            Ok(_) => error = Some(t.no_lead.fill(q)),
            Err(why) => error = Some(t.bad_openid.fill(why)),
        }
    }
    if let Some(tag) = non_empty(&query.tag) {
        match TagName::parse(tag) {
            Ok(tag) => filter.tag = Some(tag),
            Err(why) => error = Some(t.bad_tag.fill(why)),
        }
    }
    if let Some(scene) = non_empty(&query.channel) {
        match Scene::parse(scene) {
            Ok(scene) => filter.channel = Some(scene),
            Err(why) => error = Some(t.bad_channel.fill(why)),
        }
    }
    filter.subscribed = match query.subscribed.as_str() {
        "true" => Some(true),
        "false" => Some(false),
        _ => None,
    };

    let rules = rules.load();
    let (rows, next_cursor) = if error.is_some() {
        (Vec::new(), None)
    } else {
        let page = store
            .leads(&filter, PAGE_SIZE, query.cursor.as_deref())
            .await
            .map_err(crate::admin::ApiError::from)?;
        let rows = page
            .leads
            .into_iter()
            .map(|lead| LeadRow {
                first_channel: channel_name(t, &rules, lead.first_channel.as_deref()).name,
                tags: lead.tags.into_iter().map(|t| t.name).collect(),
                last_seen: short_time(&lead.last_seen),
                subscription: Subscription::of(t, lead.subscribed),
                openid: lead.openid.to_string(),
            })
            .collect();
        (rows, page.next_cursor)
    };
    let page = LeadsPage {
        nav: lang.nav("leads"),
        tag_options: tag_options(&store).await?,
        channel_options: rules
            .channels()
            .map(|c| channel_name(t, &rules, Some(c.scene.as_str())))
            .collect(),
        q: query.q,
        tag: query.tag,
        channel: query.channel,
        subscribed: query.subscribed,
        rows,
        next_cursor,
        error,
    };
    let status = if page.error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    html(status, &page)
}

impl LeadView {
    fn new(lang: Lang, lead: Lead, rules: &Rules, tag_options: Vec<String>) -> Self {
        let t = lang.0;
        let tags = lead
            .tags
            .into_iter()
            .map(|tag| {
                let derived = rules.is_derived(&tag.name);
                TagRow {
                    own: tag.source == ADMIN_SOURCE && !derived,
                    derived,
                    why: why(t, rules, &tag.source),
                    // Another tag's why is its source in words (and its time), shown already.
                    detail: tag.detail.filter(|_| derived),
                    at: short_time(&tag.at),
                    name: tag.name,
                }
            })
            .collect::<Vec<TagRow>>();
        let fields = lead
            .fields
            .into_iter()
            .map(|(name, f)| FieldRow {
                name,
                value: f.value,
                form: f.form.unwrap_or_default(),
                at: f.at.as_deref().map(short_time).unwrap_or_default(),
                by_link: f.identity.as_deref() == Some("link"),
            })
            .collect();
        let events = lead
            .events
            .unwrap_or_default()
            .into_iter()
            .map(|e| EventRow {
                at: short_time(&e.at),
                kind: event_kind(t, &e.kind),
                detail: match e.kind.as_str() {
                    "follow" | "scan" if !e.detail.is_empty() => {
                        channel_name(t, rules, Some(&e.detail)).name
                    }
                    _ => e.detail,
                },
            })
            .collect();
        Self {
            nav: lang.nav("leads"),
            first_channel: channel_name(t, rules, lead.first_channel.as_deref()),
            path: lead
                .channels
                .iter()
                .filter(|s| !s.is_empty())
                .map(|s| channel_name(t, rules, Some(s)))
                .collect(),
            openid: lead.openid.to_string(),
            subscription: Subscription::of(t, lead.subscribed),
            first_seen: short_time(&lead.first_seen),
            last_seen: short_time(&lead.last_seen),
            location: lead.last_location,
            unionid: lead.unionid,
            external_id: lead.external_id,
            do_not_contact: lead
                .do_not_contact
                .map(|f| format!("{} · {}", f.source, short_time(&f.at))),
            blacklisted: lead
                .blacklisted
                .map(|f| format!("{} · {}", f.source, short_time(&f.at))),
            score: None,
            stage: None,
            any_derived: tags.iter().any(|tag| tag.derived),
            tags,
            fields,
            events,
            tag_options,
            error: None,
            draft: String::new(),
        }
    }
}

/// The openid of a path segment, or the page that says why it is none.
fn openid_of(t: &Words, raw: &str) -> Result<OpenId, PageError> {
    OpenId::parse(raw).map_err(|why| PageError::BadRequest(t.bad_openid.fill(why)))
}

/// The lead of a path segment, or the page that says why there is none.
async fn find(t: &Words, store: &Store, raw: &str) -> Result<Lead, PageError> {
    let openid = openid_of(t, raw)?;
    store
        .lead(&openid)
        .await?
        .ok_or_else(|| PageError::NotFound(t.no_lead.fill(&openid)))
}

/// `GET /leads/{openid}`: one lead, with its score, stage and the why of each tag now.
pub(super) async fn page(
    lang: Lang,
    store: web::Data<Store>,
    rules: web::Data<LiveRules>,
    clock: web::Data<Clock>,
    openid: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let t = lang.0;
    let openid = openid_of(t, &openid)?;
    let rules = rules.load();
    let lead = lead_view::lead_view(&store, &rules, &openid, clock.now())
        .await?
        .ok_or_else(|| PageError::NotFound(t.no_lead.fill(&openid)))?;
    let mut view = LeadView::new(lang, lead.lead, &rules, tag_options(&store).await?);
    view.score = Some(format!("{:.2}", lead.score));
    view.stage = lead.stage;
    html(StatusCode::OK, &view)
}

/// The tag form: one tag to add or one to remove.
#[derive(Debug, Deserialize)]
pub(super) struct TagForm {
    #[serde(default)]
    add: String,
    #[serde(default)]
    remove: String,
}

/// `POST /leads/{openid}/tags`: adds or removes one of sales' own tags, then shows the lead
/// again; a bad tag name (400) or a derived tag (409, nothing changed) shows the lead with why.
pub(super) async fn edit_tags(
    caller: Caller,
    req: HttpRequest,
    store: web::Data<Store>,
    rules: web::Data<LiveRules>,
    clock: web::Data<Clock>,
    openid: web::Path<String>,
    form: web::Form<TagForm>,
) -> Result<HttpResponse, PageError> {
    // The language as the `Lang` extractor picks it, read from the request already at hand.
    let lang = Lang(super::words::for_request(&req));
    same_origin(&req)?;
    let lead = find(lang.0, &store, &openid).await?;
    let parse = |raw: &str| non_empty(raw).map(TagName::parse).transpose();
    let (add, remove) = match (parse(&form.add), parse(&form.remove)) {
        (Ok(add), Ok(remove)) => (add, remove),
        (Err(why), _) | (_, Err(why)) => {
            let mut view = LeadView::new(lang, lead, &rules.load(), tag_options(&store).await?);
            view.error = Some(lang.0.bad_tag.fill(why));
            view.draft = form.add.clone();
            return html(StatusCode::BAD_REQUEST, &view);
        }
    };
    let add: Vec<TagName> = add.into_iter().collect();
    let remove: Vec<TagName> = remove.into_iter().collect();
    let rules = rules.load();
    if let Some(tag) = first_derived(&rules, &add, &remove) {
        let derived = DerivedTag::held_in(tag, &lead.tags);
        let why = match derived.by {
            Some(by) => format!("{tag} ({by})"),
            None => tag.to_string(),
        };
        let error = lang.0.derived_tag.fill(why);
        let mut view = LeadView::new(lang, lead, &rules, tag_options(&store).await?);
        view.error = Some(error);
        return html(StatusCode::CONFLICT, &view);
    }
    if !add.is_empty() || !remove.is_empty() {
        let now = clock.now();
        store
            .edit_tags(
                &lead.openid,
                &add,
                &remove,
                ADMIN_SOURCE,
                &rules.watch().edited_mask(&add, &remove),
                now,
            )
            .await?;
        audit::record(&store, now, &caller.name, "tags.edit", lead.openid.as_str()).await;
    }
    Ok(see_other(&format!("/leads/{}#tags", lead.openid), None))
}

/// `GET /leads/{openid}/tags`: the lead's tags on its page. A tag form posted after the
/// login expired comes back here once the browser has logged in again.
pub(super) async fn tags_anchor(openid: web::Path<String>) -> HttpResponse {
    match OpenId::parse(&openid) {
        Ok(openid) => see_other(&format!("/leads/{openid}#tags"), None),
        Err(_) => see_other("/leads", None),
    }
}
