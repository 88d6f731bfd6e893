//! The dashboard's view of the rules over time: a lead's score, stage and the why of each
//! derived tag; the derived tags by kind on the tags page; and the preview of the rules in
//! force and of the files on disk, whose counts are what applying them then does.

use reqwest::{StatusCode, header, redirect};

use crate::helpers::{ADMIN_TOKEN, Spawn, TestApp, xml};

/// Touch rules: a keyword that shows interest, a keyword that asks for a price.
const TOUCH: &str = r#"
[[keyword]]
match = "contains"
text = "PLC"
tags = ["兴趣:PLC"]

[[keyword]]
match = "contains"
text = "报价"
tags = ["意向:询价"]
"#;

/// Rules over time, as the contract writes them; `{plc}` and `{quote}` are the two rules'
/// thresholds, which the tests change on disk.
const OVER_TIME: &str = r#"
[[rule]]
name = "PLC 高意向"
when = { count = ["keyword:PLC"], at_least = {plc}, within_days = 30 }
tags = ["意向:PLC高"]

[[rule]]
name = "问过价"
when = { count = ["keyword:报价"], at_least = {quote}, within_days = 30 }
tags = ["意向:问过价"]

[score]
points = { "follow" = 5, "keyword:PLC" = 10 }
half_life_days = 30

[[tiers]]
name = "线索等级"
of = "score"
levels = [ { at_least = 30, tag = "等级:A" }, { at_least = 0, tag = "等级:C" } ]

[lifecycle]
stages = [
  { tag = "阶段:流失",   when = { subscribed = false } },
  { tag = "阶段:商机",   when = { any = ["意向:询价"] } },
  { tag = "阶段:新线索", when = { first_seen_within_days = 7 } },
]
"#;

fn over_time(plc: u32, quote: u32) -> String {
    OVER_TIME
        .replace("{plc}", &plc.to_string())
        .replace("{quote}", &quote.to_string())
}

/// An app with the touch rules and the rules over time (3 PLC questions, 1 price question).
async fn app() -> TestApp {
    TestApp::spawn_with(Spawn {
        channels: vec![
            ("10-touch.toml".to_owned(), TOUCH.to_owned()),
            ("20-over-time.toml".to_owned(), over_time(3, 1)),
        ],
        ..Spawn::default()
    })
    .await
}

/// `plc` follows and asks about PLCs three times; `one` follows, asks once and asks for a
/// price; `quiet` only follows.
async fn three_leads(app: &TestApp) {
    for openid in ["plc", "one", "quiet"] {
        app.post_event(&xml::follow(openid, None)).await;
    }
    for msg_id in 1..=3 {
        app.post_event(&xml::text("plc", "PLC 怎么选型", msg_id))
            .await;
    }
    app.post_event(&xml::text("one", "PLC 多少钱", 10)).await;
    app.post_event(&xml::text("one", "请问报价", 11)).await;
}

/// A logged-in GET of a dashboard page: its status and body.
async fn page(app: &TestApp, path: &str) -> (StatusCode, String) {
    let cookie = app.session_cookie(ADMIN_TOKEN).await;
    let response = reqwest::Client::builder()
        .redirect(redirect::Policy::none())
        .build()
        .unwrap()
        .get(format!("{}{path}", app.base))
        .header(header::COOKIE, cookie)
        .send()
        .await
        .unwrap();
    (response.status(), response.text().await.unwrap())
}

/// The table row (`<tr …>…</tr>`) of `body` after `from` that holds `needle`.
fn row<'a>(body: &'a str, from: &str, needle: &str) -> &'a str {
    let start = body
        .find(from)
        .unwrap_or_else(|| panic!("no {from} in {body}"));
    body[start..]
        .split("<tr")
        .find(|r| r.contains(needle))
        .and_then(|r| r.split("</tr>").next())
        .unwrap_or_else(|| panic!("no row with {needle} after {from}: {body}"))
}

/// The numbers a preview row shows: (would tag, would untag).
fn counts(row: &str) -> (u64, u64) {
    let cell = |class: &str| -> u64 {
        let at = row.find(&format!("class=\"num {class}\"")).unwrap();
        let text = &row[at..];
        let start = text.find('>').unwrap() + 1;
        let end = text.find("</td>").unwrap();
        text[start..end].trim().parse().unwrap()
    };
    (cell("tag"), cell("untag"))
}

/// How many leads hold `tag`, as `GET /api/tags` counts them.
async fn holders(app: &TestApp, tag: &str) -> u64 {
    let tags: serde_json::Value = app.admin_get("/api/tags").await.json().await.unwrap();
    tags.as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == tag)
        .map_or(0, |t| t["leads"].as_u64().unwrap())
}

#[tokio::test]
async fn the_lead_page_shows_the_score_the_stage_and_why_each_derived_tag_is_there() {
    let app = app().await;
    three_leads(&app).await;

    let (status, body) = page(&app, "/leads/plc").await;

    assert_eq!(status, StatusCode::OK);
    assert!(
        body.contains("id=\"score\">35.00</dd>"),
        "5 for the follow and 10 per PLC question, in full within the hour: {body}"
    );
    let stage = body.split("id=\"stage\">").nth(1).expect("a stage");
    assert!(stage.contains(">阶段:新线索</a>"), "{stage}");
    let tag = row(&body, "id=\"tags\"", ">意向:PLC高</a>");
    assert!(tag.contains("规则生成"), "marked as derived: {tag}");
    assert!(tag.contains("规则</span> PLC 高意向"), "its source: {tag}");
    let detail = tag
        .split("class=\"detail\">")
        .nth(1)
        .and_then(|d| d.split("</small>").next())
        .unwrap_or_else(|| panic!("its why in words: {tag}"));
    assert!(
        detail.starts_with("3 touches in 30 days, last "),
        "{detail}"
    );
    assert!(
        !body.contains("name=\"remove\" value=\"意向:PLC高\""),
        "a derived tag has no remove button"
    );

    // A sales tag keeps its remove button; the touch tag is not marked derived.
    let response = app
        .http
        .post(format!("{}/api/leads/plc/tags", app.base))
        .bearer_auth(ADMIN_TOKEN)
        .json(&serde_json::json!({ "add": ["跟进:王磊"] }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let (_, body) = page(&app, "/leads/plc?lang=en").await;
    assert!(body.contains("name=\"remove\" value=\"跟进:王磊\""));
    let touch = row(&body, "id=\"tags\"", ">兴趣:PLC</a>");
    assert!(!touch.contains("Derived"), "{touch}");
    assert!(
        touch.contains("Keyword</span> PLC"),
        "its source says why: {touch}"
    );
    assert!(!touch.contains("class=\"detail\""), "{touch}");
    assert!(row(&body, "id=\"tags\"", ">意向:PLC高</a>").contains("Derived"));
    assert!(body.contains(">Score</dt>") && body.contains(">Stage</dt>"));
}

#[tokio::test]
async fn a_lead_page_without_a_lifecycle_shows_no_stage() {
    let app = TestApp::spawn_with(Spawn {
        channels: vec![("10-touch.toml".to_owned(), TOUCH.to_owned())],
        ..Spawn::default()
    })
    .await;
    app.post_event(&xml::text("o1", "PLC", 1)).await;

    let (status, body) = page(&app, "/leads/o1").await;

    assert_eq!(status, StatusCode::OK);
    assert!(!body.contains("id=\"stage\""), "{body}");
    assert!(body.contains("id=\"score\">0.00</dd>"), "{body}");
    assert!(!body.contains("规则生成"));
}

#[tokio::test]
async fn the_tags_page_lists_derived_tags_by_kind_with_what_gives_them() {
    let app = app().await;
    three_leads(&app).await;

    let (status, body) = page(&app, "/tags").await;

    assert_eq!(status, StatusCode::OK);
    let derived = body
        .split("id=\"derived\"")
        .nth(1)
        .and_then(|s| s.split("</section>").next())
        .expect("a section of derived tags");
    let rule = row(derived, "<tbody", ">意向:PLC高</a>");
    assert!(rule.contains(">规则</span>"), "{rule}");
    assert!(rule.contains(">PLC 高意向</td>"), "{rule}");
    assert!(rule.contains(">1</td>"), "one lead holds it: {rule}");
    let tier = row(derived, "<tbody", ">等级:C</a>");
    assert!(tier.contains(">价值分层</span>") && tier.contains(">线索等级</td>"));
    assert!(tier.contains(">2</td>"), "one and quiet are tier C: {tier}");
    let stage = row(derived, "<tbody", ">阶段:商机</a>");
    assert!(stage.contains(">生命周期</span>"), "{stage}");
    assert!(
        derived.find(">规则</span>").unwrap() < derived.find(">价值分层</span>").unwrap()
            && derived.find(">价值分层</span>").unwrap()
                < derived.find(">生命周期</span>").unwrap(),
        "kinds in order: rule, tiers, lifecycle"
    );
    assert!(
        !derived.contains(">兴趣:PLC</a>"),
        "touch tags are not derived"
    );
    assert!(
        derived.contains("href=\"/preview\""),
        "the preview is linked"
    );
    let bars = body.split("id=\"tag-bars\"").nth(1).unwrap();
    assert!(bars.contains(">兴趣:PLC</a>"), "touch tags as before");
}

#[tokio::test]
async fn the_preview_counts_what_a_reload_of_the_files_on_disk_then_does() {
    let app = app().await;
    three_leads(&app).await;
    assert_eq!(holders(&app, "意向:PLC高").await, 1);
    assert_eq!(holders(&app, "意向:问过价").await, 1);

    let (status, body) = page(&app, "/preview").await;
    assert_eq!(status, StatusCode::OK);
    for name in ["PLC 高意向", "问过价"] {
        let live = row(
            &body,
            "id=\"preview-live\"",
            &format!("data-name=\"{name}\""),
        );
        assert!(live.contains("data-kind=\"rule\""));
        assert_eq!(
            counts(live),
            (0, 0),
            "the rules in force are applied: {live}"
        );
    }
    assert!(body.contains("读取了全部 3 个线索"), "{body}");
    for kind in ["tiers", "lifecycle"] {
        assert!(body.contains(&format!("data-kind=\"{kind}\"")), "{kind}");
    }

    // One PLC question is enough on disk (one more lead), two price questions (one fewer).
    let file = app.channels_dir.path().join("20-over-time.toml");
    std::fs::write(&file, over_time(1, 2)).unwrap();
    let (_, body) = page(&app, "/preview").await;
    let live = row(&body, "id=\"preview-live\"", "data-name=\"PLC 高意向\"");
    assert_eq!(counts(live), (0, 0), "not in force before a reload");
    let plc = counts(row(
        &body,
        "id=\"preview-disk\"",
        "data-name=\"PLC 高意向\"",
    ));
    let quote = counts(row(&body, "id=\"preview-disk\"", "data-name=\"问过价\""));
    assert_eq!(plc, (1, 0));
    assert_eq!(quote, (0, 1));

    // Applying it: reload, then an event for every lead (a text no rule matches).
    app.rules
        .reload(app.channels_dir.path())
        .await
        .expect("the files load");
    for (i, openid) in ["plc", "one", "quiet"].into_iter().enumerate() {
        app.post_event(&xml::text(openid, "你好", 100 + i as u64))
            .await;
    }
    assert_eq!(holders(&app, "意向:PLC高").await, 1 + plc.0 - plc.1);
    assert_eq!(holders(&app, "意向:问过价").await, 1 + quote.0 - quote.1);
    let (_, body) = page(&app, "/preview").await;
    for name in ["PLC 高意向", "问过价"] {
        let live = row(
            &body,
            "id=\"preview-live\"",
            &format!("data-name=\"{name}\""),
        );
        assert_eq!(counts(live), (0, 0), "nothing left to apply: {live}");
    }

    // Files that do not load show their mistakes, and the rules in force still preview.
    std::fs::write(&file, "[[rule]]\nname = \"坏\"\n").unwrap();
    let (status, body) = page(&app, "/preview?lang=en").await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("id=\"preview-live\""));
    assert!(!body.contains("id=\"preview-disk\""));
    let errors = body
        .split("id=\"disk-errors\"")
        .nth(1)
        .expect("the mistakes");
    assert!(errors.contains("20-over-time.toml:1"), "{errors}");
    assert!(body.contains("The files on disk have mistakes"));
}

#[tokio::test]
async fn the_preview_page_is_behind_the_login_like_every_page() {
    let app = app().await;
    let http = reqwest::Client::builder()
        .redirect(redirect::Policy::none())
        .build()
        .unwrap();

    let response = http
        .get(format!("{}/preview", app.base))
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()[header::LOCATION], "/login?next=/preview");
    let refused = http
        .get(format!("{}/preview", app.base))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(
        refused.status(),
        StatusCode::SEE_OTHER,
        "a bearer token is not a session"
    );
}

#[tokio::test]
async fn the_preview_page_speaks_english_when_asked() {
    let app = TestApp::spawn().await;

    let (status, body) = page(&app, "/preview?lang=en").await;

    assert_eq!(status, StatusCode::OK);
    for label in [
        "<h1>Rules preview</h1>",
        "The rules in force",
        "The files on disk",
        "No rule, tier list, stage or preference to preview.",
        "All 0 leads were read.",
    ] {
        assert!(body.contains(label), "{label:?} missing in {body}");
    }
    let folder = app.channels_dir.path().display().to_string();
    let chinese: Vec<char> = body
        .replace(&folder, "")
        .chars()
        .filter(|c| matches!(c, '\u{3000}'..='\u{303f}' | '\u{3400}'..='\u{9fff}' | '\u{ff00}'..='\u{ffef}'))
        .collect();
    assert!(chinese.is_empty(), "Chinese left: {chinese:?} in {body}");
}

#[tokio::test]
async fn the_lead_page_tells_time_by_the_apps_clock() {
    let mut app = app().await;
    three_leads(&app).await;

    // One half-life later (WXTAG_CLOCK_OFFSET_SECS), the score has halved, and the lead is
    // no longer new: no stage holds.
    app.restart(30 * 86_400).await;
    let (status, body) = page(&app, "/leads/plc").await;

    assert_eq!(status, StatusCode::OK);
    let score: f64 = body
        .split("id=\"score\">")
        .nth(1)
        .and_then(|s| s.split("</dd>").next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("a score: {body}"));
    assert!(
        (17.49..=17.53).contains(&score),
        "35 halved, aged from the end of its hour: {score}"
    );
    assert!(!body.contains("id=\"stage\""), "{body}");
}
