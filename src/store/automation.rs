//! The store side of automations: the inbox of what fired (a stream the apply scripts
//! write), the segment entries the recounts notice, the runs (one hash each) and when their
//! next steps are due, and how many messages each automation sent a lead a day.

use std::collections::HashMap;
use std::sync::LazyLock;
use std::time::Duration;

use redis::{AsyncCommands, Script};

use super::keys::AUTOMATION_GROUP;
use super::outbox::StreamEntry;
use super::{OutboxRead, Store, StoreError, TimelineEntry};
use crate::domain::{OpenId, SegmentName, UnixTime};

static START_RUN: LazyLock<Script> = LazyLock::new(|| {
    super::fields::script(
        &[
            include_str!("lua/timeline.lua"),
            include_str!("lua/start_run.lua"),
        ]
        .concat(),
    )
});
static ADVANCE_RUN: LazyLock<Script> = LazyLock::new(|| {
    super::fields::script(
        &[
            include_str!("lua/timeline.lua"),
            include_str!("lua/advance_run.lua"),
        ]
        .concat(),
    )
});

/// How long the per-day message counts are kept: the day, and a day of slack.
const SENT_TTL_SECS: i64 = 2 * 86_400;

/// One entry of the automation inbox: what fired for a lead, when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FiredEntry {
    /// The stream entry id (unique: a repeatable automation's runs are told apart by it).
    pub id: String,
    /// The lead; `None` when the entry is not in the shape wxtag writes.
    pub openid: Option<OpenId>,
    /// What fired (`rules::automation::Fired`, encoded).
    pub fired: String,
    /// When (unix s).
    pub at: Option<UnixTime>,
}

impl From<StreamEntry> for FiredEntry {
    fn from(entry: StreamEntry) -> Self {
        Self {
            openid: entry.field("o").and_then(|o| OpenId::parse(o).ok()),
            fired: entry.field("t").unwrap_or_default().to_owned(),
            at: entry.field("at").and_then(|a| a.parse().ok()).map(UnixTime),
            id: entry.id,
        }
    }
}

/// A lead that entered a saved segment, as its recount noticed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnteredEntry {
    /// The stream entry id.
    pub id: String,
    /// The segment; `None` when not in the shape wxtag writes.
    pub segment: Option<SegmentName>,
    /// The lead.
    pub openid: Option<OpenId>,
}

impl From<StreamEntry> for EnteredEntry {
    fn from(entry: StreamEntry) -> Self {
        Self {
            segment: entry.field("s").and_then(|s| SegmentName::parse(s).ok()),
            openid: entry.field("o").and_then(|o| OpenId::parse(o).ok()),
            id: entry.id,
        }
    }
}

/// A run as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunState {
    /// The automation's name.
    pub automation: String,
    /// The lead.
    pub openid: OpenId,
    /// The step it is at (0 first; the steps' count once ended).
    pub step: usize,
    /// `running`, `done`, or `stopped` (its automation is gone, or the lead).
    pub state: String,
    /// What started it, described.
    pub trigger: String,
    /// When it started.
    pub started: UnixTime,
}

/// A run to start.
#[derive(Debug, Clone, Copy)]
pub struct NewRun<'a> {
    /// Its id: at most one run has it.
    pub id: &'a str,
    /// The automation's name.
    pub automation: &'a str,
    /// The lead.
    pub openid: &'a OpenId,
    /// What fired it, described.
    pub trigger: &'a str,
    /// Now: its first step is due at once.
    pub at: UnixTime,
}

/// Where a run goes from its step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunNext {
    /// To step `index`, due at `due` (the same step again for a delay).
    Step {
        /// The step.
        index: usize,
        /// When it is due.
        due: UnixTime,
    },
    /// The run ends at step `index` (the steps' count when all ran) in `state`, its record
    /// kept `keep` long (`None`: for good, so the run never starts again).
    End {
        /// Where it ended.
        index: usize,
        /// `done` or `stopped`.
        state: &'static str,
        /// How long its record is kept.
        keep: Option<Duration>,
    },
}

impl Store {
    /// Creates the consumer groups the automation worker reads through unless they exist:
    /// the inbox from its start, the segment entries from now on (an automation does not
    /// start for entries noticed before it was deployed).
    pub async fn ensure_automation_groups(&self) -> Result<(), StoreError> {
        let keys = &self.keys;
        self.ensure_group(&keys.automation_inbox(), AUTOMATION_GROUP, "0")
            .await?;
        self.ensure_group(&keys.segment_entries(), AUTOMATION_GROUP, "$")
            .await
    }

    /// Up to `count` inbox entries for `consumer`.
    pub async fn read_fired(
        &self,
        consumer: &str,
        which: OutboxRead,
        count: usize,
    ) -> Result<Vec<FiredEntry>, StoreError> {
        let inbox = self.keys.automation_inbox();
        let entries = (self.read_group(&inbox, AUTOMATION_GROUP, consumer, which, count)).await?;
        Ok(entries.into_iter().map(FiredEntry::from).collect())
    }

    /// Claims for `consumer` up to `count` inbox entries a stopped worker left unacknowledged
    /// over `min_idle`; the entries and where the next scan starts.
    pub async fn claim_fired(
        &self,
        consumer: &str,
        min_idle: Duration,
        cursor: &str,
        count: usize,
    ) -> Result<(Vec<FiredEntry>, String), StoreError> {
        let inbox = self.keys.automation_inbox();
        let (entries, next) = self
            .autoclaim(&inbox, AUTOMATION_GROUP, consumer, min_idle, cursor, count)
            .await?;
        Ok((entries.into_iter().map(FiredEntry::from).collect(), next))
    }

    /// Acknowledges inbox entries and deletes them: their runs are started.
    pub async fn ack_fired(&self, ids: &[String]) -> Result<(), StoreError> {
        (self.ack_group(&self.keys.automation_inbox(), AUTOMATION_GROUP, ids, true)).await
    }

    /// Up to `count` segment entries for `consumer`.
    pub async fn read_entered(
        &self,
        consumer: &str,
        which: OutboxRead,
        count: usize,
    ) -> Result<Vec<EnteredEntry>, StoreError> {
        let stream = self.keys.segment_entries();
        let entries = (self.read_group(&stream, AUTOMATION_GROUP, consumer, which, count)).await?;
        Ok(entries.into_iter().map(EnteredEntry::from).collect())
    }

    /// Acknowledges segment entries (the stream stays: the dashboard shows it).
    pub async fn ack_entered(&self, ids: &[String]) -> Result<(), StoreError> {
        (self.ack_group(&self.keys.segment_entries(), AUTOMATION_GROUP, ids, false)).await
    }

    /// Starts a run unless one with its id exists, its first step due at once; the start on
    /// the lead's timeline. True when it started.
    pub async fn start_run(&self, run: &NewRun<'_>) -> Result<bool, StoreError> {
        let keys = &self.keys;
        let entry = TimelineEntry::encode(
            run.at,
            "automation",
            &format!("{} started ({})", run.automation, run.trigger),
        );
        let started: i64 = START_RUN
            .key(keys.run(run.id))
            .key(keys.runs_due())
            .key(keys.lead(run.openid))
            .key(keys.timeline_head(run.openid))
            .key(keys.timeline_older(run.openid))
            .arg(run.id)
            .arg(run.automation)
            .arg(run.openid.as_str())
            .arg(run.trigger)
            .arg(run.at.0)
            .arg(entry)
            .invoke_async(&mut self.conn.clone())
            .await?;
        Ok(started == 1)
    }

    /// Claims up to `limit` runs due at `now`, each pushed `lease_secs` ahead so no other
    /// process runs its step meanwhile.
    pub async fn claim_runs(
        &self,
        now: UnixTime,
        limit: usize,
        lease_secs: i64,
    ) -> Result<Vec<String>, StoreError> {
        (self.claim_members(&self.keys.runs_due(), now, limit, lease_secs)).await
    }

    /// Takes run `id` out of the due set: its record is gone or it has ended.
    pub async fn forget_run(&self, id: &str) -> Result<(), StoreError> {
        let _: i64 = self.conn.clone().zrem(self.keys.runs_due(), id).await?;
        Ok(())
    }

    /// The runs by id; `None` for one gone or not in the shape wxtag writes.
    pub async fn runs(&self, ids: &[String]) -> Result<Vec<Option<RunState>>, StoreError> {
        let mut pipe = redis::pipe();
        for id in ids {
            pipe.hgetall(self.keys.run(id));
        }
        let hashes: Vec<HashMap<String, String>> = pipe.query_async(&mut self.conn.clone()).await?;
        Ok(hashes.iter().map(run_state).collect())
    }

    /// Moves run `id` on from step `from`, with `note` (kind, detail) on the lead's timeline;
    /// false when the run was not at `from` (another process moved it).
    pub async fn advance_run(
        &self,
        id: &str,
        openid: &OpenId,
        from: usize,
        next: RunNext,
        note: Option<(&str, &str)>,
        now: UnixTime,
    ) -> Result<bool, StoreError> {
        let keys = &self.keys;
        let (to, due, state, keep) = match next {
            RunNext::Step { index, due } => (index, due.0.to_string(), "running", String::new()),
            RunNext::End { index, state, keep } => (
                index,
                String::new(),
                state,
                keep.map(|k| k.as_secs().to_string()).unwrap_or_default(),
            ),
        };
        let entry = note
            .map(|(kind, detail)| TimelineEntry::encode(now, kind, detail))
            .unwrap_or_default();
        let moved: i64 = ADVANCE_RUN
            .key(keys.run(id))
            .key(keys.runs_due())
            .key(keys.lead(openid))
            .key(keys.timeline_head(openid))
            .key(keys.timeline_older(openid))
            .arg(id)
            .arg(from)
            .arg(to)
            .arg(due)
            .arg(state)
            .arg(entry)
            .arg(keep)
            .arg(now.0)
            .invoke_async(&mut self.conn.clone())
            .await?;
        Ok(moved == 1)
    }

    /// How many messages `automation` sent `openid` on China-time day `day` (`yyyymmdd`).
    pub async fn sent_on(
        &self,
        openid: &OpenId,
        day: &str,
        automation: &str,
    ) -> Result<u32, StoreError> {
        let sent: Option<u32> = self
            .conn
            .clone()
            .hget(self.keys.sent_on(openid, day), automation)
            .await?;
        Ok(sent.unwrap_or(0))
    }

    /// Counts one message `automation` sent `openid` on `day`.
    pub async fn count_sent(
        &self,
        openid: &OpenId,
        day: &str,
        automation: &str,
    ) -> Result<(), StoreError> {
        let key = self.keys.sent_on(openid, day);
        let () = redis::pipe()
            .atomic()
            .hincr(&key, automation, 1)
            .ignore()
            .expire(&key, SENT_TTL_SECS)
            .ignore()
            .query_async(&mut self.conn.clone())
            .await?;
        Ok(())
    }
}

/// A run from its hash.
fn run_state(hash: &HashMap<String, String>) -> Option<RunState> {
    Some(RunState {
        automation: hash.get("a")?.clone(),
        openid: OpenId::parse(hash.get("o")?).ok()?,
        step: hash.get("s")?.parse().ok()?,
        state: hash.get("st")?.clone(),
        trigger: hash.get("t").cloned().unwrap_or_default(),
        started: UnixTime(hash.get("at")?.parse().ok()?),
    })
}
