//! Evaluating a condition: whether it holds now, and the next moment it can change with no
//! event. Windows are exactly those of [`crate::store::history`].

use std::collections::BTreeMap;
use std::ops::Bound;

use serde_json::{Map, Value};

use super::{Facts, Node, PropOp, PropTest, ScoreBounds, Window};
use crate::domain::UnixTime;
use crate::store::history::{MAX_HISTORY_DAYS, bucket_of, in_window, leaves_window};

const DAY: i64 = 86_400;

/// What a `count` or `event` leaf counts at one moment.
#[derive(Debug)]
pub(super) struct Counted {
    /// Touches per hour bucket inside the window, oldest first.
    pub(super) buckets: BTreeMap<i64, u64>,
    /// The latest touch counted.
    pub(super) last: Option<UnixTime>,
}

impl Counted {
    /// How many touches are counted.
    pub(super) fn total(&self) -> u64 {
        self.buckets.values().sum()
    }
}

/// The touches `window` counts at `now`, by bucket.
pub(super) fn counted(
    facts: &Facts,
    window: &Window,
    filter: Option<(&str, &[PropTest])>,
    now: UnixTime,
) -> Counted {
    let mut buckets = BTreeMap::new();
    let mut last = None;
    each_touch(facts, window, filter, now, |bucket, n, at| {
        *buckets.entry(bucket).or_default() += n;
        last = last.max(Some(at));
    });
    Counted { buckets, last }
}

/// How many touches `window` counts at `now` (what [`counted`] totals, with no map built).
fn total(
    facts: &Facts,
    window: &Window,
    filter: Option<(&str, &[PropTest])>,
    now: UnixTime,
) -> u64 {
    let mut total = 0;
    each_touch(facts, window, filter, now, |_, n, _| total += n);
    total
}

/// Calls `f(bucket, touches, latest)` for what `window` counts at `now`: the in-window
/// buckets of its touch keys' history (with the key's latest touch), or, when `filter` is
/// given, each of the lead's stored events named `name` whose properties pass every test.
fn each_touch(
    facts: &Facts,
    window: &Window,
    filter: Option<(&str, &[PropTest])>,
    now: UnixTime,
    mut f: impl FnMut(i64, u64, UnixTime),
) {
    match filter {
        None => {
            let histories = window
                .keys
                .iter()
                .filter_map(|k| facts.lead.history.key(k.as_str()));
            for history in histories {
                for (bucket, n) in history.within(window.days, now) {
                    f(bucket, u64::from(n), history.last);
                }
            }
        }
        Some((name, tests)) => {
            let events = facts.lead.events.iter().filter(|e| {
                e.name == name
                    && in_window(bucket_of(e.at), window.days, now)
                    && tests.iter().all(|t| passes(t, &e.props))
            });
            for event in events {
                f(bucket_of(event.at), 1, event.at);
            }
        }
    }
}

impl Node {
    /// The `filter` argument of [`counted`] for a `count` or `event` leaf.
    pub(super) fn event_filter(&self) -> Option<(&str, &[PropTest])> {
        match self {
            Node::Event { name, filter, .. } if !filter.is_empty() => {
                Some((name.as_str(), filter.as_slice()))
            }
            _ => None,
        }
    }

    pub(super) fn holds(&self, facts: &Facts, now: UnixTime) -> bool {
        let lead = facts.lead;
        match self {
            Node::All(children) => children.iter().all(|c| c.holds(facts, now)),
            Node::Any(children) => children.iter().any(|c| c.holds(facts, now)),
            Node::None(children) => !children.iter().any(|c| c.holds(facts, now)),
            Node::Tag(tag) => facts.tags.contains(tag.as_str()),
            Node::TagPrefix(prefix) => facts
                .tags
                .range::<str, _>((Bound::Included(prefix.as_str()), Bound::Unbounded))
                .next()
                .is_some_and(|t| t.starts_with(prefix.as_str())),
            Node::Channel(scene) => {
                lead.first_channel.as_deref() == Some(scene.as_str())
                    || lead.channels.iter().any(|c| c == scene.as_str())
            }
            Node::FirstChannel(scene) => lead.first_channel.as_deref() == Some(scene.as_str()),
            Node::Subscribed(want) => lead.subscribed == Some(*want),
            Node::FirstSeenWithin(days) => within(lead.first_seen, *days, now),
            Node::LastSeenWithin(days) => within(lead.last_seen, *days, now),
            Node::Inactive(days) => !within(lead.last_seen, *days, now),
            Node::Score(bounds) => facts.score.is_some_and(|s| bounds.admit((s.0)(now))),
            Node::Field { name, exists } => field_set(facts, name) == *exists,
            Node::Count(window) | Node::Event { window, .. } => {
                window.admits(total(facts, window, self.event_filter(), now))
            }
        }
    }

    pub(super) fn next_change(&self, facts: &Facts, now: UnixTime) -> Option<UnixTime> {
        let lead = facts.lead;
        match self {
            Node::All(children) | Node::Any(children) | Node::None(children) => children
                .iter()
                .filter_map(|c| c.next_change(facts, now))
                .min(),
            Node::Tag(_)
            | Node::TagPrefix(_)
            | Node::Channel(_)
            | Node::FirstChannel(_)
            | Node::Subscribed(_)
            | Node::Field { .. } => None,
            Node::FirstSeenWithin(days) => window_end(lead.first_seen, *days, now),
            Node::LastSeenWithin(days) | Node::Inactive(days) => {
                window_end(lead.last_seen, *days, now)
            }
            Node::Score(bounds) => facts.score.and_then(|s| bounds.crossing(s.0, now)),
            Node::Count(window) | Node::Event { window, .. } => {
                let counted = counted(facts, window, self.event_filter(), now);
                let total = counted.total();
                let before = window.admits(total);
                let mut left = 0;
                counted.buckets.iter().find_map(|(&bucket, &n)| {
                    left += n;
                    (window.admits(total - left) != before)
                        .then(|| leaves_window(bucket, window.days))
                })
            }
        }
    }
}

/// True when `at` is less than `days` days before `now`.
pub(super) fn within(at: Option<UnixTime>, days: u32, now: UnixTime) -> bool {
    at.is_some_and(|at| days_after(at, days) > now)
}

/// The moment `days` days after `at`, when that is still ahead.
fn window_end(at: Option<UnixTime>, days: u32, now: UnixTime) -> Option<UnixTime> {
    let end = days_after(at?, days);
    (end > now).then_some(end)
}

/// `days` days after `at` (the end of time rather than past it).
fn days_after(at: UnixTime, days: u32) -> UnixTime {
    UnixTime(at.0.saturating_add(i64::from(days) * DAY))
}

/// True when the lead's profile has the field with a value that is not blank.
pub(super) fn field_set(facts: &Facts, name: &str) -> bool {
    facts
        .lead
        .fields
        .get(name)
        .is_some_and(|v| !v.trim().is_empty())
}

impl ScoreBounds {
    pub(super) fn admit(&self, score: f64) -> bool {
        self.at_least.is_none_or(|min| score >= min) && self.at_most.is_none_or(|max| score <= max)
    }

    /// When a score that does not rise without an event (it only decays) next crosses a
    /// bound: the first second it drops to `at_most` from above, or below `at_least`. Looked
    /// for up to the longest history, after which every touch has left it.
    fn crossing(&self, score: &dyn Fn(UnixTime) -> f64, now: UnixTime) -> Option<UnixTime> {
        let s = score(now);
        let (bound, down_to) = match (self.at_least, self.at_most) {
            (_, Some(max)) if s > max => (max, true),
            (Some(min), _) if s >= min => (min, false),
            _ => return None,
        };
        let crossed = |v: f64| if down_to { v <= bound } else { v < bound };
        let mut lo = now.0;
        let mut hi = days_after(now, MAX_HISTORY_DAYS + 1).0;
        if !crossed(score(UnixTime(hi))) {
            return None;
        }
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            if crossed(score(UnixTime(mid))) {
                hi = mid;
            } else {
                lo = mid;
            }
        }
        Some(UnixTime(hi))
    }
}

/// True when the event property named by `test` passes it.
pub(super) fn passes(test: &PropTest, props: &Map<String, Value>) -> bool {
    let value = props.get(&test.prop).filter(|v| !v.is_null());
    match &test.op {
        PropOp::Exists(want) => value.is_some() == *want,
        PropOp::Equals(want) => value.is_some_and(|v| same(v, want)),
        PropOp::In(wants) => value.is_some_and(|v| wants.iter().any(|w| same(v, w))),
        PropOp::Contains(want) => match value {
            Some(Value::String(s)) => s.contains(&text(want)),
            Some(Value::Array(items)) => items.iter().any(|v| same(v, want)),
            _ => false,
        },
        PropOp::Regex(pattern) => value
            .and_then(Value::as_str)
            .is_some_and(|s| pattern.0.is_match(s)),
        PropOp::AtLeast(min) => value.and_then(number).is_some_and(|v| v >= *min),
        PropOp::AtMost(max) => value.and_then(number).is_some_and(|v| v <= *max),
    }
}

/// Equal values; numbers compare by value (`1000` equals `1000.0`).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(_), Value::Number(_)) => number(a) == number(b),
        _ => a == b,
    }
}

/// A number, or text that reads as one (`"1000"`: events often carry amounts as text).
pub(in crate::rules) fn number(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A scalar as text, for `contains` on a text property.
fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
