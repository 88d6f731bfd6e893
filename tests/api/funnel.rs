//! The funnel by channel: per channel and period, of the leads first seen through it, how
//! many reached a form, a lifecycle stage and a tag, in `GET /api/channels` and on the
//! channel page; the period's edges, "reached" as held now, bad `?stage=`/`?tag=`, and a
//! walk stopped at its cap.

use chrono::{Duration, FixedOffset, NaiveDate, TimeZone};
use reqwest::{StatusCode, header};
use serde_json::Value;
use wxtag::domain::{TagName, UnixTime};
use wxtag::store::FunnelQuery;

use crate::helpers::{ADMIN_TOKEN, Spawn, TestApp, xml};

const DAY: i64 = 86_400;

fn china() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).unwrap()
}

/// The China-time day of a moment.
fn day_of(at: i64) -> NaiveDate {
    china().timestamp_opt(at, 0).unwrap().date_naive()
}

/// The first second of a China-time day.
fn start_of(day: NaiveDate) -> i64 {
    china()
        .from_local_datetime(&day.and_hms_opt(0, 0, 0).unwrap())
        .unwrap()
        .timestamp()
}

async fn push(app: &TestApp, xml: String) {
    let response = app.post_event(&xml).await;
    assert_eq!(response.status(), StatusCode::OK);
}

/// The period (the day before yesterday to today) and the shipped channels' leads across it:
/// on the period's first second, a second before it, yesterday and now.
async fn seeded() -> (TestApp, NaiveDate, NaiveDate) {
    let app = TestApp::spawn_with(Spawn::shipped_channels_over_time()).await;
    let now = app.now().0;
    let to = day_of(now);
    let from = to - Duration::days(2);
    let start = start_of(from);
    // expo-2026: a quote now (商机); new yesterday (新线索); a quote, then an unfollow, on
    // the period's first second (流失 now, though it once was 商机); a quote a second
    // before the period (not in the cohort).
    push(&app, xml::follow_at("oFunExpoNow", Some("expo-2026"), now)).await;
    push(&app, xml::click("oFunExpoNow", "REQUEST_QUOTE")).await;
    let yesterday = Some("expo-2026");
    push(&app, xml::follow_at("oFunExpoYday", yesterday, now - DAY)).await;
    push(
        &app,
        xml::follow_at("oFunExpoEdge", Some("expo-2026"), start),
    )
    .await;
    push(&app, xml::click("oFunExpoEdge", "REQUEST_QUOTE")).await;
    push(&app, xml::unfollow("oFunExpoEdge")).await;
    let before = start - 1;
    push(
        &app,
        xml::follow_at("oFunExpoOld", Some("expo-2026"), before),
    )
    .await;
    push(&app, xml::click("oFunExpoOld", "REQUEST_QUOTE")).await;
    // website: a quote (商机 by 意向:询价) and a trial (商机 by 意向:试用).
    push(&app, xml::follow_at("oFunWebQuote", Some("website"), now)).await;
    push(&app, xml::click("oFunWebQuote", "REQUEST_QUOTE")).await;
    push(&app, xml::follow_at("oFunWebTrial", Some("website"), now)).await;
    push(&app, xml::text("oFunWebTrial", "试用", 7001)).await;
    // organic: a follow with no scene.
    push(&app, xml::follow_at("oFunOrganic", None, now)).await;
    (app, from, to)
}

async fn report(app: &TestApp, query: &str) -> Value {
    let response = app.admin_get(&format!("/api/channels?{query}")).await;
    assert_eq!(response.status(), StatusCode::OK, "{query}");
    response.json().await.unwrap()
}

/// One channel's funnel (`None`: organic).
fn funnel<'a>(report: &'a Value, scene: Option<&str>) -> &'a Value {
    let channel = report["channels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["scene"].as_str() == scene)
        .unwrap_or_else(|| panic!("no channel {scene:?} in {report}"));
    &channel["funnel"]
}

#[tokio::test]
async fn each_channel_counts_its_new_leads_in_the_period_and_those_at_the_stage_now() {
    let (app, from, to) = seeded().await;

    let r = report(&app, &format!("from={from}&to={to}")).await;

    let stage = |n: u64| serde_json::json!({"name": "阶段:商机", "leads": n});
    for (scene, new, at_stage) in [
        (Some("expo-2026"), 3, 1),
        (Some("website"), 2, 2),
        (None, 1, 0),
        (Some("ad-spring-2026"), 0, 0),
    ] {
        let f = funnel(&r, scene);
        assert_eq!(f["new"], new, "{scene:?}: {f}");
        assert_eq!(
            f["form"], 0,
            "the shipped trial form, which no one here submitted"
        );
        assert_eq!(f["stage"], stage(at_stage), "{scene:?}: {f}");
        assert!(f.get("tag").is_none(), "no tag asked for: {f}");
    }
    for channel in r["channels"].as_array().unwrap() {
        assert_eq!(
            channel["funnel"]["new"], channel["leads"],
            "the funnel's new leads are the report's: {channel}"
        );
    }
    assert_eq!(r["funnel"]["complete"], true);
    assert_eq!(
        r["funnel"]["examined"], 7,
        "every lead of the index, no more"
    );

    let wider = report(&app, &format!("from={}&to={to}", from - Duration::days(1))).await;
    assert_eq!(
        funnel(&wider, Some("expo-2026"))["new"],
        4,
        "a day earlier, the lead first seen the second before `from` is in"
    );
    assert_eq!(funnel(&wider, Some("expo-2026"))["stage"], stage(2));
    let today = report(&app, &format!("from={to}&to={to}")).await;
    assert_eq!(funnel(&today, Some("expo-2026"))["new"], 1);
}

#[tokio::test]
async fn stage_and_tag_name_the_steps_and_bad_ones_are_refused() {
    let (app, from, to) = seeded().await;
    let range = format!("from={from}&to={to}");

    let r = report(&app, &format!("{range}&stage=阶段:流失&tag=意向:询价")).await;
    let expo = funnel(&r, Some("expo-2026"));
    assert_eq!(
        expo["stage"],
        serde_json::json!({"name": "阶段:流失", "leads": 1})
    );
    assert_eq!(
        expo["tag"],
        serde_json::json!({"name": "意向:询价", "leads": 2}),
        "the unfollowed lead keeps the tag it reached"
    );
    let web = funnel(&r, Some("website"));
    assert_eq!(web["stage"]["leads"], 0);
    assert_eq!(web["tag"]["leads"], 1);
    assert_eq!(funnel(&r, None)["tag"]["leads"], 0);

    for (query, says) in [
        ("stage=阶段:不存在", "阶段:商机"),
        ("stage=意向:询价", "is no lifecycle stage"),
        ("tag=%20x", "parameter tag"),
        (&format!("tag={}", "长".repeat(31)), "parameter tag"),
    ] {
        let response = app
            .admin_get(&format!("/api/channels?{range}&{query}"))
            .await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{query}");
        let body: Value = response.json().await.unwrap();
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains(says), "{query}: {message}");
    }
    let blank = report(&app, &format!("{range}&stage=&tag=")).await;
    assert_eq!(
        funnel(&blank, Some("website"))["stage"]["name"],
        "阶段:商机",
        "empty is the default"
    );
}

#[tokio::test]
async fn a_walk_stopped_at_its_cap_says_it_is_incomplete() {
    let (app, from, to) = seeded().await;
    let store = app.redis.store().await;
    let query = FunnelQuery {
        start: UnixTime(start_of(from)),
        end: UnixTime(start_of(to + Duration::days(1))),
        tags: vec![TagName::parse("阶段:商机").unwrap()],
    };

    let capped = store.funnel(&query, 2).await.unwrap();
    assert!(!capped.complete);
    assert_eq!(capped.examined, 2);
    assert_eq!(
        capped.cohorts.values().map(|c| c.new).sum::<u64>(),
        2,
        "the two newest leads"
    );
    let whole = store.funnel(&query, 1000).await.unwrap();
    assert!(whole.complete);
    assert_eq!(whole.cohorts["website"].holding, [2]);
}

#[tokio::test]
async fn the_channel_page_shows_the_funnel_with_shares_and_keeps_the_range() {
    let (app, from, to) = seeded().await;
    let cookie = app.session_cookie(ADMIN_TOKEN).await;
    let get = |path: String| {
        let request = app
            .http
            .get(format!("{}{path}", app.base))
            .header(header::COOKIE, &cookie);
        async move {
            let response = request.send().await.unwrap();
            (response.status(), response.text().await.unwrap())
        }
    };

    let (status, body) = get(format!("/?from={from}&to={to}&tag=意向:询价")).await;

    assert_eq!(status, StatusCode::OK);
    let table = body.split("id=\"funnel\"").nth(1).unwrap();
    assert!(table.contains("<th>到达 阶段:商机</th>"), "{table}");
    assert!(table.contains("<th>持有 意向:询价</th>"), "{table}");
    let row = |name: &str| {
        let at = table.find(name).unwrap_or_else(|| panic!("no row {name}"));
        table[at..].split("</tr>").next().unwrap().to_owned()
    };
    let expo = row("2026 工博会展台");
    assert!(expo.contains(r#"<td class="new">3</td>"#), "{expo}");
    assert!(
        expo.contains(r#"<td class="stage">1 <small class="muted">33%</small></td>"#),
        "{expo}"
    );
    assert!(
        expo.contains(r#"<td class="tag">2 <small class="muted">67%</small></td>"#),
        "{expo}"
    );
    let website = row("官网页脚");
    assert!(
        website.contains(r#"<td class="stage">2 <small class="muted">100%</small></td>"#),
        "{website}"
    );
    assert!(
        row("春季信息流广告")
            .contains(r#"<td class="stage">0 <small class="muted">—</small></td>"#)
    );
    let total = table.split("<tfoot>").nth(1).unwrap();
    assert!(
        total.contains(r#"<td class="new">6</td>"#)
            && total.contains(r#"<td class="stage">3 <small class="muted">50%</small></td>"#),
        "{total}"
    );
    let form = body.split("id=\"funnel-form\"").nth(1).unwrap();
    assert!(form.contains(&format!(r#"name="from" value="{from}""#)));
    assert!(
        form.contains(r#"<option value="阶段:商机" selected>"#),
        "{form}"
    );
    assert!(form.contains(r#"name="tag" value="意向:询价""#));
    assert!(body.contains(r#"<option value="来源:展会">"#), "known tags");

    let (status, body) = get(format!("/?from={from}&to={to}&stage=阶段:不存在")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("id=\"funnel-error\"") && body.contains("无法这样统计漏斗"));
    assert!(
        body.contains("<th>到达 阶段:商机</th>"),
        "the default funnel"
    );
}
