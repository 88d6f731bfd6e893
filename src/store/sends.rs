//! The store side of sends within WeChat's rules: each attempt recorded before its call and
//! its result after (at most once), the messages spent against a lead's customer-service
//! windows (`send_reserve.lua`), the do-not-contact mark and the blacklist mark.
//!
//! When a lead's windows opened is written by the touch itself (`apply_touch.lua`, the lead
//! hash's `wm` and `wi`); what was spent against them lives in the lead's own small
//! `win:<openid>` hash, written only here, so the intake's hot path pays nothing for it.

use std::sync::LazyLock;

use redis::Script;

use super::lead::TimelineEntry;
use super::{Store, StoreError, fields};
use crate::domain::{OpenId, UnixTime};

/// How long an attempt's record is kept: a caller that asks again within it (a restart, a
/// second process) gets the recorded result and never a second call.
pub const ATTEMPT_TTL_SECS: u64 = 30 * 86_400;

/// The most leads one blacklist step marks in one script.
const BLACKLIST_CHUNK: usize = 500;

static RESERVE: LazyLock<Script> = LazyLock::new(|| script(include_str!("lua/send_reserve.lua")));
static FINISH: LazyLock<Script> = LazyLock::new(|| script(include_str!("lua/send_finish.lua")));
static DO_NOT_CONTACT: LazyLock<Script> =
    LazyLock::new(|| script(include_str!("lua/do_not_contact.lua")));
static BLACKLIST: LazyLock<Script> =
    LazyLock::new(|| script(include_str!("lua/mark_blacklisted.lua")));

/// A script with the field names and the timeline's and changed index's helpers.
fn script(body: &str) -> Script {
    fields::script(
        &[
            include_str!("lua/timeline.lua"),
            include_str!("lua/changed.lua"),
            body,
        ]
        .concat(),
    )
}

/// Which WeChat API a send uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendChannel {
    /// A customer-service message (`message/custom/send`), only inside a window.
    Custom,
    /// A template message (`message/template/send`), outside the windows.
    Template,
}

impl SendChannel {
    /// The channel's name in records and on the timeline: `custom` or `template`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Custom => "custom",
            Self::Template => "template",
        }
    }

    fn parse(raw: &str) -> Option<Self> {
        match raw {
            "custom" => Some(Self::Custom),
            "template" => Some(Self::Template),
            _ => None,
        }
    }
}

/// WeChat's customer-service windows, as the send path counts them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowLimits {
    /// How long a user message's window lasts (s).
    pub message_secs: i64,
    /// Messages it allows.
    pub message_messages: u32,
    /// How long a follow's, scan's or click's window lasts (s).
    pub interaction_secs: i64,
    /// Messages it allows.
    pub interaction_messages: u32,
}

/// One send to reserve.
#[derive(Debug, Clone, Copy)]
pub struct SendRequest<'a> {
    /// The lead.
    pub openid: &'a OpenId,
    /// The caller's stable id of this attempt.
    pub attempt: &'a str,
    /// The channel asked for.
    pub channel: SendChannel,
    /// True when a template may stand in for a customer-service message no window allows.
    pub fallback: bool,
    /// What is sent, in a few words, for the timeline.
    pub what: &'a str,
    /// Now.
    pub now: UnixTime,
    /// The windows.
    pub windows: WindowLimits,
}

/// What `send_reserve.lua` decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reservation {
    /// The attempt finished before: its record, as [`Store::finish_send`] wrote it.
    Seen(String),
    /// The attempt was recorded before and never finished (a crash mid-call): now marked
    /// unknown and on the timeline; it must not be called again.
    Unknown(SendChannel),
    /// No call: the reason, recorded and on the timeline.
    Skipped(String),
    /// Call `message/custom/send`: a slot of an open window is spent.
    Custom,
    /// Call `message/template/send`; with the reason a customer-service message could not be
    /// sent when the template stands in for one.
    Template(Option<String>),
}

impl Store {
    /// Reserves one send (see `send_reserve.lua`): the attempt recorded as pending, a slot
    /// spent, or the reason there is no call.
    pub async fn reserve_send(&self, request: &SendRequest<'_>) -> Result<Reservation, StoreError> {
        let keys = &self.keys;
        let windows = request.windows;
        let (decision, detail): (String, String) = RESERVE
            .key(keys.lead(request.openid))
            .key(keys.window_spend(request.openid))
            .key(keys.send_attempt(request.attempt))
            .key(keys.timeline_head(request.openid))
            .key(keys.timeline_older(request.openid))
            .arg(request.now.0)
            .arg(request.channel.as_str())
            .arg(if request.fallback { "1" } else { "0" })
            .arg(ATTEMPT_TTL_SECS)
            .arg(one_line(request.what))
            .arg(windows.message_secs)
            .arg(windows.message_messages)
            .arg(windows.interaction_secs)
            .arg(windows.interaction_messages)
            .invoke_async(&mut self.conn.clone())
            .await?;
        let corrupt = || StoreError::Corrupt {
            key: keys.send_attempt(request.attempt),
            what: format!("send_reserve.lua answered {decision:?} {detail:?}"),
        };
        Ok(match decision.as_str() {
            "seen" => Reservation::Seen(detail),
            "unknown" => Reservation::Unknown(SendChannel::parse(&detail).ok_or_else(corrupt)?),
            "skip" => Reservation::Skipped(detail),
            "custom" => Reservation::Custom,
            "template" => Reservation::Template((!detail.is_empty()).then_some(detail)),
            _ => return Err(corrupt()),
        })
    }

    /// Records how an attempt ended (`record`, what [`Reservation::Seen`] gives back later),
    /// with its timeline entry (`kind` `send`, `detail`) and, after 43019, the lead's
    /// blacklist mark. A record of `pending <channel>` starts the attempt's next call (a
    /// template after a refused customer-service message).
    pub async fn finish_send(
        &self,
        openid: &OpenId,
        attempt: &str,
        record: &str,
        detail: Option<&str>,
        blacklisted_by: Option<&str>,
        at: UnixTime,
    ) -> Result<(), StoreError> {
        let keys = &self.keys;
        let _: i64 = FINISH
            .key(keys.send_attempt(attempt))
            .key(keys.lead(openid))
            .key(keys.timeline_head(openid))
            .key(keys.timeline_older(openid))
            .key(keys.changed())
            .arg(record)
            .arg(ATTEMPT_TTL_SECS)
            .arg(detail.map_or_else(String::new, |d| TimelineEntry::encode(at, "send", d)))
            .arg(blacklisted_by.map_or_else(String::new, |by| format!("{} {by}", at.0)))
            .arg(openid.as_str())
            .invoke_async(&mut self.conn.clone())
            .await?;
        Ok(())
    }

    /// Sets (with its source, e.g. `admin`) or clears (`None`) the lead's do-not-contact
    /// mark, with a timeline entry. `None` for a lead wxtag does not know, else whether
    /// anything changed.
    pub async fn set_do_not_contact(
        &self,
        openid: &OpenId,
        source: Option<&str>,
        at: UnixTime,
    ) -> Result<Option<bool>, StoreError> {
        let keys = &self.keys;
        let (mark, entry) = match source {
            Some(source) => (
                format!("{} {source}", at.0),
                TimelineEntry::encode(at, "do_not_contact", &format!("on by {source}")),
            ),
            None => (
                String::new(),
                TimelineEntry::encode(at, "do_not_contact", "off"),
            ),
        };
        let changed: i64 = DO_NOT_CONTACT
            .key(keys.lead(openid))
            .key(keys.timeline_head(openid))
            .key(keys.timeline_older(openid))
            .key(keys.changed())
            .arg(mark)
            .arg(entry)
            .arg(openid.as_str())
            .invoke_async(&mut self.conn.clone())
            .await?;
        Ok((changed >= 0).then_some(changed == 1))
    }

    /// Marks the known leads among `openids` (a page of WeChat's blacklist) as blacklisted,
    /// in steps of at most 500 leads; returns how many were newly marked.
    pub async fn mark_blacklisted(
        &self,
        openids: &[OpenId],
        at: UnixTime,
    ) -> Result<u64, StoreError> {
        let keys = &self.keys;
        let mut marked = 0;
        for chunk in openids.chunks(BLACKLIST_CHUNK) {
            let mut invocation = BLACKLIST.prepare_invoke();
            for openid in chunk {
                invocation.key(keys.lead(openid));
            }
            invocation
                .key(keys.changed())
                .arg(format!("{} blacklist", at.0));
            for openid in chunk {
                invocation.arg(openid.as_str());
            }
            let n: u64 = invocation.invoke_async(&mut self.conn.clone()).await?;
            marked += n;
        }
        Ok(marked)
    }
}

impl Store {
    /// Why each lead (up to 500) may not be contacted now, in order: `do_not_contact`,
    /// `blacklisted`, `unfollowed` or `unknown_lead`; `None` for a lead a message may reach.
    /// For broadcasts, which honour the same marks as sends.
    pub async fn contact_blocks(
        &self,
        openids: &[OpenId],
    ) -> Result<Vec<Option<&'static str>>, StoreError> {
        let mut pipe = redis::pipe();
        for openid in openids.iter().take(BLACKLIST_CHUNK) {
            pipe.cmd("HMGET")
                .arg(self.keys.lead(openid))
                .arg(fields::FIRST_SEEN)
                .arg(fields::DO_NOT_CONTACT)
                .arg(fields::BLACKLISTED)
                .arg(fields::SUBSCRIBED);
        }
        let marks: Vec<Vec<Option<String>>> = pipe.query_async(&mut self.conn.clone()).await?;
        Ok(marks
            .into_iter()
            .map(|mark| {
                let set = |i: usize| mark.get(i).is_some_and(Option::is_some);
                if !set(0) {
                    Some("unknown_lead")
                } else if set(1) {
                    Some("do_not_contact")
                } else if set(2) {
                    Some("blacklisted")
                } else if mark.get(3).and_then(Option::as_deref) == Some("0") {
                    Some("unfollowed")
                } else {
                    None
                }
            })
            .collect())
    }
}

/// Text for one timeline entry: control characters (line breaks) become spaces.
fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}
