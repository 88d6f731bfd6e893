//! A condition's why, in words a sales person reads: each leaf says what the lead did or is
//! ("3 touches in 30 days, last 2026-12-01 10:02", "score 62 ≥ 60", "no touch for 31 days"),
//! and a combinator joins the children that decide it with "; ".
//!
//! Which children decide: all of them for an `all` that holds, the failing ones for one that
//! does not; the holding ones for an `any` that holds, all of them (as "any of (…)") for one
//! that does not; for `none`, the children that hold when it fails, all of them when it holds.

use super::eval::{counted, field_set, within};
use super::{Facts, Node, PropOp, PropTest, ScoreBounds, Window};
use crate::domain::UnixTime;
use crate::store::china_time;

const DAY: i64 = 86_400;

impl Node {
    pub(super) fn explain(&self, facts: &Facts, now: UnixTime) -> String {
        let lead = facts.lead;
        match self {
            Node::All(children) => {
                let holds = self.holds(facts, now);
                join(children, facts, now, |c| holds || !c.holds(facts, now))
            }
            Node::Any(children) => {
                if self.holds(facts, now) {
                    join(children, facts, now, |c| c.holds(facts, now))
                } else if children.len() == 1 {
                    join(children, facts, now, |_| true)
                } else {
                    format!("any of ({})", join(children, facts, now, |_| true))
                }
            }
            Node::None(children) => {
                let holds = self.holds(facts, now);
                join(children, facts, now, |c| holds || c.holds(facts, now))
            }
            Node::Tag(tag) => match facts.tags.contains(tag.as_str()) {
                true => format!("has {tag}"),
                false => format!("no {tag}"),
            },
            Node::TagPrefix(prefix) => match facts.tags.iter().find(|t| t.starts_with(prefix)) {
                Some(tag) => format!("has {tag}"),
                None => format!("no tag starting with {prefix}"),
            },
            Node::Channel(scene) => match self.holds(facts, now) {
                true => format!("came through {scene}"),
                false => format!("never came through {scene}"),
            },
            Node::FirstChannel(scene) => match lead.first_channel.as_deref() {
                Some(first) if first == scene.as_str() => format!("first came through {scene}"),
                Some("") => format!("first came organically, not through {scene}"),
                Some(first) => format!("first came through {first}, not {scene}"),
                None => "first channel unknown".to_owned(),
            },
            Node::Subscribed(_) => match lead.subscribed {
                Some(true) => "follows".to_owned(),
                Some(false) => "does not follow".to_owned(),
                None => "never seen following (first seen outside the chat)".to_owned(),
            },
            Node::FirstSeenWithin(days) => match lead.first_seen {
                None => "never seen".to_owned(),
                Some(at) if self.holds(facts, now) => format!("first seen {}", date(at)),
                Some(at) => format!("first seen {}, over {} ago", date(at), days_words(*days)),
            },
            Node::LastSeenWithin(days) | Node::Inactive(days) => match lead.last_seen {
                None => "never touched".to_owned(),
                Some(at) if within(Some(at), *days, now) => {
                    format!("last seen {}", minute(at))
                }
                Some(at) => format!(
                    "no touch for {}",
                    days_words(now.0.saturating_sub(at.0) / DAY)
                ),
            },
            Node::Score(bounds) => match facts.score {
                None => "no score".to_owned(),
                Some(score) => score_words(bounds, (score.0)(now)),
            },
            Node::Field { name, .. } => match field_set(facts, name) {
                true => format!("{name} is set"),
                false => format!("{name} is not set"),
            },
            Node::Count(window) => count_words(self, facts, window, "touch", "touches", now),
            Node::Event {
                name,
                window,
                filter,
            } => {
                let mut one = format!("{name} event");
                if !filter.is_empty() {
                    let tests: Vec<String> = filter.iter().map(test_words).collect();
                    one = format!("{one} with {}", tests.join(", "));
                }
                let many = one.replacen(" event", " events", 1);
                count_words(self, facts, window, &one, &many, now)
            }
        }
    }
}

/// The explanations of the children `pick` chooses, joined with "; ".
fn join(children: &[Node], facts: &Facts, now: UnixTime, pick: impl Fn(&Node) -> bool) -> String {
    let words: Vec<String> = children
        .iter()
        .filter(|c| pick(c))
        .map(|c| c.explain(facts, now))
        .collect();
    words.join("; ")
}

/// `3 touches in 30 days, last 2026-12-01 10:02`, with what is missing when it fails.
fn count_words(
    node: &Node,
    facts: &Facts,
    window: &Window,
    one: &str,
    many: &str,
    now: UnixTime,
) -> String {
    let counted = counted(facts, window, node.event_filter(), now);
    let n = counted.total();
    let days = days_words(window.days);
    let mut out = match n {
        0 => format!("no {many} in {days}"),
        1 => format!("1 {one} in {days}"),
        n => format!("{n} {many} in {days}"),
    };
    if let Some(last) = counted.last {
        out.push_str(&format!(", last {}", minute(last)));
    }
    if n < window.at_least {
        out.push_str(&format!(" (needs {})", window.at_least));
    } else if let Some(max) = window.at_most.filter(|&max| n > max) {
        out.push_str(&format!(" (at most {max})"));
    }
    out
}

/// `score 62 ≥ 60`, `score 40 < 60`, `score 62 ≥ 60, ≤ 80`.
fn score_words(bounds: &ScoreBounds, score: f64) -> String {
    let mut parts = Vec::new();
    if let Some(min) = bounds.at_least {
        parts.push(match score >= min {
            true => format!("≥ {min}"),
            false => format!("< {min}"),
        });
    }
    if let Some(max) = bounds.at_most {
        parts.push(match score <= max {
            true => format!("≤ {max}"),
            false => format!("> {max}"),
        });
    }
    // Shown to a tenth, rounded down, so a score just under a bound never reads as on it.
    let shown = (score * 10.0).floor() / 10.0;
    format!("score {shown} {}", parts.join(", "))
}

/// `amount ≥ 1000`, `city = "上海"`, …
fn test_words(test: &PropTest) -> String {
    let prop = &test.prop;
    match &test.op {
        PropOp::Equals(v) => format!("{prop} = {v}"),
        PropOp::Contains(v) => format!("{prop} containing {v}"),
        PropOp::Regex(p) => format!("{prop} matching /{}/", p.0.as_str()),
        PropOp::In(vs) => {
            let vs: Vec<String> = vs.iter().map(|v| v.to_string()).collect();
            format!("{prop} in [{}]", vs.join(", "))
        }
        PropOp::AtLeast(n) => format!("{prop} ≥ {n}"),
        PropOp::AtMost(n) => format!("{prop} ≤ {n}"),
        PropOp::Exists(true) => format!("{prop} set"),
        PropOp::Exists(false) => format!("{prop} not set"),
    }
}

/// `1 day`, `30 days`.
fn days_words(n: impl Into<i64>) -> String {
    match n.into() {
        1 => "1 day".to_owned(),
        n => format!("{n} days"),
    }
}

/// The day in China time, `2026-11-20`.
fn date(at: UnixTime) -> String {
    china(at, "%Y-%m-%d")
}

/// The minute in China time, `2026-12-01 10:02`.
fn minute(at: UnixTime) -> String {
    china(at, "%Y-%m-%d %H:%M")
}

fn china(at: UnixTime, format: &str) -> String {
    chrono::DateTime::from_timestamp(at.0, 0)
        .unwrap_or_default()
        .with_timezone(&china_time())
        .format(format)
        .to_string()
}
