//! The one condition language: reply `when`, rule tags, tiers, lifecycle stages, segments and
//! automation all say "which leads" with it, in TOML and in JSON alike.
//!
//! A condition is parsed once into a typed tree ([`Condition`]) and evaluated by one
//! evaluator against a lead's [`Facts`]: its tags, profile, score and touch history.

use std::collections::BTreeSet;
use std::fmt;

use crate::domain::{TagName, TouchKey, UnixTime};
use crate::store::LeadState;

/// A parsed condition.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    node: Node,
}

/// The typed tree (private: built only by the parser).
#[derive(Debug, Clone, PartialEq)]
enum Node {
    All(Vec<Node>),
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

/// What a condition is evaluated against.
#[derive(Debug, Clone, Copy)]
pub struct Facts<'a> {
    /// The lead's profile and touch history.
    pub lead: &'a LeadState,
    /// The tags the lead holds as this evaluation sees them (derived tags included).
    pub tags: &'a BTreeSet<String>,
    /// The lead's score now, when a `[score]` is configured.
    pub score: Option<f64>,
}

impl Condition {
    /// Parses a condition from JSON (the admin API).
    pub fn from_json(value: &serde_json::Value) -> Result<Self, ConditionError> {
        todo!("{value}")
    }

    /// Parses a condition from TOML (`channels/*.toml`).
    pub fn from_toml(value: &toml::Value) -> Result<Self, ConditionError> {
        todo!("{value}")
    }

    /// True when the condition holds for `facts` at `now`.
    pub fn holds(&self, facts: &Facts, now: UnixTime) -> bool {
        todo!("{facts:?} {now:?}")
    }

    /// The earliest moment after `now` at which the condition may change with no new event
    /// (a window closes, a lead goes quiet, the score decays past a bound); `None`: never.
    pub fn next_change(&self, facts: &Facts, now: UnixTime) -> Option<UnixTime> {
        todo!("{facts:?} {now:?}")
    }

    /// Why the condition holds (or not) for `facts`, in words, e.g. "3 touches in 30 days,
    /// last 2026-12-01 10:02".
    pub fn explain(&self, facts: &Facts, now: UnixTime) -> String {
        todo!("{facts:?} {now:?}")
    }

    /// True when only the lead's tags matter (no profile, score or history is needed).
    pub fn only_tags(&self) -> bool {
        todo!()
    }

    /// Every tag name the condition mentions (`tag` leaves and bare strings).
    pub fn tags(&self) -> Vec<&TagName> {
        todo!()
    }

    /// Every touch key the condition counts (`count` leaves; `event` leaves as `event:<name>`).
    pub fn touch_keys(&self) -> Vec<&TouchKey> {
        todo!()
    }

    /// The longest window the condition looks back over, in days.
    pub fn longest_window_days(&self) -> Option<u32> {
        todo!()
    }

    /// True when the condition reads the score.
    pub fn uses_score(&self) -> bool {
        todo!()
    }

    /// Why the condition can never hold, if it cannot (e.g. `all` of a tag and `none` of it).
    pub fn contradiction(&self) -> Option<String> {
        todo!()
    }
}
