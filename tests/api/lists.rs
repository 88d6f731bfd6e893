//! Lead lists and the CSV export: cursors are checked, every page's work is bounded, list
//! pages never read timelines, and one corrupt lead never breaks a page or the export.

use std::time::Duration;

use redis::AsyncCommands;
use reqwest::StatusCode;
use serde_json::Value;
use wxtag::domain::OpenId;
use wxtag::store::Keys;

use crate::helpers::{APPID, TestApp, xml};

/// Writes `n` followed leads straight into Redis, as wxtag stores them, the way a big
/// account looks: the index and one small hash each.
async fn write_leads(app: &TestApp, prefix: &str, n: usize, subscribed: bool) {
    let keys = Keys::new(APPID);
    let mut conn = app.redis.conn().await;
    let mut pipe = redis::pipe();
    for i in 0..n {
        let openid = OpenId::parse(&format!("{prefix}{i}")).unwrap();
        pipe.rpush(keys.leads(), openid.as_str()).ignore();
        pipe.hset_multiple(
            keys.lead(&openid),
            &[
                ("sub", if subscribed { "1" } else { "0" }),
                ("fs", "1714112445"),
                ("ls", "1714112445"),
            ],
        )
        .ignore();
    }
    let () = pipe.query_async(&mut conn).await.unwrap();
}

/// GETs an admin path with a deadline, so a request that never answers fails the test.
async fn get_within(app: &TestApp, path: &str) -> reqwest::Response {
    tokio::time::timeout(Duration::from_secs(10), app.admin_get(path))
        .await
        .unwrap_or_else(|_| panic!("{path} did not answer within 10 s"))
}

/// GETs an admin path with a deadline and answers its JSON.
async fn json_within(app: &TestApp, path: &str) -> Value {
    get_within(app, path).await.json().await.unwrap()
}

/// The openids of a page of leads, in order.
fn openids(page: &Value) -> Vec<String> {
    page["leads"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["openid"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_cursor_that_is_not_a_position_is_a_json_400_at_once() {
    let app = TestApp::spawn().await;
    for i in 0..3 {
        app.post_event(&xml::follow(&format!("o{i}"), Some("expo-2026")))
            .await;
    }
    for query in [
        "cursor=999999999999",
        "cursor=9223372036854775807",
        "cursor=18446744073709551616",
        "cursor=3",
        "cursor=-1",
        "cursor=abc",
        "cursor=",
        "channel=expo-2026&cursor=abc",
        "channel=expo-2026&cursor=-5",
        "subscribed=false&cursor=999999999999",
    ] {
        let response = get_within(&app, &format!("/api/leads?{query}")).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{query}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "bad_request", "{query}: {body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("cursor"),
            "{query}: the message names the parameter: {body}"
        );
    }
    let last = get_within(&app, "/api/leads?cursor=2").await;
    assert_eq!(last.status(), StatusCode::OK, "the newest position is one");
    let last: Value = last.json().await.unwrap();
    assert_eq!(last["leads"].as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn a_filter_that_matches_little_pages_on_instead_of_scanning_every_lead() {
    let app = TestApp::spawn().await;
    write_leads(&app, "gone", 1, false).await;
    write_leads(&app, "here", 2500, true).await;

    let first = json_within(&app, "/api/leads?subscribed=false&limit=10").await;
    assert_eq!(
        first["leads"].as_array().unwrap().len(),
        0,
        "the first page examined only the newest leads: {first}"
    );
    let mut cursor = first["next_cursor"]
        .as_str()
        .expect("a cursor to go on")
        .to_owned();
    let mut pages = 1;
    let mut found = Vec::new();
    loop {
        let page = json_within(
            &app,
            &format!("/api/leads?subscribed=false&limit=10&cursor={cursor}"),
        )
        .await;
        pages += 1;
        found.extend(openids(&page));
        match page["next_cursor"].as_str() {
            Some(next) => cursor = next.to_owned(),
            None => break,
        }
        assert!(pages < 100, "paging ends");
    }
    assert_eq!(found, ["gone0"]);
    assert!(
        pages >= 3,
        "2501 leads take several bounded pages, not {pages}"
    );
}

#[tokio::test]
async fn list_pages_never_carry_timelines() {
    let app = TestApp::spawn().await;
    app.post_event(&xml::follow("o1", Some("expo-2026"))).await;
    app.post_event(&xml::text("o1", "报价", 1)).await;

    for query in ["", "channel=expo-2026", "subscribed=true"] {
        let page = json_within(&app, &format!("/api/leads?{query}")).await;
        let lead = &page["leads"][0];
        assert_eq!(lead["openid"], "o1", "{query}: {page}");
        assert!(lead.get("events").is_none(), "{query}: {lead}");
        assert!(lead.get("tags").is_some(), "{query}: {lead}");
    }
    let one = app.lead("o1").await;
    assert_eq!(one["events"].as_array().unwrap().len(), 2, "{one}");
}

/// Writes a lead hash that wxtag never writes, under the index like a real lead.
async fn corrupt(app: &TestApp, openid: &str, how: &str) {
    let keys = Keys::new(APPID);
    let openid = OpenId::parse(openid).unwrap();
    let mut conn = app.redis.conn().await;
    let key = keys.lead(&openid);
    let () = match how {
        "tag" => conn.hset(&key, "t:来源:展会", "nospace").await.unwrap(),
        "fs" => conn
            .hset_multiple(&key, &[("sub", "1"), ("fs", "yesterday")])
            .await
            .unwrap(),
        "type" => conn.set(&key, "not a hash").await.unwrap(),
        _ => unreachable!("a known corruption"),
    };
    let () = conn.rpush(keys.leads(), openid.as_str()).await.unwrap();
}

#[tokio::test]
async fn a_corrupt_lead_is_skipped_counted_and_the_rest_go_on() {
    let app = TestApp::spawn().await;
    app.post_event(&xml::follow("good1", None)).await;
    corrupt(&app, "bad-tag", "tag").await;
    corrupt(&app, "bad-fs", "fs").await;
    corrupt(&app, "bad-type", "type").await;
    app.post_event(&xml::follow("good2", None)).await;

    let page = get_within(&app, "/api/leads").await;
    assert_eq!(page.status(), StatusCode::OK);
    let page: Value = page.json().await.unwrap();
    assert_eq!(openids(&page), ["good2", "good1"], "{page}");

    let csv = get_within(&app, "/api/export.csv").await;
    assert_eq!(csv.status(), StatusCode::OK);
    let csv = csv.text().await.unwrap();
    assert!(
        csv.contains("\r\ngood1,") && csv.contains("\r\ngood2,"),
        "{csv}"
    );
    assert!(!csv.contains("bad-"), "{csv}");
    assert_eq!(csv.lines().count(), 3, "header and two rows: {csv}");

    for bad in ["bad-tag", "bad-fs", "bad-type"] {
        let one = get_within(&app, &format!("/api/leads/{bad}")).await;
        assert_eq!(one.status(), StatusCode::INTERNAL_SERVER_ERROR, "{bad}");
        let body: Value = one.json().await.unwrap();
        assert_eq!(body["error"]["code"], "internal", "{bad}: {body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(
            message.contains(bad) && message.contains("corrupt"),
            "{bad}: {message}"
        );
    }

    let metrics = app.metrics_text().await;
    let count: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("wxtag_corrupt_leads_total "))
        .unwrap_or_else(|| panic!("no corrupt-lead counter in {metrics}"))
        .parse()
        .unwrap();
    assert!(count >= 3, "each corrupt lead is counted: {count}");
}
