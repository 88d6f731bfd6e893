//! Automations: runs started by what fired for a lead, and their steps, each run's steps
//! in order, across processes and restarts.
//!
//! # From a change to a run
//!
//! The scripts that change a lead (a touch, its derived changes, a sales edit, a bulk job,
//! a form, an event) record what fired in the account's automation inbox, in the same
//! script as the change, so a change answered `success` never loses its trigger
//! ([`crate::rules::automation::Fired`]). A segment's recount records who entered it. Each
//! `serve` runs an [`Automator`]: it reads both through the consumer group `auto`, starts a
//! run for every automation whose trigger matches and whose `when` holds (`start.rs`), then
//! acknowledges the entries. A run's id names it once (`<automation>:<openid>`, plus what
//! tells the firings apart when `repeat = true`), so an entry read twice after a crash
//! starts one run.
//!
//! # Steps
//!
//! A started run is due at once in the runs' due set; a pass claims the due runs (claiming
//! pushes them a lease ahead, so two processes never run one step at once) and runs each
//! one's current step (`step.rs`). Moving a run on is a compare-and-set from the step it was at
//! (`advance_run.lua`), so a step moves its run on once. A wait moves the run to the next
//! step, due when the wait ends: nothing polls the runs that wait, and a restart finds them
//! in Redis. Internal steps (tags, waits) take effect once: a tag step re-run after a crash
//! before its move finds the tags as it left them. Sends are at most once and notifies at
//! least once, with one delivery id (see `step.rs`).

mod start;
mod step;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::domain::Clock;
use crate::links::Links;
use crate::metrics::Metrics;
use crate::outreach::Sender;
use crate::rules::LiveRules;
use crate::store::{OutboxRead, Store, StoreError};

pub use start::run_id;

/// How often an idle worker looks for new firings and due runs: a sales alert leaves
/// within seconds of the change.
pub const POLL: Duration = Duration::from_secs(1);

/// The most inbox entries, segment entries and due runs one pass takes, each.
pub const BATCH: usize = 200;

/// How long a claimed run is kept from other processes: longer than a step's slowest call
/// with its retries.
pub const RUN_LEASE_SECS: i64 = 120;

/// How long an inbox entry stays with a worker that stopped before another takes it.
pub const CLAIM_IDLE: Duration = Duration::from_secs(60);

/// What one pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pass {
    /// Inbox and segment entries read.
    pub fired: usize,
    /// Runs started.
    pub started: usize,
    /// Steps run (or skipped, or delayed).
    pub steps: usize,
}

impl Pass {
    /// True when a batch was full: there is more to do at once.
    fn full(&self) -> bool {
        self.fired >= BATCH || self.steps >= BATCH
    }
}

/// The automations of one account, worked by this process.
#[derive(Debug, Clone)]
pub struct Automator {
    rules: LiveRules,
    store: Store,
    clock: Clock,
    metrics: Metrics,
    /// Sends within WeChat's rules.
    sender: Sender,
    /// Fills in a message's tracked links for its lead.
    links: Links,
    /// This process's name in the consumer group.
    consumer: String,
    /// True once the consumer groups are known to exist.
    ready: Arc<AtomicBool>,
}

impl Automator {
    /// A worker running `rules`' automations on `store`, at `clock`'s time, sending through
    /// `sender` with `links` filled in.
    pub fn new(
        rules: LiveRules,
        store: Store,
        clock: Clock,
        metrics: Metrics,
        sender: Sender,
        links: Links,
    ) -> Self {
        Self {
            rules,
            store,
            clock,
            metrics,
            sender,
            links,
            consumer: format!("auto-{:016x}", rand::random::<u64>()),
            ready: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Runs passes until `stop` turns true: at once again after a full batch, else after
    /// [`POLL`]. A failing pass is logged and retried at the next poll.
    pub async fn run_until_stopped(self, mut stop: tokio::sync::watch::Receiver<bool>) {
        let mut cursor = "0-0".to_owned();
        loop {
            let pause = match self.pass(&mut cursor).await {
                Ok(pass) if pass.full() => Duration::ZERO,
                Ok(_) => POLL,
                Err(error) => {
                    tracing::warn!(%error, "automation pass failed; retrying at the next poll");
                    POLL
                }
            };
            tokio::select! {
                _ = tokio::time::sleep(pause) => {}
                _ = stop.wait_for(|stopped| *stopped) => return,
            }
        }
    }

    /// One pass: what fired (this process's unacknowledged entries first, then those a
    /// stopped worker left, from `cursor`, then new ones), the segment entries, then the
    /// runs due now.
    pub async fn pass(&self, cursor: &mut String) -> Result<Pass, StoreError> {
        let rules = self.rules.load();
        let now = self.clock.now();
        let mut pass = Pass::default();
        if !rules.automations().is_empty() {
            if !self.ready.load(Ordering::Relaxed) {
                self.store.ensure_automation_groups().await?;
                self.ready.store(true, Ordering::Relaxed);
            }
            let mut entries = (self.store)
                .read_fired(&self.consumer, OutboxRead::Pending, BATCH)
                .await?;
            if entries.is_empty() {
                let (claimed, next) = (self.store)
                    .claim_fired(&self.consumer, CLAIM_IDLE, cursor, BATCH)
                    .await?;
                *cursor = next;
                entries = claimed;
            }
            if entries.is_empty() {
                entries = (self.store)
                    .read_fired(&self.consumer, OutboxRead::New, BATCH)
                    .await?;
            }
            pass.fired += entries.len();
            pass.started += start::from_inbox(self, &rules, &entries, now).await?;
            if rules.watch().segments() {
                let entered = (self.store)
                    .read_entered(&self.consumer, OutboxRead::New, BATCH)
                    .await?;
                pass.fired += entered.len();
                pass.started += start::from_segments(self, &rules, &entered, now).await?;
            }
        }
        let due = self.store.claim_runs(now, BATCH, RUN_LEASE_SECS).await?;
        let runs = self.store.runs(&due).await?;
        for (id, run) in due.iter().zip(runs) {
            step::run_step(self, &rules, id, run, now).await?;
            pass.steps += 1;
        }
        Ok(pass)
    }
}
