//! The dead letters: sync changes WeChat refused for good, newest first, as JSON objects
//! (read back for the dashboard in `views.rs`); those of leads that followed again are
//! cleared by errcode (`lua/clear_dead_letters.lua`).

use std::sync::LazyLock;

use redis::{AsyncCommands, Script};
use serde::Serialize;

use super::{Store, StoreError};
use crate::domain::OpenId;

static CLEAR_DEAD_LETTERS: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("lua/clear_dead_letters.lua")));

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

impl Store {
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
}

#[cfg(test)]
mod tests {
    use super::*;

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
