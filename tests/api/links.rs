//! Tracked links over real HTTP and Redis: a keyword's reply carries the lead's signed link,
//! following it records one `link` touch per lead, link and hour and redirects with the
//! privacy headers; tampered, expired and foreign tokens redirect and record nothing; an
//! unknown link is a 404; a rotated key still verifies the links already sent.

use redis::AsyncCommands;
use reqwest::{StatusCode, header, redirect};
use serde_json::Value;
use wxtag::domain::{LinkId, OpenId, UnixTime};
use wxtag::links::{Claims, KeyRing, Target};
use wxtag::store::Keys;
use wxtag::wechat::reply::Reply;

use crate::helpers::{APPID, Spawn, TestApp, xml};
use crate::tagging::tag_names;

const PUBLIC: &str = "https://wx.example.test";
const DESTINATION: &str = "https://example.com/whitepaper.pdf?from=wx";
const LEAD: &str = "oLinkLead00000000000000000001";

const RULES: &str = r#"
[[link]]
id = "whitepaper"
url = "https://example.com/whitepaper.pdf?from=wx"
tags = ["内容:白皮书"]

[[keyword]]
text = "白皮书"
tags = ["兴趣:白皮书"]
reply = "白皮书在这里：{link:whitepaper}"

[[keyword]]
text = "案例"
news = [{ title = "客户案例", url = "link:whitepaper" }]
"#;

/// An app with [`RULES`], public at [`PUBLIC`] (or not), its clock a minute into an hour so
/// a test's clicks all fall in one hour.
async fn app(public: bool) -> TestApp {
    let now = UnixTime::now().0;
    TestApp::spawn_with(Spawn {
        channels: vec![("10.toml".into(), RULES.into())],
        public_url: public.then(|| PUBLIC.to_owned()),
        clock_offset_secs: 3600 - now.rem_euclid(3600) + 60,
        ..Default::default()
    })
    .await
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(redirect::Policy::none())
        .build()
        .unwrap()
}

/// The reply `openid` gets for `content`.
async fn reply(app: &TestApp, openid: &str, content: &str, msg_id: u64) -> Reply {
    let xml = app
        .reply_to(&xml::text(openid, content, msg_id))
        .await
        .expect("a reply");
    Reply::parse_xml(&xml).unwrap().0
}

/// The token of the tracked link in `openid`'s reply to `白皮书`.
async fn token(app: &TestApp, openid: &str, msg_id: u64) -> String {
    let Reply::Text(text) = reply(app, openid, "白皮书", msg_id).await else {
        panic!("a text reply");
    };
    let at = text.find(PUBLIC).expect("a tracked link in the reply");
    let url = &text[at..];
    url.strip_prefix(&format!("{PUBLIC}/l/"))
        .expect("under /l/")
        .to_owned()
}

/// Follows `/l/<token>` as a browser that does not follow redirects.
async fn click(app: &TestApp, token: &str) -> reqwest::Response {
    client()
        .get(format!("{}/l/{token}", app.base))
        .send()
        .await
        .unwrap()
}

/// Asserts a redirect to the link's destination with the privacy headers.
fn assert_redirect(response: &reqwest::Response) {
    assert_eq!(response.status(), StatusCode::FOUND);
    let h = response.headers();
    assert_eq!(h[header::LOCATION], DESTINATION);
    assert_eq!(h[header::REFERRER_POLICY], "no-referrer");
    assert_eq!(h[header::CACHE_CONTROL], "no-store");
}

fn link_events(lead: &Value) -> usize {
    lead["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "link_click" && e["detail"] == "whitepaper")
        .count()
}

/// The lead's touch history of `link:whitepaper`, as stored.
async fn history(app: &TestApp, openid: &str) -> Option<String> {
    let key = Keys::new(APPID).history(&OpenId::parse(openid).unwrap());
    app.redis
        .conn()
        .await
        .hget(key, "link:whitepaper")
        .await
        .unwrap()
}

/// A token for `openid` and `link`, signed with the account's current key, issued `issued`.
async fn crafted(app: &TestApp, openid: &str, link: &str, issued: UnixTime) -> String {
    let store = app.redis.store().await;
    let key = KeyRing::default().signing_key(&store).await.unwrap();
    Claims {
        openid: OpenId::parse(openid).unwrap(),
        target: Target::Link(LinkId::parse(link).unwrap()),
        issued,
        key_id: key.id,
    }
    .sign(&key)
}

#[tokio::test]
async fn a_reply_link_records_one_touch_per_hour_and_redirects() {
    let app = app(true).await;
    let token = token(&app, LEAD, 1).await;
    assert!(
        !token.contains(LEAD),
        "the openid is encoded, not written out"
    );
    let lead = app.lead(LEAD).await;
    assert!(!tag_names(&lead).contains(&"内容:白皮书".to_owned()));

    for _ in 0..2 {
        assert_redirect(&click(&app, &token).await);
    }
    let lead = app.lead(LEAD).await;
    assert!(
        tag_names(&lead).contains(&"内容:白皮书".to_owned()),
        "{lead}"
    );
    assert_eq!(
        crate::tagging::source_of(&lead, "内容:白皮书"),
        "link:whitepaper"
    );
    assert_eq!(link_events(&lead), 1, "two clicks in an hour: one touch");
    let counted = history(&app, LEAD)
        .await
        .expect("a link touch in the history");
    assert!(!counted.contains('*'), "counted once: {counted}");

    // The lead page says what happened, in words.
    let (_, page) = crate::dashboard::page(&app, &format!("/leads/{LEAD}")).await;
    assert!(
        page.contains("打开追踪链接") && page.contains("追踪链接"),
        "{page}"
    );

    // The next hour, the same link counts again.
    app.clock.advance(3600);
    assert_redirect(&click(&app, &token).await);
    assert_eq!(link_events(&app.lead(LEAD).await), 2);
}

#[tokio::test]
async fn a_news_article_names_the_link_and_gets_the_tracked_url() {
    let app = app(true).await;
    let Reply::News(articles) = reply(&app, LEAD, "案例", 1).await else {
        panic!("a news reply");
    };
    let token = articles[0]
        .url
        .strip_prefix(&format!("{PUBLIC}/l/"))
        .expect("a tracked url")
        .to_owned();
    assert_redirect(&click(&app, &token).await);
    assert_eq!(link_events(&app.lead(LEAD).await), 1);
}

#[tokio::test]
async fn tampered_expired_and_foreign_tokens_redirect_and_record_nothing() {
    let app = app(true).await;
    let token = token(&app, LEAD, 1).await;
    let (payload, tag) = token.split_once('.').unwrap();
    // Another lead's claims under this lead's tag.
    let other = crafted(&app, "oSomeoneElse", "whitepaper", app.now()).await;
    let forged = format!("{}.{tag}", other.split_once('.').unwrap().0);
    // Signed 91 days ago with the right key.
    let old = UnixTime(app.now().0 - 91 * 86_400);
    let expired = crafted(&app, LEAD, "whitepaper", old).await;
    // Signed by a key this account does not have.
    let stranger = wxtag::store::LinkKey {
        id: 7,
        bytes: [9; 32],
    };
    let foreign = Claims {
        openid: OpenId::parse(LEAD).unwrap(),
        target: Target::Link(LinkId::parse("whitepaper").unwrap()),
        issued: app.now(),
        key_id: stranger.id,
    }
    .sign(&stranger);
    for bad in [
        forged,
        format!("{payload}.{}", "A".repeat(43)),
        expired,
        foreign,
    ] {
        assert_redirect(&click(&app, &bad).await);
    }
    let lead = app.lead(LEAD).await;
    assert_eq!(link_events(&lead), 0, "{lead}");
    assert!(!tag_names(&lead).contains(&"内容:白皮书".to_owned()));
    assert_eq!(history(&app, LEAD).await, None);
    let nobody = app.admin_get("/api/leads/oSomeoneElse").await;
    assert_eq!(
        nobody.status(),
        StatusCode::NOT_FOUND,
        "a forged click makes no lead"
    );
}

#[tokio::test]
async fn an_unknown_link_or_an_unreadable_token_is_a_plain_404() {
    let app = app(true).await;
    let _ = token(&app, LEAD, 1).await;
    let unknown = crafted(&app, LEAD, "not-a-link", app.now()).await;
    for path in [unknown.as_str(), "garbage", "a.b", ""] {
        let response = click(&app, path).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path:?}");
        assert!(response.headers().get(header::LOCATION).is_none());
    }
}

#[tokio::test]
async fn a_rotated_key_signs_new_links_and_old_ones_still_verify() {
    let app = app(true).await;
    let old = token(&app, LEAD, 1).await;
    let store = app.redis.store().await;
    let ring = KeyRing::default();
    assert_eq!(ring.signing_key(&store).await.unwrap().id, 1);
    assert_eq!(ring.rotate(&store).await.unwrap(), 2);
    assert_eq!(ring.signing_key(&store).await.unwrap().id, 2);
    assert!(ring.key(&store, 1).await.unwrap().is_some(), "key 1 kept");

    assert_redirect(&click(&app, &old).await);
    assert_eq!(link_events(&app.lead(LEAD).await), 1, "the old link counts");

    // A link signed by the new key, for another lead, verifies in the running app too
    // (its cache reads the new key when a token names it).
    let other = "oLinkLead00000000000000000002";
    let new = crafted(&app, other, "whitepaper", app.now()).await;
    assert_redirect(&click(&app, &new).await);
    assert_eq!(link_events(&app.lead(other).await), 1);
}

#[tokio::test]
async fn without_a_public_url_the_reply_sends_the_plain_destination() {
    let app = app(false).await;
    let Reply::Text(text) = reply(&app, LEAD, "白皮书", 1).await else {
        panic!("a text reply");
    };
    assert_eq!(text, format!("白皮书在这里：{DESTINATION}"));
    let Reply::News(articles) = reply(&app, LEAD, "案例", 2).await else {
        panic!("a news reply");
    };
    assert_eq!(articles[0].url, DESTINATION);
}
