//! Bulk tagging from a segment: the dry run's figures, a job that converges on the sandbox
//! with the minimum calls and records who started it, cancelling, refusals, and a job that
//! survives `serve` killed with SIGKILL half-way, without doing anything twice.

use std::time::Duration;

use futures_util::{StreamExt, stream};
use redis::AsyncCommands;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use wxtag::domain::{OpenId, Scene, TagName, UnixTime};
use wxtag::sandbox::Faults;
use wxtag::store::{Effect, Keys, Store, TouchRecord};

use crate::helpers::{ADMIN_TOKEN, APPID, Spawn, TestApp, eventually, xml};
use crate::sync::{Serve, sandbox, workdir};

const BATCHTAGGING: &str = "/cgi-bin/tags/members/batchtagging";

pub(crate) const EXPO: &str =
    "[[qr]]\nscene = \"expo-2026\"\nname = \"展会\"\ntags = [\"来源:展会\"]\npermanent = true\n";

async fn call(base: &str, method: Method, path: &str, body: Option<Value>) -> reqwest::Response {
    // This file's tests may run alone: no other test has installed it then.
    wxtag::wechat::api::install_crypto_provider();
    let mut request = reqwest::Client::new()
        .request(method, format!("{base}{path}"))
        .bearer_auth(ADMIN_TOKEN);
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.unwrap()
}

/// Polls a job until it has ended; returns its status.
async fn ended(base: &str, job: &str, within: Duration) -> Value {
    eventually(within, || async {
        let status: Value = call(base, Method::GET, &format!("/api/jobs/{job}"), None)
            .await
            .json()
            .await
            .unwrap();
        (status["state"] != "running").then_some(status)
    })
    .await
}

#[tokio::test]
async fn a_bulk_tag_is_dry_run_then_reaches_wechat_with_the_minimum_calls() {
    let (sandbox, api) = sandbox(Faults::default());
    let app = TestApp::spawn_with(Spawn {
        channels: vec![("10.toml".to_owned(), EXPO.to_owned())],
        wechat: Some(api),
        ..Spawn::default()
    })
    .await;
    for n in 0..130 {
        app.post_event(&xml::follow(&format!("b{n:03}"), Some("expo-2026")))
            .await;
    }
    app.post_event(&xml::follow("other", None)).await;
    // Ten members hold the tag already: no change, no call for them.
    for n in 0..10 {
        let edit = call(
            &app.base,
            Method::POST,
            &format!("/api/leads/b{n:03}/tags"),
            Some(json!({"add": ["意向:PLC"]})),
        )
        .await;
        assert_eq!(edit.status(), StatusCode::OK);
    }
    let saved = call(
        &app.base,
        Method::PUT,
        "/api/segments/展会",
        Some(json!({"when": {"channel": "expo-2026"}})),
    )
    .await;
    assert_eq!(saved.status(), StatusCode::OK);
    // Everything so far synced, so the calls counted next are the job's.
    let before = eventually(Duration::from_secs(30), || async {
        (app.outbox_len().await == 0).then(|| sandbox.state().calls_to(BATCHTAGGING, "0"))
    })
    .await;

    let body = json!({"add": ["意向:PLC", "活动:工博会"], "dry_run": true});
    let dry: Value = call(
        &app.base,
        Method::POST,
        "/api/segments/展会/tags",
        Some(body),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(
        dry,
        json!({"leads": 130, "changes": 120 + 130, "wechat_calls": 3 + 3, "over_20": 0})
    );

    let body = json!({"add": ["意向:PLC", "活动:工博会"]});
    let started = call(
        &app.base,
        Method::POST,
        "/api/segments/展会/tags",
        Some(body),
    )
    .await;
    assert_eq!(started.status(), StatusCode::ACCEPTED);
    let job = started.json::<Value>().await.unwrap()["job"]
        .as_str()
        .unwrap()
        .to_owned();
    let status = ended(&app.base, &job, Duration::from_secs(30)).await;
    assert_eq!(status["state"], "done", "{status}");
    assert_eq!(
        (status["done"].as_u64(), status["total"].as_u64()),
        (Some(130), Some(130))
    );
    assert_eq!(status["by"], "admin");

    let calls = eventually(Duration::from_secs(30), || async {
        (app.outbox_len().await == 0).then(|| sandbox.state().calls_to(BATCHTAGGING, "0"))
    })
    .await;
    assert_eq!(calls - before, 6, "⌈120/50⌉ + ⌈130/50⌉ batchtagging calls");
    let state = sandbox.state();
    let campaign = state
        .tag_named("活动:工博会")
        .expect("the tag reached WeChat")
        .id;
    let b129 = OpenId::parse("b129").unwrap();
    assert!(state.tags_of(&b129).contains(&campaign));
    assert!(
        !state
            .tags_of(&OpenId::parse("other").unwrap())
            .contains(&campaign)
    );

    let lead = app.lead("b129").await;
    let tag = lead["tags"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "活动:工博会")
        .unwrap()
        .clone();
    assert_eq!(tag["source"], "segment:展会");
    let audit: Vec<String> = app
        .redis
        .conn()
        .await
        .lrange(Keys::new(APPID).audit(), 0, -1)
        .await
        .unwrap();
    assert!(
        audit
            .iter()
            .any(|r| r.contains("segment.tags") && r.contains("\"who\":\"admin\"")),
        "{audit:?}"
    );

    // Ended: nothing to cancel.
    let cancel = call(&app.base, Method::DELETE, &format!("/api/jobs/{job}"), None).await;
    assert_eq!(cancel.status(), StatusCode::CONFLICT);
}

#[tokio::test]
async fn bulk_tags_refuse_derived_tags_nonsense_and_unknown_segments_and_jobs() {
    let app = TestApp::spawn_with(Spawn::shipped_channels_over_time()).await;
    app.post_event(&xml::follow("o1", Some("expo-2026"))).await;
    call(
        &app.base,
        Method::PUT,
        "/api/segments/all",
        Some(json!({"when": {"subscribed": true}})),
    )
    .await;
    for (body, status) in [
        (json!({"add": ["阶段:商机"]}), StatusCode::CONFLICT),
        (json!({"add": []}), StatusCode::BAD_REQUEST),
        (
            json!({"add": ["x"], "remove": ["x"]}),
            StatusCode::BAD_REQUEST,
        ),
        (json!({"add": [" x"]}), StatusCode::BAD_REQUEST),
        (json!({"add": ["x"], "nope": 1}), StatusCode::BAD_REQUEST),
    ] {
        let response = call(
            &app.base,
            Method::POST,
            "/api/segments/all/tags",
            Some(body.clone()),
        )
        .await;
        assert_eq!(response.status(), status, "{body}");
    }
    let missing = call(
        &app.base,
        Method::POST,
        "/api/segments/none/tags",
        Some(json!({"add": ["x"]})),
    )
    .await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    for method in [Method::GET, Method::DELETE] {
        let response = call(&app.base, method, "/api/jobs/0123456789abcdef", None).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
    }
}

/// `n` leads through the expo channel, written through the intake's script.
async fn seed(redis_url: &str, n: usize) {
    let conn = redis::Client::open(redis_url)
        .unwrap()
        .get_connection_manager()
        .await
        .unwrap();
    let store = Store::new(conn, APPID);
    let expo = Scene::parse("expo-2026").unwrap();
    let tag = TagName::parse("来源:展会").unwrap();
    let now = UnixTime::now();
    stream::iter(0..n)
        .for_each_concurrent(64, |i| {
            let (store, expo, tag) = (&store, &expo, &tag);
            async move {
                let openid = OpenId::parse(&format!("k{i:05}")).unwrap();
                let identity = format!("{openid}|seed");
                store
                    .apply(&TouchRecord {
                        openid: &openid,
                        identity: &identity,
                        unsigned_body: None,
                        at: now,
                        effect: Effect::Follow,
                        scene: Some(expo),
                        timeline: Some(("follow", "")),
                        location: None,
                        tags: vec![(tag, "qr:expo-2026")],
                        want_tags: false,
                        history: vec!["follow"],
                        history_days: 90,
                        derive: false,
                        event: None,
                        fired: String::new(),
                        watched: String::new(),
                        window: None,
                        do_not_contact: None,
                    })
                    .await
                    .unwrap()
                    .unwrap();
            }
        })
        .await;
}

#[tokio::test]
async fn a_job_survives_serve_killed_half_way_and_cancel_stops_one() {
    let redis = crate::helpers::TestRedis::start().await;
    let (_sandbox, api) = sandbox(Faults::default());
    let dir = workdir();
    std::fs::write(dir.path().join("channels/10.toml"), EXPO).unwrap();
    let leads = 20_000;
    seed(&redis.url(), leads).await;
    let mut serve = Serve::start(dir.path(), &redis.url(), &api, "first").await;
    let saved = call(
        &serve.base,
        Method::PUT,
        "/api/segments/expo",
        Some(json!({"when": "来源:展会"})),
    )
    .await;
    assert_eq!(saved.status(), StatusCode::OK);
    let started: Value = call(
        &serve.base,
        Method::POST,
        "/api/segments/expo/tags",
        Some(json!({"add": ["活动:回访"]})),
    )
    .await
    .json()
    .await
    .unwrap();
    let job = started["job"].as_str().unwrap().to_owned();
    let done_at_kill = eventually(Duration::from_secs(60), || async {
        let status: Value = call(&serve.base, Method::GET, &format!("/api/jobs/{job}"), None)
            .await
            .json()
            .await
            .unwrap();
        let done = status["done"].as_u64().unwrap();
        (done > 0).then_some(done)
    })
    .await;
    serve.child.kill().await.unwrap();
    assert!(
        done_at_kill < leads as u64,
        "killed half-way: {done_at_kill} done"
    );

    let serve = Serve::start(dir.path(), &redis.url(), &api, "second").await;
    let status = ended(&serve.base, &job, Duration::from_secs(120)).await;
    assert_eq!(status["state"], "done", "{status}");
    assert_eq!(status["done"].as_u64(), Some(leads as u64));
    let mut conn = redis.conn().await;
    let keys = Keys::new(APPID);
    let tagged: u64 = conn
        .scard(keys.tag_members(&TagName::parse("活动:回访").unwrap()))
        .await
        .unwrap();
    assert_eq!(tagged, leads as u64, "every member tagged");
    // Each lead changed once: one tag entry on its timeline, even in the step done twice.
    for i in (0..leads).step_by(97) {
        let lead: Value = call(
            &serve.base,
            Method::GET,
            &format!("/api/leads/k{i:05}"),
            None,
        )
        .await
        .json()
        .await
        .unwrap();
        let tag_entries = lead["events"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["kind"] == "tag")
            .count();
        assert_eq!(tag_entries, 1, "k{i:05}: {lead}");
    }

    // A second job, cancelled at once: it stops, and says so.
    let started: Value = call(
        &serve.base,
        Method::POST,
        "/api/segments/expo/tags",
        Some(json!({"add": ["活动:再访"]})),
    )
    .await
    .json()
    .await
    .unwrap();
    let job = started["job"].as_str().unwrap().to_owned();
    let cancel = call(
        &serve.base,
        Method::DELETE,
        &format!("/api/jobs/{job}"),
        None,
    )
    .await;
    assert_eq!(cancel.status(), StatusCode::NO_CONTENT);
    let status = ended(&serve.base, &job, Duration::from_secs(10)).await;
    assert_eq!(status["state"], "cancelled");
    assert!(status["done"].as_u64().unwrap() < leads as u64, "{status}");
}
