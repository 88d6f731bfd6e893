//! Which of a lead's tags WeChat gets, and what must change on WeChat to get there.
//!
//! WeChat takes at most 20 tags per follower. A lead keeps every tag in Redis; WeChat gets the
//! 20 that matter most: its menu tags (the tags of the published `[[menu.for]]` menus, in
//! file order), then the tags its first channel gave it (source `qr:<first channel>`), then
//! its lifecycle stage (source `lifecycle`) and its value tiers (source `tiers:<name>`), then
//! the newest of the rest (ties by name, so every worker ranks alike). Tags that cannot be synced are left
//! out before ranking, so they never take a place a syncable tag could have. When a more
//! important tag arrives, the least important one falls out of the projection, and the diff
//! takes it off WeChat.
//!
//! WeChat shows a lead with several tags the menu of the tag applied *last*. So when other
//! tags are added to a lead that holds a menu tag, the first of its menu tags (file order) is
//! applied after them: put on last when it is new, else taken off and put on again (the safe
//! way: applying a tag a follower holds may not move it). Without other additions nothing
//! extra is called.

use std::cmp::Reverse;
use std::collections::BTreeSet;

use crate::domain::{TagId, TagName};
use crate::store::SyncLead;

use super::applied::OnWeChat;
use crate::wechat::limits::TAGS_PER_USER;

/// The lead's tags WeChat should carry, most important first, at most [`TAGS_PER_USER`](crate::wechat::limits::TAGS_PER_USER);
/// `syncable` says which tags may go to WeChat at all, `menu_tags` are the menu tags in file
/// order (they come first, in that order).
pub fn project<'l>(
    lead: &'l SyncLead,
    syncable: impl Fn(&TagName) -> bool,
    menu_tags: &[String],
) -> Vec<&'l TagName> {
    let first_source = lead
        .first_channel
        .as_deref()
        .map(|scene| format!("qr:{scene}"));
    let rank = |name: &TagName, source: &str| -> (u8, usize) {
        if let Some(i) = menu_tags.iter().position(|m| m == name.as_str()) {
            (0, i)
        } else if first_source.as_deref() == Some(source) {
            (1, 0)
        } else if source == "lifecycle" {
            (2, 0)
        } else if source.starts_with("tiers:") {
            (3, 0)
        } else {
            (4, 0)
        }
    };
    let mut ranked: Vec<_> = lead
        .tags
        .iter()
        .filter(|tag| syncable(&tag.name))
        .map(|tag| {
            let key = (rank(&tag.name, &tag.source), Reverse(tag.at), &tag.name);
            (key, &tag.name)
        })
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
    /// The menu tag to apply after the additions, so that it is the tag applied last.
    pub last: Option<Last>,
}

/// A menu tag applied after every other addition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Last {
    /// The menu tag.
    pub tag: TagId,
    /// True when WeChat may hold it already: it is taken off first, then put on again.
    pub reapply: bool,
}

impl Changes {
    /// True when WeChat already matches.
    pub fn is_empty(&self) -> bool {
        self.remove.is_empty() && self.add.is_empty() && self.last.is_none()
    }

    /// Every id a call will be made for.
    pub fn ids(&self) -> impl Iterator<Item = TagId> + '_ {
        let last = self.last.map(|l| l.tag);
        self.remove.iter().chain(&self.add).copied().chain(last)
    }

    /// Makes `menu` (the lead's first menu tag, in file order) the tag applied last, when
    /// other tags are added: it moves after them, taken off first if WeChat may hold it
    /// (`applied`). Nothing changes when no other tag is added.
    pub fn keep_last(&mut self, menu: TagId, applied: &OnWeChat) {
        if !self.add.iter().any(|id| *id != menu) {
            return;
        }
        self.add.retain(|id| *id != menu);
        self.last = Some(Last {
            tag: menu,
            reapply: applied.all().any(|id| id == menu),
        });
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
        last: None,
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
        assert_eq!(names(project(&lead, |_| true, &[])), ["b", "a"]);
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
        let projected = names(project(&lead, |_| true, &[]));
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
        let projected = names(project(&lead, |_| true, &[]));
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
        let before = names(project(&lead, |_| true, &[]));
        tags.push(tag("new", 100, "admin"));
        let lead = SyncLead {
            tags,
            ..SyncLead::default()
        };
        let after = names(project(&lead, |_| true, &[]));
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
        let projected = names(project(&lead, |t| t.as_str() != "over-limit", &[]));
        assert_eq!(projected.len(), 20);
        assert!(projected.contains(&"t00") && !projected.contains(&"over-limit"));
    }

    #[test]
    fn menu_tags_come_first_in_file_order() {
        let lead = from_expo_with_interests(
            vec![
                tag("来源:展会", 1, "qr:expo"),
                tag("vip", 0, "admin"),
                tag("menu-b", 0, "admin"),
            ],
            10,
        );
        let menus = ["menu-b".to_owned(), "vip".to_owned()];
        let projected = names(project(&lead, |_| true, &menus));
        assert_eq!(projected[..3], ["menu-b", "vip", "来源:展会"]);
        assert_eq!(projected.len(), TAGS_PER_USER);
    }

    #[test]
    fn the_menu_tag_moves_after_other_additions_and_only_then() {
        let menu = TagId(100);
        let held = OnWeChat::decode("100 101");
        let mut change = diff(&BTreeSet::from([menu, TagId(101), TagId(102)]), &held);
        change.keep_last(menu, &held);
        let last = Last {
            tag: menu,
            reapply: true,
        };
        assert_eq!(
            (change.add.clone(), change.last),
            (vec![TagId(102)], Some(last))
        );
        assert_eq!(change.ids().collect::<Vec<_>>(), [TagId(102), menu]);

        let new = OnWeChat::decode("101");
        let mut change = diff(&BTreeSet::from([menu, TagId(101), TagId(102)]), &new);
        change.keep_last(menu, &new);
        assert_eq!(change.add, [TagId(102)]);
        assert_eq!(change.last.map(|l| l.reapply), Some(false), "new: no untag");

        let mut removal = diff(&BTreeSet::from([menu]), &held);
        removal.keep_last(menu, &held);
        assert_eq!(
            (removal.remove.clone(), removal.last),
            (vec![TagId(101)], None)
        );
        let mut alone = diff(&BTreeSet::from([menu, TagId(101)]), &new);
        alone.keep_last(menu, &new);
        assert_eq!(
            (alone.add.clone(), alone.last),
            (vec![menu], None),
            "no extra call"
        );
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
