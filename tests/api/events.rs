//! Events from other systems over real HTTP and Redis: idempotency by id, errors by index,
//! the 413s, late events counted by their `at`, `[[event]]` rules with `where`, a `sum` tier
//! moving with orders, external id joins (parked events applied by the join or once the
//! lead follows), `updated_since` paging with its cursor, and the ingest role.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use wxtag::store::access::Role;

use crate::credentials::credential;
use crate::helpers::{ADMIN_TOKEN, Spawn, TestApp, eventually, xml};
use crate::tagging::{source_of, tag_names};

const RULES: &str = r#"
[follow]
tags = ["来源:自然关注"]

[[event]]
name = "webinar"
where = { topic = { contains = "PLC" } }
tags = ["兴趣:PLC网课"]

[[event]]
name = "order"
tags = ["客户:已下单"]

[[rule]]
name = "近期网课"
when = { event = "webinar", at_least = 1, within_days = 30 }
tags = ["意向:网课"]

[[tiers]]
name = "客户价值"
of = { sum = { event = "order", prop = "amount" }, within_days = 90 }
levels = [ { at_least = 1000, tag = "价值:高" }, { at_least = 0, tag = "价值:低" } ]
"#;

const DAY: i64 = 86_400;

async fn app() -> TestApp {
    TestApp::spawn_with(Spawn {
        channels: vec![("events.toml".to_owned(), RULES.to_owned())],
        ..Spawn::default()
    })
    .await
}

/// `at` as RFC 3339, `ago` seconds before now.
fn at(app: &TestApp, ago: i64) -> String {
    let t = app.now().0 - ago;
    chrono::DateTime::from_timestamp(t, 0).unwrap().to_rfc3339()
}

fn event(id: &str, openid: &str, name: &str, at: &str, props: Value) -> Value {
    json!({"id": id, "openid": openid, "name": name, "at": at, "props": props})
}

async fn post_with(app: &TestApp, token: &str, path: &str, body: &Value) -> (StatusCode, Value) {
    let response = app
        .http
        .post(format!("{}{path}", app.base))
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

pub(crate) async fn post_events(app: &TestApp, events: Vec<Value>) -> Value {
    let (status, report) = post_with(
        app,
        ADMIN_TOKEN,
        "/api/events",
        &json!({ "events": events }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{report}");
    report
}

fn counts(report: &Value) -> (u64, u64) {
    (
        report["accepted"].as_u64().unwrap(),
        report["duplicates"].as_u64().unwrap(),
    )
}

fn event_entries(lead: &Value) -> usize {
    let entries = lead["events"].as_array().unwrap();
    entries.iter().filter(|e| e["kind"] == "event").count()
}

#[tokio::test]
async fn an_event_id_has_one_effect_in_the_same_call_and_a_later_one() {
    let app = app().await;
    app.post_event(&xml::follow("oEv1", None)).await;
    let order = event(
        "ord-1",
        "oEv1",
        "order",
        &at(&app, 60),
        json!({"amount": 300}),
    );

    let report = post_events(&app, vec![order.clone(), order.clone()]).await;
    assert_eq!(counts(&report), (1, 1), "{report}");
    assert_eq!(report["errors"], json!([]));
    let report = post_events(&app, vec![order]).await;
    assert_eq!(counts(&report), (0, 1), "{report}");

    let lead = app.lead("oEv1").await;
    assert_eq!(event_entries(&lead), 1, "{lead}");
    assert_eq!(source_of(&lead, "客户:已下单"), "event:order");
    assert!(tag_names(&lead).contains(&"价值:低".to_owned()), "{lead}");
}

#[tokio::test]
async fn a_malformed_event_is_listed_by_index_while_the_others_go_in() {
    let app = app().await;
    app.post_event(&xml::follow("oEv2", None)).await;
    let now = at(&app, 0);
    let report = post_events(
        &app,
        vec![
            event("a", "oEv2", "order", &now, json!({"amount": 5})),
            event("b", "oEv2", "bad name", &now, json!({})),
            event("c", "oEv2", "order", &at(&app, -2 * DAY), json!({})),
            event("d", "oEv2", "order", &now, json!([1, 2])),
            json!({"id": "e", "name": "order", "at": now}),
            json!({"id": "f", "openid": "oEv2", "external_id": "crm:1", "name": "order", "at": now}),
            event("g", "oEv2", "order", "2026-12-01 10:00", json!({})),
            event("h", "oEv2", "webinar", &now, json!({"topic": "PLC"})),
        ],
    )
    .await;
    assert_eq!(counts(&report), (2, 0), "{report}");
    let errors = report["errors"].as_array().unwrap();
    let indexes: Vec<u64> = errors
        .iter()
        .map(|e| e["index"].as_u64().unwrap())
        .collect();
    assert_eq!(indexes, [1, 2, 3, 4, 5, 6], "{report}");
    assert!(errors[1]["message"].as_str().unwrap().contains("future"));
    assert!(errors[5]["message"].as_str().unwrap().contains("RFC 3339"));
    assert_eq!(event_entries(&app.lead("oEv2").await), 2);
}

#[tokio::test]
async fn more_than_a_thousand_events_or_a_body_over_a_mebibyte_is_413() {
    let app = app().await;
    app.post_event(&xml::follow("oEv3", None)).await;
    let now = at(&app, 0);
    let many: Vec<Value> = (0..1001)
        .map(|i| event(&format!("m{i}"), "oEv3", "order", &now, json!({})))
        .collect();
    let (status, body) =
        post_with(&app, ADMIN_TOKEN, "/api/events", &json!({ "events": many })).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("1001"));

    let big: Vec<Value> = (0..300)
        .map(|i| {
            event(
                &format!("b{i}"),
                "oEv3",
                "order",
                &now,
                json!({"x": "y".repeat(3500)}),
            )
        })
        .collect();
    let (status, _) = post_with(&app, ADMIN_TOKEN, "/api/events", &json!({ "events": big })).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        event_entries(&app.lead("oEv3").await),
        0,
        "nothing was applied"
    );

    let (status, _) = post_with(&app, ADMIN_TOKEN, "/api/events", &json!({"nope": []})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_late_event_counts_in_windows_by_its_own_at() {
    let app = app().await;
    app.post_event(&xml::follow("oEv4", None)).await;
    let last_seen = app.lead("oEv4").await["last_seen"].clone();

    let old = event(
        "w-40",
        "oEv4",
        "webinar",
        &at(&app, 40 * DAY),
        json!({"topic": "伺服"}),
    );
    assert_eq!(counts(&post_events(&app, vec![old]).await), (1, 0));
    let lead = app.lead("oEv4").await;
    assert!(
        !tag_names(&lead).contains(&"意向:网课".to_owned()),
        "40 days ago is outside 30: {lead}"
    );
    assert_eq!(
        lead["last_seen"], last_seen,
        "a late event does not move last seen"
    );

    let recent = event(
        "w-20",
        "oEv4",
        "webinar",
        &at(&app, 20 * DAY),
        json!({"topic": "伺服"}),
    );
    assert_eq!(counts(&post_events(&app, vec![recent]).await), (1, 0));
    let lead = app.lead("oEv4").await;
    assert!(
        tag_names(&lead).contains(&"意向:网课".to_owned()),
        "20 days ago is inside: {lead}"
    );
    assert_eq!(source_of(&lead, "意向:网课"), "rule:近期网课");
}

#[tokio::test]
async fn an_event_rule_with_where_tags_only_when_the_property_matches() {
    let app = app().await;
    app.post_event(&xml::follow("oEv5", None)).await;
    let servo = event(
        "s",
        "oEv5",
        "webinar",
        &at(&app, 60),
        json!({"topic": "伺服入门"}),
    );
    post_events(&app, vec![servo]).await;
    assert!(!tag_names(&app.lead("oEv5").await).contains(&"兴趣:PLC网课".to_owned()));

    let plc = event(
        "p",
        "oEv5",
        "webinar",
        &at(&app, 30),
        json!({"topic": "PLC 入门"}),
    );
    post_events(&app, vec![plc]).await;
    let lead = app.lead("oEv5").await;
    assert_eq!(source_of(&lead, "兴趣:PLC网课"), "event:webinar");
}

#[tokio::test]
async fn a_sum_tier_moves_as_orders_arrive() {
    let app = app().await;
    app.post_event(&xml::follow("oEv6", None)).await;
    let first = event(
        "o1",
        "oEv6",
        "order",
        &at(&app, 10 * DAY),
        json!({"amount": 300}),
    );
    post_events(&app, vec![first]).await;
    let lead = app.lead("oEv6").await;
    assert!(tag_names(&lead).contains(&"价值:低".to_owned()), "{lead}");

    // Amounts as text count too (CRMs often send them so).
    let second = event(
        "o2",
        "oEv6",
        "order",
        &at(&app, DAY),
        json!({"amount": "800"}),
    );
    post_events(&app, vec![second]).await;
    let lead = app.lead("oEv6").await;
    let tags = tag_names(&lead);
    assert!(
        tags.contains(&"价值:高".to_owned()),
        "300 + 800 ≥ 1000: {lead}"
    );
    assert!(!tags.contains(&"价值:低".to_owned()), "{lead}");
    assert_eq!(source_of(&lead, "价值:高"), "tiers:客户价值");

    // A segment reads the stored properties through the same evaluator.
    let when = |at_least: i64| {
        json!({"when": {"event": "order", "within_days": 30,
            "where": {"amount": {"at_least": at_least}}}})
    };
    for (at_least, count) in [(500, 1), (900, 0)] {
        let (status, preview) =
            post_with(&app, ADMIN_TOKEN, "/api/segments/preview", &when(at_least)).await;
        assert_eq!(status, StatusCode::OK, "{preview}");
        assert_eq!(
            preview["count"], count,
            "an order of at least {at_least}: {preview}"
        );
    }
}

#[tokio::test]
async fn an_event_for_an_unknown_external_id_is_kept_and_applied_when_the_id_is_joined() {
    let app = app().await;
    app.post_event(&xml::follow("oEv7", None)).await;
    app.post_event(&xml::follow("oEv7b", None)).await;
    let order = json!({"id": "crm-o1", "external_id": "crm:4711", "name": "order",
        "at": at(&app, 3600), "props": {"amount": 1500}});
    assert_eq!(
        counts(&post_events(&app, vec![order.clone()]).await),
        (1, 0)
    );
    assert_eq!(
        counts(&post_events(&app, vec![order.clone()]).await),
        (0, 1),
        "parked once"
    );
    assert!(!tag_names(&app.lead("oEv7").await).contains(&"客户:已下单".to_owned()));

    let join = json!({"external_id": "crm:4711"});
    let (status, lead) = post_with(&app, ADMIN_TOKEN, "/api/leads/oEv7/identity", &join).await;
    assert_eq!(status, StatusCode::OK, "{lead}");
    assert_eq!(lead["external_id"], "crm:4711");
    let lead = app.lead("oEv7").await;
    assert_eq!(lead["external_id"], "crm:4711");
    let tags = tag_names(&lead);
    assert!(tags.contains(&"客户:已下单".to_owned()), "{lead}");
    assert!(tags.contains(&"价值:高".to_owned()), "{lead}");
    assert_eq!(event_entries(&lead), 1);

    let csv = app.admin_get("/api/export.csv").await.text().await.unwrap();
    let row = csv.lines().find(|l| l.starts_with("oEv7,")).unwrap();
    assert!(row.ends_with(",crm:4711"), "{row}");
    let (_, page) = crate::dashboard::page(&app, "/leads/oEv7").await;
    assert!(
        page.contains(r#"<dd id="external-id">crm:4711</dd>"#),
        "{page}"
    );
    assert!(
        page.contains("外部事件") && page.contains("关联外部编号"),
        "{page}"
    );

    let (status, _) = post_with(&app, ADMIN_TOKEN, "/api/leads/oEv7/identity", &join).await;
    assert_eq!(status, StatusCode::OK, "joining again is no change");
    let (status, body) = post_with(&app, ADMIN_TOKEN, "/api/leads/oEv7b/identity", &join).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("oEv7"));
    let (status, _) = post_with(&app, ADMIN_TOKEN, "/api/leads/oNobody/identity", &join).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Known now: the same id is a duplicate; a new one applies at once.
    assert_eq!(counts(&post_events(&app, vec![order]).await), (0, 1));
    let more = json!({"id": "crm-o2", "external_id": "crm:4711", "name": "order",
        "at": at(&app, 60), "props": {"amount": 1}});
    assert_eq!(counts(&post_events(&app, vec![more]).await), (1, 0));
    assert_eq!(event_entries(&app.lead("oEv7").await), 2);
}

#[tokio::test]
async fn an_event_for_an_unknown_openid_is_applied_once_the_lead_follows() {
    let app = app().await;
    let early = event(
        "early",
        "oEv8",
        "order",
        &at(&app, 7200),
        json!({"amount": 20}),
    );
    assert_eq!(counts(&post_events(&app, vec![early]).await), (1, 0));
    let response = app.admin_get("/api/leads/oEv8").await;
    assert_eq!(
        response.status(),
        StatusCode::NOT_FOUND,
        "an event creates no lead"
    );

    app.post_event(&xml::follow("oEv8", None)).await;
    let lead = eventually(Duration::from_secs(20), || async {
        let lead = app.lead("oEv8").await;
        tag_names(&lead)
            .contains(&"客户:已下单".to_owned())
            .then_some(lead)
    })
    .await;
    assert_eq!(event_entries(&lead), 1);
}

#[tokio::test]
async fn updated_since_pages_every_changed_lead_and_a_lead_changed_meanwhile_comes_again() {
    let app = app().await;
    let since = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let leads = ["oUp1", "oUp2", "oUp3", "oUp4", "oUp5"];
    for openid in leads {
        app.post_event(&xml::follow(openid, None)).await;
    }
    let page = |cursor: Option<String>| {
        let since = since.clone();
        let app = &app;
        async move {
            let mut path = format!("/api/leads?updated_since={}&limit=2", urlencode(&since));
            if let Some(cursor) = cursor {
                path.push_str(&format!("&cursor={}", urlencode(&cursor)));
            }
            let response = app.admin_get(&path).await;
            assert_eq!(response.status(), StatusCode::OK);
            let body: Value = response.json().await.unwrap();
            let openids: Vec<String> = body["leads"]
                .as_array()
                .unwrap()
                .iter()
                .map(|l| l["openid"].as_str().unwrap().to_owned())
                .collect();
            (openids, body["next_cursor"].as_str().map(str::to_owned))
        }
    };
    let (first, mut cursor) = page(None).await;
    assert_eq!(first, ["oUp1", "oUp2"]);
    // The CRM is paging; meanwhile oUp1 changes (an event), then oUp4.
    for (id, openid) in [("u1", "oUp1"), ("u4", "oUp4")] {
        let change = event(id, openid, "order", &at(&app, 0), json!({"amount": 1}));
        post_events(&app, vec![change]).await;
    }
    let mut seen = first;
    while let Some(next) = cursor {
        let (openids, after) = page(Some(next)).await;
        seen.extend(openids);
        cursor = after;
    }
    assert_eq!(
        seen,
        ["oUp1", "oUp2", "oUp3", "oUp5", "oUp1", "oUp4"],
        "none skipped"
    );

    let later = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let body: Value = app
        .admin_get(&format!("/api/leads?updated_since={}", urlencode(&later)))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body, json!({"leads": [], "next_cursor": null}));
    for bad in [
        format!("/api/leads?updated_since={}&cursor=12", urlencode(&since)),
        format!("/api/leads?updated_since={}&tag=x", urlencode(&since)),
        "/api/leads?updated_since=yesterday".to_owned(),
    ] {
        assert_eq!(
            app.admin_get(&bad).await.status(),
            StatusCode::BAD_REQUEST,
            "{bad}"
        );
    }
}

/// Percent-encodes a query value (`+` and `:` in times and cursors).
fn urlencode(raw: &str) -> String {
    raw.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test]
async fn the_ingest_role_may_post_events_and_join_ids_and_nothing_else() {
    let app = app().await;
    app.post_event(&xml::follow("oEv9", None)).await;
    let crm = credential(&app, "crm", Role::Ingest, None).await;
    let sales = credential(&app, "wang-lei", Role::Sales, None).await;
    let body = json!({"events": [event("i1", "oEv9", "order", &at(&app, 0), json!({}))]});

    let (status, report) = post_with(&app, &crm, "/api/events", &body).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(counts(&report), (1, 0));
    let join = json!({"external_id": "crm:9"});
    let (status, _) = post_with(&app, &crm, "/api/leads/oEv9/identity", &join).await;
    assert_eq!(status, StatusCode::OK);
    let response = app
        .http
        .get(format!("{}/api/leads/oEv9", app.base))
        .bearer_auth(&crm)
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        StatusCode::FORBIDDEN,
        "ingest cannot read leads"
    );

    let (status, _) = post_with(&app, &sales, "/api/events", &body).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "sales cannot send events");
    let (status, _) = post_with(&app, &sales, "/api/leads/oEv9/identity", &join).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn the_scheduler_lowers_a_sum_tier_when_an_order_leaves_its_window() {
    let app = app().await;
    app.post_event(&xml::follow("oEv10", None)).await;
    let order = event(
        "old",
        "oEv10",
        "order",
        &at(&app, 89 * DAY),
        json!({"amount": 1500}),
    );
    post_events(&app, vec![order]).await;
    assert!(tag_names(&app.lead("oEv10").await).contains(&"价值:高".to_owned()));

    // Two days later the order is 91 days old: outside the 90-day sum, with no event.
    app.clock.advance(2 * DAY);
    eventually(Duration::from_secs(20), || async {
        let tags = tag_names(&app.lead("oEv10").await);
        (tags.contains(&"价值:低".to_owned()) && !tags.contains(&"价值:高".to_owned()))
            .then_some(())
    })
    .await;
}
