//! A plaintext push's signature does not cover its body: the same signed query with another
//! body is refused (401, no effect), while WeChat's retry of the same body is answered as before.

use reqwest::StatusCode;
use serde_json::Value;

use wxtag::domain::UnixTime;
use wxtag::wechat::reply::Reply;
use wxtag::wechat::signature;

use crate::helpers::{Spawn, TOKEN, TestApp, Wire, xml};

const FIRST: &str = "oReplayFirst0000000000000001";
const FORGED: &str = "oReplayForged000000000000002";

async fn dbsize(app: &TestApp) -> u64 {
    let mut conn = app.redis.conn().await;
    redis::cmd("DBSIZE").query_async(&mut conn).await.unwrap()
}

async fn channels(app: &TestApp) -> Value {
    app.admin_get("/api/channels").await.json().await.unwrap()
}

/// A plaintext push as WeChat signs it (no `encrypt_type`), whatever the app's mode.
fn plaintext(xml: &str) -> (Vec<(String, String)>, String) {
    let timestamp = UnixTime::now().0.to_string();
    let nonce = "1320562132";
    let query = vec![
        (
            "signature".to_owned(),
            signature::sign(&[TOKEN, &timestamp, nonce]),
        ),
        ("timestamp".to_owned(), timestamp),
        ("nonce".to_owned(), nonce.to_owned()),
    ];
    (query, xml.to_owned())
}

async fn another_body_under_a_seen_signature_is_refused(wire: Wire) {
    let app = TestApp::spawn_with(Spawn {
        wire,
        ..Spawn::shipped_channels()
    })
    .await;
    let (query, body) = plaintext(&xml::follow(FIRST, Some("expo-2026")));
    let first = app.post_raw(&query, body.clone()).await;
    assert_eq!(first.status(), StatusCode::OK);
    let first_reply = first.text().await.unwrap();
    let counters = channels(&app).await;
    let keys = dbsize(&app).await;

    // The same query (timestamp, nonce, signature) with a forged body: another lead, another
    // scene. A plaintext body is covered by no signature; the query must not vouch for it.
    let forged = xml::follow(FORGED, Some("website"));
    let refused = app.post_raw(&query, forged).await;
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    assert_ne!(refused.text().await.unwrap(), "success");
    let missing = app.admin_get(&format!("/api/leads/{FORGED}")).await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND, "no forged lead");
    assert_eq!(channels(&app).await, counters, "counters unchanged");
    assert_eq!(
        dbsize(&app).await,
        keys,
        "no key written, not even a dedup marker"
    );

    // WeChat's retry: the same query and the same body get the same answer, one effect.
    let retry = app.post_raw(&query, body).await;
    assert_eq!(retry.status(), StatusCode::OK);
    let reply = |xml: &str| Reply::parse_xml(xml).expect("a passive reply").0;
    assert_eq!(
        reply(&retry.text().await.unwrap()),
        reply(&first_reply),
        "the same reply (its CreateTime is the answer's own)"
    );
    let lead = app.lead(FIRST).await;
    assert_eq!(lead["events"].as_array().unwrap().len(), 1, "one effect");
    assert_eq!(channels(&app).await, counters, "the retry counts nothing");
}

#[tokio::test]
async fn plaintext_pushes_cannot_be_replayed_with_another_body() {
    another_body_under_a_seen_signature_is_refused(Wire::Plain).await;
}

#[tokio::test]
async fn compatible_mode_plaintext_pushes_cannot_be_replayed_with_another_body() {
    another_body_under_a_seen_signature_is_refused(Wire::Compatible).await;
}
