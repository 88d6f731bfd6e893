//! `GET /api/channels?from=&to=&stage=&tag=`: follows, scans, unfollows, net and new leads per
//! channel, and each channel's funnel: of its new leads in the period, how many reached a
//! form, a lifecycle stage and a tag.
//!
//! Where the contract is silent: a channel's new leads in the funnel (its cohort) are the
//! leads first seen in the period (China-time days, inclusive) whose first channel is it,
//! counted from the leads themselves rather than the day counters, so the two may differ
//! (a lead erased since, a lead first seen by a touch other than a follow). "Reached" means
//! holds now: a lead that reached the stage and moved on to another is not counted, as the
//! lead keeps no history of the stages it left. `form` counts the cohort's leads that
//! submitted a form in the period; it is `null` when the rules declare no `[[form]]` (a count
//! of 0 would claim none was submitted where none could be). The default stage is the first lifecycle stage whose tag is or ends with
//! [`DEFAULT_STAGE`]; without one, `stage` is `null`. An empty `?stage=` or `?tag=` is the
//! same as none (what an untouched dashboard form sends).

use actix_web::{HttpResponse, web};
use chrono::{Duration, NaiveDate};
use serde::{Deserialize, Serialize};

use super::ApiError;
use crate::domain::{Clock, TagName, UnixTime};
use crate::rules::{LiveRules, Rules};
use crate::store::{
    Cohort, Counts, FUNNEL_MAX_EXAMINED, FunnelQuery, MAX_RANGE_DAYS, Store, china_time,
};

/// The name organic follows (no QR scene) are shown under.
pub const ORGANIC_NAME: &str = "自然关注";

/// The stage the funnel counts when `?stage=` names none: the lifecycle stage whose tag is
/// or ends with it.
pub const DEFAULT_STAGE: &str = "商机";

/// The query: a date range, inclusive, in China time (default the last 7 days), and the
/// funnel's stage and tag.
#[derive(Debug, Deserialize)]
pub(super) struct ReportQuery {
    from: Option<String>,
    to: Option<String>,
    stage: Option<String>,
    tag: Option<String>,
}

/// One day of one channel.
#[derive(Debug, Serialize)]
pub struct DayCounts {
    /// `yyyy-mm-dd`.
    pub date: String,
    /// The counters of that day.
    #[serde(flatten)]
    pub counts: Counts,
}

/// One channel's report.
#[derive(Debug, Serialize)]
pub struct ChannelReport {
    /// The scene; `None` for organic follows.
    pub scene: Option<String>,
    /// The channel's name from `channels/`, or the scene when no file names it.
    pub name: String,
    /// Totals over the range.
    #[serde(flatten)]
    pub counts: Counts,
    /// Every day of the range, oldest first.
    pub days: Vec<DayCounts>,
    /// Of the channel's new leads in the range, how many reached each step.
    pub funnel: Funnel,
}

/// One channel's funnel over the range.
#[derive(Debug, Clone, Serialize)]
pub struct Funnel {
    /// Leads first seen in the range whose first channel is this one.
    pub new: u64,
    /// Of them, leads that submitted a form in the range; `None` when the rules declare no
    /// `[[form]]`.
    pub form: Option<u64>,
    /// Of them, leads at the stage now; `None` when the rules have no such stage.
    pub stage: Option<Step>,
    /// Of them, leads holding the `?tag=` now; only when one is asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tag: Option<Step>,
}

/// One step of a funnel: its tag and how many of the new leads hold it.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    /// The stage or tag.
    pub name: String,
    /// How many of the new leads hold it now.
    pub leads: u64,
}

/// The steps a funnel counts past the new leads: a lifecycle stage and, when asked, a tag.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FunnelSteps {
    /// True when the rules declare a `[[form]]`, so the `form` step is counted.
    pub forms: bool,
    /// The stage tag; `None` when the rules have no stage to count.
    pub stage: Option<TagName>,
    /// The tag asked for.
    pub tag: Option<TagName>,
}

impl FunnelSteps {
    /// The default steps: the [`DEFAULT_STAGE`] stage when the rules have one, and no tag.
    pub fn default_for(rules: &Rules) -> Self {
        let stage = rules
            .stage_tags()
            .into_iter()
            .find(|tag| tag.as_str().ends_with(DEFAULT_STAGE))
            .cloned();
        Self {
            forms: rules.has_forms(),
            stage,
            tag: None,
        }
    }

    /// The steps a query names: `stage` must be one of the rules' lifecycle stage tags and
    /// `tag` a tag name; either, absent or empty, is the default.
    pub fn parse(rules: &Rules, stage: Option<&str>, tag: Option<&str>) -> Result<Self, ApiError> {
        let mut steps = Self::default_for(rules);
        if let Some(raw) = stage.filter(|raw| !raw.is_empty()) {
            let stages = rules.stage_tags();
            let found = stages.iter().find(|s| s.as_str() == raw).copied().cloned();
            steps.stage = Some(found.ok_or_else(|| {
                let names: Vec<&str> = stages.iter().map(|s| s.as_str()).collect();
                ApiError::BadRequest(if names.is_empty() {
                    format!("parameter stage: {raw:?} is no lifecycle stage; the rules have no [lifecycle]")
                } else {
                    format!(
                        "parameter stage: {raw:?} is no lifecycle stage; the stages are {}",
                        names.join(", ")
                    )
                })
            })?);
        }
        if let Some(raw) = tag.filter(|raw| !raw.is_empty()) {
            let tag = TagName::parse(raw)
                .map_err(|why| ApiError::BadRequest(format!("parameter tag: {raw:?}: {why}")))?;
            steps.tag = Some(tag);
        }
        Ok(steps)
    }

    /// The tags a funnel walk reads, in order: the stage's, then the tag's.
    fn tags(&self) -> Vec<TagName> {
        self.stage.iter().chain(&self.tag).cloned().collect()
    }

    /// A channel's funnel from its cohort (counted for [`Self::tags`]).
    fn funnel(&self, cohort: Option<&Cohort>) -> Funnel {
        let holding = |i: usize| {
            cohort
                .and_then(|c| c.holding.get(i))
                .copied()
                .unwrap_or_default()
        };
        let step = |tag: &TagName, i: usize| Step {
            name: tag.to_string(),
            leads: holding(i),
        };
        let stage = self.stage.as_ref().map(|tag| step(tag, 0));
        let tag_at = usize::from(stage.is_some());
        Funnel {
            new: cohort.map(|c| c.new).unwrap_or_default(),
            form: self
                .forms
                .then(|| cohort.map(|c| c.form).unwrap_or_default()),
            tag: self.tag.as_ref().map(|tag| step(tag, tag_at)),
            stage,
        }
    }
}

/// The per-channel report of a range, and how the funnel's walk went.
#[derive(Debug)]
pub struct Report {
    /// Every channel's report.
    pub channels: Vec<ChannelReport>,
    /// How many leads the funnel examined.
    pub examined: u64,
    /// False when the funnel stopped at its cap of leads examined: its counts are then a
    /// lower bound.
    pub complete: bool,
}

fn date(param: &str, raw: Option<&str>, default: NaiveDate) -> Result<NaiveDate, ApiError> {
    raw.map(|raw| {
        NaiveDate::parse_from_str(raw, "%Y-%m-%d").map_err(|_| {
            ApiError::BadRequest(format!(
                "parameter {param}: {raw:?} is not a date like 2026-11-22"
            ))
        })
    })
    .unwrap_or(Ok(default))
}

/// The first second of a China-time day.
fn day_start(day: NaiveDate) -> UnixTime {
    UnixTime(
        day.and_hms_opt(0, 0, 0)
            .unwrap_or_default()
            .and_local_timezone(china_time())
            .single()
            .map(|at| at.timestamp())
            .unwrap_or_default(),
    )
}

/// Builds the per-channel report for a date range: every channel in `channels/`, every
/// scene seen in the counters or the funnel, and organic follows; each channel's funnel
/// counts `steps`.
pub async fn channel_report(
    store: &Store,
    rules: &Rules,
    from: NaiveDate,
    to: NaiveDate,
    steps: &FunnelSteps,
) -> Result<Report, ApiError> {
    let counts = store.channel_counts(from, to).await?;
    let query = FunnelQuery {
        start: day_start(from),
        end: day_start(to + Duration::days(1)),
        tags: steps.tags(),
    };
    let funnel = store.funnel(&query, FUNNEL_MAX_EXAMINED).await?;
    let mut scenes: Vec<String> = rules.channels().map(|c| c.scene.to_string()).collect();
    for scene in counts.totals.keys().chain(funnel.cohorts.keys()) {
        if !scenes.contains(scene) {
            scenes.push(scene.clone());
        }
    }
    if !scenes.iter().any(String::is_empty) {
        scenes.push(String::new());
    }
    let dates: Vec<String> = from
        .iter_days()
        .take_while(|d| *d <= to)
        .map(|d| d.format("%Y-%m-%d").to_string())
        .collect();
    let channels = scenes
        .into_iter()
        .map(|scene| {
            let name = if scene.is_empty() {
                ORGANIC_NAME.to_owned()
            } else {
                crate::domain::Scene::parse(&scene)
                    .ok()
                    .and_then(|s| rules.channel(&s).map(|c| c.name.clone()))
                    .unwrap_or_else(|| scene.clone())
            };
            let days = dates
                .iter()
                .map(|date| DayCounts {
                    date: date.clone(),
                    counts: counts
                        .days
                        .get(date)
                        .and_then(|d| d.get(&scene))
                        .cloned()
                        .unwrap_or_default(),
                })
                .collect();
            ChannelReport {
                counts: counts.totals.get(&scene).cloned().unwrap_or_default(),
                funnel: steps.funnel(funnel.cohorts.get(&scene)),
                scene: (!scene.is_empty()).then_some(scene),
                name,
                days,
            }
        })
        .collect();
    Ok(Report {
        channels,
        examined: funnel.examined,
        complete: funnel.complete,
    })
}

/// The day `now` falls on, in China time.
pub fn today(now: UnixTime) -> NaiveDate {
    chrono::DateTime::from_timestamp(now.0, 0)
        .unwrap_or_default()
        .with_timezone(&china_time())
        .date_naive()
}

/// The range a query asks for, checked: `from` ≤ `to`, at most a year; the default ends
/// `today`.
pub fn range(
    from: Option<&str>,
    to: Option<&str>,
    today: NaiveDate,
) -> Result<(NaiveDate, NaiveDate), ApiError> {
    let to = date("to", to, today)?;
    let from = date("from", from, to - Duration::days(6))?;
    if from > to {
        return Err(ApiError::BadRequest(format!(
            "from {from} is after to {to}"
        )));
    }
    if (to - from).num_days() >= MAX_RANGE_DAYS {
        return Err(ApiError::BadRequest(format!(
            "the range {from} to {to} is longer than {MAX_RANGE_DAYS} days"
        )));
    }
    Ok((from, to))
}

/// `GET /api/channels?from=YYYY-MM-DD&to=YYYY-MM-DD&stage=&tag=`.
pub(super) async fn report(
    store: web::Data<Store>,
    rules: web::Data<LiveRules>,
    clock: web::Data<Clock>,
    query: web::Query<ReportQuery>,
) -> Result<HttpResponse, ApiError> {
    let today = today(clock.now());
    let (from, to) = range(query.from.as_deref(), query.to.as_deref(), today)?;
    let rules = rules.load();
    let steps = FunnelSteps::parse(&rules, query.stage.as_deref(), query.tag.as_deref())?;
    let report = channel_report(&store, &rules, from, to, &steps).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "from": from.to_string(),
        "to": to.to_string(),
        "channels": report.channels,
        "funnel": {"examined": report.examined, "complete": report.complete},
    })))
}
