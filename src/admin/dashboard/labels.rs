//! The dashboard's words for what wxtag stores in short codes: why a tag was applied, what a
//! timeline entry was, which channel a scene is, and times as a person reads them.

use crate::admin::channels::ORGANIC_NAME;
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
pub fn channel_name(rules: &Rules, scene: Option<&str>) -> ChannelName {
    match scene.filter(|s| !s.is_empty()) {
        None => ChannelName {
            scene: String::new(),
            name: ORGANIC_NAME.to_owned(),
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

/// Reads a tag source (`qr:expo-2026`, `keyword:报价`, `admin`, …) as words.
pub fn why(rules: &Rules, source: &str) -> Why {
    let (kind, detail) = source.split_once(':').unwrap_or((source, ""));
    let kind = match kind {
        "follow" => "关注公众号",
        "qr" => {
            return Why {
                kind: "渠道二维码",
                detail: channel_name(rules, Some(detail)).name,
            };
        }
        "click" => "菜单点击",
        "view" => "菜单链接",
        "keyword" => "关键词",
        _ if source == ADMIN_SOURCE => "销售添加",
        _ => {
            return Why {
                kind: "其他",
                detail: source.to_owned(),
            };
        }
    };
    Why {
        kind,
        detail: detail.to_owned(),
    }
}

/// A timeline entry's kind in words.
pub fn event_kind(kind: &str) -> &'static str {
    match kind {
        "follow" => "关注",
        "scan" => "扫码",
        "unfollow" => "取关",
        "click" => "点击菜单",
        "view" => "打开菜单链接",
        "text" => "发消息",
        "image" => "发图片",
        "voice" => "发语音",
        "video" | "shortvideo" => "发视频",
        "location_msg" | "location_select" => "发位置",
        "link" => "发链接",
        "tag" => "标签变更",
        "miniprogram" => "打开小程序",
        "scancode_push" | "scancode_waitmsg" => "菜单扫一扫",
        "pic_sysphoto" | "pic_photo_or_album" | "pic_weixin" => "菜单发图",
        "template_finish" => "模板消息送达",
        "mass_finish" => "群发送达",
        _ => "其他",
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

    #[test]
    fn sources_read_as_words_and_unknown_ones_stay_visible() {
        let rules = Rules::default();
        assert_eq!(
            why(&rules, "keyword:报价"),
            Why {
                kind: "关键词",
                detail: "报价".to_owned()
            }
        );
        assert_eq!(why(&rules, "admin").kind, "销售添加");
        assert_eq!(why(&rules, "qr:expo-2026").detail, "expo-2026");
        assert_eq!(why(&rules, "view:https://x.cn/a").detail, "https://x.cn/a");
        assert_eq!(why(&rules, "import").detail, "import");
    }

    #[test]
    fn organic_channels_are_named_and_times_shortened() {
        let rules = Rules::default();
        assert_eq!(channel_name(&rules, None).name, ORGANIC_NAME);
        assert_eq!(channel_name(&rules, Some("1001")).name, "1001");
        assert_eq!(short_time("2026-11-22T16:05:09+08:00"), "2026-11-22 16:05");
        assert_eq!(short_time(""), "");
    }
}
