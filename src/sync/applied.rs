//! What WeChat holds of a lead's tags, as far as the sync knows: the lead's `w` field.
//!
//! `w` is a space-separated list of WeChat tag ids: `105` is applied on WeChat for sure, `?105`
//! is in doubt (a call for it was about to be made, or failed without an answer, or the lead
//! unfollowed and WeChat dropped its tags), so the next sync asserts it again whichever way the
//! lead's tags say. The store keeps `w` as raw text; only the sync reads and writes its format.

use std::collections::BTreeSet;

use crate::domain::TagId;
use crate::store::SyncLead;

/// What WeChat holds of a lead's tags, as far as wxtag knows: the lead's `w` field.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OnWeChat {
    /// Ids applied for sure.
    pub sure: BTreeSet<TagId>,
    /// Ids in doubt: a call about them may or may not have taken effect.
    pub unsure: BTreeSet<TagId>,
}

impl OnWeChat {
    /// What the lead's `w` says.
    pub fn of(lead: &SyncLead) -> Self {
        Self::decode(&lead.applied_raw)
    }

    /// Reads a `w` field; tokens that are not ids are ignored.
    pub fn decode(raw: &str) -> Self {
        let mut applied = Self::default();
        for token in raw.split_whitespace() {
            match token.strip_prefix('?') {
                Some(id) => {
                    if let Ok(id) = id.parse() {
                        applied.unsure.insert(TagId(id));
                    }
                }
                None => {
                    if let Ok(id) = token.parse() {
                        applied.sure.insert(TagId(id));
                    }
                }
            }
        }
        applied.sure.retain(|id| !applied.unsure.contains(id));
        applied
    }

    /// The `w` field for this state.
    pub fn encode(&self) -> String {
        let sure = self.sure.iter().map(TagId::to_string);
        let unsure = self.unsure.iter().map(|id| format!("?{id}"));
        sure.chain(unsure).collect::<Vec<_>>().join(" ")
    }

    /// Every id that may be applied, sure or not.
    pub fn all(&self) -> impl Iterator<Item = TagId> + '_ {
        self.sure.iter().chain(&self.unsure).copied()
    }

    /// Records that a call about `id` is about to be made.
    pub fn doubt(&mut self, id: TagId) {
        self.sure.remove(&id);
        self.unsure.insert(id);
    }

    /// Records that `id` is applied for sure.
    pub fn confirm(&mut self, id: TagId) {
        self.unsure.remove(&id);
        self.sure.insert(id);
    }

    /// Puts every id in doubt: WeChat may hold none of them (the lead unfollowed, which drops
    /// its tags) or all, so the next sync of a follower asserts its whole projection.
    pub fn doubt_all(&mut self) {
        let sure = std::mem::take(&mut self.sure);
        self.unsure.extend(sure);
    }

    /// Records that `id` is not applied.
    pub fn clear(&mut self, id: TagId) {
        self.unsure.remove(&id);
        self.sure.remove(&id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn applied_round_trips_and_doubt_wins() {
        let applied = OnWeChat::decode("100 ?101 102 junk ?x 101");
        assert_eq!(applied.sure, BTreeSet::from([TagId(100), TagId(102)]));
        assert_eq!(applied.unsure, BTreeSet::from([TagId(101)]));
        assert_eq!(applied.encode(), "100 102 ?101");
        assert_eq!(OnWeChat::decode(&applied.encode()), applied);
        assert_eq!(OnWeChat::decode(""), OnWeChat::default());
    }

    #[test]
    fn applied_moves_between_sure_doubt_and_gone() {
        let mut applied = OnWeChat::decode("100");
        applied.doubt(TagId(100));
        applied.doubt(TagId(101));
        assert_eq!(applied.encode(), "?100 ?101");
        applied.confirm(TagId(101));
        applied.clear(TagId(100));
        assert_eq!(applied.encode(), "101");
        assert_eq!(applied.all().collect::<Vec<_>>(), [TagId(101)]);
        applied.doubt(TagId(102));
        applied.doubt_all();
        assert_eq!(applied.encode(), "?101 ?102");
    }
}
