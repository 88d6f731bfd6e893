//! `wxtag sync`: one full, two-way reconcile of the account's tags.
//!
//! 1. Read WeChat's tags. Ids wxtag kept for tags that are gone (or renamed) are forgotten; a
//!    WeChat tag named like a wxtag tag is adopted; any other tag staff made in the console is
//!    imported as an *external* tag: shown by wxtag, never deleted.
//! 2. Note every lead's `w`, then read the members of every tag wxtag knows an id for (paged
//!    `user/tag/get`): that is what WeChat really holds. Members of external tags are imported
//!    as leads carrying the tag.
//! 3. Create every missing tag (the rules' tags and every tag in Redis; unsynced ones are tried
//!    again).
//! 4. Push every lead's projection, diffing against what WeChat really holds, unless a worker
//!    synced the lead since step 2 (its `w` changed), in which case that is fresher.
//!
//! Leads another worker is syncing are waited for once (a lease's lifetime), then reported.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::domain::{OpenId, TagId, TagName};
use crate::store::SyncLead;

use super::Worker;
use super::applied::OnWeChat;
use super::push::{Pushed, Truth};
use super::tags::{self, Ensured};
use crate::wechat::client::ClientError;

/// WeChat's reserved tag ids (未分组, 黑名单, 星标组): never imported.
const SYSTEM_TAG_IDS: [u32; 3] = [0, 1, 2];

/// Leads read from Redis per round trip.
const PAGE: usize = 1000;

/// What a reconcile did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ReconcileReport {
    /// Tags created on WeChat.
    pub tags_created: usize,
    /// WeChat tags found under a wxtag tag's name and adopted.
    pub tags_adopted: usize,
    /// Console tags imported as external tags.
    pub tags_imported: usize,
    /// Tag ids forgotten because the tag is gone from WeChat.
    pub tags_forgotten: usize,
    /// Leads that newly carry an external tag.
    pub members_imported: u64,
    /// Leads checked.
    pub leads: usize,
    /// Leads now in step with WeChat.
    pub leads_synced: usize,
    /// Leads left for the sync worker (busy elsewhere, or calls still failing).
    pub leads_left: usize,
    /// Tag calls made.
    pub calls: usize,
    /// Changes given up on (see the dead-letter list).
    pub dead_letters: usize,
    /// Tags that cannot be synced, with why.
    pub unsynced: BTreeMap<String, String>,
}

/// What WeChat really holds, read during the reconcile, and each lead's `w` before reading it.
struct Scan {
    before: HashMap<OpenId, String>,
    held: HashMap<OpenId, BTreeSet<TagId>>,
}

impl Truth for Scan {
    fn applied(&self, openid: &OpenId, lead: &SyncLead) -> OnWeChat {
        let before = self.before.get(openid).map_or("", String::as_str);
        if before != lead.applied_raw {
            // A worker synced the lead while the members were read: its record is fresher.
            return OnWeChat::of(lead);
        }
        OnWeChat {
            sure: self.held.get(openid).cloned().unwrap_or_default(),
            unsure: BTreeSet::new(),
        }
    }
}

impl Worker {
    /// Reconciles both ways (see the module docs); `rule_tags` are the tags the channel rules
    /// can add, created on WeChat even before a lead carries them.
    pub async fn reconcile(&self, rule_tags: &[TagName]) -> Result<ReconcileReport, ClientError> {
        self.ensure_group().await?;
        let mut report = ReconcileReport::default();
        let ids = self.match_tags(rule_tags, &mut report).await?;

        let leads = self.all_leads().await?;
        let mut before = HashMap::with_capacity(leads.len());
        for page in leads.chunks(PAGE) {
            let views = self.store.sync_leads(page).await?;
            before.extend(
                page.iter()
                    .cloned()
                    .zip(views.into_iter().map(|v| v.applied_raw)),
            );
        }
        let held = self.read_members(&ids, &mut report).await?;
        let scan = Scan { before, held };

        self.create_missing(rule_tags, &ids, &mut report).await?;

        let leads = self.all_leads().await?;
        report.leads = leads.len();
        let pusher = self.pusher();
        let mut pushed = Pushed::default();
        for page in leads.chunks(PAGE) {
            pushed.merge(pusher.push(page, &scan).await?);
        }
        if !pushed.busy.is_empty() {
            tokio::time::sleep(self.config.lease).await;
            let busy: Vec<OpenId> = std::mem::take(&mut pushed.busy).into_iter().collect();
            pushed.merge(pusher.push(&busy, &scan).await?);
        }
        report.leads_synced = pushed.done.len();
        report.leads_left = pushed.later.len() + pushed.busy.len();
        report.calls = pushed.calls;
        self.count_reapplied(&pushed);
        report.dead_letters = pushed.dead_letters;
        report.unsynced = self.store.tag_sync().await?.unsynced.into_iter().collect();
        self.refresh_metrics().await?;
        Ok(report)
    }

    /// Brings the name → id map in line with WeChat's tags: forgets the gone, adopts the
    /// known, imports the rest as external. Returns the map.
    async fn match_tags(
        &self,
        rule_tags: &[TagName],
        report: &mut ReconcileReport,
    ) -> Result<BTreeMap<String, TagId>, ClientError> {
        let on_wechat = tags::on_wechat(&self.client).await?;
        let by_id: HashMap<TagId, &str> =
            on_wechat.iter().map(|t| (t.id, t.name.as_str())).collect();
        let mut ids = tags::ids_of(&self.store.tag_sync().await?);
        for (name, id) in ids.clone() {
            if by_id.get(&id) != Some(&name.as_str()) {
                tracing::info!(tag = %name, id = id.0, "the tag is gone from wechat (deleted or renamed); forgetting its id");
                self.store.forget_wechat_tag_id(&name).await?;
                ids.remove(&name);
                report.tags_forgotten += 1;
            }
        }
        let known: BTreeSet<String> = self
            .store
            .registered_tags()
            .await?
            .into_iter()
            .chain(rule_tags.iter().map(ToString::to_string))
            .collect();
        let now = self.config.clock.now();
        for tag in &on_wechat {
            if SYSTEM_TAG_IDS.contains(&tag.id.0) || ids.get(&tag.name) == Some(&tag.id) {
                continue;
            }
            let Ok(name) = TagName::parse(&tag.name) else {
                tracing::warn!(name = %tag.name, id = tag.id.0, "a wechat tag's name is not one wxtag can keep; not imported");
                continue;
            };
            if known.contains(&tag.name) {
                self.store.set_wechat_tag_id(&name, tag.id).await?;
                report.tags_adopted += 1;
            } else {
                self.store
                    .import_external_tag(&name, tag.id, &[], now)
                    .await?;
                tracing::info!(tag = %name, id = tag.id.0, "imported a tag made in the wechat console");
                report.tags_imported += 1;
            }
            ids.insert(tag.name.clone(), tag.id);
        }
        Ok(ids)
    }

    /// Every lead's openid, oldest first.
    async fn all_leads(&self) -> Result<Vec<OpenId>, ClientError> {
        let mut leads = Vec::new();
        loop {
            let page = self.store.lead_ids(leads.len(), PAGE).await?;
            let done = page.len() < PAGE;
            leads.extend(page);
            if done {
                return Ok(leads);
            }
        }
    }

    /// Who carries each tag on WeChat; external tags' members are imported on the way.
    async fn read_members(
        &self,
        ids: &BTreeMap<String, TagId>,
        report: &mut ReconcileReport,
    ) -> Result<HashMap<OpenId, BTreeSet<TagId>>, ClientError> {
        let external = self.store.tag_sync().await?.external;
        let now = self.config.clock.now();
        let mut held: HashMap<OpenId, BTreeSet<TagId>> = HashMap::new();
        for (name, &id) in ids {
            let import = external
                .contains(name)
                .then(|| TagName::parse(name).ok())
                .flatten();
            let mut next: Option<OpenId> = None;
            loop {
                let after = next.as_ref();
                let page = self
                    .client
                    .call("user/tag/get", |api, token| async move {
                        api.tag_members(&token, id, after).await
                    })
                    .await?;
                for openid in &page.openids {
                    held.entry(openid.clone()).or_default().insert(id);
                }
                if let Some(name) = &import {
                    for chunk in page.openids.chunks(PAGE) {
                        report.members_imported +=
                            self.store.import_external_tag(name, id, chunk, now).await?;
                    }
                }
                match page.next_openid {
                    Some(last) => next = Some(last),
                    None => break,
                }
            }
        }
        Ok(held)
    }

    /// Creates on WeChat every rule tag and every tag in Redis that has no id yet.
    async fn create_missing(
        &self,
        rule_tags: &[TagName],
        ids: &BTreeMap<String, TagId>,
        report: &mut ReconcileReport,
    ) -> Result<(), ClientError> {
        let registered = self.store.registered_tags().await?;
        let missing: BTreeSet<TagName> = registered
            .iter()
            .filter_map(|name| TagName::parse(name).ok())
            .chain(rule_tags.iter().cloned())
            .filter(|name| !ids.contains_key(name.as_str()))
            .collect();
        let retried: Vec<String> = missing.iter().map(ToString::to_string).collect();
        self.store.clear_unsynced(&retried).await?;
        for (_, ensured) in tags::ensure(&self.store, &self.client, missing).await? {
            if matches!(ensured, Ensured::Id(_)) {
                report.tags_created += 1;
            }
        }
        Ok(())
    }
}
