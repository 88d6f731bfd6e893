//! Every Redis key wxtag uses, built here and nowhere else.
//!
//! All keys of one account share the hash tag `{appid}`, so every key a script touches lives
//! in one Redis Cluster slot and the design runs on a cluster unchanged. The layout:
//!
//! | key | type | holds |
//! |---|---|---|
//! | `wx:{A}:lead:<openid>` | hash | profile fields (`fc` first channel, `ch` later channels, `sub`, `fs`, `ls`, `loc`), `v` the lead's version, `ff` its first form submission (unix s), one `f:<name>` field per form or imported field (its value) and, for a form's, `fm:<name>` (`"<at> <form> <identity>"`), and one `t:<tag>` field per tag, valued `"<at> <source>"` |
//! | `wx:{A}:th:<openid>` | string | the timeline's head: its newest entries (up to `TIMELINE_SEGMENT`), oldest first, `\x1e`-separated, rewritten per event |
//! | `wx:{A}:to:<openid>` | list | the timeline's older segments, newest first, each a full head rolled over; at most `TIMELINE_SEGMENTS` |
//! | `wx:{A}:sq:<window>:<shard>` | hash | the replay guard of plaintext pushes: 96 bits of a signed query's digest (timestamp, nonce, signature) → 64 bits of its body's digest, for the queries that stop being accepted in one 10-second window; expires at the window's end |
//! | `wx:{A}:tl:<openid>` | string | a timeline written by wxtag 0.1, newest first (entries separated by `\x1e`): read after the segments below, never written again |
//! | `wx:{A}:leads` | list | every openid, oldest first (appended when first seen): listing, paging, export |
//! | `wx:{A}:tag:<tag>` | set | openids carrying the tag |
//! | `wx:{A}:chan:<scene>` | set | openids that came through the channel |
//! | `wx:{A}:tags` | hash | every tag ever applied → the time it was first applied |
//! | `wx:{A}:seen:<yyyymmdd>` | set | openids whose last seen moved to that day (China time); expires `SEEN_DAYS` after it (see `store::seen`) |
//! | `wx:{A}:seenfill` | hash | the backfill of the `seen:` sets: `pos` the next index into `leads`, `done` `1` once every lead was added; kept for good |
//! | `wx:{A}:day:<yyyymmdd>` | hash | per-channel counters of one day, fields `<scene>\|<f,s,u,n>` |
//! | `wx:{A}:dd:<sha1>` | string | a delivery already handled (dedup), with a TTL |
//! | `wx:{A}:outbox` | stream | leads whose tags changed, for the sync worker (group `sync`) |
//! | `wx:{A}:wxtag` | hash | tag name → its WeChat tag id |
//! | `wx:{A}:tagerr` | hash | tag name → why it cannot be synced (e.g. the 100-tag limit) |
//! | `wx:{A}:external` | set | tags staff made in the WeChat console: shown, never deleted |
//! | `wx:{A}:dead` | list | sync changes that can never succeed, with their errors |
//! | `wx:{A}:token` | string | the shared access token, expiring ahead of WeChat's expiry |
//! | `wx:{A}:token:lock` | string | the single-flight lock of a token refresh |
//! | `wx:{A}:sync:<openid>` | string | a lease: one sync worker is calling WeChat for this lead |
//! | `wx:{A}:cred` | hash | SHA-256 of a named credential's token (hex) → the credential (JSON: name, role, account, created) |
//! | `wx:{A}:credname` | hash | credential name → the SHA-256 of its token |
//! | `wx:{A}:credused` | hash | SHA-256 of a credential's token → when it was last used |
//! | `wx:{A}:session:<sha256>` | string | a dashboard login, named by the SHA-256 of its cookie: the credential's SHA-256, with a TTL |
//! | `wx:{A}:login:<client>` | string | login attempts of one client address this minute (TTL 60 s) |
//! | `wx:{A}:audit` | list | data-changing admin actions, newest first, capped (JSON: who, what, target, at) |
//! | `wx:{A}:qr:<scene>` | string | a channel's QR ticket from WeChat, kept until it expires |
//! | `wx:{A}:hs:<openid>` | hash | a lead's touch history: touch key → `"<last> <hour>[*<count>] …"` (see `store::history`), hours older than `WXTAG_HISTORY_DAYS` dropped; expires `WXTAG_HISTORY_DAYS` + 1 days after the lead's newest touch |
//! | `wx:{A}:due` | sorted set | leads the rules over time must evaluate again → when (unix s); a lead leaves it when nothing about it can change with time alone |
//! | `wx:{A}:backfill` | hash | the backfill job: `fp` the derived sections' fingerprint, `cur` the next index into `leads`, `next` the earliest time of the next step (unix s), `done` `1` when every lead was enqueued; kept for good |
//! | `wx:{A}:backfilled` | set | leads the backfill made due that no derive has seen since: their derived changes fire no automation |
//! | `wx:{A}:auto:in` | stream | what fired for which lead (`o` the openid, `t` the firings, `at`), written by the scripts that change leads, read by the automation workers (group `auto`), deleted once their runs started |
//! | `wx:{A}:run:<automation>:<openid>[:<instance>]` | hash | an automation run: `a` automation, `o` openid, `t` trigger, `s` step, `st` state (running, done, stopped), `at` started, `n` next due, `end`; a run of an automation a lead runs once is kept for good, a repeatable one's 30 days after it ends |
//! | `wx:{A}:runs` | sorted set | runs whose next step is due → when (unix s) |
//! | `wx:{A}:sent:<yyyymmdd>:<openid>` | hash | messages each automation sent the lead that China-time day; expires after 2 days |
//! | `wx:{A}:segs` | hash | saved segment name → its definition (JSON: `when`, who saved it, when) |
//! | `wx:{A}:segcount` | hash | saved segment name → its last count (JSON: members, when counted, the snapshot, the definition's digest, the profile of a random pick of members) |
//! | `wx:{A}:segday:<name>` | hash | a saved segment's members per day (`yyyy-mm-dd`, China time), the last 30 days |
//! | `wx:{A}:job:<id>` | hash | a bulk job: `def` (JSON: segment, tags to add and remove, who, snapshot, total, created), `state`, `done`, `error`; kept 30 days after it ends |
//! | `wx:{A}:jobs` | sorted set | the newest 100 jobs' ids → when they started |
//! | `wx:{A}:joblease:<id>` | string | the process working on a job, with a TTL |
//! | `wx:{A}:segm:<name>` | set | a saved segment's members at its last count, to tell who entered at the next |
//! | `wx:{A}:segn:<name>` | set | the members of a count under way, renamed to `segm:` when it ends |
//! | `wx:{A}:seglease:<name>` | string | the process counting a saved segment, with a TTL |
//! | `wx:{A}:entered` | stream | leads that entered a saved segment (`s` the segment, `o` the openid), the newest 100,000 |
//! | `wx:{A}:linkkeys` | hash | the keys that sign tracked links' tokens: key id (decimal) → 32 random bytes (hex); the highest id signs, every id verifies; kept for good |
//! | `wx:{A}:oauthkeys` | hash | the keys that sign web authorisation's `state` and the identity cookie, as `linkkeys` (made on the first authorisation); kept for good |
//! | `wx:{A}:formsub:<sha1>` | string | a form submission already handled, named by its CSRF token's nonce, for as long as the token lives (a double submit is one submission) |
//! | `wx:{A}:formtok:<sha1>` | string | the first submission through one `{form:ID}` token: the SHA-256 of its phone and name, until the token expires (a different phone or name through it is a separate contact) |
//! | `wx:{A}:formrate:<client>` | string | form submissions of one client address this minute (TTL 60 s) |
//! | `wx:{A}:contacts` | hash | every form submission (contact), by id (decimal) → JSON: `id`, `attached`, `at`, `form`, `form_version`, `consent`, `consent_hash`, `identity`, `lead`, `scene`, `fields`; kept for good |
//! | `wx:{A}:contactseq` | string | the last contact id given |
//! | `wx:{A}:ev:<openid>` | sorted set | a lead's custom events whose properties a condition reads: the event's record (JSON: id, name, at, props) → its `at`; events older than `WXTAG_HISTORY_DAYS` and past the newest `EVENTS_KEPT` dropped; expires with the touch history |
//! | `wx:{A}:changed` | sorted set | every lead → when it last changed (Redis's clock, µs), for `GET /api/leads?updated_since=` |
//! | `wx:{A}:ext` | hash | external id (a CRM's) → the openid it is joined to |
//! | `wx:{A}:pk:o:<openid>` | list | events for an openid wxtag does not know yet (JSON as posted, with their index), applied when the lead appears; at most `PARKED_PER_LEAD`, expires `PARK_DAYS` after the last one |
//! | `wx:{A}:pk:x:<external id>` | list | the same for an external id no lead is joined to yet, applied by the join |
//! | `wx:{A}:parked` | sorted set | openids with parked events → when the scheduler next checks whether the lead appeared (unix s) |
//! | `wx:{A}:dlv:<id>` | hash | a sales alert's delivery (`notify`): `target`, `event`, `detail`, `openid`, `created`, `since` (start of its retry horizon), `state` (`pending`, `retrying`, `delivered`, `dead`), `attempts`, `next`, `last`, `error`; expires `DELIVERY_TTL_SECS` after it ends |
//! | `wx:{A}:dlvdue:<target>` | sorted set | one target's deliveries due → when (unix s); claiming pushes one a lease ahead |
//! | `wx:{A}:dlvtargets` | set | the targets that ever had a delivery, so one dropped from `channels/` is still worked (and dead-lettered) |
//! | `wx:{A}:dlvlist` | sorted set | the newest deliveries' ids → when enqueued, for the deliveries page and `GET /api/deliveries` |
//! | `wx:{A}:menus` | string | the conditional menus `wxtag menu push` published, in file order (JSON: `[{"menuid", "tag"}]`): the menu tags the sync keeps last on each lead |
//! | `wx:{A}:snap:<id>` | list | a segment's members as counted once (openids), for paging, export and bulk jobs; expires |
//! | `wx:{A}:win:<openid>` | hash | customer-service messages spent against the lead's windows: `m` (the message window) and `i` (the follow, scan or click window), each `"<opened at> <spent>"`; expires when the last window it counts closes (see `store::sends`) |
//! | `wx:{A}:send:<sha1>` | string | one send attempt, named by 96 bits of a digest of its caller-chosen id: `pending <channel>` from just before the call, then its result; kept `ATTEMPT_TTL_SECS` |
//!
//! A lead's hash also holds `w`: the WeChat tag ids wxtag last saw applied to it; `wm` and
//! `wi`, when its last message and its last follow, scan or click came (the windows that
//! allow customer-service messages); `dnc` while it asked not to be contacted, `bl` once
//! WeChat said it blacklisted the account (both `"<at> <source>"`).

use sha1::{Digest, Sha1};

use super::KeySet;
use crate::domain::{
    DeliveryId, ExternalId, NotifyName, OpenId, Scene, SegmentName, TagName, UnixTime,
};

/// How long a handled delivery is remembered. WeChat retries for about 15 s; 5 minutes is a
/// wide margin, and the shortest that still is one: at 15,000 events/s every second of TTL
/// costs about 1.5 MB of Redis.
pub const DEDUP_TTL_SECS: u64 = 300;

/// How many timeline entries a lead keeps (the newest).
pub const TIMELINE_CAP: usize = 500;

/// How many entries the timeline's head segment takes before it is rolled into the older
/// segments: an event rewrites the head (at most this many entries), and every 16th one also
/// moves it into the older segments.
pub const TIMELINE_SEGMENT: usize = 16;

/// How many older segments a timeline keeps: enough that [`TIMELINE_CAP`] entries always are.
pub const TIMELINE_SEGMENTS: usize = TIMELINE_CAP.div_ceil(TIMELINE_SEGMENT);

/// What separates timeline entries in the stored string (ASCII record separator).
pub const TIMELINE_SEPARATOR: char = '\x1e';

/// Builds the keys of one account.
#[derive(Debug, Clone)]
pub struct Keys {
    /// `wx:{appid}:`, the prefix every key starts with.
    prefix: String,
}

impl Keys {
    /// The keys of the account with this AppID.
    pub fn new(appid: &str) -> Self {
        Self {
            prefix: format!("wx:{{{appid}}}:"),
        }
    }

    fn key(&self, parts: &[&str]) -> String {
        let mut key = self.prefix.clone();
        key.push_str(&parts.concat());
        key
    }

    /// A lead's profile and tags.
    pub fn lead(&self, openid: &OpenId) -> String {
        self.key(&["lead:", openid.as_str()])
    }

    /// Every lead, by first-seen time.
    pub fn leads(&self) -> String {
        self.key(&["leads"])
    }

    /// The leads carrying one tag.
    pub fn tag_members(&self, tag: &TagName) -> String {
        self.key(&["tag:", tag.as_str()])
    }

    /// The leads that came through one channel.
    pub fn channel_members(&self, scene: &Scene) -> String {
        self.key(&["chan:", scene.as_str()])
    }

    /// The leads whose last seen moved to a day (`yyyymmdd`, China time): the index of
    /// segments' `last_seen_within_days` (see `store::seen`).
    pub fn seen_on(&self, day: &str) -> String {
        self.key(&["seen:", day])
    }

    /// How far the backfill of the seen-on-day sets has gone through the leads index.
    pub fn seen_fill(&self) -> String {
        self.key(&["seenfill"])
    }

    /// Every tag ever applied.
    pub fn tags(&self) -> String {
        self.key(&["tags"])
    }

    /// One day's per-channel counters; `day` is `yyyymmdd` in China time.
    pub fn day(&self, day: &str) -> String {
        self.key(&["day:", day])
    }

    /// The dedup marker of one delivery, named by 96 bits of a digest of its identity
    /// (a collision among 10 million live markers has odds of about 1 in 10^15).
    pub fn dedup(&self, identity: &str) -> String {
        let digest = Sha1::digest(identity.as_bytes());
        self.key(&["dd:", &hex::encode(&digest[..12])])
    }

    /// The sync outbox stream.
    pub fn outbox(&self) -> String {
        self.key(&["outbox"])
    }
}

impl Keys {
    /// Tag name → WeChat tag id.
    pub fn wechat_tag_ids(&self) -> String {
        self.key(&["wxtag"])
    }

    /// Tag name → why it cannot be synced.
    pub fn unsynced_tags(&self) -> String {
        self.key(&["tagerr"])
    }

    /// Tags imported from the WeChat console.
    pub fn external_tags(&self) -> String {
        self.key(&["external"])
    }

    /// Sync changes that can never succeed.
    pub fn dead_letters(&self) -> String {
        self.key(&["dead"])
    }

    /// The shared access token.
    pub fn access_token(&self) -> String {
        self.key(&["token"])
    }

    /// The single-flight lock of a token refresh.
    pub fn access_token_lock(&self) -> String {
        self.key(&["token:lock"])
    }

    /// The lease one sync worker holds while calling WeChat for a lead.
    pub fn sync_lease(&self, openid: &OpenId) -> String {
        self.key(&["sync:", openid.as_str()])
    }

    /// The keys tracked links' tokens are signed with: key id → 32 bytes in hex.
    /// Web authorisation's states and identity cookies have their own ([`KeySet::OAuth`]).
    pub fn signing_keys(&self, set: KeySet) -> String {
        match set {
            KeySet::Links => self.key(&["linkkeys"]),
            KeySet::OAuth => self.key(&["oauthkeys"]),
        }
    }
}

// Lead forms: submissions, the tokens they came through, the rate limit, contacts
// (`store::forms`).
impl Keys {
    /// The marker of a form submission handled, by its CSRF token's nonce.
    pub fn form_submission(&self, form: &str, nonce: &str) -> String {
        let digest = Sha1::digest(format!("{form}|{nonce}").as_bytes());
        self.key(&["formsub:", &hex::encode(&digest[..12])])
    }

    /// The first submission's phone and name through one form token, by the token's payload.
    pub fn form_token(&self, payload: &str) -> String {
        let digest = Sha1::digest(payload.as_bytes());
        self.key(&["formtok:", &hex::encode(&digest[..12])])
    }

    /// Form submissions of one client address this minute.
    pub fn form_rate(&self, client: &str) -> String {
        self.key(&["formrate:", client])
    }

    /// Every contact (form submission), by id.
    pub fn contacts(&self) -> String {
        self.key(&["contacts"])
    }

    /// The last contact id given.
    pub fn contact_seq(&self) -> String {
        self.key(&["contactseq"])
    }
}

// Access to the admin API and dashboard: credentials, sessions, the login limiter, the audit
// list and the channel QR ticket cache (`store::access`).
impl Keys {
    /// Token digest → named credential.
    pub fn credentials(&self) -> String {
        self.key(&["cred"])
    }

    /// Credential name → token digest.
    pub fn credential_names(&self) -> String {
        self.key(&["credname"])
    }

    /// Token digest → when the credential was last used.
    pub fn credentials_used(&self) -> String {
        self.key(&["credused"])
    }

    /// One dashboard login, named by the digest of its cookie value.
    pub fn session(&self, digest: &str) -> String {
        self.key(&["session:", digest])
    }

    /// The login attempts of one client address in the current minute.
    pub fn login_attempts(&self, client: &str) -> String {
        self.key(&["login:", client])
    }

    /// The capped list of audit records.
    pub fn audit(&self) -> String {
        self.key(&["audit"])
    }

    /// The cached QR ticket of one channel.
    pub fn qr_ticket(&self, scene: &Scene) -> String {
        self.key(&["qr:", scene.as_str()])
    }
}

/// How many seconds of signed queries (by when they stop being accepted) share one hash of
/// the replay guard: the hash expires as a whole at the end of its window.
pub const SIGNED_QUERY_WINDOW_SECS: i64 = 10;

/// How many hashes one window of the replay guard is spread over, so that at thousands of
/// pushes a second no hash is big enough to hold Redis up when it expires.
pub const SIGNED_QUERY_SHARDS: u8 = 16;

/// Where the replay guard remembers one signed query: see [`Keys::signed_query`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedQuerySlot {
    /// The hash.
    pub key: String,
    /// The query's field in it (raw bytes).
    pub field: Vec<u8>,
    /// When the hash expires, as a whole.
    pub expires_at: UnixTime,
}

/// The consumer group of the sync workers on the outbox stream.
pub const OUTBOX_GROUP: &str = "sync";

/// The consumer group of the automation inbox (and of the segment entries it reads).
pub const AUTOMATION_GROUP: &str = "auto";

// The intake's write path: the timeline's segments and the replay guard of plaintext pushes.
impl Keys {
    /// A lead's newest timeline entries, appended to per event.
    pub fn timeline_head(&self, openid: &OpenId) -> String {
        self.key(&["th:", openid.as_str()])
    }

    /// A lead's older timeline segments, newest first.
    pub fn timeline_older(&self, openid: &OpenId) -> String {
        self.key(&["to:", openid.as_str()])
    }

    /// A lead's timeline as wxtag 0.1 wrote it (one string, newest first): read, so an
    /// upgrade loses no history, and never written.
    pub fn legacy_timeline(&self, openid: &OpenId) -> String {
        self.key(&["tl:", openid.as_str()])
    }

    /// Where the replay guard remembers a plaintext push's signed query: a hash of the
    /// queries whose timestamps stop being accepted in the same [`SIGNED_QUERY_WINDOW_SECS`]
    /// (one of [`SIGNED_QUERY_SHARDS`] by the query's digest, so no hash grows big), the
    /// field in it (96 bits of the query's digest: odds of a collision as for
    /// [`Keys::dedup`]), and when the hash expires (the end of its window).
    pub fn signed_query(
        &self,
        timestamp: &str,
        nonce: &str,
        signature: &str,
        until: UnixTime,
    ) -> SignedQuerySlot {
        let digest = Sha1::digest(format!("{timestamp}|{nonce}|{signature}").as_bytes());
        let window = until.0.div_euclid(SIGNED_QUERY_WINDOW_SECS);
        let shard = digest[12] % SIGNED_QUERY_SHARDS;
        SignedQuerySlot {
            key: self.key(&["sq:", &window.to_string(), ":", &format!("{shard:x}")]),
            field: digest[..12].to_vec(),
            expires_at: UnixTime((window + 1) * SIGNED_QUERY_WINDOW_SECS),
        }
    }
}

// The store side of the rules over time: touch history, the scheduler's due set and the
// backfill job (`store::derived`, `lua/apply_touch.lua`).
impl Keys {
    /// A lead's touch history, one field per touch key.
    pub fn history(&self, openid: &OpenId) -> String {
        self.key(&["hs:", openid.as_str()])
    }

    /// The leads due for the rules over time, scored by when (unix seconds).
    pub fn due(&self) -> String {
        self.key(&["due"])
    }

    /// The leads the backfill made due that no derive has seen since.
    pub fn backfilled(&self) -> String {
        self.key(&["backfilled"])
    }

    /// The backfill job's fingerprint, cursor and pace.
    pub fn backfill(&self) -> String {
        self.key(&["backfill"])
    }
}

// Events from other systems: stored event properties, identity joins, parked events and
// the changed-leads index (`events`, `store::events`).
impl Keys {
    /// A lead's stored custom events, by their `at`.
    pub fn events(&self, openid: &OpenId) -> String {
        self.key(&["ev:", openid.as_str()])
    }

    /// Every lead, by when it last changed (µs).
    pub fn changed(&self) -> String {
        self.key(&["changed"])
    }

    /// External id → openid.
    pub fn external_ids(&self) -> String {
        self.key(&["ext"])
    }

    /// The events parked for an openid wxtag does not know yet.
    pub fn parked_for_openid(&self, openid: &OpenId) -> String {
        self.key(&["pk:o:", openid.as_str()])
    }

    /// The events parked for an external id no lead is joined to yet.
    pub fn parked_for_external(&self, external: &ExternalId) -> String {
        self.key(&["pk:x:", external.as_str()])
    }

    /// The openids with parked events, by when they are next checked.
    pub fn parked(&self) -> String {
        self.key(&["parked"])
    }
}

// Automations: what fired, the runs and when their next steps are due (`store::automation`).
impl Keys {
    /// What fired for which lead, for the automation worker (group [`AUTOMATION_GROUP`]).
    pub fn automation_inbox(&self) -> String {
        self.key(&["auto:in"])
    }

    /// One automation run's state.
    pub fn run(&self, id: &str) -> String {
        self.key(&["run:", id])
    }

    /// The runs whose next step is due, by when.
    pub fn runs_due(&self) -> String {
        self.key(&["runs"])
    }

    /// How many messages each automation sent one lead on one China-time day.
    pub fn sent_on(&self, openid: &OpenId, day: &str) -> String {
        self.key(&["sent:", day, ":", openid.as_str()])
    }
}

// Segments: saved definitions, their counts, and member snapshots (`store::segments`).
impl Keys {
    /// Saved segment name → definition.
    pub fn segments(&self) -> String {
        self.key(&["segs"])
    }

    /// Saved segment name → its last count.
    pub fn segment_counts(&self) -> String {
        self.key(&["segcount"])
    }

    /// One saved segment's members per day.
    pub fn segment_days(&self, name: &SegmentName) -> String {
        self.key(&["segday:", name.as_str()])
    }

    /// A saved segment's members at its last count.
    pub fn segment_members(&self, name: &SegmentName) -> String {
        self.key(&["segm:", name.as_str()])
    }

    /// A saved segment's members as the count under way finds them.
    pub fn segment_members_next(&self, name: &SegmentName) -> String {
        self.key(&["segn:", name.as_str()])
    }

    /// The lease of the process counting a saved segment.
    pub fn segment_lease(&self, name: &SegmentName) -> String {
        self.key(&["seglease:", name.as_str()])
    }

    /// Leads that entered a saved segment.
    pub fn segment_entries(&self) -> String {
        self.key(&["entered"])
    }

    /// One bulk job's definition and progress.
    pub fn job(&self, id: &str) -> String {
        self.key(&["job:", id])
    }

    /// The newest jobs' ids, by when they started.
    pub fn jobs(&self) -> String {
        self.key(&["jobs"])
    }

    /// The lease of the process working on a job.
    pub fn job_lease(&self, id: &str) -> String {
        self.key(&["joblease:", id])
    }

    /// The members of one snapshot, in the order they were found.
    pub fn snapshot(&self, id: &str) -> String {
        self.key(&["snap:", id])
    }

    /// The published conditional menus (`menuid ↔ tag`), in file order.
    pub fn published_menus(&self) -> String {
        self.key(&["menus"])
    }
}

// Sends within WeChat's rules: the count spent against each window, and the record of
// each attempt (`store::sends`).
impl Keys {
    /// The customer-service messages spent against a lead's open windows.
    pub fn window_spend(&self, openid: &OpenId) -> String {
        self.key(&["win:", openid.as_str()])
    }

    /// One send attempt's record, by a digest of its caller-chosen id (odds of a collision
    /// as for [`Keys::dedup`]).
    pub fn send_attempt(&self, attempt: &str) -> String {
        let digest = Sha1::digest(attempt.as_bytes());
        self.key(&["send:", &hex::encode(&digest[..12])])
    }
}

// Sales alerts' deliveries (`notify`, `store::deliveries`, `lua/enqueue_delivery.lua`).
impl Keys {
    /// One delivery's record.
    pub fn delivery(&self, id: &DeliveryId) -> String {
        self.key(&["dlv:", id.as_str()])
    }

    /// One target's due deliveries, scored by when (unix seconds).
    pub fn deliveries_due(&self, target: &NotifyName) -> String {
        self.key(&["dlvdue:", target.as_str()])
    }

    /// Every target that had a delivery.
    pub fn delivery_targets(&self) -> String {
        self.key(&["dlvtargets"])
    }

    /// The newest deliveries, scored by when they were enqueued.
    pub fn deliveries(&self) -> String {
        self.key(&["dlvlist"])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_carries_the_account_hash_tag() {
        let keys = Keys::new("wx123");
        let openid = OpenId::parse("o1").unwrap();
        let tag = TagName::parse("来源:展会").unwrap();
        let scene = Scene::parse("expo-2026").unwrap();
        for key in [
            keys.lead(&openid),
            keys.timeline_head(&openid),
            keys.timeline_older(&openid),
            keys.signed_query("1714112445", "1320562132", "0f", UnixTime(1714112746))
                .key,
            keys.leads(),
            keys.tag_members(&tag),
            keys.channel_members(&scene),
            keys.tags(),
            keys.day("20261122"),
            keys.dedup("o1|1|subscribe|"),
            keys.outbox(),
            keys.history(&openid),
            keys.due(),
            keys.backfill(),
            keys.segments(),
            keys.segment_counts(),
            keys.segment_days(&SegmentName::parse("展会 PLC").unwrap()),
            keys.snapshot("00ff"),
            keys.job("00ff"),
            keys.segment_members(&SegmentName::parse("a").unwrap()),
            keys.segment_members_next(&SegmentName::parse("a").unwrap()),
            keys.segment_lease(&SegmentName::parse("a").unwrap()),
            keys.segment_entries(),
            keys.jobs(),
            keys.job_lease("00ff"),
            keys.events(&openid),
            keys.changed(),
            keys.external_ids(),
            keys.parked_for_openid(&openid),
            keys.parked_for_external(&ExternalId::parse("crm:4711").unwrap()),
            keys.parked(),
            keys.window_spend(&openid),
            keys.send_attempt("run-1:step-2"),
            keys.delivery(&DeliveryId::parse("run1:2").unwrap()),
            keys.deliveries_due(&NotifyName::parse("sales").unwrap()),
            keys.delivery_targets(),
            keys.deliveries(),
        ] {
            assert!(key.starts_with("wx:{wx123}:"), "{key}");
        }
        assert_eq!(keys.lead(&openid), "wx:{wx123}:lead:o1");
    }

    #[test]
    fn dedup_keys_differ_by_identity_and_are_fixed_length() {
        let keys = Keys::new("a");
        let one = keys.dedup("o1|1714112445|CLICK|A");
        let two = keys.dedup("o1|1714112445|CLICK|B");
        assert_ne!(one, two);
        assert_eq!(one.len(), keys.dedup(&"x".repeat(5000)).len());
    }

    #[test]
    fn signed_queries_share_a_hash_per_window_and_shard_that_expires_with_it() {
        let keys = Keys::new("a");
        let slot = keys.signed_query("1714112445", "n1", "sig", UnixTime(1714112746));
        assert_eq!(slot.expires_at, UnixTime(1714112750));
        assert_eq!(slot.field.len(), 12);
        assert!(slot.key.starts_with("wx:{a}:sq:171411274:"), "{}", slot.key);
        let other = keys.signed_query("1714112445", "n2", "sig", UnixTime(1714112746));
        assert_ne!(slot.field, other.field);
        let shards: std::collections::BTreeSet<String> = (0..200)
            .map(|n| keys.signed_query("1", &n.to_string(), "s", UnixTime(5)).key)
            .collect();
        assert_eq!(shards.len(), usize::from(SIGNED_QUERY_SHARDS));
    }
}
