//! The sync worker's Redis: the outbox read through its consumer group, per-lead leases, a
//! lead's tags and the raw record of what WeChat holds of them (`w`, written only by the
//! lead's lease holder), the tag name → WeChat id map, unsynced and external tags, the dead
//! letters and the shared access token.
//!
//! The outbox is acknowledged and deleted in one step, so its length is the number of entries
//! not yet synced and its first entry the oldest of them (the sync lag).

use std::collections::BTreeMap;
use std::sync::LazyLock;
use std::time::Duration;

use redis::{AsyncCommands, Script, Value};
use serde::Serialize;

use super::keys::OUTBOX_GROUP;
use super::{Store, StoreError};
use crate::domain::{OpenId, TagId, TagName, UnixTime};

/// The most keys one round trip touches, so that a big batch never holds up the connection
/// it shares with the webhook for long.
const CHUNK: usize = 500;

static LEASE: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("lua/lease.lua")));
static SET_APPLIED: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("lua/set_applied.lua")));
static CLEAR_DEAD_LETTERS: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("lua/clear_dead_letters.lua")));
static IMPORT_TAG: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("lua/import_tag.lua")));

/// One outbox entry: a lead whose tags changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEntry {
    /// The stream entry id.
    pub id: String,
    /// The lead; `None` when the entry is not in the shape wxtag writes.
    pub openid: Option<OpenId>,
    /// True when the lead followed again (field `refollow`): WeChat dropped its tags when it
    /// unfollowed.
    pub refollow: bool,
}

/// Which outbox entries a read returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutboxRead {
    /// Entries this consumer was given before and has not acknowledged.
    Pending,
    /// Entries no consumer was given yet.
    New,
}

/// The outbox as the metrics show it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutboxStats {
    /// Entries not yet synced.
    pub depth: u64,
    /// When the oldest of them was written (unix ms).
    pub oldest_ms: Option<u64>,
    /// Entries in the dead-letter list.
    pub dead_letters: u64,
}

/// A lease held in Redis: taken if free, renewed or freed only by its owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaseOp {
    /// Take the lease if nobody holds it (or renew it if the owner does).
    Take,
    /// Extend a lease the owner holds.
    Renew,
    /// Let go of a lease the owner holds.
    Free,
}

impl LeaseOp {
    fn as_str(self) -> &'static str {
        match self {
            Self::Take => "take",
            Self::Renew => "renew",
            Self::Free => "free",
        }
    }
}

/// One tag on a lead, as the sync ranks it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncTag {
    /// The tag.
    pub name: TagName,
    /// When it was first applied (unix s).
    pub at: i64,
    /// Why it was applied, e.g. `qr:expo-2026`.
    pub source: String,
}

/// A lead as the sync worker reads it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncLead {
    /// The scene of the lead's first channel, if any.
    pub first_channel: Option<String>,
    /// Every tag the lead carries in Redis.
    pub tags: Vec<SyncTag>,
    /// Whether the lead follows the account now (`sub`; a lead without it counts as following).
    pub subscribed: bool,
    /// The raw `w` field: what the sync recorded WeChat holds (its format is the sync's).
    pub applied_raw: String,
}

impl SyncLead {
    fn decode(fields: Vec<(String, String)>) -> Self {
        let mut lead = Self {
            subscribed: true,
            ..Self::default()
        };
        for (field, value) in fields {
            match field.as_str() {
                "fc" if !value.is_empty() => lead.first_channel = Some(value),
                "sub" => lead.subscribed = value != "0",
                "w" => lead.applied_raw = value,
                _ => {
                    let Some(name) = field.strip_prefix("t:") else {
                        continue;
                    };
                    let Ok(name) = TagName::parse(name) else {
                        continue;
                    };
                    let (at, source) = value.split_once(' ').unwrap_or((&value, ""));
                    lead.tags.push(SyncTag {
                        name,
                        // A malformed time ranks the tag oldest rather than stopping the sync.
                        at: at.parse().unwrap_or(0),
                        source: source.to_owned(),
                    });
                }
            }
        }
        lead
    }
}

/// A tag change on WeChat.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TagOp {
    /// `batchuntagging`.
    Remove,
    /// `batchtagging`.
    Add,
}

/// A change that can never succeed, as the sync worker writes it to the dead-letter list
/// (read back with [`Store::dead_letters`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeadLetterRecord {
    /// The lead.
    pub openid: String,
    /// The tag name (or `#<id>` for a WeChat id wxtag no longer knows a name for).
    pub tag: String,
    /// Whether the tag was being added or removed.
    pub op: TagOp,
    /// WeChat's errcode, when WeChat answered with one.
    pub errcode: Option<i64>,
    /// What went wrong, and what to do.
    pub error: String,
    /// When it was given up on (unix s).
    pub at: i64,
}

/// The milliseconds part of a stream entry id (`<ms>-<seq>`).
pub fn entry_ms(id: &str) -> Option<u64> {
    id.split_once('-').map_or(id, |(ms, _)| ms).parse().ok()
}

fn text(value: &Value) -> Option<String> {
    match value {
        Value::BulkString(bytes) => String::from_utf8(bytes.clone()).ok(),
        Value::SimpleString(s) => Some(s.clone()),
        _ => None,
    }
}

/// Reads `[[id, [field, value, …] | nil], …]` into entries.
fn entries_of(value: &Value) -> Vec<OutboxEntry> {
    let Value::Array(items) = value else {
        return Vec::new();
    };
    items
        .iter()
        .filter_map(|item| {
            let Value::Array(pair) = item else {
                return None;
            };
            let id = text(pair.first()?)?;
            let field = |name: &str| match pair.get(1) {
                Some(Value::Array(fields)) => fields
                    .chunks(2)
                    .find(|kv| kv.first().and_then(text).as_deref() == Some(name))
                    .and_then(|kv| kv.get(1).and_then(text)),
                _ => None,
            };
            let openid = field("o").and_then(|raw| OpenId::parse(&raw).ok());
            let refollow = field("refollow").as_deref() == Some("1");
            Some(OutboxEntry {
                id,
                openid,
                refollow,
            })
        })
        .collect()
}

/// Reads an XREADGROUP reply (`nil`, or one stream's entries, as an array or a RESP3 map).
fn read_reply(value: &Value) -> Vec<OutboxEntry> {
    match value {
        Value::Array(streams) => streams
            .iter()
            .flat_map(|stream| match stream {
                Value::Array(kv) => kv.get(1).map(entries_of).unwrap_or_default(),
                _ => Vec::new(),
            })
            .collect(),
        Value::Map(streams) => streams.iter().flat_map(|(_, e)| entries_of(e)).collect(),
        _ => Vec::new(),
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1)
}

impl Store {
    /// Creates the outbox's consumer group (and the stream) unless they exist; the group
    /// starts at the beginning, so entries written before the first sync are synced too.
    pub async fn ensure_outbox_group(&self) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        let created: Result<(), redis::RedisError> = redis::cmd("XGROUP")
            .arg("CREATE")
            .arg(self.keys.outbox())
            .arg(OUTBOX_GROUP)
            .arg("0")
            .arg("MKSTREAM")
            .query_async(&mut conn)
            .await;
        match created {
            Err(e) if e.code() == Some("BUSYGROUP") => Ok(()),
            other => Ok(other?),
        }
    }

    /// Up to `count` outbox entries for `consumer`, without blocking the shared connection.
    pub async fn read_outbox(
        &self,
        consumer: &str,
        which: OutboxRead,
        count: usize,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        if count == 0 {
            return Ok(Vec::new());
        }
        let mut conn = self.conn.clone();
        let reply: Value = redis::cmd("XREADGROUP")
            .arg("GROUP")
            .arg(OUTBOX_GROUP)
            .arg(consumer)
            .arg("COUNT")
            .arg(count)
            .arg("STREAMS")
            .arg(self.keys.outbox())
            .arg(match which {
                OutboxRead::Pending => "0",
                OutboxRead::New => ">",
            })
            .query_async(&mut conn)
            .await?;
        Ok(read_reply(&reply))
    }

    /// Claims for `consumer` up to `count` entries another consumer was given more than
    /// `min_idle` ago without acknowledging them, scanning the pending list from `cursor`.
    ///
    /// Returns the entries and where the next scan starts (`0-0` once the list was scanned).
    pub async fn claim_outbox(
        &self,
        consumer: &str,
        min_idle: Duration,
        cursor: &str,
        count: usize,
    ) -> Result<(Vec<OutboxEntry>, String), StoreError> {
        let mut conn = self.conn.clone();
        let reply: Value = redis::cmd("XAUTOCLAIM")
            .arg(self.keys.outbox())
            .arg(OUTBOX_GROUP)
            .arg(consumer)
            .arg(millis(min_idle))
            .arg(cursor)
            .arg("COUNT")
            .arg(count.max(1))
            .query_async(&mut conn)
            .await?;
        let Value::Array(parts) = &reply else {
            return Ok((Vec::new(), "0-0".to_owned()));
        };
        let next = parts.first().and_then(text).unwrap_or_else(|| "0-0".into());
        let entries = parts.get(1).map(entries_of).unwrap_or_default();
        Ok((entries, next))
    }

    /// Acknowledges entries and deletes them from the outbox.
    pub async fn ack_outbox(&self, ids: &[String]) -> Result<(), StoreError> {
        let outbox = self.keys.outbox();
        let mut conn = self.conn.clone();
        for chunk in ids.chunks(CHUNK) {
            let mut pipe = redis::pipe();
            pipe.atomic()
                .cmd("XACK")
                .arg(&outbox)
                .arg(OUTBOX_GROUP)
                .arg(chunk)
                .ignore()
                .cmd("XDEL")
                .arg(&outbox)
                .arg(chunk)
                .ignore();
            pipe.query_async::<()>(&mut conn).await?;
        }
        Ok(())
    }

    /// Removes consumers that hold no entries and were idle at least `idle` (workers that
    /// stopped); returns how many went.
    pub async fn prune_consumers(&self, idle: Duration) -> Result<usize, StoreError> {
        let mut conn = self.conn.clone();
        let consumers: Vec<BTreeMap<String, Value>> = redis::cmd("XINFO")
            .arg("CONSUMERS")
            .arg(self.keys.outbox())
            .arg(OUTBOX_GROUP)
            .query_async(&mut conn)
            .await?;
        let idle = i64::try_from(idle.as_millis()).unwrap_or(i64::MAX);
        let mut pruned = 0;
        for consumer in consumers {
            let number = |field: &str| match consumer.get(field) {
                Some(Value::Int(n)) => *n,
                _ => 0,
            };
            let Some(name) = consumer.get("name").and_then(text) else {
                continue;
            };
            if number("pending") == 0 && number("idle") >= idle {
                let _: i64 = redis::cmd("XGROUP")
                    .arg("DELCONSUMER")
                    .arg(self.keys.outbox())
                    .arg(OUTBOX_GROUP)
                    .arg(&name)
                    .query_async(&mut conn)
                    .await?;
                pruned += 1;
            }
        }
        Ok(pruned)
    }

    /// The outbox depth, the time of its oldest entry and the dead-letter count.
    pub async fn outbox_stats(&self) -> Result<OutboxStats, StoreError> {
        let mut conn = self.conn.clone();
        let (depth, oldest, dead_letters): (u64, Value, u64) = redis::pipe()
            .xlen(self.keys.outbox())
            .cmd("XRANGE")
            .arg(self.keys.outbox())
            .arg("-")
            .arg("+")
            .arg("COUNT")
            .arg(1)
            .llen(self.keys.dead_letters())
            .query_async(&mut conn)
            .await?;
        let oldest_ms = entries_of(&oldest)
            .first()
            .and_then(|entry| entry_ms(&entry.id));
        Ok(OutboxStats {
            depth,
            oldest_ms,
            dead_letters,
        })
    }

    /// Takes, renews or frees the sync leases of these leads for `owner`; returns, per lead,
    /// whether `owner` holds the lease afterwards (for `Free`: whether it let one go).
    pub async fn lead_leases(
        &self,
        openids: &[OpenId],
        owner: &str,
        ttl: Duration,
        op: LeaseOp,
    ) -> Result<Vec<bool>, StoreError> {
        let keys: Vec<String> = openids.iter().map(|o| self.keys.sync_lease(o)).collect();
        self.leases(&keys, owner, ttl, op).await
    }

    /// Takes or frees the token refresh lock for `owner`.
    pub async fn token_lock(
        &self,
        owner: &str,
        ttl: Duration,
        op: LeaseOp,
    ) -> Result<bool, StoreError> {
        let held = self
            .leases(&[self.keys.access_token_lock()], owner, ttl, op)
            .await?;
        Ok(held.first().copied().unwrap_or(false))
    }

    async fn leases(
        &self,
        keys: &[String],
        owner: &str,
        ttl: Duration,
        op: LeaseOp,
    ) -> Result<Vec<bool>, StoreError> {
        let mut out = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(CHUNK) {
            let mut invocation = LEASE.prepare_invoke();
            for key in chunk {
                invocation.key(key);
            }
            invocation.arg(owner).arg(millis(ttl)).arg(op.as_str());
            let held: Vec<i64> = invocation.invoke_async(&mut self.conn.clone()).await?;
            out.extend(held.into_iter().map(|h| h == 1));
        }
        Ok(out)
    }

    /// The sync view of these leads, in order (an unknown lead reads as having no tags).
    pub async fn sync_leads(&self, openids: &[OpenId]) -> Result<Vec<SyncLead>, StoreError> {
        let mut conn = self.conn.clone();
        let mut out = Vec::with_capacity(openids.len());
        for chunk in openids.chunks(CHUNK) {
            let mut pipe = redis::pipe();
            for openid in chunk {
                pipe.hgetall(self.keys.lead(openid));
            }
            let leads: Vec<Vec<(String, String)>> = pipe.query_async(&mut conn).await?;
            out.extend(leads.into_iter().map(SyncLead::decode));
        }
        Ok(out)
    }

    /// Records what WeChat holds of each lead's tags (the raw `w` field), for each lead only
    /// while `owner` holds its sync lease (checked inside `lua/set_applied.lua`). Returns, per
    /// lead, whether it was written.
    pub async fn set_applied(
        &self,
        owner: &str,
        leads: &[(&OpenId, String)],
    ) -> Result<Vec<bool>, StoreError> {
        let mut written = Vec::with_capacity(leads.len());
        for chunk in leads.chunks(CHUNK) {
            let mut invocation = SET_APPLIED.prepare_invoke();
            invocation.arg(owner);
            for (openid, applied) in chunk {
                invocation
                    .key(self.keys.lead(openid))
                    .key(self.keys.sync_lease(openid))
                    .arg(applied);
            }
            let done: Vec<i64> = invocation.invoke_async(&mut self.conn.clone()).await?;
            written.extend(done.into_iter().map(|d| d == 1));
        }
        Ok(written)
    }

    /// Records a tag's WeChat id; the tag is no longer unsynced.
    pub async fn set_wechat_tag_id(&self, name: &TagName, id: TagId) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        redis::pipe()
            .hset(self.keys.wechat_tag_ids(), name.as_str(), id.0)
            .ignore()
            .hdel(self.keys.unsynced_tags(), name.as_str())
            .ignore()
            .query_async::<()>(&mut conn)
            .await?;
        Ok(())
    }

    /// Forgets a tag's WeChat id (the tag is gone from WeChat).
    pub async fn forget_wechat_tag_id(&self, name: &str) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        let _: i64 = conn.hdel(self.keys.wechat_tag_ids(), name).await?;
        Ok(())
    }

    /// Marks a tag unsynced, with why.
    pub async fn mark_unsynced(&self, name: &TagName, reason: &str) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        let _: i64 = conn
            .hset(self.keys.unsynced_tags(), name.as_str(), reason)
            .await?;
        Ok(())
    }

    /// Clears the unsynced mark of these tags, so the sync tries them again.
    pub async fn clear_unsynced(&self, names: &[String]) -> Result<(), StoreError> {
        if names.is_empty() {
            return Ok(());
        }
        let mut conn = self.conn.clone();
        let _: i64 = conn.hdel(self.keys.unsynced_tags(), names).await?;
        Ok(())
    }

    /// Every tag name ever applied in Redis.
    pub async fn registered_tags(&self) -> Result<Vec<String>, StoreError> {
        let mut conn = self.conn.clone();
        Ok(conn.hkeys(self.keys.tags()).await?)
    }

    /// Imports a console tag and these members of it (see `lua/import_tag.lua`); returns how
    /// many leads newly carry it.
    pub async fn import_external_tag(
        &self,
        name: &TagName,
        id: TagId,
        members: &[OpenId],
        at: UnixTime,
    ) -> Result<u64, StoreError> {
        let keys = &self.keys;
        let mut invocation = IMPORT_TAG.prepare_invoke();
        invocation
            .key(keys.tags())
            .key(keys.tag_members(name))
            .key(keys.leads())
            .key(keys.external_tags())
            .key(keys.wechat_tag_ids());
        for openid in members {
            invocation.key(keys.lead(openid));
        }
        invocation.arg(name.as_str()).arg(id.0).arg(at.0);
        for openid in members {
            invocation.arg(openid.as_str());
        }
        Ok(invocation.invoke_async(&mut self.conn.clone()).await?)
    }

    /// Up to `count` lead openids from position `start` of the leads index (oldest first).
    pub async fn lead_ids(&self, start: usize, count: usize) -> Result<Vec<OpenId>, StoreError> {
        if count == 0 {
            return Ok(Vec::new());
        }
        let mut conn = self.conn.clone();
        let stop = isize::try_from(start + count - 1).unwrap_or(isize::MAX);
        let start = isize::try_from(start).unwrap_or(isize::MAX);
        let raw: Vec<String> = conn.lrange(self.keys.leads(), start, stop).await?;
        Ok(raw.iter().filter_map(|o| OpenId::parse(o).ok()).collect())
    }

    /// Adds a change to the dead-letter list.
    pub async fn push_dead_letter(&self, letter: &DeadLetterRecord) -> Result<(), StoreError> {
        let json = serde_json::to_string(letter).map_err(|e| StoreError::Corrupt {
            key: self.keys.dead_letters(),
            what: format!("a dead letter could not be encoded: {e}"),
        })?;
        let mut conn = self.conn.clone();
        let _: i64 = conn.lpush(self.keys.dead_letters(), json).await?;
        Ok(())
    }

    /// Removes these leads' dead letters WeChat refused with `errcode`; returns how many went.
    pub async fn clear_dead_letters(
        &self,
        openids: &[OpenId],
        errcode: i64,
    ) -> Result<u64, StoreError> {
        let mut invocation = CLEAR_DEAD_LETTERS.prepare_invoke();
        invocation.key(self.keys.dead_letters()).arg(errcode);
        for openid in openids {
            invocation.arg(openid.as_str());
        }
        Ok(invocation.invoke_async(&mut self.conn.clone()).await?)
    }

    /// The shared access token, if one is cached.
    pub async fn access_token(&self) -> Result<Option<String>, StoreError> {
        let mut conn = self.conn.clone();
        Ok(conn.get(self.keys.access_token()).await?)
    }

    /// Caches the shared access token for `ttl`.
    pub async fn set_access_token(&self, token: &str, ttl: Duration) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        let _: () = conn
            .pset_ex(self.keys.access_token(), token, millis(ttl))
            .await?;
        Ok(())
    }

    /// Drops the cached access token if it is still `stale` (someone may have replaced it).
    pub async fn drop_access_token(&self, stale: &str) -> Result<(), StoreError> {
        self.leases(
            &[self.keys.access_token()],
            stale,
            Duration::from_millis(1),
            LeaseOp::Free,
        )
        .await
        .map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lead_hash_decodes_for_the_sync() {
        let lead = SyncLead::decode(vec![
            ("fc".into(), "expo".into()),
            ("w".into(), "100 ?101".into()),
            ("t:来源:展会".into(), "10 qr:expo".into()),
            ("t:兴趣:A".into(), "bad click:A".into()),
            ("sub".into(), "1".into()),
        ]);
        assert_eq!(lead.first_channel.as_deref(), Some("expo"));
        assert_eq!(lead.tags.len(), 2);
        assert_eq!(lead.tags[0].source, "qr:expo");
        assert_eq!(lead.tags[1].at, 0, "a malformed time ranks oldest");
        assert_eq!(lead.applied_raw, "100 ?101");
        assert!(lead.subscribed);
    }

    #[test]
    fn stream_replies_parse_with_deleted_and_foreign_entries() {
        let bulk = |s: &str| Value::BulkString(s.as_bytes().to_vec());
        let reply = Value::Array(vec![Value::Array(vec![
            bulk("wx:{a}:outbox"),
            Value::Array(vec![
                Value::Array(vec![
                    bulk("1700000000000-0"),
                    Value::Array(vec![bulk("o"), bulk("o1")]),
                ]),
                Value::Array(vec![bulk("1700000000001-0"), Value::Nil]),
                Value::Array(vec![
                    bulk("1700000000002-0"),
                    Value::Array(vec![bulk("x"), bulk("y")]),
                ]),
                Value::Array(vec![
                    bulk("1700000000003-0"),
                    Value::Array(vec![bulk("o"), bulk("o2"), bulk("refollow"), bulk("1")]),
                ]),
            ]),
        ])]);
        let entries = read_reply(&reply);
        assert_eq!(entries.len(), 4);
        assert_eq!(entries[0].openid, Some(OpenId::parse("o1").unwrap()));
        assert!(!entries[0].refollow && entries[3].refollow);
        assert_eq!(entries[1].openid, None);
        assert_eq!(entries[2].openid, None);
        assert_eq!(entry_ms(&entries[2].id), Some(1_700_000_000_002));
        assert!(read_reply(&Value::Nil).is_empty());
    }

    #[test]
    fn dead_letters_have_the_agreed_shape() {
        let letter = DeadLetterRecord {
            openid: "o1".into(),
            tag: "兴趣:A".into(),
            op: TagOp::Add,
            errcode: Some(40003),
            error: "invalid openid".into(),
            at: 1,
        };
        let json = serde_json::to_value(&letter).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"openid":"o1","tag":"兴趣:A","op":"add","errcode":40003,
                "error":"invalid openid","at":1})
        );
    }
}
