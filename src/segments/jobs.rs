//! Bulk tagging from a segment (通过筛选条件建立标签): a dry run that says what it will cost,
//! then a job that tags every member of one snapshot.
//!
//! A job snapshots its members when it starts, so leads that join the segment later are not
//! tagged and every member is worked on once. It is worked through [`STEP`] members at a
//! time by whichever `serve` holds its lease (the scheduler calls [`work`]); its progress is
//! recorded after each step, so after a crash or restart another pass goes on from there.
//! A step done twice (the process died before recording it) changes nothing the second time:
//! adding a tag a lead has, or removing one it lacks, is no change. Every change is a sales
//! edit with source `segment:<name>` (timeline, index, outbox): the sync worker takes it to
//! WeChat in its batches, one call per tag per 50 leads.
//!
//! Where the contract leaves room: `leads` in a dry run is the segment's members; a lead
//! that left wxtag since the snapshot is skipped; `over_20` counts leads that would hold more
//! than WeChat's 20 tags; a cancelled job keeps what it did.

use std::collections::{BTreeMap, BTreeSet};

use futures_util::future::try_join_all;
use serde::Serialize;

use super::{SegmentError, current_snapshot};
use crate::domain::{SegmentName, TagName, UnixTime};
use crate::rules::Rules;
use crate::store::{JobProgress, JobRecord, Store, StoreError};
use crate::wechat::limits::{OPENIDS_PER_TAGGING_CALL, TAGS_PER_USER};

/// Members tagged per step.
pub const STEP: usize = 500;

/// How long a process's hold on a job lasts unless renewed (each step renews it).
pub const LEASE_SECS: u64 = 30;

/// How long a running job's snapshot is kept (renewed by each step).
pub const SNAPSHOT_SECS: u64 = 7 * 86_400;

/// The tags a bulk action adds and removes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BulkTags {
    /// Added to every member.
    pub add: Vec<TagName>,
    /// Removed from every member.
    pub remove: Vec<TagName>,
}

/// What a bulk action would do now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct DryRun {
    /// The segment's members.
    pub leads: u64,
    /// Tag changes, summed over the members.
    pub changes: u64,
    /// The `batchtagging` and `batchuntagging` calls the changes need (followers only: WeChat
    /// holds no tags for the others); creating a tag is not counted.
    pub wechat_calls: u64,
    /// Members that would hold more than 20 tags, so that WeChat gets only 20 of them.
    pub over_20: u64,
}

/// What tagging the segment's members (a fresh or recent count) with `tags` would do.
pub async fn dry_run(
    store: &Store,
    rules: &Rules,
    segment: &SegmentName,
    tags: &BulkTags,
    now: UnixTime,
) -> Result<DryRun, SegmentError> {
    let (snapshot, _) = current_snapshot(store, rules, segment, now).await?;
    let mut out = DryRun {
        leads: 0,
        changes: 0,
        wechat_calls: 0,
        over_20: 0,
    };
    // Followers per tag changed, for the calls.
    let mut per_tag: BTreeMap<(bool, &TagName), u64> = BTreeMap::new();
    let mut offset = 0;
    while let Some(ids) = super::snapshot_members(store, &snapshot, offset, STEP).await? {
        if ids.is_empty() {
            break;
        }
        offset += ids.len() as u64;
        for lead in store.lead_summaries(&ids).await? {
            out.leads += 1;
            let held: BTreeSet<&str> = lead.tags.iter().map(|t| t.name.as_str()).collect();
            let added: Vec<&TagName> = tags
                .add
                .iter()
                .filter(|t| !held.contains(t.as_str()))
                .collect();
            let removed: Vec<&TagName> = tags
                .remove
                .iter()
                .filter(|t| held.contains(t.as_str()))
                .collect();
            out.changes += (added.len() + removed.len()) as u64;
            if held.len() + added.len() - removed.len() > TAGS_PER_USER {
                out.over_20 += 1;
            }
            if lead.subscribed == Some(true) {
                for tag in added {
                    *per_tag.entry((true, tag)).or_default() += 1;
                }
                for tag in removed {
                    *per_tag.entry((false, tag)).or_default() += 1;
                }
            }
        }
    }
    out.wechat_calls = per_tag
        .values()
        .map(|n| n.div_ceil(OPENIDS_PER_TAGGING_CALL as u64))
        .sum();
    Ok(out)
}

/// Starts a job tagging the segment's members (a fresh or recent count); returns its id.
pub async fn start(
    store: &Store,
    rules: &Rules,
    segment: &SegmentName,
    tags: &BulkTags,
    by: &str,
    now: UnixTime,
) -> Result<String, SegmentError> {
    let (snapshot, _) = current_snapshot(store, rules, segment, now).await?;
    store.keep_snapshot(&snapshot, SNAPSHOT_SECS).await?;
    let total = store.snapshot_len(&snapshot).await?;
    let id = format!("{:016x}", rand::random::<u64>());
    let record = JobRecord {
        segment: segment.to_string(),
        add: tags.add.iter().map(TagName::to_string).collect(),
        remove: tags.remove.iter().map(TagName::to_string).collect(),
        by: by.to_owned(),
        snapshot,
        total,
        created: now.0,
        watched: rules.watch().edited_mask(&tags.add, &tags.remove),
    };
    store.create_job(&id, &record).await?;
    Ok(id)
}

/// A job as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JobStatus {
    /// `running`, `done`, `cancelled` or `failed`.
    pub state: String,
    /// Members worked through.
    pub done: u64,
    /// Members in all.
    pub total: u64,
    /// The segment.
    pub segment: String,
    /// Tags added.
    pub add: Vec<String>,
    /// Tags removed.
    pub remove: Vec<String>,
    /// Who started it.
    pub by: String,
    /// Why it failed, if it did.
    pub error: Option<String>,
}

/// A job's status; `None` when there is no such job.
pub async fn status(store: &Store, id: &str) -> Result<Option<JobStatus>, StoreError> {
    Ok(store.job(id).await?.map(|job| JobStatus {
        done: job.done.min(job.record.total),
        total: job.record.total,
        state: job.state,
        segment: job.record.segment,
        add: job.record.add,
        remove: job.record.remove,
        by: job.record.by,
        error: job.error,
    }))
}

/// Cancels a running job (what it did stays); false when it was not running.
pub async fn cancel(store: &Store, id: &str) -> Result<bool, StoreError> {
    store.end_job(id, "cancelled", "").await
}

/// What one call of [`work`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Worked {
    /// Steps done.
    pub steps: usize,
    /// True when it stopped at its budget with work left.
    pub more: bool,
}

/// Works on the running jobs this process can hold (`owner` names it), up to `budget`
/// steps in all.
pub async fn work(
    store: &Store,
    owner: &str,
    budget: usize,
    now: UnixTime,
) -> Result<Worked, StoreError> {
    let mut worked = Worked::default();
    for id in store.job_ids().await? {
        if worked.steps >= budget {
            worked.more = true;
            break;
        }
        let one = work_job(store, &id, owner, budget - worked.steps, now).await?;
        worked.steps += one.steps;
        worked.more = one.more;
    }
    Ok(worked)
}

/// Works on one job, if it is running and this process (`owner`) can hold it, up to
/// `budget` steps (`wxtag segment tag` works its own job this way).
pub async fn work_job(
    store: &Store,
    id: &str,
    owner: &str,
    budget: usize,
    now: UnixTime,
) -> Result<Worked, StoreError> {
    let mut worked = Worked::default();
    let running = store.job(id).await?.is_some_and(|j| j.state == "running");
    if !running || !store.lease_job(id, owner, LEASE_SECS).await? {
        return Ok(worked);
    }
    while worked.steps < budget {
        let Some(job) = store.job(id).await? else {
            break;
        };
        if job.state != "running" || !step(store, id, &job, now).await? {
            break;
        }
        worked.steps += 1;
        store.lease_job(id, owner, LEASE_SECS).await?;
        worked.more = worked.steps >= budget;
    }
    Ok(worked)
}

/// One step of a job: the next members tagged and recorded. False when the job has ended
/// (every member done, or its snapshot lost).
async fn step(
    store: &Store,
    id: &str,
    job: &JobProgress,
    now: UnixTime,
) -> Result<bool, StoreError> {
    let record = &job.record;
    if job.done >= record.total {
        store.end_job(id, "done", "").await?;
        store.drop_snapshot(&record.snapshot).await?;
        return Ok(false);
    }
    let Some(ids) = super::snapshot_members(store, &record.snapshot, job.done, STEP).await? else {
        store
            .end_job(
                id,
                "failed",
                "its snapshot of members expired; start the job again",
            )
            .await?;
        return Ok(false);
    };
    if ids.is_empty() {
        store.end_job(id, "done", "").await?;
        return Ok(false);
    }
    let parse = |names: &[String]| -> Vec<TagName> {
        names
            .iter()
            .filter_map(|n| TagName::parse(n).ok())
            .collect()
    };
    let (add, remove) = (parse(&record.add), parse(&record.remove));
    let source = format!("segment:{}", record.segment);
    try_join_all(
        ids.iter()
            .map(|openid| store.edit_tags(openid, &add, &remove, &source, &record.watched, now)),
    )
    .await?;
    store.keep_snapshot(&record.snapshot, SNAPSHOT_SECS).await?;
    store.advance_job(id, ids.len() as u64).await?;
    Ok(true)
}
