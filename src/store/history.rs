//! A lead's touch history: how often it touched each touch key, hour by hour, for
//! `WXTAG_HISTORY_DAYS`, so rules over time (counts in a window, a decaying score, a
//! preference) can be evaluated now and again whenever time passes, and a rule added later
//! can apply to the touches that came before it.
//!
//! # Stored form
//!
//! One Redis hash per lead ([`super::keys::Keys::history`]): a field per touch key, valued
//! `"<last unix> <hour>[*<count>] <hour>[*<count>] …"`, oldest hour first, where `<hour>` is
//! the unix time divided by [`BUCKET_SECS`] and `*<count>` is left out when it is 1. A lead
//! with five touch keys and a touch or two on each costs about 200 bytes. `apply_touch.lua`
//! appends to it and drops hours older than the history; this module reads it.
//!
//! # Windows
//!
//! A window of N days is rolling and exact to the hour: a touch in the hour starting at `h`
//! counts while `h + 1 hour + N days` is still ahead, so it counts for at least N days and
//! leaves the window at most an hour late. Nothing closes for everyone at midnight.

use std::collections::BTreeMap;

use crate::domain::UnixTime;

/// The width of one history bucket: an hour.
pub const BUCKET_SECS: i64 = 3600;

/// How long touch history is kept unless `WXTAG_HISTORY_DAYS` says otherwise.
pub const DEFAULT_HISTORY_DAYS: u32 = 90;

/// The longest history `WXTAG_HISTORY_DAYS` may ask for.
pub const MAX_HISTORY_DAYS: u32 = 400;

/// The hour bucket a moment falls in.
pub fn bucket_of(at: UnixTime) -> i64 {
    at.0.div_euclid(BUCKET_SECS)
}

/// The moment a touch in `bucket` leaves a window of `days` days (saturating: a stored
/// bucket is data from Redis, and no value of it may overflow).
pub fn leaves_window(bucket: i64, days: u32) -> UnixTime {
    UnixTime(
        bucket
            .saturating_add(1)
            .saturating_mul(BUCKET_SECS)
            .saturating_add(i64::from(days) * 86_400),
    )
}

/// True while a touch in `bucket` is inside a window of `days` days at `now`.
pub fn in_window(bucket: i64, days: u32, now: UnixTime) -> bool {
    leaves_window(bucket, days) > now
}

/// The history of one touch key: when it was last touched and how often in each hour.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyHistory {
    /// The moment of the latest touch.
    pub last: UnixTime,
    /// `(hour bucket, touches in it)`, oldest first, no bucket twice, counts ≥ 1.
    pub buckets: Vec<(i64, u32)>,
}

impl KeyHistory {
    /// Decodes a stored value; `None` when it is not in the stored form.
    pub fn decode(raw: &str) -> Option<Self> {
        let mut parts = raw.split(' ');
        let last = UnixTime(parts.next()?.parse().ok()?);
        let mut buckets = Vec::new();
        for part in parts {
            let (hour, count) = match part.split_once('*') {
                Some((hour, count)) => (hour.parse().ok()?, count.parse().ok()?),
                None => (part.parse().ok()?, 1),
            };
            if count == 0 || buckets.last().is_some_and(|&(prev, _)| prev >= hour) {
                return None;
            }
            buckets.push((hour, count));
        }
        Some(Self { last, buckets })
    }

    /// The stored form (what `apply_touch.lua` writes).
    pub fn encode(&self) -> String {
        let mut out = self.last.0.to_string();
        for &(hour, count) in &self.buckets {
            out.push(' ');
            out.push_str(&hour.to_string());
            if count != 1 {
                out.push('*');
                out.push_str(&count.to_string());
            }
        }
        out
    }

    /// Touches inside a window of `days` days at `now`.
    pub fn count_within(&self, days: u32, now: UnixTime) -> u64 {
        self.within(days, now).map(|(_, n)| u64::from(n)).sum()
    }

    /// The buckets inside a window of `days` days at `now`, oldest first.
    pub fn within(&self, days: u32, now: UnixTime) -> impl Iterator<Item = (i64, u32)> + '_ {
        self.buckets
            .iter()
            .copied()
            .filter(move |&(bucket, _)| in_window(bucket, days, now))
    }
}

/// A lead's whole touch history, by touch key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TouchHistory {
    keys: BTreeMap<String, KeyHistory>,
}

impl TouchHistory {
    /// Decodes the history hash's fields; a field not in the stored form is skipped and
    /// named in the second value, so one bad field never hides the rest.
    pub fn decode(fields: impl IntoIterator<Item = (String, String)>) -> (Self, Vec<String>) {
        let mut keys = BTreeMap::new();
        let mut bad = Vec::new();
        for (key, raw) in fields {
            match KeyHistory::decode(&raw) {
                Some(history) => {
                    keys.insert(key, history);
                }
                None => bad.push(key),
            }
        }
        (Self { keys }, bad)
    }

    /// The history of one touch key, if the lead ever touched it (within the history).
    pub fn key(&self, key: &str) -> Option<&KeyHistory> {
        self.keys.get(key)
    }

    /// Every touch key with its history, in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &KeyHistory)> {
        self.keys.iter().map(|(k, h)| (k.as_str(), h))
    }

    /// Records one touch of `key` at `at` (what the script does, for tests and previews).
    pub fn record(&mut self, key: &str, at: UnixTime) {
        let entry = self.keys.entry(key.to_owned()).or_default();
        entry.last = entry.last.max(at);
        let bucket = bucket_of(at);
        match entry.buckets.binary_search_by_key(&bucket, |&(b, _)| b) {
            Ok(i) => entry.buckets[i].1 += 1,
            Err(i) => entry.buckets.insert(i, (bucket, 1)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_round_trips_and_leaves_out_counts_of_one() {
        let h = KeyHistory {
            last: UnixTime(1_764_583_320),
            buckets: vec![(490_162, 1), (490_170, 3)],
        };
        assert_eq!(h.encode(), "1764583320 490162 490170*3");
        assert_eq!(KeyHistory::decode(&h.encode()), Some(h));
    }

    #[test]
    fn malformed_values_are_refused() {
        for raw in ["", "x", "1 2 1", "1 5*0", "1 5*x", "1 6 5"] {
            assert_eq!(KeyHistory::decode(raw), None, "{raw:?}");
        }
        let (history, bad) = TouchHistory::decode([
            ("follow".to_owned(), "10 0".to_owned()),
            ("click:A".to_owned(), "zz".to_owned()),
        ]);
        assert_eq!(bad, ["click:A"]);
        assert!(history.key("follow").is_some());
    }

    #[test]
    fn a_window_is_exact_to_the_hour_and_rolls() {
        let touch = UnixTime(1_000 * BUCKET_SECS + 1_800);
        let bucket = bucket_of(touch);
        let leaves = leaves_window(bucket, 30);
        assert_eq!(leaves.0, 1_001 * BUCKET_SECS + 30 * 86_400);
        assert!(in_window(bucket, 30, UnixTime(leaves.0 - 1)));
        assert!(!in_window(bucket, 30, leaves));
        assert!(leaves.0 - touch.0 >= 30 * 86_400, "counts at least N days");
    }

    #[test]
    fn counts_include_repeats_within_the_window() {
        let mut history = TouchHistory::default();
        let day = 86_400;
        history.record("click:A", UnixTime(100 * day));
        history.record("click:A", UnixTime(100 * day + 10));
        history.record("click:A", UnixTime(120 * day));
        let a = history.key("click:A").unwrap();
        assert_eq!(a.last, UnixTime(120 * day));
        assert_eq!(a.count_within(30, UnixTime(125 * day)), 3);
        assert_eq!(a.count_within(10, UnixTime(125 * day)), 1);
    }
}
