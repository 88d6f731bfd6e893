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
use super::{LeadState, Store, StoreError, fields};
use crate::domain::{OpenId, Scene, SegmentName, TagName};

/// One of the sets of leads Redis keeps up to date with every event.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum LeadSet {
    /// The leads carrying a tag.
    Tag(TagName),
    /// The leads that came through a channel (first or later).
    Channel(Scene),
    /// The leads whose last seen moved to a day (`yyyymmdd`, China time; see `store::seen`).
    SeenOn(String),
}

/// What a segment's evaluation reads of each lead it looks at: only the fields it needs,
/// so a walk over a million leads moves as little as it can.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StateRead {
    /// The lead hash's profile fields to read.
    pub profile: Vec<ProfileField>,
    /// The profile fields (`f:<name>`) by name.
    pub fields: Vec<String>,
    /// Tags to read from the lead hash (rather than by their sets).
    pub tags: Vec<TagName>,
    /// True to read the lead's channels (first and later) from the lead hash.
    pub channels: bool,
    /// The touch history's keys to read (none when empty).
    pub history: Vec<String>,
    /// True to read the lead's stored events (for a `where` on them).
    pub events: bool,
}

/// A profile field of the lead hash that a condition can read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProfileField {
    /// When wxtag first saw the lead.
    FirstSeen,
    /// The lead's last touch.
    LastSeen,
    /// The first channel.
    FirstChannel,
    /// Whether the lead follows.
    Subscribed,
    /// When the lead first submitted a form.
    FirstForm,
}

impl ProfileField {
    fn name(self) -> &'static str {
        match self {
            ProfileField::FirstSeen => fields::FIRST_SEEN,
            ProfileField::LastSeen => fields::LAST_SEEN,
            ProfileField::FirstChannel => fields::FIRST_CHANNEL,
            ProfileField::Subscribed => fields::SUBSCRIBED,
            ProfileField::FirstForm => fields::FIRST_FORM,
        }
    }
}

impl StateRead {
    /// True when nothing but the sets is read.
    pub fn is_empty(&self) -> bool {
        !self.reads_lead() && self.history.is_empty() && !self.events
    }

    /// True when the lead hash is read.
    fn reads_lead(&self) -> bool {
        !self.profile.is_empty()
            || !self.fields.is_empty()
            || !self.tags.is_empty()
            || self.channels
    }

    /// The lead hash's fields to read, the version first (every lead has one, so a lead
    /// with none is unknown); empty when the hash is not read.
    fn lead_fields(&self) -> Vec<String> {
        if !self.reads_lead() {
            return Vec::new();
        }
        let mut out = vec![fields::VERSION.to_owned()];
        out.extend(
            self.profile
                .iter()
                .filter(|f| !(self.channels && **f == ProfileField::FirstChannel))
                .map(|f| f.name().to_owned()),
        );
        if self.channels {
            out.extend([fields::FIRST_CHANNEL, fields::CHANNELS].map(str::to_owned));
        }
        out.extend(
            self.fields
                .iter()
                .map(|f| format!("{}{f}", fields::PROFILE_PREFIX)),
        );
        out.extend(
            self.tags
                .iter()
                .map(|t| format!("{}{t}", fields::TAG_PREFIX)),
        );
        out
    }
}

/// How many days of member counts a saved segment keeps.
pub const SEGMENT_DAYS: usize = 30;

/// How many entries into saved segments the entries stream keeps (about; Redis trims it in
/// whole nodes).
pub const ENTRIES_KEPT: u64 = 100_000;

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
    /// Who the members are, from a random pick of them; `None` for counts made before
    /// profiles were kept.
    #[serde(default)]
    pub profile: Option<SegmentProfile>,
}

/// Who a segment's members are: its tags, first channels and stages among a random pick of
/// members (all of them when there are few), as the segment page shows them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SegmentProfile {
    /// How many members the shares are of.
    pub picked: u64,
    /// The most held tags (stages apart), most held first.
    pub tags: Vec<Share>,
    /// The most common first channels (`""` for none), most common first.
    pub first_channels: Vec<Share>,
    /// The lifecycle stages the picked members are at, most common first.
    pub stages: Vec<Share>,
}

/// How many of a profile's picked members have one tag, channel or stage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Share {
    /// The tag, scene or stage.
    pub name: String,
    /// How many of the picked members.
    pub leads: u64,
}

impl Store {
    /// The key of one set of leads.
    fn set_key(&self, set: &LeadSet) -> String {
        match set {
            LeadSet::Tag(tag) => self.keys.tag_members(tag),
            LeadSet::Channel(scene) => self.keys.channel_members(scene),
            LeadSet::SeenOn(day) => self.keys.seen_on(day),
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

    /// The states of `leads` with what `read` asks for (what is not read is left at its
    /// defaults), in one round trip; `None` for a lead wxtag does not know. Fields that do
    /// not decode are skipped and reported, never an error.
    pub async fn states_reading(
        &self,
        leads: &[OpenId],
        read: &StateRead,
    ) -> Result<Vec<Option<LeadState>>, StoreError> {
        if read.is_empty() {
            return Ok(vec![Some(LeadState::default()); leads.len()]);
        }
        let lead_fields = read.lead_fields();
        let mut pipe = redis::pipe();
        for openid in leads {
            if !lead_fields.is_empty() {
                pipe.cmd("HMGET")
                    .arg(self.keys.lead(openid))
                    .arg(&lead_fields);
            }
            if !read.history.is_empty() {
                pipe.cmd("HMGET")
                    .arg(self.keys.history(openid))
                    .arg(&read.history);
            }
            if read.events {
                pipe.zrange(self.keys.events(openid), 0, -1);
            }
        }
        // Errors are kept per reply: a key of the wrong type fails its own lead, not all.
        let replies: Vec<redis::Value> = pipe
            .ignore_errors()
            .query_async(&mut self.conn.clone())
            .await?;
        let mut replies = replies.into_iter();
        Ok(leads
            .iter()
            .map(|openid| {
                let lead = (!lead_fields.is_empty()).then(|| replies.next()).flatten();
                let history = (!read.history.is_empty()).then(|| replies.next()).flatten();
                let events = read.events.then(|| replies.next()).flatten();
                self.partial_state(openid, &lead_fields, lead, read, history, events)
            })
            .collect())
    }

    /// A state from the replies of [`Store::states_reading`]: `None` when the lead hash was
    /// read and the lead has no version (unknown), or a reply is not in the shape asked for
    /// (reported as a corrupt lead).
    fn partial_state(
        &self,
        openid: &OpenId,
        lead_fields: &[String],
        lead: Option<redis::Value>,
        read: &StateRead,
        history: Option<redis::Value>,
        events: Option<redis::Value>,
    ) -> Option<LeadState> {
        let mut bad = Vec::new();
        let mut state = LeadState::default();
        if let Some(values) = lead {
            let redis::Value::Array(values) = values else {
                self.corrupt
                    .report(&self.keys.lead(openid), "not a hash of fields");
                return None;
            };
            // Every lead has a version: none means the lead is unknown.
            if matches!(values.first(), None | Some(redis::Value::Nil)) {
                return None;
            }
            for (field, value) in lead_fields.iter().zip(values) {
                let redis::Value::BulkString(bytes) = value else {
                    continue;
                };
                let result = String::from_utf8(bytes)
                    .map_err(|_| format!("field {field} is not UTF-8"))
                    .and_then(|value| state.set_field(field, value));
                if let Err(why) = result {
                    bad.push(why);
                }
            }
        }
        if let Some(history) = history {
            let values: Vec<Option<String>> = redis::from_redis_value(history).unwrap_or_default();
            let pairs = read
                .history
                .iter()
                .cloned()
                .zip(values)
                .filter_map(|(key, value)| Some((key, value?)));
            let (history, bad_keys) = TouchHistory::decode(pairs);
            state.history = history;
            bad.extend(bad_keys);
        }
        if let Some(events) = events {
            let events: Vec<String> = redis::from_redis_value(events).unwrap_or_default();
            bad.extend(state.set_events(events));
        }
        if !bad.is_empty() {
            self.corrupt
                .report_fields(&self.keys.lead(openid), &bad.join("; "));
        }
        Some(state)
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

    /// How many members a snapshot holds (0 once it has expired).
    pub async fn snapshot_len(&self, id: &str) -> Result<u64, StoreError> {
        Ok(self.conn.clone().llen(self.keys.snapshot(id)).await?)
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

    /// Deletes a saved segment with its counts and members; false when there was none.
    pub async fn delete_segment(&self, name: &SegmentName) -> Result<bool, StoreError> {
        let (deleted, ..): (u64, u64, u64, u64) = redis::pipe()
            .hdel(self.keys.segments(), name.as_str())
            .hdel(self.keys.segment_counts(), name.as_str())
            .del(self.keys.segment_days(name))
            .unlink(&[
                self.keys.segment_members(name),
                self.keys.segment_members_next(name),
            ])
            .query_async(&mut self.conn.clone())
            .await?;
        Ok(deleted == 1)
    }

    /// Takes the lease on counting a saved segment for `secs`; false when another count of
    /// it is under way.
    pub async fn lease_segment(&self, name: &SegmentName, secs: u64) -> Result<bool, StoreError> {
        let taken: Option<String> = redis::cmd("SET")
            .arg(self.keys.segment_lease(name))
            .arg("1")
            .arg("NX")
            .arg("EX")
            .arg(secs)
            .query_async(&mut self.conn.clone())
            .await?;
        Ok(taken.is_some())
    }

    /// Gives the lease on counting a saved segment back.
    pub async fn release_segment(&self, name: &SegmentName) -> Result<(), StoreError> {
        let () = self.conn.clone().del(self.keys.segment_lease(name)).await?;
        Ok(())
    }

    /// Starts a count's member set afresh (a count that died half-way left one).
    pub async fn clear_next_members(&self, name: &SegmentName) -> Result<(), StoreError> {
        let () = self
            .conn
            .clone()
            .unlink(self.keys.segment_members_next(name))
            .await?;
        Ok(())
    }

    /// Adds members found by the count under way; returns, for each, whether it was a
    /// member at the last count.
    pub async fn add_next_members(
        &self,
        name: &SegmentName,
        members: &[OpenId],
    ) -> Result<Vec<bool>, StoreError> {
        let ids: Vec<&str> = members.iter().map(OpenId::as_str).collect();
        let (held,): (Vec<bool>,) = redis::pipe()
            .cmd("SMISMEMBER")
            .arg(self.keys.segment_members(name))
            .arg(&ids)
            .sadd(self.keys.segment_members_next(name), &ids)
            .ignore()
            .query_async(&mut self.conn.clone())
            .await?;
        Ok(held)
    }

    /// Makes the count under way's members the segment's (the old set freed off Redis's
    /// main thread).
    pub async fn swap_members(&self, name: &SegmentName) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        let () = conn.unlink(self.keys.segment_members(name)).await?;
        let next = self.keys.segment_members_next(name);
        if conn.exists(&next).await? {
            let () = conn.rename(&next, self.keys.segment_members(name)).await?;
        }
        Ok(())
    }

    /// Records leads that entered a saved segment at `at`, keeping the newest 100,000.
    pub async fn record_entries(
        &self,
        name: &SegmentName,
        leads: &[OpenId],
        at: i64,
    ) -> Result<(), StoreError> {
        if leads.is_empty() {
            return Ok(());
        }
        let mut pipe = redis::pipe();
        let at = at.to_string();
        for openid in leads {
            pipe.cmd("XADD")
                .arg(self.keys.segment_entries())
                .arg("MAXLEN")
                .arg("~")
                .arg(ENTRIES_KEPT)
                .arg("*")
                .arg(&[
                    ("s", name.as_str()),
                    ("o", openid.as_str()),
                    ("at", at.as_str()),
                ])
                .ignore();
        }
        let () = pipe.query_async(&mut self.conn.clone()).await?;
        Ok(())
    }

    /// The newest `n` entries into saved segments, newest first: (segment, openid, when).
    pub async fn segment_entries(
        &self,
        n: usize,
    ) -> Result<Vec<(String, String, i64)>, StoreError> {
        let reply: redis::streams::StreamRangeReply = self
            .conn
            .clone()
            .xrevrange_count(self.keys.segment_entries(), "+", "-", n)
            .await?;
        Ok(reply
            .ids
            .into_iter()
            .map(|entry| {
                let text = |field: &str| entry.get::<String>(field).unwrap_or_default();
                (text("s"), text("o"), text("at").parse().unwrap_or_default())
            })
            .collect())
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
