//! The dashboard's words for what wxtag stores in short codes: why a tag was applied (by a
//! touch, by sales, or by the rules over time), what a timeline entry was, which channel a
//! scene is (each in the page's language), and times as a person reads them.

use super::words::Words;
use crate::admin::leads::ADMIN_SOURCE;
use crate::domain::Scene;
use crate::rules::Rules;

/// Why a tag was applied, in words: a kind (`关键词`) and what exactly (`报价`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Why {
    /// The kind of rule or person.
    pub kind: &'static str,
    /// The rule's key, text, URL or channel name; empty when the kind says it all.
    pub detail: String,
}

/// A channel as a person knows it: its name, and the scene behind it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelName {
    /// The scene; empty for organic follows.
    pub scene: String,
    /// The name from `channels/`, or the scene when no file names it.
    pub name: String,
}

/// The channel of a scene as named in the rules; `None` (or an empty scene) is organic.
pub fn channel_name(t: &Words, rules: &Rules, scene: Option<&str>) -> ChannelName {
    match scene.filter(|s| !s.is_empty()) {
        None => ChannelName {
            scene: String::new(),
            name: t.organic.to_owned(),
        },
        Some(scene) => ChannelName {
            scene: scene.to_owned(),
            name: Scene::parse(scene)
                .ok()
                .and_then(|s| rules.channel(&s).map(|c| c.name.clone()))
                .unwrap_or_else(|| scene.to_owned()),
        },
    }
}

/// Reads a tag source (`qr:expo-2026`, `keyword:报价`, `admin`, `rule:<name>`, `lifecycle`,
/// …) as words.
pub fn why(t: &'static Words, rules: &Rules, source: &str) -> Why {
    let (kind, detail) = source.split_once(':').unwrap_or((source, ""));
    let kind = match kind {
        "follow" => t.why_follow,
        "qr" | "channel" => {
            return Why {
                kind: if kind == "qr" {
                    t.why_qr
                } else {
                    t.why_channel
                },
                detail: channel_name(t, rules, Some(detail)).name,
            };
        }
        "click" => t.why_click,
        "view" => t.why_view,
        "link" => t.why_link,
        "form" => t.why_form,
        "keyword" => t.why_keyword,
        "expire" => t.why_expire,
        "group" => t.why_group,
        _ if source == ADMIN_SOURCE => t.why_admin,
        _ => match derived_kind(t, kind) {
            Some(derived) => derived,
            None => {
                return Why {
                    kind: t.other,
                    detail: source.to_owned(),
                };
            }
        },
    };
    Why {
        kind,
        detail: detail.to_owned(),
    }
}

/// The kind of a derived tag's source or of a preview row (`rule`, `tiers`, `lifecycle`,
/// `preference`) in words; `None` for any other kind.
pub fn derived_kind(t: &'static Words, kind: &str) -> Option<&'static str> {
    match kind {
        "rule" => Some(t.why_rule),
        "tiers" => Some(t.why_tiers),
        "lifecycle" => Some(t.why_lifecycle),
        "preference" => Some(t.why_preference),
        _ => None,
    }
}

/// A timeline entry's kind in words.
pub fn event_kind(t: &'static Words, kind: &str) -> &'static str {
    match kind {
        "follow" => t.event_follow,
        "scan" => t.event_scan,
        "unfollow" => t.event_unfollow,
        "click" => t.event_click,
        "view" => t.event_view,
        "text" => t.event_text,
        "image" => t.event_image,
        "voice" => t.event_voice,
        "video" | "shortvideo" => t.event_video,
        "location_msg" | "location_select" => t.event_location,
        "link" => t.event_link,
        "link_click" => t.event_link_click,
        "forward" => t.event_forward,
        "form" => t.event_form,
        "event" => t.event_custom,
        "identity" => t.event_identity,
        "tag" => t.event_tag,
        "tag+" => t.event_tag_added,
        "tag-" => t.event_tag_removed,
        "miniprogram" => t.event_miniprogram,
        "scancode_push" | "scancode_waitmsg" => t.event_scancode,
        "pic_sysphoto" | "pic_photo_or_album" | "pic_weixin" => t.event_pic,
        "template_finish" => t.event_template,
        "mass_finish" => t.event_mass,
        _ => t.other,
    }
}

/// An RFC 3339 time as `2026-11-22 16:05` (wxtag's times are all China time).
pub fn short_time(rfc3339: &str) -> String {
    match rfc3339.get(..16) {
        Some(head) => head.replacen('T', " ", 1),
        None => rfc3339.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admin::channels::ORGANIC_NAME;
    use crate::admin::dashboard::words::{EN, ZH};

    #[test]
    fn sources_read_as_words_and_unknown_ones_stay_visible() {
        let rules = Rules::default();
        assert_eq!(
            why(&ZH, &rules, "keyword:报价"),
            Why {
                kind: "关键词",
                detail: "报价".to_owned()
            }
        );
        assert_eq!(why(&ZH, &rules, "admin").kind, "销售添加");
        assert_eq!(why(&ZH, &rules, "qr:expo-2026").detail, "expo-2026");
        assert_eq!(
            why(&ZH, &rules, "view:https://x.cn/a").detail,
            "https://x.cn/a"
        );
        assert_eq!(why(&ZH, &rules, "import").detail, "import");
    }

    #[test]
    fn derived_sources_read_as_their_kind_and_name() {
        let rules = Rules::default();
        assert_eq!(
            why(&ZH, &rules, "rule:PLC 高意向"),
            Why {
                kind: "规则",
                detail: "PLC 高意向".to_owned()
            }
        );
        assert_eq!(why(&EN, &rules, "tiers:线索等级").kind, "Tiers");
        assert_eq!(why(&EN, &rules, "tiers:线索等级").detail, "线索等级");
        assert_eq!(why(&ZH, &rules, "lifecycle").kind, "生命周期");
        assert_eq!(why(&ZH, &rules, "lifecycle").detail, "");
        assert_eq!(why(&EN, &rules, "preference:主要兴趣").kind, "Preference");
        assert_eq!(why(&EN, &rules, "expire").kind, "Expired");
        assert_eq!(why(&EN, &rules, "group:行业:").detail, "行业:");
        assert_eq!(derived_kind(&EN, "qr"), None);
        assert_eq!(event_kind(&ZH, "tag+"), "加上标签");
        assert_eq!(event_kind(&EN, "tag-"), "Tag removed");
    }

    #[test]
    fn organic_channels_are_named_and_times_shortened() {
        let rules = Rules::default();
        assert_eq!(channel_name(&ZH, &rules, None).name, ORGANIC_NAME);
        assert_eq!(channel_name(&ZH, &rules, Some("1001")).name, "1001");
        assert_eq!(channel_name(&EN, &rules, None).name, "Organic");
        assert_eq!(why(&EN, &rules, "admin").kind, "Added by sales");
        assert_eq!(event_kind(&EN, "shortvideo"), "Sent a video");
        assert_eq!(event_kind(&ZH, "nonsense"), "其他");
        assert_eq!(short_time("2026-11-22T16:05:09+08:00"), "2026-11-22 16:05");
        assert_eq!(short_time(""), "");
    }
}
