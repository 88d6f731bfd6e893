//! Tracked links over real HTTP and Redis: a keyword's reply carries the lead's signed link,
//! following it records one `link` touch per lead, link and hour and redirects with the
//! privacy headers; tampered, expired and foreign tokens redirect and record nothing; an
//! unknown link is a 404; a rotated key still verifies the links already sent; someone first
//! seen by a click does not follow until WeChat says so; `?ch=` counts a click through a
//! link channel.

use redis::AsyncCommands;
use reqwest::{StatusCode, header, redirect};
use serde_json::Value;
use wxtag::domain::{LinkId, OpenId, UnixTime};
use wxtag::links::{Claims, KeyRing, Target};
use wxtag::store::{KeySet, Keys};
use wxtag::wechat::reply::Reply;

use crate::credentials::wxtag;
use crate::helpers::{APPID, Spawn, TestApp, xml};
use crate::tagging::tag_names;

pub(crate) const PUBLIC: &str = "https://wx.example.test";
pub(crate) const DESTINATION: &str = "https://example.com/whitepaper.pdf?from=wx";
const LEAD: &str = "oLinkLead00000000000000000001";

pub(crate) const RULES: &str = r#"
[[link]]
id = "whitepaper"
url = "https://example.com/whitepaper.pdf?from=wx"
tags = ["内容:白皮书"]

[[keyword]]
text = "白皮书"
tags = ["兴趣:白皮书"]
reply = "白皮书在这里：{link:whitepaper}"

[[qr]]
scene = "expo"
name = "展会"
tags = ["来源:展会"]

[[channel]]
scene = "ad-baidu"
name = "百度广告"
tags = ["来源:百度"]

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
pub(crate) async fn token(app: &TestApp, openid: &str, msg_id: u64) -> String {
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

#[tokio::test]
async fn a_lead_first_seen_by_a_click_follows_only_when_wechat_says_so() {
    let app = app(true).await;
    let stranger = "oLinkStranger000000000000001";
    let outbox = app.outbox_len().await;
    let token = crafted(&app, stranger, "whitepaper", app.now()).await;
    assert_redirect(&click(&app, &token).await);
    let lead = app.lead(stranger).await;
    assert_eq!(lead["subscribed"], Value::Null, "{lead}");
    assert_eq!(tag_names(&lead), ["内容:白皮书"]);
    assert_eq!(
        app.outbox_len().await,
        outbox,
        "a lead that does not follow is not synced"
    );
    let listed: Value = app
        .admin_get("/api/leads?subscribed=true")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["leads"].as_array().unwrap().len(), 0, "{listed}");
    assert_eq!(app.channel_report("expo").await["leads"], 0);

    // It follows through the expo's code: now it follows, is the expo's new lead, and its
    // tags (the click's among them) are pushed to WeChat as a whole.
    let follow = xml::follow(stranger, Some("expo"));
    assert_eq!(app.post_event(&follow).await.status(), StatusCode::OK);
    let lead = app.lead(stranger).await;
    assert_eq!(lead["subscribed"], true, "{lead}");
    assert_eq!(lead["first_channel"], "expo");
    assert_eq!(app.channel_report("expo").await["leads"], 1);
    assert_eq!(
        app.outbox_len().await,
        outbox + 1,
        "the first follow queues a sync"
    );
}

#[tokio::test]
async fn a_click_through_a_link_channel_counts_for_it_and_its_follow_is_its_new_lead() {
    let app = app(true).await;
    let reader = "oLinkAdReader000000000000001";
    let token = crafted(&app, reader, "whitepaper", app.now()).await;
    let through = |query: &'static str| {
        let (app, token) = (&app, &token);
        async move {
            client()
                .get(format!("{}/l/{token}{query}", app.base))
                .send()
                .await
                .unwrap()
        }
    };
    // A query that does not read, or names no channel, still redirects (and records the
    // click once, this hour); the one naming the channel came first, so it counts.
    assert_redirect(&through("?ch=ad-baidu&from=singlemessage").await);
    assert_redirect(&through("?ch=a&ch=b").await);
    assert_redirect(&through("?ch=nobody").await);
    let lead = app.lead(reader).await;
    assert_eq!(lead["first_channel"], "ad-baidu", "{lead}");
    let tags: Vec<(String, String)> = lead["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["name"].as_str().unwrap().to_owned(),
                t["source"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert!(
        tags.contains(&("来源:百度".to_owned(), "channel:ad-baidu".to_owned())),
        "{tags:?}"
    );
    let ad = app.channel_report("ad-baidu").await;
    assert_eq!(
        (ad["visits"].as_i64(), ad["leads"].as_i64()),
        (Some(1), Some(0)),
        "{ad}"
    );

    // It follows later, organically: the ad brought it, so it is the ad's new lead.
    let follow = xml::follow(reader, None);
    assert_eq!(app.post_event(&follow).await.status(), StatusCode::OK);
    assert_eq!(app.channel_report("ad-baidu").await["leads"], 1);

    // A link channel has no QR code to make.
    let qr = app.admin_get("/api/channels/ad-baidu/qr.png").await;
    assert_eq!(qr.status(), StatusCode::NOT_FOUND);
    let said = qr.text().await.unwrap();
    assert!(said.contains("?ch=ad-baidu"), "{said}");
}

#[tokio::test]
async fn wxtag_links_rotate_key_makes_a_new_key_and_old_links_still_count() {
    let app = app(true).await;
    let old = token(&app, LEAD, 1).await;
    let out = wxtag(&app, &["links", "rotate-key"]);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{said} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(said.starts_with("link key 2 now signs new links"), "{said}");
    let keys: Vec<String> = app
        .redis
        .conn()
        .await
        .hkeys(Keys::new(APPID).signing_keys(KeySet::Links))
        .await
        .unwrap();
    assert_eq!(keys.len(), 2, "{keys:?}");
    assert_redirect(&click(&app, &old).await);
    assert_eq!(
        link_events(&app.lead(LEAD).await),
        1,
        "the old link still counts"
    );
}
