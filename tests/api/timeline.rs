//! A lead's timeline: capped at the newest 500, read newest first, and an event's cost on
//! Redis independent of how long the timeline already is; a small lead stays under 1 KiB.

use reqwest::StatusCode;

use crate::helpers::{Spawn, TestApp, xml};

const CHATTY: &str = "oTimelineChatty0000000000001";
const SMALL: &str = "oyORnuP8q7ou2gfYjqLzSIWZf0rs";

async fn aof_size(app: &TestApp) -> u64 {
    let mut conn = app.redis.conn().await;
    let info: String = redis::cmd("INFO")
        .arg("persistence")
        .query_async(&mut conn)
        .await
        .unwrap();
    info.lines()
        .find_map(|line| line.strip_prefix("aof_current_size:"))
        .expect("the test Redis keeps an AOF")
        .trim()
        .parse()
        .unwrap()
}

async fn text(app: &TestApp, openid: &str, i: u64) {
    let push = xml::text(
        openid,
        &format!("message {i} about the S7-1200 PLC"),
        1000 + i,
    );
    assert_eq!(app.post_event(&push).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn an_event_on_a_long_timeline_writes_a_bounded_amount() {
    let app = TestApp::spawn_with(Spawn {
        durable_redis: true,
        ..Spawn::default()
    })
    .await;
    for i in 0..600 {
        text(&app, CHATTY, i).await;
    }

    let lead = app.lead(CHATTY).await;
    let events = lead["events"].as_array().unwrap();
    assert_eq!(events.len(), 500, "capped at the newest 500");
    assert_eq!(events[0]["detail"], "message 599 about the S7-1200 PLC");
    assert_eq!(events[499]["detail"], "message 100 about the S7-1200 PLC");

    // What Redis writes (to its AOF, inside its one thread) for the next events does not
    // grow with the 500 entries already there: the whole timeline is ~25 KB, an event's own
    // writes about 1 KiB (the touch, its history, the changed mark).
    let before = aof_size(&app).await;
    for i in 600..650 {
        text(&app, CHATTY, i).await;
    }
    let per_event = (aof_size(&app).await - before) / 50;
    assert!(
        per_event < 2048,
        "{per_event} bytes written per event on a long timeline"
    );
}

#[tokio::test]
async fn a_lead_with_3_tags_and_5_events_costs_at_most_1_kib() {
    let app = TestApp::spawn_with(Spawn::shipped_channels()).await;
    for push in [
        xml::follow(SMALL, Some("expo-2026")),
        xml::click(SMALL, "MENU_PRODUCT_A"),
        xml::view(SMALL, "https://example.com/about"),
        xml::text(SMALL, "你好", 42),
        xml::text(SMALL, "请问有现货吗?", 43),
    ] {
        assert_eq!(app.post_event(&push).await.status(), StatusCode::OK);
    }
    let lead = app.lead(SMALL).await;
    assert_eq!(lead["tags"].as_array().unwrap().len(), 3);
    assert_eq!(lead["events"].as_array().unwrap().len(), 5);

    let mut conn = app.redis.conn().await;
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("*:{SMALL}"))
        .query_async(&mut conn)
        .await
        .unwrap();
    let mut total = 0;
    for key in &keys {
        let bytes: u64 = redis::cmd("MEMORY")
            .arg("USAGE")
            .arg(key)
            .arg("SAMPLES")
            .arg(0)
            .query_async(&mut conn)
            .await
            .unwrap();
        total += bytes;
    }
    assert!(total <= 1024, "{total} bytes in {keys:?}");
}

#[tokio::test]
async fn a_timeline_written_before_the_upgrade_is_still_shown_after_it() {
    let app = TestApp::spawn().await;
    let lead = "oTimelineLegacy000000000001";
    // wxtag 0.1 kept one string per lead, newest first; a lead it knew has no segments yet.
    assert_eq!(
        app.post_event(&xml::follow(lead, None)).await.status(),
        StatusCode::OK
    );
    let keys = wxtag::store::Keys::new(crate::helpers::APPID);
    let openid = wxtag::domain::OpenId::parse(lead).unwrap();
    let mut conn = app.redis.conn().await;
    let _: () = redis::cmd("SET")
        .arg(keys.legacy_timeline(&openid))
        .arg("1714112446 click MENU_PLC\u{1e}1714112445 follow ")
        .query_async(&mut conn)
        .await
        .unwrap();

    let events = app.lead(lead).await["events"].as_array().unwrap().clone();
    let kinds: Vec<&str> = events.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        ["follow", "click", "follow"],
        "new first, then the old"
    );
    assert_eq!(events[1]["detail"], "MENU_PLC");
}
