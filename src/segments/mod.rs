//! Segments: a named condition over the leads (展会 PLC 意向, …), saved in Redis, counted
//! without blocking anyone, previewed before it is saved, and paged or exported from a
//! snapshot of its members.
//!
//! How members are found is in [`walk`]: tag and channel conditions narrow the leads to look
//! at through the sets Redis already keeps; the one condition evaluator decides each of
//! them. Counting a segment writes its members to a snapshot (a Redis list that expires after
//! an hour): paging, export and bulk jobs read the snapshot, so every member comes exactly
//! once, however many leads arrive meanwhile. A saved segment keeps its last count (members,
//! when, which snapshot, and a [`profile`] of who the members are) and one count per day for
//! 30 days.
//!
//! Where the contract leaves room: a segment's JSON is `{"when": <condition>}`; the count is
//! of leads wxtag knows (the leads index); a name is 1 to 64 characters without `/`; tags,
//! tag prefixes and channels the account has never seen are warnings, not errors (a segment
//! may be made before its first lead arrives); the first page of members reuses the last
//! count while it is at most [`FRESH_SECS`] old, later pages always read its snapshot.

pub mod jobs;
pub mod profile;
pub mod walk;

use futures_util::{Stream, stream};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::domain::{OpenId, SegmentName, TagName, UnixTime};
use crate::rules::Rules;
use crate::rules::condition::{Condition, ConditionError};
use crate::store::{
    Lead, LeadSet, SNAPSHOT_TTL_SECS, SegmentCount, SegmentProfile, Store, StoreError,
};

pub use walk::{Found, MAX_CANDIDATES, PICKED, SAMPLE};

/// How old a saved segment's last count may be for its first page of members to reuse it.
pub const FRESH_SECS: i64 = 300;

/// A saved segment as Redis keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Definition {
    /// The condition as it was given (JSON).
    pub when: serde_json::Value,
    /// Who saved it (a credential name).
    pub by: String,
    /// When it was first saved (unix seconds).
    pub created: i64,
    /// When it was last saved (unix seconds).
    pub updated: i64,
}

impl Definition {
    /// The digest of the condition: counts are kept for the condition they counted.
    fn digest(&self) -> String {
        hex::encode(&Sha256::digest(self.when.to_string().as_bytes())[..16])
    }
}

/// Why a segment request failed.
#[derive(Debug, thiserror::Error)]
pub enum SegmentError {
    /// The condition does not parse; the path inside it is in the error.
    #[error("when.{0}")]
    Condition(ConditionError),
    /// No saved segment has that name.
    #[error("no segment named {0:?}; GET /api/segments lists them")]
    NotFound(String),
    /// A cursor that no page gave, or whose snapshot has expired (during an export too).
    #[error("{0}")]
    Cursor(String),
    /// A saved definition that no longer reads (edited in Redis by hand).
    #[error("the saved segment {name:?} does not read: {why}; save it again")]
    Corrupt {
        /// The segment.
        name: String,
        /// What is wrong with it.
        why: String,
    },
    /// Redis failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Parses a condition given as JSON, with the path of a mistake inside it.
pub fn parse(when: &serde_json::Value) -> Result<Condition, SegmentError> {
    Condition::from_json(when).map_err(SegmentError::Condition)
}

/// What the account has never seen among what a condition names: tags, tag prefixes with no
/// tag under them, channels no rule names and no lead came through. Each is a warning.
pub async fn warnings(
    store: &Store,
    rules: &Rules,
    condition: &Condition,
) -> Result<Vec<String>, StoreError> {
    let reads = condition.reads();
    let registry = store.registered_tags().await?;
    let known = |tag: &TagName| {
        registry.iter().any(|t| t == tag.as_str()) || rules.tag_names().any(|t| t == tag)
    };
    let mut out = Vec::new();
    for tag in reads.tags.iter().filter(|t| !known(t)) {
        out.push(format!("no lead has ever had the tag {:?}", tag.as_str()));
    }
    for prefix in &reads.tag_prefixes {
        if !registry.iter().any(|t| t.starts_with(prefix.as_str())) {
            out.push(format!(
                "no lead has ever had a tag starting with {prefix:?}"
            ));
        }
    }
    let channels: Vec<LeadSet> = reads
        .channels
        .iter()
        .cloned()
        .map(LeadSet::Channel)
        .collect();
    let sizes = store.set_sizes(&channels).await?;
    for (scene, size) in reads.channels.iter().zip(sizes) {
        if size == 0 && rules.channel(scene).is_none() {
            out.push(format!(
                "no [[qr]] names the channel {:?} and no lead came through it",
                scene.as_str()
            ));
        }
    }
    Ok(out)
}

/// Counts a condition's members at `now` without keeping them.
pub async fn preview(
    store: &Store,
    rules: &Rules,
    condition: &Condition,
    now: UnixTime,
) -> Result<Found, StoreError> {
    walk::walk(store, rules, condition, now, |_| async { Ok(()) }).await
}

/// A preview as `POST /api/segments/preview` answers it (and `wxtag segment preview --json`
/// prints it).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Preview {
    /// How many leads the condition holds for (a lower bound when not `complete`).
    pub count: u64,
    /// The first members found, up to [`SAMPLE`].
    pub sample: Vec<OpenId>,
    /// How long the count took.
    pub took_ms: u64,
    /// False when the walk stopped at [`MAX_CANDIDATES`].
    pub complete: bool,
    /// What the condition names that the account has never seen (see [`warnings`]).
    pub warnings: Vec<String>,
}

/// Counts a condition's members at `now` without keeping them, with its warnings.
pub async fn preview_with_warnings(
    store: &Store,
    rules: &Rules,
    condition: &Condition,
    now: UnixTime,
) -> Result<Preview, StoreError> {
    let found = preview(store, rules, condition, now).await?;
    Ok(Preview {
        count: found.count,
        took_ms: found.took_ms(),
        complete: found.complete,
        sample: found.sample,
        warnings: warnings(store, rules, condition).await?,
    })
}

/// Counts a condition's members at `now` into a new snapshot; returns what was found and
/// the snapshot's id.
pub async fn snapshot(
    store: &Store,
    rules: &Rules,
    condition: &Condition,
    now: UnixTime,
) -> Result<(Found, String), StoreError> {
    let id = new_id();
    let found = walk::walk(store, rules, condition, now, |members| {
        let id = id.clone();
        async move { store.append_snapshot(&id, &members).await }
    })
    .await?;
    Ok((found, id))
}

/// A saved segment with its latest count.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Listed {
    /// Its name.
    pub name: SegmentName,
    /// Its condition, as saved.
    pub when: serde_json::Value,
    /// Its members at the last count; `None` until it is counted.
    pub members: Option<u64>,
    /// When that was (RFC 3339, China time).
    pub counted_at: Option<String>,
    /// Who saved it, and when it was last saved (RFC 3339).
    pub by: String,
    /// When it was last saved (RFC 3339).
    pub updated: String,
    /// Members per day (the day's last count), oldest first, the last 30 days.
    pub days: Vec<Day>,
    /// Who the members were at the last count (see [`profile`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<SegmentProfile>,
}

/// One day's member count.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Day {
    /// `yyyy-mm-dd`, China time.
    pub date: String,
    /// Members at the day's last count.
    pub members: u64,
}

/// Saves a segment (replacing one of that name), counts it at once and returns it.
pub async fn save(
    store: &Store,
    rules: &Rules,
    name: &SegmentName,
    when: serde_json::Value,
    by: &str,
    now: UnixTime,
) -> Result<(Listed, Found), SegmentError> {
    let condition = parse(&when)?;
    let created = match store.segment(name).await? {
        Some(raw) => read(name, &raw)?.created,
        None => now.0,
    };
    let definition = Definition {
        when,
        by: by.to_owned(),
        created,
        updated: now.0,
    };
    let json = serde_json::to_string(&definition).map_err(|e| SegmentError::Corrupt {
        name: name.to_string(),
        why: e.to_string(),
    })?;
    store.put_segment(name, &json).await?;
    let found = count(store, rules, name, &definition, &condition, now).await?;
    let listed = listed(store, name, definition, Some(found.1)).await?;
    Ok((listed, found.0))
}

/// Counts a saved segment into a snapshot and records the count (as the latest and as
/// today's). The count also keeps the segment's member set, and the leads in it now that
/// were not at the last count of the same condition are recorded as entries (a first count,
/// or the first of a changed condition, sets the baseline and records none). A count while
/// another of the same segment is under way keeps no member set; with `only_tracked` it is
/// not made at all (`None`).
async fn count_tracking(
    store: &Store,
    rules: &Rules,
    name: &SegmentName,
    definition: &Definition,
    condition: &Condition,
    now: UnixTime,
    only_tracked: bool,
) -> Result<Option<(Found, SegmentCount)>, SegmentError> {
    let digest = definition.digest();
    let tracked = store.lease_segment(name, COUNT_LEASE_SECS).await?;
    if !tracked && only_tracked {
        return Ok(None);
    }
    let baseline = store
        .segment_counts(&[name])
        .await?
        .pop()
        .flatten()
        .is_some_and(|last| last.digest == digest);
    let result = if tracked {
        store.clear_next_members(name).await?;
        let id = new_id();
        let found = walk::walk(store, rules, condition, now, |members| {
            let id = id.clone();
            async move {
                store.append_snapshot(&id, &members).await?;
                let held = store.add_next_members(name, &members).await?;
                if baseline {
                    let entered: Vec<OpenId> = members
                        .into_iter()
                        .zip(held)
                        .filter_map(|(openid, held)| (!held).then_some(openid))
                        .collect();
                    store.record_entries(name, &entered, now.0).await?;
                }
                Ok(())
            }
        })
        .await;
        let swapped = match found {
            Ok(found) => store.swap_members(name).await.map(|()| (found, id)),
            Err(error) => Err(error),
        };
        store.release_segment(name).await?;
        swapped?
    } else {
        snapshot(store, rules, condition, now).await?
    };
    let (found, snapshot) = result;
    let count = SegmentCount {
        members: found.count,
        at: now.0,
        snapshot,
        digest,
        profile: Some(profile::profile(store, rules, &found).await?),
    };
    store.record_segment_count(name, &count, &date(now)).await?;
    Ok(Some((found, count)))
}

/// Counts a saved segment (see [`count_tracking`]), tracked or not.
async fn count(
    store: &Store,
    rules: &Rules,
    name: &SegmentName,
    definition: &Definition,
    condition: &Condition,
    now: UnixTime,
) -> Result<(Found, SegmentCount), SegmentError> {
    count_tracking(store, rules, name, definition, condition, now, false)
        .await?
        .ok_or_else(|| SegmentError::NotFound(name.to_string()))
}

/// How often the scheduler recounts each saved segment: counts in `GET /api/segments` are at
/// most this old (plus one count's time), and a lead that entered a segment is noticed
/// within it.
pub const REFRESH_SECS: i64 = 300;

/// Recounts the saved segment whose count is the oldest, if it is older than
/// [`REFRESH_SECS`] (or of an older condition) and no other process is counting it; its
/// name when one was counted. A definition that no longer reads is logged and left alone.
pub async fn refresh_one(
    store: &Store,
    rules: &Rules,
    now: UnixTime,
) -> Result<Option<SegmentName>, StoreError> {
    let saved = store.segments().await?;
    let names: Vec<&SegmentName> = saved.keys().collect();
    let counts = store.segment_counts(&names).await?;
    let mut stale: Vec<(i64, &SegmentName, Definition)> = Vec::new();
    for ((name, raw), count) in saved.iter().zip(counts) {
        let Ok(definition) = read(name, raw) else {
            continue;
        };
        let at = count
            .filter(|c| c.digest == definition.digest())
            .map_or(i64::MIN, |c| c.at);
        if at <= now.0 - REFRESH_SECS {
            stale.push((at, name, definition));
        }
    }
    stale.sort_by_key(|(at, ..)| *at);
    for (_, name, definition) in stale {
        let condition = match Condition::from_json(&definition.when) {
            Ok(condition) => condition,
            Err(error) => {
                tracing::warn!(segment = %name, %error, "a saved segment does not read; save it again");
                continue;
            }
        };
        match count_tracking(store, rules, name, &definition, &condition, now, true).await {
            Ok(Some(_)) => return Ok(Some(name.clone())),
            Ok(None) => continue,
            Err(SegmentError::Store(error)) => return Err(error),
            Err(error) => {
                tracing::warn!(segment = %name, %error, "a saved segment could not be counted");
            }
        }
    }
    Ok(None)
}

/// How long one count of a saved segment may hold its lease: a count of ten million leads
/// takes well under this.
const COUNT_LEASE_SECS: u64 = 600;

/// A new random id, for snapshots.
fn new_id() -> String {
    format!("{:016x}", rand::random::<u64>())
}

/// A saved segment's definition and condition.
pub async fn load(
    store: &Store,
    name: &SegmentName,
) -> Result<(Definition, Condition), SegmentError> {
    let raw = store
        .segment(name)
        .await?
        .ok_or_else(|| SegmentError::NotFound(name.to_string()))?;
    let definition = read(name, &raw)?;
    let condition = Condition::from_json(&definition.when).map_err(|e| SegmentError::Corrupt {
        name: name.to_string(),
        why: e.to_string(),
    })?;
    Ok((definition, condition))
}

fn read(name: &SegmentName, raw: &str) -> Result<Definition, SegmentError> {
    serde_json::from_str(raw).map_err(|e| SegmentError::Corrupt {
        name: name.to_string(),
        why: e.to_string(),
    })
}

/// Every saved segment with its latest count and days, by name.
pub async fn list(store: &Store) -> Result<Vec<Listed>, SegmentError> {
    let saved = store.segments().await?;
    let names: Vec<&SegmentName> = saved.keys().collect();
    let counts = store.segment_counts(&names).await?;
    let mut out = Vec::with_capacity(saved.len());
    for ((name, raw), count) in saved.iter().zip(counts) {
        let definition = read(name, raw)?;
        out.push(listed(store, name, definition, count).await?);
    }
    Ok(out)
}

/// One saved segment with its latest count and days.
pub async fn find(store: &Store, name: &SegmentName) -> Result<Listed, SegmentError> {
    let raw = store
        .segment(name)
        .await?
        .ok_or_else(|| SegmentError::NotFound(name.to_string()))?;
    let definition = read(name, &raw)?;
    let count = store.segment_counts(&[name]).await?.pop().flatten();
    Ok(listed(store, name, definition, count).await?)
}

/// A saved segment as listed: its count only when it counted this definition.
async fn listed(
    store: &Store,
    name: &SegmentName,
    definition: Definition,
    count: Option<SegmentCount>,
) -> Result<Listed, StoreError> {
    let count = count.filter(|c| c.digest == definition.digest());
    let days = store
        .segment_days(name)
        .await?
        .into_iter()
        .map(|(date, members)| Day { date, members })
        .collect();
    Ok(Listed {
        name: name.clone(),
        when: definition.when,
        members: count.as_ref().map(|c| c.members),
        counted_at: count
            .as_ref()
            .map(|c| crate::store::rfc3339(UnixTime(c.at))),
        by: definition.by,
        updated: crate::store::rfc3339(UnixTime(definition.updated)),
        days,
        profile: count.and_then(|c| c.profile),
    })
}

/// Deletes a saved segment; false when there was none.
pub async fn delete(store: &Store, name: &SegmentName) -> Result<bool, StoreError> {
    store.delete_segment(name).await
}

/// A page of a segment's members, and the cursor of the next one.
#[derive(Debug, Serialize)]
pub struct MemberPage {
    /// The members, as `/api/leads` shows leads (without timelines).
    pub leads: Vec<Lead>,
    /// Pass as `cursor` for the next page; `None` on the last page.
    pub next_cursor: Option<String>,
    /// How many members the snapshot holds.
    pub total: u64,
    /// When the snapshot was counted (RFC 3339).
    pub counted_at: String,
}

/// Where a page starts: a snapshot, when it was counted, and a position in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    snapshot: String,
    at: i64,
    offset: u64,
}

impl Cursor {
    /// Reads a cursor a page gave.
    pub fn parse(raw: &str) -> Result<Self, SegmentError> {
        let bad = || {
            SegmentError::Cursor(format!(
                "{raw:?} is not a cursor a page gave; pass next_cursor of the page before, or \
                 none for the first page"
            ))
        };
        let mut parts = raw.split('.');
        let (Some(snapshot), Some(at), Some(offset), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(bad());
        };
        if snapshot.len() != 16 || !snapshot.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad());
        }
        Ok(Self {
            snapshot: snapshot.to_owned(),
            at: at.parse().map_err(|_| bad())?,
            offset: offset.parse().map_err(|_| bad())?,
        })
    }

    fn text(&self) -> String {
        format!("{}.{}.{}", self.snapshot, self.at, self.offset)
    }
}

/// The snapshot a first page (or export) of a saved segment reads: the last count's while
/// it is fresh and still kept, else a new count. Returns its id and when it was counted.
pub async fn current_snapshot(
    store: &Store,
    rules: &Rules,
    name: &SegmentName,
    now: UnixTime,
) -> Result<(String, i64), SegmentError> {
    let (definition, condition) = load(store, name).await?;
    let last = store
        .segment_counts(&[name])
        .await?
        .pop()
        .flatten()
        .filter(|c| c.digest == definition.digest() && now.0 - c.at <= FRESH_SECS);
    if let Some(last) = last
        && store
            .keep_snapshot(&last.snapshot, SNAPSHOT_TTL_SECS)
            .await?
    {
        return Ok((last.snapshot, last.at));
    }
    let (_, count) = count(store, rules, name, &definition, &condition, now).await?;
    Ok((count.snapshot, count.at))
}

/// A page of up to `limit` members of a saved segment from `cursor` (a fresh or recent
/// snapshot for `None`).
pub async fn members(
    store: &Store,
    rules: &Rules,
    name: &SegmentName,
    cursor: Option<Cursor>,
    limit: usize,
    now: UnixTime,
) -> Result<MemberPage, SegmentError> {
    let cursor = match cursor {
        Some(cursor) => cursor,
        None => {
            let (snapshot, at) = current_snapshot(store, rules, name, now).await?;
            Cursor {
                snapshot,
                at,
                offset: 0,
            }
        }
    };
    let expired = || {
        SegmentError::Cursor(format!(
            "the members counted at {} are no longer kept (a count is kept for {} minutes); \
             start again from the first page",
            crate::store::rfc3339(UnixTime(cursor.at)),
            SNAPSHOT_TTL_SECS / 60
        ))
    };
    let (ids, total) = match store
        .snapshot_page(&cursor.snapshot, cursor.offset, limit)
        .await?
    {
        Some(page) => page,
        // An empty segment's snapshot is no list at all: a first page of nothing.
        None if cursor.offset == 0 => (Vec::new(), 0),
        None => return Err(expired()),
    };
    let next = cursor.offset + ids.len() as u64;
    let leads = store.lead_summaries(&ids).await?;
    Ok(MemberPage {
        leads,
        next_cursor: (next < total).then(|| {
            Cursor {
                offset: next,
                ..cursor.clone()
            }
            .text()
        }),
        total,
        counted_at: crate::store::rfc3339(UnixTime(cursor.at)),
    })
}

/// The openids of a snapshot from `offset`, up to `n` (for export and bulk jobs); `None`
/// once it has expired.
pub async fn snapshot_members(
    store: &Store,
    snapshot: &str,
    offset: u64,
    n: usize,
) -> Result<Option<Vec<OpenId>>, StoreError> {
    Ok(store
        .snapshot_page(snapshot, offset, n)
        .await?
        .map(|(ids, _)| ids))
}

/// Members read from a snapshot per round trip of an export.
const EXPORT_PAGE: usize = 200;

/// A snapshot's members as leads (without timelines), page by page, for an export. A snapshot
/// that expires half-way ends the pages with an error, so the file is cut off, not completed
/// short.
pub fn snapshot_leads(
    store: Store,
    snapshot: String,
) -> impl Stream<Item = Result<Vec<Lead>, SegmentError>> + 'static {
    // The state is the offset of the next page; `None` once the snapshot is read.
    stream::try_unfold(Some(0u64), move |offset| {
        let (store, snapshot) = (store.clone(), snapshot.clone());
        async move {
            let Some(offset) = offset else {
                return Ok(None);
            };
            let ids = match snapshot_members(&store, &snapshot, offset, EXPORT_PAGE).await? {
                Some(ids) => ids,
                // An empty segment's snapshot is no list at all.
                None if offset == 0 => Vec::new(),
                None => {
                    return Err(SegmentError::Cursor(format!(
                        "the snapshot {snapshot} expired during the export (a count is kept for \
                         {} minutes); export again",
                        SNAPSHOT_TTL_SECS / 60
                    )));
                }
            };
            let next = (ids.len() == EXPORT_PAGE).then_some(offset + EXPORT_PAGE as u64);
            let leads = store.lead_summaries(&ids).await?;
            Ok(Some((leads, next)))
        }
    })
}

/// `yyyy-mm-dd` of `at` in China time.
fn date(at: UnixTime) -> String {
    chrono::DateTime::from_timestamp(at.0, 0)
        .unwrap_or_default()
        .with_timezone(&crate::store::china_time())
        .format("%Y-%m-%d")
        .to_string()
}
