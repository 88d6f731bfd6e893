//! Time-driven work: the derived tags that change when only time passes (a window closes, a
//! lead goes quiet, a score decays past a level, a tag lapses), applied within a minute of
//! the moment, with no event.
//!
//! Every lead whose derived tags can change by time alone sits in the account's due set,
//! scored by the next moment one can ([`crate::rules::derive::Derivation::next_due`]); the
//! derived write of every event and every scheduler pass keeps that score right. Each `serve`
//! runs a [`Scheduler`]; a pass claims the leads due now (claiming pushes them ahead in the
//! set, so two processes never take the same lead), derives each from its state, and writes
//! the changes only if the lead is still at the version it read. The work is proportional to
//! the leads that are due, never a sweep; a restart catches up on what fell due meanwhile,
//! since the due set is in Redis.
//!
//! The same loop works through bulk tagging jobs ([`crate::segments::jobs`]), a few steps a
//! pass, each job held by one process at a time, and recounts one saved segment a pass
//! when its count is older than [`segments::REFRESH_SECS`]: that keeps each segment's
//! members per day, and notices the leads that entered it.
//!
//! It applies the events parked for openids wxtag did not know, once their leads appear
//! ([`events::settle_parked`], a bounded step a pass).
//!
//! It also keeps the seen-on-day sets that segments' date conditions use (their expiry, and
//! a backfill of the leads that were there before them: [`SEEN_FILL`] leads a pass, the next
//! pass at once until it is done).
//!
//! The same loop runs the backfill: when the derived sections change (a rule added on
//! reload), every existing lead is made due once, a chunk at a time and paced across
//! processes, and the passes then derive them from their touch history.

use std::time::Duration;

use crate::domain::{Clock, SegmentName};
use crate::events;
use crate::rules::LiveRules;
use crate::segments::{self, jobs};
use crate::store::{BackfillStep, SeenFill, Store, StoreError};

/// How often an idle scheduler looks for due leads: well inside the minute it promises.
pub const POLL: Duration = Duration::from_secs(5);

/// The most leads one pass claims (and reads in one round trip).
pub const BATCH: usize = 200;

/// How long a claimed lead is kept from other processes; its derived write sets the real
/// due time long before.
pub const CLAIM_LEASE_SECS: i64 = 60;

/// How many leads one backfill step makes due, and how often a step may run across every
/// process: 200 leads a second at most, so a backfill never crowds out the events.
pub const BACKFILL_CHUNK: usize = 200;

/// Seconds between two backfill steps, across every process.
pub const BACKFILL_PACE_SECS: i64 = 1;

/// How many leads one pass adds to the seen-on-day sets while their backfill runs: a few
/// milliseconds of Redis, so a million leads take some 100 passes back to back.
pub const SEEN_FILL: usize = 10_000;

/// What one pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pass {
    /// Leads claimed as due.
    pub claimed: usize,
    /// Leads whose derived tags changed.
    pub changed: usize,
    /// Leads made due by the backfill in this pass.
    pub backfilled: u64,
    /// Bulk job steps done (each tags up to [`jobs::STEP`] members).
    pub job_steps: usize,
    /// True when a bulk job has more to do than one pass does.
    pub jobs_pending: bool,
    /// The saved segment recounted in this pass, if one was due.
    pub recounted: Option<SegmentName>,
    /// Leads added to the seen-on-day sets by their backfill in this pass.
    pub seen_filled: u64,
    /// True while that backfill has more to do.
    pub seen_pending: bool,
    /// Parked events applied to leads that appeared since ([`events::settle_parked`]).
    pub parked_applied: usize,
}

/// The most bulk job steps one pass does before the rules over time get their turn again.
pub const JOB_STEPS: usize = 10;

/// The time-driven half of the rules over time, for one account.
#[derive(Debug, Clone)]
pub struct Scheduler {
    rules: LiveRules,
    store: Store,
    clock: Clock,
    /// This process among those sharing the account, for the leases on bulk jobs.
    owner: String,
}

impl Scheduler {
    /// A scheduler deriving with `rules`, on `store`, at `clock`'s time.
    pub fn new(rules: LiveRules, store: Store, clock: Clock) -> Self {
        Self {
            rules,
            store,
            clock,
            owner: format!("{:016x}", rand::random::<u64>()),
        }
    }

    /// Runs passes until `stop` turns true: at once again after a full batch (there is more
    /// due), else after [`POLL`]. A failing pass is logged and retried at the next poll.
    pub async fn run_until_stopped(self, mut stop: tokio::sync::watch::Receiver<bool>) {
        loop {
            let pause = match self.pass().await {
                Ok(pass) if pass.claimed == BATCH || pass.jobs_pending || pass.seen_pending => {
                    Duration::ZERO
                }
                Ok(_) => POLL,
                Err(error) => {
                    tracing::warn!(%error, "scheduler pass failed; retrying at the next poll");
                    POLL
                }
            };
            tokio::select! {
                _ = tokio::time::sleep(pause) => {}
                _ = stop.wait_for(|stopped| *stopped) => return,
            }
        }
    }

    /// One pass: a backfill step if one is due, every lead due now (up to [`BATCH`]), the
    /// seen-on-day sets' upkeep, up to [`JOB_STEPS`] steps of the running bulk jobs, then the
    /// saved segment whose count is the oldest, if it is due. Only the derive's failure fails
    /// the pass; the later parts' failures are logged and leave the others to run.
    pub async fn pass(&self) -> Result<Pass, StoreError> {
        let mut pass = self.derive().await?;
        let now = self.clock.now();
        // Past the rules over time, each part fails alone, logged: the seen-on-day sets'
        // upkeep, the bulk jobs and the recount (one broken key stops none of the others).
        match self.seen_upkeep(now).await {
            Ok(filled) => {
                pass.seen_filled = filled.leads;
                pass.seen_pending = !filled.done;
            }
            Err(error) => {
                tracing::warn!(%error, "the seen-on-day sets' upkeep failed; retrying next pass");
            }
        }
        let rules = self.rules.load();
        match events::settle_parked(&self.store, &rules, now).await {
            Ok(applied) => pass.parked_applied = applied,
            Err(error) => tracing::warn!(%error, "parked events failed; retrying next pass"),
        }
        match jobs::work(&self.store, &self.owner, JOB_STEPS, self.clock.now()).await {
            Ok(worked) => {
                pass.job_steps = worked.steps;
                pass.jobs_pending = worked.more;
            }
            Err(error) => tracing::warn!(%error, "bulk jobs failed; retrying next pass"),
        }
        match segments::refresh_one(&self.store, &rules, self.clock.now()).await {
            Ok(recounted) => pass.recounted = recounted,
            Err(error) => tracing::warn!(%error, "a segment recount failed; retrying next pass"),
        }
        Ok(pass)
    }

    /// The seen-on-day sets' expiry and a step of their backfill.
    async fn seen_upkeep(&self, now: crate::domain::UnixTime) -> Result<SeenFill, StoreError> {
        self.store.keep_seen(now).await?;
        self.store.backfill_seen(SEEN_FILL, now).await
    }

    /// The rules over time's part of a pass.
    async fn derive(&self) -> Result<Pass, StoreError> {
        let rules = self.rules.load();
        if !rules.derives() {
            return Ok(Pass::default());
        }
        let now = self.clock.now();
        let backfilled = match self
            .store
            .backfill_step(
                &rules.derived_fingerprint(),
                BACKFILL_CHUNK,
                BACKFILL_PACE_SECS,
                now,
            )
            .await?
        {
            BackfillStep::Enqueued(n) => n,
            BackfillStep::NotYet | BackfillStep::Done => 0,
        };
        let due = self.store.claim_due(now, BATCH, CLAIM_LEASE_SECS).await?;
        let states = self.store.lead_states(&due).await?;
        let quiet_leads = self.store.take_backfilled(&due).await?;
        let mut changed = 0;
        let mut gone = Vec::new();
        for ((openid, state), quiet) in due.iter().zip(states).zip(quiet_leads) {
            let Some(state) = state else {
                gone.push(openid);
                continue;
            };
            let mut derivation = rules.derive(&state, now);
            // A rule added on reload fires no automation for the leads it finds.
            if quiet {
                derivation.fired.clear();
            }
            let write = derivation.write(openid, state.version, now);
            if self.store.apply_derived(&write).await? && !derivation.is_unchanged() {
                changed += 1;
            }
        }
        self.store.forget_due(&gone).await?;
        Ok(Pass {
            claimed: due.len(),
            changed,
            backfilled,
            ..Pass::default()
        })
    }
}
