//! The tags page (`/tags`): the derived tags by kind (rule, tiers, lifecycle, preference),
//! each with what gives it and how many leads hold it; how many leads carry each tag, as
//! bars; each tag's WeChat sync state; and the sync worker's dead letters, changes WeChat
//! will never accept. It links to the preview of the rules ([`super::preview`]).
//!
//! Which tags are derived, and what gives each (`rule:<name>`, `tiers:<name>`, `lifecycle`,
//! `preference:<name>`), comes from the rules in force ([`Rules::derived_source`]); the
//! counts are the tag counts the bars show, so the section costs no extra read.

use actix_web::{HttpResponse, http::StatusCode, web};
use askama::Template;

use super::labels::{derived_kind, short_time};
use super::words::Words;
use super::{Lang, Nav, PageError, html};
use crate::domain::UnixTime;
use crate::rules::{LiveRules, Rules};
use crate::store::{DeadLetter, Store, TagCount, TagState, rfc3339};

/// How many dead letters the page lists (the newest).
const DEAD_LETTERS_SHOWN: usize = 100;

/// A tag's state in WeChat, as the page shows it (see [`TagState`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SyncState {
    External,
    Synced,
    Unsynced,
    Pending,
}

impl SyncState {
    fn label(self, t: &'static Words) -> &'static str {
        match self {
            SyncState::External => t.sync_external,
            SyncState::Synced => t.sync_synced,
            SyncState::Unsynced => t.sync_unsynced,
            SyncState::Pending => t.sync_pending,
        }
    }

    fn class(self) -> &'static str {
        match self {
            SyncState::External | SyncState::Synced => "ok",
            SyncState::Unsynced => "bad",
            SyncState::Pending => "wait",
        }
    }
}

/// One tag's row.
#[derive(Debug)]
struct TagRow {
    name: String,
    leads: u64,
    /// The bar's length, 0 to 100, relative to the most-used tag.
    percent: f64,
    state: SyncState,
    wechat_id: Option<u64>,
    reason: String,
    first_applied: String,
}

/// One derived tag: what gives it and how many leads hold it.
#[derive(Debug)]
struct DerivedRow {
    /// The rule, tier list or preference (the stage tag for a stage).
    name: String,
    tag: String,
    leads: u64,
}

/// The derived tags of one kind.
#[derive(Debug)]
struct DerivedGroup {
    /// The kind in words.
    kind: &'static str,
    rows: Vec<DerivedRow>,
}

/// The kinds of derived sources, in the order the page shows them.
const DERIVED_KINDS: [&str; 4] = ["rule", "tiers", "lifecycle", "preference"];

/// One dead letter's row.
#[derive(Debug)]
struct DeadRow {
    letter: DeadLetter,
    at: String,
    op: &'static str,
}

/// The tags page.
#[derive(Template)]
#[template(path = "tags.html")]
struct TagsPage {
    nav: Nav,
    derived: Vec<DerivedGroup>,
    rows: Vec<TagRow>,
    dead: Vec<DeadRow>,
    dead_total: u64,
}

/// A sync operation in words.
fn op_label(t: &'static Words, op: &str) -> &'static str {
    match op {
        "add" | "tag" | "batchtagging" => t.op_tag,
        "remove" | "untag" | "batchuntagging" => t.op_untag,
        "create" => t.op_create,
        _ => t.other,
    }
}

/// The kind and name of what gives `tag`, from its derived source (`lifecycle` is named
/// after the stage, the tag itself).
fn given_by(source: &str, tag: &str) -> Option<(&'static str, String)> {
    let (kind, name) = source.split_once(':').unwrap_or((source, tag));
    let kind = DERIVED_KINDS.into_iter().find(|k| *k == kind)?;
    Some((kind, name.to_owned()))
}

/// The derived tags leads hold, grouped by kind in [`DERIVED_KINDS`]' order, each named
/// after the rule, tier list, stage or preference that gives it.
fn derived_groups(t: &'static Words, rules: &Rules, counts: &[TagCount]) -> Vec<DerivedGroup> {
    let mut found: Vec<(&'static str, DerivedRow)> = counts
        .iter()
        .filter(|count| count.leads > 0)
        .filter_map(|count| {
            let source = rules.derived_source(&count.name)?;
            let (kind, name) = given_by(&source, &count.name)?;
            let row = DerivedRow {
                name,
                tag: count.name.clone(),
                leads: count.leads,
            };
            Some((kind, row))
        })
        .collect();
    found.sort_by(|(_, a), (_, b)| a.name.cmp(&b.name).then_with(|| a.tag.cmp(&b.tag)));
    DERIVED_KINDS
        .into_iter()
        .filter_map(|kind| {
            let rows: Vec<DerivedRow> = found
                .extract_if(.., |(k, _)| *k == kind)
                .map(|(_, row)| row)
                .collect();
            let label = derived_kind(t, kind)?;
            (!rows.is_empty()).then_some(DerivedGroup { kind: label, rows })
        })
        .collect()
}

/// `GET /tags`.
pub(super) async fn page(
    lang: Lang,
    store: web::Data<Store>,
    rules: web::Data<LiveRules>,
) -> Result<HttpResponse, PageError> {
    let counts = store.tag_counts().await?;
    let derived = derived_groups(lang.0, &rules.load(), &counts);
    let sync = store.tag_sync().await?;
    let dead = store.dead_letters(DEAD_LETTERS_SHOWN).await?;

    let row = |name: String, leads: u64, first_applied: String| {
        let wechat_id = sync.wechat_ids.get(&name).copied();
        let (state, reason) = match sync.state_of(&name) {
            TagState::External => (SyncState::External, String::new()),
            TagState::Unsynced(reason) => (SyncState::Unsynced, reason),
            TagState::Synced => (SyncState::Synced, String::new()),
            TagState::Pending => (SyncState::Pending, String::new()),
        };
        TagRow {
            name,
            leads,
            percent: 0.0,
            state,
            wechat_id,
            reason,
            first_applied,
        }
    };
    let mut rows: Vec<TagRow> = counts
        .into_iter()
        .map(|t| {
            let first_applied = short_time(&rfc3339(UnixTime(t.first_applied)));
            row(t.name, t.leads, first_applied)
        })
        .collect();
    for name in &sync.external {
        if !rows.iter().any(|r| &r.name == name) {
            rows.push(row(name.clone(), 0, String::new()));
        }
    }
    rows.sort_by(|a, b| b.leads.cmp(&a.leads).then_with(|| a.name.cmp(&b.name)));
    let most = rows.first().map_or(0, |r| r.leads).max(1) as f64;
    for row in &mut rows {
        row.percent = (row.leads as f64 / most * 1000.0).round() / 10.0;
    }

    let page = TagsPage {
        nav: lang.nav("tags"),
        derived,
        rows,
        dead: dead
            .newest
            .into_iter()
            .map(|letter| DeadRow {
                at: short_time(&letter.at),
                op: op_label(lang.0, &letter.op),
                letter,
            })
            .collect(),
        dead_total: dead.total,
    };
    html(StatusCode::OK, &page)
}
