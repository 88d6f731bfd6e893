//! The segment pages over HTTP, as a browser without JavaScript uses them: the builder's
//! buttons change the tree, preview counts what the API counts and shows the profile, a
//! mistake is shown at its row, save goes to the segment's page (size, trend, profile,
//! members), edit brings the tree back, bulk tagging shows its dry run before the job runs,
//! and delete removes it.

use std::time::Duration;

use reqwest::{Response, StatusCode, header, redirect};
use serde_json::{Value, json};

use crate::helpers::{ADMIN_TOKEN, Spawn, TestApp, eventually, xml};

/// The marketer's segment of the issue, as the builder's controls post it.
const MARKETERS: &[(&str, &str)] = &[
    ("name", "展会 PLC 意向"),
    ("k.r", "all"),
    ("k.r-0", "any"),
    ("k.r-0-0", "channel"),
    ("v.r-0-0", "expo-2026"),
    ("k.r-0-1", "channel"),
    ("v.r-0-1", "website"),
    ("k.r-1", "tag"),
    ("v.r-1", "兴趣:PLC"),
    ("k.r-2", "none"),
    ("k.r-2-0", "tag"),
    ("v.r-2-0", "客户"),
    ("k.r-3", "last_seen_within_days"),
    ("d.r-3", "30"),
];

/// The same condition as the API takes it.
fn marketers_json() -> Value {
    json!({"all": [
        {"any": [{"channel": "expo-2026"}, {"channel": "website"}]},
        {"tag": "兴趣:PLC"},
        {"none": [{"tag": "客户"}]},
        {"last_seen_within_days": 30},
    ]})
}

/// The segment's path on the dashboard.
const PAGE: &str = "/segments/%E5%B1%95%E4%BC%9A%20PLC%20%E6%84%8F%E5%90%91";

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(redirect::Policy::none())
        .build()
        .unwrap()
}

struct Browser {
    app: TestApp,
    cookie: String,
}

impl Browser {
    async fn get(&self, path: &str) -> (StatusCode, String) {
        let response = client()
            .get(format!("{}{path}", self.app.base))
            .header(header::COOKIE, &self.cookie)
            .send()
            .await
            .unwrap();
        (response.status(), response.text().await.unwrap())
    }

    async fn post(&self, path: &str, form: &[(&str, &str)]) -> Response {
        client()
            .post(format!("{}{path}", self.app.base))
            .header(header::COOKIE, &self.cookie)
            .form(form)
            .send()
            .await
            .unwrap()
    }

    async fn build(&self, form: &[(&str, &str)], act: &str) -> (StatusCode, String) {
        let mut form = form.to_vec();
        form.push(("act", act));
        let response = self.post("/build", &form).await;
        (response.status(), response.text().await.unwrap())
    }

    async fn api(&self, method: reqwest::Method, path: &str, body: Value) -> Value {
        self.app
            .http
            .request(method, format!("{}{path}", self.app.base))
            .bearer_auth(ADMIN_TOKEN)
            .json(&body)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }
}

/// Five members (e1-e3 from the expo, w1-w2 from the website, all clicked the PLC menu),
/// and leads just outside: e4 is a customer, e5 never clicked, a1 came from an ad.
async fn browser() -> Browser {
    let app = TestApp::spawn_with(Spawn::shipped_channels_over_time()).await;
    let follows = [
        ("e1", "expo-2026"),
        ("e2", "expo-2026"),
        ("e3", "expo-2026"),
        ("e4", "expo-2026"),
        ("e5", "expo-2026"),
        ("w1", "website"),
        ("w2", "website"),
        ("a1", "ad-spring-2026"),
    ];
    for (openid, scene) in follows {
        app.post_event(&xml::follow(openid, Some(scene))).await;
    }
    for openid in ["e1", "e2", "e3", "e4", "w1", "w2", "a1"] {
        app.post_event(&xml::click(openid, "MENU_PRODUCT_A")).await;
    }
    let customer = app
        .http
        .post(format!("{}/api/leads/e4/tags", app.base))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"add": ["客户"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(customer.status(), StatusCode::OK);
    let cookie = app.session_cookie(ADMIN_TOKEN).await;
    Browser { app, cookie }
}

/// The text of the element with `id`, up to its first `<`.
fn text_of<'a>(body: &'a str, id: &str) -> &'a str {
    let start = body
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no #{id} in {body}"));
    let after = &body[start..];
    let open = after.find('>').unwrap() + 1;
    let close = after[open..].find('<').unwrap() + open;
    after[open..close].trim()
}

#[tokio::test]
async fn the_builder_nests_groups_by_buttons_and_previews_the_count_and_profile() {
    let b = browser().await;
    let (status, blank) = b.get("/build").await;
    assert_eq!(status, StatusCode::OK);
    assert!(blank.contains(r#"name="k.r""#) && blank.contains(r#"name="k.r-0""#));
    assert!(!blank.contains("<script"), "no JavaScript");

    // Each button posts the whole tree and gets it back changed.
    let one = [("k.r", "all"), ("k.r-0", "tag"), ("v.r-0", "兴趣:PLC")];
    let (_, added) = b.build(&one, "add:r").await;
    assert!(added.contains(r#"name="k.r-1""#), "{added}");
    assert!(
        added.contains(r#"value="兴趣:PLC""#),
        "the value typed stays"
    );
    let (_, grouped) = b.build(&one, "group:r").await;
    assert!(
        grouped.contains(r#"id="g-r-1""#),
        "a nested group: {grouped}"
    );
    assert!(
        grouped.contains(r#"name="k.r-1-0""#),
        "with its first condition"
    );
    let two = [
        ("k.r", "all"),
        ("k.r-0", "tag"),
        ("v.r-0", "a"),
        ("k.r-1", "tag"),
        ("v.r-1", "b"),
    ];
    let (_, removed) = b.build(&two, "del:r-0").await;
    assert!(removed.contains(r#"value="b""#) && !removed.contains(r#"value="a""#));
    assert!(!removed.contains(r#"name="k.r-1""#), "renumbered");
    assert!(
        !removed.contains("id=\"preview-count\""),
        "structure edits do not count"
    );

    // Preview: the count the API gives, its sample, and the profile of the members.
    let (status, preview) = b.build(MARKETERS, "preview").await;
    assert_eq!(status, StatusCode::OK, "{preview}");
    let api = b
        .api(
            reqwest::Method::POST,
            "/api/segments/preview",
            json!({"when": marketers_json()}),
        )
        .await;
    assert_eq!(api["count"], 5, "{api}");
    assert_eq!(text_of(&preview, "preview-count"), "5 位线索");
    for member in ["e1", "e2", "e3", "w1", "w2"] {
        assert!(
            preview.contains(&format!("href=\"/leads/{member}\"")),
            "{member}"
        );
    }
    for outside in ["e4", "e5", "a1"] {
        assert!(
            !preview.contains(&format!("href=\"/leads/{outside}\"")),
            "{outside}"
        );
    }
    let profile = &preview[preview.find("id=\"profile\"").expect("a profile")..];
    let plc = &profile[profile
        .find("<td>兴趣:PLC</td>")
        .expect("PLC in the profile")..];
    assert!(plc.contains("100%"), "every member has PLC");
    assert!(
        profile.contains("<td>展会</td>") || profile.contains("展会"),
        "first channels"
    );
    assert!(profile.contains("阶段:"), "stages: {profile}");

    // A mistake is shown at its row, with the path.
    let mut wrong = MARKETERS.to_vec();
    wrong.retain(|(k, _)| *k != "d.r-3");
    wrong.push(("d.r-3", "thirty"));
    let (status, refused) = b.build(&wrong, "preview").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        refused.contains(r#"class="cond bad" id="c-r-3""#),
        "{refused}"
    );
    assert!(
        refused.contains("all[3].last_seen_within_days"),
        "{refused}"
    );

    // A condition the builder cannot show is edited as JSON.
    let event = r#"{"event": "order", "within_days": 90}"#;
    let (status, json_mode) = b.build(&[("json", event)], "json").await;
    assert_eq!(status, StatusCode::OK, "{json_mode}");
    assert!(json_mode.contains(r#"name="mode" value="json""#));
    assert_eq!(text_of(&json_mode, "preview-count"), "0 位线索");
    let (status, bad) = b.build(&[("json", "{not json")], "json").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(bad.contains("JSON 读不了"), "{bad}");
}

#[tokio::test]
async fn a_saved_segment_has_its_page_and_bulk_tags_after_a_dry_run() {
    let b = browser().await;
    let mut unnamed = MARKETERS.to_vec();
    unnamed.retain(|(k, _)| *k != "name");
    let (status, nameless) = b.build(&unnamed, "save").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(nameless.contains("保存前请填写分群名称"));

    let saved = b
        .post("/build", &[MARKETERS, &[("act", "save")]].concat())
        .await;
    assert_eq!(saved.status(), StatusCode::SEE_OTHER);
    assert_eq!(saved.headers()[header::LOCATION], PAGE);
    let listed = b
        .api(reqwest::Method::GET, "/api/segments", json!({}))
        .await;
    assert_eq!(listed["segments"][0]["name"], "展会 PLC 意向");
    assert_eq!(listed["segments"][0]["when"], marketers_json());
    assert_eq!(listed["segments"][0]["by"], "admin");

    let (_, list) = b.get("/segments").await;
    assert!(list.contains(&format!("href=\"{PAGE}\"")), "{list}");
    let (status, page) = b.get(PAGE).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        text_of(&page, "segment-members").starts_with("5 位线索"),
        "{page}"
    );
    assert!(page.contains("id=\"trend-chart\""), "the 30-day chart");
    assert!(
        page.contains("id=\"profile\""),
        "the profile kept with the count"
    );
    let members = &page[page.find("id=\"members\"").unwrap()..];
    assert_eq!(members.matches("class=\"openid\"").count(), 5, "{members}");
    assert!(page.contains(&format!("href=\"{PAGE}/export.csv\"")));

    let (_, edit) = b
        .get(&format!("/build?segment={}", &PAGE["/segments/".len()..]))
        .await;
    for value in ["expo-2026", "website", "兴趣:PLC", "客户", "30"] {
        assert!(
            edit.contains(&format!("value=\"{value}\"")),
            "{value}: {edit}"
        );
    }
    assert!(edit.contains(r#"value="展会 PLC 意向""#), "the name too");

    let tags = format!("{PAGE}/tags");
    let dry = b
        .post(&tags, &[("add", "活动:回访, 兴趣:PLC"), ("act", "dry_run")])
        .await;
    assert_eq!(dry.status(), StatusCode::OK);
    let dry = dry.text().await.unwrap();
    let api = b
        .api(
            reqwest::Method::POST,
            "/api/segments/展会 PLC 意向/tags",
            json!({"add": ["活动:回访", "兴趣:PLC"], "dry_run": true}),
        )
        .await;
    assert_eq!(api["changes"], 5, "PLC is held already: {api}");
    assert_eq!(text_of(&dry, "dry-leads"), api["leads"].to_string());
    assert_eq!(text_of(&dry, "dry-changes"), api["changes"].to_string());
    assert_eq!(text_of(&dry, "dry-calls"), api["wechat_calls"].to_string());
    assert_eq!(text_of(&dry, "dry-over-20"), api["over_20"].to_string());
    assert!(dry.contains("id=\"confirm-bulk\""));
    for member in ["e1", "w2"] {
        assert!(
            !b.app.lead(member).await["tags"]
                .to_string()
                .contains("活动:回访"),
            "a dry run changes nothing"
        );
    }

    let derived = b
        .post(&tags, &[("add", "阶段:商机"), ("act", "dry_run")])
        .await;
    assert_eq!(
        derived.status(),
        StatusCode::CONFLICT,
        "a stage is the rules'"
    );

    let started = b
        .post(&tags, &[("add", "活动:回访, 兴趣:PLC"), ("act", "confirm")])
        .await;
    assert_eq!(started.status(), StatusCode::SEE_OTHER);
    let job_page = started.headers()[header::LOCATION]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(job_page.starts_with(&format!("{PAGE}?job=")), "{job_page}");
    for member in ["e1", "e2", "e3", "w1", "w2"] {
        let tag = eventually(Duration::from_secs(30), || async {
            let lead = b.app.lead(member).await;
            let tags = lead["tags"].as_array().cloned().unwrap_or_default();
            tags.into_iter().find(|t| t["name"] == "活动:回访")
        })
        .await;
        assert_eq!(tag["source"], "segment:展会 PLC 意向", "{member}");
    }
    assert!(
        !b.app.lead("e4").await["tags"]
            .to_string()
            .contains("活动:回访")
    );
    let (_, shown) = b.get(&job_page).await;
    assert!(shown.contains("id=\"job-state\""), "{shown}");
    eventually(Duration::from_secs(30), || async {
        let (_, shown) = b.get(&job_page).await;
        text_of(&shown, "job-state")
            .contains("已完成")
            .then_some(())
    })
    .await;

    let cross = client()
        .post(format!("{}{PAGE}/delete", b.app.base))
        .header(header::COOKIE, &b.cookie)
        .header("sec-fetch-site", "cross-site")
        .send()
        .await
        .unwrap();
    assert_eq!(cross.status(), StatusCode::FORBIDDEN);
    let deleted = b.post(&format!("{PAGE}/delete"), &[]).await;
    assert_eq!(deleted.status(), StatusCode::SEE_OTHER);
    let listed = b
        .api(reqwest::Method::GET, "/api/segments", json!({}))
        .await;
    assert_eq!(listed["segments"], json!([]));
    let (status, _) = b.get(PAGE).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
