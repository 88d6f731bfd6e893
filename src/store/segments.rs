//! The store side of segments: the reads a segment's evaluation walks with (the leads index,
//! the tag and channel sets, lead states), saved definitions and their counts, and member
//! snapshots.
//!
//! Every read here is bounded by its arguments: a range of the index, one `SSCAN` step, a
//! membership test of a given list of openids. The caller (`segments`) decides how far to
//! walk, so no single command holds Redis up for long however big the account.

use std::collections::BTreeMap;

use redis::AsyncCommands;
use serde::{Deserialize, Serialize};

use super::history::TouchHistory;
use super::{LeadState, Store, StoreError};
use crate::domain::{OpenId, Scene, SegmentName, TagName};

/// One of the sets of leads Redis keeps up to date with every event.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum LeadSet {
    /// The leads carrying a tag.
    Tag(TagName),
    /// The leads that came through a channel (first or later).
    Channel(Scene),
}

/// What a segment's evaluation reads of each lead it looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StateRead {
    /// The lead's hash: profile, dates, fields.
    pub profile: bool,
    /// The lead's touch history.
    pub history: bool,
}

/// How many days of member counts a saved segment keeps.
pub const SEGMENT_DAYS: usize = 30;

/// How long a snapshot of members is kept for paging and export after it was counted.
pub const SNAPSHOT_TTL_SECS: u64 = 3600;

/// A saved segment's last count.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SegmentCount {
    /// Its members then.
    pub members: u64,
    /// When it was counted (unix seconds).
    pub at: i64,
    /// The snapshot holding those members, while it lasts.
    pub snapshot: String,
    /// The digest of the definition it was counted for: a count of an older definition is
    /// not this one's.
    pub digest: String,
}

impl Store {
    /// The key of one set of leads.
    fn set_key(&self, set: &LeadSet) -> String {
        match set {
            LeadSet::Tag(tag) => self.keys.tag_members(tag),
            LeadSet::Channel(scene) => self.keys.channel_members(scene),
        }
    }

    /// How many leads each set holds, in order.
    pub async fn set_sizes(&self, sets: &[LeadSet]) -> Result<Vec<u64>, StoreError> {
        if sets.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for set in sets {
            pipe.scard(self.set_key(set));
        }
        Ok(pipe.query_async(&mut self.conn.clone()).await?)
    }

    /// The openids at positions `from..=to` of the leads index (oldest first); ids that are
    /// not openids are left out.
    pub async fn leads_between(&self, from: u64, to: u64) -> Result<Vec<OpenId>, StoreError> {
        let (from, to) = (index(from), index(to));
        let ids: Vec<String> = self
            .conn
            .clone()
            .lrange(self.keys.leads(), from, to)
            .await?;
        Ok(openids(ids))
    }

    /// One `SSCAN` step of a set from `cursor`: the next cursor (0 when the scan is done) and
    /// about `count` members.
    pub async fn scan_members(
        &self,
        set: &LeadSet,
        cursor: u64,
        count: usize,
    ) -> Result<(u64, Vec<OpenId>), StoreError> {
        let (next, ids): (u64, Vec<String>) = redis::cmd("SSCAN")
            .arg(self.set_key(set))
            .arg(cursor)
            .arg("COUNT")
            .arg(count)
            .query_async(&mut self.conn.clone())
            .await?;
        Ok((next, openids(ids)))
    }

    /// For each set, whether each of `leads` is in it: `result[set][lead]`, one round trip.
    pub async fn memberships(
        &self,
        sets: &[LeadSet],
        leads: &[OpenId],
    ) -> Result<Vec<Vec<bool>>, StoreError> {
        if sets.is_empty() || leads.is_empty() {
            return Ok(vec![Vec::new(); sets.len()]);
        }
        let mut pipe = redis::pipe();
        for set in sets {
            pipe.cmd("SMISMEMBER")
                .arg(self.set_key(set))
                .arg(leads.iter().map(OpenId::as_str).collect::<Vec<_>>());
        }
        Ok(pipe.query_async(&mut self.conn.clone()).await?)
    }

    /// The states of `leads` with what `read` asks for (a lead hash not read leaves the
    /// profile at its defaults), in one round trip; `None` for a lead wxtag does not know or
    /// whose hashes are not in the shape it writes (reported, never an error).
    pub async fn states_reading(
        &self,
        leads: &[OpenId],
        read: StateRead,
    ) -> Result<Vec<Option<LeadState>>, StoreError> {
        if !read.profile && !read.history {
            return Ok(vec![Some(LeadState::default()); leads.len()]);
        }
        let mut pipe = redis::pipe();
        for openid in leads {
            if read.profile {
                pipe.hgetall(self.keys.lead(openid));
            }
            if read.history {
                pipe.hgetall(self.keys.history(openid));
            }
        }
        // Errors are kept per reply: a key of the wrong type fails its own lead, not all.
        let replies: Vec<redis::Value> = pipe
            .ignore_errors()
            .query_async(&mut self.conn.clone())
            .await?;
        let mut replies = replies.into_iter();
        let empty = || redis::Value::Array(Vec::new());
        Ok(leads
            .iter()
            .map(|openid| {
                let lead = read.profile.then(|| replies.next()).flatten();
                let history = read.history.then(|| replies.next()).flatten();
                match lead {
                    Some(lead) => self.state_from(openid, lead, history.unwrap_or_else(empty)),
                    None => Some(self.history_only(openid, history?)),
                }
            })
            .collect())
    }

    /// A state that knows only the lead's touch history (fields that do not decode skipped
    /// and reported).
    fn history_only(&self, openid: &OpenId, history: redis::Value) -> LeadState {
        let fields: Vec<(String, String)> = redis::from_redis_value(history).unwrap_or_else(|e| {
            self.corrupt
                .report(&self.keys.history(openid), &e.to_string());
            Vec::new()
        });
        let (history, bad) = TouchHistory::decode(fields);
        if !bad.is_empty() {
            self.corrupt
                .report_fields(&self.keys.history(openid), &bad.join(", "));
        }
        LeadState {
            history,
            ..LeadState::default()
        }
    }

    /// Appends members to a snapshot and (re)starts its expiry.
    pub async fn append_snapshot(&self, id: &str, members: &[OpenId]) -> Result<(), StoreError> {
        let key = self.keys.snapshot(id);
        let mut pipe = redis::pipe();
        if !members.is_empty() {
            pipe.rpush(&key, members.iter().map(OpenId::as_str).collect::<Vec<_>>())
                .ignore();
        }
        pipe.expire(&key, SNAPSHOT_TTL_SECS as i64).ignore();
        let () = pipe.query_async(&mut self.conn.clone()).await?;
        Ok(())
    }

    /// Members `from..from + n` of a snapshot and how many it holds in all; `None` when the
    /// snapshot has expired (or never was).
    pub async fn snapshot_page(
        &self,
        id: &str,
        from: u64,
        n: usize,
    ) -> Result<Option<(Vec<OpenId>, u64)>, StoreError> {
        let key = self.keys.snapshot(id);
        let to = from.saturating_add(n as u64).saturating_sub(1);
        let (ids, len): (Vec<String>, u64) = redis::pipe()
            .lrange(&key, index(from), index(to))
            .llen(&key)
            .query_async(&mut self.conn.clone())
            .await?;
        Ok((len > 0).then(|| (openids(ids), len)))
    }

    /// Keeps a snapshot for `secs` more seconds (a bulk job's snapshot lives as long as the
    /// job). False when it has expired already.
    pub async fn keep_snapshot(&self, id: &str, secs: u64) -> Result<bool, StoreError> {
        let secs = i64::try_from(secs).unwrap_or(i64::MAX);
        Ok(self
            .conn
            .clone()
            .expire(self.keys.snapshot(id), secs)
            .await?)
    }

    /// Saves (or replaces) a segment's definition, as JSON.
    pub async fn put_segment(
        &self,
        name: &SegmentName,
        definition: &str,
    ) -> Result<(), StoreError> {
        let () = self
            .conn
            .clone()
            .hset(self.keys.segments(), name.as_str(), definition)
            .await?;
        Ok(())
    }

    /// One saved segment's definition, if it exists.
    pub async fn segment(&self, name: &SegmentName) -> Result<Option<String>, StoreError> {
        Ok(self
            .conn
            .clone()
            .hget(self.keys.segments(), name.as_str())
            .await?)
    }

    /// Every saved segment's definition, by name; names that no longer parse are left out.
    pub async fn segments(&self) -> Result<BTreeMap<SegmentName, String>, StoreError> {
        let all: BTreeMap<String, String> = self.conn.clone().hgetall(self.keys.segments()).await?;
        Ok(all
            .into_iter()
            .filter_map(|(name, definition)| Some((SegmentName::parse(&name).ok()?, definition)))
            .collect())
    }

    /// Deletes a saved segment with its counts; false when there was none.
    pub async fn delete_segment(&self, name: &SegmentName) -> Result<bool, StoreError> {
        let (deleted, ..): (u64, u64, u64) = redis::pipe()
            .hdel(self.keys.segments(), name.as_str())
            .hdel(self.keys.segment_counts(), name.as_str())
            .del(self.keys.segment_days(name))
            .query_async(&mut self.conn.clone())
            .await?;
        Ok(deleted == 1)
    }

    /// Records a saved segment's count as its latest and as its day's (`yyyy-mm-dd`),
    /// forgetting days beyond the last [`SEGMENT_DAYS`].
    pub async fn record_segment_count(
        &self,
        name: &SegmentName,
        count: &SegmentCount,
        day: &str,
    ) -> Result<(), StoreError> {
        let json = serde_json::to_string(count).map_err(|e| StoreError::Corrupt {
            key: self.keys.segment_counts(),
            what: e.to_string(),
        })?;
        let days_key = self.keys.segment_days(name);
        let (mut days,): (Vec<String>,) = redis::pipe()
            .hset(self.keys.segment_counts(), name.as_str(), json)
            .ignore()
            .hset(&days_key, day, count.members)
            .ignore()
            .hkeys(&days_key)
            .query_async(&mut self.conn.clone())
            .await?;
        days.sort_unstable();
        if days.len() > SEGMENT_DAYS {
            let old = &days[..days.len() - SEGMENT_DAYS];
            let () = self.conn.clone().hdel(&days_key, old).await?;
        }
        Ok(())
    }

    /// The latest counts of these segments (`None` for one never counted), in order.
    pub async fn segment_counts(
        &self,
        names: &[&SegmentName],
    ) -> Result<Vec<Option<SegmentCount>>, StoreError> {
        if names.is_empty() {
            return Ok(Vec::new());
        }
        let raw: Vec<Option<String>> = redis::cmd("HMGET")
            .arg(self.keys.segment_counts())
            .arg(names.iter().map(|n| n.as_str()).collect::<Vec<_>>())
            .query_async(&mut self.conn.clone())
            .await?;
        Ok(raw
            .into_iter()
            .map(|json| serde_json::from_str(json.as_deref()?).ok())
            .collect())
    }

    /// A saved segment's members per day, oldest first.
    pub async fn segment_days(&self, name: &SegmentName) -> Result<Vec<(String, u64)>, StoreError> {
        let days: BTreeMap<String, u64> = self
            .conn
            .clone()
            .hgetall(self.keys.segment_days(name))
            .await?;
        Ok(days.into_iter().collect())
    }
}

/// A position of a Redis list as its commands take it (lists hold at most 2^32 items).
fn index(at: u64) -> isize {
    isize::try_from(at).unwrap_or(isize::MAX)
}

/// The ids that are openids (a foreign id in an index is skipped).
fn openids(ids: Vec<String>) -> Vec<OpenId> {
    ids.iter().filter_map(|id| OpenId::parse(id).ok()).collect()
}
