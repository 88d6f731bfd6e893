//! Property tests of the protocol layer and the `channels/` loader: arbitrary input never
//! panics (a typed error or a value comes back), and what wxtag writes reads back the same.
//! Case counts stay modest so the whole module runs in seconds.

use std::fs;

use proptest::prelude::*;
use wxtag::domain::{OpenId, UnixTime};
use wxtag::rules::Rules;
use wxtag::wechat::crypto::{EncodingAesKey, MessageCipher};
use wxtag::wechat::inbound::{self, EncryptedEnvelope};
use wxtag::wechat::reply::{self, Article, EncryptedReply, Reply};
use wxtag::wechat::signature::{self, ServerToken};

use crate::helpers::{AES_KEY, APPID};

/// Cases per property: enough to find the shallow bugs, few enough for seconds per test.
fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 128,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Field names WeChat sends, so generated documents reach every branch of the parser.
const FIELDS: &[&str] = &[
    "ToUserName",
    "FromUserName",
    "CreateTime",
    "MsgType",
    "MsgId",
    "MsgID",
    "Event",
    "EventKey",
    "Ticket",
    "Content",
    "PicUrl",
    "MediaId",
    "ThumbMediaId",
    "Format",
    "Recognition",
    "Location_X",
    "Location_Y",
    "Scale",
    "Label",
    "Title",
    "Description",
    "Url",
    "Latitude",
    "Longitude",
    "Precision",
    "MenuId",
    "Status",
    "TotalCount",
    "FilterCount",
    "SentCount",
    "ErrorCount",
    "Encrypt",
];

const MSG_TYPES: &[&str] = &[
    "text",
    "image",
    "voice",
    "video",
    "shortvideo",
    "location",
    "link",
    "event",
    "EVENT",
    "file",
];

const EVENTS: &[&str] = &[
    "subscribe",
    "unsubscribe",
    "SCAN",
    "LOCATION",
    "CLICK",
    "VIEW",
    "view_miniprogram",
    "scancode_push",
    "scancode_waitmsg",
    "pic_sysphoto",
    "pic_photo_or_album",
    "pic_weixin",
    "location_select",
    "TEMPLATESENDJOBFINISH",
    "MASSSENDJOBFINISH",
    "user_get_card",
];

/// A value a field might hold: numbers, scenes, keys, and arbitrary text.
fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        "-?[0-9]{1,20}(\\.[0-9]{1,6})?",
        "qrscene_[A-Za-z0-9_-]{0,70}",
        "[A-Za-z0-9_-]{0,70}",
        any::<String>(),
        Just("]]>".to_owned()),
        Just(" 5 ".to_owned()),
        Just("NaN".to_owned()),
        Just("1e400".to_owned()),
    ]
}

/// One element written the ways WeChat (or an attacker) might: CDATA, escaped text, empty,
/// or nested (`SendPicsInfo`, `ScanCodeInfo`, `SendLocationInfo`).
fn element() -> impl Strategy<Value = String> {
    let name = prop_oneof![
        4 => proptest::sample::select(FIELDS).prop_map(str::to_owned),
        1 => "[A-Za-z_][A-Za-z0-9_]{0,8}",
    ];
    let leaf = (name, value(), 0..4u8).prop_map(|(name, value, how)| match how {
        0 => format!(
            "<{name}><![CDATA[{}]]></{name}>",
            value.replace("]]>", "]]]]><![CDATA[>")
        ),
        1 => format!("<{name}>{}</{name}>", quick_escape(&value)),
        2 => format!("<{name}/>"),
        _ => format!("<{name}>{value}</{name}>"),
    });
    leaf.prop_recursive(3, 24, 4, |inner| {
        (
            proptest::sample::select(
                &[
                    "SendPicsInfo",
                    "PicList",
                    "item",
                    "ScanCodeInfo",
                    "SendLocationInfo",
                    "Articles",
                ][..],
            ),
            prop::collection::vec(inner, 0..4),
        )
            .prop_map(|(name, children)| format!("<{name}>{}</{name}>", children.concat()))
    })
}

/// XML's five escapes, enough for text that must stay well-formed.
fn quick_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

/// A push as WeChat might send it, with plausible common fields and anything after them.
fn push_xml() -> impl Strategy<Value = String> {
    (
        prop_oneof![
            8 => "o[A-Za-z0-9_-]{5,30}",
            1 => any::<String>(),
            1 => Just(String::new()),
        ],
        prop_oneof![8 => "[0-9]{1,11}", 1 => "-?[0-9]{1,20}", 1 => any::<String>()],
        proptest::sample::select(MSG_TYPES),
        proptest::sample::select(EVENTS),
        prop::collection::vec(element(), 0..8),
    )
        .prop_map(|(from, created, msg_type, event, rest)| {
            format!(
                "<xml><ToUserName><![CDATA[gh_test]]></ToUserName>\
                 <FromUserName><![CDATA[{}]]></FromUserName><CreateTime>{}</CreateTime>\
                 <MsgType><![CDATA[{msg_type}]]></MsgType><Event><![CDATA[{event}]]></Event>{}</xml>",
                from.replace("]]>", ""),
                quick_escape(&created),
                rest.concat()
            )
        })
}

/// A cipher for the test account, or one for another appid.
fn cipher(appid: &str) -> MessageCipher {
    let key = EncodingAesKey::parse(AES_KEY).expect("the test key is 43 alphanumerics");
    MessageCipher::new(key, appid.to_owned())
}

/// A byte changed to another whose lowercase also differs (the signature check ignores hex
/// case, so `a` → `A` is not a change).
fn changed(s: &str, at: usize, to: u8) -> Option<String> {
    let mut bytes = s.as_bytes().to_vec();
    let i = at % bytes.len().max(1);
    let old = *bytes.get(i)?;
    if old.eq_ignore_ascii_case(&to) || !to.is_ascii() || !old.is_ascii() {
        return None;
    }
    bytes[i] = to;
    String::from_utf8(bytes).ok()
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn inbound_parse_never_panics_on_arbitrary_text(text in any::<String>()) {
        let _ = inbound::parse(&text);
        let _ = EncryptedEnvelope::parse(&text);
        let _ = Reply::parse_xml(&text);
    }

    #[test]
    fn inbound_parse_never_panics_on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let text = String::from_utf8_lossy(&bytes);
        let _ = inbound::parse(&text);
    }

    #[test]
    fn a_parsed_push_written_back_as_xml_parses_to_the_same_push(xml in push_xml()) {
        if let Ok(push) = inbound::parse(&xml) {
            let again = inbound::parse(&push.to_xml());
            prop_assert_eq!(again.as_ref(), Ok(&push), "from {} via {}", xml, push.to_xml());
        }
    }

    #[test]
    fn a_text_message_with_a_valid_head_always_parses_and_round_trips(
        openid in "o[A-Za-z0-9_-]{5,30}",
        created in 0..4_000_000_000i64,
        content in prop_oneof![any::<String>(), "[^\\]]{0,8}\\]\\]>[^\\]]{0,8}"],
    ) {
        let xml = format!(
            "<xml><ToUserName><![CDATA[gh_test]]></ToUserName>\
             <FromUserName><![CDATA[{openid}]]></FromUserName><CreateTime>{created}</CreateTime>\
             <MsgType><![CDATA[text]]></MsgType><Content><![CDATA[{}]]></Content></xml>",
            content.replace("]]>", "]]]]><![CDATA[>")
        );
        let push = inbound::parse(&xml).expect("a text message with a valid head parses");
        prop_assert_eq!(push.from.as_str(), openid.as_str());
        prop_assert_eq!(push.created, UnixTime(created));
        prop_assert_eq!(inbound::parse(&push.to_xml()), Ok(push));
    }

    #[test]
    fn decrypt_never_panics_on_arbitrary_input(
        text in prop_oneof![any::<String>(), "[A-Za-z0-9+/]{0,200}={0,2}"],
    ) {
        let c = cipher(APPID);
        let _ = c.decrypt(&text);
    }

    #[test]
    fn decrypt_never_panics_on_arbitrary_ciphertext(blocks in prop::collection::vec(any::<u8>(), 0..256)) {
        use base64::Engine;
        let encoded = base64::engine::general_purpose::STANDARD.encode(&blocks);
        let _ = cipher(APPID).decrypt(&encoded);
    }

    #[test]
    fn encrypt_then_decrypt_round_trips(text in any::<String>(), appid in any::<String>(), other in "wx[a-f0-9]{16}") {
        let c = cipher(&appid);
        let sealed = c.encrypt(&text);
        prop_assert_eq!(c.decrypt(&sealed), Ok(text));
        if other != appid {
            prop_assert!(cipher(&other).decrypt(&sealed).is_err());
        }
    }

    #[test]
    fn signatures_never_panic_and_sign_then_verify_holds(
        token in any::<String>(),
        timestamp in any::<String>(),
        nonce in any::<String>(),
        given in any::<String>(),
    ) {
        let t = ServerToken::new(token);
        let _ = signature::verify_signature(&t, &timestamp, &nonce, &given);
        let _ = signature::check_timestamp(&timestamp, UnixTime(1_715_943_329));
        let sig = signature::signature_of(&t, &timestamp, &nonce);
        prop_assert_eq!(signature::verify_signature(&t, &timestamp, &nonce, &sig), Ok(()));
        prop_assert_eq!(
            signature::verify_signature(&t, &timestamp, &nonce, &sig.to_ascii_uppercase()),
            Ok(())
        );
        let msg = signature::msg_signature_of(&t, &timestamp, &nonce, &given);
        prop_assert_eq!(signature::verify_msg_signature(&t, &timestamp, &nonce, &given, &msg), Ok(()));
    }

    #[test]
    fn any_changed_byte_fails_the_signature(
        token in "[A-Za-z0-9]{3,32}",
        timestamp in "[0-9]{10}",
        nonce in "[A-Za-z0-9]{6,16}",
        encrypt in "[A-Za-z0-9+/=]{8,64}",
        at in any::<usize>(),
        to in any::<u8>(),
    ) {
        let t = ServerToken::new(token);
        let sig = signature::signature_of(&t, &timestamp, &nonce);
        if let Some(bad) = changed(&sig, at, to) {
            prop_assert!(signature::verify_signature(&t, &timestamp, &nonce, &bad).is_err());
        }
        if let Some(bad) = changed(&nonce, at, to) {
            prop_assert!(signature::verify_signature(&t, &timestamp, &bad, &sig).is_err());
        }
        if let Some(bad) = changed(&timestamp, at, to) {
            prop_assert!(signature::verify_signature(&t, &bad, &nonce, &sig).is_err());
        }
        let msg = signature::msg_signature_of(&t, &timestamp, &nonce, &encrypt);
        if let Some(bad) = changed(&encrypt, at, to) {
            prop_assert!(signature::verify_msg_signature(&t, &timestamp, &nonce, &bad, &msg).is_err());
        }
        if let Some(bad) = changed(&msg, at, to) {
            prop_assert!(signature::verify_msg_signature(&t, &timestamp, &nonce, &encrypt, &bad).is_err());
        }
    }

    #[test]
    fn a_rendered_reply_parses_back_to_the_same_reply(
        kind in 0..3u8,
        text in prop_oneof![any::<String>(), Just("a]]>b]]]]>c".to_owned())],
        articles in prop::collection::vec(
            (any::<String>(), any::<String>(), any::<String>(), any::<String>()),
            1..10,
        ),
        from in any::<String>(),
    ) {
        let reply = match kind {
            0 => Reply::Text(text),
            1 => Reply::Image { media_id: text },
            _ => Reply::News(
                articles
                    .into_iter()
                    .map(|(title, description, url, picurl)| Article { title, description, url, picurl })
                    .collect(),
            ),
        };
        let to = OpenId::parse("oyORnuP8q7ou2gfYjqLzSIWZf0rs").expect("a valid openid");
        let xml = reply::render(&reply, &to, &from, UnixTime(1_715_943_329));
        let expected = match &reply {
            Reply::News(all) => Reply::News(all.iter().take(8).cloned().collect()),
            other => other.clone(),
        };
        prop_assert_eq!(Reply::parse_xml(&xml), Ok((expected, to.as_str().to_owned())));

        let token = ServerToken::new("spamtest".to_owned());
        let sealed = EncryptedReply::seal(&token, &cipher(APPID), &xml, "1715943329", "nonce");
        let opened = EncryptedReply::parse(&sealed.to_xml()).and_then(|r| r.open(&token, &cipher(APPID)));
        prop_assert_eq!(opened, Ok(xml));
    }

    #[test]
    fn the_channels_loader_never_panics_on_arbitrary_toml(text in any::<String>()) {
        load(&text);
    }

    #[test]
    fn the_channels_loader_never_panics_on_arbitrary_strings_in_known_keys(
        section in proptest::sample::select(&["follow", "qr", "click", "view", "keyword"][..]),
        key in proptest::sample::select(
            &["scene", "name", "key", "url", "text", "match", "reply", "expire_days", "permanent"][..],
        ),
        value in any::<String>(),
        tag in any::<String>(),
        when in any::<String>(),
    ) {
        let header = if section == "follow" { "[follow]".to_owned() } else { format!("[[{section}]]") };
        let table = if section == "follow" { "follow".to_owned() } else { section.to_owned() };
        let text = format!(
            "{header}\n{key} = {}\ntags = [{}]\n[[{table}.reply]]\nwhen = {{ any = [{}] }}\ntext = {}\n",
            toml_str(&value),
            toml_str(&tag),
            toml_str(&when),
            toml_str(&value),
        );
        load(&text);
    }
}

/// The round trip above is only worth something if the generator reaches the parser's success
/// path often, for many kinds of push.
#[test]
fn the_push_generator_yields_many_pushes_that_parse() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;

    let mut runner = TestRunner::deterministic();
    let strategy = push_xml();
    let mut kinds = std::collections::BTreeSet::new();
    let parsed = (0..500)
        .filter_map(|_| {
            let xml = strategy.new_tree(&mut runner).expect("a value").current();
            inbound::parse(&xml).ok()
        })
        .inspect(|push| {
            kinds.insert(
                format!("{:?}", push.body)
                    .split(['(', ' ', '{'])
                    .take(2)
                    .collect::<String>(),
            );
        })
        .count();
    assert!(parsed >= 100, "only {parsed} of 500 generated pushes parse");
    assert!(kinds.len() >= 10, "only these kinds parse: {kinds:?}");
}

/// A TOML basic string holding `s` exactly.
fn toml_str(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}

/// Loads one file as a `channels/` folder; an error is a fine answer, a panic is not.
fn load(text: &str) {
    let dir = tempfile::tempdir().expect("temp dir");
    fs::write(dir.path().join("rules.toml"), text).expect("write the rules file");
    match Rules::load(dir.path()) {
        Ok(loaded) => assert!(loaded.rules.stats().files == 1),
        Err(failed) => assert!(!failed.errors.is_empty()),
    }
}
