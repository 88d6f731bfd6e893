//! Reads for the dashboard: every tag's WeChat sync state, and the dead letters of the sync
//! worker.
//!
//! The sync worker writes the keys read here (see [`super::keys`]): `wechat_tag_ids` maps a tag
//! name to its WeChat tag id, `unsynced_tags` a tag name to why it cannot be synced,
//! `external_tags` holds the tags staff made in the WeChat console, and `dead_letters` is a
//! list of JSON objects `{"openid","tag","op","errcode","error","at"}`, newest first.

use std::collections::{BTreeSet, HashMap};

use serde::Deserialize;
use serde_json::Value;

use super::{Store, StoreError, rfc3339};
use crate::domain::UnixTime;

/// What wxtag knows about every tag's life in WeChat.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct TagSync {
    /// Tag name → its WeChat tag id, for tags that exist in WeChat.
    pub wechat_ids: HashMap<String, u64>,
    /// Tag name → why it cannot be synced (e.g. the account's 100-tag limit).
    pub unsynced: HashMap<String, String>,
    /// Tags staff made in the WeChat console.
    pub external: BTreeSet<String>,
}

/// One tag's state in WeChat: the one answer the API and the dashboard both show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TagState {
    /// Made by staff in the WeChat console: shown, never deleted.
    External,
    /// It can never be synced as things are, for this reason (e.g. the 100-tag limit).
    Unsynced(String),
    /// WeChat has the tag.
    Synced,
    /// Not in WeChat yet: the sync worker creates it when it is first needed.
    Pending,
}

impl TagSync {
    /// The state of the tag `name`.
    pub fn state_of(&self, name: &str) -> TagState {
        if self.external.contains(name) {
            TagState::External
        } else if let Some(reason) = self.unsynced.get(name) {
            TagState::Unsynced(reason.clone())
        } else if self.wechat_ids.contains_key(name) {
            TagState::Synced
        } else {
            TagState::Pending
        }
    }
}

/// One sync change that can never succeed, as the dashboard and the API show it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DeadLetter {
    /// The lead.
    pub openid: String,
    /// The tag.
    pub tag: String,
    /// What was asked of WeChat, e.g. `add` or `remove`.
    pub op: String,
    /// WeChat's errcode, when it gave one.
    pub errcode: Option<i64>,
    /// What went wrong; the raw entry when it is not in the documented shape.
    pub error: String,
    /// When, RFC 3339 in China time (or as stored when it is not a unix time).
    pub at: String,
}

/// The newest dead letters and how many there are in all.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct DeadLetters {
    /// How many dead letters the list holds.
    pub total: u64,
    /// The newest of them, newest first.
    pub newest: Vec<DeadLetter>,
}

/// A dead letter as the sync worker writes it; every field optional so one odd entry never
/// hides the others.
#[derive(Debug, Deserialize)]
struct RawDeadLetter {
    #[serde(default)]
    openid: String,
    #[serde(default)]
    tag: String,
    #[serde(default)]
    op: String,
    #[serde(default)]
    errcode: Option<i64>,
    #[serde(default)]
    error: String,
    #[serde(default)]
    at: Value,
}

impl DeadLetter {
    fn decode(raw: &str) -> Self {
        match serde_json::from_str::<RawDeadLetter>(raw) {
            Ok(entry) => Self {
                openid: entry.openid,
                tag: entry.tag,
                op: entry.op,
                errcode: entry.errcode,
                error: entry.error,
                at: match entry.at {
                    Value::Number(n) => n.as_i64().map(UnixTime).map_or(n.to_string(), rfc3339),
                    Value::String(s) => s,
                    _ => String::new(),
                },
            },
            Err(_) => Self {
                openid: String::new(),
                tag: String::new(),
                op: String::new(),
                errcode: None,
                error: raw.to_owned(),
                at: String::new(),
            },
        }
    }
}

impl Store {
    /// Every tag's WeChat id, unsynced reason and console origin, in one round trip.
    pub async fn tag_sync(&self) -> Result<TagSync, StoreError> {
        let mut conn = self.conn.clone();
        let (wechat_ids, unsynced, external) = redis::pipe()
            .hgetall(self.keys.wechat_tag_ids())
            .hgetall(self.keys.unsynced_tags())
            .smembers(self.keys.external_tags())
            .query_async(&mut conn)
            .await?;
        Ok(TagSync {
            wechat_ids,
            unsynced,
            external,
        })
    }

    /// The `limit` newest dead letters, and how many there are.
    pub async fn dead_letters(&self, limit: usize) -> Result<DeadLetters, StoreError> {
        let mut conn = self.conn.clone();
        let stop = isize::try_from(limit).unwrap_or(isize::MAX) - 1;
        let (total, raw): (u64, Vec<String>) = redis::pipe()
            .llen(self.keys.dead_letters())
            .lrange(self.keys.dead_letters(), 0, stop)
            .query_async(&mut conn)
            .await?;
        Ok(DeadLetters {
            total,
            newest: raw.iter().map(|r| DeadLetter::decode(r)).collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_console_tag_is_external_first_and_an_unsynced_reason_beats_an_id() {
        let sync = TagSync {
            wechat_ids: [
                ("a".to_owned(), 100),
                ("b".to_owned(), 101),
                ("e".to_owned(), 102),
            ]
            .into(),
            unsynced: [("b".to_owned(), "100-tag limit".to_owned())].into(),
            external: ["e".to_owned()].into(),
        };
        assert_eq!(sync.state_of("a"), TagState::Synced);
        assert_eq!(
            sync.state_of("b"),
            TagState::Unsynced("100-tag limit".to_owned())
        );
        assert_eq!(sync.state_of("e"), TagState::External);
        assert_eq!(sync.state_of("new"), TagState::Pending);
    }

    #[test]
    fn a_dead_letter_decodes_in_the_documented_shape() {
        let letter = DeadLetter::decode(
            r#"{"openid":"o1","tag":"来源:展会","op":"add","errcode":45159,"error":"invalid tag","at":1714112445}"#,
        );
        assert_eq!(letter.openid, "o1");
        assert_eq!(letter.errcode, Some(45159));
        assert_eq!(letter.at, "2024-04-26T14:20:45+08:00");
    }

    #[test]
    fn an_odd_dead_letter_is_shown_raw_not_dropped() {
        let letter = DeadLetter::decode("not json");
        assert_eq!(letter.error, "not json");
        let letter = DeadLetter::decode(r#"{"tag":"x","at":"yesterday"}"#);
        assert_eq!(letter.at, "yesterday");
        assert_eq!(letter.errcode, None);
    }
}
