//! Tags from behaviour over time: rule tags, the score, tiers, lifecycle stages,
//! preferences, exclusive groups and expiry, computed from a lead's state and history.
//!
//! [`Rules::derive`] is a pure function of the lead's [`LeadState`] and the moment: which
//! derived tags it should hold now, which to add and remove (each with its why), its score
//! and stage, and the next moment any of that can change with no event (for the scheduler).
//! The webhook calls it while an event is handled, the scheduler when only time passes, and
//! `check --preview` on every lead: one computation for all three.

use std::collections::BTreeSet;

use super::Rules;
use crate::domain::{TagName, UnixTime};
use crate::store::LeadState;

/// The derived sections of a `channels/` folder: `[[rule]]`, `[score]`, `[[tiers]]`,
/// `[lifecycle]`, `[[preference]]`, `[[group]]`, `[[expire]]`.
#[derive(Debug, Default)]
pub struct Derived {}

/// What the rules over time make of one lead at one moment.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Derivation {
    /// Tags to add, each with its source (`rule:<name>`, `tiers:<name>`, `lifecycle`,
    /// `preference:<name>`).
    pub add: Vec<(TagName, String)>,
    /// Tags to remove, each with the source that removes it (the derived source, `expire`,
    /// or `group:<prefix>`).
    pub remove: Vec<(TagName, String)>,
    /// The lead's tags once `add` and `remove` are applied.
    pub tags: BTreeSet<String>,
    /// The score now, when a `[score]` is configured.
    pub score: Option<f64>,
    /// The stage tag, when a `[lifecycle]` is configured.
    pub stage: Option<TagName>,
    /// The next moment any of this can change with no event; `None`: never.
    pub next_due: Option<UnixTime>,
}

impl Derivation {
    /// True when nothing is to be written but the next due time.
    pub fn is_unchanged(&self) -> bool {
        self.add.is_empty() && self.remove.is_empty()
    }
}

/// One line of a preview: what a rule, tier list, stage or preference would do now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreviewRow {
    /// `rule`, `tiers`, `lifecycle` or `preference`.
    pub kind: &'static str,
    /// Its name (the stage tag for a lifecycle stage).
    pub name: String,
    /// Leads it would tag that do not hold its tag now.
    pub tag: u64,
    /// Leads holding its tag that it would untag.
    pub untag: u64,
}

impl Rules {
    /// True when any derived section is configured: events then need the lead's state back
    /// and a derived write.
    pub fn derives(&self) -> bool {
        todo!()
    }

    /// The lead's derived tags, score and stage at `now`, and what must change to get there.
    pub fn derive(&self, lead: &LeadState, now: UnixTime) -> Derivation {
        todo!("{lead:?} {now:?}")
    }

    /// Each derived tag's why in words (e.g. "3 touches in 30 days, last 2026-12-01 10:02"),
    /// and for other tags what applied them, by tag name.
    pub fn why(&self, lead: &LeadState, now: UnixTime) -> Vec<(String, String)> {
        todo!("{lead:?} {now:?}")
    }

    /// True when `tag` is derived (a rule, tier, stage or preference tag): sales edits and
    /// bulk jobs may not add or remove it.
    pub fn is_derived(&self, tag: &str) -> bool {
        todo!("{tag}")
    }

    /// A fingerprint of the derived sections: when it changes, existing leads are
    /// re-evaluated (the backfill).
    pub fn derived_fingerprint(&self) -> String {
        todo!()
    }

    /// Adds what `derive` would do to `lead` now to `rows` (one per rule, tier list, stage
    /// and preference, in file order; `rows` starts empty and is filled on the first call).
    pub fn preview(&self, lead: &LeadState, now: UnixTime, rows: &mut Vec<PreviewRow>) {
        todo!("{lead:?} {now:?} {rows:?}")
    }
}
