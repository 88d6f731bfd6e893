//! `[score]`: points per touch key, each touch decaying by half every `half_life_days`.
//!
//! A touch's age counts from the END of its hour bucket, so a touch is worth its full points
//! until its hour is over and thresholds are reached exactly when the touch happens. Touches
//! older than the history count no more. With positive points the score only falls while no
//! touch comes, so the moment it falls below a bound is found by bisection, to the second.

use std::collections::BTreeMap;

use crate::domain::UnixTime;
use crate::store::history::{BUCKET_SECS, TouchHistory, in_window, leaves_window};

/// The parsed `[score]`.
#[derive(Debug)]
pub(super) struct Score {
    /// Touch key → points (positive).
    pub(super) points: BTreeMap<String, f64>,
    /// The half-life, in days (positive).
    pub(super) half_life_days: f64,
}

impl Score {
    /// The score at `at`: Σ points × 2^(−age / half-life) over the touches still in the
    /// history (`history_days`) at `at`.
    pub(super) fn at(&self, history: &TouchHistory, history_days: u32, at: UnixTime) -> f64 {
        let half_life_secs = self.half_life_days * 86_400.0;
        self.buckets(history)
            .filter(|&(bucket, _)| in_window(bucket, history_days, at))
            .map(|(bucket, points)| {
                // Saturating: a stored bucket is input, and may be absurd.
                let end = bucket.saturating_add(1).saturating_mul(BUCKET_SECS);
                let age = at.0.saturating_sub(end).max(0);
                // Seconds as f64 are exact far beyond any history.
                points * (-(age as f64) / half_life_secs).exp2()
            })
            .sum()
    }

    /// The first moment after `now` at which the score is below `bound`, with no new touch;
    /// `None` when it never falls below it (a bound of 0 or less).
    pub(super) fn falls_below(
        &self,
        history: &TouchHistory,
        history_days: u32,
        now: UnixTime,
        bound: f64,
    ) -> Option<UnixTime> {
        if bound <= 0.0 {
            return None;
        }
        let below = |t: i64| self.at(history, history_days, UnixTime(t)) < bound;
        // Once every touch has left the history the score is 0, below any positive bound.
        let mut hi = self
            .buckets(history)
            .map(|(bucket, _)| leaves_window(bucket, history_days).0)
            .max()?
            .max(now.0.saturating_add(1));
        let mut lo = now.0;
        if below(lo.saturating_add(1)) {
            return Some(UnixTime(lo.saturating_add(1)));
        }
        // Invariant: not below at `lo`, below at `hi`.
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            if below(mid) {
                hi = mid;
            } else {
                lo = mid;
            }
        }
        Some(UnixTime(hi))
    }

    /// Every scored bucket with its points (points × touches).
    fn buckets<'a>(&'a self, history: &'a TouchHistory) -> impl Iterator<Item = (i64, f64)> + 'a {
        self.points.iter().flat_map(move |(key, &points)| {
            history
                .key(key)
                .into_iter()
                .flat_map(|h| h.buckets.iter())
                .map(move |&(bucket, n)| (bucket, points * f64::from(n)))
        })
    }
}
