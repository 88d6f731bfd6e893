//! The store side of the funnel by channel: one bounded walk of the leads index that counts,
//! per first channel, the leads first seen in a period (the channel's new leads, its cohort)
//! and how many of them hold each of a few tags now.
//!
//! The index is a list in arrival order, newest at the end, so the walk starts there and goes
//! back in chunks of [`FUNNEL_CHUNK`]: one `LRANGE` and one pipeline of `HMGET`s of `fs`, `fc`
//! and the steps' `t:<tag>` fields per chunk (through [`Store::states_reading`]). Arrival is
//! close to first-seen order but not exactly (a push may arrive late), so the walk stops only
//! after a whole chunk of leads first seen more than [`FUNNEL_SLACK_SECS`] before the period;
//! its cost is about the leads that arrived since the period began. It gives up after a
//! caller's cap of leads examined, saying the counts are incomplete.

use std::collections::BTreeMap;

use super::{LeadState, ProfileField, StateRead, Store, StoreError};
use crate::domain::{TagName, UnixTime};

/// How many leads of the index one step of the walk reads.
pub const FUNNEL_CHUNK: u64 = 500;

/// The most leads one funnel examines: past it the counts are marked incomplete.
pub const FUNNEL_MAX_EXAMINED: u64 = 2_000_000;

/// How far before the period a chunk's leads must all have been first seen for the walk to
/// stop: the index's arrival order lags first-seen order by less than this.
pub const FUNNEL_SLACK_SECS: i64 = 86_400;

/// What a funnel counts: the leads first seen in `[start, end)`, and the tags of its steps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunnelQuery {
    /// The period's first second.
    pub start: UnixTime,
    /// The second after the period.
    pub end: UnixTime,
    /// The steps' tags: a cohort member reaches a step when it holds its tag now.
    pub tags: Vec<TagName>,
}

/// One first channel's cohort: its size, how many of it submitted a form in the period, and
/// how many hold each step's tag.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cohort {
    /// The leads first seen in the period with this first channel.
    pub new: u64,
    /// Of them, how many submitted a form in the period.
    pub form: u64,
    /// Of them, how many hold each of the query's tags, in its order.
    pub holding: Vec<u64>,
}

/// The funnel's counts, by first channel's scene (`""` for organic follows).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FunnelCounts {
    /// The cohorts, by scene; a channel with no new lead in the period has none.
    pub cohorts: BTreeMap<String, Cohort>,
    /// How many leads of the index the walk read.
    pub examined: u64,
    /// False when the walk stopped at its cap before reaching leads older than the period.
    pub complete: bool,
}

impl FunnelQuery {
    /// What the walk reads of each lead: first seen, first channel, first form submission,
    /// the steps' tags.
    fn read(&self) -> StateRead {
        StateRead {
            profile: vec![
                ProfileField::FirstSeen,
                ProfileField::FirstChannel,
                ProfileField::FirstForm,
            ],
            tags: self.tags.clone(),
            ..StateRead::default()
        }
    }

    /// Counts consecutive leads of the index into `counts`; true when the walk can stop:
    /// some lead of them is known and none was first seen later than [`FUNNEL_SLACK_SECS`]
    /// before the period. A lead with no first channel (never followed nor scanned) is in no
    /// cohort.
    pub fn count(&self, leads: &[Option<LeadState>], counts: &mut FunnelCounts) -> bool {
        let cutoff = self.start.0 - FUNNEL_SLACK_SECS;
        let mut known = false;
        let mut recent = false;
        for lead in leads.iter().flatten() {
            let Some(first_seen) = lead.first_seen else {
                continue;
            };
            known = true;
            recent |= first_seen.0 >= cutoff;
            if first_seen < self.start || first_seen >= self.end {
                continue;
            }
            let Some(scene) = &lead.first_channel else {
                continue;
            };
            let cohort = counts.cohorts.entry(scene.clone()).or_default();
            cohort.holding.resize(self.tags.len(), 0);
            cohort.new += 1;
            // A cohort member was first seen in the period, so its first submission is in
            // it exactly when any submission is.
            if lead.first_form.is_some_and(|at| at < self.end) {
                cohort.form += 1;
            }
            for (tag, holding) in self.tags.iter().zip(&mut cohort.holding) {
                if lead.tags.iter().any(|held| held.name == *tag) {
                    *holding += 1;
                }
            }
        }
        known && !recent
    }
}

impl Store {
    /// The funnel of `query`: walks the leads index from the newest back until a chunk is
    /// wholly older than the period, examining at most `max_examined` leads.
    pub async fn funnel(
        &self,
        query: &FunnelQuery,
        max_examined: u64,
    ) -> Result<FunnelCounts, StoreError> {
        let read = query.read();
        let mut counts = FunnelCounts::default();
        let mut end = self.lead_count().await?;
        loop {
            if end == 0 {
                counts.complete = true;
                break;
            }
            if counts.examined >= max_examined {
                break;
            }
            let step = FUNNEL_CHUNK.min(max_examined - counts.examined);
            let start = end.saturating_sub(step);
            let ids = self.leads_between(start, end - 1).await?;
            let states = self.states_reading(&ids, &read).await?;
            counts.examined += end - start;
            end = start;
            if query.count(&states, &mut counts) {
                counts.complete = true;
                break;
            }
        }
        Ok(counts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StateTag;

    const DAY: i64 = 86_400;

    fn lead(first_seen: i64, scene: Option<&str>, tags: &[&str]) -> Option<LeadState> {
        Some(LeadState {
            first_seen: Some(UnixTime(first_seen)),
            // The leads holding "x" submitted a form: one in the period, one after it.
            first_form: tags.contains(&"x").then_some(UnixTime(
                first_seen + if scene == Some("") { DAY } else { 0 },
            )),
            first_channel: scene.map(str::to_owned),
            tags: tags
                .iter()
                .map(|t| StateTag {
                    name: TagName::parse(t).unwrap(),
                    at: UnixTime(first_seen),
                    source: "lifecycle".to_owned(),
                })
                .collect(),
            ..LeadState::default()
        })
    }

    fn query() -> FunnelQuery {
        FunnelQuery {
            start: UnixTime(10 * DAY),
            end: UnixTime(12 * DAY),
            tags: vec![
                TagName::parse("阶段:商机").unwrap(),
                TagName::parse("x").unwrap(),
            ],
        }
    }

    #[test]
    fn cohorts_are_leads_first_seen_in_the_period_by_first_channel_with_the_tags_they_hold() {
        let mut counts = FunnelCounts::default();
        let leads = [
            lead(10 * DAY, Some("expo"), &["阶段:商机"]),
            lead(12 * DAY - 1, Some("expo"), &["阶段:商机", "x"]),
            lead(11 * DAY, Some("expo"), &[]),
            lead(11 * DAY, Some(""), &["x"]),
            lead(12 * DAY, Some("expo"), &["阶段:商机"]),
            lead(10 * DAY - 1, Some("expo"), &["阶段:商机"]),
            lead(11 * DAY, None, &["阶段:商机"]),
            None,
        ];
        assert!(!query().count(&leads, &mut counts), "recent leads: go on");
        assert_eq!(
            counts.cohorts["expo"],
            Cohort {
                new: 3,
                form: 1,
                holding: vec![2, 1]
            }
        );
        assert_eq!(
            counts.cohorts[""],
            Cohort {
                new: 1,
                form: 0,
                holding: vec![0, 1]
            }
        );
        assert_eq!(counts.cohorts.len(), 2, "{counts:?}");
    }

    #[test]
    fn the_walk_stops_at_a_chunk_wholly_older_than_a_day_before_the_period() {
        let q = query();
        let mut counts = FunnelCounts::default();
        let old = lead(9 * DAY - 1, Some("expo"), &[]);
        let late = lead(9 * DAY, Some("expo"), &[]);
        assert!(q.count(&[old.clone(), None], &mut counts));
        assert!(!q.count(&[old, late], &mut counts), "one lead within a day");
        assert!(!q.count(&[None, None], &mut counts), "nothing known");
        assert!(counts.cohorts.is_empty());
    }
}
