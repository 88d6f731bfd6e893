//! Writing what the rules over time derive, and the scheduler's due set: reading leads'
//! states, the version-checked derived write, claiming due leads, and the backfill cursor.

use std::sync::Arc;

use redis::Script;

use super::{LeadState, Store, StoreError, TimelineEntry};
use crate::domain::{OpenId, TagName, UnixTime};

/// How long after a touch a lead is due for the scheduler when its derived write has not
/// landed (crash insurance: the derived write sets the real due time a moment later).
pub const DERIVE_GRACE_SECS: i64 = 30;

/// The scripts of the rules over time.
pub(super) struct Scripts {
    apply_derived: Arc<Script>,
    claim_due: Script,
    backfill: Script,
}

/// A script that makes leads due: the due set's helper (`lua/due.lua`), then `body`.
fn due_script(body: &str) -> Script {
    Script::new(&[include_str!("lua/due.lua"), body].concat())
}

impl Scripts {
    /// The scripts, built (Redis loads them on first use or [`Store::load_scripts`]).
    pub(super) fn new() -> Self {
        Self {
            apply_derived: super::script(include_str!("lua/apply_derived.lua")),
            claim_due: due_script(include_str!("lua/claim_due.lua")),
            backfill: due_script(include_str!("lua/backfill.lua")),
        }
    }

    /// Every script, for loading.
    pub(super) fn all(&self) -> [&Script; 3] {
        [&*self.apply_derived, &self.claim_due, &self.backfill]
    }
}

/// The derived changes to one lead, as read at `version`.
#[derive(Debug)]
pub struct DerivedWrite<'a> {
    /// The lead.
    pub openid: &'a OpenId,
    /// The [`LeadState::version`] the changes were computed from; if the lead changed since,
    /// nothing is written (the newer event or the scheduler computes again).
    pub version: u64,
    /// When the changes happen (timeline entries and tag times).
    pub at: UnixTime,
    /// Tags to add, each with its source.
    pub add: &'a [(TagName, String)],
    /// Tags to remove, each with the source that removes it.
    pub remove: &'a [(TagName, String)],
    /// The next moment the lead is due for the scheduler; `None`: never.
    pub next_due: Option<UnixTime>,
    /// What the changes fire for the automations (`rules::automation::Fired`, encoded);
    /// empty for nothing.
    pub fired: &'a str,
}

/// Adds a derived write's changes to a script call: per tag to add, then per tag to remove,
/// the tag, its source and its timeline entry (`tag+` / `tag-`).
pub(super) fn push_changes(invocation: &mut redis::ScriptInvocation<'_>, write: &DerivedWrite<'_>) {
    let changes = write.add.iter().map(|change| ("tag+", change));
    let changes = changes.chain(write.remove.iter().map(|change| ("tag-", change)));
    for (kind, (tag, source)) in changes {
        let entry = TimelineEntry::encode(write.at, kind, &format!("{tag} ({source})"));
        invocation.arg(tag.as_str()).arg(source).arg(entry);
    }
}

/// What one step of the backfill did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackfillStep {
    /// This many leads were made due; more may remain (a step that reaches the end of the
    /// lead list marks the job done, so the next one answers [`BackfillStep::Done`]).
    Enqueued(u64),
    /// Another process took the step less than the pace ago; try again later.
    NotYet,
    /// Every lead has been made due for this fingerprint.
    Done,
}

impl Store {
    /// A lead's state from the replies of `HGETALL` on its hash and its touch history and
    /// `ZRANGE` of its stored events:
    /// `None` for an unknown lead or a reply not in the shape wxtag writes (reported like a
    /// corrupt lead). Fields that do not decode are skipped and reported.
    pub(super) fn state_from(
        &self,
        openid: &OpenId,
        lead: redis::Value,
        history: redis::Value,
        events: redis::Value,
    ) -> Option<LeadState> {
        let lead_key = self.keys.lead(openid);
        let lead: Vec<(String, String)> = match redis::from_redis_value(lead) {
            Ok(fields) => fields,
            Err(error) => {
                self.corrupt.report(&lead_key, &error.to_string());
                return None;
            }
        };
        let history: Vec<(String, String)> = match redis::from_redis_value(history) {
            Ok(fields) => fields,
            Err(error) => {
                self.corrupt
                    .report(&self.keys.history(openid), &error.to_string());
                return None;
            }
        };
        let events: Vec<String> = match redis::from_redis_value(events) {
            Ok(events) => events,
            Err(error) => {
                self.corrupt
                    .report(&self.keys.events(openid), &error.to_string());
                return None;
            }
        };
        let (state, mut bad) = LeadState::decode(lead, history);
        let state = state.map(|mut state| {
            bad.extend(state.set_events(events));
            state
        });
        if !bad.is_empty() {
            self.corrupt.report_fields(&lead_key, &bad.join("; "));
        }
        state
    }

    /// Reads the states of `openids`, up to 166 in one round trip (`None` for a lead wxtag
    /// does not know, or one whose hashes are not in the shape wxtag writes: reported, never
    /// an error).
    pub async fn lead_states(
        &self,
        openids: &[OpenId],
    ) -> Result<Vec<Option<LeadState>>, StoreError> {
        let mut states = Vec::with_capacity(openids.len());
        // Three keys a lead: a page of a few hundred leads is one round trip, and a bigger
        // ask never holds the shared connection up for long.
        for page in openids.chunks(super::CHUNK / 3) {
            let mut pipe = redis::pipe();
            for openid in page {
                pipe.hgetall(self.keys.lead(openid))
                    .hgetall(self.keys.history(openid))
                    .zrange(self.keys.events(openid), 0, -1);
            }
            // Errors are kept per reply: a key of the wrong type fails its own lead, not all.
            let replies: Vec<redis::Value> = pipe
                .ignore_errors()
                .query_async(&mut self.conn.clone())
                .await?;
            let mut replies = replies.into_iter();
            states.extend(page.iter().map(|openid| {
                let (lead, history, events) = (replies.next()?, replies.next()?, replies.next()?);
                self.state_from(openid, lead, history, events)
            }));
        }
        Ok(states)
    }

    /// Writes derived changes if the lead is still at `write.version`, with timeline entries,
    /// the tag index, the outbox and the next due time, atomically. False: the lead changed
    /// since it was read, and nothing was written.
    pub async fn apply_derived(&self, write: &DerivedWrite<'_>) -> Result<bool, StoreError> {
        let keys = &self.keys;
        let mut invocation = self.derived.apply_derived.prepare_invoke();
        invocation
            .key(keys.lead(write.openid))
            .key(keys.timeline_head(write.openid))
            .key(keys.timeline_older(write.openid))
            .key(keys.outbox())
            .key(keys.tags())
            .key(keys.due());
        for (tag, _) in write.add.iter().chain(write.remove) {
            invocation.key(keys.tag_members(tag));
        }
        invocation.key(keys.changed()).key(keys.automation_inbox());
        invocation
            .arg(write.openid.as_str())
            .arg(write.version)
            .arg(write.at.0)
            .arg(
                write
                    .next_due
                    .map(|at| at.0.to_string())
                    .unwrap_or_default(),
            )
            .arg(write.add.len());
        push_changes(&mut invocation, write);
        invocation.arg(write.fired);
        let written: i64 = invocation.invoke_async(&mut self.conn.clone()).await?;
        Ok(written == 1)
    }

    /// Claims up to `limit` leads due at `now`: each is pushed `lease_secs` ahead in the due
    /// set so no other process claims it meanwhile; the derived write sets its real due time.
    /// A member that is no openid (written by hand) is dropped from the due set.
    pub async fn claim_due(
        &self,
        now: UnixTime,
        limit: usize,
        lease_secs: i64,
    ) -> Result<Vec<OpenId>, StoreError> {
        self.claim_from(&self.keys.due(), now, limit, lease_secs)
            .await
    }

    /// Claims up to `limit` members of the sorted set `key` scored at or before `now`, most
    /// overdue first, each pushed `lease_secs` ahead so no other process claims it meanwhile.
    pub(super) async fn claim_members(
        &self,
        key: &str,
        now: UnixTime,
        limit: usize,
        lease_secs: i64,
    ) -> Result<Vec<String>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        Ok(self
            .derived
            .claim_due
            .key(key)
            .arg(now.0)
            .arg(limit)
            .arg(lease_secs)
            .invoke_async(&mut self.conn.clone())
            .await?)
    }

    /// Claims up to `limit` members of the sorted set `key` scored at most `now`, each pushed
    /// `lease_secs` ahead, atomically; a member that is no openid is dropped from the set.
    pub(super) async fn claim_from(
        &self,
        key: &str,
        now: UnixTime,
        limit: usize,
        lease_secs: i64,
    ) -> Result<Vec<OpenId>, StoreError> {
        self.claim_parsed(key, now, limit, lease_secs, OpenId::parse)
            .await
    }

    /// [`Store::claim_from`] for members of any parsed kind (openids, delivery ids): a member
    /// `parse` refuses (written by hand) is dropped from the set, logged.
    pub(super) async fn claim_parsed<T>(
        &self,
        key: &str,
        now: UnixTime,
        limit: usize,
        lease_secs: i64,
        parse: fn(&str) -> Result<T, crate::domain::ParseError>,
    ) -> Result<Vec<T>, StoreError> {
        let claimed = self.claim_members(key, now, limit, lease_secs).await?;
        let mut conn = self.conn.clone();
        let mut parsed = Vec::with_capacity(claimed.len());
        let mut bad = Vec::new();
        for member in claimed {
            match parse(&member) {
                Ok(value) => parsed.push(value),
                Err(_) => bad.push(member),
            }
        }
        if !bad.is_empty() {
            tracing::warn!(
                key,
                count = bad.len(),
                "a due set holds members wxtag did not write; they are removed from it"
            );
            let _: i64 = redis::cmd("ZREM")
                .arg(key)
                .arg(&bad)
                .query_async(&mut conn)
                .await?;
        }
        Ok(parsed)
    }

    /// Takes `members` out of the due set: leads that are gone, or members that are no
    /// openid. Nothing is left to derive for them.
    pub async fn forget_due<M: AsRef<str>>(&self, members: &[M]) -> Result<(), StoreError> {
        if members.is_empty() {
            return Ok(());
        }
        let mut conn = self.conn.clone();
        let members: Vec<&str> = members.iter().map(AsRef::as_ref).collect();
        let _: i64 = redis::cmd("ZREM")
            .arg(self.keys.due())
            .arg(&members)
            .query_async(&mut conn)
            .await?;
        Ok(())
    }

    /// Which of `openids` the backfill made due and no derive has seen since, each taken
    /// out of that set: their derived changes come from a rule added on reload, and fire no
    /// automation.
    pub async fn take_backfilled(&self, openids: &[OpenId]) -> Result<Vec<bool>, StoreError> {
        if openids.is_empty() {
            return Ok(Vec::new());
        }
        let key = self.keys.backfilled();
        let members: Vec<&str> = openids.iter().map(OpenId::as_str).collect();
        let (held, _): (Vec<bool>, i64) = redis::pipe()
            .atomic()
            .cmd("SMISMEMBER")
            .arg(&key)
            .arg(&members)
            .srem(&key, &members)
            .query_async(&mut self.conn.clone())
            .await?;
        Ok(held)
    }

    /// One step of the backfill for the derived sections' `fingerprint`: makes the next
    /// `chunk` leads due now, at most once per `pace_secs` across every process. A new
    /// fingerprint starts over from the first lead.
    pub async fn backfill_step(
        &self,
        fingerprint: &str,
        chunk: usize,
        pace_secs: i64,
        now: UnixTime,
    ) -> Result<BackfillStep, StoreError> {
        let (kind, enqueued): (i64, u64) = self
            .derived
            .backfill
            .key(self.keys.backfill())
            .key(self.keys.leads())
            .key(self.keys.due())
            .key(self.keys.backfilled())
            .arg(fingerprint)
            .arg(chunk.max(1))
            .arg(pace_secs)
            .arg(now.0)
            .invoke_async(&mut self.conn.clone())
            .await?;
        Ok(match kind {
            0 => BackfillStep::Enqueued(enqueued),
            1 => BackfillStep::NotYet,
            _ => BackfillStep::Done,
        })
    }
}
