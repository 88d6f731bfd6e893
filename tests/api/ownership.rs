//! Tag ownership at the API: a derived tag (here a `[[rule]]`'s `意向:PLC高`) has no other
//! source, so a sales edit that would add or remove it, through the admin API or the
//! dashboard's form, is a 409 naming the tag and what to do, and changes nothing.

use reqwest::StatusCode;
use serde_json::Value;

use crate::dashboard::post_form;
use crate::helpers::{ADMIN_TOKEN, Spawn, TestApp, xml};

/// A PLC menu button and the rule tag three PLC clicks in 30 days derive.
const PLC_RULE: &str = r#"
[[click]]
key  = "MENU_PLC"
tags = ["兴趣:PLC"]

[[rule]]
name = "PLC 高意向"
when = { count = ["click:MENU_PLC"], at_least = 3, within_days = 30 }
tags = ["意向:PLC高"]
"#;

async fn app() -> TestApp {
    TestApp::spawn_with(Spawn {
        channels: vec![("50-plc.toml".to_owned(), PLC_RULE.to_owned())],
        ..Spawn::default()
    })
    .await
}

async fn edit(app: &TestApp, openid: &str, body: Value) -> reqwest::Response {
    app.http
        .post(format!("{}/api/leads/{openid}/tags", app.base))
        .bearer_auth(ADMIN_TOKEN)
        .json(&body)
        .send()
        .await
        .unwrap()
}

fn tag_names(lead: &Value) -> Vec<String> {
    let mut names: Vec<String> = lead["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    names
}

/// The 409's JSON error message, after checking its shape.
async fn conflict(response: reqwest::Response) -> String {
    assert_eq!(response.status(), StatusCode::CONFLICT);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "conflict", "{body}");
    body["error"]["message"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn adding_a_derived_tag_by_hand_is_a_409_and_changes_nothing() {
    let app = app().await;
    app.post_event(&xml::follow("oOwnAdd", None)).await;
    let before = app.lead("oOwnAdd").await;
    let outbox = app.outbox_len().await;

    let refused = edit(
        &app,
        "oOwnAdd",
        serde_json::json!({ "add": ["跟进:王磊", "意向:PLC高"] }),
    )
    .await;

    let message = conflict(refused).await;
    assert!(message.contains("意向:PLC高"), "names the tag: {message}");
    assert!(message.contains("derived"), "says why: {message}");
    assert!(message.contains("channels/"), "says what to do: {message}");
    let after = app.lead("oOwnAdd").await;
    assert_eq!(
        tag_names(&after),
        tag_names(&before),
        "no tag changed, not even 跟进:王磊"
    );
    assert_eq!(after["events"], before["events"], "no timeline entry");
    assert_eq!(app.outbox_len().await, outbox, "nothing to sync");

    let own = edit(&app, "oOwnAdd", serde_json::json!({ "add": ["跟进:王磊"] })).await;
    assert_eq!(own.status(), StatusCode::OK, "sales' own tags still work");
}

#[tokio::test]
async fn removing_a_derived_tag_the_lead_holds_names_its_rule() {
    let app = app().await;
    let now = app.now().0;
    app.post_event(&xml::follow_at("oOwnHeld", None, now - 10))
        .await;
    for ago in [3, 2, 1] {
        // A second apart: WeChat's dedup key for events is the lead and the CreateTime.
        app.post_event(&xml::click_at("oOwnHeld", "MENU_PLC", now - ago))
            .await;
    }
    let before = app.lead("oOwnHeld").await;
    assert!(
        tag_names(&before).contains(&"意向:PLC高".to_owned()),
        "three PLC clicks derive the rule tag: {before}"
    );

    let refused = edit(
        &app,
        "oOwnHeld",
        serde_json::json!({ "remove": ["意向:PLC高"] }),
    )
    .await;

    let message = conflict(refused).await;
    assert_eq!(
        message,
        "意向:PLC高 is derived by rule:PLC 高意向; change the rule in channels/ instead"
    );
    assert_eq!(tag_names(&app.lead("oOwnHeld").await), tag_names(&before));
}

#[tokio::test]
async fn the_dashboard_form_refuses_a_derived_tag_with_409_and_says_why() {
    let app = app().await;
    app.post_event(&xml::follow("oOwnForm", None)).await;
    let before = app.lead("oOwnForm").await;

    let refused = post_form(&app, "/leads/oOwnForm/tags", &[("add", "意向:PLC高")]).await;

    assert_eq!(refused.status(), StatusCode::CONFLICT);
    let page = refused.text().await.unwrap();
    assert!(page.contains("意向:PLC高"), "names the tag");
    assert!(page.contains("channels/"), "says where to change it");
    assert_eq!(tag_names(&app.lead("oOwnForm").await), tag_names(&before));
}

#[tokio::test]
async fn the_shipped_example_owns_its_rule_stage_and_tier_tags() {
    let app = TestApp::spawn_with(Spawn::shipped_channels_over_time()).await;
    let now = app.now().0;
    app.post_event(&xml::follow_at("oOwnShip", Some("expo-2026"), now - 10))
        .await;
    app.post_event(&xml::click_at("oOwnShip", "MENU_PRODUCT_A", now - 3))
        .await;
    app.post_event(&xml::view(
        "oOwnShip",
        "https://example.com/products/plc/s7",
    ))
    .await;
    app.post_event(&xml::text("oOwnShip", "PLC", 9_001)).await;
    let lead = app.lead("oOwnShip").await;
    let source = |tag: &str| {
        lead["tags"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == tag)
            .map(|t| t["source"].as_str().unwrap().to_owned())
    };
    assert_eq!(
        source("意向:PLC高").as_deref(),
        Some("rule:PLC 高意向"),
        "{lead}"
    );
    assert_eq!(
        source("阶段:新线索").as_deref(),
        Some("lifecycle"),
        "{lead}"
    );

    let stage = edit(
        &app,
        "oOwnShip",
        serde_json::json!({ "remove": ["阶段:新线索"] }),
    )
    .await;
    assert_eq!(
        conflict(stage).await,
        "阶段:新线索 is derived by lifecycle; change the rule in channels/ instead"
    );
    let tier = edit(&app, "oOwnShip", serde_json::json!({ "add": ["等级:A"] })).await;
    assert!(conflict(tier).await.starts_with("等级:A is derived"));
    let preference = edit(
        &app,
        "oOwnShip",
        serde_json::json!({ "add": ["偏好:伺服"] }),
    )
    .await;
    assert!(
        conflict(preference)
            .await
            .starts_with("偏好:伺服 is derived")
    );
    let industry = edit(
        &app,
        "oOwnShip",
        serde_json::json!({ "add": ["行业:汽车"] }),
    )
    .await;
    assert_eq!(
        industry.status(),
        StatusCode::OK,
        "a group's tags are not derived"
    );
}
