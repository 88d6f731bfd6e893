//! The admin API: never open, and the lead's shape.

use reqwest::StatusCode;

use crate::helpers::{TestApp, xml};

#[tokio::test]
async fn the_admin_api_is_401_without_the_right_token_and_says_nothing() {
    let app = TestApp::spawn().await;
    app.post_event(&xml::follow("o1", None)).await;
    let url = format!("{}/api/leads/o1", app.base);

    for request in [
        app.http.get(&url),
        app.http.get(&url).bearer_auth("wrong-token-wrong-token"),
        app.http
            .get(&url)
            .header("authorization", "Basic dGVzdDp0ZXN0"),
        app.http.get(&url).bearer_auth(""),
    ] {
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(response.text().await.unwrap(), "", "nothing else is said");
    }
}

#[tokio::test]
async fn an_unknown_lead_is_404_and_a_bad_openid_400() {
    let app = TestApp::spawn().await;
    assert_eq!(
        app.admin_get("/api/leads/nobody").await.status(),
        StatusCode::NOT_FOUND
    );
    let bad = app.admin_get("/api/leads/a:b").await;
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    let body: serde_json::Value = bad.json().await.unwrap();
    assert_eq!(body["error"]["code"], "bad_request");
}

#[tokio::test]
async fn a_lead_has_the_documented_shape() {
    let app = TestApp::spawn().await;
    app.post_event(&xml::follow("o1", Some("1001"))).await;

    let lead = app.lead("o1").await;

    for field in [
        "openid",
        "subscribed",
        "first_channel",
        "channels",
        "tags",
        "events",
    ] {
        assert!(lead.get(field).is_some(), "missing {field} in {lead}");
    }
    assert_eq!(lead["first_channel"], "1001", "scene ids are strings");
    let event = &lead["events"][0];
    for field in ["at", "kind", "detail"] {
        assert!(event.get(field).is_some(), "missing events[].{field}");
    }
    assert!(event["at"].as_str().unwrap().ends_with("+08:00"));
}

#[tokio::test]
async fn an_unknown_api_route_is_a_json_404_behind_the_token() {
    let app = TestApp::spawn().await;

    let missing = app.admin_get("/api/nothing-here").await;

    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    let body: serde_json::Value = missing.json().await.unwrap();
    assert_eq!(body["error"]["code"], "not_found");
    let anonymous = app
        .http
        .get(format!("{}/api/nothing-here", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(
        anonymous.status(),
        StatusCode::UNAUTHORIZED,
        "nothing is said without the token"
    );
}

#[tokio::test]
async fn a_fresh_account_with_no_tags_lists_nothing_rather_than_failing() {
    let app = TestApp::spawn().await;
    for path in ["/api/tags", "/api/leads"] {
        let response = app.admin_get(path).await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
    }
    let tags: serde_json::Value = app.admin_get("/api/tags").await.json().await.unwrap();
    assert_eq!(tags, serde_json::json!([]));
}
