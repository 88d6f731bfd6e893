//! Which of a lead's tags WeChat gets, and what must change on WeChat to get there.
//!
//! WeChat takes at most 20 tags per follower. A lead keeps every tag in Redis; WeChat gets the
//! 20 that matter most: the tags its first channel gave it (source `qr:<first channel>`), then
//! its lifecycle stage (source `lifecycle`) and its value tiers (source `tiers:<name>`), then
//! the newest of the rest (ties by name, so every worker ranks alike). Tags that cannot be synced are left
//! out before ranking, so they never take a place a syncable tag could have. When a more
//! important tag arrives, the least important one falls out of the projection, and the diff
//! takes it off WeChat.

use std::cmp::Reverse;
use std::collections::BTreeSet;

use crate::domain::{TagId, TagName};
use crate::store::SyncLead;

use super::applied::OnWeChat;
use crate::wechat::limits::TAGS_PER_USER;

/// The lead's tags WeChat should carry, most important first, at most [`TAGS_PER_USER`](crate::wechat::limits::TAGS_PER_USER);
/// `syncable` says which tags may go to WeChat at all.
pub fn project(lead: &SyncLead, syncable: impl Fn(&TagName) -> bool) -> Vec<&TagName> {
    let first_source = lead
        .first_channel
        .as_deref()
        .map(|scene| format!("qr:{scene}"));
    let rank = |source: &str| -> u8 {
        if first_source.as_deref() == Some(source) {
            0
        } else if source == "lifecycle" {
            1
        } else if source.starts_with("tiers:") {
            2
        } else {
            3
        }
    };
    let mut ranked: Vec<_> = lead
        .tags
        .iter()
        .filter(|tag| syncable(&tag.name))
        .map(|tag| ((rank(&tag.source), Reverse(tag.at), &tag.name), &tag.name))
        .collect();
    ranked.sort();
    ranked
        .into_iter()
        .take(TAGS_PER_USER)
        .map(|(_, name)| name)
        .collect()
}

/// What to change on WeChat for one lead.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Changes {
    /// Ids to take off.
    pub remove: Vec<TagId>,
    /// Ids to put on.
    pub add: Vec<TagId>,
}

impl Changes {
    /// True when WeChat already matches.
    pub fn is_empty(&self) -> bool {
        self.remove.is_empty() && self.add.is_empty()
    }
}

/// The changes that take WeChat from `applied` to `desired`. An id in doubt is asserted
/// again: added if desired, removed if not (both calls are harmless when already so).
pub fn diff(desired: &BTreeSet<TagId>, applied: &OnWeChat) -> Changes {
    Changes {
        remove: applied.all().filter(|id| !desired.contains(id)).collect(),
        add: desired
            .iter()
            .filter(|id| !applied.sure.contains(id))
            .copied()
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::SyncTag;

    fn tag(name: &str, at: i64, source: &str) -> SyncTag {
        SyncTag {
            name: TagName::parse(name).unwrap(),
            at,
            source: source.to_owned(),
        }
    }

    fn names(projected: Vec<&TagName>) -> Vec<&str> {
        projected.into_iter().map(TagName::as_str).collect()
    }

    /// A lead that came through `expo` with `tags`, and 25 interest tags clicked from `since`
    /// on, one a second: more than WeChat's 20 in all.
    fn from_expo_with_interests(mut tags: Vec<SyncTag>, since: i64) -> SyncLead {
        tags.extend((0..25).map(|i| tag(&format!("兴趣:{i:02}"), since + i, "click:x")));
        SyncLead {
            first_channel: Some("expo".to_owned()),
            tags,
            ..SyncLead::default()
        }
    }

    #[test]
    fn up_to_twenty_tags_all_go() {
        let lead = SyncLead {
            tags: vec![tag("b", 2, "click:B"), tag("a", 1, "keyword:x")],
            ..SyncLead::default()
        };
        assert_eq!(names(project(&lead, |_| true)), ["b", "a"]);
    }

    #[test]
    fn first_channel_tags_come_first_then_the_newest_and_the_oldest_fall_out() {
        let lead = from_expo_with_interests(
            vec![
                tag("来源:展会", 1, "qr:expo"),
                tag("活动:工博会", 1, "qr:expo"),
                tag("来源:官网", 50, "qr:web"),
            ],
            10,
        );
        let projected = names(project(&lead, |_| true));
        assert_eq!(projected.len(), TAGS_PER_USER);
        assert_eq!(projected[..3], ["来源:展会", "活动:工博会", "来源:官网"]);
        assert_eq!(projected[3], "兴趣:24", "then the newest");
        assert_eq!(projected[19], "兴趣:08");
        assert!(!projected.contains(&"兴趣:07"), "the oldest fall out");
    }

    #[test]
    fn the_stage_and_tiers_come_right_after_the_first_channel_then_the_newest() {
        let lead = from_expo_with_interests(
            vec![
                tag("来源:展会", 1, "qr:expo"),
                tag("等级:B", 5, "tiers:线索等级"),
                tag("阶段:沉默", 3, "lifecycle"),
                tag("价值:高", 2, "tiers:客户价值"),
            ],
            100,
        );
        let projected = names(project(&lead, |_| true));
        assert_eq!(projected.len(), TAGS_PER_USER);
        assert_eq!(
            projected[..5],
            ["来源:展会", "阶段:沉默", "等级:B", "价值:高", "兴趣:24"],
            "source, stage, tiers (newest first), then the newest of the rest"
        );
        assert_eq!(projected[19], "兴趣:09");
        assert!(
            !projected.contains(&"兴趣:08"),
            "older interests fall out first"
        );
    }

    #[test]
    fn a_more_important_tag_pushes_out_the_least_important() {
        let mut tags: Vec<SyncTag> = (0..20)
            .map(|i| tag(&format!("t{i:02}"), i, "click:x"))
            .collect();
        let lead = SyncLead {
            tags: tags.clone(),
            ..SyncLead::default()
        };
        let before = names(project(&lead, |_| true));
        tags.push(tag("new", 100, "admin"));
        let lead = SyncLead {
            tags,
            ..SyncLead::default()
        };
        let after = names(project(&lead, |_| true));
        assert!(before.contains(&"t00") && !after.contains(&"t00"));
        assert_eq!(after[0], "new");
    }

    #[test]
    fn unsyncable_tags_never_take_a_place() {
        let mut tags: Vec<SyncTag> = (0..20)
            .map(|i| tag(&format!("t{i:02}"), i, "click:x"))
            .collect();
        tags.push(tag("over-limit", 100, "admin"));
        let lead = SyncLead {
            tags,
            ..SyncLead::default()
        };
        let projected = names(project(&lead, |t| t.as_str() != "over-limit"));
        assert_eq!(projected.len(), 20);
        assert!(projected.contains(&"t00") && !projected.contains(&"over-limit"));
    }

    #[test]
    fn the_diff_adds_what_is_missing_removes_what_is_not_wanted_and_reasserts_doubt() {
        let desired = BTreeSet::from([TagId(100), TagId(101), TagId(102)]);
        let applied = OnWeChat::decode("100 ?101 103 ?104");
        let changes = diff(&desired, &applied);
        assert_eq!(changes.add, [TagId(101), TagId(102)]);
        assert_eq!(changes.remove, [TagId(103), TagId(104)]);
        assert!(diff(&desired, &OnWeChat::decode("100 101 102")).is_empty());
    }
}
