//! Pushing leads' projections to WeChat: lease the leads, read them, project, give every
//! projected tag a WeChat id, diff against what WeChat holds, plan the calls, make them, and
//! record the results.
//!
//! A lead is leased (a Redis key with a lifetime, renewed while the work lasts) before it is
//! read and until its calls are done, so no two workers, in one process or many, ever have
//! calls in flight for the same lead. A lead leased elsewhere is left alone and reported busy.
//! A lease can still be lost (a pause longer than its lifetime, another owner taking the key):
//! renewals and a check before each wave find that out, and from then on the worker makes no
//! call for the lead and does not settle it. A wave starting less than half a lease after the
//! leases were last confirmed (taken or renewed) skips the check: until then only a lease's
//! expiry could let another owner take it, and a cycle of thousands of leads saves a script
//! call per lead.
//!
//! Before the calls, every id about to change is marked in doubt in the lead's `w`; once the
//! calls are done, their results settle it, in the same script call that frees the leases. A
//! crash before that leaves the doubts, and the next sync asserts them again, so nothing
//! WeChat holds is ever forgotten. Results are written only where Redis finds the writer
//! holding the lease, so a worker that lost a lease never overwrites what the new holder
//! records; the doubts, written just after the leases were taken, are plain writes when the
//! leases are known held (see [`Held`]).
//!
//! A lead that does not follow the account is not pushed: WeChat refuses to tag it (40003) and
//! dropped its tags when it unfollowed. Its `w` is put in doubt, so once it follows again the
//! sync asserts its whole projection.
//!
//! A call WeChat refuses for good (an errcode no retry fixes) is split in halves until the
//! failing openid stands alone: one bad openid never sinks the other 49. What can never succeed
//! goes to the dead-letter list. A failure without an errcode (an HTTP 4xx, an answer that is
//! not WeChat's JSON) says nothing about the openids: it is retried, then left for later.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;
use futures_util::{StreamExt, stream};

use crate::domain::{Clock, OpenId, TagId, TagName};
use crate::store::{DeadLetterRecord, Held, LeaseOp, Store, SyncLead, TagOp};
use crate::wechat::api::{AccessToken, ApiError, WeChatApi};

use super::applied::OnWeChat;
use super::batch::{Call, plan};
use super::projection::{Changes, diff, project};
use super::tags::{self, Ensured};
use crate::wechat::client::{Client, ClientError, refused_for_good};

/// What a push did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Pushed {
    /// Leads whose WeChat tags now match their projection (what could never succeed is in the
    /// dead-letter list).
    pub(crate) done: BTreeSet<OpenId>,
    /// Leads with something left to try again later.
    pub(crate) later: BTreeSet<OpenId>,
    /// Leads another worker holds; not touched.
    pub(crate) busy: BTreeSet<OpenId>,
    /// Calls made to `batchtagging`/`batchuntagging`, retries and splits included.
    pub(crate) calls: usize,
    /// Changes given up on.
    pub(crate) dead_letters: usize,
    /// Leads whose menu tag is taken off and put on again, to be the tag applied last.
    pub(crate) menu_reapplied: usize,
}

impl Pushed {
    /// Adds another push's counts to these.
    pub(crate) fn merge(&mut self, other: Pushed) {
        self.done.extend(other.done);
        self.later.extend(other.later);
        self.busy.extend(other.busy);
        self.calls += other.calls;
        self.dead_letters += other.dead_letters;
        self.menu_reapplied += other.menu_reapplied;
    }
}

/// What WeChat holds of a lead before its push.
pub(crate) trait Truth: Sync {
    /// What WeChat holds of this lead, given what Redis says.
    fn applied(&self, openid: &OpenId, lead: &SyncLead) -> OnWeChat;
}

/// What `w` records, except for leads that followed again: WeChat dropped their tags when they
/// unfollowed, so all of it is in doubt.
#[derive(Debug, Default)]
pub(crate) struct Recorded {
    /// Leads that followed again since their last sync.
    pub(crate) refollowed: BTreeSet<OpenId>,
}

impl Truth for Recorded {
    fn applied(&self, openid: &OpenId, lead: &SyncLead) -> OnWeChat {
        let mut applied = OnWeChat::of(lead);
        if self.refollowed.contains(openid) {
            applied.doubt_all();
        }
        applied
    }
}

/// The leads of one push whose lease this worker lost: another owner holds the key, or it
/// expired. Renewals, lease checks and lease-checked writes add to it; it never shrinks.
/// It also knows when the leases were last confirmed.
#[derive(Debug, Default)]
struct Lost {
    lost: Mutex<BTreeSet<OpenId>>,
    /// When the last take or renewal that confirmed the leases was sent.
    confirmed: Mutex<Option<Instant>>,
}

impl Lost {
    fn set(&self) -> std::sync::MutexGuard<'_, BTreeSet<OpenId>> {
        self.lost.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records that a take or renewal sent at `asked` answered: the leases it held live at
    /// least a lease's lifetime from then.
    fn confirm(&self, asked: Instant) {
        let mut confirmed = self
            .confirmed
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        *confirmed = Some(confirmed.map_or(asked, |at| at.max(asked)));
    }

    /// True when the leases were confirmed less than `within` ago.
    fn confirmed_within(&self, within: Duration) -> bool {
        self.confirmed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some_and(|at| at.elapsed() < within)
    }

    /// Records the leads whose lease is gone; says so once per lead.
    fn add(&self, openids: impl IntoIterator<Item = OpenId>) {
        let mut lost = self.set();
        for openid in openids {
            if !lost.contains(&openid) {
                tracing::warn!(%openid, "lost the sync lease of the lead (another worker holds it now, or it expired); no more calls for it in this cycle");
                lost.insert(openid);
            }
        }
    }

    /// Records which of `openids` are not held, from a lease reply in the same order.
    fn add_unheld(&self, openids: &[OpenId], held: &[bool]) {
        self.add(
            openids
                .iter()
                .zip(held)
                .filter(|(_, held)| !**held)
                .map(|(o, _)| o.clone()),
        );
    }

    fn contains(&self, openid: &OpenId) -> bool {
        self.set().contains(openid)
    }

    /// Splits `openids` into those still held and those lost.
    fn split(&self, openids: &[OpenId]) -> (Vec<OpenId>, Vec<OpenId>) {
        let lost = self.set();
        openids.iter().cloned().partition(|o| !lost.contains(o))
    }

    fn all(&self) -> BTreeSet<OpenId> {
        self.set().clone()
    }
}

/// The outcome of one call, per openid.
#[derive(Debug, Default)]
struct Report {
    ok: Vec<OpenId>,
    dead: Vec<(OpenId, ApiError)>,
    later: Vec<OpenId>,
    calls: usize,
}

impl Report {
    fn merge(mut self, other: Report) -> Report {
        self.ok.extend(other.ok);
        self.dead.extend(other.dead);
        self.later.extend(other.later);
        self.calls += other.calls;
        self
    }
}

/// Aborts a background task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Pushes projections for one worker.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Pusher<'a> {
    pub(crate) store: &'a Store,
    pub(crate) client: &'a Client,
    /// Who holds the leases.
    pub(crate) owner: &'a str,
    /// How long a lease lives unless renewed.
    pub(crate) lease: Duration,
    /// How many calls may be in flight at once.
    pub(crate) concurrency: usize,
    /// wxtag's clock, for when a change was dead-lettered.
    pub(crate) clock: &'a Clock,
}

impl Pusher<'_> {
    /// Brings these leads' WeChat tags to their projections.
    pub(crate) async fn push(
        &self,
        openids: &[OpenId],
        truth: &dyn Truth,
    ) -> Result<Pushed, ClientError> {
        let asked = Instant::now();
        let held = self
            .store
            .lead_leases(openids, self.owner, self.lease, LeaseOp::Take)
            .await?;
        let (mine, busy): (Vec<_>, Vec<_>) = openids.iter().zip(held).partition(|(_, h)| *h);
        let mine: Vec<OpenId> = mine.into_iter().map(|(o, _)| o.clone()).collect();
        let mut pushed = Pushed {
            busy: busy.into_iter().map(|(o, _)| o.clone()).collect(),
            ..Pushed::default()
        };
        if mine.is_empty() {
            return Ok(pushed);
        }
        let lost = Arc::new(Lost::default());
        lost.confirm(asked);
        let renewing = AbortOnDrop(tokio::spawn(renew(
            self.store.clone(),
            mine.clone(),
            self.owner.to_owned(),
            self.lease,
            Arc::clone(&lost),
        )));
        let result = self.push_leased(&mine, truth, &lost).await;
        drop(renewing);
        // Records the calls' results and frees the leases in one call; the script writes and
        // frees only where this worker still holds the lease.
        let (result, settled) = match result {
            Ok((pushed, settled)) => (Ok(pushed), settled),
            Err(error) => (Err(error), Vec::new()),
        };
        let written: BTreeSet<&OpenId> = settled.iter().map(|(o, _)| o).collect();
        let freed: Vec<OpenId> = mine
            .iter()
            .filter(|o| !written.contains(o))
            .cloned()
            .collect();
        let held = self.store.settle_leases(self.owner, &settled, &freed).await;
        let mut result = result?;
        let order: Vec<OpenId> = settled.into_iter().map(|(o, _)| o).chain(freed).collect();
        lost.add_unheld(&order, &held?);
        let lost = lost.all();
        result.done.retain(|o| !lost.contains(o));
        result.later.extend(lost);
        pushed.merge(result);
        Ok(pushed)
    }

    /// The push of leads this worker holds. Returns it with the new `w` of the leads it made
    /// calls for, which the caller records as it frees the leases.
    async fn push_leased(
        &self,
        openids: &[OpenId],
        truth: &dyn Truth,
        lost: &Lost,
    ) -> Result<(Pushed, Vec<(OpenId, String)>), ClientError> {
        let leads = self.store.sync_leads(openids).await?;
        let sync = self.store.tag_sync().await?;
        let menu_tags: Vec<String> = (self.store.published_menus().await?)
            .into_iter()
            .map(|m| m.tag)
            .collect();
        let mut ids = tags::ids_of(&sync);
        let mut unsynced: BTreeSet<String> = sync.unsynced.into_keys().collect();
        let mut waiting: BTreeSet<TagName> = BTreeSet::new();

        // Every projected tag needs an id; a tag found unsynced changes projections: repeat.
        loop {
            let missing: BTreeSet<TagName> = leads
                .iter()
                .filter(|lead| lead.subscribed)
                .flat_map(|lead| project(lead, |t| !unsynced.contains(t.as_str()), &menu_tags))
                .filter(|name| !ids.contains_key(name.as_str()) && !waiting.contains(*name))
                .cloned()
                .collect();
            if missing.is_empty() {
                break;
            }
            for (name, ensured) in tags::ensure(self.store, self.client, missing).await? {
                match ensured {
                    Ensured::Id(id) => {
                        ids.insert(name.to_string(), id);
                    }
                    Ensured::Unsynced(_) => {
                        unsynced.insert(name.to_string());
                    }
                    Ensured::Later => {
                        waiting.insert(name);
                    }
                }
            }
        }

        let mut pushed = Pushed::default();
        let mut states: HashMap<OpenId, OnWeChat> = HashMap::new();
        let mut changes: BTreeMap<OpenId, Changes> = BTreeMap::new();
        let mut doubts = Vec::new();
        for (openid, lead) in openids.iter().zip(&leads) {
            let mut applied = truth.applied(openid, lead);
            if !lead.subscribed {
                applied.doubt_all();
                if applied.encode() != lead.applied_raw {
                    doubts.push(openid.clone());
                }
                states.insert(openid.clone(), applied);
                continue;
            }
            let projected = project(lead, |t| !unsynced.contains(t.as_str()), &menu_tags);
            if projected.iter().any(|name| waiting.contains(*name)) {
                pushed.later.insert(openid.clone());
            }
            let desired: BTreeSet<TagId> = projected
                .iter()
                .filter_map(|name| ids.get(name.as_str()).copied())
                .collect();
            let mut change = diff(&desired, &applied);
            // The lead's first menu tag (file order) stays the tag applied last.
            let menu = (menu_tags.iter())
                .filter(|m| projected.iter().any(|p| p.as_str() == m.as_str()))
                .find_map(|m| ids.get(m.as_str()).copied());
            if let Some(menu) = menu {
                change.keep_last(menu, &applied);
                pushed.menu_reapplied += usize::from(change.last.is_some_and(|l| l.reapply));
            }
            for id in change.ids() {
                applied.doubt(id);
            }
            if applied.encode() != lead.applied_raw {
                doubts.push(openid.clone());
            }
            states.insert(openid.clone(), applied);
            if !change.is_empty() {
                changes.insert(openid.clone(), change);
            }
        }
        // Just after the take (unless making tags took long), the leases are known held.
        let held = if lost.confirmed_within(self.lease / 2) {
            Held::Known
        } else {
            Held::Checked
        };
        self.record(&doubts, &states, held, lost).await?;

        let names: BTreeMap<TagId, String> = ids.into_iter().map(|(n, id)| (id, n)).collect();
        let names = &names;
        for wave in plan(&changes) {
            let wave = self.still_held(wave, lost).await?;
            let mut results = stream::iter(wave)
                .map(|call| async move {
                    let report = self.run(call.clone(), names, lost).await;
                    (call, report)
                })
                .buffer_unordered(self.concurrency.max(1));
            while let Some((call, report)) = results.next().await {
                let report = report?;
                self.settle(&call, report, names, &mut states, &mut pushed, lost)
                    .await?;
            }
        }
        for openid in openids {
            if !pushed.later.contains(openid) {
                pushed.done.insert(openid.clone());
            }
        }
        let settled = changes
            .into_keys()
            .filter(|o| !lost.contains(o))
            .filter_map(|o| states.get(&o).map(OnWeChat::encode).map(|w| (o, w)))
            .collect();
        Ok((pushed, settled))
    }

    /// Checks the leases of a wave's leads just before its calls (unless they were confirmed
    /// less than half a lease ago): calls keep only the leads still held, and calls left with
    /// none are dropped.
    async fn still_held(&self, wave: Vec<Call>, lost: &Lost) -> Result<Vec<Call>, ClientError> {
        if !lost.confirmed_within(self.lease / 2) {
            let openids: Vec<OpenId> = wave
                .iter()
                .flat_map(|call| call.openids.iter().cloned())
                .filter(|o| !lost.contains(o))
                .collect();
            let asked = Instant::now();
            let held = self
                .store
                .lead_leases(&openids, self.owner, self.lease, LeaseOp::Renew)
                .await?;
            lost.add_unheld(&openids, &held);
            lost.confirm(asked);
        }
        Ok(wave
            .into_iter()
            .filter_map(|mut call| {
                call.openids = lost.split(&call.openids).0;
                (!call.openids.is_empty()).then_some(call)
            })
            .collect())
    }

    /// Writes the `w` field of these leads from `states`, for the leads whose lease this worker
    /// still holds (as `held` says, or as Redis finds); the others are lost.
    async fn record(
        &self,
        openids: &[OpenId],
        states: &HashMap<OpenId, OnWeChat>,
        held: Held,
        lost: &Lost,
    ) -> Result<(), ClientError> {
        let rows: Vec<(&OpenId, String)> = openids
            .iter()
            .filter(|o| !lost.contains(o))
            .filter_map(|o| states.get(o).map(|a| (o, a.encode())))
            .collect();
        if rows.is_empty() {
            return Ok(());
        }
        let written = self.store.set_applied(self.owner, &rows, held).await?;
        let tried: Vec<OpenId> = rows.iter().map(|(o, _)| (*o).clone()).collect();
        lost.add_unheld(&tried, &written);
        Ok(())
    }

    /// Records one call's results: what WeChat now holds, dead letters, what is left.
    async fn settle(
        &self,
        call: &Call,
        report: Report,
        names: &BTreeMap<TagId, String>,
        states: &mut HashMap<OpenId, OnWeChat>,
        pushed: &mut Pushed,
        lost: &Lost,
    ) -> Result<(), ClientError> {
        pushed.calls += report.calls;
        for openid in &report.ok {
            if let Some(state) = states.get_mut(openid) {
                match call.op {
                    TagOp::Add => state.confirm(call.tag),
                    TagOp::Remove => state.clear(call.tag),
                }
            }
        }
        for (openid, error) in &report.dead {
            if lost.contains(openid) {
                // The lead's new lease holder makes (and records) its own calls.
                continue;
            }
            if let Some(state) = states.get_mut(openid) {
                // Refused for good: an addition did not happen, a removal did not either.
                match call.op {
                    TagOp::Add => state.clear(call.tag),
                    TagOp::Remove => state.confirm(call.tag),
                }
            }
            let tag = names
                .get(&call.tag)
                .cloned()
                .unwrap_or_else(|| format!("#{}", call.tag));
            tracing::warn!(%openid, %tag, op = ?call.op, %error, "tag change refused for good; dead-lettered");
            self.store
                .push_dead_letter(&DeadLetterRecord {
                    openid: openid.to_string(),
                    tag,
                    op: call.op,
                    errcode: error.code(),
                    error: error.to_string(),
                    at: self.clock.now().0,
                })
                .await?;
            pushed.dead_letters += 1;
        }
        pushed.later.extend(report.later);
        Ok(())
    }

    /// Makes one call, retrying what may pass and splitting what fails for good; each attempt
    /// leaves out the leads whose lease was lost meanwhile.
    fn run<'s>(
        &'s self,
        mut call: Call,
        names: &'s BTreeMap<TagId, String>,
        lost: &'s Lost,
    ) -> BoxFuture<'s, Result<Report, ClientError>> {
        Box::pin(async move {
            let retry = self.client.retry();
            let mut report = Report::default();
            let mut attempt = 0;
            loop {
                let (held, gone) = lost.split(&call.openids);
                report.later.extend(gone);
                if held.is_empty() {
                    return Ok(report);
                }
                call.openids = held;
                let call = &call;
                report.calls += 1;
                let result = self
                    .client
                    .attempt(
                        call.endpoint(),
                        &|api: WeChatApi, token: AccessToken| async move {
                            match call.op {
                                TagOp::Add => {
                                    api.batch_tagging(&token, call.tag, &call.openids).await
                                }
                                TagOp::Remove => {
                                    api.batch_untagging(&token, call.tag, &call.openids).await
                                }
                            }
                        },
                    )
                    .await;
                let error = match result {
                    Ok(()) => {
                        report.ok.clone_from(&call.openids);
                        return Ok(report);
                    }
                    Err(ClientError::Api(e)) if e.code() == Some(45159) => {
                        if !tags::exists(self.client, call.tag).await? {
                            return self.gone(call, names, report).await;
                        }
                        // A known tag: WeChat says 45159 when a user is tagged twice at once.
                        ClientError::Api(e)
                    }
                    Err(ClientError::Api(e)) if refused_for_good(&e) => {
                        return self.refused(call, names, e, report, lost).await;
                    }
                    // Busy, quota, 5xx, timeouts; or no errcode (an HTTP 4xx, an unreadable
                    // answer), which is not the openids' fault either.
                    Err(e @ (ClientError::Api(_) | ClientError::TokenWait)) => e,
                    Err(e) => return Err(e),
                };
                if attempt + 1 >= retry.attempts {
                    tracing::warn!(endpoint = call.endpoint(), tag = call.tag.0, %error, "call still failing; leaving it for a later cycle");
                    report.later.extend(call.openids.iter().cloned());
                    return Ok(report);
                }
                tokio::time::sleep(retry.delay(attempt)).await;
                attempt += 1;
            }
        })
    }

    /// A call WeChat refused for good: split it to find the openid at fault, or dead-letter it.
    async fn refused(
        &self,
        call: &Call,
        names: &BTreeMap<TagId, String>,
        error: ApiError,
        mut report: Report,
        lost: &Lost,
    ) -> Result<Report, ClientError> {
        if call.openids.len() < 2 {
            let openid = call.openids.first().cloned();
            report.dead.extend(openid.map(|o| (o, error)));
            return Ok(report);
        }
        let (left, right) = call.openids.split_at(call.openids.len() / 2);
        let half = |openids: &[OpenId]| Call {
            op: call.op,
            tag: call.tag,
            openids: openids.to_vec(),
        };
        let (a, b) = futures_util::future::try_join(
            self.run(half(left), names, lost),
            self.run(half(right), names, lost),
        )
        .await?;
        Ok(report.merge(a).merge(b))
    }

    /// The call's tag no longer exists on WeChat: a removal is done; for an addition the stale
    /// id is forgotten, so the next cycle creates the tag again.
    async fn gone(
        &self,
        call: &Call,
        names: &BTreeMap<TagId, String>,
        mut report: Report,
    ) -> Result<Report, ClientError> {
        match call.op {
            TagOp::Remove => report.ok.clone_from(&call.openids),
            TagOp::Add => {
                if let Some(name) = names.get(&call.tag) {
                    tracing::warn!(tag = %name, id = call.tag.0, "the tag is gone from wechat; it will be created again");
                    self.store.forget_wechat_tag_id(name).await?;
                }
                report.later.extend(call.openids.iter().cloned());
            }
        }
        Ok(report)
    }
}

/// Keeps the leases alive while the push lasts, and records those it finds lost.
async fn renew(
    store: Store,
    openids: Vec<OpenId>,
    owner: String,
    lease: Duration,
    lost: Arc<Lost>,
) {
    let mut every = tokio::time::interval(lease / 3);
    every.tick().await;
    loop {
        every.tick().await;
        let asked = Instant::now();
        match store
            .lead_leases(&openids, &owner, lease, LeaseOp::Renew)
            .await
        {
            Ok(held) => {
                lost.add_unheld(&openids, &held);
                lost.confirm(asked);
            }
            Err(error) => tracing::warn!(%error, "could not renew the sync leases"),
        }
    }
}
