//! The webhook: URL verification, the three wire modes, bad input, and dedup of retries.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;
use wxtag::domain::UnixTime;
use wxtag::wechat::signature;

use crate::helpers::{Spawn, TOKEN, TestApp, Wire, eventually, xml};

const OPENID: &str = "oyORnuP8q7ou2gfYjqLzSIWZf0rs";

pub(crate) fn verification_query(timestamp: &str, signature: &str) -> Vec<(&'static str, String)> {
    vec![
        ("signature", signature.to_owned()),
        ("timestamp", timestamp.to_owned()),
        ("nonce", "987654321".to_owned()),
        ("echostr", "5837397520665436492".to_owned()),
    ]
}

#[tokio::test]
async fn url_verification_echoes_echostr_only_when_signed() {
    let app = TestApp::spawn().await;
    let now = UnixTime::now().0.to_string();
    let good = signature::sign(&[TOKEN, &now, "987654321"]);
    let get = |query: Vec<(&'static str, String)>| {
        app.http
            .get(format!("{}/wechat", app.base))
            .query(&query)
            .send()
    };

    let ok = get(verification_query(&now, &good)).await.unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    assert_eq!(ok.text().await.unwrap(), "5837397520665436492");

    let forged = get(verification_query(&now, &"0".repeat(40)))
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::UNAUTHORIZED);
    assert_ne!(forged.text().await.unwrap(), "5837397520665436492");

    let stale = (UnixTime::now().0 - 301).to_string();
    let stale_sig = signature::sign(&[TOKEN, &stale, "987654321"]);
    let old = get(verification_query(&stale, &stale_sig)).await.unwrap();
    assert_eq!(old.status(), StatusCode::UNAUTHORIZED);

    let bare = app
        .http
        .get(format!("{}/wechat", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(bare.status(), StatusCode::UNAUTHORIZED);
}

async fn a_follow_lands_on_the_lead(wire: Wire) {
    let app = TestApp::spawn_with(Spawn {
        wire,
        ..Spawn::default()
    })
    .await;

    let response = app
        .post_event(&xml::follow(OPENID, Some("expo-2026")))
        .await;

    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.text().await.unwrap(),
        "success",
        "a bare success, never wrapped"
    );
    let lead = app.lead(OPENID).await;
    assert_eq!(lead["openid"], OPENID);
    assert_eq!(lead["subscribed"], true);
    assert_eq!(lead["first_channel"], "expo-2026");
    assert_eq!(lead["events"][0]["kind"], "follow");
    assert_eq!(lead["events"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn plaintext_mode_applies_a_follow() {
    a_follow_lands_on_the_lead(Wire::Plain).await;
}

#[tokio::test]
async fn compatible_mode_applies_a_follow() {
    a_follow_lands_on_the_lead(Wire::Compatible).await;
}

#[tokio::test]
async fn safe_mode_applies_a_follow() {
    a_follow_lands_on_the_lead(Wire::Safe).await;
}

async fn a_reply_comes_back_in_the_requests_mode(wire: Wire) {
    let app = TestApp::spawn_with(Spawn {
        wire,
        channels: vec![(
            "10.toml".to_owned(),
            "[[keyword]]\ntext = \"报价\"\nreply = \"报价请联系 ]]> 客户经理\"\n".to_owned(),
        )],
        ..Spawn::default()
    })
    .await;

    let reply = app
        .reply_to(&xml::text(OPENID, "报价", 1))
        .await
        .expect("a reply");

    assert!(reply.contains("<ToUserName><![CDATA[oyORnuP8q7ou2gfYjqLzSIWZf0rs]]></ToUserName>"));
    assert!(reply.contains("<FromUserName><![CDATA[gh_10f6c3c3ac5a]]></FromUserName>"));
    let (parsed, _) = wxtag::wechat::reply::Reply::parse_xml(&reply).unwrap();
    assert_eq!(
        parsed,
        wxtag::wechat::reply::Reply::Text("报价请联系 ]]> 客户经理".to_owned()),
        "a ]]> in the content does not break the CDATA"
    );
}

#[tokio::test]
async fn plaintext_replies_are_plain_xml() {
    a_reply_comes_back_in_the_requests_mode(Wire::Plain).await;
}

#[tokio::test]
async fn compatible_mode_replies_are_encrypted_and_signed() {
    a_reply_comes_back_in_the_requests_mode(Wire::Compatible).await;
}

#[tokio::test]
async fn safe_mode_replies_are_encrypted_and_signed() {
    a_reply_comes_back_in_the_requests_mode(Wire::Safe).await;
}

#[tokio::test]
async fn every_kind_of_push_is_a_timeline_entry() {
    let app = TestApp::spawn().await;
    for push in [
        xml::follow(OPENID, None),
        xml::scan(OPENID, "website"),
        xml::click(OPENID, "MENU_PRODUCT_A"),
        xml::view(OPENID, "https://example.com/cases/1"),
        xml::text(OPENID, "你好", 42),
        xml::unfollow(OPENID),
    ] {
        assert_eq!(app.post_event(&push).await.status(), StatusCode::OK);
    }

    let lead = app.lead(OPENID).await;
    let kinds: Vec<&str> = lead["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        ["unfollow", "text", "view", "click", "scan", "follow"],
        "newest first"
    );
    assert_eq!(lead["events"][1]["detail"], "你好");
    assert_eq!(lead["events"][2]["detail"], "https://example.com/cases/1");
    assert_eq!(lead["subscribed"], false);
    assert_eq!(
        lead["first_channel"],
        Value::Null,
        "an organic follow has no channel"
    );
    assert_eq!(lead["channels"], serde_json::json!(["website"]));
}

#[tokio::test]
async fn location_reports_update_the_profile_not_the_timeline() {
    let app = TestApp::spawn().await;
    let now = UnixTime::now().0;
    app.post_event(&xml::follow(OPENID, None)).await;
    for i in 0..3 {
        assert_eq!(
            app.post_event(&xml::location(OPENID, now + i))
                .await
                .status(),
            StatusCode::OK
        );
    }

    let lead = app.lead(OPENID).await;
    assert_eq!(lead["events"].as_array().unwrap().len(), 1);
    assert_eq!(lead["last_location"], "23.137466,113.352425,119.38504");
}

#[tokio::test]
async fn unknown_message_and_event_types_are_recorded_and_answered_success() {
    let app = TestApp::spawn().await;
    let unknown_event = format!(
        "<xml><ToUserName>gh_1</ToUserName><FromUserName>{OPENID}</FromUserName>\
         <CreateTime>{}</CreateTime><MsgType>event</MsgType><Event>user_info_modified</Event></xml>",
        UnixTime::now().0
    );
    let unknown_message = format!(
        "<xml><ToUserName>gh_1</ToUserName><FromUserName>{OPENID}</FromUserName>\
         <CreateTime>{}</CreateTime><MsgType>miniprogrampage</MsgType><MsgId>77</MsgId></xml>",
        UnixTime::now().0
    );
    for push in [unknown_event, unknown_message] {
        let response = app.post_event(&push).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.text().await.unwrap(), "success");
    }

    let lead = app.lead(OPENID).await;
    let details: Vec<&str> = lead["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["detail"].as_str().unwrap())
        .collect();
    assert!(
        details.iter().any(|d| d.contains("user_info_modified")),
        "{details:?}"
    );
    assert!(
        details.iter().any(|d| d.contains("miniprogrampage")),
        "{details:?}"
    );
}

#[tokio::test]
async fn the_same_event_three_times_at_once_has_one_effect() {
    let app = TestApp::spawn().await;
    let push = xml::follow_at(OPENID, Some("expo-2026"), UnixTime::now().0);
    let (query, body) = app.signed(&push);

    let answers =
        futures_util::future::join_all((0..3).map(|_| app.post_raw(&query, body.clone()))).await;

    for answer in answers {
        assert_eq!(answer.status(), StatusCode::OK);
    }
    let lead = app.lead(OPENID).await;
    assert_eq!(lead["events"].as_array().unwrap().len(), 1);
    let mut conn = app.redis.conn().await;
    let counters: Vec<(String, i64)> = redis::cmd("HGETALL")
        .arg(format!(
            "wx:{{{}}}:day:{}",
            crate::helpers::APPID,
            wxtag::store::day_of(UnixTime::now())
        ))
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(
        counters.contains(&("expo-2026|f".to_owned(), 1)),
        "{counters:?}"
    );
}

#[tokio::test]
async fn messages_dedup_by_msgid_and_distinct_events_in_one_second_do_not_collide() {
    let app = TestApp::spawn().await;
    let text = xml::text(OPENID, "报价", 24513067352816459);
    for _ in 0..2 {
        app.post_event(&text).await;
    }
    // Same second, same user, different events: both count.
    app.post_event(&xml::click(OPENID, "A")).await;
    app.post_event(&xml::click(OPENID, "B")).await;

    let lead = app.lead(OPENID).await;
    let kinds: Vec<&str> = lead["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["click", "click", "text"]);
}

// ---- Bad input: each row of product.md's table -------------------------------------

async fn assert_refused_without_effect(
    app: &TestApp,
    response: reqwest::Response,
    status: StatusCode,
) {
    assert_eq!(response.status(), status);
    assert_eq!(app.lead_count().await, 0, "a refused push has no effect");
}

#[tokio::test]
async fn an_unsigned_push_is_401_without_effect() {
    let app = TestApp::spawn().await;
    let response = app.post_raw(&[], xml::follow(OPENID, None)).await;
    assert_refused_without_effect(&app, response, StatusCode::UNAUTHORIZED).await;
}

#[tokio::test]
async fn a_badly_signed_push_is_401_without_effect() {
    let app = TestApp::spawn().await;
    let (mut query, body) = app.signed(&xml::follow(OPENID, None));
    query[0].1 = signature::sign(&["wrong-token", &query[1].1, &query[2].1]);
    let response = app.post_raw(&query, body).await;
    assert_refused_without_effect(&app, response, StatusCode::UNAUTHORIZED).await;
}

#[tokio::test]
async fn a_timestamp_more_than_five_minutes_off_is_401() {
    let app = TestApp::spawn().await;
    for skew in [-301, 301] {
        let timestamp = (UnixTime::now().0 + skew).to_string();
        let (query, body) = app.signed_at(&xml::follow(OPENID, None), &timestamp, "1");
        let response = app.post_raw(&query, body).await;
        assert_refused_without_effect(&app, response, StatusCode::UNAUTHORIZED).await;
    }
}

#[tokio::test]
async fn a_bad_msg_signature_is_401_without_effect() {
    let app = TestApp::spawn_with(Spawn {
        wire: Wire::Safe,
        ..Spawn::default()
    })
    .await;
    let (mut query, body) = app.signed(&xml::follow(OPENID, None));
    let at = query
        .iter()
        .position(|(k, _)| k == "msg_signature")
        .unwrap();
    query[at].1 = "0".repeat(40);
    let response = app.post_raw(&query, body).await;
    assert_refused_without_effect(&app, response, StatusCode::UNAUTHORIZED).await;
}

#[tokio::test]
async fn malformed_xml_is_400_without_effect() {
    let app = TestApp::spawn().await;
    for body in [
        "<xml><FromUserName>oops".to_owned(),
        "not xml at all".to_owned(),
        "{\"json\": true}".to_owned(),
        String::new(),
        "<xml><ToUserName>gh</ToUserName><CreateTime>1</CreateTime><MsgType>text</MsgType></xml>"
            .to_owned(),
    ] {
        let (query, body) = app.signed(&body);
        let response = app.post_raw(&query, body).await;
        assert_refused_without_effect(&app, response, StatusCode::BAD_REQUEST).await;
    }
}

#[tokio::test]
async fn a_dtd_or_entity_declaration_is_400_and_never_expanded() {
    let app = TestApp::spawn().await;
    let laughs = format!(
        "<?xml version=\"1.0\"?><!DOCTYPE xml [<!ENTITY lol \"lol\"><!ENTITY lol2 \"&lol;&lol;&lol;\">]>\
         <xml><ToUserName>gh</ToUserName><FromUserName>{OPENID}</FromUserName><CreateTime>1</CreateTime>\
         <MsgType>text</MsgType><Content>&lol2;</Content><MsgId>1</MsgId></xml>"
    );
    let external = format!(
        "<!DOCTYPE xml [<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]>\
         <xml><FromUserName>{OPENID}</FromUserName><CreateTime>1</CreateTime><MsgType>text</MsgType>\
         <Content>&xxe;</Content></xml>"
    );
    for body in [laughs, external] {
        let (query, body) = app.signed(&body);
        let response = app.post_raw(&query, body).await;
        assert_refused_without_effect(&app, response, StatusCode::BAD_REQUEST).await;
    }
}

#[tokio::test]
async fn a_wrong_envelope_or_undecryptable_payload_is_400() {
    let app = TestApp::spawn_with(Spawn {
        wire: Wire::Safe,
        ..Spawn::default()
    })
    .await;
    let timestamp = UnixTime::now().0.to_string();
    let sign_with = |encrypt: &str| {
        vec![
            (
                "signature".to_owned(),
                signature::sign(&[TOKEN, &timestamp, "7"]),
            ),
            ("timestamp".to_owned(), timestamp.clone()),
            ("nonce".to_owned(), "7".to_owned()),
            ("encrypt_type".to_owned(), "aes".to_owned()),
            (
                "msg_signature".to_owned(),
                signature::sign(&[TOKEN, &timestamp, "7", encrypt]),
            ),
        ]
    };
    // No <Encrypt> at all.
    let response = app
        .post_raw(&sign_with(""), "<xml><ToUserName>gh</ToUserName></xml>")
        .await;
    assert_refused_without_effect(&app, response, StatusCode::BAD_REQUEST).await;
    // Signed correctly, but not a ciphertext of our key.
    for garbage in [
        "bm90IGEgY2lwaGVydGV4dA==",
        "!!!not base64!!!",
        "AAAAAAAAAAAAAAAAAAAAAA==",
    ] {
        let body = format!(
            "<xml><ToUserName>gh</ToUserName><Encrypt><![CDATA[{garbage}]]></Encrypt></xml>"
        );
        let response = app.post_raw(&sign_with(garbage), body).await;
        assert_refused_without_effect(&app, response, StatusCode::BAD_REQUEST).await;
    }
}

#[tokio::test]
async fn a_body_over_64_kib_is_413() {
    let app = TestApp::spawn().await;
    let huge = xml::text(OPENID, &"字".repeat(30_000), 9);
    assert!(huge.len() > 64 * 1024);
    let (query, body) = app.signed(&huge);
    let response = app.post_raw(&query, body).await;
    assert_refused_without_effect(&app, response, StatusCode::PAYLOAD_TOO_LARGE).await;
}

#[tokio::test]
async fn random_bodies_never_crash_the_app() {
    let app = TestApp::spawn().await;
    let mut seed = 0x2545F4914F6CDD1Du64;
    for round in 0..200 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let len = (seed % 300) as usize;
        let base = xml::text(OPENID, "x", round);
        let mut bytes: Vec<u8> = base.into_bytes();
        bytes.truncate(len.min(bytes.len()));
        bytes.extend((0..(seed % 17)).map(|i| (seed >> (i % 8)) as u8));
        let (query, _) = app.signed("");
        let status = app.post_raw(&query, bytes).await.status();
        assert!(
            status == StatusCode::BAD_REQUEST || status == StatusCode::OK,
            "{status}"
        );
    }
    let health = app
        .http
        .get(format!("{}/healthz", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), StatusCode::OK, "still standing");
}

#[tokio::test]
async fn healthz_says_whether_redis_answers() {
    let app = TestApp::spawn().await;
    let ok = app
        .http
        .get(format!("{}/healthz", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::OK);

    let mut conn = app.redis.conn().await;
    let _: Result<(), _> = redis::cmd("SHUTDOWN")
        .arg("NOSAVE")
        .query_async(&mut conn)
        .await;

    eventually(Duration::from_secs(5), || async {
        let status = app
            .http
            .get(format!("{}/healthz", app.base))
            .send()
            .await
            .ok()?
            .status();
        (status == StatusCode::SERVICE_UNAVAILABLE).then_some(())
    })
    .await;
}

#[tokio::test]
async fn the_timeline_keeps_the_newest_500_entries() {
    let app = TestApp::spawn().await;
    for i in 0..505u64 {
        let push = xml::text(OPENID, &format!("message {i}\nsecond line"), 1000 + i);
        assert_eq!(app.post_event(&push).await.status(), StatusCode::OK);
    }

    let lead = app.lead(OPENID).await;
    let events = lead["events"].as_array().unwrap();
    assert_eq!(events.len(), 500);
    assert_eq!(
        events[0]["detail"], "message 504 second line",
        "newest first, one entry each"
    );
    assert_eq!(events[499]["detail"], "message 5 second line");
}
