//! The sync worker: keeps the account's WeChat user tags in step with Redis.
//!
//! Redis is the source of truth and the sync is state-based. Whenever a lead's tags change,
//! the outbox stream gets an entry naming the lead. The worker reads the outbox through the
//! consumer group `sync`, so several `serve` processes share it; each cycle it
//!
//! 1. takes the entries it was given and left unacknowledged (a lead busy elsewhere, a call
//!    still failing), claims those another worker left pending longer than `claim_idle`
//!    (a crashed process), and reads new ones, collecting for up to `collect` (about a
//!    second) so that changes coalesce;
//! 2. pushes each named lead's projection ([`project`]: at most 20 tags, the first
//!    channel's first, then the newest) to WeChat (`push.rs`): one `batchtagging` or
//!    `batchuntagging` call per tag per 50 leads ([`plan`]), never two calls in flight for one
//!    lead;
//! 3. acknowledges (and deletes) an entry only once WeChat accepted its lead's changes, or
//!    what could never succeed is in the dead-letter list.
//!
//! Calls that may pass (busy, quota, HTTP 5xx, timeouts) are retried with exponential backoff
//! and jitter by the WeChat client ([`Client`], with the access token shared through Redis).
//! Configuration errors (wrong secret, IP not whitelisted, …) stop the sync and say what to
//! fix; the worker looks again only after [`CONFIG_PAUSE`]. `wxtag sync` runs a full
//! two-way [`Worker::reconcile`] once.

mod applied;
mod batch;
mod projection;
mod push;
mod reconcile;
pub mod supervisor;

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::domain::{Clock, OpenId};
use crate::metrics::Metrics;
use crate::store::{OutboxEntry, OutboxRead, OutboxStats, Store, StoreError};
use crate::wechat::client::{Client, ClientError, Retry, WeChatAccess, random_id};

pub use applied::OnWeChat;
pub use batch::{Call, plan};
pub use projection::{Changes, Last, diff, project};
pub use reconcile::ReconcileReport;

use push::{Pusher, Recorded};

use crate::wechat::tag_ids as tags;

/// How long the worker waits after a configuration error before it looks again.
pub const CONFIG_PAUSE: Duration = Duration::from_secs(600);

/// True when no retry can fix a failed cycle: Redis holds a key of the worker's in another type
/// (`WRONGTYPE`, e.g. something else wrote the outbox key) or a value it cannot read.
pub fn gives_up(error: &ClientError) -> bool {
    match error {
        ClientError::Store(StoreError::Redis(e)) => e.code() == Some("WRONGTYPE"),
        ClientError::Store(StoreError::Shape(_) | StoreError::Corrupt { .. }) => true,
        ClientError::Config(_) | ClientError::Api(_) | ClientError::TokenWait => false,
    }
}

/// How often stopped workers are removed from the consumer group.
const PRUNE_EVERY: Duration = Duration::from_secs(600);

/// A consumer with nothing pending and idle this long is a stopped worker.
const STOPPED_AFTER: Duration = Duration::from_secs(3600);

/// WeChat's errcode for tagging a user who does not follow the account (or a bad openid).
const NOT_FOLLOWING: i64 = 40003;

/// How often the outbox is read while changes are being collected.
const COLLECT_STEP: Duration = Duration::from_millis(50);

/// How the worker runs.
#[derive(Debug, Clone)]
pub struct SyncConfig {
    /// How long new changes are collected before they are synced, so they coalesce.
    pub collect: Duration,
    /// How long an idle worker waits before looking at the outbox again.
    pub idle_poll: Duration,
    /// The most outbox entries one cycle takes.
    pub batch: usize,
    /// The most calls in flight at once.
    pub concurrency: usize,
    /// Entries another worker left unacknowledged this long are claimed (well within 30 s).
    pub claim_idle: Duration,
    /// How long a lead's lease lives unless its holder renews it.
    pub lease: Duration,
    /// How failed calls are retried.
    pub retry: Retry,
    /// How long one call to WeChat may take.
    pub timeout: Duration,
    /// wxtag's clock, for the times reconcile and dead letters record.
    pub clock: Clock,
}

impl Default for SyncConfig {
    fn default() -> Self {
        Self {
            collect: Duration::from_secs(1),
            idle_poll: Duration::from_millis(200),
            batch: 5000,
            concurrency: 8,
            claim_idle: Duration::from_secs(10),
            lease: Duration::from_secs(10),
            retry: Retry::default(),
            timeout: Duration::from_secs(10),
            clock: Clock::default(),
        }
    }
}

/// What one cycle did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SyncOutcome {
    /// Outbox entries taken.
    pub entries: usize,
    /// Distinct leads they named.
    pub leads: usize,
    /// Entries acknowledged: their leads are in step with WeChat.
    pub acked: usize,
    /// Entries left for a later cycle (lead busy elsewhere, or calls still failing).
    pub left: usize,
    /// Tag calls made (retries and splits included).
    pub calls: usize,
    /// Changes given up on and put in the dead-letter list.
    pub dead_letters: usize,
}

impl SyncOutcome {
    /// True when the outbox had nothing for this worker.
    pub fn is_idle(&self) -> bool {
        self.entries == 0
    }
}

/// The sync worker of one process.
#[derive(Debug)]
pub struct Worker {
    store: Store,
    client: Client,
    config: SyncConfig,
    metrics: Metrics,
    consumer: String,
    claim_cursor: Mutex<String>,
    group_ready: AtomicBool,
}

impl Worker {
    /// A worker syncing `store`'s account with WeChat at `access`, recording into `metrics`.
    pub fn new(
        store: Store,
        access: &WeChatAccess,
        config: SyncConfig,
        metrics: Metrics,
    ) -> Result<Self, ClientError> {
        let client = Client::new(
            store.clone(),
            access,
            config.timeout,
            config.retry,
            metrics.clone(),
        )?;
        Ok(Self {
            store,
            client,
            config,
            metrics,
            consumer: format!("wxtag-{}-{}", std::process::id(), random_id()),
            claim_cursor: Mutex::new("0-0".to_owned()),
            group_ready: AtomicBool::new(false),
        })
    }

    /// The WeChat client this worker calls through (shared token, retries, metrics).
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// This worker's consumer name in the outbox group.
    pub fn consumer(&self) -> &str {
        &self.consumer
    }

    /// Counts the push's menu tags taken off and put on again, in the metrics.
    fn count_reapplied(&self, pushed: &push::Pushed) {
        let reapplied = u64::try_from(pushed.menu_reapplied).unwrap_or(u64::MAX);
        self.metrics.menu_reapplied.inc_by(reapplied);
    }

    fn pusher(&self) -> Pusher<'_> {
        Pusher {
            store: &self.store,
            client: &self.client,
            owner: &self.consumer,
            lease: self.config.lease,
            concurrency: self.config.concurrency,
            clock: &self.config.clock,
        }
    }

    async fn ensure_group(&self) -> Result<(), ClientError> {
        if !self.group_ready.load(Ordering::Relaxed) {
            self.store.ensure_outbox_group().await?;
            self.group_ready.store(true, Ordering::Relaxed);
        }
        Ok(())
    }

    /// One cycle: take entries, push their leads, acknowledge what WeChat accepted.
    pub async fn sync_once(&self) -> Result<SyncOutcome, ClientError> {
        self.ensure_group().await?;
        let entries = match self.take_entries().await {
            Err(ClientError::Store(StoreError::Redis(e))) if e.code() == Some("NOGROUP") => {
                // The outbox was deleted under us (a flushed Redis): make it again next cycle.
                self.group_ready.store(false, Ordering::Relaxed);
                return Err(ClientError::Store(StoreError::Redis(e)));
            }
            taken => taken?,
        };
        if entries.is_empty() {
            self.refresh_metrics().await?;
            return Ok(SyncOutcome::default());
        }
        let mut by_lead: BTreeMap<OpenId, Vec<String>> = BTreeMap::new();
        let mut recorded = Recorded::default();
        let mut malformed = Vec::new();
        for entry in &entries {
            match &entry.openid {
                Some(openid) => {
                    by_lead
                        .entry(openid.clone())
                        .or_default()
                        .push(entry.id.clone());
                    if entry.refollow {
                        recorded.refollowed.insert(openid.clone());
                    }
                }
                None => malformed.push(entry.id.clone()),
            }
        }
        if !malformed.is_empty() {
            tracing::warn!(ids = ?malformed, "outbox entries without a valid openid; dropping them");
            self.store.ack_outbox(&malformed).await?;
        }
        if !recorded.refollowed.is_empty() {
            // Their whole projection is asserted below: what WeChat refused while they did not
            // follow is retried by it.
            let refollowed: Vec<OpenId> = recorded.refollowed.iter().cloned().collect();
            let cleared = self
                .store
                .clear_dead_letters(&refollowed, NOT_FOLLOWING)
                .await?;
            if cleared > 0 {
                tracing::info!(
                    cleared,
                    "leads followed again: their dead letters refused as not following are retried"
                );
            }
        }
        let openids: Vec<OpenId> = by_lead.keys().cloned().collect();
        let pushed = self.pusher().push(&openids, &recorded).await?;
        self.count_reapplied(&pushed);
        let acked: Vec<String> = pushed
            .done
            .iter()
            .filter_map(|o| by_lead.get(o))
            .flatten()
            .cloned()
            .collect();
        self.store.ack_outbox(&acked).await?;
        self.refresh_metrics().await?;
        Ok(SyncOutcome {
            entries: entries.len(),
            leads: by_lead.len(),
            acked: acked.len() + malformed.len(),
            left: entries.len() - acked.len() - malformed.len(),
            calls: pushed.calls,
            dead_letters: pushed.dead_letters,
        })
    }

    /// This cycle's entries: own unacknowledged ones, claimed ones, then new ones collected
    /// for up to `collect`.
    async fn take_entries(&self) -> Result<Vec<OutboxEntry>, ClientError> {
        let batch = self.config.batch;
        let store = &self.store;
        let mut entries = store
            .read_outbox(&self.consumer, OutboxRead::Pending, batch)
            .await?;
        if entries.len() < batch {
            let cursor = self.claim_cursor_now();
            let (claimed, next) = store
                .claim_outbox(
                    &self.consumer,
                    self.config.claim_idle,
                    &cursor,
                    batch - entries.len(),
                )
                .await?;
            *self
                .claim_cursor
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = next;
            if !claimed.is_empty() {
                tracing::info!(
                    claimed = claimed.len(),
                    "claimed outbox entries another worker left unacknowledged"
                );
            }
            for entry in claimed {
                if !entries.iter().any(|e| e.id == entry.id) {
                    entries.push(entry);
                }
            }
        }
        let mut fresh = store
            .read_outbox(
                &self.consumer,
                OutboxRead::New,
                batch - entries.len().min(batch),
            )
            .await?;
        if !fresh.is_empty() {
            let deadline = Instant::now() + self.config.collect;
            while entries.len() + fresh.len() < batch {
                let now = Instant::now();
                if now >= deadline {
                    break;
                }
                tokio::time::sleep(COLLECT_STEP.min(deadline - now)).await;
                let room = batch - entries.len() - fresh.len();
                fresh.extend(
                    store
                        .read_outbox(&self.consumer, OutboxRead::New, room)
                        .await?,
                );
            }
        }
        entries.extend(fresh);
        Ok(entries)
    }

    fn claim_cursor_now(&self) -> String {
        self.claim_cursor
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Sets the outbox depth, sync lag and dead-letter gauges from Redis.
    pub async fn refresh_metrics(&self) -> Result<OutboxStats, ClientError> {
        let stats = self.store.outbox_stats().await?;
        let now_ms = u64::try_from(chrono::Utc::now().timestamp_millis()).unwrap_or(0);
        let lag = stats
            .oldest_ms
            .map_or(0, |oldest| now_ms.saturating_sub(oldest) / 1000);
        self.metrics
            .outbox_depth
            .set(i64::try_from(stats.depth).unwrap_or(i64::MAX));
        self.metrics
            .sync_lag_seconds
            .set(i64::try_from(lag).unwrap_or(i64::MAX));
        self.metrics
            .dead_letters
            .set(i64::try_from(stats.dead_letters).unwrap_or(i64::MAX));
        Ok(stats)
    }

    /// Runs cycles until `shutdown` resolves, then returns `Ok(())`. A cycle cut short leaves
    /// its entries pending and its leases to expire: nothing is lost, another worker (or this
    /// one after a restart) takes them up.
    ///
    /// Failures that may pass (WeChat busy, Redis unreachable) are retried with backoff, and a
    /// configuration error pauses the sync for [`CONFIG_PAUSE`]. It returns the error instead
    /// when no retry can help ([`gives_up`]: Redis holds the worker's keys in a shape it
    /// cannot use), so the caller can say so and stop or restart it.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()>,
    ) -> Result<(), ClientError> {
        tokio::pin!(shutdown);
        tracing::info!(consumer = %self.consumer, "sync worker started");
        let checked = tokio::select! {
            () = &mut shutdown => return Ok(()),
            checked = self.client.check() => checked,
        };
        match checked {
            Ok(()) => tracing::info!("wechat accepted the appid and secret: tags will sync"),
            Err(error @ ClientError::Config(_)) => tracing::error!("{error}"),
            Err(error) => tracing::warn!(%error, "cannot reach wechat yet; the sync keeps trying"),
        }
        let mut failures = 0;
        let mut pruned_at = Instant::now();
        loop {
            let cycle = tokio::select! {
                () = &mut shutdown => break,
                cycle = self.sync_once() => cycle,
            };
            let pause = match cycle {
                Ok(outcome) if outcome.is_idle() => {
                    failures = 0;
                    self.config.idle_poll
                }
                Ok(outcome) if outcome.acked == 0 => {
                    // Everything is busy elsewhere or still failing: back off a little.
                    failures += 1;
                    self.config.retry.delay(failures - 1)
                }
                Ok(_) => {
                    failures = 0;
                    Duration::ZERO
                }
                Err(ClientError::Config(error)) => {
                    tracing::error!(
                        "{error}; the sync looks again in {} minutes (restart wxtag after changing the environment)",
                        CONFIG_PAUSE.as_secs() / 60
                    );
                    CONFIG_PAUSE
                }
                Err(error) if gives_up(&error) => {
                    tracing::error!(%error, consumer = %self.consumer, "the sync worker stops: no retry can fix this; fix the redis data it names, then restart wxtag");
                    return Err(error);
                }
                Err(error) => {
                    failures += 1;
                    tracing::warn!(%error, "sync cycle failed; backing off");
                    self.config.retry.delay(failures - 1)
                }
            };
            if pruned_at.elapsed() > PRUNE_EVERY {
                pruned_at = Instant::now();
                match self.store.prune_consumers(STOPPED_AFTER).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(
                        consumers = n,
                        "removed stopped sync workers from the outbox group"
                    ),
                    Err(error) => tracing::warn!(%error, "could not prune stopped sync workers"),
                }
            }
            if !pause.is_zero() {
                tokio::select! {
                    () = &mut shutdown => break,
                    () = tokio::time::sleep(pause) => {}
                }
            }
        }
        tracing::info!(consumer = %self.consumer, "sync worker stopped");
        Ok(())
    }
}
