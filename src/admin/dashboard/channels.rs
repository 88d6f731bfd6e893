//! The channels page (`/`): which channel brought how many follows, scans, unfollows, net and
//! new leads over a date range, a per-day chart, each channel's QR code to download, and the
//! funnel by channel (new leads → form → stage → tag, as `GET /api/channels` counts it).

use actix_web::{HttpResponse, http::StatusCode, web};
use askama::Template;
use chrono::{Datelike, Duration, NaiveDate};
use serde::Deserialize;

use super::chart::{PALETTE, Series, StackedChart};
use super::leads::tag_options;
use super::segments::path_part;
use super::words::Words;
use super::{Lang, Nav, PageError, html};
use crate::admin::ApiError;
use crate::admin::channels::{
    ChannelReport, Funnel, FunnelSteps, Step, channel_report, range, today,
};
use crate::domain::Clock;
use crate::rules::LiveRules;
use crate::store::{Counts, Store};

/// The query: a date range, the chart's metric, and the funnel's stage and tag.
#[derive(Debug, Deserialize)]
pub(super) struct PageQuery {
    from: Option<String>,
    to: Option<String>,
    metric: Option<String>,
    stage: Option<String>,
    tag: Option<String>,
}

/// The counter the chart shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Metric {
    Leads,
    Follows,
    Scans,
    Unfollows,
    Net,
    Visits,
}

impl Metric {
    const ALL: [Metric; 6] = [
        Metric::Leads,
        Metric::Follows,
        Metric::Scans,
        Metric::Unfollows,
        Metric::Net,
        Metric::Visits,
    ];

    fn key(self) -> &'static str {
        match self {
            Metric::Leads => "leads",
            Metric::Follows => "follows",
            Metric::Scans => "scans",
            Metric::Unfollows => "unfollows",
            Metric::Net => "net",
            Metric::Visits => "visits",
        }
    }

    fn label(self, t: &'static Words) -> &'static str {
        match self {
            Metric::Leads => t.leads,
            Metric::Follows => t.follows,
            Metric::Scans => t.scans,
            Metric::Unfollows => t.unfollows,
            Metric::Net => t.net,
            Metric::Visits => t.visits,
        }
    }

    fn of(self, counts: &Counts) -> i64 {
        match self {
            Metric::Leads => counts.leads,
            Metric::Follows => counts.follows,
            Metric::Scans => counts.scans,
            Metric::Unfollows => counts.unfollows,
            Metric::Net => counts.net,
            Metric::Visits => counts.visits,
        }
    }
}

/// A link to a range or a metric, marked when it is the one shown.
#[derive(Debug)]
struct Choice {
    label: &'static str,
    href: String,
    active: bool,
}

/// One channel's row of the table.
#[derive(Debug)]
struct Row {
    name: String,
    /// The scene, for the QR download and the lead list; `None` for organic follows.
    scene: Option<String>,
    /// True when `channels/` defines the channel with a `[[qr]]`, so a code can be made.
    has_code: bool,
    /// True when `channels/` defines it as a `[[channel]]`: its links carry `?ch=`.
    link_only: bool,
    counts: Counts,
    /// Its colour in the chart and legend: an index into the stylesheet's palette.
    colour: usize,
    /// In the chart (some value of the metric is not zero).
    charted: bool,
    /// Its funnel.
    funnel: FunnelRow,
}

/// One row of the funnel table: the new leads, then each step with its share of them.
#[derive(Debug, Default)]
struct FunnelRow {
    new: u64,
    /// `None` when the rules declare no form (see `admin::channels`).
    form: Option<Cell>,
    stage: Option<Cell>,
    tag: Option<Cell>,
}

/// A step's count and its share of the new leads, as shown (`—` with no new lead).
#[derive(Debug)]
struct Cell {
    leads: u64,
    share: String,
}

impl Cell {
    fn of(leads: u64, new: u64) -> Self {
        let share = match new {
            0 => "—".to_owned(),
            new => format!("{}%", (leads * 100 + new / 2) / new),
        };
        Self { leads, share }
    }
}

impl FunnelRow {
    fn of(funnel: &Funnel) -> Self {
        let cell = |step: &Option<Step>| step.as_ref().map(|s| Cell::of(s.leads, funnel.new));
        Self {
            new: funnel.new,
            form: funnel.form.map(|n| Cell::of(n, funnel.new)),
            stage: cell(&funnel.stage),
            tag: cell(&funnel.tag),
        }
    }

    /// The totals row of `rows`.
    fn total<'a>(rows: impl Iterator<Item = &'a FunnelRow> + Clone) -> Self {
        let new = rows.clone().map(|r| r.new).sum();
        let sum = |pick: fn(&FunnelRow) -> Option<&Cell>| {
            let mut cells = rows.clone().filter_map(pick).peekable();
            cells.peek()?;
            Some(Cell::of(cells.map(|c| c.leads).sum(), new))
        };
        Self {
            new,
            form: sum(|r| r.form.as_ref()),
            stage: sum(|r| r.stage.as_ref()),
            tag: sum(|r| r.tag.as_ref()),
        }
    }
}

/// A lifecycle stage in the funnel form's picker.
#[derive(Debug)]
struct StageOption {
    tag: String,
    selected: bool,
}

/// The channels page.
#[derive(Template)]
#[template(path = "channels.html")]
struct ChannelsPage {
    nav: Nav,
    from: String,
    to: String,
    metric: &'static str,
    metric_label: &'static str,
    error: Option<String>,
    ranges: Vec<Choice>,
    metrics: Vec<Choice>,
    rows: Vec<Row>,
    totals: Counts,
    /// The channel with the most new leads, when any channel brought one.
    best: Option<String>,
    chart: StackedChart,
    /// The funnel's stage, when there is one to count.
    stage: Option<String>,
    /// The funnel's tag, when asked for.
    tag: Option<String>,
    /// The lifecycle stages, for the funnel form.
    stages: Vec<StageOption>,
    /// Every tag ever applied, for the funnel form's tag field.
    tag_options: Vec<String>,
    /// Why the funnel's stage or tag cannot be counted.
    funnel_error: Option<String>,
    /// The funnel's totals row.
    funnel_total: FunnelRow,
    /// How many leads the funnel examined, when it stopped at its cap.
    incomplete: Option<u64>,
}

/// The preset ranges: last 7 days, last calendar week (Monday to Sunday), this month, 30 days.
fn presets(t: &'static Words, today: NaiveDate) -> [(&'static str, NaiveDate, NaiveDate); 4] {
    let this_monday = today - Duration::days(i64::from(today.weekday().num_days_from_monday()));
    [
        (t.last_7_days, today - Duration::days(6), today),
        (
            t.last_week,
            this_monday - Duration::days(7),
            this_monday - Duration::days(1),
        ),
        (t.this_month, today.with_day(1).unwrap_or(today), today),
        (t.last_30_days, today - Duration::days(29), today),
    ]
}

/// A link to the page for a range and metric, keeping the funnel's steps.
fn href(from: &str, to: &str, metric: Metric, steps: &FunnelSteps) -> String {
    let mut href = format!("/?from={from}&to={to}&metric={}", metric.key());
    if let Some(stage) = &steps.stage {
        href.push_str(&format!("&stage={}", path_part(stage.as_str())));
    }
    if let Some(tag) = &steps.tag {
        href.push_str(&format!("&tag={}", path_part(tag.as_str())));
    }
    href
}

/// `GET /?from=&to=&metric=&stage=&tag=`: the channels page; a bad range shows why and the
/// last 7 days, a bad stage or tag why and the default funnel.
pub(super) async fn page(
    lang: Lang,
    store: web::Data<Store>,
    rules: web::Data<LiveRules>,
    clock: web::Data<Clock>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, PageError> {
    let metric = Metric::ALL
        .into_iter()
        .find(|m| Some(m.key()) == query.metric.as_deref())
        .unwrap_or(Metric::Leads);
    let today = today(clock.now());
    let (from, to, error) = match range(query.from.as_deref(), query.to.as_deref(), today) {
        Ok((from, to)) => (from, to, None),
        Err(ApiError::BadRequest(why)) => (today - Duration::days(6), today, Some(why)),
        Err(other) => return Err(other.into()),
    };
    let t = lang.0;
    let loaded = rules.load();
    let (steps, funnel_error) =
        match FunnelSteps::parse(&loaded, query.stage.as_deref(), query.tag.as_deref()) {
            Ok(steps) => (steps, None),
            Err(ApiError::BadRequest(why)) => (FunnelSteps::default_for(&loaded), Some(why)),
            Err(other) => return Err(other.into()),
        };
    let report = channel_report(&store, &loaded, from, to, &steps).await?;
    let (from, to) = (from.to_string(), to.to_string());

    let mut rows: Vec<(Row, ChannelReport)> = report
        .channels
        .into_iter()
        .map(|channel| {
            let configured = channel
                .scene
                .as_deref()
                .and_then(|s| crate::domain::Scene::parse(s).ok())
                .and_then(|s| loaded.channel(&s).map(|c| c.code.is_some()));
            let charted = channel.days.iter().any(|d| metric.of(&d.counts) != 0);
            let name = match channel.scene {
                Some(_) => channel.name.clone(),
                None => t.organic.to_owned(),
            };
            let row = Row {
                name,
                scene: channel.scene.clone(),
                has_code: configured == Some(true),
                link_only: configured == Some(false),
                counts: channel.counts.clone(),
                colour: 0,
                charted,
                funnel: FunnelRow::of(&channel.funnel),
            };
            (row, channel)
        })
        .collect();
    rows.sort_by(|(a, _), (b, _)| {
        (b.counts.leads, b.counts.follows, b.counts.scans).cmp(&(
            a.counts.leads,
            a.counts.follows,
            a.counts.scans,
        ))
    });
    let mut totals = Counts::default();
    for (i, (row, _)) in rows.iter_mut().enumerate() {
        row.colour = i % PALETTE;
        totals.follows += row.counts.follows;
        totals.scans += row.counts.scans;
        totals.unfollows += row.counts.unfollows;
        totals.net += row.counts.net;
        totals.leads += row.counts.leads;
    }
    let best = rows
        .first()
        .filter(|(row, _)| row.counts.leads > 0)
        .map(|(row, _)| row.name.clone());
    let days: Vec<String> = rows
        .first()
        .map(|(_, c)| c.days.iter().map(|d| d.date.clone()).collect())
        .unwrap_or_default();
    let series: Vec<Series> = rows
        .iter()
        .filter(|(row, _)| row.charted)
        .map(|(row, channel)| Series {
            name: row.name.clone(),
            colour: row.colour,
            values: channel.days.iter().map(|d| metric.of(&d.counts)).collect(),
        })
        .collect();

    let page = ChannelsPage {
        nav: lang.nav("channels"),
        ranges: presets(t, today)
            .into_iter()
            .map(|(label, f, t)| {
                let (f, t) = (f.to_string(), t.to_string());
                Choice {
                    label,
                    active: f == from && t == to,
                    href: href(&f, &t, metric, &steps),
                }
            })
            .collect(),
        metrics: Metric::ALL
            .into_iter()
            .map(|m| Choice {
                label: m.label(t),
                href: href(&from, &to, m, &steps),
                active: m == metric,
            })
            .collect(),
        chart: StackedChart::new(&days, &series),
        funnel_total: FunnelRow::total(rows.iter().map(|(row, _)| &row.funnel)),
        rows: rows.into_iter().map(|(row, _)| row).collect(),
        stages: loaded
            .stage_tags()
            .into_iter()
            .map(|tag| StageOption {
                selected: steps.stage.as_ref() == Some(tag),
                tag: tag.to_string(),
            })
            .collect(),
        stage: steps.stage.map(|s| s.to_string()),
        tag: steps.tag.map(|s| s.to_string()),
        tag_options: tag_options(&store).await?,
        funnel_error,
        incomplete: (!report.complete).then_some(report.examined),
        metric: metric.key(),
        metric_label: metric.label(t),
        from,
        to,
        error,
        totals,
        best,
    };
    let status = if page.error.is_some() || page.funnel_error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    html(status, &page)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admin::dashboard::words::ZH;

    #[test]
    fn last_week_is_the_previous_monday_to_sunday() {
        // 2026-11-22 is a Sunday; 2026-11-25 a Wednesday.
        for today in ["2026-11-22", "2026-11-25"] {
            let today = NaiveDate::parse_from_str(today, "%Y-%m-%d").unwrap();
            let (_, from, to) = presets(&ZH, today)[1];
            assert_eq!(from.weekday(), chrono::Weekday::Mon);
            assert_eq!(to - from, Duration::days(6));
            assert!(to < today && today - to <= Duration::days(7));
        }
        let sunday = NaiveDate::parse_from_str("2026-11-22", "%Y-%m-%d").unwrap();
        assert_eq!(presets(&ZH, sunday)[1].1.to_string(), "2026-11-09");
    }
}
