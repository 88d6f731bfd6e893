//! `GET /api/channels?from=&to=`: follows, scans, unfollows, net and new leads per channel.

use actix_web::{HttpResponse, web};
use chrono::{Duration, NaiveDate};
use serde::{Deserialize, Serialize};

use super::ApiError;
use crate::domain::{Clock, UnixTime};
use crate::rules::LiveRules;
use crate::store::{Counts, MAX_RANGE_DAYS, Store, china_time};

/// The name organic follows (no QR scene) are shown under.
pub const ORGANIC_NAME: &str = "自然关注";

/// The query: a date range, inclusive, in China time; default the last 7 days.
#[derive(Debug, Deserialize)]
pub(super) struct RangeQuery {
    from: Option<String>,
    to: Option<String>,
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

/// Builds the per-channel report for a date range: every channel in `channels/`, every
/// scene seen in the counters, and organic follows.
pub async fn channel_report(
    store: &Store,
    rules: &LiveRules,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<ChannelReport>, ApiError> {
    let counts = store.channel_counts(from, to).await?;
    let rules = rules.load();
    let mut scenes: Vec<String> = rules.channels().map(|c| c.scene.to_string()).collect();
    for scene in counts.totals.keys() {
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
    Ok(scenes
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
                scene: (!scene.is_empty()).then_some(scene),
                name,
                days,
            }
        })
        .collect())
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

/// `GET /api/channels?from=YYYY-MM-DD&to=YYYY-MM-DD`.
pub(super) async fn report(
    store: web::Data<Store>,
    rules: web::Data<LiveRules>,
    clock: web::Data<Clock>,
    query: web::Query<RangeQuery>,
) -> Result<HttpResponse, ApiError> {
    let today = today(clock.now());
    let (from, to) = range(query.from.as_deref(), query.to.as_deref(), today)?;
    let channels = channel_report(&store, &rules, from, to).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "from": from.to_string(),
        "to": to.to_string(),
        "channels": channels,
    })))
}
