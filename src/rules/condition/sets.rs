//! What a condition says in terms of the lead sets Redis keeps (one per tag, one per
//! channel): a bound that narrows the leads to look at, and what else must be read to decide.
//!
//! A segment is evaluated by walking the leads in the bound and asking the one evaluator
//! ([`Condition::holds`]) about each; the bound only decides where to look. It is sound
//! because every leaf maps to a superset of the leads it holds for: a `tag` to the tag's set,
//! `channel` and `first_channel` to the channel's set (a lead's first channel is in it too),
//! `tag_prefix` to the union of the sets of the tags it covers; `last_seen_within_days`, and
//! a `count` or `event` of at least one in a window, to the leads touched in that window
//! (whose last touch is in it, as every touch counted moves last seen up to its time);
//! anything else to every lead.

use std::collections::BTreeSet;

use super::{Condition, Node};
use crate::domain::{Scene, TagName};

/// The leads a condition can hold for, as set algebra on the tag and channel sets: every
/// lead it holds for is in the bound (there may be more).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bound {
    /// Any lead at all.
    Every,
    /// The members of one tag's set.
    Tag(TagName),
    /// The members of any tag whose name starts with the prefix.
    TagPrefix(String),
    /// The members of one channel's set.
    Channel(Scene),
    /// The leads last seen less than this many days ago.
    LastSeen(u32),
    /// Members of every bound.
    All(Vec<Bound>),
    /// Members of any bound.
    Any(Vec<Bound>),
}

/// What evaluating the condition needs to know about a lead beyond its sets.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reads {
    /// The tags the condition names (`tag` leaves and bare names).
    pub tags: BTreeSet<TagName>,
    /// The prefixes of its `tag_prefix` leaves.
    pub tag_prefixes: BTreeSet<String>,
    /// The channels of its `channel` leaves.
    pub channels: BTreeSet<Scene>,
    /// True when it reads the first channel.
    pub first_channel: bool,
    /// True when it reads whether the lead follows.
    pub subscribed: bool,
    /// True when it reads when the lead was first seen.
    pub first_seen: bool,
    /// True when it reads when the lead was last seen.
    pub last_seen: bool,
    /// The profile fields (`field` leaves) it reads.
    pub fields: BTreeSet<String>,
    /// The touch keys its `count` and `event` leaves count.
    pub touch_keys: BTreeSet<String>,
    /// True when it reads the score (every scored touch key's history).
    pub score: bool,
    /// True when it reads stored event properties (`event` leaves with a `where`).
    pub events: bool,
}

impl Condition {
    /// The bound of the leads this condition can hold for.
    pub fn bound(&self) -> Bound {
        bound(&self.node)
    }

    /// What must be known about a lead to evaluate the condition.
    pub fn reads(&self) -> Reads {
        let mut reads = Reads::default();
        self.node.visit(&mut |n| match n {
            Node::All(_) | Node::Any(_) | Node::None(_) => {}
            Node::Tag(tag) => {
                reads.tags.insert(tag.clone());
            }
            Node::TagPrefix(prefix) => {
                reads.tag_prefixes.insert(prefix.clone());
            }
            Node::Channel(scene) => {
                reads.channels.insert(scene.clone());
            }
            Node::FirstChannel(_) => reads.first_channel = true,
            Node::Subscribed(_) => reads.subscribed = true,
            Node::FirstSeenWithin(_) => reads.first_seen = true,
            Node::LastSeenWithin(_) | Node::Inactive(_) => reads.last_seen = true,
            Node::Field { name, .. } => {
                reads.fields.insert(name.clone());
            }
            Node::Score(_) => reads.score = true,
            Node::Count(w) => {
                reads
                    .touch_keys
                    .extend(w.keys.iter().map(|k| k.as_str().to_owned()));
            }
            Node::Event {
                window: w, filter, ..
            } => {
                reads
                    .touch_keys
                    .extend(w.keys.iter().map(|k| k.as_str().to_owned()));
                reads.events |= !filter.is_empty();
            }
        });
        reads
    }
}

fn bound(node: &Node) -> Bound {
    match node {
        Node::Tag(tag) => Bound::Tag(tag.clone()),
        Node::TagPrefix(prefix) => Bound::TagPrefix(prefix.clone()),
        Node::Channel(scene) | Node::FirstChannel(scene) => Bound::Channel(scene.clone()),
        Node::LastSeenWithin(days) => Bound::LastSeen(*days),
        Node::Count(w) | Node::Event { window: w, .. } if w.at_least >= 1 => {
            Bound::LastSeen(w.days)
        }
        Node::All(children) => {
            let mut narrowing: Vec<Bound> = children
                .iter()
                .map(bound)
                .filter(|b| *b != Bound::Every)
                .collect();
            if narrowing.len() > 1 {
                Bound::All(narrowing)
            } else {
                narrowing.pop().unwrap_or(Bound::Every)
            }
        }
        Node::Any(children) => {
            let mut bounds: Vec<Bound> = children.iter().map(bound).collect();
            if bounds.contains(&Bound::Every) {
                Bound::Every
            } else if bounds.len() > 1 {
                Bound::Any(bounds)
            } else {
                bounds.pop().unwrap_or(Bound::Every)
            }
        }
        // A `none` can hold for a lead in no set at all.
        Node::None(_)
        | Node::Subscribed(_)
        | Node::FirstSeenWithin(_)
        | Node::Inactive(_)
        | Node::Score(_)
        | Node::Field { .. }
        | Node::Count(_)
        | Node::Event { .. } => Bound::Every,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn condition(value: serde_json::Value) -> Condition {
        Condition::from_json(&value).unwrap()
    }

    fn tag(name: &str) -> Bound {
        Bound::Tag(TagName::parse(name).unwrap())
    }

    fn channel(scene: &str) -> Bound {
        Bound::Channel(Scene::parse(scene).unwrap())
    }

    #[test]
    fn all_narrows_to_its_indexed_children_and_any_widens_to_every_lead() {
        let c = condition(json!({"all": [
            {"any": [{"channel": "expo"}, {"first_channel": "web"}]},
            "兴趣:PLC",
            {"last_seen_within_days": 30},
            {"none": ["客户"]},
        ]}));
        assert_eq!(
            c.bound(),
            Bound::All(vec![
                Bound::Any(vec![channel("expo"), channel("web")]),
                tag("兴趣:PLC"),
                Bound::LastSeen(30),
            ])
        );
        let touched = |at_least: u64| {
            condition(json!({"count": ["click:A"], "at_least": at_least, "within_days": 7})).bound()
        };
        assert_eq!(
            touched(1),
            Bound::LastSeen(7),
            "a touch in 7 days: seen in 7 days"
        );
        assert_eq!(
            touched(0),
            Bound::Every,
            "none at all holds for the untouched"
        );
        assert_eq!(
            condition(json!({"count": ["click:A"], "at_most": 2, "within_days": 7})).bound(),
            Bound::Every
        );
        assert_eq!(
            condition(json!({"inactive_days": 30})).bound(),
            Bound::Every
        );
        let wide = condition(json!({"any": ["a", {"subscribed": true}]}));
        assert_eq!(wide.bound(), Bound::Every);
        assert_eq!(
            condition(json!({"none": ["a"]})).bound(),
            Bound::Every,
            "a none holds for leads in no set"
        );
        assert_eq!(condition(json!("a")).bound(), tag("a"));
    }

    #[test]
    fn reads_name_the_sets_and_whether_profile_or_history_is_needed() {
        let c = condition(json!({"all": [
            "a",
            {"tag_prefix": "兴趣:"},
            {"channel": "expo"},
            {"field": "company"},
        ]}));
        let reads = c.reads();
        assert_eq!(reads.tags.len(), 1);
        assert_eq!(reads.tag_prefixes.len(), 1);
        assert_eq!(reads.channels.len(), 1);
        assert!(!reads.first_seen && !reads.last_seen && !reads.subscribed);
        assert!(reads.fields.contains("company"));
        assert!(reads.touch_keys.is_empty() && !reads.score);
        let counted = condition(json!({"all": [
            {"count": ["follow", "click:A"], "within_days": 7},
            {"last_seen_within_days": 3},
        ]}));
        let reads = counted.reads();
        assert!(!reads.score && reads.last_seen && !reads.first_seen);
        assert_eq!(reads.touch_keys.len(), 2);
    }
}
