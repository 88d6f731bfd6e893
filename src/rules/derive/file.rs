//! The schema of the derived sections, as serde reads them: `[[rule]]`, `[score]`,
//! `[[tiers]]`, `[lifecycle]`, `[[preference]]`, `[[group]]` and `[[expire]]`.
//!
//! Raw like [`crate::rules::file`]: values keep their spans for `file:line` diagnostics,
//! conditions stay TOML values until the condition parser reads them, and unknown keys are
//! refused by serde.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

/// A list of spanned strings (`tags = [...]`).
pub(super) type SpannedStrings = Vec<Spanned<String>>;

/// `[[rule]]`: tags held while a condition holds.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(in crate::rules) struct RawRule {
    pub name: Spanned<String>,
    pub when: Spanned<toml::Value>,
    pub tags: SpannedStrings,
}

/// `[score]`: points per touch key, decaying with a half-life.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(in crate::rules) struct RawScore {
    pub points: Spanned<BTreeMap<String, Spanned<f64>>>,
    pub half_life_days: Spanned<f64>,
}

/// `[[tiers]]`: exactly one level tag at a time, by a value.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(in crate::rules) struct RawTiers {
    pub name: Spanned<String>,
    /// `"score"`, `{ count = [...], within_days }` or `{ sum = { event, prop }, within_days }`;
    /// told apart in `load`.
    pub of: Spanned<toml::Value>,
    pub levels: Spanned<Vec<Spanned<RawLevel>>>,
}

/// One level of a `[[tiers]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(in crate::rules) struct RawLevel {
    pub at_least: Spanned<f64>,
    pub tag: Spanned<String>,
}

/// `of = { count = [...], within_days = N }` or `of = { sum = { event, prop }, within_days = N }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawOf {
    pub count: Option<Vec<String>>,
    pub sum: Option<RawSum>,
    pub within_days: i64,
}

/// `sum = { event = "order", prop = "amount" }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSum {
    pub event: String,
    pub prop: String,
}

/// `[lifecycle]`: the first stage that holds.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(in crate::rules) struct RawLifecycle {
    pub stages: Spanned<Vec<Spanned<RawStage>>>,
}

/// One `[lifecycle]` stage.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(in crate::rules) struct RawStage {
    pub tag: Spanned<String>,
    pub when: Spanned<toml::Value>,
}

/// `[[preference]]`: the interest touched most in a window.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(in crate::rules) struct RawPreference {
    pub name: Spanned<String>,
    pub among: Spanned<String>,
    pub within_days: Spanned<i64>,
    pub tag: Spanned<String>,
}

/// `[[group]]`: an exclusive prefix.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(in crate::rules) struct RawGroup {
    pub prefix: Spanned<String>,
}

/// `[[expire]]`: tags that lapse.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(in crate::rules) struct RawExpire {
    pub tags: SpannedStrings,
    pub after_days: Spanned<i64>,
}
