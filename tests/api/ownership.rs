//! Tag ownership at the API: a derived tag (here a `[[rule]]`'s `意向:PLC高`, and the shipped
//! example's rule, stage, tier and preference tags) has no other source, so a sales edit that
//! would add or remove it, through the admin API or the dashboard's form, is a 409 naming the
//! tag and what to do, and changes nothing.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::dashboard::post_form;
use crate::helpers::{ADMIN_TOKEN, Spawn, TestApp, xml};
use crate::tagging::{source_of, tag_names};

/// A PLC menu button and the rule tag three PLC clicks in 30 days derive.
pub(crate) const PLC_RULE: &str = r#"
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

/// Sends a tag edit that must be refused: a 409 in the API's error shape; its message.
async fn refused(app: &TestApp, openid: &str, body: Value) -> String {
    let response = edit(app, openid, body).await;
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

    let message = refused(
        &app,
        "oOwnAdd",
        json!({ "add": ["跟进:王磊", "意向:PLC高"] }),
    )
    .await;

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

    let own = edit(&app, "oOwnAdd", json!({ "add": ["跟进:王磊"] })).await;
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
    assert_eq!(source_of(&before, "意向:PLC高"), "rule:PLC 高意向");

    let message = refused(&app, "oOwnHeld", json!({ "remove": ["意向:PLC高"] })).await;

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

    let response = post_form(&app, "/leads/oOwnForm/tags", &[("add", "意向:PLC高")]).await;

    assert_eq!(response.status(), StatusCode::CONFLICT);
    let page = response.text().await.unwrap();
    assert!(page.contains("意向:PLC高"), "names the tag");
    assert!(page.contains("channels/"), "says where to change it");
    assert_eq!(tag_names(&app.lead("oOwnForm").await), tag_names(&before));
}

#[tokio::test]
async fn the_shipped_example_owns_its_rule_stage_tier_and_preference_tags() {
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
    assert_eq!(source_of(&lead, "意向:PLC高"), "rule:PLC 高意向");
    assert_eq!(source_of(&lead, "阶段:新线索"), "lifecycle");

    assert_eq!(
        refused(&app, "oOwnShip", json!({ "remove": ["阶段:新线索"] })).await,
        "阶段:新线索 is derived by lifecycle; change the rule in channels/ instead"
    );
    for (tag, kind) in [("等级:A", "a tier"), ("偏好:伺服", "a preference")] {
        let message = refused(&app, "oOwnShip", json!({ "add": [tag] })).await;
        assert!(
            message.starts_with(&format!("{tag} is derived")),
            "{kind}: {message}"
        );
    }
    let industry = edit(&app, "oOwnShip", json!({ "add": ["行业:汽车"] })).await;
    assert_eq!(
        industry.status(),
        StatusCode::OK,
        "a group's tags are not derived"
    );
}
