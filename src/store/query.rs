//! Reads for the admin API: lead lists with cursor paging, channel counters over a date
//! range, and tags with their lead counts.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use redis::AsyncCommands;
use serde::Serialize;

use super::{Store, StoreError};
use crate::domain::{OpenId, Scene, TagName};
use crate::store::Lead;

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
    /// The leads, full.
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
}

impl Counts {
    fn add(&mut self, kind: &str, n: i64) {
        match kind {
            "f" => self.follows += n,
            "s" => self.scans += n,
            "u" => self.unfollows += n,
            "n" => self.leads += n,
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

impl Store {
    /// A page of leads matching `filter`, newest first when unfiltered by tag or channel.
    ///
    /// Cursors are opaque to clients: a position in the leads index, or a SSCAN cursor.
    pub async fn leads(
        &self,
        filter: &LeadFilter,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<LeadPage, StoreError> {
        let mut conn = self.conn.clone();
        let mut found = Vec::new();
        let mut cursor = cursor.map(str::to_owned);
        let set = match (&filter.tag, &filter.channel) {
            (Some(tag), _) => Some(self.keys.tag_members(tag)),
            (None, Some(scene)) => Some(self.keys.channel_members(scene)),
            (None, None) => None,
        };
        loop {
            let (batch, next): (Vec<String>, Option<String>) = match &set {
                Some(key) => {
                    let at: u64 = cursor.as_deref().and_then(|c| c.parse().ok()).unwrap_or(0);
                    let (next, members): (u64, Vec<String>) = redis::cmd("SSCAN")
                        .arg(key)
                        .arg(at)
                        .arg("COUNT")
                        .arg(limit.max(10))
                        .query_async(&mut conn)
                        .await?;
                    (members, (next != 0).then(|| next.to_string()))
                }
                None => {
                    // Newest first. The index only grows at its end, so an absolute position
                    // is a stable cursor: new leads never shift the pages still to come.
                    let top: isize = match cursor.as_deref().and_then(|c| c.parse().ok()) {
                        Some(top) => top,
                        None => conn.llen::<_, isize>(self.keys.leads()).await? - 1,
                    };
                    if top < 0 {
                        break;
                    }
                    let bottom = (top + 1 - isize::try_from(limit).unwrap_or(isize::MAX)).max(0);
                    let mut members: Vec<String> =
                        conn.lrange(self.keys.leads(), bottom, top).await?;
                    members.reverse();
                    (members, (bottom > 0).then(|| (bottom - 1).to_string()))
                }
            };
            let ids: Vec<OpenId> = batch
                .iter()
                .filter_map(|id| OpenId::parse(id).ok())
                .collect();
            let leads = self.leads_by_id(&ids).await?;
            found.extend(leads.into_iter().filter(|lead| filter.admits(lead)));
            cursor = next;
            if found.len() >= limit || cursor.is_none() {
                break;
            }
        }
        Ok(LeadPage {
            leads: found,
            next_cursor: cursor,
        })
    }

    /// Full leads for these openids, in one pipeline; unknown ones are skipped.
    pub async fn leads_by_id(&self, ids: &[OpenId]) -> Result<Vec<Lead>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for id in ids {
            pipe.hgetall(self.keys.lead(id));
            super::lead::queue_timeline(&mut pipe, &self.keys, id);
        }
        let mut conn = self.conn.clone();
        let replies: Vec<redis::Value> = pipe.query_async(&mut conn).await?;
        let mut replies = replies.into_iter();
        let mut leads = Vec::with_capacity(ids.len());
        for id in ids {
            let (Some(fields), Some(head), Some(older)) =
                (replies.next(), replies.next(), replies.next())
            else {
                break;
            };
            let fields: Vec<(String, String)> = redis::from_redis_value(fields)?;
            if fields.is_empty() {
                continue;
            }
            let head: Option<String> = redis::from_redis_value(head)?;
            let older: Vec<String> = redis::from_redis_value(older)?;
            let timeline = super::lead::timeline_entries(head.as_deref(), &older);
            let lead = Lead::decode(id.clone(), fields, &timeline).map_err(|what| {
                StoreError::Corrupt {
                    key: self.keys.lead(id),
                    what,
                }
            })?;
            leads.push(lead);
        }
        Ok(leads)
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
        self.subscribed.is_none_or(|s| lead.subscribed == s)
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
