//! The schema of one `channels/*.toml` file, as serde reads it.
//!
//! Everything here is raw: strings stay strings and every value that a later check may
//! complain about keeps its byte span ([`Spanned`]), so [`super::load`] can turn each mistake
//! into a `file:line` diagnostic. Unknown keys are refused by serde itself
//! (`deny_unknown_fields`), and toml points those errors at the offending key.

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use toml::Spanned;

use crate::wechat::reply::Article;

/// A list of spanned strings, as `tags = [...]` is written.
pub(super) type SpannedStrings = Vec<Spanned<String>>;

/// `[follow]`: a follow with no known QR scene.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawFollow {
    #[serde(default)]
    pub tags: SpannedStrings,
    pub reply: Option<Spanned<RawReply>>,
    pub news: Option<Spanned<Vec<Article>>>,
}

/// `[[qr]]`: one channel QR code.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawQr {
    /// A string (`scene_str`) or an integer (`scene_id`); told apart in `load`.
    pub scene: Spanned<toml::Value>,
    pub name: Option<String>,
    #[serde(default)]
    pub tags: SpannedStrings,
    pub reply: Option<Spanned<RawReply>>,
    pub news: Option<Spanned<Vec<Article>>>,
    #[serde(default)]
    pub permanent: bool,
    pub expire_days: Option<Spanned<i64>>,
}

/// `[[channel]]`: a channel without a QR code, that links and forms carry as `?ch=<scene>`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawChannel {
    pub scene: Spanned<String>,
    pub name: Option<String>,
    #[serde(default)]
    pub tags: SpannedStrings,
}

/// `[[click]]`: a custom-menu CLICK button.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawClick {
    pub key: Spanned<String>,
    #[serde(default)]
    pub tags: SpannedStrings,
    pub reply: Option<Spanned<RawReply>>,
    pub news: Option<Spanned<Vec<Article>>>,
}

/// `[[view]]`: a custom-menu VIEW button, matched by URL prefix.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawView {
    pub url: Spanned<String>,
    #[serde(default)]
    pub tags: SpannedStrings,
    pub reply: Option<Spanned<RawReply>>,
    pub news: Option<Spanned<Vec<Article>>>,
}

/// `[[keyword]]`: text a follower sends.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawKeyword {
    #[serde(rename = "match", default)]
    pub kind: MatchKind,
    pub text: Spanned<String>,
    #[serde(default)]
    pub tags: SpannedStrings,
    pub reply: Option<Spanned<RawReply>>,
    pub news: Option<Spanned<Vec<Article>>>,
    /// `do_not_contact = true`: the lead asks not to be contacted (e.g. `退订`).
    #[serde(default)]
    pub do_not_contact: bool,
}

/// `[[link]]`: a tracked link a reply may send.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLink {
    pub id: Spanned<String>,
    pub url: Spanned<String>,
    #[serde(default)]
    pub tags: SpannedStrings,
}

/// `[[form]]`: a lead form served at `/f/<id>`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawForm {
    pub id: Spanned<String>,
    pub title: Spanned<String>,
    pub fields: Spanned<Vec<Spanned<RawField>>>,
    pub consent: Spanned<String>,
    #[serde(default)]
    pub tags: SpannedStrings,
    /// Select field name → tag pattern with `{}` for the chosen value.
    pub tag_from_field: Option<Spanned<BTreeMap<String, Spanned<String>>>>,
    pub thanks: Option<Spanned<String>>,
}

/// One field of a `[[form]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawField {
    pub name: Spanned<String>,
    pub label: Spanned<String>,
    pub kind: Spanned<String>,
    #[serde(default)]
    pub required: bool,
    pub options: Option<Spanned<Vec<String>>>,
}

/// `[[event]]`: tags for a custom event from another system, optionally only when its
/// properties pass a `where`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawEvent {
    pub name: Spanned<String>,
    #[serde(rename = "where")]
    pub filter: Option<Spanned<toml::Value>>,
    #[serde(default)]
    pub tags: SpannedStrings,
}

/// `[menu]`: the default menu's `buttons`, and `[[menu.for]]`, the conditional menus.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawMenu {
    pub buttons: Option<Spanned<Vec<Spanned<RawButton>>>>,
    #[serde(rename = "for", default)]
    pub menus_for: Vec<Spanned<RawMenuFor>>,
}

/// One `[[menu.for]]`: the menu leads with `tag` get.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawMenuFor {
    pub tag: Spanned<String>,
    pub buttons: Spanned<Vec<Spanned<RawButton>>>,
}

/// One menu button, in WeChat's own shape.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawButton {
    #[serde(rename = "type")]
    pub kind: Option<String>,
    #[serde(default)]
    pub name: String,
    pub key: Option<String>,
    pub url: Option<String>,
    pub media_id: Option<String>,
    pub article_id: Option<String>,
    pub appid: Option<String>,
    pub pagepath: Option<String>,
    #[serde(default)]
    pub sub_button: Vec<Spanned<RawButton>>,
}

/// How a `[[keyword]]` compares its `text` with a message.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(super) enum MatchKind {
    /// The whole (trimmed) message equals the text, ASCII case ignored.
    #[default]
    Exact,
    /// The message contains the text, ASCII case ignored.
    Contains,
    /// The text is a regular expression searched in the trimmed message.
    Regex,
}

/// `reply = "text"`, or `[[….reply]]` variants.
#[derive(Debug)]
pub(super) enum RawReply {
    Text(String),
    Variants(Vec<Spanned<RawVariant>>),
}

/// One `[[….reply]]` variant.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawVariant {
    /// Any condition of the condition language, parsed by [`crate::rules::condition`].
    pub when: Option<Spanned<toml::Value>>,
    pub text: Option<Spanned<String>>,
    pub news: Option<Spanned<Vec<Article>>>,
}

/// Written by hand rather than `#[serde(untagged)]`: an untagged enum would swallow the inner
/// error (and its span), so an unknown key inside a variant would lose its line.
impl<'de> Deserialize<'de> for RawReply {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct ReplyVisitor;

        impl<'de> Visitor<'de> for ReplyVisitor {
            type Value = RawReply;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a text, or [[….reply]] tables each with `text` or `news`")
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawReply, E> {
                Ok(RawReply::Text(v.to_owned()))
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<RawReply, A::Error> {
                let mut variants = Vec::new();
                while let Some(v) = seq.next_element()? {
                    variants.push(v);
                }
                Ok(RawReply::Variants(variants))
            }
        }

        d.deserialize_any(ReplyVisitor)
    }
}

/// `[[automation]]`: steps run for a lead when a trigger fires.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAutomation {
    pub name: Spanned<String>,
    pub on: Spanned<toml::Value>,
    pub when: Option<Spanned<toml::Value>>,
    #[serde(default)]
    pub repeat: bool,
    pub quiet_hours: Option<Spanned<String>>,
    pub max_messages_per_day: Option<Spanned<i64>>,
    pub steps: Spanned<Vec<Spanned<RawStep>>>,
}

/// One step of an `[[automation]]`: one action (a `send` may carry a template fallback in
/// `template` and `data`), and an optional `when`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawStep {
    pub send: Option<Spanned<RawSend>>,
    pub template: Option<Spanned<String>>,
    pub data: Option<Spanned<BTreeMap<String, String>>>,
    pub url: Option<Spanned<String>>,
    pub notify: Option<Spanned<String>>,
    pub add_tags: Option<Spanned<SpannedStrings>>,
    pub remove_tags: Option<Spanned<SpannedStrings>>,
    pub wait: Option<Spanned<String>>,
    pub when: Option<Spanned<toml::Value>>,
}

/// A `send` step's customer-service message: a text or news.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSend {
    pub text: Option<Spanned<String>>,
    pub news: Option<Spanned<Vec<Article>>>,
}
