//! A lead as the rules over time read it: its profile, its tags with their why, and its
//! touch history, with the version that makes writing derived tags safe against other events.

use std::collections::BTreeMap;

use super::history::TouchHistory;
use crate::domain::{TagName, UnixTime};

/// One tag a lead holds: when it was first applied and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateTag {
    /// The tag.
    pub name: TagName,
    /// When it was (last) added to the lead.
    pub at: UnixTime,
    /// Why: a touch key (`qr:expo`), `admin`, or a derived source (`rule:<name>`, …).
    pub source: String,
}

/// Everything the rules over time need to know about one lead.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LeadState {
    /// Bumped by every write to the lead; a derived write names the version it read.
    pub version: u64,
    /// When wxtag first saw the lead.
    pub first_seen: Option<UnixTime>,
    /// The lead's last touch (what counts as one is in the contract's table).
    pub last_seen: Option<UnixTime>,
    /// The first channel's scene; `Some("")` for an organic follow.
    pub first_channel: Option<String>,
    /// The later channels' scenes, in order.
    pub channels: Vec<String>,
    /// True while the lead follows.
    pub subscribed: bool,
    /// The tags, in no particular order.
    pub tags: Vec<StateTag>,
    /// Profile fields (from forms and imports), by name.
    pub fields: BTreeMap<String, String>,
    /// The touch history.
    pub history: TouchHistory,
    /// The custom events whose properties a condition's `where` reads, oldest first.
    pub events: Vec<EventRecord>,
}

/// One custom event with its properties, as a condition's `where` reads it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EventRecord {
    /// The event's name (`order`), as in the touch key `event:<name>`.
    pub name: String,
    /// When it happened (its own `at`).
    pub at: UnixTime,
    /// Its properties.
    pub props: serde_json::Map<String, serde_json::Value>,
}
