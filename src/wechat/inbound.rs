//! Inbound pushes: the XML WeChat POSTs (user messages and events) parsed into typed values,
//! and the safe-mode envelope around them.
//!
//! Writing a push back as XML (for `wxtag send` and tests) is [`super::push_xml`]'s job; what
//! the webhook makes of a push (its dedup key, its name on the timeline) is the webhook's.

use thiserror::Error;

use super::xml::{self, FieldError, Fields, XmlError};
use crate::domain::{OpenId, Scene, UnixTime};

/// The `EventKey` prefix of a follow through a parametric QR code.
const QR_SCENE_PREFIX: &str = "qrscene_";
/// Fields a message's `Other` variant leaves out: they are kept elsewhere.
const MESSAGE_KNOWN: [&str; 6] = [
    "ToUserName",
    "FromUserName",
    "CreateTime",
    "MsgType",
    "MsgId",
    "MsgID",
];
/// Fields an event's `Other` variant leaves out: they are kept elsewhere.
const EVENT_KNOWN: [&str; 5] = [
    "ToUserName",
    "FromUserName",
    "CreateTime",
    "MsgType",
    "Event",
];

/// Why an inbound body is not a message wxtag can read.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum InboundError {
    /// The body declares a DTD or entities; no entity is ever expanded.
    #[error("the xml declares a doctype or entities; refused, wechat never sends one")]
    Dtd,
    /// The body is not well-formed XML with an `<xml>` root.
    #[error(transparent)]
    Xml(XmlError),
    /// A field is missing or does not hold what it should.
    #[error(transparent)]
    Field(#[from] FieldError),
}

impl From<XmlError> for InboundError {
    fn from(e: XmlError) -> Self {
        match e {
            XmlError::Dtd => Self::Dtd,
            other => Self::Xml(other),
        }
    }
}

/// One push from WeChat: who sent it to which account, when, and what.
#[derive(Debug, Clone, PartialEq)]
pub struct Inbound {
    /// The account's original id (`gh_…`), from `ToUserName`.
    pub to: String,
    /// The follower, from `FromUserName`.
    pub from: OpenId,
    /// `CreateTime`, in seconds.
    pub created: UnixTime,
    /// The message or event itself.
    pub body: Body,
}

/// A user message or an event.
#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    /// Something the follower sent in the chat.
    Message {
        /// WeChat's `MsgId`, the message's dedup key.
        msg_id: Option<u64>,
        /// The content.
        message: Message,
    },
    /// Something the follower did (`MsgType` = `event`).
    Event(Event),
}

/// A message a follower sent.
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    /// Text (`text`).
    Text {
        /// What they wrote.
        content: String,
    },
    /// A picture (`image`).
    Image {
        /// Where WeChat serves the picture.
        pic_url: String,
        /// Its media id.
        media_id: String,
    },
    /// A voice note (`voice`).
    Voice {
        /// Its media id.
        media_id: String,
        /// The audio format, e.g. `amr`.
        format: String,
        /// WeChat's speech recognition, when the account has it on.
        recognition: Option<String>,
    },
    /// A video (`video`).
    Video {
        /// Its media id.
        media_id: String,
        /// The thumbnail's media id.
        thumb_media_id: String,
    },
    /// A short video (`shortvideo`).
    ShortVideo {
        /// Its media id.
        media_id: String,
        /// The thumbnail's media id.
        thumb_media_id: String,
    },
    /// A shared location (`location`).
    Location {
        /// `Location_X`.
        latitude: f64,
        /// `Location_Y`.
        longitude: f64,
        /// The map zoom.
        scale: u32,
        /// The place's description.
        label: String,
    },
    /// A shared link (`link`).
    Link {
        /// The link's title.
        title: String,
        /// The link's description.
        description: String,
        /// The address.
        url: String,
    },
    /// Any other message type, with every field beside the common ones, as sent.
    Other {
        /// `MsgType` as sent.
        msg_type: String,
        /// The other fields in document order; nested ones as `Parent/Child` paths.
        fields: Vec<(String, String)>,
    },
}

/// An event a follower caused.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A follow (`subscribe`), through a QR code or not.
    Subscribe {
        /// The QR scene, only when `EventKey` is `qrscene_` and a valid scene.
        scene: Option<Scene>,
        /// The QR ticket, when sent.
        ticket: Option<String>,
        /// `EventKey` as sent (empty, `qrscene_…`, `last_trade_no_…`, …).
        event_key: Option<String>,
    },
    /// A QR scan by someone who already follows (`SCAN`); one whose `EventKey` is not a
    /// valid [`Scene`] is kept as [`Event::Other`].
    Scan {
        /// The scene, from `EventKey` (no prefix).
        scene: Scene,
        /// The QR ticket, when sent.
        ticket: Option<String>,
    },
    /// An unfollow (`unsubscribe`).
    Unsubscribe,
    /// A periodic location report (`LOCATION`).
    Location {
        /// `Latitude`.
        latitude: f64,
        /// `Longitude`.
        longitude: f64,
        /// `Precision`.
        precision: f64,
    },
    /// A click on a menu button (`CLICK`).
    Click {
        /// The button's key.
        key: String,
    },
    /// A menu link was opened (`VIEW`).
    View {
        /// The address.
        url: String,
        /// The personalised-menu id, when sent.
        menu_id: Option<String>,
    },
    /// A menu button opened a mini program (`view_miniprogram`).
    ViewMiniprogram {
        /// The mini program page.
        pagepath: String,
        /// The personalised-menu id, when sent.
        menu_id: Option<String>,
    },
    /// The menu's scan button pushed a result (`scancode_push`).
    ScancodePush {
        /// The button's key.
        key: String,
        /// `qrcode`, `barcode`, ….
        scan_type: String,
        /// What was scanned.
        scan_result: String,
    },
    /// The menu's scan-and-wait button pushed a result (`scancode_waitmsg`).
    ScancodeWaitmsg {
        /// The button's key.
        key: String,
        /// `qrcode`, `barcode`, ….
        scan_type: String,
        /// What was scanned.
        scan_result: String,
    },
    /// Photos from the menu's camera button (`pic_sysphoto`).
    PicSysphoto {
        /// The button's key.
        key: String,
        /// How many pictures.
        count: u32,
        /// Each picture's MD5.
        md5s: Vec<String>,
    },
    /// Photos from the menu's camera-or-album button (`pic_photo_or_album`).
    PicPhotoOrAlbum {
        /// The button's key.
        key: String,
        /// How many pictures.
        count: u32,
        /// Each picture's MD5.
        md5s: Vec<String>,
    },
    /// Photos from the menu's WeChat-album button (`pic_weixin`).
    PicWeixin {
        /// The button's key.
        key: String,
        /// How many pictures.
        count: u32,
        /// Each picture's MD5.
        md5s: Vec<String>,
    },
    /// A place chosen with the menu's location button (`location_select`).
    LocationSelect {
        /// The button's key.
        key: String,
        /// `Location_X` (latitude).
        x: f64,
        /// `Location_Y` (longitude).
        y: f64,
        /// The map zoom.
        scale: u32,
        /// The place's description.
        label: String,
        /// The point of interest's name.
        poiname: String,
    },
    /// A template message's delivery result (`TEMPLATESENDJOBFINISH`).
    TemplateSendJobFinish {
        /// `MsgID` of the template message.
        msg_id: u64,
        /// `success`, `failed:user block`, ….
        status: String,
    },
    /// A broadcast's result (`MASSSENDJOBFINISH`).
    MassSendJobFinish {
        /// `MsgID` of the broadcast.
        msg_id: u64,
        /// `send success`, `send fail`, `err(…)`.
        status: String,
        /// Followers targeted.
        total_count: u32,
        /// Followers left after filtering.
        filter_count: u32,
        /// Sent successfully.
        sent_count: u32,
        /// Failed.
        error_count: u32,
    },
    /// Any other event, with every field beside the common ones, as sent.
    Other {
        /// `Event` as sent.
        event: String,
        /// The other fields in document order; nested ones as `Parent/Child` paths.
        fields: Vec<(String, String)>,
    },
}

/// Parses a plaintext push (or a decrypted safe-mode one) into an [`Inbound`].
pub fn parse(xml: &str) -> Result<Inbound, InboundError> {
    let root = xml::parse_document(xml)?;
    let f = Fields(&root);
    let from = f.required("FromUserName")?;
    let from = OpenId::parse(&from).map_err(|_| {
        FieldError::invalid("FromUserName", &from, "an openid (1-64 of A-Z a-z 0-9 _ -)")
    })?;
    let created = f.parsed::<i64>("CreateTime", "a whole number of seconds")?;
    if created < 0 {
        return Err(
            FieldError::invalid("CreateTime", &created.to_string(), "a time after 1970").into(),
        );
    }
    let msg_type = f.required("MsgType")?;
    let body = if msg_type.eq_ignore_ascii_case("event") {
        Body::Event(parse_event(&f)?)
    } else {
        Body::Message {
            msg_id: f.parsed_opt(&["MsgId", "MsgID"], "a 64-bit message id")?,
            message: parse_message(&f, msg_type)?,
        }
    };
    Ok(Inbound {
        to: f.required("ToUserName")?,
        from,
        created: UnixTime(created),
        body,
    })
}

fn parse_message(f: &Fields<'_>, msg_type: String) -> Result<Message, InboundError> {
    let media = || (f.text("MediaId"), f.text("ThumbMediaId"));
    Ok(match msg_type.to_ascii_lowercase().as_str() {
        "text" => Message::Text {
            content: f.text("Content"),
        },
        "image" => Message::Image {
            pic_url: f.text("PicUrl"),
            media_id: f.text("MediaId"),
        },
        "voice" => Message::Voice {
            media_id: f.text("MediaId"),
            format: f.text("Format"),
            recognition: f.optional("Recognition"),
        },
        "video" => {
            let (media_id, thumb_media_id) = media();
            Message::Video {
                media_id,
                thumb_media_id,
            }
        }
        "shortvideo" => {
            let (media_id, thumb_media_id) = media();
            Message::ShortVideo {
                media_id,
                thumb_media_id,
            }
        }
        "location" => Message::Location {
            latitude: f.float("Location_X")?,
            longitude: f.float("Location_Y")?,
            scale: f.parsed("Scale", "a whole number")?,
            label: f.text("Label"),
        },
        "link" => Message::Link {
            title: f.text("Title"),
            description: f.text("Description"),
            url: f.text("Url"),
        },
        _ => Message::Other {
            fields: f.0.leaves_except(&MESSAGE_KNOWN),
            msg_type,
        },
    })
}

fn parse_event(f: &Fields<'_>) -> Result<Event, InboundError> {
    let name = f.required("Event")?;
    let scan_code = || {
        (
            f.text("EventKey"),
            f.text("ScanCodeInfo/ScanType"),
            f.text("ScanCodeInfo/ScanResult"),
        )
    };
    let pics = || -> Result<_, FieldError> {
        let md5s: Vec<String> =
            f.0.all("SendPicsInfo/PicList/item/PicMd5Sum")
                .into_iter()
                .map(|e| e.text.clone())
                .collect();
        let count = match f.optional("SendPicsInfo/Count") {
            Some(_) => f.parsed("SendPicsInfo/Count", "a whole number")?,
            None => u32::try_from(md5s.len()).unwrap_or(u32::MAX),
        };
        Ok((f.text("EventKey"), count, md5s))
    };
    let job_id = || f.parsed_required(&["MsgID", "MsgId"], "a 64-bit message id");
    let count = |path: &'static str| f.parsed::<u32>(path, "a whole number");
    Ok(match name.to_ascii_lowercase().as_str() {
        "subscribe" => {
            let event_key = f.optional("EventKey");
            let scene = event_key
                .as_deref()
                .and_then(|k| k.strip_prefix(QR_SCENE_PREFIX))
                .and_then(|s| Scene::parse(s).ok());
            Event::Subscribe {
                scene,
                ticket: f.optional("Ticket"),
                event_key,
            }
        }
        "scan" => match f.optional("EventKey").map(|k| Scene::parse(&k)) {
            Some(Ok(scene)) => Event::Scan {
                scene,
                ticket: f.optional("Ticket"),
            },
            _ => other_event(f, name),
        },
        "unsubscribe" => Event::Unsubscribe,
        "location" => Event::Location {
            latitude: f.float("Latitude")?,
            longitude: f.float("Longitude")?,
            precision: f.float("Precision")?,
        },
        "click" => Event::Click {
            key: f.text("EventKey"),
        },
        "view" => Event::View {
            url: f.text("EventKey"),
            menu_id: f.optional("MenuId"),
        },
        "view_miniprogram" => Event::ViewMiniprogram {
            pagepath: f.text("EventKey"),
            menu_id: f.optional("MenuId"),
        },
        "scancode_push" => {
            let (key, scan_type, scan_result) = scan_code();
            Event::ScancodePush {
                key,
                scan_type,
                scan_result,
            }
        }
        "scancode_waitmsg" => {
            let (key, scan_type, scan_result) = scan_code();
            Event::ScancodeWaitmsg {
                key,
                scan_type,
                scan_result,
            }
        }
        "pic_sysphoto" => {
            let (key, count, md5s) = pics()?;
            Event::PicSysphoto { key, count, md5s }
        }
        "pic_photo_or_album" => {
            let (key, count, md5s) = pics()?;
            Event::PicPhotoOrAlbum { key, count, md5s }
        }
        "pic_weixin" => {
            let (key, count, md5s) = pics()?;
            Event::PicWeixin { key, count, md5s }
        }
        "location_select" => Event::LocationSelect {
            key: f.text("EventKey"),
            x: f.float("SendLocationInfo/Location_X")?,
            y: f.float("SendLocationInfo/Location_Y")?,
            scale: f.parsed("SendLocationInfo/Scale", "a whole number")?,
            label: f.text("SendLocationInfo/Label"),
            poiname: f.text("SendLocationInfo/Poiname"),
        },
        "templatesendjobfinish" => Event::TemplateSendJobFinish {
            msg_id: job_id()?,
            status: f.text("Status"),
        },
        "masssendjobfinish" => Event::MassSendJobFinish {
            msg_id: job_id()?,
            status: f.text("Status"),
            total_count: count("TotalCount")?,
            filter_count: count("FilterCount")?,
            sent_count: count("SentCount")?,
            error_count: count("ErrorCount")?,
        },
        _ => other_event(f, name),
    })
}

fn other_event(f: &Fields<'_>, event: String) -> Event {
    Event::Other {
        fields: f.0.leaves_except(&EVENT_KNOWN),
        event,
    }
}

impl Message {
    /// `MsgType` as WeChat sends it.
    pub fn msg_type(&self) -> &str {
        match self {
            Message::Text { .. } => "text",
            Message::Image { .. } => "image",
            Message::Voice { .. } => "voice",
            Message::Video { .. } => "video",
            Message::ShortVideo { .. } => "shortvideo",
            Message::Location { .. } => "location",
            Message::Link { .. } => "link",
            Message::Other { msg_type, .. } => msg_type,
        }
    }
}

impl Event {
    /// The `Event` name as WeChat usually spells it (`subscribe`, `SCAN`, `CLICK`, …).
    pub fn name(&self) -> &str {
        match self {
            Event::Subscribe { .. } => "subscribe",
            Event::Scan { .. } => "SCAN",
            Event::Unsubscribe => "unsubscribe",
            Event::Location { .. } => "LOCATION",
            Event::Click { .. } => "CLICK",
            Event::View { .. } => "VIEW",
            Event::ViewMiniprogram { .. } => "view_miniprogram",
            Event::ScancodePush { .. } => "scancode_push",
            Event::ScancodeWaitmsg { .. } => "scancode_waitmsg",
            Event::PicSysphoto { .. } => "pic_sysphoto",
            Event::PicPhotoOrAlbum { .. } => "pic_photo_or_album",
            Event::PicWeixin { .. } => "pic_weixin",
            Event::LocationSelect { .. } => "location_select",
            Event::TemplateSendJobFinish { .. } => "TEMPLATESENDJOBFINISH",
            Event::MassSendJobFinish { .. } => "MASSSENDJOBFINISH",
            Event::Other { event, .. } => event,
        }
    }

    /// `EventKey` as sent, or empty when the event has none.
    pub fn event_key(&self) -> String {
        match self {
            Event::Subscribe {
                scene, event_key, ..
            } => match (event_key, scene) {
                (Some(key), _) => key.clone(),
                (None, Some(scene)) => format!("{QR_SCENE_PREFIX}{scene}"),
                (None, None) => String::new(),
            },
            Event::Scan { scene, .. } => scene.as_str().to_owned(),
            Event::Click { key }
            | Event::ScancodePush { key, .. }
            | Event::ScancodeWaitmsg { key, .. }
            | Event::PicSysphoto { key, .. }
            | Event::PicPhotoOrAlbum { key, .. }
            | Event::PicWeixin { key, .. }
            | Event::LocationSelect { key, .. } => key.clone(),
            Event::View { url, .. } => url.clone(),
            Event::ViewMiniprogram { pagepath, .. } => pagepath.clone(),
            Event::Other { fields, .. } => fields
                .iter()
                .find(|(name, _)| name == "EventKey")
                .map(|(_, value)| value.clone())
                .unwrap_or_default(),
            Event::Unsubscribe
            | Event::Location { .. }
            | Event::TemplateSendJobFinish { .. }
            | Event::MassSendJobFinish { .. } => String::new(),
        }
    }
}

/// The outer XML of an encrypted push: `Encrypt` (and, in compatible mode, the plaintext
/// fields beside it, which are ignored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncryptedEnvelope {
    /// The account's original id, when sent.
    pub to_user_name: Option<String>,
    /// The base64 ciphertext, exactly as in the XML.
    pub encrypt: String,
}

impl EncryptedEnvelope {
    /// Reads the envelope; the same DTD refusal as [`parse`] applies.
    pub fn parse(xml: &str) -> Result<Self, InboundError> {
        let root = xml::parse_document(xml)?;
        let f = Fields(&root);
        Ok(Self {
            to_user_name: f.optional("ToUserName"),
            encrypt: f.required("Encrypt")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use rand::RngExt;

    use super::*;

    const HEAD: &str = "<xml>\n  <ToUserName><![CDATA[gh_10f6c3c3ac5a]]></ToUserName>\n  <FromUserName><![CDATA[oyORnuP8q7ou2gfYjqLzSIWZf0rs]]></FromUserName>\n";
    const TICKET: &str = "gQH47joAAAAAAAAAASxodHRwOi8vd2VpeGluLnFxLmNvbS9xL2taZ2Z3TVRtNzJXV1Brb3ZhYmJJAAIEZ23sUwMEmm3sUw==";

    /// A sample event: the common head, then `rest` inside `<xml>`.
    fn event_xml(created: u64, event: &str, rest: &str) -> String {
        format!(
            "{HEAD}  <CreateTime>{created}</CreateTime>\n  <MsgType><![CDATA[event]]></MsgType>\n  <Event><![CDATA[{event}]]></Event>\n{rest}</xml>"
        )
    }

    fn event_of(xml: &str) -> Event {
        match parse(xml).unwrap().body {
            Body::Event(e) => e,
            other => panic!("not an event: {other:?}"),
        }
    }

    fn scene(s: &str) -> Scene {
        Scene::parse(s).unwrap()
    }

    fn sample_text() -> String {
        format!(
            "{HEAD}  <CreateTime>1714112445</CreateTime>\n  <MsgType><![CDATA[text]]></MsgType>\n  <Content><![CDATA[I'd like a quote for 500 units]]></Content>\n  <MsgId>24513067352816459</MsgId>\n</xml>"
        )
    }

    fn assert_round_trips(inbound: &Inbound) {
        assert_eq!(&parse(&inbound.to_xml()).unwrap(), inbound);
    }

    #[test]
    fn text_message_sample() {
        let inbound = parse(&sample_text()).unwrap();
        assert_eq!(inbound.to, "gh_10f6c3c3ac5a");
        assert_eq!(inbound.from.as_str(), "oyORnuP8q7ou2gfYjqLzSIWZf0rs");
        assert_eq!(inbound.created, UnixTime(1_714_112_445));
        assert_eq!(
            inbound.body,
            Body::Message {
                msg_id: Some(24_513_067_352_816_459),
                message: Message::Text {
                    content: "I'd like a quote for 500 units".to_owned()
                }
            }
        );
        assert_round_trips(&inbound);
    }

    #[test]
    fn subscribe_through_a_qr_code_carries_the_scene() {
        let xml = event_xml(
            1_714_112_445,
            "subscribe",
            &format!(
                "  <EventKey><![CDATA[qrscene_expo2024_booth12]]></EventKey>\n  <Ticket><![CDATA[{TICKET}]]></Ticket>\n"
            ),
        );
        let inbound = parse(&xml).unwrap();
        assert_eq!(
            inbound.body,
            Body::Event(Event::Subscribe {
                scene: Some(scene("expo2024_booth12")),
                ticket: Some(TICKET.to_owned()),
                event_key: Some("qrscene_expo2024_booth12".to_owned()),
            })
        );
        assert_round_trips(&inbound);
    }

    #[test]
    fn scan_by_a_follower_has_no_prefix() {
        let xml = event_xml(
            1_714_112_500,
            "SCAN",
            &format!(
                "  <EventKey><![CDATA[expo2024_booth12]]></EventKey>\n  <Ticket><![CDATA[{TICKET}]]></Ticket>\n"
            ),
        );
        let inbound = parse(&xml).unwrap();
        assert_eq!(
            inbound.body,
            Body::Event(Event::Scan {
                scene: scene("expo2024_booth12"),
                ticket: Some(TICKET.to_owned())
            })
        );
        // Integer scenes come as decimal text.
        let xml = event_xml(1, "SCAN", "<EventKey><![CDATA[123123]]></EventKey>");
        assert_eq!(
            event_of(&xml),
            Event::Scan {
                scene: Scene::from_id(123_123),
                ticket: None
            }
        );
        // A key that is no scene is kept whole, as an unknown event.
        let xml = event_xml(1, "SCAN", "<EventKey><![CDATA[展会 A]]></EventKey>");
        let inbound = parse(&xml).unwrap();
        assert_eq!(
            inbound.body,
            Body::Event(Event::Other {
                event: "SCAN".to_owned(),
                fields: vec![("EventKey".to_owned(), "展会 A".to_owned())]
            })
        );
    }

    #[test]
    fn plain_subscribe_and_unsubscribe() {
        let follow = parse(&event_xml(
            1_714_112_445,
            "subscribe",
            "  <EventKey><![CDATA[]]></EventKey>\n",
        ))
        .unwrap();
        assert_eq!(
            follow.body,
            Body::Event(Event::Subscribe {
                scene: None,
                ticket: None,
                event_key: Some(String::new())
            })
        );
        assert_round_trips(&follow);

        let unfollow = parse(&event_xml(1_714_199_999, "unsubscribe", "")).unwrap();
        assert_eq!(unfollow.body, Body::Event(Event::Unsubscribe));
        assert_round_trips(&unfollow);
    }

    #[test]
    fn organic_follows_keep_the_raw_event_key() {
        let trade = event_of(&event_xml(
            1,
            "subscribe",
            "<EventKey><![CDATA[last_trade_no_4200000123]]></EventKey>",
        ));
        assert_eq!(
            trade,
            Event::Subscribe {
                scene: None,
                ticket: None,
                event_key: Some("last_trade_no_4200000123".to_owned())
            }
        );
        // A scene that is not a valid Scene is an organic follow too.
        let odd = event_of(&event_xml(
            1,
            "subscribe",
            "<EventKey><![CDATA[qrscene_展会]]></EventKey>",
        ));
        assert!(matches!(odd, Event::Subscribe { scene: None, .. }));
        // The prefix is stripped once, not everywhere.
        let twice = event_of(&event_xml(
            1,
            "subscribe",
            "<EventKey><![CDATA[qrscene_qrscene_x]]></EventKey>",
        ));
        assert!(
            matches!(&twice, Event::Subscribe { scene: Some(s), .. } if s.as_str() == "qrscene_x")
        );
        // A prefix in the middle is no prefix.
        let middle = event_of(&event_xml(
            1,
            "subscribe",
            "<EventKey><![CDATA[x_qrscene_y]]></EventKey>",
        ));
        assert!(matches!(middle, Event::Subscribe { scene: None, .. }));
    }

    #[test]
    fn event_names_are_compared_without_case() {
        let key = "<EventKey><![CDATA[K]]></EventKey>";
        for name in ["CLICK", "click", "Click"] {
            assert_eq!(
                event_of(&event_xml(1, name, key)),
                Event::Click {
                    key: "K".to_owned()
                }
            );
        }
        for name in ["SUBSCRIBE", "Subscribe"] {
            assert!(matches!(
                event_of(&event_xml(1, name, "")),
                Event::Subscribe { .. }
            ));
        }
        assert!(matches!(
            event_of(&event_xml(1, "scan", "<EventKey>7</EventKey>")),
            Event::Scan { .. }
        ));
        assert_eq!(
            event_of(&event_xml(1, "UNSUBSCRIBE", "")),
            Event::Unsubscribe
        );
    }

    #[test]
    fn click_and_view_samples() {
        let click = parse(&event_xml(
            1_714_112_600,
            "CLICK",
            "  <EventKey><![CDATA[REQUEST_QUOTE]]></EventKey>\n",
        ))
        .unwrap();
        assert_eq!(
            click.body,
            Body::Event(Event::Click {
                key: "REQUEST_QUOTE".to_owned()
            })
        );
        assert_round_trips(&click);

        let view = parse(&event_xml(
            1_714_112_700,
            "VIEW",
            "  <EventKey><![CDATA[https://example.com/catalog]]></EventKey>\n  <MenuId>433418371</MenuId>\n",
        ))
        .unwrap();
        assert_eq!(
            view.body,
            Body::Event(Event::View {
                url: "https://example.com/catalog".to_owned(),
                menu_id: Some("433418371".to_owned())
            })
        );
        assert_round_trips(&view);
    }

    #[test]
    fn menu_scan_pictures_and_location_samples() {
        let push = event_of(&event_xml(
            1,
            "scancode_push",
            "<EventKey><![CDATA[rselfmenu_0_1]]></EventKey>\n  <ScanCodeInfo><ScanType><![CDATA[qrcode]]></ScanType><ScanResult><![CDATA[1]]></ScanResult></ScanCodeInfo>\n",
        ));
        assert_eq!(
            push,
            Event::ScancodePush {
                key: "rselfmenu_0_1".to_owned(),
                scan_type: "qrcode".to_owned(),
                scan_result: "1".to_owned()
            }
        );

        let one = event_of(&event_xml(
            1,
            "pic_sysphoto",
            "<EventKey><![CDATA[rselfmenu_1_0]]></EventKey>\n  <SendPicsInfo><Count>1</Count><PicList><item><PicMd5Sum><![CDATA[1b5f7c23b5bf75682a53e7b6d163e185]]></PicMd5Sum></item></PicList></SendPicsInfo>\n",
        ));
        assert_eq!(
            one,
            Event::PicSysphoto {
                key: "rselfmenu_1_0".to_owned(),
                count: 1,
                md5s: vec!["1b5f7c23b5bf75682a53e7b6d163e185".to_owned()]
            }
        );
        let two = event_of(&event_xml(
            1,
            "pic_photo_or_album",
            "<EventKey><![CDATA[rselfmenu_1_1]]></EventKey><SendPicsInfo><Count>2</Count><PicList><item><PicMd5Sum><![CDATA[aaaa]]></PicMd5Sum></item><item><PicMd5Sum><![CDATA[bbbb]]></PicMd5Sum></item></PicList></SendPicsInfo>",
        ));
        assert_eq!(
            two,
            Event::PicPhotoOrAlbum {
                key: "rselfmenu_1_1".to_owned(),
                count: 2,
                md5s: vec!["aaaa".to_owned(), "bbbb".to_owned()]
            }
        );

        let select = event_of(&event_xml(
            1,
            "location_select",
            "<EventKey><![CDATA[rselfmenu_2_0]]></EventKey>\n  <SendLocationInfo><Location_X><![CDATA[23]]></Location_X><Location_Y><![CDATA[113]]></Location_Y>\n  <Scale><![CDATA[15]]></Scale><Label><![CDATA[广州市海珠区]]></Label><Poiname><![CDATA[广州塔]]></Poiname></SendLocationInfo>\n",
        ));
        assert_eq!(
            select,
            Event::LocationSelect {
                key: "rselfmenu_2_0".to_owned(),
                x: 23.0,
                y: 113.0,
                scale: 15,
                label: "广州市海珠区".to_owned(),
                poiname: "广州塔".to_owned()
            }
        );
    }

    #[test]
    fn template_job_finish_uses_msg_id_in_capitals() {
        let xml = "<xml>\n  <ToUserName><![CDATA[touser]]></ToUserName>\n  <FromUserName><![CDATA[fromuser]]></FromUserName>\n  <CreateTime>1395658920</CreateTime>\n  <MsgType><![CDATA[event]]></MsgType>\n  <Event><![CDATA[TEMPLATESENDJOBFINISH]]></Event>\n  <MsgID>200163836</MsgID>\n  <Status><![CDATA[success]]></Status>\n</xml>";
        let inbound = parse(xml).unwrap();
        assert_eq!(
            inbound.body,
            Body::Event(Event::TemplateSendJobFinish {
                msg_id: 200_163_836,
                status: "success".to_owned()
            })
        );
        assert_round_trips(&inbound);
        // Without any MsgID the event is refused.
        let missing = xml.replace("<MsgID>200163836</MsgID>", "");
        assert_eq!(
            parse(&missing),
            Err(InboundError::Field(FieldError::Missing { field: "MsgID" }))
        );
    }

    #[test]
    fn unknown_types_keep_every_raw_field() {
        let xml = event_xml(
            7,
            "subscribe_msg_popup_event",
            "<SubscribeMsgPopupEvent><List><TemplateId><![CDATA[t1]]></TemplateId><SubscribeStatusString><![CDATA[accept]]></SubscribeStatusString></List></SubscribeMsgPopupEvent>",
        );
        let inbound = parse(&xml).unwrap();
        assert_eq!(
            inbound.body,
            Body::Event(Event::Other {
                event: "subscribe_msg_popup_event".to_owned(),
                fields: vec![
                    (
                        "SubscribeMsgPopupEvent/List/TemplateId".to_owned(),
                        "t1".to_owned()
                    ),
                    (
                        "SubscribeMsgPopupEvent/List/SubscribeStatusString".to_owned(),
                        "accept".to_owned()
                    ),
                ]
            })
        );
        assert_round_trips(&inbound);

        let msg = format!(
            "{HEAD}<CreateTime>9</CreateTime><MsgType><![CDATA[miniprogrampage]]></MsgType><Title><![CDATA[T]]></Title><AppId>wx1</AppId><MsgId>5</MsgId></xml>"
        );
        let inbound = parse(&msg).unwrap();
        assert_eq!(
            inbound.body,
            Body::Message {
                msg_id: Some(5),
                message: Message::Other {
                    msg_type: "miniprogrampage".to_owned(),
                    fields: vec![
                        ("Title".to_owned(), "T".to_owned()),
                        ("AppId".to_owned(), "wx1".to_owned())
                    ]
                }
            }
        );
        assert_round_trips(&inbound);
    }

    #[test]
    fn dedup_key_without_msg_id_falls_back() {
        let xml = format!(
            "{HEAD}<CreateTime>42</CreateTime><MsgType>image</MsgType><PicUrl>http://p</PicUrl><MediaId>m</MediaId></xml>"
        );
        let inbound = parse(&xml).unwrap();
        // Values may be bare as well as CDATA, and entities resolve.
        assert_eq!(
            inbound.body,
            Body::Message {
                msg_id: None,
                message: Message::Image {
                    pic_url: "http://p".to_owned(),
                    media_id: "m".to_owned()
                }
            }
        );
    }

    #[test]
    fn entities_resolve_only_the_predefined_five_and_char_refs() {
        let xml = format!(
            "{HEAD}<CreateTime>1</CreateTime><MsgType>text</MsgType><Content>&lt;a&gt; &amp; &apos;&quot; &#20320;&#x597D;</Content></xml>"
        );
        assert!(matches!(
            parse(&xml).unwrap().body,
            Body::Message { message: Message::Text { content }, .. } if content == "<a> & '\" 你好"
        ));
        let custom = xml.replace("&amp;", "&lol;");
        assert!(matches!(
            parse(&custom),
            Err(InboundError::Xml(XmlError::UnknownEntity { .. }))
        ));
    }

    #[test]
    fn dtds_and_entity_bombs_are_refused() {
        let laughs = r#"<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<xml><ToUserName>gh</ToUserName><FromUserName>o1</FromUserName><CreateTime>1</CreateTime><MsgType>text</MsgType><Content>&lol3;</Content></xml>"#;
        assert_eq!(parse(laughs), Err(InboundError::Dtd));
        let external = r#"<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><xml><ToUserName>gh</ToUserName><FromUserName>o1</FromUserName><CreateTime>1</CreateTime><MsgType>text</MsgType><Content>&xxe;</Content></xml>"#;
        assert_eq!(parse(external), Err(InboundError::Dtd));
        assert_eq!(EncryptedEnvelope::parse(external), Err(InboundError::Dtd));
        let bare_doctype = "<!DOCTYPE xml><xml><Encrypt>x</Encrypt></xml>";
        assert_eq!(
            EncryptedEnvelope::parse(bare_doctype),
            Err(InboundError::Dtd)
        );
        // An entity used without any declaration is still not expanded.
        let undeclared = "<xml><Encrypt>&xxe;</Encrypt></xml>";
        assert!(matches!(
            EncryptedEnvelope::parse(undeclared),
            Err(InboundError::Xml(XmlError::UnknownEntity { .. }))
        ));
    }

    #[test]
    fn missing_or_bad_common_fields_are_typed_errors() {
        let ok = sample_text();
        let cases: [(String, InboundError); 6] = [
            (
                ok.replace(
                    "<FromUserName><![CDATA[oyORnuP8q7ou2gfYjqLzSIWZf0rs]]></FromUserName>",
                    "",
                ),
                InboundError::Field(FieldError::Missing {
                    field: "FromUserName",
                }),
            ),
            (
                ok.replace("<MsgType><![CDATA[text]]></MsgType>", ""),
                InboundError::Field(FieldError::Missing { field: "MsgType" }),
            ),
            (
                ok.replace("<CreateTime>1714112445</CreateTime>", ""),
                InboundError::Field(FieldError::Missing {
                    field: "CreateTime",
                }),
            ),
            (
                ok.replace("1714112445", "1714112445000.5"),
                InboundError::Field(FieldError::Invalid {
                    field: "CreateTime",
                    value: "1714112445000.5".to_owned(),
                    expected: "a whole number of seconds".to_owned(),
                }),
            ),
            (
                ok.replace("24513067352816459", "abc"),
                InboundError::Field(FieldError::Invalid {
                    field: "MsgId",
                    value: "abc".to_owned(),
                    expected: "a 64-bit message id".to_owned(),
                }),
            ),
            (
                ok.replace("<xml>", "<msg>").replace("</xml>", "</msg>"),
                InboundError::Xml(XmlError::WrongRoot {
                    found: "msg".to_owned(),
                }),
            ),
        ];
        for (xml, expected) in cases {
            assert_eq!(parse(&xml), Err(expected), "{xml}");
        }
        let bad_openid = ok.replace("oyORnuP8q7ou2gfYjqLzSIWZf0rs", "a:b");
        assert!(matches!(
            parse(&bad_openid),
            Err(InboundError::Field(FieldError::Invalid {
                field: "FromUserName",
                ..
            }))
        ));
        assert!(matches!(
            parse(&ok.replace("1714112445", "-5")),
            Err(InboundError::Field(FieldError::Invalid {
                field: "CreateTime",
                ..
            }))
        ));
        let nan = event_xml(
            1,
            "LOCATION",
            "<Latitude>NaN</Latitude><Longitude>1</Longitude><Precision>1</Precision>",
        );
        assert!(matches!(
            parse(&nan),
            Err(InboundError::Field(FieldError::Invalid {
                field: "Latitude",
                ..
            }))
        ));
    }

    #[test]
    fn truncated_and_non_xml_bodies_are_refused() {
        let full = sample_text();
        let end = full.len();
        for (i, _) in full.char_indices().filter(|&(i, _)| i < end) {
            assert!(parse(&full[..i]).is_err(), "prefix of {i} bytes parsed");
        }
        for junk in [
            "",
            "   ",
            "success",
            "{\"json\": true}",
            "<xml>",
            "<xml></xml><xml></xml>",
            "<xml></xml>trailing",
            "<xml><a></b></xml>",
            "<xml><a>&</a></xml>",
            "<<<>>>",
            &format!("{}{}", "<xml>".repeat(20), "</xml>".repeat(20)),
        ] {
            assert!(parse(junk).is_err(), "{junk:?} parsed");
        }
        assert_eq!(
            parse("<xml>"),
            Err(InboundError::Xml(XmlError::Truncated {
                open: "xml".to_owned()
            }))
        );
        assert_eq!(parse(""), Err(InboundError::Xml(XmlError::Empty)));
    }

    #[test]
    fn random_garbage_never_panics() {
        let mut rng = rand::rng();
        let alphabet: Vec<char> = "<>/![]CDATA&;#x\"'= \nxmlMsgTypeevent中\u{0}"
            .chars()
            .collect();
        let sample = sample_text();
        let bytes = sample.as_bytes();
        for round in 0..3000 {
            let text: String = if round % 2 == 0 {
                let len = rng.random_range(0..120);
                (0..len)
                    .map(|_| alphabet[rng.random_range(0..alphabet.len())])
                    .collect()
            } else {
                let mut mutated = bytes.to_vec();
                for _ in 0..rng.random_range(1..6) {
                    let at = rng.random_range(0..mutated.len());
                    mutated[at] = rng.random();
                }
                String::from_utf8_lossy(&mutated).into_owned()
            };
            // Any outcome is fine as long as it is a value, not a panic.
            let _ = parse(&text);
            let _ = EncryptedEnvelope::parse(&text);
        }
    }

    #[test]
    fn encrypted_envelopes_in_safe_and_compatible_mode() {
        let safe = "<xml><ToUserName><![CDATA[gh_97417a04a28d]]></ToUserName><Encrypt><![CDATA[D7yz+/==]]></Encrypt></xml>";
        let envelope = EncryptedEnvelope::parse(safe).unwrap();
        assert_eq!(
            envelope,
            EncryptedEnvelope {
                to_user_name: Some("gh_97417a04a28d".to_owned()),
                encrypt: "D7yz+/==".to_owned()
            }
        );
        assert_eq!(envelope.to_xml(), safe);
        let compatible = format!(
            "{}<Encrypt><![CDATA[abc]]></Encrypt></xml>",
            sample_text().trim_end_matches("</xml>")
        );
        assert_eq!(
            EncryptedEnvelope::parse(&compatible).unwrap().encrypt,
            "abc"
        );
        assert_eq!(
            EncryptedEnvelope::parse(&sample_text()),
            Err(InboundError::Field(FieldError::Missing {
                field: "Encrypt"
            }))
        );
        let bare = EncryptedEnvelope {
            to_user_name: None,
            encrypt: "x".to_owned(),
        };
        assert_eq!(EncryptedEnvelope::parse(&bare.to_xml()).unwrap(), bare);
    }
}
