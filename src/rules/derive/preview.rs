//! The preview: per rule, tier list, stage and preference, how many leads [`Rules::derive`]
//! would tag and untag now. It counts the derivation itself, so it equals what applying
//! does.
//!
//! [`Rules::derive`]: crate::rules::Rules::derive

use super::{Derived, Owner, PreviewRow};
use crate::domain::UnixTime;
use crate::store::LeadState;

impl Derived {
    /// The rows, in order: rules, tier lists, stages, preferences (each in file order).
    pub(super) fn rows(&self) -> Vec<PreviewRow> {
        let row = |kind, name: &str| PreviewRow {
            kind,
            name: name.to_owned(),
            tag: 0,
            untag: 0,
        };
        let rules = self.rules.iter().map(|r| row("rule", &r.name));
        let tiers = self.tiers.iter().map(|t| row("tiers", &t.name));
        let stages = self.stages.iter().map(|s| row("lifecycle", s.tag.as_str()));
        let prefs = self.preferences.iter().map(|p| row("preference", &p.name));
        rules.chain(tiers).chain(stages).chain(prefs).collect()
    }

    /// The row of a section, as [`Self::rows`] orders them.
    fn row_of(&self, owner: Owner) -> usize {
        match owner {
            Owner::Rule(i) => i,
            Owner::Tiers(i) => self.rules.len() + i,
            Owner::Stage(i) => self.rules.len() + self.tiers.len() + i,
            Owner::Preference(i) => self.rules.len() + self.tiers.len() + self.stages.len() + i,
        }
    }

    /// See [`crate::rules::Rules::preview`].
    pub(super) fn preview(&self, lead: &LeadState, now: UnixTime, rows: &mut [PreviewRow]) {
        let d = self.derive(lead, now);
        let mut tagged = vec![false; rows.len()];
        let mut untagged = vec![false; rows.len()];
        let touched = |changes: &[(crate::domain::TagName, String)], marks: &mut Vec<bool>| {
            for (tag, _) in changes {
                if let Some(owner) = self.owner(tag.as_str()) {
                    marks[self.row_of(owner)] = true;
                }
            }
        };
        touched(&d.add, &mut tagged);
        touched(&d.remove, &mut untagged);
        for (row, (t, u)) in rows.iter_mut().zip(tagged.into_iter().zip(untagged)) {
            row.tag += u64::from(t);
            row.untag += u64::from(u);
        }
    }
}
