//! `[[tiers]]`: exactly one level tag at a time, chosen by the score, a count of touches in a
//! window, or a sum of an event property in a window; and the next moment the level changes.

use super::score::Score;
use crate::domain::{TagName, UnixTime};
use crate::store::history::{TouchHistory, leaves_window};

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
    /// The sum of an event property in the last `within_days` (0 until the events API
    /// stores event properties).
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
        history: &TouchHistory,
        history_days: u32,
        now: UnixTime,
    ) -> TierState {
        match &self.of {
            TierOf::Score => {
                let value = score.map_or(0.0, |s| s.at(history, history_days, now));
                let level = self.level(value);
                let next = level
                    .and_then(|i| score?.falls_below(history, history_days, now, self.levels[i].0));
                TierState { value, level, next }
            }
            TierOf::Count { keys, within_days } => {
                let mut leaving: Vec<(UnixTime, u64)> = keys
                    .iter()
                    .filter_map(|k| history.key(k))
                    .flat_map(|h| h.within(*within_days, now))
                    .map(|(bucket, n)| (leaves_window(bucket, *within_days), u64::from(n)))
                    .collect();
                leaving.sort_unstable();
                let count: u64 = leaving.iter().map(|&(_, n)| n).sum();
                // Counts are far below 2^53, so f64 holds them exactly.
                let level = self.level(count as f64);
                let mut left = count;
                let next = leaving.into_iter().find_map(|(at, n)| {
                    left -= n;
                    (self.level(left as f64) != level).then_some(at)
                });
                TierState {
                    value: count as f64,
                    level,
                    next,
                }
            }
            TierOf::Sum { .. } => TierState {
                value: 0.0,
                level: self.level(0.0),
                next: None,
            },
        }
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
