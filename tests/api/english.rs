//! The dashboard in English: every page (`?lang=en`) in English labels with no Chinese left,
//! and the choice kept in the `wxtag_lang` cookie through the dashboard's own links.
//!
//! The rules and data here are ASCII, so "no CJK character in the page" holds for the whole
//! page: any Chinese on it is a label that did not move to the word tables.

use reqwest::{StatusCode, header, redirect};

use crate::helpers::{ADMIN_TOKEN, Spawn, TestApp, xml};

const LEAD: &str = "oEnglishLead0000000000000001";
const OTHER: &str = "oEnglishLead0000000000000002";

const RULES: &str = r#"
[follow]
tags = ["source:organic"]

[[qr]]
scene = "expo-2026"
name = "Expo booth"
tags = ["source:expo"]

[[keyword]]
text = "price"
tags = ["intent:price"]
"#;

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(redirect::Policy::none())
        .build()
        .unwrap()
}

fn cjk(c: char) -> bool {
    matches!(c, '\u{3000}'..='\u{303f}' | '\u{3400}'..='\u{9fff}' | '\u{ff00}'..='\u{ffef}')
}

/// A page fetched with `cookie`: its status, its `Set-Cookie` headers and its body.
async fn get(app: &TestApp, path: &str, cookie: &str) -> (StatusCode, Vec<String>, String) {
    let response = client()
        .get(format!("{}{path}", app.base))
        .header(header::COOKIE, cookie)
        .send()
        .await
        .unwrap();
    let set_cookies = response
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    (
        response.status(),
        set_cookies,
        response.text().await.unwrap(),
    )
}

async fn app_with_leads() -> TestApp {
    let app = TestApp::spawn_with(Spawn {
        channels: vec![("10.toml".to_owned(), RULES.to_owned())],
        ..Spawn::default()
    })
    .await;
    for push in [
        xml::follow(LEAD, Some("expo-2026")),
        xml::text(LEAD, "price", 1),
        xml::follow(OTHER, None),
        xml::unfollow(OTHER),
    ] {
        assert_eq!(app.post_event(&push).await.status(), StatusCode::OK);
    }
    let cookie = app.session_cookie(ADMIN_TOKEN).await;
    let added = client()
        .post(format!("{}/leads/{LEAD}/tags", app.base))
        .header(header::COOKIE, &cookie)
        .form(&[("add", "owner:alice")])
        .send()
        .await
        .unwrap();
    assert_eq!(added.status(), StatusCode::SEE_OTHER);
    app
}

#[tokio::test]
async fn every_page_speaks_english_when_asked_and_holds_no_chinese() {
    let app = app_with_leads().await;
    let cookie = app.session_cookie(ADMIN_TOKEN).await;
    let saved = app
        .http
        .put(format!("{}/api/segments/expo", app.base))
        .bearer_auth(ADMIN_TOKEN)
        .json(&serde_json::json!({"when": {"channel": "expo-2026"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(saved.status(), StatusCode::OK);
    let pages: [(&str, StatusCode, &[&str]); 10] = [
        (
            "/?lang=en",
            StatusCode::OK,
            &[
                r#"<html lang="en">"#,
                "<h1>Channels</h1>",
                "The channel with the most new leads is <strong>Expo booth</strong>.",
                "New leads per day",
                "<th>Channel</th><th>New leads</th><th>Follows</th><th>Scans</th><th>Unfollows</th><th>Net</th><th>Link visits</th><th>QR code</th>",
                "Organic",
                "Download PNG",
                "Last week",
                "<h2>Funnel by channel</h2>",
                "<th>Channel</th><th>New leads</th><th>Submitted a form</th></tr>",
                "Stages and tags count if held now",
            ],
        ),
        (
            "/?lang=en&from=2026-11-30&to=2026-11-01",
            StatusCode::BAD_REQUEST,
            &["Wrong dates: ", "Showing the last 7 days."],
        ),
        (
            "/leads?lang=en",
            StatusCode::OK,
            &[
                "<h1>Leads</h1>",
                "<th>Status</th><th>Source</th><th>Tag</th><th>Last active</th>",
                "Following",
                "Unfollowed",
                "Expo booth",
                "Search",
            ],
        ),
        (
            "/leads?lang=en&subscribed=true&tag=intent:nothing",
            StatusCode::OK,
            &["No leads match."],
        ),
        (
            &format!("/leads/{LEAD}?lang=en"),
            StatusCode::OK,
            &[
                "First source",
                "Channel path",
                "Source (why)",
                "Channel QR code",
                "Keyword",
                "Added by sales",
                "Remove owner:alice",
                "Add a sales tag",
                "Timeline",
                "Sent a message",
                "Followed",
            ],
        ),
        (
            "/tags?lang=en",
            StatusCode::OK,
            &[
                "<h1>Tags</h1>",
                "Leads per tag",
                "WeChat sync",
                "Pending",
                "Failed syncs",
                "No failed syncs.",
            ],
        ),
        (
            "/segments?lang=en",
            StatusCode::OK,
            &["<h1>Segments</h1>", "New segment", ">expo</a>", "Saved by"],
        ),
        (
            "/build?lang=en",
            StatusCode::OK,
            &[
                "Segment builder",
                "All of",
                "Has tag",
                "+ Condition",
                "+ Group",
                "Preview",
            ],
        ),
        (
            "/segments/expo?lang=en",
            StatusCode::OK,
            &[
                "Members: 1",
                "Members over the last 30 days",
                "Segment profile",
                "Top tags",
                "source:expo",
                "Tag every member",
                "Dry run",
                "Edit condition",
            ],
        ),
        (
            "/leads/oNoSuchLead000000000000000009?lang=en",
            StatusCode::NOT_FOUND,
            &[
                "Something went wrong",
                "No lead has the openid oNoSuchLead000000000000000009.",
                "Back to channels",
            ],
        ),
    ];
    for (path, status, labels) in pages {
        let (got, _, body) = get(&app, path, &cookie).await;
        assert_eq!(got, status, "{path}: {body}");
        for label in labels {
            assert!(body.contains(label), "{path}: {label:?} missing in {body}");
        }
        let chinese: String = body.chars().filter(|c| cjk(*c)).collect();
        assert!(
            chinese.is_empty(),
            "{path}: Chinese left: {chinese:?} in {body}"
        );
        assert!(
            body.contains("Log out") && body.contains("Export CSV"),
            "{path}"
        );
    }
}

#[tokio::test]
async fn the_language_chosen_is_kept_through_the_dashboards_own_links() {
    let app = app_with_leads().await;
    let session = app.session_cookie(ADMIN_TOKEN).await;

    let (_, set_cookies, _) = get(&app, "/tags?lang=en", &session).await;
    let lang = set_cookies
        .iter()
        .find(|c| c.starts_with("wxtag_lang="))
        .expect("?lang= sets the wxtag_lang cookie");
    assert!(
        lang.starts_with("wxtag_lang=en;") && lang.contains("Path=/"),
        "{lang}"
    );
    let lang = lang.split(';').next().unwrap();

    // A plain link of the dashboard (no `lang` in it), and a form's answer, stay English.
    let both = format!("{session}; {lang}");
    let (_, _, leads) = get(&app, "/leads", &both).await;
    assert!(leads.contains("<h1>Leads</h1>"), "{leads}");
    let (status, _, refused) = get(&app, "/leads?q=bad%20openid", &both).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(refused.contains("Not an openid: "), "{refused}");
    let (status, _, missing) = get(&app, "/leads/oNoSuchLead000000000000000009", &both).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(missing.contains("Something went wrong"), "{missing}");

    // `?lang=zh` goes back to Chinese, and is remembered too.
    let (_, set_cookies, chinese) = get(&app, "/leads?lang=zh", &both).await;
    assert!(chinese.contains("<h1>线索</h1>"), "{chinese}");
    assert!(
        set_cookies
            .iter()
            .any(|c| c.starts_with("wxtag_lang=zh-CN;"))
    );
    let (_, _, without) = get(&app, "/leads", &session).await;
    assert!(without.contains("<h1>线索</h1>"), "no choice: Chinese");
}

#[tokio::test]
async fn an_english_link_opened_logged_out_shows_the_login_page_in_english() {
    let app = app_with_leads().await;
    let redirect = client()
        .get(format!("{}/leads?lang=en", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(redirect.status(), StatusCode::SEE_OTHER);
    let login = redirect.headers()[header::LOCATION]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(login.starts_with("/login?next="), "{login}");
    let (status, set_cookies, page) = get(&app, &login, "").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains(r#"<html lang="en">"#) && page.contains("Log in"),
        "{page}"
    );
    assert!(set_cookies.iter().any(|c| c.starts_with("wxtag_lang=en;")));
}
