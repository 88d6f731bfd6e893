//! Redis: the source of truth for leads, tags, timelines, channel counters and the outbox.
//!
//! One [`redis::aio::ConnectionManager`] is made at start-up and cloned into every handler.
//! Keys are built only in [`keys`]; the Lua scripts live in `src/store/lua/` and are called
//! by SHA (reloaded by the client on `NOSCRIPT`). Applying one event is one round trip.

pub mod access;
pub mod keys;
mod lead;
mod query;
mod sync;
mod views;

use redis::aio::ConnectionManager;
use redis::{AsyncCommands, Script};
use thiserror::Error;

use crate::domain::{OpenId, Scene, TagName, UnixTime};

pub use keys::Keys;
pub use lead::{Lead, LeadTag, TimelineEntry, rfc3339};
pub use query::{ChannelCounts, Counts, LeadFilter, LeadPage, MAX_RANGE_DAYS, TagCount};
pub use sync::{
    DeadLetterRecord, LeaseOp, OnWeChat, OutboxEntry, OutboxRead, OutboxStats, SyncLead, SyncTag,
    TagOp, entry_ms,
};
pub use views::{DeadLetter, DeadLetters, TagState, TagSync};

/// A failure talking to Redis, or Redis holding data wxtag did not write.
#[derive(Debug, Error)]
pub enum StoreError {
    /// Redis could not be reached or refused the command.
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    /// Redis answered in a shape wxtag did not ask for.
    #[error("redis answered in an unexpected shape: {0}")]
    Shape(#[from] redis::ParsingError),
    /// A stored value is not in the shape wxtag writes.
    #[error("redis holds an unexpected value at {key}: {what}")]
    Corrupt {
        /// The key holding the value.
        key: String,
        /// What is wrong with it.
        what: String,
    },
}

/// What an event does to the lead's subscription and the channel counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// A follow (organic, or through a QR code when a scene is given).
    Follow,
    /// A QR scan by a lead who already follows.
    Scan,
    /// An unfollow.
    Unfollow,
    /// A location report: updates the profile only.
    Location,
    /// Anything else the lead did (message, click, …).
    Touch,
}

impl Action {
    fn as_str(self) -> &'static str {
        match self {
            Action::Follow => "follow",
            Action::Scan => "scan",
            Action::Unfollow => "unfollow",
            Action::Location => "location",
            Action::Touch => "touch",
        }
    }
}

/// One event, ready to be applied to a lead.
#[derive(Debug)]
pub struct EventRecord<'a> {
    /// The lead.
    pub openid: &'a OpenId,
    /// What identifies this delivery among WeChat's retries.
    pub identity: &'a str,
    /// When the lead acted.
    pub at: UnixTime,
    /// Its effect on subscription and counters.
    pub action: Action,
    /// The channel it came through, if any.
    pub scene: Option<&'a Scene>,
    /// The timeline entry: kind and detail; `None` for location reports.
    pub timeline: Option<(&'a str, &'a str)>,
    /// The reported location, for location reports.
    pub location: Option<String>,
    /// The tags to add, each with why.
    pub tags: Vec<(&'a TagName, &'a str)>,
    /// Whether to read the lead's tags back (a reply depends on them).
    pub want_tags: bool,
}

/// The result of applying an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    /// False when this delivery had been handled before: nothing changed.
    pub fresh: bool,
    /// The lead's tags after the event, when [`EventRecord::want_tags`] asked for them.
    pub tags: Vec<String>,
}

/// The Redis store of one account.
#[derive(Clone)]
pub struct Store {
    conn: ConnectionManager,
    keys: Keys,
    apply_event: std::sync::Arc<Script>,
    edit_tags: std::sync::Arc<Script>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("keys", &self.keys).finish()
    }
}

/// China Standard Time, the day boundary for channel counters (China has no daylight saving).
pub fn china_time() -> chrono::FixedOffset {
    // 8 hours is a valid offset: the constructor only fails beyond ±24 h.
    chrono::FixedOffset::east_opt(8 * 3600).expect("UTC+8 is a valid offset")
}

/// The `yyyymmdd` day, in China time, that a moment falls on.
pub fn day_of(at: UnixTime) -> String {
    chrono::DateTime::from_timestamp(at.0, 0)
        .unwrap_or_default()
        .with_timezone(&china_time())
        .format("%Y%m%d")
        .to_string()
}

impl Store {
    /// The key builder of this store's account.
    pub fn keys(&self) -> &Keys {
        &self.keys
    }

    /// A clone of the shared connection manager, for parts that run their own commands
    /// (the sync worker) with keys from [`Store::keys`].
    pub fn connection(&self) -> ConnectionManager {
        self.conn.clone()
    }

    /// A store for the account `appid` over an existing connection manager.
    pub fn new(conn: ConnectionManager, appid: &str) -> Self {
        Self {
            conn,
            keys: Keys::new(appid),
            apply_event: std::sync::Arc::new(Script::new(concat!(
                include_str!("lua/timeline.lua"),
                include_str!("lua/apply_event.lua")
            ))),
            edit_tags: std::sync::Arc::new(Script::new(concat!(
                include_str!("lua/timeline.lua"),
                include_str!("lua/edit_tags.lua")
            ))),
        }
    }

    /// Loads the scripts into Redis so the first event does not pay for it.
    pub async fn load_scripts(&self) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        for script in [&self.apply_event, &self.edit_tags] {
            script.prepare_invoke().load_async(&mut conn).await?;
        }
        Ok(())
    }

    /// True when Redis answers a PING.
    pub async fn ping(&self) -> bool {
        let mut conn = self.conn.clone();
        redis::cmd("PING")
            .query_async::<String>(&mut conn)
            .await
            .is_ok()
    }

    /// Applies one event in one round trip: dedup, profile, counters, timeline, tags, outbox.
    pub async fn apply(&self, event: &EventRecord<'_>) -> Result<Applied, StoreError> {
        let keys = &self.keys;
        let mut invocation = self.apply_event.prepare_invoke();
        invocation
            .key(keys.dedup(event.identity))
            .key(keys.lead(event.openid))
            .key(keys.timeline(event.openid))
            .key(keys.leads())
            .key(keys.day(&day_of(event.at)))
            .key(keys.outbox())
            .key(keys.tags());
        for (tag, _) in &event.tags {
            invocation.key(keys.tag_members(tag));
        }
        if let Some(scene) = event.scene {
            invocation.key(keys.channel_members(scene));
        }
        let timeline = event
            .timeline
            .map(|(kind, detail)| TimelineEntry::encode(event.at, kind, detail))
            .unwrap_or_default();
        invocation
            .arg(keys::DEDUP_TTL_SECS)
            .arg(event.openid.as_str())
            .arg(event.at.0)
            .arg(event.action.as_str())
            .arg(event.scene.map(Scene::as_str).unwrap_or(""))
            .arg(timeline)
            .arg(keys::TIMELINE_CAP)
            .arg(event.location.as_deref().unwrap_or(""))
            .arg(if event.want_tags { "1" } else { "0" });
        for (tag, source) in &event.tags {
            invocation.arg(tag.as_str()).arg(*source);
        }
        let (fresh, tags): (i64, Vec<String>) =
            invocation.invoke_async(&mut self.conn.clone()).await?;
        Ok(Applied {
            fresh: fresh == 1,
            tags,
        })
    }

    /// Adds and removes tags on a lead by hand (sales' own tags), recording `source` as why.
    ///
    /// Returns `None` when wxtag does not know the lead, else how many tags changed.
    pub async fn edit_tags(
        &self,
        openid: &OpenId,
        add: &[TagName],
        remove: &[TagName],
        source: &str,
        at: UnixTime,
    ) -> Result<Option<u32>, StoreError> {
        let keys = &self.keys;
        let mut invocation = self.edit_tags.prepare_invoke();
        invocation
            .key(keys.lead(openid))
            .key(keys.timeline(openid))
            .key(keys.outbox())
            .key(keys.tags());
        for tag in add.iter().chain(remove) {
            invocation.key(keys.tag_members(tag));
        }
        let mut detail: Vec<String> = add.iter().map(|t| format!("+{t}")).collect();
        detail.extend(remove.iter().map(|t| format!("-{t}")));
        invocation
            .arg(openid.as_str())
            .arg(at.0)
            .arg(source)
            .arg(TimelineEntry::encode(at, "tag", &detail.join(" ")))
            .arg(keys::TIMELINE_CAP)
            .arg(add.len());
        for tag in add.iter().chain(remove) {
            invocation.arg(tag.as_str());
        }
        Ok(invocation.invoke_async(&mut self.conn.clone()).await?)
    }

    /// One lead with its tags and timeline (newest first), or `None` if wxtag never saw it.
    pub async fn lead(&self, openid: &OpenId) -> Result<Option<Lead>, StoreError> {
        Ok(self.leads_by_id(std::slice::from_ref(openid)).await?.pop())
    }

    /// How many leads wxtag knows.
    pub async fn lead_count(&self) -> Result<u64, StoreError> {
        let mut conn = self.conn.clone();
        Ok(conn.llen(self.keys.leads()).await?)
    }
}
