//! Sales alerts' deliveries (the `notify` module's queue): one record per delivery id, one
//! due set per target (claimed with a lease, as the scheduler claims leads, so one hanging
//! target never holds another's up), and the newest deliveries for the page and the API.

use std::sync::LazyLock;

use redis::{AsyncCommands, Script};
use serde::Serialize;

use super::{Store, StoreError};
use crate::domain::{DeliveryId, NotifyName, OpenId, UnixTime};

static ENQUEUE: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("lua/enqueue_delivery.lua")));
static FINISH: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("lua/finish_delivery.lua")));
static RETRY: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("lua/retry_delivery.lua")));

/// How many deliveries the list of the newest keeps (older ones leave the page, their records
/// expire as they end).
pub const DELIVERIES_LISTED: usize = 10_000;

/// How long a delivered or dead delivery's record is kept: 30 days.
pub const DELIVERY_TTL_SECS: i64 = 30 * 86_400;

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryState {
    /// Enqueued, not tried yet.
    Pending,
    /// Tried and failed; tried again at `next`.
    Retrying,
    /// The receiver took it.
    Delivered,
    /// Given up on after the retry horizon (a dead letter), with the last error.
    Dead,
}

impl DeliveryState {
    /// The state as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Retrying => "retrying",
            Self::Delivered => "delivered",
            Self::Dead => "dead",
        }
    }

    fn parse(raw: &str) -> Option<Self> {
        Some(match raw {
            "pending" => Self::Pending,
            "retrying" => Self::Retrying,
            "delivered" => Self::Delivered,
            "dead" => Self::Dead,
            _ => return None,
        })
    }
}

/// A delivery to enqueue.
#[derive(Debug, Clone)]
pub struct NewDelivery<'a> {
    /// Its id, stable across enqueues.
    pub id: &'a DeliveryId,
    /// The target it goes to.
    pub target: &'a NotifyName,
    /// What happened, as the body names it (`tag_added`, …).
    pub event: &'a str,
    /// What about it, e.g. the tag.
    pub detail: &'a str,
    /// The lead it is about.
    pub openid: &'a OpenId,
}

/// A delivery as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeliveryRecord {
    /// Its id.
    pub id: DeliveryId,
    /// The target.
    pub target: NotifyName,
    /// What happened (`tag_added`, …).
    pub event: String,
    /// What about it.
    pub detail: String,
    /// The lead.
    pub openid: OpenId,
    /// When it was enqueued (unix s).
    pub created: i64,
    /// Where its retry horizon starts (unix s): its enqueue, or a retry by hand.
    #[serde(skip)]
    pub since: i64,
    /// Where it stands.
    pub state: DeliveryState,
    /// How many attempts were made.
    pub attempts: u32,
    /// When it is tried next (unix s), while pending or retrying.
    pub next: Option<i64>,
    /// When it was last tried (unix s).
    pub last: Option<i64>,
    /// The last attempt's error; empty once delivered.
    pub error: String,
}

impl DeliveryRecord {
    fn decode(key: &str, fields: Vec<(String, String)>) -> Result<Option<Self>, StoreError> {
        if fields.is_empty() {
            return Ok(None);
        }
        let corrupt = |what: String| StoreError::Corrupt {
            key: key.to_owned(),
            what,
        };
        let get = |name: &str| {
            fields
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        };
        let need = |name: &str| get(name).ok_or_else(|| corrupt(format!("no field {name}")));
        let number = |name: &str| -> Result<Option<i64>, StoreError> {
            match get(name).filter(|v| !v.is_empty()) {
                None => Ok(None),
                Some(v) => v
                    .parse()
                    .map(Some)
                    .map_err(|_| corrupt(format!("field {name} is not a number: {v:?}"))),
            }
        };
        let id = key.rsplit_once(":dlv:").map_or("", |(_, id)| id);
        Ok(Some(Self {
            id: DeliveryId::parse(id).map_err(|e| corrupt(e.to_string()))?,
            target: NotifyName::parse(need("target")?).map_err(|e| corrupt(e.to_string()))?,
            event: need("event")?.to_owned(),
            detail: get("detail").unwrap_or_default().to_owned(),
            openid: OpenId::parse(need("openid")?).map_err(|e| corrupt(e.to_string()))?,
            created: number("created")?.unwrap_or(0),
            since: number("since")?.unwrap_or(0),
            state: DeliveryState::parse(need("state")?)
                .ok_or_else(|| corrupt("unknown state".to_owned()))?,
            attempts: number("attempts")?
                .and_then(|n| u32::try_from(n).ok())
                .unwrap_or(0),
            next: number("next")?,
            last: number("last")?,
            error: get("error").unwrap_or_default().to_owned(),
        }))
    }
}

/// What an attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptResult {
    /// The receiver took it.
    Delivered,
    /// It failed; try again at this time.
    Retry {
        /// When (unix s).
        next: UnixTime,
        /// Why it failed.
        error: String,
    },
    /// It failed past the retry horizon: a dead letter.
    Dead {
        /// Why the last attempt failed.
        error: String,
    },
}

/// What a retry by hand did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requeued {
    /// The dead letter is due again now.
    Yes,
    /// The delivery is not a dead letter (pending, retrying or delivered).
    NotDead,
    /// No delivery has this id (or its record expired).
    Unknown,
}

impl Store {
    /// Enqueues a delivery, due now; false when its id was known (nothing changes).
    pub async fn enqueue_delivery(
        &self,
        new: &NewDelivery<'_>,
        now: UnixTime,
    ) -> Result<bool, StoreError> {
        let enqueued: i64 = ENQUEUE
            .key(self.keys.delivery(new.id))
            .key(self.keys.deliveries_due(new.target))
            .key(self.keys.deliveries())
            .key(self.keys.delivery_targets())
            .arg(new.id.as_str())
            .arg(new.target.as_str())
            .arg(new.event)
            .arg(new.detail)
            .arg(new.openid.as_str())
            .arg(now.0)
            .arg(DELIVERIES_LISTED)
            .invoke_async(&mut self.conn.clone())
            .await?;
        Ok(enqueued == 1)
    }

    /// Claims up to `limit` of `target`'s deliveries due at `now`, each kept from other
    /// processes for `lease_secs`, with their records (a record gone leaves the set).
    pub async fn claim_deliveries(
        &self,
        target: &NotifyName,
        now: UnixTime,
        limit: usize,
        lease_secs: i64,
    ) -> Result<Vec<DeliveryRecord>, StoreError> {
        let due = self.keys.deliveries_due(target);
        let ids = self
            .claim_parsed(&due, now, limit, lease_secs, DeliveryId::parse)
            .await?;
        let records = self.delivery_records(&ids).await?;
        let mut found = Vec::with_capacity(records.len());
        let mut gone = Vec::new();
        for (id, record) in ids.iter().zip(records) {
            match record {
                Some(record) => found.push(record),
                None => gone.push(id.as_str()),
            }
        }
        if !gone.is_empty() {
            let _: i64 = self.conn.clone().zrem(&due, &gone).await?;
        }
        Ok(found)
    }

    async fn delivery_records(
        &self,
        ids: &[DeliveryId],
    ) -> Result<Vec<Option<DeliveryRecord>>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let keys: Vec<String> = ids.iter().map(|id| self.keys.delivery(id)).collect();
        let mut pipe = redis::pipe();
        for key in &keys {
            pipe.hgetall(key);
        }
        let all: Vec<Vec<(String, String)>> = pipe.query_async(&mut self.conn.clone()).await?;
        keys.iter()
            .zip(all)
            .map(|(key, fields)| DeliveryRecord::decode(key, fields))
            .collect()
    }

    /// One delivery, if known.
    pub async fn delivery(&self, id: &DeliveryId) -> Result<Option<DeliveryRecord>, StoreError> {
        Ok(self
            .delivery_records(std::slice::from_ref(id))
            .await?
            .pop()
            .flatten())
    }

    /// Records the attempt of `record` (as claimed); false when another process recorded
    /// that attempt first.
    pub async fn finish_delivery(
        &self,
        record: &DeliveryRecord,
        result: &AttemptResult,
        now: UnixTime,
    ) -> Result<bool, StoreError> {
        let (state, next, error) = match result {
            AttemptResult::Delivered => (DeliveryState::Delivered, 0, ""),
            AttemptResult::Retry { next, error } => (DeliveryState::Retrying, next.0, &**error),
            AttemptResult::Dead { error } => (DeliveryState::Dead, 0, &**error),
        };
        let recorded: i64 = FINISH
            .key(self.keys.delivery(&record.id))
            .key(self.keys.deliveries_due(&record.target))
            .arg(record.id.as_str())
            .arg(record.attempts)
            .arg(state.as_str())
            .arg(now.0)
            .arg(next)
            .arg(error)
            .arg(DELIVERY_TTL_SECS)
            .invoke_async(&mut self.conn.clone())
            .await?;
        Ok(recorded == 1)
    }

    /// Puts a dead letter back in its queue, due `now`, with a fresh 24-hour horizon.
    pub async fn retry_delivery(
        &self,
        id: &DeliveryId,
        now: UnixTime,
    ) -> Result<Requeued, StoreError> {
        let Some(record) = self.delivery(id).await? else {
            return Ok(Requeued::Unknown);
        };
        let done: i64 = RETRY
            .key(self.keys.delivery(id))
            .key(self.keys.deliveries_due(&record.target))
            .arg(id.as_str())
            .arg(now.0)
            .invoke_async(&mut self.conn.clone())
            .await?;
        Ok(match done {
            1 => Requeued::Yes,
            0 => Requeued::NotDead,
            _ => Requeued::Unknown,
        })
    }

    /// Every target that ever had a delivery (a name that no longer parses is skipped).
    pub async fn delivery_targets(&self) -> Result<Vec<NotifyName>, StoreError> {
        let names: Vec<String> = self
            .conn
            .clone()
            .smembers(self.keys.delivery_targets())
            .await?;
        Ok(names
            .iter()
            .filter_map(|n| NotifyName::parse(n).ok())
            .collect())
    }

    /// How many deliveries are pending or retrying across `targets`.
    pub async fn deliveries_pending(&self, targets: &[NotifyName]) -> Result<u64, StoreError> {
        let mut pipe = redis::pipe();
        for target in targets {
            pipe.zcard(self.keys.deliveries_due(target));
        }
        let counts: Vec<u64> = pipe.query_async(&mut self.conn.clone()).await?;
        Ok(counts.into_iter().sum())
    }

    /// The newest deliveries, `limit` from `offset` (0 the newest), and how many the list
    /// holds; a record that expired is left out.
    pub async fn deliveries_page(
        &self,
        offset: usize,
        limit: usize,
    ) -> Result<(Vec<DeliveryRecord>, u64), StoreError> {
        let mut conn = self.conn.clone();
        let total: u64 = conn.zcard(self.keys.deliveries()).await?;
        if limit == 0 {
            return Ok((Vec::new(), total));
        }
        let stop = isize::try_from(offset + limit - 1).unwrap_or(isize::MAX);
        let start = isize::try_from(offset).unwrap_or(isize::MAX);
        let ids: Vec<String> = conn.zrevrange(self.keys.deliveries(), start, stop).await?;
        let ids: Vec<DeliveryId> = ids
            .iter()
            .filter_map(|id| DeliveryId::parse(id).ok())
            .collect();
        let records = self.delivery_records(&ids).await?;
        Ok((records.into_iter().flatten().collect(), total))
    }
}
