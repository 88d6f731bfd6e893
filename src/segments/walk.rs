//! Finding a segment's members: where to look (the smallest union of tag and channel sets
//! that holds every member, or the whole leads index), then a walk over those candidates in
//! chunks, each decided by the one evaluator.
//!
//! A chunk is [`CHUNK`] candidates: one `LRANGE` or `SSCAN` step to find them, then one round
//! trip for what deciding them needs (`SMISMEMBER` per set the condition names, and the lead
//! hash or touch history only when the condition reads them). No command touches more than a
//! chunk, so none holds Redis up for more than about a millisecond, and a few chunks are in
//! flight at once so Redis and wxtag work side by side.
//!
//! Candidates found in several sets (or twice by one `SSCAN`, which may repeat members while
//! a set grows) are decided once: the walk remembers a 64-bit hash of each candidate it has
//! seen (odds of two of a million openids sharing one: about 1 in 36 million).

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::time::{Duration, Instant};

use futures_util::{TryStreamExt, stream};

use crate::domain::{OpenId, TagName, UnixTime};
use crate::rules::Rules;
use crate::rules::condition::{Bound, Condition, Reads};
use crate::store::{LeadSet, ProfileField, StateRead, Store, StoreError, seen_since};

/// Candidates decided per step.
pub const CHUNK: usize = 500;

/// Chunks in flight at once.
const IN_FLIGHT: usize = 4;

/// Up to this many sets a candidate's memberships are tested by `SMISMEMBER` (about 0.3 µs
/// of Redis a lead and set); past it, or whenever the lead hash is read anyway, its tags and
/// channels are read from the lead hash (one more field each, about 0.1 µs).
const MEMBERSHIPS: usize = 4;

/// The most candidates one evaluation looks at: past it the count is a lower bound
/// ([`Found::complete`] is false). At about half a million a second, some 20 seconds.
pub const MAX_CANDIDATES: u64 = 10_000_000;

/// How many members a preview shows.
pub const SAMPLE: usize = 20;

/// How many members a walk picks at random (every member equally likely), for a profile of
/// the segment that costs the same however big it is.
pub const PICKED: usize = 1_000;

/// What an evaluation found.
#[derive(Debug, Clone, PartialEq)]
pub struct Found {
    /// How many leads the condition holds for.
    pub count: u64,
    /// The first members found, up to [`SAMPLE`].
    pub sample: Vec<OpenId>,
    /// Up to [`PICKED`] members drawn uniformly at random from all of them.
    pub picked: Vec<OpenId>,
    /// How many leads were looked at.
    pub examined: u64,
    /// False when the walk stopped at [`MAX_CANDIDATES`]: `count` is then a lower bound.
    pub complete: bool,
    /// How long it took.
    pub took: Duration,
}

impl Found {
    /// How long it took, in whole milliseconds.
    pub fn took_ms(&self) -> u64 {
        u64::try_from(self.took.as_millis()).unwrap_or(u64::MAX)
    }
}

/// Where the candidates come from.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Cover {
    /// Every lead, from the leads index.
    Every,
    /// The members of any of these sets.
    Sets(Vec<LeadSet>),
}

/// A condition made ready to walk: its candidates, and what deciding a lead reads.
struct Plan<'a> {
    condition: &'a Condition,
    cover: Cover,
    /// The sets whose membership the condition reads, tested with `SMISMEMBER`; empty when
    /// the tags and channels are read from the lead hash instead (see [`MEMBERSHIPS`]).
    sets: Vec<LeadSet>,
    read: StateRead,
    /// The leads index's length when the walk started: leads added later are not looked at.
    leads: u64,
}

/// Finds the leads `condition` holds for at `now`, in walk order, calling `found` with each
/// chunk of members (to keep them, e.g. in a snapshot) as they are decided.
pub async fn walk<F, Fut>(
    store: &Store,
    rules: &Rules,
    condition: &Condition,
    now: UnixTime,
    mut found: F,
) -> Result<Found, StoreError>
where
    F: FnMut(Vec<OpenId>) -> Fut,
    Fut: std::future::Future<Output = Result<(), StoreError>>,
{
    let started = Instant::now();
    let plan = plan(store, rules, condition, now).await?;
    let mut out = Found {
        count: 0,
        sample: Vec::new(),
        picked: Vec::new(),
        examined: 0,
        complete: true,
        took: Duration::ZERO,
    };
    let candidates = candidates(store, &plan);
    let decided = candidates
        .map_ok(|chunk| decide(store, rules, &plan, chunk, now))
        .try_buffered(IN_FLIGHT);
    let mut decided = std::pin::pin!(decided);
    while let Some((examined, members)) = decided.try_next().await? {
        out.examined += examined;
        let room = SAMPLE - out.sample.len();
        out.sample.extend(members.iter().take(room).cloned());
        for member in &members {
            pick(&mut out.picked, out.count, member);
            out.count += 1;
        }
        if !members.is_empty() {
            found(members).await?;
        }
        if out.examined >= MAX_CANDIDATES {
            out.complete = false;
            break;
        }
    }
    out.took = started.elapsed();
    Ok(out)
}

/// Keeps `member`, the `seen`th member (from 0), in the reservoir `picked` with the odds
/// that leave every member so far equally likely to be in it (Algorithm R).
fn pick(picked: &mut Vec<OpenId>, seen: u64, member: &OpenId) {
    if picked.len() < PICKED {
        picked.push(member.clone());
        return;
    }
    let slot = rand::random_range(0..=seen);
    if let Some(kept) = usize::try_from(slot).ok().and_then(|s| picked.get_mut(s)) {
        *kept = member.clone();
    }
}

/// What the leaves of a bound mean in sets: the registered tags (for prefixes) and, once the
/// seen-on-day sets are complete, the moment they are read at.
struct Resolver {
    registry: Vec<TagName>,
    seen_at: Option<UnixTime>,
}

impl Resolver {
    /// The sets whose union holds every lead a leaf bound admits; `None` for a bound no
    /// set narrows (or a combinator).
    fn sets_of(&self, bound: &Bound) -> Option<Vec<LeadSet>> {
        match bound {
            Bound::Tag(tag) => Some(vec![LeadSet::Tag(tag.clone())]),
            Bound::Channel(scene) => Some(vec![LeadSet::Channel(scene.clone())]),
            Bound::TagPrefix(prefix) => Some(under_prefix(&self.registry, prefix).collect()),
            Bound::LastSeen(days) => {
                let now = self.seen_at?;
                seen_since(UnixTime(now.0 - i64::from(*days) * DAY), now)
            }
            Bound::Every | Bound::All(_) | Bound::Any(_) => None,
        }
    }
}

/// Seconds in a day.
const DAY: i64 = 86_400;

/// True when a bound names a date leaf (so the seen-on-day sets are worth asking about).
fn names_dates(bound: &Bound) -> bool {
    match bound {
        Bound::LastSeen(_) => true,
        Bound::All(bounds) | Bound::Any(bounds) => bounds.iter().any(names_dates),
        Bound::Every | Bound::Tag(_) | Bound::TagPrefix(_) | Bound::Channel(_) => false,
    }
}

/// Resolves the condition's bound against the sets' sizes and the tag registry.
async fn plan<'a>(
    store: &Store,
    rules: &Rules,
    condition: &'a Condition,
    now: UnixTime,
) -> Result<Plan<'a>, StoreError> {
    let bound = condition.bound();
    let reads = condition.reads();
    let needs_registry = !reads.tag_prefixes.is_empty();
    let registry: Vec<TagName> = if needs_registry {
        store
            .registered_tags()
            .await?
            .iter()
            .filter_map(|name| TagName::parse(name).ok())
            .collect()
    } else {
        Vec::new()
    };
    let seen_ready = names_dates(&bound) && store.seen_ready().await?;
    let resolver = Resolver {
        seen_at: seen_ready.then_some(now),
        registry,
    };
    let sets = read_sets(&reads, &resolver.registry);
    let mut sized: BTreeSet<LeadSet> = sets.iter().cloned().collect();
    bound_sets(&bound, &resolver, &mut sized);
    let sized: Vec<LeadSet> = sized.into_iter().collect();
    let sizes: BTreeMap<LeadSet, u64> = sized
        .iter()
        .cloned()
        .zip(store.set_sizes(&sized).await?)
        .collect();
    let leads = store.lead_count().await?;
    let cover = match cover(&bound, &resolver, &sizes) {
        (Cover::Sets(sets), total) if total < leads => Cover::Sets(sets),
        _ => Cover::Every,
    };
    let mut read = state_read(&reads, rules);
    let sets = if read.is_empty() && sets.len() <= MEMBERSHIPS {
        sets
    } else {
        for set in sets {
            match set {
                LeadSet::Tag(tag) => read.tags.push(tag),
                LeadSet::Channel(_) => read.channels = true,
                LeadSet::SeenOn(_) => {}
            }
        }
        Vec::new()
    };
    Ok(Plan {
        condition,
        cover,
        sets,
        read,
        leads,
    })
}

/// What deciding a lead reads besides its sets: the profile, the fields by name, the
/// history of the counted touch keys and, for a score, of every scored one.
fn state_read(reads: &Reads, rules: &Rules) -> StateRead {
    let mut history = reads.touch_keys.clone();
    if reads.score {
        history.extend(rules.score_keys());
    }
    let profile = [
        (reads.first_seen, ProfileField::FirstSeen),
        (reads.last_seen, ProfileField::LastSeen),
        (reads.first_channel, ProfileField::FirstChannel),
        (reads.subscribed, ProfileField::Subscribed),
    ];
    StateRead {
        profile: profile
            .into_iter()
            .filter_map(|(read, field)| read.then_some(field))
            .collect(),
        fields: reads.fields.iter().cloned().collect(),
        history: history.into_iter().collect(),
        events: reads.events,
        ..StateRead::default()
    }
}

/// Every set whose membership deciding a lead reads: the named tags, the registered tags
/// under each prefix, the named channels.
fn read_sets(reads: &Reads, registry: &[TagName]) -> Vec<LeadSet> {
    let mut sets: BTreeSet<LeadSet> = reads.tags.iter().cloned().map(LeadSet::Tag).collect();
    for prefix in &reads.tag_prefixes {
        sets.extend(under_prefix(registry, prefix));
    }
    sets.extend(reads.channels.iter().cloned().map(LeadSet::Channel));
    sets.into_iter().collect()
}

/// Every set `bound` names, tag prefixes and date windows expanded: the sets whose sizes
/// choose the cover.
fn bound_sets(bound: &Bound, resolver: &Resolver, out: &mut BTreeSet<LeadSet>) {
    match bound {
        Bound::All(bounds) | Bound::Any(bounds) => {
            for b in bounds {
                bound_sets(b, resolver, out);
            }
        }
        leaf => out.extend(resolver.sets_of(leaf).unwrap_or_default()),
    }
}

/// The sets of the registered tags starting with `prefix`.
fn under_prefix<'r>(
    registry: &'r [TagName],
    prefix: &'r str,
) -> impl Iterator<Item = LeadSet> + 'r {
    registry
        .iter()
        .filter(move |t| t.as_str().starts_with(prefix))
        .cloned()
        .map(LeadSet::Tag)
}

/// The cheapest union of sets that holds every lead `bound` admits, and its total size
/// (`Every` when no set narrows it). A size missing from `sizes` counts as unknown: as big
/// as every lead.
fn cover(bound: &Bound, resolver: &Resolver, sizes: &BTreeMap<LeadSet, u64>) -> (Cover, u64) {
    match bound {
        Bound::All(bounds) => bounds
            .iter()
            .map(|b| cover(b, resolver, sizes))
            .min_by_key(|(_, total)| *total)
            .unwrap_or((Cover::Every, u64::MAX)),
        Bound::Any(bounds) => {
            let mut union = Vec::new();
            let mut total = 0u64;
            for b in bounds {
                match cover(b, resolver, sizes) {
                    (Cover::Every, _) => return (Cover::Every, u64::MAX),
                    (Cover::Sets(sets), size) => {
                        union.extend(sets);
                        total = total.saturating_add(size);
                    }
                }
            }
            (Cover::Sets(union), total)
        }
        leaf => match resolver.sets_of(leaf) {
            None => (Cover::Every, u64::MAX),
            Some(sets) => {
                let total = sets
                    .iter()
                    .map(|s| sizes.get(s).copied().unwrap_or(u64::MAX))
                    .fold(0, u64::saturating_add);
                (Cover::Sets(sets), total)
            }
        },
    }
}

/// Where a walk over the candidates is.
enum Position {
    /// Walking the leads index down from this position (newest first); `None` when done.
    Index(Option<u64>),
    /// Scanning the `set`th set of the cover from `cursor`.
    Set { set: usize, cursor: u64 },
}

/// Candidates found together, and the cover's set they came from (they are its members).
struct Chunk {
    leads: Vec<OpenId>,
    from: Option<LeadSet>,
}

/// The candidates, chunk by chunk, each new to the walk.
fn candidates<'a>(
    store: &'a Store,
    plan: &'a Plan<'a>,
) -> impl futures_util::Stream<Item = Result<Chunk, StoreError>> + 'a {
    let start = match &plan.cover {
        Cover::Every => Position::Index(plan.leads.checked_sub(1)),
        Cover::Sets(_) => Position::Set { set: 0, cursor: 0 },
    };
    let seen: HashSet<u64> = HashSet::new();
    stream::try_unfold((start, seen), move |(position, mut seen)| async move {
        match (position, &plan.cover) {
            (Position::Index(None), _) => Ok(None),
            (Position::Index(Some(top)), _) => {
                let bottom = top.saturating_sub(CHUNK as u64 - 1);
                let mut chunk = store.leads_between(bottom, top).await?;
                chunk.reverse();
                let next = bottom.checked_sub(1);
                let chunk = Chunk {
                    leads: chunk,
                    from: None,
                };
                Ok(Some((chunk, (Position::Index(next), seen))))
            }
            (Position::Set { set, .. }, Cover::Sets(sets)) if set >= sets.len() => Ok(None),
            (Position::Set { set, cursor }, Cover::Sets(sets)) => {
                let (next, ids) = store.scan_members(&sets[set], cursor, CHUNK).await?;
                let chunk = Chunk {
                    leads: ids
                        .into_iter()
                        .filter(|id| seen.insert(digest(id)))
                        .collect(),
                    from: Some(sets[set].clone()),
                };
                let position = if next == 0 {
                    Position::Set {
                        set: set + 1,
                        cursor: 0,
                    }
                } else {
                    Position::Set { set, cursor: next }
                };
                Ok(Some((chunk, (position, seen))))
            }
            (Position::Set { .. }, Cover::Every) => Ok(None),
        }
    })
}

/// A 64-bit hash of an openid, for remembering which candidates were seen.
fn digest(openid: &OpenId) -> u64 {
    let mut hasher = DefaultHasher::new();
    openid.hash(&mut hasher);
    hasher.finish()
}

/// Decides one chunk of candidates: how many were looked at, and the members among them.
async fn decide(
    store: &Store,
    rules: &Rules,
    plan: &Plan<'_>,
    chunk: Chunk,
    now: UnixTime,
) -> Result<(u64, Vec<OpenId>), StoreError> {
    // The chunk's own set holds every one of its leads: no need to ask.
    let tested: Vec<LeadSet> = plan
        .sets
        .iter()
        .filter(|s| chunk.from.as_ref() != Some(*s))
        .cloned()
        .collect();
    let known = chunk.from.filter(|s| plan.sets.contains(s));
    let (memberships, states) = futures_util::try_join!(
        store.memberships(&tested, &chunk.leads),
        store.states_reading(&chunk.leads, &plan.read)
    )?;
    let examined = chunk.leads.len() as u64;
    let mut members = Vec::new();
    for (i, (openid, state)) in chunk.leads.into_iter().zip(states).enumerate() {
        let Some(mut state) = state else { continue };
        let mut tags: BTreeSet<String> = state.tags.iter().map(|t| t.name.to_string()).collect();
        let held = tested
            .iter()
            .zip(&memberships)
            .filter(|(_, held)| held.get(i).copied().unwrap_or(false))
            .map(|(set, _)| set)
            .chain(&known);
        for set in held {
            match set {
                LeadSet::Tag(tag) => {
                    tags.insert(tag.to_string());
                }
                LeadSet::Channel(scene) => state.channels.push(scene.to_string()),
                LeadSet::SeenOn(_) => {}
            }
        }
        if rules.holds(plan.condition, &state, &tags, now) {
            members.push(openid);
        }
    }
    Ok((examined, members))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Scene;

    fn tag(name: &str) -> LeadSet {
        LeadSet::Tag(TagName::parse(name).unwrap())
    }

    #[test]
    fn the_reservoir_keeps_every_member_equally_likely() {
        let ids: Vec<OpenId> = (0..4 * PICKED)
            .map(|i| OpenId::parse(&format!("o{i:06}")).unwrap())
            .collect();
        let first_half: HashSet<&OpenId> = ids[..2 * PICKED].iter().collect();
        let mut kept_first_half = 0;
        let rounds = 20;
        for _ in 0..rounds {
            let mut picked = Vec::new();
            for (seen, id) in ids.iter().enumerate() {
                pick(&mut picked, seen as u64, id);
            }
            assert_eq!(picked.len(), PICKED);
            kept_first_half += picked.iter().filter(|id| first_half.contains(id)).count();
        }
        // Half the members are in the first half: about half the picks are, by far more
        // than chance could move it (the spread of 20,000 picks is about 70).
        let share = kept_first_half as f64 / (rounds * PICKED) as f64;
        assert!(
            (0.45..0.55).contains(&share),
            "share of the first half {share}"
        );
    }

    #[test]
    fn the_cover_is_the_smallest_narrowing_child_of_all_and_the_union_of_any() {
        let registry: Vec<TagName> = ["兴趣:PLC", "兴趣:HMI", "客户"]
            .iter()
            .map(|t| TagName::parse(t).unwrap())
            .collect();
        let expo = LeadSet::Channel(Scene::parse("expo").unwrap());
        let sizes: BTreeMap<LeadSet, u64> = [
            (tag("兴趣:PLC"), 300),
            (tag("兴趣:HMI"), 200),
            (tag("客户"), 50),
            (expo.clone(), 1000),
        ]
        .into_iter()
        .collect();
        let resolver = Resolver {
            registry,
            seen_at: None,
        };
        let prefix = Bound::TagPrefix("兴趣:".to_owned());
        let (c, total) = cover(&prefix, &resolver, &sizes);
        assert_eq!(c, Cover::Sets(vec![tag("兴趣:PLC"), tag("兴趣:HMI")]));
        assert_eq!(total, 500);
        let all = Bound::All(vec![
            Bound::Channel(Scene::parse("expo").unwrap()),
            prefix.clone(),
        ]);
        assert_eq!(cover(&all, &resolver, &sizes).1, 500);
        let any = Bound::Any(vec![prefix, Bound::Every]);
        assert_eq!(cover(&any, &resolver, &sizes).0, Cover::Every);
        let unknown = Bound::Tag(TagName::parse("never").unwrap());
        assert_eq!(
            cover(&unknown, &resolver, &sizes).1,
            u64::MAX,
            "a set whose size was not read is taken as every lead"
        );
        let recent = Bound::LastSeen(1);
        assert_eq!(
            cover(&recent, &resolver, &sizes).0,
            Cover::Every,
            "no seen-on-day sets until they are complete"
        );
        let now = UnixTime(1_796_230_800);
        let ready = Resolver {
            seen_at: Some(now),
            ..resolver
        };
        let days = seen_since(UnixTime(now.0 - DAY), now).unwrap();
        let sizes: BTreeMap<LeadSet, u64> = days.iter().cloned().map(|d| (d, 40)).collect();
        assert_eq!(cover(&recent, &ready, &sizes), (Cover::Sets(days), 80));
        assert_eq!(
            cover(&Bound::LastSeen(400), &ready, &sizes).0,
            Cover::Every,
            "longer than the sets are kept"
        );
    }
}
