//! A segment's profile (SOLIKE's 分群画像): which tags its members hold, which channels first
//! brought them, and which lifecycle stage they are at.
//!
//! The profile reads the members a walk picked at random ([`Found::picked`], at most
//! [`PICKED`](super::walk::PICKED)), so it costs one read of a thousand leads however big the
//! segment is; for a segment of at most that many members it is exact. Shares are of the
//! picked members: a page shows them as percentages.

use std::collections::BTreeMap;

use crate::rules::Rules;
use crate::store::{SegmentProfile, Share, Store, StoreError};

use super::Found;

/// How many tags and first channels a profile keeps (the most common); stages are all kept.
pub const TOP: usize = 12;

/// How many picked leads one read fetches.
const READ: usize = 250;

/// The profile of the members `found` picked.
pub async fn profile(
    store: &Store,
    rules: &Rules,
    found: &Found,
) -> Result<SegmentProfile, StoreError> {
    let mut tags: BTreeMap<String, u64> = BTreeMap::new();
    let mut stages: BTreeMap<String, u64> = BTreeMap::new();
    let mut channels: BTreeMap<String, u64> = BTreeMap::new();
    let mut picked = 0;
    for ids in found.picked.chunks(READ) {
        for lead in store.lead_summaries(ids).await? {
            picked += 1;
            *channels
                .entry(lead.first_channel.unwrap_or_default())
                .or_default() += 1;
            for tag in lead.tags {
                let is_stage = rules.derived_source(&tag.name).as_deref() == Some("lifecycle");
                let counts = if is_stage { &mut stages } else { &mut tags };
                *counts.entry(tag.name).or_default() += 1;
            }
        }
    }
    Ok(SegmentProfile {
        picked,
        tags: most_common(tags, TOP),
        first_channels: most_common(channels, TOP),
        stages: most_common(stages, usize::MAX),
    })
}

/// The `n` names with the highest counts, highest first (ties by name).
fn most_common(counts: BTreeMap<String, u64>, n: usize) -> Vec<Share> {
    let mut shares: Vec<Share> = counts
        .into_iter()
        .map(|(name, leads)| Share { name, leads })
        .collect();
    shares.sort_by(|a, b| b.leads.cmp(&a.leads).then_with(|| a.name.cmp(&b.name)));
    shares.truncate(n);
    shares
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_most_common_come_first_and_ties_go_by_name() {
        let counts: BTreeMap<String, u64> = [("b", 2), ("a", 2), ("c", 5), ("d", 1)]
            .into_iter()
            .map(|(n, c)| (n.to_owned(), c))
            .collect();
        let names: Vec<String> = most_common(counts, 3).into_iter().map(|s| s.name).collect();
        assert_eq!(names, ["c", "a", "b"]);
    }
}
