//! The store side of events from other systems: parking an event for a lead wxtag does not
//! know yet, joining an external id to a lead, and the changed-leads index that
//! `GET /api/leads?updated_since=` pages.

use std::sync::LazyLock;

use redis::{AsyncCommands, Script};

use super::{LeadPage, Store, StoreError, TimelineEntry};
use crate::domain::{ExternalId, OpenId, UnixTime};

static PARK_EVENT: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("lua/park_event.lua")));
static JOIN_IDENTITY: LazyLock<redis::Script> = LazyLock::new(|| {
    super::fields::script(
        &[
            include_str!("lua/timeline.lua"),
            include_str!("lua/changed.lua"),
            include_str!("lua/join_identity.lua"),
        ]
        .concat(),
    )
});
static CHANGED_PAGE: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("lua/changed_page.lua")));

/// How long a parked event waits for its lead: 30 days after the last event parked for it.
pub const PARK_SECS: u64 = 30 * 86_400;

/// How many parked events one openid or external id keeps (the newest).
pub const PARKED_PER_LEAD: usize = 1_000;

/// The most members of the changed-leads index one page looks at.
const CHANGED_MOST: usize = 10_000;

/// Whom an event from another system names.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Addressee {
    /// A lead by its openid.
    OpenId(OpenId),
    /// A lead by the id another system knows it by.
    External(ExternalId),
}

/// What parking an event came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parking {
    /// The event was applied or parked before: a duplicate.
    Duplicate,
    /// The lead is known: apply the event to it.
    Known(OpenId),
    /// Kept until the lead appears.
    Parked,
}

/// What joining an external id to a lead came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Join {
    /// wxtag does not know the lead.
    UnknownLead,
    /// Joined now.
    Joined,
    /// It was joined to this lead already.
    Already,
    /// Another lead holds the external id.
    HeldBy(String),
    /// The lead holds another external id.
    HasOther(String),
}

/// Where a page of changed leads starts: the change time (µs) and, past the first page, the
/// last openid listed at that time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangedCursor {
    /// Microseconds since the epoch, Redis's clock.
    pub micros: i64,
    /// The last openid listed at `micros`; `None` to start at `micros` itself.
    pub after: Option<String>,
}

impl ChangedCursor {
    /// The cursor as the API hands it out: `<µs>:<openid>`.
    pub fn encode(&self) -> String {
        format!("{}:{}", self.micros, self.after.as_deref().unwrap_or(""))
    }

    /// A cursor [`ChangedCursor::encode`] made; `None` for anything else.
    pub fn decode(raw: &str) -> Option<Self> {
        let (micros, after) = raw.split_once(':')?;
        let micros = micros.parse().ok().filter(|m: &i64| *m >= 0)?;
        let after = OpenId::parse(after).ok()?;
        Some(Self {
            micros,
            after: Some(after.to_string()),
        })
    }
}

/// The dedup identity of an applied event (its touch), by the id its sender gave it.
pub fn applied_identity(id: &str) -> String {
    format!("event|{id}")
}

impl Store {
    /// For an event `id` naming `to`: a duplicate, the lead to apply it to, or parked as
    /// `parked` (its JSON) until the lead appears, atomically with the lead's appearance and
    /// with joins (an event is never parked for a lead that is known or joined).
    pub async fn park_event(
        &self,
        id: &str,
        to: &Addressee,
        parked: &str,
        now: UnixTime,
    ) -> Result<Parking, StoreError> {
        let keys = &self.keys;
        let mut invocation = PARK_EVENT.prepare_invoke();
        invocation
            .key(keys.dedup(&applied_identity(id)))
            .key(keys.dedup(&format!("parked|{id}")));
        let (kind, who) = match to {
            Addressee::OpenId(openid) => {
                invocation
                    .key(keys.lead(openid))
                    .key(keys.parked_for_openid(openid));
                ("o", openid.as_str())
            }
            Addressee::External(external) => {
                invocation
                    .key(keys.external_ids())
                    .key(keys.parked_for_external(external));
                ("x", external.as_str())
            }
        };
        invocation
            .key(keys.parked())
            .arg(kind)
            .arg(who)
            .arg(parked)
            .arg(PARK_SECS)
            .arg(PARKED_PER_LEAD)
            .arg(now.0);
        let answer: Vec<String> = invocation.invoke_async(&mut self.conn.clone()).await?;
        Ok(match answer.as_slice() {
            [outcome] if outcome == "parked" => Parking::Parked,
            [outcome, openid] if outcome == "known" => {
                Parking::Known(OpenId::parse(openid).map_err(|e| StoreError::Corrupt {
                    key: keys.external_ids(),
                    what: format!("holds {openid:?}, which is no openid: {e}"),
                })?)
            }
            _ => Parking::Duplicate,
        })
    }

    /// The events parked for `to`, oldest first (each as it was parked).
    pub async fn parked_events(&self, to: &Addressee) -> Result<Vec<String>, StoreError> {
        let mut conn = self.conn.clone();
        Ok(conn.lrange(self.parked_key(to), 0, -1).await?)
    }

    /// Forgets the events parked for `to` once applied (and an openid's place among the
    /// openids checked for).
    pub async fn forget_parked(&self, to: &Addressee) -> Result<(), StoreError> {
        let mut pipe = redis::pipe();
        pipe.del(self.parked_key(to)).ignore();
        if let Addressee::OpenId(openid) = to {
            pipe.zrem(self.keys.parked(), openid.as_str()).ignore();
        }
        let () = pipe.query_async(&mut self.conn.clone()).await?;
        Ok(())
    }

    fn parked_key(&self, to: &Addressee) -> String {
        match to {
            Addressee::OpenId(openid) => self.keys.parked_for_openid(openid),
            Addressee::External(external) => self.keys.parked_for_external(external),
        }
    }

    /// Claims up to `limit` openids with parked events whose check is due at `now`, each
    /// pushed `lease_secs` ahead (so it is checked again then, and no other process checks it
    /// meanwhile); with, for each, whether the lead is known now and whether events are still
    /// parked for it (they expire).
    pub async fn claim_parked(
        &self,
        now: UnixTime,
        limit: usize,
        lease_secs: i64,
    ) -> Result<Vec<(OpenId, bool, bool)>, StoreError> {
        let claimed = self
            .claim_from(&self.keys.parked(), now, limit, lease_secs)
            .await?;
        if claimed.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for openid in &claimed {
            pipe.exists(self.keys.lead(openid))
                .exists(self.keys.parked_for_openid(openid));
        }
        let found: Vec<bool> = pipe.query_async(&mut self.conn.clone()).await?;
        Ok(claimed
            .into_iter()
            .zip(found.chunks(2))
            .map(|(openid, found)| (openid, found[0], found[1]))
            .collect())
    }

    /// Joins `external` to the lead `openid` at `now`, with an `identity` timeline entry.
    pub async fn join_identity(
        &self,
        openid: &OpenId,
        external: &ExternalId,
        now: UnixTime,
    ) -> Result<Join, StoreError> {
        let keys = &self.keys;
        let entry = TimelineEntry::encode(now, "identity", external.as_str());
        let answer: Vec<redis::Value> = JOIN_IDENTITY
            .key(keys.lead(openid))
            .key(keys.external_ids())
            .key(keys.timeline_head(openid))
            .key(keys.timeline_older(openid))
            .key(keys.changed())
            .arg(openid.as_str())
            .arg(external.as_str())
            .arg(entry)
            .invoke_async(&mut self.conn.clone())
            .await?;
        let mut answer = answer.into_iter();
        let outcome: i64 = answer
            .next()
            .map(redis::from_redis_value)
            .transpose()?
            .unwrap_or(0);
        let other: Option<String> = answer.next().map(redis::from_redis_value).transpose()?;
        Ok(match (outcome, other) {
            (1, _) => Join::Joined,
            (2, _) => Join::Already,
            (-1, Some(owner)) => Join::HeldBy(owner),
            (-2, Some(held)) => Join::HasOther(held),
            _ => Join::UnknownLead,
        })
    }

    /// A page of the leads changed at or after `cursor` (as `GET /api/leads` shows leads),
    /// oldest change first; `next_cursor` is `None` once no lead changed later.
    pub async fn changed_leads(
        &self,
        cursor: &ChangedCursor,
        limit: usize,
    ) -> Result<LeadPage, StoreError> {
        let changed = self.changed_since(cursor, limit).await?;
        let next_cursor = (changed.len() >= limit)
            .then(|| changed.last().map(|(_, next)| next.encode()))
            .flatten();
        let openids: Vec<OpenId> = changed.into_iter().map(|(openid, _)| openid).collect();
        Ok(LeadPage {
            leads: self.lead_summaries(&openids).await?,
            next_cursor,
        })
    }

    /// Up to `limit` leads changed at or after `cursor`, oldest change first, each with the
    /// cursor just past it.
    async fn changed_since(
        &self,
        cursor: &ChangedCursor,
        limit: usize,
    ) -> Result<Vec<(OpenId, ChangedCursor)>, StoreError> {
        let pairs: Vec<(String, i64)> = CHANGED_PAGE
            .key(self.keys.changed())
            .arg(cursor.micros)
            .arg(cursor.after.as_deref().unwrap_or(""))
            .arg(limit.max(1))
            .arg(CHANGED_MOST)
            .invoke_async(&mut self.conn.clone())
            .await?;
        Ok(pairs
            .into_iter()
            .filter_map(|(openid, micros)| {
                let openid = OpenId::parse(&openid).ok()?;
                let next = ChangedCursor {
                    micros,
                    after: Some(openid.to_string()),
                };
                Some((openid, next))
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_round_trips_and_a_made_up_one_is_refused() {
        let cursor = ChangedCursor {
            micros: 1_764_770_000_123_456,
            after: Some("o1".to_owned()),
        };
        assert_eq!(cursor.encode(), "1764770000123456:o1");
        assert_eq!(ChangedCursor::decode(&cursor.encode()), Some(cursor));
        for bad in ["", "12", "x:o1", "-5:o1", "12:", "12:o 1"] {
            assert_eq!(ChangedCursor::decode(bad), None, "{bad}");
        }
    }
}
