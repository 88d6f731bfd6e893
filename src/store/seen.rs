//! The seen-on-day sets: for each day (China time), the leads whose last seen moved to that
//! day, kept [`SEEN_DAYS`] days. They are the index of segments' `last_seen_within_days`
//! (and of a `count` of at least one in a window, as a counted touch moves last seen).
//!
//! `apply_touch.lua` and `import_tag.lua` add a lead to the day's set wherever they write its
//! last seen (a writer of last seen added later must do the same). A lead is in the set of
//! every day its last seen moved to, so the union of the sets since a day holds every lead
//! last seen since then, and some that moved on later; the evaluator decides those. The
//! sets are a cover, never the answer.
//!
//! Leads from before the sets existed are added by a backfill the scheduler runs a step at a
//! time ([`Store::backfill_seen`]): until it has gone once through the leads index,
//! [`Store::seen_ready`] is false and segments walk every lead instead.

use std::collections::BTreeMap;

use chrono::{NaiveDate, TimeZone};
use redis::AsyncCommands;

use super::{LeadSet, Store, StoreError, china_time, day_of, fields};
use crate::domain::{OpenId, UnixTime};

/// How many days of seen-on-day sets are kept: a `last_seen_within_days` longer than this
/// walks every lead.
pub const SEEN_DAYS: i64 = 92;

const DAY: i64 = 86_400;

/// The most members one `SADD` of the backfill adds.
const SADD_AT_ONCE: usize = 500;

/// How far a backfill step got.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SeenFill {
    /// Leads of the index read in this step.
    pub leads: u64,
    /// True once the backfill has gone through the whole index.
    pub done: bool,
}

/// The seen-on-day sets that hold every lead last seen at `since` or later, as of `now`:
/// one per day from `since`'s to `now`'s; `None` when `since` is older than the sets kept.
pub fn seen_since(since: UnixTime, now: UnixTime) -> Option<Vec<LeadSet>> {
    if now.0 - since.0 > (SEEN_DAYS - 1) * DAY {
        return None;
    }
    let first = date_of(since)?;
    let last = date_of(now)?;
    Some(
        first
            .iter_days()
            .take_while(|d| *d <= last)
            .map(|d| LeadSet::SeenOn(d.format("%Y%m%d").to_string()))
            .collect(),
    )
}

/// The China-time date of a moment.
fn date_of(at: UnixTime) -> Option<NaiveDate> {
    Some(
        chrono::DateTime::from_timestamp(at.0, 0)?
            .with_timezone(&china_time())
            .date_naive(),
    )
}

/// When the set of `day` (`yyyymmdd`) expires: [`SEEN_DAYS`] after the day ends.
fn expiry(day: &str) -> Option<i64> {
    let date = NaiveDate::parse_from_str(day, "%Y%m%d").ok()?;
    let start = china_time()
        .from_local_datetime(&date.and_hms_opt(0, 0, 0)?)
        .single()?;
    Some(start.timestamp() + (SEEN_DAYS + 1) * DAY)
}

impl Store {
    /// True once every lead is in the seen-on-day set of its last seen (when recent).
    pub async fn seen_ready(&self) -> Result<bool, StoreError> {
        let done: Option<String> = self
            .conn
            .clone()
            .hget(self.keys.seen_fill(), "done")
            .await?;
        Ok(done.as_deref() == Some("1"))
    }

    /// Sets the expiry of today's and yesterday's sets (the scripts that fill them do not,
    /// to stay one command a touch); the scheduler calls it every pass.
    pub async fn keep_seen(&self, now: UnixTime) -> Result<(), StoreError> {
        let mut pipe = redis::pipe();
        for at in [now.0 - DAY, now.0] {
            let day = day_of(UnixTime(at));
            if let Some(expires) = expiry(&day) {
                pipe.expire_at(self.keys.seen_on(&day), expires).ignore();
            }
        }
        let () = pipe.query_async(&mut self.conn.clone()).await?;
        Ok(())
    }

    /// Adds the next `n` leads of the index to the set of their last seen day (when it is
    /// kept), and records how far the backfill got.
    pub async fn backfill_seen(&self, n: usize, now: UnixTime) -> Result<SeenFill, StoreError> {
        let key = self.keys.seen_fill();
        let mut conn = self.conn.clone();
        let (pos, done): (Option<u64>, Option<String>) = redis::pipe()
            .hget(&key, "pos")
            .hget(&key, "done")
            .query_async(&mut conn)
            .await?;
        if done.as_deref() == Some("1") {
            return Ok(SeenFill {
                leads: 0,
                done: true,
            });
        }
        let pos = pos.unwrap_or(0);
        let last = pos.saturating_add(n.max(1) as u64 - 1);
        let ids = self.leads_between(pos, last).await?;
        let seen: Vec<Option<i64>> = if ids.is_empty() {
            Vec::new()
        } else {
            let mut pipe = redis::pipe();
            for openid in &ids {
                pipe.hget(self.keys.lead(openid), fields::LAST_SEEN);
            }
            pipe.query_async(&mut conn).await?
        };
        let mut days: BTreeMap<String, Vec<&OpenId>> = BTreeMap::new();
        let oldest = now.0 - SEEN_DAYS * DAY;
        for (openid, at) in ids.iter().zip(seen) {
            if let Some(at) = at.filter(|at| *at >= oldest) {
                days.entry(day_of(UnixTime(at))).or_default().push(openid);
            }
        }
        let mut pipe = redis::pipe();
        for (day, members) in &days {
            let set = self.keys.seen_on(day);
            // At most [`SADD_AT_ONCE`] members a command: none holds Redis up for long.
            for part in members.chunks(SADD_AT_ONCE) {
                let part: Vec<&str> = part.iter().map(|o| o.as_str()).collect();
                pipe.sadd(&set, part).ignore();
            }
            if let Some(expires) = expiry(day) {
                pipe.expire_at(&set, expires).ignore();
            }
        }
        let done = ids.len() < n;
        pipe.hset(&key, "pos", pos + ids.len() as u64).ignore();
        if done {
            pipe.hset(&key, "done", "1").ignore();
        }
        let () = pipe.query_async(&mut conn).await?;
        Ok(SeenFill {
            leads: ids.len() as u64,
            done,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sets_since_a_moment_are_its_day_to_today_in_china_time() {
        // 2026-12-03 01:00 China time is 2026-12-02 17:00 UTC.
        let now = UnixTime(1_796_230_800);
        let days = |since: i64| -> Vec<String> {
            seen_since(UnixTime(now.0 - since), now)
                .unwrap()
                .into_iter()
                .map(|s| match s {
                    LeadSet::SeenOn(day) => day,
                    other => panic!("{other:?}"),
                })
                .collect()
        };
        let today = day_of(now);
        assert_eq!(today, "20261203");
        assert_eq!(days(0), std::slice::from_ref(&today));
        assert_eq!(
            days(2 * 3_600).len(),
            2,
            "two hours back is yesterday in China"
        );
        assert_eq!(days(30 * DAY).len(), 31);
        assert_eq!(days(30 * DAY).last(), Some(&today));
        assert!(seen_since(UnixTime(now.0 - SEEN_DAYS * DAY), now).is_none());
        let kept = expiry(&today).unwrap();
        assert!(kept > now.0 + (SEEN_DAYS - 1) * DAY && kept <= now.0 + (SEEN_DAYS + 1) * DAY);
    }
}
