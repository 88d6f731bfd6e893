//! Pushing leads' projections to WeChat: lease the leads, read them, project, give every
//! projected tag a WeChat id, diff against what WeChat holds, plan the calls, make them, and
//! record each result as it arrives.
//!
//! A lead is leased (a Redis key with a lifetime, renewed while the work lasts) before it is
//! read and until its calls are done, so no two workers, in one process or many, ever have
//! calls in flight for the same lead. A lead leased elsewhere is left alone and reported busy.
//!
//! Before the calls, every id about to change is marked in doubt in the lead's `w`; each
//! result then settles it. A crash between a call and its record leaves the doubt, and the
//! next sync asserts it again, so nothing WeChat holds is ever forgotten.
//!
//! A call WeChat refuses for good (an errcode no retry fixes) is split in halves until the
//! failing openid stands alone: one bad openid never sinks the other 49. What can never succeed
//! goes to the dead-letter list. A failure without an errcode (an HTTP 4xx, an answer that is
//! not WeChat's JSON) says nothing about the openids: it is retried, then left for later.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use futures_util::future::BoxFuture;
use futures_util::{StreamExt, stream};

use crate::domain::{OpenId, TagId, TagName, UnixTime};
use crate::store::{DeadLetterRecord, LeaseOp, OnWeChat, Store, SyncLead, TagOp};
use crate::wechat::api::{AccessToken, ApiError, WeChatApi};

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
}

impl Pushed {
    /// Adds another push's counts to these.
    pub(crate) fn merge(&mut self, other: Pushed) {
        self.done.extend(other.done);
        self.later.extend(other.later);
        self.busy.extend(other.busy);
        self.calls += other.calls;
        self.dead_letters += other.dead_letters;
    }
}

/// What WeChat holds of a lead when the caller knows better than `w` (a reconcile).
pub(crate) trait Truth: Sync {
    /// What WeChat holds of this lead, given what Redis says.
    fn applied(&self, openid: &OpenId, lead: &SyncLead) -> OnWeChat;
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
}

impl Pusher<'_> {
    /// Brings these leads' WeChat tags to their projections.
    pub(crate) async fn push(
        &self,
        openids: &[OpenId],
        truth: Option<&dyn Truth>,
    ) -> Result<Pushed, ClientError> {
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
        let renewing = AbortOnDrop(tokio::spawn(renew(
            self.store.clone(),
            mine.clone(),
            self.owner.to_owned(),
            self.lease,
        )));
        let result = self.push_leased(&mine, truth).await;
        drop(renewing);
        let freed = self
            .store
            .lead_leases(&mine, self.owner, self.lease, LeaseOp::Free)
            .await;
        pushed.merge(result?);
        freed?;
        Ok(pushed)
    }

    async fn push_leased(
        &self,
        openids: &[OpenId],
        truth: Option<&dyn Truth>,
    ) -> Result<Pushed, ClientError> {
        let leads = self.store.sync_leads(openids).await?;
        let sync = self.store.tag_sync().await?;
        let mut ids = tags::ids_of(&sync);
        let mut unsynced: BTreeSet<String> = sync.unsynced.into_keys().collect();
        let mut waiting: BTreeSet<TagName> = BTreeSet::new();

        // Every projected tag needs an id; a tag found unsynced changes projections: repeat.
        loop {
            let missing: BTreeSet<TagName> = leads
                .iter()
                .flat_map(|lead| project(lead, |t| !unsynced.contains(t.as_str())))
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
            let projected = project(lead, |t| !unsynced.contains(t.as_str()));
            if projected.iter().any(|name| waiting.contains(*name)) {
                pushed.later.insert(openid.clone());
            }
            let desired: BTreeSet<TagId> = projected
                .iter()
                .filter_map(|name| ids.get(name.as_str()).copied())
                .collect();
            let mut applied = match truth {
                Some(truth) => truth.applied(openid, lead),
                None => lead.applied(),
            };
            let change = diff(&desired, &applied);
            for id in change.remove.iter().chain(&change.add) {
                applied.doubt(*id);
            }
            if applied.encode() != lead.applied_raw {
                doubts.push(openid.clone());
            }
            states.insert(openid.clone(), applied);
            if !change.is_empty() {
                changes.insert(openid.clone(), change);
            }
        }
        self.record(&doubts, &states).await?;

        let names: BTreeMap<TagId, String> = ids.into_iter().map(|(n, id)| (id, n)).collect();
        let names = &names;
        for wave in plan(&changes) {
            let mut results = stream::iter(wave)
                .map(|call| async move {
                    let report = self.run(&call, names).await;
                    (call, report)
                })
                .buffer_unordered(self.concurrency.max(1));
            while let Some((call, report)) = results.next().await {
                let report = report?;
                self.settle(&call, report, names, &mut states, &mut pushed)
                    .await?;
            }
        }
        for openid in openids {
            if !pushed.later.contains(openid) {
                pushed.done.insert(openid.clone());
            }
        }
        Ok(pushed)
    }

    /// Writes the `w` field of these leads from `states`.
    async fn record(
        &self,
        openids: &[OpenId],
        states: &HashMap<OpenId, OnWeChat>,
    ) -> Result<(), ClientError> {
        let rows: Vec<(&OpenId, &OnWeChat)> = openids
            .iter()
            .filter_map(|o| states.get(o).map(|a| (o, a)))
            .collect();
        Ok(self.store.set_applied(&rows).await?)
    }

    /// Records one call's results: what WeChat now holds, dead letters, what is left.
    async fn settle(
        &self,
        call: &Call,
        report: Report,
        names: &BTreeMap<TagId, String>,
        states: &mut HashMap<OpenId, OnWeChat>,
        pushed: &mut Pushed,
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
                    at: UnixTime::now().0,
                })
                .await?;
            pushed.dead_letters += 1;
        }
        pushed.later.extend(report.later);
        self.record(&call.openids, states).await
    }

    /// Makes one call, retrying what may pass and splitting what fails for good.
    fn run<'s>(
        &'s self,
        call: &'s Call,
        names: &'s BTreeMap<TagId, String>,
    ) -> BoxFuture<'s, Result<Report, ClientError>> {
        Box::pin(async move {
            let retry = self.client.retry();
            let mut report = Report::default();
            let mut attempt = 0;
            loop {
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
                        return self.refused(call, names, e, report).await;
                    }
                    // Busy, quota, 5xx, timeouts; or no errcode (an HTTP 4xx, an unreadable
                    // answer), which is not the openids' fault either.
                    Err(e @ (ClientError::Api(_) | ClientError::TokenWait)) => e,
                    Err(e) => return Err(e),
                };
                if attempt + 1 >= retry.attempts {
                    tracing::warn!(endpoint = call.endpoint(), tag = call.tag.0, %error, "call still failing; leaving it for a later cycle");
                    report.later.clone_from(&call.openids);
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
        let (left, right) = (half(left), half(right));
        let (a, b) =
            futures_util::future::try_join(self.run(&left, names), self.run(&right, names)).await?;
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
                report.later.clone_from(&call.openids);
            }
        }
        Ok(report)
    }
}

/// Keeps the leases alive while the push lasts.
async fn renew(store: Store, openids: Vec<OpenId>, owner: String, lease: Duration) {
    let mut every = tokio::time::interval(lease / 3);
    every.tick().await;
    loop {
        every.tick().await;
        if let Err(error) = store
            .lead_leases(&openids, &owner, lease, LeaseOp::Renew)
            .await
        {
            tracing::warn!(%error, "could not renew the sync leases");
        }
    }
}
