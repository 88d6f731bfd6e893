//! The outbox: a Redis Stream of leads whose tags changed, read by the sync workers through
//! the consumer group `sync`, claimed from stopped workers, acknowledged and deleted in one
//! step, so its length is the number of entries not yet synced and its first entry the oldest
//! of them (the sync lag).

use std::collections::BTreeMap;
use std::time::Duration;

use redis::Value;

use super::keys::OUTBOX_GROUP;
use super::{CHUNK, Store, StoreError, millis};
use crate::domain::OpenId;

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

/// One entry of a stream read through a consumer group: its id and its fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct StreamEntry {
    /// The stream entry id.
    pub id: String,
    fields: Vec<(String, String)>,
}

impl StreamEntry {
    /// The value of `name`, if the entry has it.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Reads `[[id, [field, value, …] | nil], …]` into entries.
fn stream_entries(value: &Value) -> Vec<StreamEntry> {
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
            let fields = match pair.get(1) {
                Some(Value::Array(fields)) => fields
                    .chunks(2)
                    .filter_map(|kv| Some((text(kv.first()?)?, text(kv.get(1)?)?)))
                    .collect(),
                _ => Vec::new(),
            };
            Some(StreamEntry { id, fields })
        })
        .collect()
}

/// An outbox entry from a stream entry.
fn outbox_entry(entry: StreamEntry) -> OutboxEntry {
    OutboxEntry {
        openid: entry.field("o").and_then(|raw| OpenId::parse(raw).ok()),
        refollow: entry.field("refollow") == Some("1"),
        id: entry.id,
    }
}

/// Reads an XREADGROUP reply (`nil`, or one stream's entries, as an array or a RESP3 map).
fn read_reply(value: &Value) -> Vec<StreamEntry> {
    match value {
        Value::Array(streams) => streams
            .iter()
            .flat_map(|stream| match stream {
                Value::Array(kv) => kv.get(1).map(stream_entries).unwrap_or_default(),
                _ => Vec::new(),
            })
            .collect(),
        Value::Map(streams) => streams
            .iter()
            .flat_map(|(_, e)| stream_entries(e))
            .collect(),
        _ => Vec::new(),
    }
}

impl Store {
    /// Creates the outbox's consumer group (and the stream) unless they exist; the group
    /// starts at the beginning, so entries written before the first sync are synced too.
    pub async fn ensure_outbox_group(&self) -> Result<(), StoreError> {
        self.ensure_group(&self.keys.outbox(), OUTBOX_GROUP, "0")
            .await
    }

    /// Creates the consumer group `group` of `stream` (and the stream) unless they exist,
    /// starting at entry `from` (`0` for every entry, `$` for those written from now on).
    pub(super) async fn ensure_group(
        &self,
        stream: &str,
        group: &str,
        from: &str,
    ) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        let created: Result<(), redis::RedisError> = redis::cmd("XGROUP")
            .arg("CREATE")
            .arg(stream)
            .arg(group)
            .arg(from)
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
        let entries =
            (self.read_group(&self.keys.outbox(), OUTBOX_GROUP, consumer, which, count)).await?;
        Ok(entries.into_iter().map(outbox_entry).collect())
    }

    /// Up to `count` entries of `stream` for `consumer` of `group`, without blocking the
    /// shared connection.
    pub(super) async fn read_group(
        &self,
        stream: &str,
        group: &str,
        consumer: &str,
        which: OutboxRead,
        count: usize,
    ) -> Result<Vec<StreamEntry>, StoreError> {
        if count == 0 {
            return Ok(Vec::new());
        }
        let mut conn = self.conn.clone();
        let reply: Value = redis::cmd("XREADGROUP")
            .arg("GROUP")
            .arg(group)
            .arg(consumer)
            .arg("COUNT")
            .arg(count)
            .arg("STREAMS")
            .arg(stream)
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
        let (entries, next) = self
            .autoclaim(
                &self.keys.outbox(),
                OUTBOX_GROUP,
                consumer,
                min_idle,
                cursor,
                count,
            )
            .await?;
        Ok((entries.into_iter().map(outbox_entry).collect(), next))
    }

    /// XAUTOCLAIM on `stream`'s `group` for `consumer`: entries idle over `min_idle`, from
    /// `cursor`; the entries and where the next scan starts (`0-0` once it went round).
    pub(super) async fn autoclaim(
        &self,
        stream: &str,
        group: &str,
        consumer: &str,
        min_idle: Duration,
        cursor: &str,
        count: usize,
    ) -> Result<(Vec<StreamEntry>, String), StoreError> {
        let mut conn = self.conn.clone();
        let reply: Value = redis::cmd("XAUTOCLAIM")
            .arg(stream)
            .arg(group)
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
        let entries = parts.get(1).map(stream_entries).unwrap_or_default();
        Ok((entries, next))
    }

    /// Acknowledges entries and deletes them from the outbox.
    pub async fn ack_outbox(&self, ids: &[String]) -> Result<(), StoreError> {
        self.ack_group(&self.keys.outbox(), OUTBOX_GROUP, ids, true)
            .await
    }

    /// Acknowledges `ids` in `stream`'s `group`, and deletes them from the stream when
    /// `delete` (a stream other groups do not read).
    pub(super) async fn ack_group(
        &self,
        stream: &str,
        group: &str,
        ids: &[String],
        delete: bool,
    ) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        for chunk in ids.chunks(CHUNK) {
            let mut pipe = redis::pipe();
            pipe.atomic()
                .cmd("XACK")
                .arg(stream)
                .arg(group)
                .arg(chunk)
                .ignore();
            if delete {
                pipe.cmd("XDEL").arg(stream).arg(chunk).ignore();
            }
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
        let oldest_ms = stream_entries(&oldest)
            .first()
            .and_then(|entry| entry_ms(&entry.id));
        Ok(OutboxStats {
            depth,
            oldest_ms,
            dead_letters,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let entries: Vec<_> = read_reply(&reply).into_iter().map(outbox_entry).collect();
        assert_eq!(entries.len(), 4);
        assert_eq!(entries[0].openid, Some(OpenId::parse("o1").unwrap()));
        assert!(!entries[0].refollow && entries[3].refollow);
        assert_eq!(entries[1].openid, None);
        assert_eq!(entries[2].openid, None);
        assert_eq!(entry_ms(&entries[2].id), Some(1_700_000_000_002));
        assert!(read_reply(&Value::Nil).is_empty());
    }
}
