//! Call planning: the fewest `batchtagging`/`batchuntagging` calls for a set of per-lead
//! changes, arranged in waves whose calls share no openid.
//!
//! Changes are grouped per tag and direction, and each group is cut into calls of up to 50
//! openids (sorted, so the calls of tags that share leads line up and conflict pairwise only),
//! which is the minimum number of calls. WeChat answers 45159 when two calls tag one user at
//! once, so the calls of one wave touch disjoint openids and may run concurrently; waves run
//! one after the other. All removals run before any addition, so a lead at WeChat's 20-tag
//! limit makes room before its new tag arrives. A menu tag kept last ([`Changes::last`])
//! comes after every other addition: its removals, then its additions.

use std::collections::{BTreeMap, HashSet};

use crate::domain::{OpenId, TagId};
use crate::store::TagOp;
use crate::wechat::limits::OPENIDS_PER_TAGGING_CALL;

use super::projection::Changes;

/// One call to WeChat: put a tag on, or take it off, up to 50 followers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    /// Add or remove.
    pub op: TagOp,
    /// The tag.
    pub tag: TagId,
    /// The followers, 1 to 50 of them.
    pub openids: Vec<OpenId>,
}

impl Call {
    /// The API endpoint the call goes to, as metrics name it.
    pub fn endpoint(&self) -> &'static str {
        match self.op {
            TagOp::Add => "tags/members/batchtagging",
            TagOp::Remove => "tags/members/batchuntagging",
        }
    }
}

/// Plans the calls for these leads' changes: waves of calls with disjoint openids, all
/// removal waves first, then the additions, then the menu tags kept last (off, then on).
pub fn plan<'a>(changes: impl IntoIterator<Item = (&'a OpenId, &'a Changes)>) -> Vec<Vec<Call>> {
    // Phases in order: removals, additions, menu tags off, menu tags on.
    let mut groups: BTreeMap<(u8, TagOp, TagId), Vec<OpenId>> = BTreeMap::new();
    let mut put = |phase: u8, op: TagOp, tag: TagId, openid: &OpenId| {
        groups
            .entry((phase, op, tag))
            .or_default()
            .push(openid.clone());
    };
    for (openid, change) in changes {
        change
            .remove
            .iter()
            .for_each(|t| put(0, TagOp::Remove, *t, openid));
        change
            .add
            .iter()
            .for_each(|t| put(1, TagOp::Add, *t, openid));
        if let Some(last) = change.last {
            if last.reapply {
                put(2, TagOp::Remove, last.tag, openid);
            }
            put(3, TagOp::Add, last.tag, openid);
        }
    }
    let mut waves = Vec::new();
    for phase in 0..4 {
        let mut phase_waves: Vec<(Vec<Call>, HashSet<OpenId>)> = Vec::new();
        for ((_, op, tag), openids) in groups.iter_mut().filter(|((p, _, _), _)| *p == phase) {
            openids.sort();
            openids.dedup();
            for chunk in openids.chunks(OPENIDS_PER_TAGGING_CALL) {
                let call = Call {
                    op: *op,
                    tag: *tag,
                    openids: chunk.to_vec(),
                };
                place(&mut phase_waves, call);
            }
        }
        waves.extend(phase_waves.into_iter().map(|(calls, _)| calls));
    }
    waves
}

/// Puts the call in the first wave none of whose calls shares an openid with it.
fn place(waves: &mut Vec<(Vec<Call>, HashSet<OpenId>)>, call: Call) {
    let fits = waves
        .iter()
        .position(|(_, busy)| call.openids.iter().all(|o| !busy.contains(o)));
    let index = fits.unwrap_or_else(|| {
        waves.push((Vec::new(), HashSet::new()));
        waves.len() - 1
    });
    let (calls, busy) = &mut waves[index];
    busy.extend(call.openids.iter().cloned());
    calls.push(call);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn openids(n: usize) -> Vec<OpenId> {
        (0..n)
            .map(|i| OpenId::parse(&format!("o{i:04}")).unwrap())
            .collect()
    }

    fn adds(ids: &[u32]) -> Changes {
        Changes {
            add: ids.iter().map(|i| TagId(*i)).collect(),
            ..Changes::default()
        }
    }

    fn all_calls(waves: &[Vec<Call>]) -> Vec<&Call> {
        waves.iter().flatten().collect()
    }

    fn assert_disjoint_waves(waves: &[Vec<Call>]) {
        for wave in waves {
            let mut seen = HashSet::new();
            for call in wave {
                for openid in &call.openids {
                    assert!(seen.insert(openid), "{openid} twice in one wave");
                }
            }
        }
    }

    #[test]
    fn the_number_of_calls_is_the_minimum_per_tag() {
        let leads = openids(120);
        let changes: Vec<(OpenId, Changes)> = leads
            .iter()
            .enumerate()
            .map(|(i, o)| {
                let tags: &[u32] = if i % 2 == 0 { &[100, 101] } else { &[100] };
                (o.clone(), adds(tags))
            })
            .collect();
        let waves = plan(changes.iter().map(|(o, c)| (o, c)));
        let calls = all_calls(&waves);
        let for_tag = |t: u32| calls.iter().filter(|c| c.tag == TagId(t)).count();
        assert_eq!(for_tag(100), 3, "120 leads: 50 + 50 + 20");
        assert_eq!(for_tag(101), 2, "60 leads: 50 + 10");
        assert!(
            calls
                .iter()
                .all(|c| c.openids.len() <= OPENIDS_PER_TAGGING_CALL)
        );
        let total: usize = calls.iter().map(|c| c.openids.len()).sum();
        assert_eq!(total, 180);
        assert_disjoint_waves(&waves);
    }

    #[test]
    fn a_lead_is_never_in_two_calls_of_one_wave() {
        let leads = openids(100);
        let changes: Vec<(OpenId, Changes)> = leads
            .iter()
            .map(|o| (o.clone(), adds(&[100, 101, 102])))
            .collect();
        let waves = plan(changes.iter().map(|(o, c)| (o, c)));
        assert_disjoint_waves(&waves);
        assert_eq!(waves.len(), 3, "one wave per tag, each with both halves");
        assert!(waves.iter().all(|w| w.len() == 2));
    }

    #[test]
    fn removals_come_before_additions() {
        let leads = openids(3);
        let changes: Vec<(OpenId, Changes)> = leads
            .iter()
            .map(|o| {
                (
                    o.clone(),
                    Changes {
                        remove: vec![TagId(105)],
                        add: vec![TagId(100)],
                        last: None,
                    },
                )
            })
            .collect();
        let waves = plan(changes.iter().map(|(o, c)| (o, c)));
        assert_eq!(waves.len(), 2);
        assert_eq!(waves[0][0].op, TagOp::Remove);
        assert_eq!(waves[0][0].endpoint(), "tags/members/batchuntagging");
        assert_eq!(waves[1][0].op, TagOp::Add);
        assert_eq!(waves[1][0].openids.len(), 3);
    }

    #[test]
    fn leads_on_different_tags_share_a_wave() {
        let leads = openids(2);
        let changes = [
            (leads[0].clone(), adds(&[100])),
            (leads[1].clone(), adds(&[101])),
        ];
        let waves = plan(changes.iter().map(|(o, c)| (o, c)));
        assert_eq!(waves.len(), 1);
        assert_eq!(waves[0].len(), 2);
        assert!(plan(std::iter::empty()).is_empty());
    }

    #[test]
    fn a_menu_tag_kept_last_comes_off_and_on_after_every_other_addition() {
        let leads = openids(2);
        let mut again = adds(&[101]);
        again.last = Some(super::super::projection::Last {
            tag: TagId(100),
            reapply: true,
        });
        let mut fresh = adds(&[102]);
        fresh.last = Some(super::super::projection::Last {
            tag: TagId(100),
            reapply: false,
        });
        let changes = [(leads[0].clone(), again), (leads[1].clone(), fresh)];
        let waves = plan(changes.iter().map(|(o, c)| (o, c)));
        let order: Vec<(TagOp, u32, usize)> = all_calls(&waves)
            .iter()
            .map(|c| (c.op, c.tag.0, c.openids.len()))
            .collect();
        assert_eq!(
            order,
            [
                (TagOp::Add, 101, 1),
                (TagOp::Add, 102, 1),
                (TagOp::Remove, 100, 1),
                (TagOp::Add, 100, 2),
            ]
        );
        let off = waves
            .iter()
            .position(|w| w.iter().any(|c| c.op == TagOp::Remove));
        let adds_done = waves.iter().rposition(|w| w.iter().any(|c| c.tag.0 != 100));
        assert!(
            off > adds_done,
            "the menu tag comes off after the other additions"
        );
    }
}
