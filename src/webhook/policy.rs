//! The webhook's policy for a push: which deliveries are the same one (WeChat retries a push
//! it got no answer for), and how a push is named and described on the lead's timeline.
//!
//! These are the webhook's decisions, not WeChat's protocol, so they live here and not in
//! [`crate::wechat::inbound`].

use crate::wechat::inbound::{Body, Event, Inbound, Message};

/// Longest [`detail`], in characters.
const DETAIL_CHARS: usize = 200;

/// The key that makes WeChat's retries of this push one: `MsgId` for messages
/// (`from|created|MsgType` without one), `from|created|Event|EventKey` for events.
pub fn dedup_key(push: &Inbound) -> String {
    let (from, at) = (&push.from, push.created.0);
    match &push.body {
        Body::Message {
            msg_id: Some(id), ..
        } => id.to_string(),
        Body::Message {
            msg_id: None,
            message,
        } => format!("{from}|{at}|{}", message.msg_type()),
        Body::Event(event) => format!("{from}|{at}|{}|{}", event.name(), event.event_key()),
    }
}

/// A short stable name for logs and the lead's timeline.
///
/// Messages: `text` `image` `voice` `video` `shortvideo` `location_msg` `link`; events:
/// `follow` `scan` `unfollow` `location` `click` `view` `miniprogram` `scancode_push`
/// `scancode_waitmsg` `pic_sysphoto` `pic_photo_or_album` `pic_weixin` `location_select`
/// `template_finish` `mass_finish`; anything unknown: `other`.
pub fn kind(push: &Inbound) -> &'static str {
    match &push.body {
        Body::Message { message, .. } => match message {
            Message::Text { .. } => "text",
            Message::Image { .. } => "image",
            Message::Voice { .. } => "voice",
            Message::Video { .. } => "video",
            Message::ShortVideo { .. } => "shortvideo",
            Message::Location { .. } => "location_msg",
            Message::Link { .. } => "link",
            Message::Other { .. } => "other",
        },
        Body::Event(event) => match event {
            Event::Subscribe { .. } => "follow",
            Event::Scan { .. } => "scan",
            Event::Unsubscribe => "unfollow",
            Event::Location { .. } => "location",
            Event::Click { .. } => "click",
            Event::View { .. } => "view",
            Event::ViewMiniprogram { .. } => "miniprogram",
            Event::ScancodePush { .. } => "scancode_push",
            Event::ScancodeWaitmsg { .. } => "scancode_waitmsg",
            Event::PicSysphoto { .. } => "pic_sysphoto",
            Event::PicPhotoOrAlbum { .. } => "pic_photo_or_album",
            Event::PicWeixin { .. } => "pic_weixin",
            Event::LocationSelect { .. } => "location_select",
            Event::TemplateSendJobFinish { .. } => "template_finish",
            Event::MassSendJobFinish { .. } => "mass_finish",
            Event::Other { .. } => "other",
        },
    }
}

/// A short human detail for the timeline (at most 200 characters): the text, the key,
/// the url, the scene, or the unknown type's name.
pub fn detail(push: &Inbound) -> String {
    let full = match &push.body {
        Body::Message { message, .. } => match message {
            Message::Text { content } => content.clone(),
            Message::Image { pic_url, .. } => pic_url.clone(),
            Message::Voice {
                format,
                recognition,
                ..
            } => recognition.clone().unwrap_or_else(|| format.clone()),
            Message::Video { media_id, .. } | Message::ShortVideo { media_id, .. } => {
                media_id.clone()
            }
            Message::Location {
                latitude,
                longitude,
                label,
                ..
            } => format!("{label} ({latitude},{longitude})"),
            Message::Link { url, .. } => url.clone(),
            Message::Other { msg_type, .. } => msg_type.clone(),
        },
        Body::Event(event) => match event {
            Event::Subscribe { scene: Some(s), .. } | Event::Scan { scene: s, .. } => s.to_string(),
            Event::Location {
                latitude,
                longitude,
                ..
            } => format!("{latitude},{longitude}"),
            Event::ScancodePush { scan_result, .. }
            | Event::ScancodeWaitmsg { scan_result, .. } => {
                format!("{}: {scan_result}", event.event_key())
            }
            Event::PicSysphoto { count, .. }
            | Event::PicPhotoOrAlbum { count, .. }
            | Event::PicWeixin { count, .. } => {
                format!("{}: {count} pictures", event.event_key())
            }
            Event::LocationSelect { label, .. } => {
                format!("{}: {label}", event.event_key())
            }
            Event::TemplateSendJobFinish { status, .. }
            | Event::MassSendJobFinish { status, .. } => status.clone(),
            Event::Other { event: name, .. } => name.clone(),
            Event::Subscribe { scene: None, .. }
            | Event::Unsubscribe
            | Event::Click { .. }
            | Event::View { .. }
            | Event::ViewMiniprogram { .. } => event.event_key(),
        },
    };
    full.chars().take(DETAIL_CHARS).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{OpenId, Scene, UnixTime};

    const FROM: &str = "oyORnuP8q7ou2gfYjqLzSIWZf0rs";

    fn push(from: &str, created: i64, body: Body) -> Inbound {
        Inbound {
            to: "gh_10f6c3c3ac5a".to_owned(),
            from: OpenId::parse(from).unwrap(),
            created: UnixTime(created),
            body,
        }
    }

    fn event(created: i64, event: Event) -> Inbound {
        push(FROM, created, Body::Event(event))
    }

    fn scene(s: &str) -> Scene {
        Scene::parse(s).unwrap()
    }

    fn s(v: &str) -> String {
        v.to_owned()
    }

    #[test]
    fn messages_dedup_by_msg_id_and_fall_back_to_sender_time_and_type() {
        let text = push(
            FROM,
            1_714_112_445,
            Body::Message {
                msg_id: Some(24_513_067_352_816_459),
                message: Message::Text {
                    content: s("I'd like a quote for 500 units"),
                },
            },
        );
        assert_eq!(kind(&text), "text");
        assert_eq!(detail(&text), "I'd like a quote for 500 units");
        assert_eq!(dedup_key(&text), "24513067352816459");

        let image = push(
            FROM,
            42,
            Body::Message {
                msg_id: None,
                message: Message::Image {
                    pic_url: s("http://p"),
                    media_id: s("m"),
                },
            },
        );
        assert_eq!(dedup_key(&image), format!("{FROM}|42|image"));

        let mini = push(
            FROM,
            9,
            Body::Message {
                msg_id: Some(5),
                message: Message::Other {
                    msg_type: s("miniprogrampage"),
                    fields: vec![(s("Title"), s("T")), (s("AppId"), s("wx1"))],
                },
            },
        );
        assert_eq!(kind(&mini), "other");
        assert_eq!(detail(&mini), "miniprogrampage");
    }

    #[test]
    fn events_dedup_by_sender_time_event_and_key() {
        let ticket = Some(s("gQH47joAAAAAAAAAASxodHRwOi8v"));
        let follow = event(
            1_714_112_445,
            Event::Subscribe {
                scene: Some(scene("expo2024_booth12")),
                ticket: ticket.clone(),
                event_key: Some(s("qrscene_expo2024_booth12")),
            },
        );
        assert_eq!(kind(&follow), "follow");
        assert_eq!(detail(&follow), "expo2024_booth12");
        assert_eq!(
            dedup_key(&follow),
            format!("{FROM}|1714112445|subscribe|qrscene_expo2024_booth12")
        );

        let scan = event(
            1_714_112_500,
            Event::Scan {
                scene: scene("expo2024_booth12"),
                ticket,
            },
        );
        assert_eq!(kind(&scan), "scan");
        assert_eq!(
            dedup_key(&scan),
            format!("{FROM}|1714112500|SCAN|expo2024_booth12")
        );

        let odd_scan = event(
            1,
            Event::Other {
                event: s("SCAN"),
                fields: vec![(s("EventKey"), s("展会 A"))],
            },
        );
        assert_eq!(dedup_key(&odd_scan), format!("{FROM}|1|SCAN|展会 A"));

        let organic = event(
            1_714_112_445,
            Event::Subscribe {
                scene: None,
                ticket: None,
                event_key: Some(String::new()),
            },
        );
        assert_eq!(detail(&organic), "");
        assert_eq!(dedup_key(&organic), format!("{FROM}|1714112445|subscribe|"));

        // Without the raw key, the scene stands in for it, as the XML writer does.
        let rendered = push(
            "o1",
            5,
            Body::Event(Event::Subscribe {
                scene: Some(scene("booth")),
                ticket: None,
                event_key: None,
            }),
        );
        assert_eq!(dedup_key(&rendered), "o1|5|subscribe|qrscene_booth");

        let job = push(
            "fromuser",
            1_395_658_920,
            Body::Event(Event::TemplateSendJobFinish {
                msg_id: 200_163_836,
                status: s("success"),
            }),
        );
        assert_eq!(kind(&job), "template_finish");
        assert_eq!(
            dedup_key(&job),
            "fromuser|1395658920|TEMPLATESENDJOBFINISH|"
        );
    }

    #[test]
    fn kinds_and_details_name_what_happened() {
        let cases = [
            (Event::Unsubscribe, "unfollow", ""),
            (
                Event::Click {
                    key: s("REQUEST_QUOTE"),
                },
                "click",
                "REQUEST_QUOTE",
            ),
            (
                Event::View {
                    url: s("https://example.com/catalog"),
                    menu_id: Some(s("433418371")),
                },
                "view",
                "https://example.com/catalog",
            ),
            (
                Event::Other {
                    event: s("subscribe_msg_popup_event"),
                    fields: vec![(s("SubscribeMsgPopupEvent/List/TemplateId"), s("t1"))],
                },
                "other",
                "subscribe_msg_popup_event",
            ),
            (
                Event::PicWeixin {
                    key: s("rselfmenu_1"),
                    count: 2,
                    md5s: vec![s("a"), s("b")],
                },
                "pic_weixin",
                "rselfmenu_1: 2 pictures",
            ),
        ];
        for (e, want_kind, want_detail) in cases {
            let push = event(1, e);
            assert_eq!(
                (kind(&push), detail(&push).as_str()),
                (want_kind, want_detail)
            );
        }
    }

    #[test]
    fn detail_is_cut_to_200_characters() {
        let long = "长".repeat(300);
        let text = push(
            FROM,
            1,
            Body::Message {
                msg_id: None,
                message: Message::Text {
                    content: long.clone(),
                },
            },
        );
        let detail = detail(&text);
        assert_eq!(detail.chars().count(), 200);
        assert!(long.starts_with(&detail));
    }
}
