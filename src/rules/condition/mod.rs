//! The one condition language: reply `when`, rule tags, tiers, lifecycle stages, segments and
//! automation all say "which leads" with it, in TOML and in JSON alike.
//!
//! A condition is parsed once into a typed tree ([`Condition`]) and evaluated by one
//! evaluator against a lead's [`Facts`]: its tags, profile, score and touch history.
//!
//! The files: `parse` (TOML and JSON through one parser, errors with their path), `eval`
//! (`holds` and `next_change`), `explain` (the words a sales person reads), `check` (what
//! `wxtag check` says about a condition, and the contradictions), `sets` (what a condition
//! means in the tag and channel sets Redis keeps, for segments).
//!
//! Where the contract leaves room:
//! - `count` and `event` need `within_days`; without `at_least` or `at_most` they ask for at
//!   least one touch, with only `at_most` for at most that many (`at_least` is then 0);
//! - `{ field = "company" }` means `exists = true`; a field exists when its value is not blank;
//! - a bare tag name is a condition too (`when = "vip"` is `{ tag = "vip" }`);
//! - `channel` and `first_channel` take a scene as written in `[[qr]]`: text or a number;
//! - [`Condition::longest_window_days`] counts the windows read from the touch history
//!   (`count`, `event`); `first_seen_within_days` and the like read the lead's own dates, which
//!   are kept for good, so they may be longer than the history.

mod check;
mod eval;
mod explain;
mod parse;
mod sets;
#[cfg(test)]
mod tests;

use std::collections::BTreeSet;
use std::fmt;
use std::sync::LazyLock;

use crate::domain::{Scene, TagName, TouchKey, UnixTime};
use crate::store::LeadState;

pub use check::{CheckContext, check_condition};
pub(in crate::rules) use eval::number;
pub use sets::{Bound, Reads};

/// The shortest and longest window a condition may name, in days.
pub const DAYS: std::ops::RangeInclusive<u32> = 1..=3650;

/// A parsed condition.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    node: Node,
}

/// The typed tree (private: built only by the parser). Children keep their written order, so
/// a node's path (`all[2].within_days`) can be rebuilt by walking the tree.
#[derive(Debug, Clone, PartialEq)]
enum Node {
    /// Every child holds.
    All(Vec<Node>),
    /// At least one child holds.
    Any(Vec<Node>),
    /// No child holds.
    None(Vec<Node>),
    /// The lead holds the tag.
    Tag(TagName),
    /// The lead holds a tag starting with the prefix.
    TagPrefix(String),
    /// The lead came through the channel, first or later.
    Channel(Scene),
    /// The lead's first channel.
    FirstChannel(Scene),
    /// The lead follows (or not).
    Subscribed(bool),
    /// First seen less than N days ago.
    FirstSeenWithin(u32),
    /// Last seen less than N days ago.
    LastSeenWithin(u32),
    /// Not last seen within N days (never seen included).
    Inactive(u32),
    /// The score within bounds.
    Score(ScoreBounds),
    /// A profile field set (or not).
    Field { name: String, exists: bool },
    /// Touches of some touch keys in a window.
    Count(Window),
    /// Custom events in a window, optionally only those whose properties match.
    Event {
        name: String,
        window: Window,
        filter: Vec<PropTest>,
    },
}

/// `score = { at_least, at_most }`: at least one is given.
#[derive(Debug, Clone, Copy, PartialEq)]
struct ScoreBounds {
    at_least: Option<f64>,
    at_most: Option<f64>,
}

/// A count of touches (or events) in a window, within bounds.
#[derive(Debug, Clone, PartialEq)]
struct Window {
    /// The touch keys counted (one, `event:<name>`, for an event leaf).
    keys: Vec<TouchKey>,
    at_least: u64,
    at_most: Option<u64>,
    days: u32,
}

impl Window {
    fn admits(&self, count: u64) -> bool {
        count >= self.at_least && self.at_most.is_none_or(|max| count <= max)
    }
}

/// One test on an event property: `where = { amount = { at_least = 1000 } }`.
#[derive(Debug, Clone, PartialEq)]
struct PropTest {
    prop: String,
    op: PropOp,
}

/// A `where` on its own: tests on one event's properties, as an `[[event]]` rule reads
/// them, through the same parser and evaluator as an `event` leaf's `where`.
#[derive(Debug, Clone, PartialEq)]
pub struct PropFilter(Vec<PropTest>);

impl PropFilter {
    /// Parses `where = { prop = { op = value }, … }` from TOML; mistakes are named by their
    /// path under `where`.
    pub fn from_toml(value: &toml::Value) -> Result<Self, ConditionError> {
        parse::props(&parse::toml_to_json(value), "where").map(Self)
    }

    /// True when the properties pass every test.
    pub fn passes(&self, props: &serde_json::Map<String, serde_json::Value>) -> bool {
        self.0.iter().all(|test| eval::passes(test, props))
    }
}

/// The property operators.
#[derive(Debug, Clone, PartialEq)]
enum PropOp {
    Equals(serde_json::Value),
    Contains(serde_json::Value),
    Regex(Pattern),
    In(Vec<serde_json::Value>),
    AtLeast(f64),
    AtMost(f64),
    Exists(bool),
}

/// A compiled `regex`, compared by its text.
#[derive(Debug, Clone)]
struct Pattern(regex::Regex);

impl PartialEq for Pattern {
    fn eq(&self, other: &Self) -> bool {
        self.0.as_str() == other.0.as_str()
    }
}

/// Why a condition does not parse: where inside it, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConditionError {
    /// The path inside the condition, e.g. `all[2].within_days`; empty for the whole.
    pub path: String,
    /// What is wrong and what to write instead.
    pub message: String,
}

impl fmt::Display for ConditionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

impl std::error::Error for ConditionError {}

/// The lead's score at any moment, when a `[score]` is configured: the evaluator reads it now
/// and, for [`Condition::next_change`], ahead of now, where it must not rise (with no new
/// event a score only decays), so the moment it crosses a bound can be searched for.
#[derive(Clone, Copy)]
pub struct Score<'a>(pub &'a dyn Fn(UnixTime) -> f64);

impl fmt::Debug for Score<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Score(..)")
    }
}

/// What a condition is evaluated against.
#[derive(Debug, Clone, Copy)]
pub struct Facts<'a> {
    /// The lead's profile and touch history.
    pub lead: &'a LeadState,
    /// The tags the lead holds as this evaluation sees them (derived tags included).
    pub tags: &'a BTreeSet<String>,
    /// The lead's score as a function of time, when a `[score]` is configured; a `score`
    /// leaf never holds without one.
    pub score: Option<Score<'a>>,
}

/// The lead of [`Facts::of_tags`]: nothing known but its tags.
static UNKNOWN_LEAD: LazyLock<LeadState> = LazyLock::new(LeadState::default);

impl<'a> Facts<'a> {
    /// Facts that know only the lead's tags: enough for a condition that is
    /// [`Condition::only_tags`].
    pub fn of_tags(tags: &'a BTreeSet<String>) -> Self {
        Self {
            lead: &UNKNOWN_LEAD,
            tags,
            score: None,
        }
    }
}

impl Condition {
    /// Parses a condition from JSON (the admin API).
    pub fn from_json(value: &serde_json::Value) -> Result<Self, ConditionError> {
        parse::node(value, "").map(|node| Self { node })
    }

    /// Parses a condition from TOML (`channels/*.toml`), through the same parser as JSON.
    pub fn from_toml(value: &toml::Value) -> Result<Self, ConditionError> {
        Self::from_json(&parse::toml_to_json(value))
    }

    /// True when the condition holds for `facts` at `now`.
    pub fn holds(&self, facts: &Facts, now: UnixTime) -> bool {
        self.node.holds(facts, now)
    }

    /// The earliest moment after `now` at which the condition may change with no new event
    /// (a window closes, a lead goes quiet, the score decays past a bound); `None`: never.
    /// Never earlier than `now + 1`.
    pub fn next_change(&self, facts: &Facts, now: UnixTime) -> Option<UnixTime> {
        self.node
            .next_change(facts, now)
            .map(|at| at.max(UnixTime(now.0.saturating_add(1))))
    }

    /// Why the condition holds (or not) for `facts`, in words, e.g. "3 touches in 30 days,
    /// last 2026-12-01 10:02".
    pub fn explain(&self, facts: &Facts, now: UnixTime) -> String {
        self.node.explain(facts, now)
    }

    /// True when only the lead's tags matter (no profile, score or history is needed).
    pub fn only_tags(&self) -> bool {
        let mut only = true;
        self.node.visit(&mut |n| {
            only &= matches!(
                n,
                Node::All(_) | Node::Any(_) | Node::None(_) | Node::Tag(_) | Node::TagPrefix(_)
            );
        });
        only
    }

    /// Every tag name the condition mentions (`tag` leaves and bare strings).
    pub fn tags(&self) -> Vec<&TagName> {
        let mut out = Vec::new();
        self.node.visit(&mut |n| {
            if let Node::Tag(tag) = n {
                out.push(tag);
            }
        });
        out
    }

    /// Every touch key the condition counts (`count` leaves; `event` leaves as `event:<name>`).
    pub fn touch_keys(&self) -> Vec<&TouchKey> {
        let mut out = Vec::new();
        self.node.visit(&mut |n| match n {
            Node::Count(w) | Node::Event { window: w, .. } => out.extend(&w.keys),
            _ => {}
        });
        out
    }

    /// The names of the events whose stored properties the condition reads (`event` leaves
    /// with a `where`).
    pub fn event_props(&self) -> Vec<&str> {
        let mut out = Vec::new();
        self.node.visit(&mut |n| {
            if let Node::Event { name, filter, .. } = n
                && !filter.is_empty()
            {
                out.push(name.as_str());
            }
        });
        out
    }

    /// The longest window the condition reads from the touch history (`count` and `event`
    /// leaves), in days.
    pub fn longest_window_days(&self) -> Option<u32> {
        let mut longest = None;
        self.node.visit(&mut |n| {
            if let Node::Count(w) | Node::Event { window: w, .. } = n {
                longest = longest.max(Some(w.days));
            }
        });
        longest
    }

    /// True when the condition reads the score.
    pub fn uses_score(&self) -> bool {
        let mut uses = false;
        self.node
            .visit(&mut |n| uses |= matches!(n, Node::Score(_)));
        uses
    }

    /// Why the condition can never hold, if it cannot (e.g. `all` of a tag and `none` of it),
    /// as `<path>: <why>`.
    pub fn contradiction(&self) -> Option<String> {
        check::contradiction(&self.node, "").map(|e| e.to_string())
    }
}

impl Node {
    /// Calls `f` on this node and every node below it, parents first.
    fn visit<'n>(&'n self, f: &mut impl FnMut(&'n Node)) {
        f(self);
        if let Node::All(children) | Node::Any(children) | Node::None(children) = self {
            for child in children {
                child.visit(f);
            }
        }
    }
}

/// `base.key`, or `key` at the top.
fn join(base: &str, key: &str) -> String {
    if base.is_empty() {
        key.to_owned()
    } else {
        format!("{base}.{key}")
    }
}

/// `base[i]`.
fn index(base: &str, i: usize) -> String {
    format!("{base}[{i}]")
}
