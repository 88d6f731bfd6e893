//! A lead as the rules over time read it: its profile, its tags with their why, and its
//! touch history, with the version that makes writing derived tags safe against other events.

use std::collections::BTreeMap;

use super::fields;
use super::history::TouchHistory;
use super::{Effect, TouchRecord};
use crate::domain::{TagName, UnixTime};

/// One tag a lead holds: when it was first applied and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateTag {
    /// The tag.
    pub name: TagName,
    /// When it was (last) added to the lead.
    pub at: UnixTime,
    /// Why: a touch key (`qr:expo`), `admin`, or a derived source (`rule:<name>`, …).
    pub source: String,
}

/// Everything the rules over time need to know about one lead.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LeadState {
    /// Bumped by every write to the lead; a derived write names the version it read.
    pub version: u64,
    /// When wxtag first saw the lead.
    pub first_seen: Option<UnixTime>,
    /// The lead's last touch (what counts as one is in the contract's table).
    pub last_seen: Option<UnixTime>,
    /// The first channel's scene; `Some("")` for an organic follow.
    pub first_channel: Option<String>,
    /// The later channels' scenes, in order.
    pub channels: Vec<String>,
    /// True while the lead follows; `None` for a lead first seen outside the chat until it
    /// follows.
    pub subscribed: Option<bool>,
    /// The tags, in no particular order.
    pub tags: Vec<StateTag>,
    /// Profile fields (from forms and imports), by name.
    pub fields: BTreeMap<String, String>,
    /// When the lead first submitted a form.
    pub first_form: Option<UnixTime>,
    /// The touch history.
    pub history: TouchHistory,
    /// The custom events whose properties a condition's `where` reads, oldest first.
    pub events: Vec<EventRecord>,
}

/// How many custom events with properties a lead keeps (the newest by `at`), besides
/// dropping those older than the touch history: a lead's stored events stay bounded however
/// many a CRM sends.
pub const EVENTS_KEPT: usize = 200;

/// One custom event with its properties, as a condition's `where` reads it.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct EventRecord {
    /// The event's name (`order`), as in the touch key `event:<name>`.
    pub name: String,
    /// When it happened (its own `at`).
    pub at: UnixTime,
    /// Its properties.
    pub props: serde_json::Map<String, serde_json::Value>,
}

/// An event as stored: its record and its id, which keeps two events with the same name,
/// time and properties apart.
#[derive(serde::Serialize)]
struct Stored<'a> {
    id: &'a str,
    #[serde(flatten)]
    event: &'a EventRecord,
}

impl EventRecord {
    /// The stored form of the event with this `id` (JSON), for [`super::TouchRecord::event`].
    pub fn encode(&self, id: &str) -> String {
        serde_json::to_string(&Stored { id, event: self }).unwrap_or_default()
    }

    /// The event of a stored form; `None` when it is not one.
    pub fn decode(raw: &str) -> Option<Self> {
        serde_json::from_str(raw).ok()
    }
}

impl LeadState {
    /// The lead after `touch`, as `apply_touch.lua` leaves it, from the lead `before` it
    /// (`None`: not known yet): what the rules over time derive from when their changes are
    /// written in the touch's own script. Keep it in step with the script.
    pub fn touched(before: Option<&LeadState>, touch: &TouchRecord<'_>) -> LeadState {
        let mut lead = before.cloned().unwrap_or_default();
        let at = touch.at;
        lead.version += 1;
        let is_new = lead.first_seen.is_none();
        if is_new {
            lead.first_seen = Some(at);
        }
        let moves_last_seen = !matches!(touch.effect, Effect::Location | Effect::Unfollow);
        if is_new
            || lead
                .last_seen
                .is_none_or(|last| moves_last_seen && at > last)
        {
            lead.last_seen = Some(at);
        }
        match touch.effect {
            Effect::Follow | Effect::Scan => lead.subscribed = Some(true),
            Effect::Unfollow => lead.subscribed = Some(false),
            // Only a follower can message or click in the chat; a touch from outside proves
            // nothing.
            Effect::Outside => {}
            _ if lead.subscribed.is_none() => lead.subscribed = Some(true),
            _ => {}
        }
        match (touch.scene, &lead.first_channel) {
            (Some(scene), None) => lead.first_channel = Some(scene.as_str().to_owned()),
            (Some(scene), Some(first)) => {
                let scene = scene.as_str();
                if scene != first && !lead.channels.iter().any(|c| c == scene) {
                    lead.channels.push(scene.to_owned());
                }
            }
            (None, None) if touch.effect == Effect::Follow => {
                lead.first_channel = Some(String::new());
            }
            (None, _) => {}
        }
        for (tag, source) in &touch.tags {
            if !lead.tags.iter().any(|held| held.name == **tag) {
                lead.tags.push(StateTag {
                    name: (*tag).clone(),
                    at,
                    source: (*source).to_owned(),
                });
            }
        }
        for key in &touch.history {
            lead.history.record(key, at);
        }
        if let Some(event) = touch.event.and_then(EventRecord::decode) {
            let after = lead.events.partition_point(|e| e.at <= event.at);
            lead.events.insert(after, event);
            let over = lead.events.len().saturating_sub(EVENTS_KEPT);
            lead.events.drain(..over);
        }
        lead
    }

    /// Sets the stored events from their stored forms, oldest first; returns a description
    /// of each that does not decode (left out).
    pub fn set_events(&mut self, raw: Vec<String>) -> Vec<String> {
        let mut bad = Vec::new();
        for raw in raw {
            match EventRecord::decode(&raw) {
                Some(event) => self.events.push(event),
                None => bad.push(format!("stored event {raw:.60?} is not in the stored form")),
            }
        }
        bad
    }

    /// Decodes a lead hash's fields and its touch history's fields; `None` when the lead hash
    /// is empty (wxtag does not know the lead). A field that does not decode is skipped and
    /// described in the second value, so one bad field never hides the rest.
    pub fn decode(
        lead: Vec<(String, String)>,
        history: Vec<(String, String)>,
    ) -> (Option<Self>, Vec<String>) {
        if lead.is_empty() {
            return (None, Vec::new());
        }
        let mut state = Self::default();
        let mut bad = Vec::new();
        for (field, value) in lead {
            if let Err(why) = state.set_field(&field, value) {
                bad.push(why);
            }
        }
        let (history, bad_keys) = TouchHistory::decode(history);
        state.history = history;
        bad.extend(
            bad_keys
                .into_iter()
                .map(|key| format!("touch history field {key:?} is not in the stored form")),
        );
        (Some(state), bad)
    }

    /// Sets what one field of the lead hash holds (unknown fields are ignored); an error
    /// describes a value that does not decode, which is then left out.
    pub fn set_field(&mut self, field: &str, value: String) -> Result<(), String> {
        let unix = |raw: &str| match raw.parse() {
            Ok(at) => Ok(Some(UnixTime(at))),
            Err(_) => Err(format!("field {field} is not a unix time: {raw:?}")),
        };
        match field {
            fields::FIRST_SEEN => self.first_seen = unix(&value)?,
            fields::LAST_SEEN => self.last_seen = unix(&value)?,
            fields::FIRST_CHANNEL => self.first_channel = Some(value),
            fields::CHANNELS => self.channels = value.split(' ').map(str::to_owned).collect(),
            fields::SUBSCRIBED => self.subscribed = Some(value == "1"),
            fields::FIRST_FORM => self.first_form = unix(&value)?,
            fields::VERSION => {
                self.version = value
                    .parse()
                    .map_err(|_| format!("field {field} is not a version: {value:?}"))?;
            }
            _ => {
                if let Some(name) = field.strip_prefix(fields::TAG_PREFIX) {
                    let tag = decode_tag(name, &value)
                        .ok_or_else(|| format!("field {field} is not a tag: {value:?}"))?;
                    self.tags.push(tag);
                } else if let Some(name) = field.strip_prefix(fields::PROFILE_PREFIX) {
                    self.fields.insert(name.to_owned(), value);
                }
            }
        }
        Ok(())
    }
}

/// A `t:<name>` field's tag: `"<at> <source>"`.
fn decode_tag(name: &str, value: &str) -> Option<StateTag> {
    let (at, source) = value.split_once(' ').unwrap_or((value, ""));
    Some(StateTag {
        name: TagName::parse(name).ok()?,
        at: UnixTime(at.parse().ok()?),
        source: source.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(raw: &[(&str, &str)]) -> Vec<(String, String)> {
        raw.iter()
            .map(|&(k, v)| (k.to_owned(), v.to_owned()))
            .collect()
    }

    #[test]
    fn an_event_record_round_trips_and_a_touch_keeps_events_in_time_order() {
        let event = |at, amount: i64| EventRecord {
            name: "order".to_owned(),
            at: UnixTime(at),
            props: serde_json::json!({ "amount": amount })
                .as_object()
                .cloned()
                .unwrap(),
        };
        let stored = event(100, 300).encode("e-1");
        assert!(stored.contains("\"id\":\"e-1\""), "{stored}");
        assert_eq!(EventRecord::decode(&stored), Some(event(100, 300)));
        let mut state = LeadState::default();
        let bad = state.set_events(vec![event(50, 1).encode("a"), "nope".to_owned()]);
        assert_eq!((state.events.len(), bad.len()), (1, 1));
        let openid = crate::domain::OpenId::parse("o1").unwrap();
        let late = event(70, 2).encode("b");
        let touch = TouchRecord {
            openid: &openid,
            identity: "event|b",
            unsigned_body: None,
            at: UnixTime(70),
            effect: Effect::Other,
            scene: None,
            timeline: None,
            location: None,
            tags: Vec::new(),
            want_tags: false,
            history: vec!["event:order"],
            history_days: 90,
            derive: true,
            event: Some(&late),
            fired: String::new(),
            watched: String::new(),
            window: None,
            do_not_contact: None,
        };
        let after = LeadState::touched(Some(&state), &touch);
        let ats: Vec<i64> = after.events.iter().map(|e| e.at.0).collect();
        assert_eq!(ats, [50, 70]);
    }

    #[test]
    fn every_field_decodes_and_bad_ones_are_named_not_fatal() {
        let (state, bad) = LeadState::decode(
            pairs(&[
                ("fs", "100"),
                ("ls", "x"),
                ("fc", ""),
                ("ch", "a b"),
                ("sub", "1"),
                ("v", "7"),
                ("loc", "1,2,3"),
                ("f:company", "ACME Ltd"),
                ("fm:company", "1 trial link"),
                ("ff", "90"),
                ("t:兴趣:PLC", "150 click:MENU_PLC"),
                ("t:坏", "soon rule:x"),
            ]),
            pairs(&[("click:MENU_PLC", "150 0"), ("follow", "zz")]),
        );
        let state = state.unwrap();
        assert_eq!(state.first_seen, Some(UnixTime(100)));
        assert_eq!(state.last_seen, None);
        assert_eq!(state.first_channel.as_deref(), Some(""));
        assert_eq!(state.channels, ["a", "b"]);
        assert_eq!(state.subscribed, Some(true));
        assert_eq!(state.version, 7);
        assert_eq!(state.fields["company"], "ACME Ltd");
        assert_eq!(state.first_form, Some(UnixTime(90)));
        assert_eq!(state.tags.len(), 1);
        assert_eq!(state.tags[0].source, "click:MENU_PLC");
        assert!(state.history.key("click:MENU_PLC").is_some());
        assert_eq!(bad.len(), 3, "{bad:?}");
        assert!(LeadState::decode(Vec::new(), Vec::new()).0.is_none());
    }

    #[test]
    fn a_touch_from_outside_the_chat_proves_no_follow_and_a_chat_touch_does() {
        let openid = crate::domain::OpenId::parse("oOutside000000000000000000001").unwrap();
        let touch = |effect, at| TouchRecord {
            openid: &openid,
            identity: "t",
            unsigned_body: None,
            at: UnixTime(at),
            effect,
            scene: None,
            timeline: None,
            location: None,
            tags: Vec::new(),
            want_tags: false,
            history: Vec::new(),
            history_days: 90,
            derive: false,
            event: None,
            fired: String::new(),
            watched: String::new(),
            window: None,
            do_not_contact: None,
        };
        let clicked = LeadState::touched(None, &touch(Effect::Outside, 100));
        assert_eq!(clicked.subscribed, None);
        assert_eq!(clicked.last_seen, Some(UnixTime(100)));
        let again = LeadState::touched(Some(&clicked), &touch(Effect::Outside, 200));
        assert_eq!(again.subscribed, None, "outside touches never decide it");
        let messaged = LeadState::touched(Some(&again), &touch(Effect::Other, 300));
        assert_eq!(
            messaged.subscribed,
            Some(true),
            "only a follower messages the account"
        );
        let gone = LeadState::touched(Some(&messaged), &touch(Effect::Unfollow, 400));
        let outside = LeadState::touched(Some(&gone), &touch(Effect::Outside, 500));
        assert_eq!(outside.subscribed, Some(false));
    }
}
