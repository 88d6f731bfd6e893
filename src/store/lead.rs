//! The lead as the admin API shows it, decoded from its Redis hash and timeline segments.
//!
//! The encodings are compact on purpose (a lead should cost well under 1 KiB of Redis):
//! a tag field `t:<name>` holds `"<unix at> <source>"`, a timeline entry holds
//! `"<unix at> <kind> <detail>"`. Tag names have no control characters and kinds no spaces,
//! so the first spaces always split these correctly. The timeline is stored in segments,
//! each oldest first (see `lua/timeline.lua`); [`timeline_entries`] puts them newest first.

use std::collections::BTreeMap;

use serde::Serialize;

use super::fields;
use super::keys::{Keys, TIMELINE_CAP, TIMELINE_SEPARATOR};
use crate::domain::{OpenId, UnixTime};

/// Queues on `pipe` the three reads of a lead's timeline: its head, its older segments, and
/// the timeline wxtag 0.1 kept in one string (so an upgrade loses no history).
pub(super) fn queue_timeline(pipe: &mut redis::Pipeline, keys: &Keys, openid: &OpenId) {
    pipe.get(keys.timeline_head(openid))
        .lrange(keys.timeline_older(openid), 0, -1)
        .get(keys.legacy_timeline(openid));
}

/// The raw timeline entries, newest first and at most [`TIMELINE_CAP`], from the head, the
/// older segments (newest first) and the legacy string (newest first, and older than both)
/// that [`queue_timeline`] read.
pub(super) fn timeline_entries<'a>(
    head: Option<&'a str>,
    older: &'a [String],
    legacy: Option<&'a str>,
) -> Vec<&'a str> {
    head.into_iter()
        .chain(older.iter().map(String::as_str))
        .flat_map(|segment| segment.split(TIMELINE_SEPARATOR).rev())
        .chain(legacy.into_iter().flat_map(|t| t.split(TIMELINE_SEPARATOR)))
        .take(TIMELINE_CAP)
        .collect()
}

/// A time as the API shows it: RFC 3339 in China time, e.g. `2026-11-22T16:05:00+08:00`.
pub fn rfc3339(at: UnixTime) -> String {
    chrono::DateTime::from_timestamp(at.0, 0)
        .unwrap_or_default()
        .with_timezone(&super::china_time())
        .to_rfc3339()
}

/// A tag on a lead, with when and why it was first applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LeadTag {
    /// The tag name.
    pub name: String,
    /// When it was first applied (RFC 3339).
    pub at: String,
    /// Why: the rule or person that applied it, e.g. `qr:expo-2026`, `keyword:报价`, `admin`.
    pub source: String,
    /// The why in words (e.g. "3 touches in 30 days, last 2026-12-01 10:02"), when the admin
    /// layer derived it for a person to read; lists leave it out.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// One entry of a lead's timeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TimelineEntry {
    /// When it happened (RFC 3339).
    pub at: String,
    /// What kind of touch: `follow`, `scan`, `click`, `text`, …
    pub kind: String,
    /// A short human detail: the scene, key, URL or text.
    pub detail: String,
}

impl TimelineEntry {
    /// The stored form of an entry. Control characters in the detail (a follower's line
    /// breaks, say) become spaces, so the entry never holds the separator between entries.
    pub fn encode(at: UnixTime, kind: &str, detail: &str) -> String {
        let detail: String = detail
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        format!("{} {kind} {detail}", at.0)
    }

    fn decode(raw: &str) -> Option<Self> {
        let (at, rest) = raw.split_once(' ')?;
        let (kind, detail) = rest.split_once(' ').unwrap_or((rest, ""));
        Some(Self {
            at: rfc3339(UnixTime(at.parse().ok()?)),
            kind: kind.to_owned(),
            detail: detail.to_owned(),
        })
    }
}

/// A profile field on a lead: the value and, for one a form gave, when, through which form,
/// and how the submitter was known (`null` for a value not from a form).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct LeadField {
    /// The value as submitted.
    pub value: String,
    /// When it was submitted (RFC 3339).
    pub at: Option<String>,
    /// The form's id.
    pub form: Option<String>,
    /// How the submitter was known: `link` (through a `{form:ID}` link's token, which a
    /// forward carries too, so sales know it may be someone the lead passed it to).
    pub identity: Option<String>,
}

/// A lead: who came through which channels, what they are tagged with, and what they did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Lead {
    /// The lead's OpenID.
    pub openid: OpenId,
    /// Whether the lead follows the account now; `None` (JSON `null`) for a lead first seen
    /// outside the chat (a link, a form, an event) until WeChat says it follows.
    pub subscribed: Option<bool>,
    /// The scene of the first channel (first touch); `None` for an organic follow or unknown.
    pub first_channel: Option<String>,
    /// Every channel the lead came through, in order.
    pub channels: Vec<String>,
    /// First and last time wxtag saw the lead (RFC 3339).
    pub first_seen: String,
    /// The last time wxtag saw the lead.
    pub last_seen: String,
    /// The last reported location, `lat,lon,precision`, if any.
    pub last_location: Option<String>,
    /// The lead's UnionID, when web authorisation gave one.
    pub unionid: Option<String>,
    /// The id another system (a CRM) knows the lead by, once joined.
    pub external_id: Option<String>,
    /// The lead's tags, oldest first.
    pub tags: Vec<LeadTag>,
    /// The profile fields forms gave, by name.
    pub fields: BTreeMap<String, LeadField>,
    /// Set while the lead asked not to be contacted: when, and by what (`keyword:<match>`,
    /// `admin`); no send or broadcast reaches it.
    pub do_not_contact: Option<LeadFlag>,
    /// Set once WeChat said the user blacklisted the account (43019, or its blacklist):
    /// when, and how wxtag learnt it; sends skip the lead without a call.
    pub blacklisted: Option<LeadFlag>,
    /// The timeline, newest first; `None` (and left out of the JSON) on list pages, which
    /// never read timelines.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub events: Option<Vec<TimelineEntry>>,
}

/// A mark on a lead that stops sends: when it was set (RFC 3339) and by what.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LeadFlag {
    /// When it was set.
    pub at: String,
    /// What set it, e.g. `keyword:退订`, `admin`, `errcode:43019`.
    pub source: String,
}

impl LeadFlag {
    /// Reads a stored `"<at> <source>"`.
    fn decode(field: &str, raw: &str) -> Result<Self, String> {
        let (at, source) = raw.split_once(' ').unwrap_or((raw, ""));
        Ok(Self {
            at: rfc3339(unix(field, at)?),
            source: source.to_owned(),
        })
    }
}

fn unix(field: &str, raw: &str) -> Result<UnixTime, String> {
    raw.parse()
        .map(UnixTime)
        .map_err(|_| format!("field {field} is not a unix time: {raw:?}"))
}

impl Lead {
    /// Decodes the lead hash's fields and, when they were read, the raw timeline entries.
    pub(super) fn decode(
        openid: OpenId,
        fields: Vec<(String, String)>,
        timeline: Option<&[&str]>,
    ) -> Result<Self, String> {
        let mut lead = Lead {
            openid,
            subscribed: None,
            first_channel: None,
            channels: Vec::new(),
            first_seen: String::new(),
            last_seen: String::new(),
            last_location: None,
            unionid: None,
            external_id: None,
            tags: Vec::new(),
            fields: BTreeMap::new(),
            do_not_contact: None,
            blacklisted: None,
            events: None,
        };
        let mut tags = Vec::new();
        let mut later_channels = Vec::new();
        for (field, value) in fields {
            match field.as_str() {
                fields::SUBSCRIBED => lead.subscribed = Some(value == "1"),
                fields::FIRST_CHANNEL if !value.is_empty() => lead.first_channel = Some(value),
                fields::CHANNELS => later_channels = value.split(' ').map(str::to_owned).collect(),
                fields::FIRST_SEEN => lead.first_seen = rfc3339(unix(&field, &value)?),
                fields::LAST_SEEN => lead.last_seen = rfc3339(unix(&field, &value)?),
                fields::LOCATION => lead.last_location = Some(value),
                fields::UNIONID => lead.unionid = Some(value),
                fields::EXTERNAL_ID => lead.external_id = Some(value),
                fields::DO_NOT_CONTACT => {
                    lead.do_not_contact = Some(LeadFlag::decode(&field, &value)?);
                }
                fields::BLACKLISTED => lead.blacklisted = Some(LeadFlag::decode(&field, &value)?),
                _ => {
                    if let Some(name) = field.strip_prefix(fields::TAG_PREFIX) {
                        let (at, source) = value.split_once(' ').unwrap_or((&value, ""));
                        let at = unix(&field, at)?;
                        tags.push((at, name.to_owned(), source.to_owned()));
                    } else if let Some(name) = field.strip_prefix(fields::PROFILE_PREFIX) {
                        lead.fields.entry(name.to_owned()).or_default().value = value;
                    } else if let Some(name) = field.strip_prefix(fields::PROFILE_META_PREFIX) {
                        let meta = fields::FieldMeta::decode(&value).ok_or_else(|| {
                            format!("field {field} is not a form field's why: {value:?}")
                        })?;
                        let entry = lead.fields.entry(name.to_owned()).or_default();
                        entry.at = Some(rfc3339(UnixTime(meta.at)));
                        entry.form = Some(meta.form.to_owned());
                        entry.identity = Some(meta.identity.to_owned());
                    }
                }
            }
        }
        lead.channels = lead
            .first_channel
            .iter()
            .cloned()
            .chain(later_channels)
            .collect();
        tags.sort();
        lead.tags = tags
            .into_iter()
            .map(|(at, name, source)| LeadTag {
                name,
                at: rfc3339(at),
                source,
                detail: None,
            })
            .collect();
        lead.events = timeline
            .map(|timeline| {
                timeline
                    .iter()
                    .map(|raw| {
                        TimelineEntry::decode(raw)
                            .ok_or_else(|| format!("bad timeline entry {raw:?}"))
                    })
                    .collect::<Result<_, _>>()
            })
            .transpose()?;
        Ok(lead)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeline_entries_round_trip_with_spaces_in_the_detail() {
        let raw = TimelineEntry::encode(UnixTime(1714112445), "text", "I'd like a quote");
        let entry = TimelineEntry::decode(&raw).unwrap();
        assert_eq!(entry.kind, "text");
        assert_eq!(entry.detail, "I'd like a quote");
        assert_eq!(entry.at, "2024-04-26T14:20:45+08:00");
        assert_eq!(
            TimelineEntry::decode("1 unfollow ").unwrap().detail,
            "",
            "an empty detail stays empty"
        );
    }

    #[test]
    fn line_breaks_in_a_detail_cannot_split_the_timeline() {
        let raw = TimelineEntry::encode(UnixTime(1), "text", "line one\nline two\u{1e}x");
        assert!(!raw.contains(crate::store::keys::TIMELINE_SEPARATOR));
        assert_eq!(
            TimelineEntry::decode(&raw).unwrap().detail,
            "line one line two x"
        );
    }

    #[test]
    fn timeline_segments_read_newest_first_and_capped() {
        let head = "4\x1e5";
        let older: Vec<String> = vec!["2\x1e3".into(), "0\x1e1".into()];
        assert_eq!(
            timeline_entries(Some(head), &older, None),
            ["5", "4", "3", "2", "1", "0"]
        );
        let long: Vec<String> = (0..12)
            .map(|s| {
                (0..50)
                    .map(|i| (s * 50 + i).to_string())
                    .collect::<Vec<_>>()
                    .join("\x1e")
            })
            .rev()
            .collect();
        let entries = timeline_entries(None, &long, None);
        assert_eq!(entries.len(), TIMELINE_CAP);
        assert_eq!(entries[0], "599");
        assert_eq!(entries[TIMELINE_CAP - 1], "100");
        assert!(timeline_entries(None, &[], None).is_empty());
    }

    #[test]
    fn a_timeline_from_before_the_segments_is_read_after_them() {
        let older: Vec<String> = vec!["2\x1e3".into()];
        assert_eq!(
            timeline_entries(Some("4"), &older, Some("1\x1e0")),
            ["4", "3", "2", "1", "0"]
        );
        assert_eq!(timeline_entries(None, &[], Some("1\x1e0")), ["1", "0"]);
    }

    #[test]
    fn a_lead_decodes_with_tags_oldest_first() {
        let fields = vec![
            ("fs".into(), "100".into()),
            ("ls".into(), "200".into()),
            ("sub".into(), "1".into()),
            ("fc".into(), "expo-2026".into()),
            ("ch".into(), "website".into()),
            ("t:兴趣:产品A".into(), "150 click:MENU_A".into()),
            ("t:来源:展会".into(), "100 qr:expo-2026".into()),
        ];
        let lead = Lead::decode(OpenId::parse("o1").unwrap(), fields, None).unwrap();
        assert_eq!(lead.subscribed, Some(true));
        assert_eq!(lead.first_channel.as_deref(), Some("expo-2026"));
        assert_eq!(lead.channels, ["expo-2026", "website"]);
        assert_eq!(lead.tags[0].name, "来源:展会");
        assert_eq!(lead.tags[0].source, "qr:expo-2026");
        assert_eq!(lead.tags[1].source, "click:MENU_A");
    }

    #[test]
    fn an_organic_first_channel_is_none_and_garbage_is_an_error() {
        let fields = vec![("fc".into(), "".into()), ("fs".into(), "x".into())];
        assert!(Lead::decode(OpenId::parse("o1").unwrap(), fields, None).is_err());
        let fields = vec![("fc".into(), "".into()), ("fs".into(), "1".into())];
        let lead = Lead::decode(OpenId::parse("o1").unwrap(), fields, None).unwrap();
        assert_eq!(lead.first_channel, None);
    }
}
