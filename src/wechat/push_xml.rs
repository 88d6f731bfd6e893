//! Writing a push back as the XML WeChat sends: what `wxtag send` posts, and what tests and
//! benchmarks build their pushes with. [`super::inbound::parse`] reads it back unchanged.

use super::inbound::{Body, EncryptedEnvelope, Event, Inbound, Message};
use super::xml::XmlWriter;

impl Inbound {
    /// Renders the push as WeChat sends it (CDATA for text); `parse` reads it back unchanged.
    pub fn to_xml(&self) -> String {
        let mut w = XmlWriter::new();
        w.cdata("ToUserName", &self.to)
            .cdata("FromUserName", self.from.as_str())
            .bare("CreateTime", self.created.0);
        match &self.body {
            Body::Message { msg_id, message } => {
                w.cdata("MsgType", message.msg_type());
                message.write_fields(&mut w);
                if let Some(id) = msg_id {
                    w.bare("MsgId", id);
                }
            }
            Body::Event(event) => {
                w.cdata("MsgType", "event").cdata("Event", event.name());
                event.write_fields(&mut w);
            }
        }
        w.finish()
    }
}

impl EncryptedEnvelope {
    /// Renders the envelope as WeChat sends it in safe mode.
    pub fn to_xml(&self) -> String {
        let mut w = XmlWriter::new();
        if let Some(to) = &self.to_user_name {
            w.cdata("ToUserName", to);
        }
        w.cdata("Encrypt", &self.encrypt);
        w.finish()
    }
}

impl Message {
    fn write_fields(&self, w: &mut XmlWriter) {
        match self {
            Message::Text { content } => w.cdata("Content", content),
            Message::Image { pic_url, media_id } => {
                w.cdata("PicUrl", pic_url).cdata("MediaId", media_id)
            }
            Message::Voice {
                media_id,
                format,
                recognition,
            } => {
                w.cdata("MediaId", media_id).cdata("Format", format);
                if let Some(r) = recognition {
                    w.cdata("Recognition", r);
                }
                w
            }
            Message::Video {
                media_id,
                thumb_media_id,
            }
            | Message::ShortVideo {
                media_id,
                thumb_media_id,
            } => w
                .cdata("MediaId", media_id)
                .cdata("ThumbMediaId", thumb_media_id),
            Message::Location {
                latitude,
                longitude,
                scale,
                label,
            } => w
                .bare("Location_X", latitude)
                .bare("Location_Y", longitude)
                .bare("Scale", scale)
                .cdata("Label", label),
            Message::Link {
                title,
                description,
                url,
            } => w
                .cdata("Title", title)
                .cdata("Description", description)
                .cdata("Url", url),
            Message::Other { fields, .. } => w.fields(fields),
        };
    }
}

impl Event {
    fn write_fields(&self, w: &mut XmlWriter) {
        let key = self.event_key();
        match self {
            Event::Subscribe {
                scene,
                ticket,
                event_key,
            } => {
                if event_key.is_some() || scene.is_some() {
                    w.cdata("EventKey", &key);
                }
                if let Some(t) = ticket {
                    w.cdata("Ticket", t);
                }
            }
            Event::Scan { ticket, .. } => {
                w.cdata("EventKey", &key);
                if let Some(t) = ticket {
                    w.cdata("Ticket", t);
                }
            }
            Event::Unsubscribe => {}
            Event::Location {
                latitude,
                longitude,
                precision,
            } => {
                w.bare("Latitude", latitude)
                    .bare("Longitude", longitude)
                    .bare("Precision", precision);
            }
            Event::Click { .. } => {
                w.cdata("EventKey", &key);
            }
            Event::View { menu_id, .. } | Event::ViewMiniprogram { menu_id, .. } => {
                w.cdata("EventKey", &key);
                if let Some(id) = menu_id {
                    w.bare("MenuId", id);
                }
            }
            Event::ScancodePush {
                scan_type,
                scan_result,
                ..
            }
            | Event::ScancodeWaitmsg {
                scan_type,
                scan_result,
                ..
            } => {
                w.cdata("EventKey", &key)
                    .open("ScanCodeInfo")
                    .cdata("ScanType", scan_type)
                    .cdata("ScanResult", scan_result)
                    .close("ScanCodeInfo");
            }
            Event::PicSysphoto { count, md5s, .. }
            | Event::PicPhotoOrAlbum { count, md5s, .. }
            | Event::PicWeixin { count, md5s, .. } => {
                w.cdata("EventKey", &key)
                    .open("SendPicsInfo")
                    .bare("Count", count)
                    .open("PicList");
                for md5 in md5s {
                    w.open("item").cdata("PicMd5Sum", md5).close("item");
                }
                w.close("PicList").close("SendPicsInfo");
            }
            Event::LocationSelect {
                x,
                y,
                scale,
                label,
                poiname,
                ..
            } => {
                w.cdata("EventKey", &key)
                    .open("SendLocationInfo")
                    .cdata("Location_X", &x.to_string())
                    .cdata("Location_Y", &y.to_string())
                    .cdata("Scale", &scale.to_string())
                    .cdata("Label", label)
                    .cdata("Poiname", poiname)
                    .close("SendLocationInfo");
            }
            Event::TemplateSendJobFinish { msg_id, status } => {
                w.bare("MsgID", msg_id).cdata("Status", status);
            }
            Event::MassSendJobFinish {
                msg_id,
                status,
                total_count,
                filter_count,
                sent_count,
                error_count,
            } => {
                w.bare("MsgID", msg_id)
                    .cdata("Status", status)
                    .bare("TotalCount", total_count)
                    .bare("FilterCount", filter_count)
                    .bare("SentCount", sent_count)
                    .bare("ErrorCount", error_count);
            }
            Event::Other { fields, .. } => {
                w.fields(fields);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{OpenId, Scene, UnixTime};
    use crate::wechat::inbound::parse;

    const TICKET: &str = "gQH47joAAAAAAAAAASxodHRwOi8vd2VpeGluLnFxLmNvbS9xL2taZ2Z3TVRtNzJXV1Brb3ZhYmJJAAIEZ23sUwMEmm3sUw==";

    fn scene(s: &str) -> Scene {
        Scene::parse(s).unwrap()
    }

    fn assert_round_trips(inbound: &Inbound) {
        assert_eq!(&parse(&inbound.to_xml()).unwrap(), inbound);
    }

    #[test]
    fn every_variant_round_trips_through_xml() {
        let from = OpenId::parse("o9AgO5Kd5ggOC-bXrbNODIiE3bGY").unwrap();
        let s = |v: &str| v.to_owned();
        let messages = vec![
            Message::Text {
                content: s("含 ]]> 与 <b>&amp; \"引号\"\n第二行"),
            },
            Message::Image {
                pic_url: s("http://mmbiz.qpic.cn/x"),
                media_id: s("m1"),
            },
            Message::Voice {
                media_id: s("v"),
                format: s("amr"),
                recognition: Some(s("你好")),
            },
            Message::Voice {
                media_id: s("v"),
                format: s("speex"),
                recognition: None,
            },
            Message::Video {
                media_id: s("a"),
                thumb_media_id: s("b"),
            },
            Message::ShortVideo {
                media_id: s("c"),
                thumb_media_id: s("d"),
            },
            Message::Location {
                latitude: 23.134_521,
                longitude: -113.358_803,
                scale: 20,
                label: s("位置信息"),
            },
            Message::Link {
                title: s("t"),
                description: s("d"),
                url: s("https://e.com/?a=1&b=2"),
            },
            Message::Other {
                msg_type: s("device_text"),
                fields: vec![(s("A/B"), s("1")), (s("A/C"), s("2")), (s("D"), s(""))],
            },
        ];
        let events = vec![
            Event::Subscribe {
                scene: Some(scene("expo-2026")),
                ticket: Some(s(TICKET)),
                event_key: Some(s("qrscene_expo-2026")),
            },
            Event::Subscribe {
                scene: None,
                ticket: None,
                event_key: None,
            },
            Event::Scan {
                scene: scene("1001"),
                ticket: None,
            },
            Event::Unsubscribe,
            Event::Location {
                latitude: 23.137_466,
                longitude: 113.352_425,
                precision: 119.385_040,
            },
            Event::Click { key: s("K") },
            Event::View {
                url: s("https://e.com"),
                menu_id: None,
            },
            Event::ViewMiniprogram {
                pagepath: s("pages/index"),
                menu_id: Some(s("1")),
            },
            Event::ScancodePush {
                key: s("k"),
                scan_type: s("qrcode"),
                scan_result: s("r"),
            },
            Event::ScancodeWaitmsg {
                key: s("k"),
                scan_type: s("barcode"),
                scan_result: s("EAN_13,123"),
            },
            Event::PicSysphoto {
                key: s("k"),
                count: 0,
                md5s: vec![],
            },
            Event::PicPhotoOrAlbum {
                key: s("k"),
                count: 1,
                md5s: vec![s("x")],
            },
            Event::PicWeixin {
                key: s("k"),
                count: 3,
                md5s: vec![s("x"), s("y"), s("z")],
            },
            Event::LocationSelect {
                key: s("k"),
                x: 23.5,
                y: 113.25,
                scale: 15,
                label: s("l"),
                poiname: s(""),
            },
            Event::TemplateSendJobFinish {
                msg_id: u64::MAX,
                status: s("failed:user block"),
            },
            Event::MassSendJobFinish {
                msg_id: 1000001625,
                status: s("err(30003)"),
                total_count: 100,
                filter_count: 80,
                sent_count: 75,
                error_count: 5,
            },
            Event::Other {
                event: s("user_info_modified"),
                fields: vec![(s("EventKey"), s("k"))],
            },
        ];
        let bodies = messages
            .into_iter()
            .map(|message| Body::Message {
                msg_id: Some(6_054_768_590_064_713_728),
                message,
            })
            .chain(events.into_iter().map(Body::Event));
        for body in bodies {
            let inbound = Inbound {
                to: s("gh_97417a04a28d"),
                from: from.clone(),
                created: UnixTime(1_715_943_329),
                body,
            };
            assert_round_trips(&inbound);
        }
    }

    #[test]
    fn subscribe_without_raw_key_renders_the_scene() {
        let inbound = Inbound {
            to: "gh_x".to_owned(),
            from: OpenId::parse("o1").unwrap(),
            created: UnixTime(5),
            body: Body::Event(Event::Subscribe {
                scene: Some(scene("booth")),
                ticket: None,
                event_key: None,
            }),
        };
        assert!(
            inbound
                .to_xml()
                .contains("<EventKey><![CDATA[qrscene_booth]]></EventKey>")
        );
    }
}
