//! The channels page (`/`): which channel brought how many follows, scans, unfollows, net and
//! new leads over a date range, a per-day chart, and each channel's QR code to download.

use actix_web::{HttpResponse, http::StatusCode, web};
use askama::Template;
use chrono::{Datelike, Duration, NaiveDate};
use serde::Deserialize;

use super::chart::{PALETTE, Series, StackedChart};
use super::words::Words;
use super::{Lang, Nav, PageError, html};
use crate::admin::ApiError;
use crate::admin::channels::{ChannelReport, channel_report, range, today};
use crate::domain::Clock;
use crate::rules::LiveRules;
use crate::store::{Counts, Store};

/// The query: a date range and the chart's metric.
#[derive(Debug, Deserialize)]
pub(super) struct PageQuery {
    from: Option<String>,
    to: Option<String>,
    metric: Option<String>,
}

/// The counter the chart shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Metric {
    Leads,
    Follows,
    Scans,
    Unfollows,
    Net,
}

impl Metric {
    const ALL: [Metric; 5] = [
        Metric::Leads,
        Metric::Follows,
        Metric::Scans,
        Metric::Unfollows,
        Metric::Net,
    ];

    fn key(self) -> &'static str {
        match self {
            Metric::Leads => "leads",
            Metric::Follows => "follows",
            Metric::Scans => "scans",
            Metric::Unfollows => "unfollows",
            Metric::Net => "net",
        }
    }

    fn label(self, t: &'static Words) -> &'static str {
        match self {
            Metric::Leads => t.leads,
            Metric::Follows => t.follows,
            Metric::Scans => t.scans,
            Metric::Unfollows => t.unfollows,
            Metric::Net => t.net,
        }
    }

    fn of(self, counts: &Counts) -> i64 {
        match self {
            Metric::Leads => counts.leads,
            Metric::Follows => counts.follows,
            Metric::Scans => counts.scans,
            Metric::Unfollows => counts.unfollows,
            Metric::Net => counts.net,
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
    /// True when `channels/` defines the channel, so a QR code can be made for it.
    configured: bool,
    counts: Counts,
    /// Its colour in the chart and legend: an index into the stylesheet's palette.
    colour: usize,
    /// In the chart (some value of the metric is not zero).
    charted: bool,
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

fn href(from: &str, to: &str, metric: Metric) -> String {
    format!("/?from={from}&to={to}&metric={}", metric.key())
}

/// `GET /?from=&to=&metric=`: the channels page; a bad range shows why and the last 7 days.
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
    let report = channel_report(&store, &rules, from, to).await?;
    let (from, to) = (from.to_string(), to.to_string());

    let loaded = rules.load();
    let mut rows: Vec<(Row, ChannelReport)> = report
        .into_iter()
        .map(|channel| {
            let configured = channel
                .scene
                .as_deref()
                .and_then(|s| crate::domain::Scene::parse(s).ok())
                .is_some_and(|s| loaded.channel(&s).is_some());
            let charted = channel.days.iter().any(|d| metric.of(&d.counts) != 0);
            let name = match channel.scene {
                Some(_) => channel.name.clone(),
                None => t.organic.to_owned(),
            };
            let row = Row {
                name,
                scene: channel.scene.clone(),
                configured,
                counts: channel.counts.clone(),
                colour: 0,
                charted,
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
                    href: href(&f, &t, metric),
                }
            })
            .collect(),
        metrics: Metric::ALL
            .into_iter()
            .map(|m| Choice {
                label: m.label(t),
                href: href(&from, &to, m),
                active: m == metric,
            })
            .collect(),
        chart: StackedChart::new(&days, &series),
        rows: rows.into_iter().map(|(row, _)| row).collect(),
        metric: metric.key(),
        metric_label: metric.label(t),
        from,
        to,
        error,
        totals,
        best,
    };
    let status = if page.error.is_some() {
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
