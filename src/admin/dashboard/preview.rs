//! The preview page (`/preview`): what the rules over time would do to the existing leads
//! now, for the rules in force and for the files on disk (read afresh on each request, so a
//! marketer sees the effect of an edit before the reload that puts it in force).
//!
//! Each table has one row per rule, tier list, stage and preference ([`preview::preview`],
//! the computation `wxtag check --preview` prints): how many leads it would tag and untag.
//! Both tables preview the same leads, the first [`PREVIEW_LEADS`] (so a request's work is
//! bounded), and say so when there are more; files that do not load show their mistakes
//! instead of a table.

use std::path::PathBuf;

use actix_web::{HttpResponse, http::StatusCode, web};
use askama::Template;

use super::labels::derived_kind;
use super::words::Words;
use super::{Lang, Nav, PageError, html};
use crate::domain::Clock;
use crate::rules::preview::{self, Preview};
use crate::rules::{LiveRules, Rules};
use crate::store::Store;

/// How many leads one preview request reads, oldest first.
const PREVIEW_LEADS: u64 = 2_000;

/// Where the rules in force were loaded from, so the preview can read the files on disk as
/// a reload would: the `channels/` folder and `WXTAG_HISTORY_DAYS`. Registered as app data.
#[derive(Debug, Clone)]
pub struct RulesFolder {
    /// The `channels/` folder.
    pub dir: PathBuf,
    /// How many days of touch history are kept: the longest window a rule may ask for.
    pub history_days: u32,
}

/// One row of a preview table.
#[derive(Debug)]
struct Row {
    /// `rule`, `tiers`, `lifecycle` or `preference`, as in the files.
    code: &'static str,
    /// The same in words.
    kind: &'static str,
    name: String,
    tag: u64,
    untag: u64,
}

/// One preview table.
#[derive(Debug)]
struct Table {
    rows: Vec<Row>,
    leads: u64,
    complete: bool,
}

impl Table {
    fn new(t: &'static Words, preview: Preview) -> Self {
        Self {
            rows: preview
                .rows
                .into_iter()
                .map(|row| Row {
                    code: row.kind,
                    kind: derived_kind(t, row.kind).unwrap_or(t.other),
                    name: row.name,
                    tag: row.tag,
                    untag: row.untag,
                })
                .collect(),
            leads: preview.leads,
            complete: preview.complete,
        }
    }
}

/// The preview page.
#[derive(Template)]
#[template(path = "preview.html")]
struct PreviewPage {
    nav: Nav,
    folder: String,
    live: Table,
    /// The files on disk previewed; `None` when they do not load.
    disk: Option<Table>,
    /// Why the files on disk do not load.
    errors: Vec<String>,
    /// The warnings of loading the files on disk.
    warnings: Vec<String>,
}

/// `GET /preview`: the rules in force and the files on disk, each previewed on the first
/// [`PREVIEW_LEADS`] leads.
pub(super) async fn page(
    lang: Lang,
    store: web::Data<Store>,
    rules: web::Data<LiveRules>,
    clock: web::Data<Clock>,
    folder: web::Data<RulesFolder>,
) -> Result<HttpResponse, PageError> {
    let t = lang.0;
    let now = clock.now();
    let (dir, days) = (folder.dir.clone(), folder.history_days);
    let lines = |diagnostics: &[crate::rules::Diagnostic]| -> Vec<String> {
        diagnostics.iter().map(ToString::to_string).collect()
    };
    let in_force = rules.load();
    let on_disk = web::block(move || Rules::load_with(&dir, days)).await?;
    let mut rule_sets = vec![&*in_force];
    rule_sets.extend(on_disk.as_ref().ok().map(|loaded| &loaded.rules));
    // One read of the leads serves both tables; the previews come in `rule_sets`' order.
    let mut previews = preview::preview(&rule_sets, &store, now, Some(PREVIEW_LEADS))
        .await?
        .into_iter();
    let live = Table::new(t, previews.next().unwrap_or_default());
    let disk = previews.next().map(|fresh| Table::new(t, fresh));
    let (errors, warnings) = match &on_disk {
        Ok(loaded) => (Vec::new(), lines(&loaded.warnings)),
        Err(failed) => (lines(&failed.errors), lines(&failed.warnings)),
    };
    let page = PreviewPage {
        nav: lang.nav("tags"),
        folder: folder.dir.display().to_string(),
        live,
        disk,
        errors,
        warnings,
    };
    html(StatusCode::OK, &page)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admin::dashboard::words::{EN, ZH};

    fn page(t: &'static Words, complete: bool) -> String {
        let table = |leads| Table {
            rows: vec![Row {
                code: "rule",
                kind: derived_kind(t, "rule").unwrap_or(t.other),
                name: "PLC <高意向>".to_owned(),
                tag: 3,
                untag: 1,
            }],
            leads,
            complete,
        };
        PreviewPage {
            nav: Lang(t).nav("tags"),
            folder: "channels".to_owned(),
            live: table(PREVIEW_LEADS),
            disk: None,
            errors: vec!["channels/20.toml:3: when: bad".to_owned()],
            warnings: Vec::new(),
        }
        .render()
        .unwrap()
    }

    #[test]
    fn a_bounded_preview_says_so_and_names_the_command_that_reads_every_lead() {
        let body = page(&EN, false);
        assert!(body.contains(
            "Only the first 2000 leads were read; <code>wxtag check --preview</code> reads them all."
        ));
        assert!(
            body.contains("data-name=\"PLC &#60;高意向&#62;\""),
            "escaped: {body}"
        );
        assert!(body.contains("<code>channels/20.toml:3: when: bad</code>"));
        assert!(!body.contains("id=\"preview-disk\""));
        let body = page(&ZH, true);
        assert!(body.contains("读取了全部 2000 个线索。"));
        assert!(!body.contains("wxtag check --preview"));
    }
}
