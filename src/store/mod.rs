//! Redis: the source of truth for leads, tags, timelines, channel counters and the outbox.
//!
//! One [`redis::aio::ConnectionManager`] is made at start-up and cloned into every handler.
//! Keys are built only in [`keys`]; the Lua scripts live in `src/store/lua/` and are called
//! by SHA (reloaded by the client on `NOSCRIPT`). Applying one touch is one round trip.

pub mod access;
mod annotate;
mod automation;
mod dead_letters;
mod deliveries;
mod derived;
pub mod durability;
mod events;
pub mod fields;
mod forms;
mod funnel;
pub mod history;
mod jobs;
pub mod key_ring;
pub mod keys;
mod lead;
mod leases;
mod link_keys;
mod menus;
mod outbox;
mod query;
mod registry;
mod seen;
mod segments;
mod sends;
mod state;
mod sync_leads;
mod tag_ids;
mod views;

use redis::aio::ConnectionManager;
use redis::{AsyncCommands, Script};
use sha1::{Digest, Sha1};
use thiserror::Error;

use crate::domain::{OpenId, Scene, TagName, UnixTime};

pub use automation::{EnteredEntry, FiredEntry, NewRun, RunNext, RunState};
pub use dead_letters::{DeadLetterRecord, TagOp};
pub use deliveries::{
    AttemptResult, DELIVERIES_LISTED, DELIVERY_TTL_SECS, DeliveryRecord, DeliveryState,
    NewDelivery, Requeued,
};
pub use derived::{BackfillStep, DERIVE_GRACE_SECS, DerivedWrite};
pub use durability::Durability;
pub use events::{
    Addressee, ChangedCursor, Join, PARK_SECS, PARKED_PER_LEAD, Parking, applied_identity,
};
pub use forms::{
    CONTACTS_PAGE_MAX, Contact, ContactBody, FORM_RATE_WINDOW_SECS, Known, Submission, Submitted,
    Through,
};
pub use funnel::{
    Cohort, FUNNEL_CHUNK, FUNNEL_MAX_EXAMINED, FUNNEL_SLACK_SECS, FunnelCounts, FunnelQuery,
};
pub use jobs::{ENDED_JOB_TTL_SECS, JobProgress, JobRecord};
pub use key_ring::KeyRing;
pub use keys::Keys;
pub use lead::{Lead, LeadField, LeadFlag, LeadTag, TimelineEntry, rfc3339};
pub use leases::{Held, LeaseOp};
pub use link_keys::{KeySet, LinkKey};
pub use menus::PublishedMenu;
pub use outbox::{OutboxEntry, OutboxRead, OutboxStats, entry_ms};
pub use query::{
    ChannelCounts, Counts, LeadFilter, LeadPage, ListError, MAX_EXAMINED, MAX_RANGE_DAYS, TagCount,
};
pub use seen::{SEEN_DAYS, SeenFill, seen_since};
pub use segments::{
    LeadSet, ProfileField, SEGMENT_DAYS, SNAPSHOT_TTL_SECS, SegmentCount, SegmentProfile, Share,
    StateRead,
};
pub use sends::{ATTEMPT_TTL_SECS, Reservation, SendChannel, SendRequest, WindowLimits};
pub use state::{EVENTS_KEPT, EventRecord, LeadState, StateTag};
pub use sync_leads::{SyncLead, SyncTag};
pub use views::{DeadLetter, DeadLetters, TagState, TagSync};

/// The most keys one round trip of the sync's reads and writes touches, so that a big batch
/// never holds up the connection it shares with the webhook for long.
const CHUNK: usize = 500;

/// A duration as Redis's milliseconds, at least 1 (0 would mean "no expiry" or an error).
fn millis(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1)
}

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

/// A touch's effect on the lead's subscription and the channel counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// A follow (organic, or through a QR code when a scene is given).
    Follow,
    /// A QR scan by a lead who already follows.
    Scan,
    /// An unfollow.
    Unfollow,
    /// A location report: updates the profile only.
    Location,
    /// Anything else the lead did in the chat (message, click, …): the lead follows.
    Other,
    /// A touch from outside the chat (a tracked link, a form, an event from another system):
    /// it counts like any touch, but proves nothing about following, so a lead first seen
    /// this way has no subscription (`null`) until WeChat says it follows.
    Outside,
    /// A system push about the account (a broadcast's or a template message's result): it
    /// creates no lead and changes nothing but its dedup marker.
    System,
}

impl Effect {
    fn as_str(self) -> &'static str {
        match self {
            Effect::Follow => "follow",
            Effect::Scan => "scan",
            Effect::Unfollow => "unfollow",
            Effect::Location => "location",
            Effect::Other => "other",
            Effect::Outside => "outside",
            Effect::System => "system",
        }
    }
}

/// The signed query of a push whose body no signature covers (plaintext), and that body:
/// the query may vouch for this body only, until its timestamp leaves WeChat's window.
#[derive(Debug, Clone, Copy)]
pub struct UnsignedBody<'a> {
    /// The query's `timestamp`, as sent.
    pub timestamp: &'a str,
    /// The query's `nonce`.
    pub nonce: &'a str,
    /// The query's `signature`.
    pub signature: &'a str,
    /// The body as received.
    pub body: &'a [u8],
    /// When the timestamp stops being accepted; the guard is forgotten then.
    pub until: UnixTime,
}

impl UnsignedBody<'_> {
    /// Where the replay guard remembers this query, and what the script gets: the query's
    /// field then 64 bits of the body's digest (a forger would need a second preimage within
    /// minutes).
    fn guard(&self, keys: &Keys) -> (keys::SignedQuerySlot, Vec<u8>) {
        let slot = keys.signed_query(self.timestamp, self.nonce, self.signature, self.until);
        let mut arg = slot.field.clone();
        arg.extend_from_slice(&Sha1::digest(self.body)[..8]);
        (slot, arg)
    }
}

/// One touch, ready to be applied to a lead.
#[derive(Debug)]
pub struct TouchRecord<'a> {
    /// The lead.
    pub openid: &'a OpenId,
    /// What identifies this delivery among WeChat's retries.
    pub identity: &'a str,
    /// The signed query and body of a plaintext push; `None` when a signature covers the body.
    pub unsigned_body: Option<UnsignedBody<'a>>,
    /// When the lead acted.
    pub at: UnixTime,
    /// Its effect on subscription and counters.
    pub effect: Effect,
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
    /// The touch keys this touch counts as, for the touch history (empty for what is not a
    /// touch: location reports, unfollows).
    pub history: Vec<&'a str>,
    /// How many days of touch history to keep (`WXTAG_HISTORY_DAYS`).
    pub history_days: u32,
    /// For [`Store::apply`]: the lead's whole [`LeadState`] is read back and the lead is
    /// marked due for the scheduler until a derived write lands ([`Store::apply_deriving`]
    /// writes the derived changes itself and reads nothing back).
    pub derive: bool,
    /// A custom event's record to keep on the lead ([`EventRecord::encode`]) because some
    /// condition reads its properties; `None` for every other touch.
    pub event: Option<&'a str>,
    /// What the touch itself fires for the automations beyond its tags (a form, an event:
    /// encoded `rules::automation::Fired`); empty for nothing.
    pub fired: String,
    /// One byte per tag in `tags`, `1` when an automation starts on its being added; empty
    /// when none does.
    pub watched: String,
    /// The customer-service window the touch opens (WeChat's 48-hour rule), if any.
    pub window: Option<Window>,
    /// The source of a request not to be contacted that the touch makes (a keyword rule's
    /// `do_not_contact = true`: `keyword:<match>`), if it makes one.
    pub do_not_contact: Option<&'a str>,
}

/// The customer-service window a user's action opens (WeChat's 48-hour rule, engagement §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Window {
    /// The user sent a message (text, voice, image, …): 5 messages within 48 hours.
    Message,
    /// The user followed, scanned a QR code or clicked a `click`/`scancode_*` button:
    /// 3 messages within 1 minute.
    Interaction,
}

impl Window {
    fn as_arg(self) -> &'static str {
        match self {
            Window::Message => "m",
            Window::Interaction => "i",
        }
    }
}

/// The result of applying a touch.
#[derive(Debug, Clone, PartialEq)]
pub struct Applied {
    /// False when this delivery had been handled before: nothing changed.
    pub fresh: bool,
    /// The lead's tags after the touch, when [`TouchRecord::want_tags`] asked for them.
    pub tags: Vec<String>,
    /// The lead after the touch (as it is, for a delivery handled before), when
    /// [`TouchRecord::derive`] asked for it; `None` too if its hashes are not in the shape
    /// wxtag writes (reported as a corrupt lead).
    pub state: Option<LeadState>,
}

/// Why a touch was not applied: its signed query was seen with another body (a replay).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OtherBody;

/// What `apply_touch.lua` answers: the outcome, the lead's tags, and its hash's fields, touch
/// history and stored events when asked for.
type Applied5 = (i64, Vec<String>, redis::Value, redis::Value, redis::Value);

/// The Redis store of one account.
#[derive(Clone)]
pub struct Store {
    conn: ConnectionManager,
    keys: Keys,
    apply_touch: std::sync::Arc<Script>,
    edit_tags: std::sync::Arc<Script>,
    annotate: std::sync::Arc<Script>,
    derived: std::sync::Arc<derived::Scripts>,
    corrupt: std::sync::Arc<query::CorruptLeads>,
    registered: std::sync::Arc<registry::Registered>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("keys", &self.keys).finish()
    }
}

/// A Redis client for `url` whose connections send each command at once (`TCP_NODELAY`):
/// with Nagle's algorithm on, a script call written while the last is unanswered waits for
/// its acknowledgement, which under load adds latency with no CPU busy.
pub fn client(url: &str) -> redis::RedisResult<redis::Client> {
    use redis::IntoConnectionInfo;
    let info = url
        .into_connection_info()?
        .set_tcp_settings(redis::io::tcp::TcpSettings::default().set_nodelay(true));
    redis::Client::open(info)
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

/// What a touch and its derived changes fire together, as one encoded list.
fn fired(touch: &str, derived: &str) -> String {
    match (touch.is_empty(), derived.is_empty()) {
        (true, _) => derived.to_owned(),
        (_, true) => touch.to_owned(),
        _ => format!("{touch}\x1e{derived}"),
    }
}

/// A script that writes leads and their timelines: the field names, the timeline's
/// helpers, then `body`.
fn script(body: &str) -> std::sync::Arc<Script> {
    std::sync::Arc::new(fields::script(
        &[
            include_str!("lua/timeline.lua"),
            include_str!("lua/changed.lua"),
            include_str!("lua/fired.lua"),
            body,
        ]
        .concat(),
    ))
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
            apply_touch: script(include_str!("lua/apply_touch.lua")),
            edit_tags: script(include_str!("lua/edit_tags.lua")),
            annotate: script(include_str!("lua/annotate.lua")),
            derived: std::sync::Arc::new(derived::Scripts::new()),
            corrupt: std::sync::Arc::new(query::CorruptLeads::new(None)),
            registered: std::sync::Arc::default(),
        }
    }

    /// This store, counting the corrupt leads its reads meet in `counter` (the app's
    /// `wxtag_corrupt_leads_total`).
    pub fn counting_corrupt_leads_in(mut self, counter: prometheus::IntCounter) -> Self {
        self.corrupt = std::sync::Arc::new(query::CorruptLeads::new(Some(counter)));
        self
    }

    /// Loads the scripts into Redis so the first event does not pay for it.
    pub async fn load_scripts(&self) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        let derived = &self.derived;
        for script in [&*self.apply_touch, &*self.edit_tags, &*self.annotate]
            .into_iter()
            .chain(derived.all())
        {
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

    /// Applies one touch in one round trip: replay guard, dedup, profile, counters, timeline,
    /// tags, outbox, touch history, and (with [`TouchRecord::derive`]) the lead's state read
    /// back. `Ok(Err(OtherBody))` when the guard refused it: nothing was written.
    pub async fn apply(
        &self,
        touch: &TouchRecord<'_>,
    ) -> Result<Result<Applied, OtherBody>, StoreError> {
        self.apply_remembering(touch, keys::DEDUP_TTL_SECS).await
    }

    /// [`Store::apply`], with the touch's identity remembered for `dedup_secs` rather than
    /// WeChat's retry window: a tracked link's click is one touch per lead, link and hour.
    pub async fn apply_remembering(
        &self,
        touch: &TouchRecord<'_>,
        dedup_secs: u64,
    ) -> Result<Result<Applied, OtherBody>, StoreError> {
        let (outcome, tags, lead, history, events) =
            self.invoke_apply(touch, None, dedup_secs.max(1)).await?;
        Ok(match outcome {
            -1 => Err(OtherBody),
            fresh => Ok(Applied {
                fresh: fresh == 1,
                tags,
                state: if touch.derive {
                    self.state_from(touch.openid, lead, history, events)
                } else {
                    None
                },
            }),
        })
    }

    /// Applies one touch together with what the rules over time derived from the lead with
    /// the touch applied (`write`, computed from the lead at `write.version`, or from no lead
    /// when `known` is false), in one script: the derived tags, their timeline entries and
    /// the next due time land with the touch or not at all. `Ok(Ok(None))` when the lead
    /// moved on meanwhile (another event): nothing was written; read and derive again.
    /// [`Applied::state`] is left `None`: the caller has the state it derived from. The
    /// touch's identity is remembered for `dedup_secs`.
    pub async fn apply_deriving(
        &self,
        touch: &TouchRecord<'_>,
        write: &DerivedWrite<'_>,
        known: bool,
        dedup_secs: u64,
    ) -> Result<Result<Option<Applied>, OtherBody>, StoreError> {
        let (outcome, tags, _, _, _) = self
            .invoke_apply(touch, Some((write, known)), dedup_secs.max(1))
            .await?;
        Ok(match outcome {
            -1 => Err(OtherBody),
            -2 => Ok(None),
            fresh => Ok(Some(Applied {
                fresh: fresh == 1,
                tags,
                state: None,
            })),
        })
    }

    /// Runs `apply_touch.lua` for `touch`, with derived changes when given, remembering its
    /// identity for `dedup_secs`.
    async fn invoke_apply(
        &self,
        touch: &TouchRecord<'_>,
        derived: Option<(&DerivedWrite<'_>, bool)>,
        dedup_secs: u64,
    ) -> Result<Applied5, StoreError> {
        let keys = &self.keys;
        let day = day_of(touch.at);
        let mut invocation = self.apply_touch.prepare_invoke();
        invocation
            .key(keys.dedup(touch.identity))
            .key(keys.lead(touch.openid))
            .key(keys.timeline_head(touch.openid))
            .key(keys.timeline_older(touch.openid))
            .key(keys.leads())
            .key(keys.day(&day))
            .key(keys.outbox())
            .key(keys.tags())
            .key(keys.history(touch.openid))
            .key(keys.due());
        let guard = touch.unsigned_body.map(|unsigned| unsigned.guard(keys));
        if let Some((slot, _)) = &guard {
            invocation.key(&slot.key);
        }
        for (tag, _) in &touch.tags {
            invocation.key(keys.tag_members(tag));
        }
        if let Some(scene) = touch.scene {
            invocation.key(keys.channel_members(scene));
        }
        let (add, remove): (&[_], &[_]) = derived.map_or((&[], &[]), |(w, _)| (w.add, w.remove));
        for (tag, _) in add.iter().chain(remove) {
            invocation.key(keys.tag_members(tag));
        }
        invocation
            .key(keys.parked())
            .key(keys.events(touch.openid))
            .key(keys.changed())
            .key(keys.seen_on(&day))
            .key(keys.automation_inbox());
        // The tags this touch may add: its own, then the derived ones.
        let added = || {
            let touch_tags = touch.tags.iter().map(|(t, _)| *t);
            touch_tags.chain(add.iter().map(|(t, _)| t))
        };
        let timeline = touch
            .timeline
            .map(|(kind, detail)| TimelineEntry::encode(touch.at, kind, detail))
            .unwrap_or_default();
        let (derived_at, next_due) = match derived {
            None => (String::new(), String::new()),
            Some((write, known)) => (
                if known {
                    write.version.to_string()
                } else {
                    "-".to_owned()
                },
                write
                    .next_due
                    .map(|at| at.0.to_string())
                    .unwrap_or_default(),
            ),
        };
        invocation
            .arg(dedup_secs)
            .arg(touch.openid.as_str())
            .arg(touch.at.0)
            .arg(touch.effect.as_str())
            .arg(touch.scene.map(Scene::as_str).unwrap_or(""))
            .arg(timeline)
            .arg(touch.location.as_deref().unwrap_or(""))
            .arg(if touch.want_tags { "1" } else { "0" })
            .arg(guard.as_ref().map_or(&[][..], |(_, arg)| arg.as_slice()))
            .arg(guard.as_ref().map_or(0, |(slot, _)| slot.expires_at.0))
            .arg(touch.history_days)
            .arg(if touch.derive && derived.is_none() {
                (touch.at.0 + derived::DERIVE_GRACE_SECS).to_string()
            } else {
                String::new()
            })
            .arg(derived_at)
            .arg(next_due)
            .arg(add.len())
            .arg(remove.len())
            .arg(self.registered.mask(added()))
            .arg(touch.history.len())
            .arg(touch.event.unwrap_or(""))
            .arg(EVENTS_KEPT)
            .arg(touch.window.map_or("", Window::as_arg))
            .arg(touch.do_not_contact.unwrap_or(""))
            .arg(fired(&touch.fired, derived.map_or("", |(w, _)| w.fired)))
            .arg(&touch.watched);
        for key in &touch.history {
            invocation.arg(*key);
        }
        if let Some((write, _)) = derived {
            derived::push_changes(&mut invocation, write);
        }
        for (tag, source) in &touch.tags {
            invocation.arg(tag.as_str()).arg(*source);
        }
        let applied: Applied5 = invocation.invoke_async(&mut self.conn.clone()).await?;
        // Applied (not a delivery seen before, nor refused): every tag it adds is registered.
        if applied.0 == 1 && touch.effect != Effect::System {
            self.registered.learn(added());
        }
        Ok(applied)
    }

    /// Adds and removes tags on a lead by hand (sales' own tags), recording `source` as why;
    /// `watched` has one byte per tag of `add` then `remove`, `1` when an automation starts
    /// on its change (empty: none does).
    ///
    /// Returns `None` when wxtag does not know the lead, else how many tags changed.
    pub async fn edit_tags(
        &self,
        openid: &OpenId,
        add: &[TagName],
        remove: &[TagName],
        source: &str,
        watched: &str,
        at: UnixTime,
    ) -> Result<Option<u32>, StoreError> {
        let keys = &self.keys;
        let mut invocation = self.edit_tags.prepare_invoke();
        invocation
            .key(keys.lead(openid))
            .key(keys.timeline_head(openid))
            .key(keys.timeline_older(openid))
            .key(keys.outbox())
            .key(keys.tags());
        for tag in add.iter().chain(remove) {
            invocation.key(keys.tag_members(tag));
        }
        invocation.key(keys.changed()).key(keys.automation_inbox());
        let mut detail: Vec<String> = add.iter().map(|t| format!("+{t}")).collect();
        detail.extend(remove.iter().map(|t| format!("-{t}")));
        invocation
            .arg(openid.as_str())
            .arg(at.0)
            .arg(source)
            .arg(TimelineEntry::encode(at, "tag", &detail.join(" ")))
            .arg(add.len());
        for tag in add.iter().chain(remove) {
            invocation.arg(tag.as_str());
        }
        invocation.arg(watched);
        Ok(invocation.invoke_async(&mut self.conn.clone()).await?)
    }

    /// How many leads wxtag knows.
    pub async fn lead_count(&self) -> Result<u64, StoreError> {
        let mut conn = self.conn.clone();
        Ok(conn.llen(self.keys.leads()).await?)
    }
}
