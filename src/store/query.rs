//! Reads for the admin API: one lead, lead lists with cursor paging, channel counters over a
//! date range, and tags with their lead counts.
//!
//! Every list request does bounded work: it examines at most [`MAX_EXAMINED`] leads and never
//! reads timelines. A lead hash not in the shape wxtag writes is left out of lists (logged
//! once, counted in `wxtag_corrupt_leads_total`); reading that one lead is an error.

use std::collections::{BTreeMap, HashSet};
use std::sync::Mutex;

use chrono::NaiveDate;
use prometheus::IntCounter;
use redis::AsyncCommands;
use serde::Serialize;
use thiserror::Error;

use super::{Store, StoreError};
use crate::domain::{OpenId, Scene, TagName};
use crate::store::{Lead, LeadState};

/// Which leads to list.
#[derive(Debug, Default, Clone)]
pub struct LeadFilter {
    /// Only leads carrying this tag.
    pub tag: Option<TagName>,
    /// Only leads that came through this channel.
    pub channel: Option<Scene>,
    /// Only leads that follow (true) or unfollowed (false).
    pub subscribed: Option<bool>,
}

/// One page of leads and the cursor of the next, if any.
#[derive(Debug, Serialize)]
pub struct LeadPage {
    /// The leads, without their timelines (`events`).
    pub leads: Vec<Lead>,
    /// Pass as `cursor` for the next page; `None` on the last page.
    pub next_cursor: Option<String>,
}

/// One channel's counters over a date range.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Follows through the channel.
    pub follows: i64,
    /// Scans by leads who already followed.
    pub scans: i64,
    /// Unfollows by leads whose first channel it is.
    pub unfollows: i64,
    /// Follows minus unfollows.
    pub net: i64,
    /// Leads new to the account that came through it.
    pub leads: i64,
    /// Link clicks and form submits through it (`?ch=<scene>`).
    pub visits: i64,
}

impl Counts {
    fn add(&mut self, kind: &str, n: i64) {
        match kind {
            "f" => self.follows += n,
            "s" => self.scans += n,
            "u" => self.unfollows += n,
            "n" => self.leads += n,
            "v" => self.visits += n,
            _ => {}
        }
        self.net = self.follows - self.unfollows;
    }
}

/// Counters per channel (scene; `""` for organic follows), in total and per day.
#[derive(Debug, Default)]
pub struct ChannelCounts {
    /// Totals over the range, by scene.
    pub totals: BTreeMap<String, Counts>,
    /// Per day (`yyyy-mm-dd`), by scene.
    pub days: BTreeMap<String, BTreeMap<String, Counts>>,
}

/// A tag with how many leads carry it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagCount {
    /// The tag.
    pub name: String,
    /// When it was first applied (unix seconds).
    pub first_applied: i64,
    /// How many leads carry it now.
    pub leads: u64,
}

/// The longest date range the counters are read for.
pub const MAX_RANGE_DAYS: i64 = 366;

/// At most this many leads are examined by one list request, however few of them match: a
/// page may then hold fewer than `limit` leads, with a `next_cursor` to go on.
pub const MAX_EXAMINED: usize = 1000;

/// How many leads of the index one round trip reads when a filter is on.
const STEP: usize = 200;

/// Why a page of leads could not be read.
#[derive(Debug, Error)]
pub enum ListError {
    /// The cursor is not one a list page gave: the client's mistake.
    #[error("{0}")]
    Cursor(String),
    /// Redis failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A cursor as clients send it: a whole number at least 0.
fn parse_cursor(raw: &str) -> Result<u64, ListError> {
    raw.parse().map_err(|_| {
        ListError::Cursor(format!(
            "{raw:?} is not a cursor; pass the next_cursor of the page before (a whole \
             number, 0 or more), or none for the first page"
        ))
    })
}

/// Corrupt lead hashes met by reads: each logged once per process (up to a bound) and counted.
#[derive(Debug)]
pub(super) struct CorruptLeads {
    logged: Mutex<HashSet<String>>,
    counter: Option<IntCounter>,
}

/// How many corrupt keys are remembered as logged; past it each one is logged every time.
const CORRUPT_LOGGED_CAP: usize = 1024;

impl CorruptLeads {
    /// A reporter counting into `counter`, if given.
    pub(super) fn new(counter: Option<IntCounter>) -> Self {
        Self {
            logged: Mutex::new(HashSet::new()),
            counter,
        }
    }

    /// Counts a corrupt lead, and logs it with its key the first time it is met.
    pub(super) fn report(&self, key: &str, what: &str) {
        if self.first(key) {
            tracing::error!(
                key,
                what,
                "a lead hash is not in the shape wxtag writes; it is left out of lists and the \
                 export until it is fixed or deleted in Redis"
            );
        }
    }

    /// Counts a lead read for the rules over time with fields that do not decode, and logs
    /// it with its key the first time it is met.
    pub(super) fn report_fields(&self, key: &str, what: &str) {
        if self.first(key) {
            tracing::error!(
                key,
                what,
                "a lead's fields are not in the shape wxtag writes; the rules over time read it \
                 without them until they are fixed or deleted in Redis"
            );
        }
    }

    /// Counts one corrupt key met; true the first time it is met (or past the bound).
    fn first(&self, key: &str) -> bool {
        if let Some(counter) = &self.counter {
            counter.inc();
        }
        // A poisoned lock only means another thread panicked while inserting: the set is
        // still a valid set of keys, so it is used as it is.
        let mut logged = self.logged.lock().unwrap_or_else(|p| p.into_inner());
        logged.len() >= CORRUPT_LOGGED_CAP || logged.insert(key.to_owned())
    }
}

impl Store {
    /// A page of leads matching `filter`, newest first when unfiltered by tag or channel.
    ///
    /// Cursors are opaque to clients: a position in the leads index, or a SSCAN cursor. At
    /// most [`MAX_EXAMINED`] leads are examined; leads come without their timelines.
    pub async fn leads(
        &self,
        filter: &LeadFilter,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<LeadPage, ListError> {
        let at = cursor.map(parse_cursor).transpose()?;
        match (&filter.tag, &filter.channel) {
            (Some(tag), _) => {
                self.scan_set(&self.keys.tag_members(tag), filter, limit, at)
                    .await
            }
            (None, Some(scene)) => {
                self.scan_set(&self.keys.channel_members(scene), filter, limit, at)
                    .await
            }
            (None, None) => self.walk_index(filter, limit, at).await,
        }
    }

    /// A page from the leads index, newest first, from position `top` down.
    async fn walk_index(
        &self,
        filter: &LeadFilter,
        limit: usize,
        top: Option<u64>,
    ) -> Result<LeadPage, ListError> {
        let mut conn = self.conn.clone();
        let len: u64 = conn
            .llen(self.keys.leads())
            .await
            .map_err(StoreError::from)?;
        let next = match top {
            Some(top) if top < len => top,
            Some(top) => {
                return Err(ListError::Cursor(format!(
                    "{top} is not a position of the leads index (it holds {len}); pass the \
                     next_cursor of the page before, or none for the first page"
                )));
            }
            None if len == 0 => {
                return Ok(LeadPage {
                    leads: Vec::new(),
                    next_cursor: None,
                });
            }
            None => len - 1,
        };
        // Positions fit an i64: the index is a Redis list, whose length is at most 2^32.
        let mut next = i64::try_from(next).unwrap_or(i64::MAX);
        let mut found = Vec::new();
        let mut examined = 0;
        while next >= 0 && found.len() < limit && examined < MAX_EXAMINED {
            let step = if filter.subscribed.is_some() {
                STEP
            } else {
                limit - found.len()
            };
            let step = i64::try_from(step.min(MAX_EXAMINED - examined)).unwrap_or(1);
            let bottom = (next + 1 - step).max(0);
            let mut ids: Vec<String> = conn
                .lrange(self.keys.leads(), bottom as isize, next as isize)
                .await
                .map_err(StoreError::from)?;
            ids.reverse();
            for lead in self.summaries(&ids).await? {
                next -= 1;
                examined += 1;
                if let Some(lead) = lead.filter(|lead| filter.admits(lead)) {
                    found.push(lead);
                    if found.len() == limit {
                        break;
                    }
                }
            }
        }
        Ok(LeadPage {
            leads: found,
            next_cursor: (next >= 0).then(|| next.to_string()),
        })
    }

    /// A page from a tag's or channel's set of openids, in SSCAN order from cursor `at`.
    ///
    /// SSCAN answers in batches that cannot be resumed half-way, so a page holds whole
    /// batches: a few more than `limit` leads at times.
    async fn scan_set(
        &self,
        key: &str,
        filter: &LeadFilter,
        limit: usize,
        at: Option<u64>,
    ) -> Result<LeadPage, ListError> {
        let mut conn = self.conn.clone();
        let mut at = at.unwrap_or(0);
        let mut found = Vec::new();
        let mut examined = 0;
        loop {
            let (next, ids): (u64, Vec<String>) = redis::cmd("SSCAN")
                .arg(key)
                .arg(at)
                .arg("COUNT")
                .arg(limit.max(10))
                .query_async(&mut conn)
                .await
                .map_err(StoreError::from)?;
            examined += ids.len();
            let leads = self.summaries(&ids).await?;
            found.extend(leads.into_iter().flatten().filter(|l| filter.admits(l)));
            at = next;
            if at == 0 || found.len() >= limit || examined >= MAX_EXAMINED {
                break;
            }
        }
        Ok(LeadPage {
            leads: found,
            next_cursor: (at != 0).then(|| at.to_string()),
        })
    }

    /// The leads of these openids without their timelines, in order; unknown and corrupt
    /// ones are left out (corrupt ones reported).
    pub async fn lead_summaries(&self, ids: &[OpenId]) -> Result<Vec<Lead>, StoreError> {
        let ids: Vec<String> = ids.iter().map(OpenId::to_string).collect();
        Ok(self.summaries(&ids).await?.into_iter().flatten().collect())
    }

    /// The leads of these openids without their timelines, in one pipeline, one entry per
    /// id: `None` for an unknown lead, an id that is no openid, or a corrupt hash (logged
    /// and counted, so one bad lead never breaks a page).
    async fn summaries(&self, ids: &[String]) -> Result<Vec<Option<Lead>>, StoreError> {
        let ids: Vec<Option<OpenId>> = ids.iter().map(|id| OpenId::parse(id).ok()).collect();
        let mut pipe = redis::pipe();
        for id in ids.iter().flatten() {
            pipe.hgetall(self.keys.lead(id));
        }
        let mut conn = self.conn.clone();
        // Errors are kept per reply: a key of the wrong type fails its own lead, not all.
        let replies: Vec<redis::Value> = if pipe.is_empty() {
            Vec::new()
        } else {
            pipe.ignore_errors().query_async(&mut conn).await?
        };
        let mut replies = replies.into_iter();
        Ok(ids
            .into_iter()
            .map(|id| {
                let id = id?;
                let fields = replies.next()?;
                match self.decode(&id, fields, None) {
                    Ok(lead) => lead,
                    Err(StoreError::Corrupt { key, what }) => {
                        self.corrupt.report(&key, &what);
                        None
                    }
                    Err(_) => None,
                }
            })
            .collect())
    }

    /// One lead with its tags and timeline (newest first), or `None` if wxtag never saw it;
    /// [`StoreError::Corrupt`] when its hash is not in the shape wxtag writes.
    pub async fn lead(&self, openid: &OpenId) -> Result<Option<Lead>, StoreError> {
        Ok(self.read_lead(openid, false).await?.map(|(lead, _)| lead))
    }

    /// The lead as [`Store::lead`] reads it, and its state as the rules over time read it
    /// (`None` when its history does not decode), in one round trip: what a person reads.
    pub async fn lead_and_state(
        &self,
        openid: &OpenId,
    ) -> Result<Option<(Lead, Option<LeadState>)>, StoreError> {
        self.read_lead(openid, true).await
    }

    /// Reads the lead hash and timeline, and the touch history when `with_state` says so.
    async fn read_lead(
        &self,
        openid: &OpenId,
        with_state: bool,
    ) -> Result<Option<(Lead, Option<LeadState>)>, StoreError> {
        let mut conn = self.conn.clone();
        let mut pipe = redis::pipe();
        pipe.hgetall(self.keys.lead(openid));
        super::lead::queue_timeline(&mut pipe, &self.keys, openid);
        if with_state {
            pipe.hgetall(self.keys.history(openid))
                .zrange(self.keys.events(openid), 0, -1);
        }
        let replies: Vec<redis::Value> = pipe.ignore_errors().query_async(&mut conn).await?;
        let mut replies = replies.into_iter();
        let (Some(fields), Some(head), Some(older), Some(legacy)) = (
            replies.next(),
            replies.next(),
            replies.next(),
            replies.next(),
        ) else {
            return Ok(None);
        };
        let state = match (replies.next(), replies.next()) {
            (Some(history), Some(events)) => {
                self.state_from(openid, fields.clone(), history, events)
            }
            _ => None,
        };
        let corrupt_timeline = |error: redis::ParsingError| StoreError::Corrupt {
            key: self.keys.timeline_head(openid),
            what: error.to_string(),
        };
        let head: Option<String> = redis::from_redis_value(head).map_err(corrupt_timeline)?;
        let older: Vec<String> = redis::from_redis_value(older).map_err(corrupt_timeline)?;
        let legacy: Option<String> = redis::from_redis_value(legacy).map_err(corrupt_timeline)?;
        let timeline = super::lead::timeline_entries(head.as_deref(), &older, legacy.as_deref());
        let lead = self
            .decode(openid, fields, Some(&timeline))
            .inspect_err(|error| {
                if let StoreError::Corrupt { key, what } = error {
                    self.corrupt.report(key, what);
                }
            })?;
        Ok(lead.map(|lead| (lead, state)))
    }

    /// A lead from its hash (`None` when empty) and, if read, its raw timeline entries.
    fn decode(
        &self,
        id: &OpenId,
        fields: redis::Value,
        timeline: Option<&[&str]>,
    ) -> Result<Option<Lead>, StoreError> {
        let corrupt = |what: String| StoreError::Corrupt {
            key: self.keys.lead(id),
            what,
        };
        let fields: Vec<(String, String)> =
            redis::from_redis_value(fields).map_err(|error| corrupt(error.to_string()))?;
        if fields.is_empty() {
            return Ok(None);
        }
        Lead::decode(id.clone(), fields, timeline)
            .map(Some)
            .map_err(corrupt)
    }

    /// The channel counters for every day from `from` to `to`, inclusive.
    pub async fn channel_counts(
        &self,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<ChannelCounts, StoreError> {
        let days: Vec<NaiveDate> = from.iter_days().take_while(|d| *d <= to).collect();
        let mut pipe = redis::pipe();
        for day in &days {
            pipe.hgetall(self.keys.day(&day.format("%Y%m%d").to_string()));
        }
        let mut conn = self.conn.clone();
        let per_day: Vec<Vec<(String, i64)>> = pipe.query_async(&mut conn).await?;
        let mut counts = ChannelCounts::default();
        for (day, fields) in days.iter().zip(per_day) {
            let date = day.format("%Y-%m-%d").to_string();
            for (field, n) in fields {
                let Some((scene, kind)) = field.rsplit_once('|') else {
                    continue;
                };
                counts
                    .totals
                    .entry(scene.to_owned())
                    .or_default()
                    .add(kind, n);
                counts
                    .days
                    .entry(date.clone())
                    .or_default()
                    .entry(scene.to_owned())
                    .or_default()
                    .add(kind, n);
            }
        }
        Ok(counts)
    }

    /// Every tag ever applied, with how many leads carry it now.
    pub async fn tag_counts(&self) -> Result<Vec<TagCount>, StoreError> {
        let mut conn = self.conn.clone();
        let registry: Vec<(String, i64)> = conn.hgetall(self.keys.tags()).await?;
        let names: Vec<TagName> = registry
            .iter()
            .filter_map(|(name, _)| TagName::parse(name).ok())
            .collect();
        if names.is_empty() {
            // Redis refuses an empty pipeline: a fresh account simply has no tags yet.
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for name in &names {
            pipe.scard(self.keys.tag_members(name));
        }
        let sizes: Vec<u64> = pipe.query_async(&mut conn).await?;
        let first: BTreeMap<&str, i64> = registry.iter().map(|(n, at)| (n.as_str(), *at)).collect();
        Ok(names
            .iter()
            .zip(sizes)
            .map(|(name, leads)| TagCount {
                name: name.to_string(),
                first_applied: first.get(name.as_str()).copied().unwrap_or_default(),
                leads,
            })
            .collect())
    }
}

impl LeadFilter {
    fn admits(&self, lead: &Lead) -> bool {
        self.subscribed.is_none_or(|s| lead.subscribed == Some(s))
            && self
                .tag
                .as_ref()
                .is_none_or(|t| lead.tags.iter().any(|lt| lt.name == t.as_str()))
            && self
                .channel
                .as_ref()
                .is_none_or(|c| lead.channels.iter().any(|lc| lc == c.as_str()))
    }
}
