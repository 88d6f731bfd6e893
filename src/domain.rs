//! The values wxtag's core works with, parsed once at the edge.
//!
//! Raw strings from WeChat, `channels/` files and the admin API become these types as soon
//! as they arrive; after that the core never checks them again. Each type's `parse` says
//! exactly what it accepts, and what it accepts is also safe to use inside a Redis key.

use std::fmt;

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Why a raw string is not a valid domain value.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ParseError {
    /// The value is empty (or only white space, where that matters).
    #[error("{what} is empty")]
    Empty {
        /// Which kind of value was being parsed.
        what: &'static str,
    },
    /// The value is longer than its limit.
    #[error("{what} is {len} characters long; the limit is {max}")]
    TooLong {
        /// Which kind of value was being parsed.
        what: &'static str,
        /// The length found.
        len: usize,
        /// The largest length allowed.
        max: usize,
    },
    /// The value holds a character that is not allowed.
    #[error("{what} holds {found:?}, which is not allowed ({allowed})")]
    BadChar {
        /// Which kind of value was being parsed.
        what: &'static str,
        /// The first offending character.
        found: char,
        /// Which characters are allowed, for the message.
        allowed: &'static str,
    },
}

/// Checks `s` is 1..=`max` characters, each allowed by `ok`.
fn check_chars(
    what: &'static str,
    s: &str,
    max: usize,
    allowed: &'static str,
    ok: impl Fn(char) -> bool,
) -> Result<(), ParseError> {
    if s.is_empty() {
        return Err(ParseError::Empty { what });
    }
    let len = s.chars().count();
    if len > max {
        return Err(ParseError::TooLong { what, len, max });
    }
    match s.chars().find(|c| !ok(*c)) {
        Some(found) => Err(ParseError::BadChar {
            what,
            found,
            allowed,
        }),
        None => Ok(()),
    }
}

fn is_id_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

/// Declares a string newtype with a private field, `as_str`, `Display` and serde as a string
/// that goes through `parse`.
macro_rules! string_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// The value as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($name), self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let raw = String::deserialize(d)?;
                Self::parse(&raw).map_err(serde::de::Error::custom)
            }
        }

        impl std::str::FromStr for $name {
            type Err = ParseError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }
    };
}

string_type!(
    /// A follower's OpenID: the per-account user id WeChat puts in `FromUserName`.
    OpenId
);

impl OpenId {
    /// Longest OpenID accepted (WeChat's are 28 characters; this leaves room).
    pub const MAX_LEN: usize = 64;

    /// Parses an OpenID: 1 to 64 characters of `[A-Za-z0-9_-]`.
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        check_chars("openid", s, Self::MAX_LEN, "A-Z a-z 0-9 _ -", is_id_char)?;
        Ok(Self(s.to_owned()))
    }
}

string_type!(
    /// A user's UnionID: one id across the official accounts and apps bound to one
    /// open-platform account, which web authorisation sends when the account is bound.
    UnionId
);

impl UnionId {
    /// Longest UnionID accepted (WeChat's are 28 characters; this leaves room).
    pub const MAX_LEN: usize = 64;

    /// Parses a UnionID: 1 to 64 characters of `[A-Za-z0-9_-]`.
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        check_chars("unionid", s, Self::MAX_LEN, "A-Z a-z 0-9 _ -", is_id_char)?;
        Ok(Self(s.to_owned()))
    }
}

string_type!(
    /// A QR-code scene: a channel's `scene_str`, or its `scene_id` written in decimal.
    ///
    /// WeChat sends both kinds as the same text in `EventKey`, so wxtag keeps scenes as text.
    Scene
);

impl Scene {
    /// WeChat's limit for `scene_str`.
    pub const MAX_LEN: usize = 64;

    /// Parses a scene: 1 to 64 characters of `[A-Za-z0-9_-]`.
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        check_chars("scene", s, Self::MAX_LEN, "A-Z a-z 0-9 _ -", is_id_char)?;
        Ok(Self(s.to_owned()))
    }

    /// The scene of an integer `scene_id`.
    pub fn from_id(id: u32) -> Self {
        Self(id.to_string())
    }
}

string_type!(
    /// A tracked link's id, as a `[[link]]` names it and `{link:ID}` refers to it.
    LinkId
);

impl LinkId {
    /// The longest link id: 32 characters.
    pub const MAX_LEN: usize = 32;

    /// Parses a link id: 1 to 32 characters of `[A-Za-z0-9_-]`.
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        check_chars("link id", s, Self::MAX_LEN, "A-Z a-z 0-9 _ -", is_id_char)?;
        Ok(Self(s.to_owned()))
    }
}

string_type!(
    /// A lead form's id, as a `[[form]]` names it, `{form:ID}` refers to it and `/f/<id>`
    /// serves it.
    FormId
);

impl FormId {
    /// The longest form id: 32 characters.
    pub const MAX_LEN: usize = 32;

    /// Parses a form id: 1 to 32 characters of `[A-Za-z0-9_-]`.
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        check_chars("form id", s, Self::MAX_LEN, "A-Z a-z 0-9 _ -", is_id_char)?;
        Ok(Self(s.to_owned()))
    }
}

string_type!(
    /// A custom event's name from another system (`order`, `webinar_joined`), as `[[event]]`
    /// and the touch key `event:<name>` name it.
    EventName
);

impl EventName {
    /// The longest event name: 64 characters.
    pub const MAX_LEN: usize = 64;

    /// Parses an event name: 1 to 64 characters of `[A-Za-z0-9_-.]`.
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        check_chars("event name", s, Self::MAX_LEN, "A-Z a-z 0-9 _ - .", |c| {
            is_id_char(c) || c == '.'
        })?;
        Ok(Self(s.to_owned()))
    }
}

string_type!(
    /// A form field's name: its input's name on the page and its key on the lead
    /// (`"fields": {"<name>": …}`), e.g. `mobile`.
    FieldName
);

impl FieldName {
    /// The longest field name: 32 characters.
    pub const MAX_LEN: usize = 32;

    /// Parses a field name: 1 to 32 characters of `[A-Za-z0-9_-]`.
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        check_chars(
            "field name",
            s,
            Self::MAX_LEN,
            "A-Z a-z 0-9 _ -",
            is_id_char,
        )?;
        Ok(Self(s.to_owned()))
    }
}

string_type!(
    /// A lead's id in another system (a CRM's `crm:4711`), joined to the lead by the API.
    ExternalId
);

impl ExternalId {
    /// The longest external id: 128 characters.
    pub const MAX_LEN: usize = 128;

    /// Parses an external id: 1 to 128 printable ASCII characters, no white space.
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        check_chars(
            "external id",
            s,
            Self::MAX_LEN,
            "printable ASCII, no white space",
            |c| c.is_ascii_graphic(),
        )?;
        Ok(Self(s.to_owned()))
    }
}

string_type!(
    /// A tag name as WeChat's user-tag API takes it, e.g. `来源:展会`.
    TagName
);

impl TagName {
    /// The longest tag name wxtag keeps: 30 characters. WeChat takes fewer (30 UTF-8 bytes,
    /// see `wechat::limits::tag_name_fits`); a longer name made at run time (sales, a bulk
    /// job) stays in Redis and is marked unsynced with the reason, never sent to WeChat.
    pub const MAX_CHARS: usize = 30;

    /// Parses a tag name: 1 to 30 characters, no control characters, no leading or trailing
    /// white space.
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        check_chars(
            "tag name",
            s,
            Self::MAX_CHARS,
            "no control characters",
            |c| !c.is_control(),
        )?;
        if s.trim() != s {
            return Err(ParseError::BadChar {
                what: "tag name",
                found: ' ',
                allowed: "no white space at either end",
            });
        }
        Ok(Self(s.to_owned()))
    }
}

string_type!(
    /// A saved segment's name, e.g. `展会PLC意向`: how the API's paths and the dashboard name it.
    SegmentName
);

impl SegmentName {
    /// The longest segment name: 64 characters.
    pub const MAX_CHARS: usize = 64;

    /// Parses a segment name: 1 to 64 characters, no control characters, no `/` (it is a
    /// path segment), no white space at either end.
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        check_chars(
            "segment name",
            s,
            Self::MAX_CHARS,
            "no control characters and no /",
            |c| !c.is_control() && c != '/',
        )?;
        if s.trim() != s {
            return Err(ParseError::BadChar {
                what: "segment name",
                found: ' ',
                allowed: "no white space at either end",
            });
        }
        Ok(Self(s.to_owned()))
    }
}

string_type!(
    /// An `[[automation]]`'s name, e.g. `商机提醒`: what its runs, timeline entries and
    /// metrics are known by.
    AutomationName
);

impl AutomationName {
    /// The longest automation name: 64 characters.
    pub const MAX_CHARS: usize = 64;

    /// Parses an automation name: 1 to 64 characters, no control characters, no `:` (it
    /// separates the parts of a run's id), no white space at either end.
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        check_chars(
            "automation name",
            s,
            Self::MAX_CHARS,
            "no control characters and no :",
            |c| !c.is_control() && c != ':',
        )?;
        if s.trim() != s {
            return Err(ParseError::BadChar {
                what: "automation name",
                found: ' ',
                allowed: "no white space at either end",
            });
        }
        Ok(Self(s.to_owned()))
    }
}

/// A WeChat user-tag id (system tags are 0, 1, 2; created tags start at 100): the id wxtag
/// keeps for a tag name once WeChat has the tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TagId(pub u32);

impl fmt::Display for TagId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Seconds since the Unix epoch, as WeChat's `CreateTime` and our records use them.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct UnixTime(pub i64);

impl UnixTime {
    /// The current time.
    pub fn now() -> Self {
        Self(chrono::Utc::now().timestamp())
    }
}

string_type!(
    /// What a follower did, as the rules over time count it: `follow`, `qr:<scene>`,
    /// `click:<key>`, `view:<url prefix>`, `keyword:<text>`, `link:<id>`, `form:<id>` or
    /// `event:<name>`. A touch rule's source is its touch key.
    TouchKey
);

impl TouchKey {
    /// The kinds of touch key, as written before the colon (`follow` has no colon).
    pub const KINDS: [&'static str; 7] =
        ["qr", "click", "view", "keyword", "link", "form", "event"];

    /// The longest touch key: a VIEW URL prefix can be long, a key is stored per touch.
    pub const MAX_LEN: usize = 512;

    /// Parses `follow` or `<kind>:<what>` with a known kind and a non-empty `what` without
    /// control characters.
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        if s == "follow" {
            return Ok(Self(s.to_owned()));
        }
        let allowed = "follow, or one of qr: click: view: keyword: link: form: event: then text";
        let Some((kind, what)) = s.split_once(':') else {
            return Err(ParseError::BadChar {
                what: "touch key",
                found: s.chars().next().unwrap_or(' '),
                allowed,
            });
        };
        if !Self::KINDS.contains(&kind) {
            return Err(ParseError::BadChar {
                what: "touch key",
                found: kind.chars().next().unwrap_or(':'),
                allowed,
            });
        }
        check_chars(
            "touch key",
            what,
            Self::MAX_LEN,
            "no control characters",
            |c| !c.is_control(),
        )?;
        Ok(Self(s.to_owned()))
    }

    /// The kind: `follow`, `qr`, `click`, `view`, `keyword`, `link`, `form` or `event`.
    pub fn kind(&self) -> &str {
        self.0.split_once(':').map_or(&self.0, |(kind, _)| kind)
    }
}

// Sales alerts (`[[notify]]`, `notify`): a target's name and a delivery's id.
string_type!(
    /// A `[[notify]]` target's name, as automation steps name it (`notify = "sales-robot"`).
    NotifyName
);

impl NotifyName {
    /// The longest target name: 32 characters.
    pub const MAX_LEN: usize = 32;

    /// Parses a target name: 1 to 32 characters of `[A-Za-z0-9_-]`.
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        check_chars(
            "notify name",
            s,
            Self::MAX_LEN,
            "A-Z a-z 0-9 _ -",
            is_id_char,
        )?;
        Ok(Self(s.to_owned()))
    }
}

string_type!(
    /// A delivery's id, chosen by its caller and stable across retries (the automation passes
    /// its run and step): enqueueing the same id twice is one delivery.
    DeliveryId
);

impl DeliveryId {
    /// The longest delivery id: 128 characters.
    pub const MAX_LEN: usize = 128;

    /// Parses a delivery id: 1 to 128 characters of `[A-Za-z0-9_-.:]`.
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        check_chars(
            "delivery id",
            s,
            Self::MAX_LEN,
            "A-Z a-z 0-9 _ - . :",
            |c| is_id_char(c) || c == '.' || c == ':',
        )?;
        Ok(Self(s.to_owned()))
    }
}

/// wxtag's clock: the real time shifted by `WXTAG_CLOCK_OFFSET_SECS` (tests and demos only),
/// so a test can start `serve` "31 days later". Every part that asks for "now" asks this.
///
/// Clones share one offset, so a test holding a clone can [`advance`](Clock::advance) the
/// time of a running app (its scheduler included) with no restart.
#[derive(Debug, Clone, Default)]
pub struct Clock {
    offset_secs: std::sync::Arc<std::sync::atomic::AtomicI64>,
}

impl Clock {
    /// A clock `offset_secs` seconds ahead of the real time (behind when negative).
    pub fn shifted(offset_secs: i64) -> Self {
        Self {
            offset_secs: std::sync::Arc::new(offset_secs.into()),
        }
    }

    /// Seconds this clock is ahead of the real time; 0 in production.
    pub fn offset_secs(&self) -> i64 {
        self.offset_secs.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Moves this clock and every clone of it `secs` seconds ahead (tests and demos only).
    pub fn advance(&self, secs: i64) {
        self.offset_secs
            .fetch_add(secs, std::sync::atomic::Ordering::Relaxed);
    }

    /// The shifted current time.
    pub fn now(&self) -> UnixTime {
        UnixTime(UnixTime::now().0.saturating_add(self.offset_secs()))
    }
}

impl PartialEq for Clock {
    fn eq(&self, other: &Self) -> bool {
        self.offset_secs() == other.offset_secs()
    }
}

impl Eq for Clock {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openid_accepts_wechat_openids_and_refuses_key_breaking_text() {
        assert!(OpenId::parse("oyORnuP8q7ou2gfYjqLzSIWZf0rs").is_ok());
        assert!(OpenId::parse("o9AgO5Kd5ggOC-bXrbNODIiE3bGY").is_ok());
        assert_eq!(OpenId::parse(""), Err(ParseError::Empty { what: "openid" }));
        assert!(matches!(
            OpenId::parse("a:b"),
            Err(ParseError::BadChar { found: ':', .. })
        ));
        assert!(OpenId::parse("a{b}").is_err());
        assert!(OpenId::parse(&"a".repeat(65)).is_err());
    }

    #[test]
    fn scene_is_text_whether_string_or_id() {
        assert_eq!(Scene::from_id(1001), Scene::parse("1001").unwrap());
        assert!(Scene::parse("expo-2026").is_ok());
        assert!(Scene::parse(&"s".repeat(64)).is_ok());
        assert!(Scene::parse(&"s".repeat(65)).is_err());
        assert!(Scene::parse("展会").is_err());
    }

    #[test]
    fn tag_names_count_characters() {
        assert!(TagName::parse(&"标".repeat(30)).is_ok());
        assert!(TagName::parse(&"标".repeat(31)).is_err());
        assert!(TagName::parse(" x").is_err());
        assert!(TagName::parse("a\u{1f}b").is_err());
    }

    #[test]
    fn touch_keys_name_a_known_kind() {
        assert_eq!(TouchKey::parse("follow").unwrap().kind(), "follow");
        assert_eq!(TouchKey::parse("click:MENU_A").unwrap().kind(), "click");
        assert_eq!(TouchKey::parse("event:order").unwrap().kind(), "event");
        assert!(TouchKey::parse("keyword:报价").is_ok());
        assert!(TouchKey::parse("tap:x").is_err());
        assert!(TouchKey::parse("click:").is_err());
        assert!(TouchKey::parse("follows").is_err());
    }

    #[test]
    fn deserialising_goes_through_parse() {
        let ok: TagName = serde_json::from_str("\"兴趣:产品A\"").unwrap();
        assert_eq!(ok.as_str(), "兴趣:产品A");
        assert!(serde_json::from_str::<OpenId>("\"bad id\"").is_err());
    }
}
