//! `[[tiers]]`: exactly one level tag at a time, chosen by the score, a count of touches in a
//! window, or a sum of an event property in a window; and the next moment the level changes.

use super::score::Score;
use crate::domain::{TagName, UnixTime};
use crate::rules::condition::number;
use crate::store::LeadState;
use crate::store::history::{bucket_of, in_window, leaves_window};

/// One parsed `[[tiers]]`.
#[derive(Debug)]
pub(super) struct Tiers {
    pub(super) name: String,
    pub(super) of: TierOf,
    /// `(at_least, tag)`, highest first, strictly decreasing.
    pub(super) levels: Vec<(f64, TagName)>,
}

/// What a tier list measures.
#[derive(Debug)]
pub(super) enum TierOf {
    /// The `[score]`.
    Score,
    /// Touches of these keys in the last `within_days`.
    Count { keys: Vec<String>, within_days: u32 },
    /// The sum of an event property (a number, or text that reads as one) over the lead's
    /// stored events of that name in the last `within_days`.
    Sum {
        event: String,
        prop: String,
        within_days: u32,
    },
}

/// What a tier list makes of a lead now.
#[derive(Debug)]
pub(super) struct TierState {
    /// The value measured.
    pub(super) value: f64,
    /// The level reached (index into `levels`), if any.
    pub(super) level: Option<usize>,
    /// The next moment the level changes with no touch.
    pub(super) next: Option<UnixTime>,
}

impl Tiers {
    /// The first level whose `at_least` the value reaches.
    fn level(&self, value: f64) -> Option<usize> {
        self.levels
            .iter()
            .position(|&(at_least, _)| value >= at_least)
    }

    /// The value, the level, and when the level next changes.
    pub(super) fn state(
        &self,
        score: Option<&Score>,
        lead: &LeadState,
        history_days: u32,
        now: UnixTime,
    ) -> TierState {
        let (history, events) = (&lead.history, &lead.events);
        match &self.of {
            TierOf::Score => {
                let value = score.map_or(0.0, |s| s.at(history, history_days, now));
                let level = self.level(value);
                let next = level
                    .and_then(|i| score?.falls_below(history, history_days, now, self.levels[i].0));
                TierState { value, level, next }
            }
            TierOf::Count { keys, within_days } => {
                let amounts = keys
                    .iter()
                    .filter_map(|k| history.key(k))
                    .flat_map(|h| h.within(*within_days, now))
                    .map(|(bucket, n)| (leaves_window(bucket, *within_days), f64::from(n)));
                self.windowed(amounts.collect())
            }
            TierOf::Sum {
                event,
                prop,
                within_days,
            } => {
                let amounts = events
                    .iter()
                    .filter(|e| &e.name == event && in_window(bucket_of(e.at), *within_days, now))
                    .filter_map(|e| {
                        let amount = number(e.props.get(prop)?)?;
                        Some((leaves_window(bucket_of(e.at), *within_days), amount))
                    });
                self.windowed(amounts.collect())
            }
        }
    }

    /// The state of a value summed over a window from `(moment it leaves, amount)`: the
    /// level changes at the first leaving after which the rest reaches another level.
    fn windowed(&self, mut leaving: Vec<(UnixTime, f64)>) -> TierState {
        leaving.sort_by_key(|&(at, _)| at);
        let value: f64 = leaving.iter().map(|&(_, n)| n).sum();
        let level = self.level(value);
        let mut left = value;
        let next = leaving.into_iter().find_map(|(at, n)| {
            left -= n;
            (self.level(left) != level).then_some(at)
        });
        TierState { value, level, next }
    }

    /// What the value is, in words: `score`, `touches of click:A in 30 days`, ….
    pub(super) fn measure(&self) -> String {
        match &self.of {
            TierOf::Score => "score".to_owned(),
            TierOf::Count { keys, within_days } => {
                format!("touches of {} in {within_days} days", keys.join(", "))
            }
            TierOf::Sum {
                event,
                prop,
                within_days,
            } => format!("sum of {event}.{prop} in {within_days} days"),
        }
    }
}
