//! Channels → tags, through the webhook and Redis: every rule kind, precedence, tag-driven
//! replies, dedup under concurrent retries, unfollow and re-follow, reload, and the admin views.

use reqwest::StatusCode;
use serde_json::Value;
use wxtag::domain::UnixTime;

use crate::helpers::{Spawn, TestApp, xml};

/// An app with the shipped example `channels/` folder.
async fn shipped() -> TestApp {
    TestApp::spawn_with(Spawn::shipped_channels()).await
}

pub(crate) fn tag_names(lead: &Value) -> Vec<String> {
    lead["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_owned())
        .collect()
}

pub(crate) fn source_of<'a>(lead: &'a Value, tag: &str) -> &'a str {
    lead["tags"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == tag)
        .and_then(|t| t["source"].as_str())
        .unwrap_or_else(|| panic!("no tag {tag} in {lead}"))
}

fn text_of(reply: &str) -> String {
    match wxtag::wechat::reply::Reply::parse_xml(reply).unwrap().0 {
        wxtag::wechat::reply::Reply::Text(text) => text,
        other => panic!("not a text reply: {other:?}"),
    }
}

#[tokio::test]
async fn a_qr_follow_tags_the_lead_keeps_the_channel_and_welcomes_it() {
    let app = shipped().await;

    let reply = app
        .reply_to(&xml::follow("o1", Some("expo-2026")))
        .await
        .unwrap();

    assert!(text_of(&reply).contains("工博会展台"));
    let lead = app.lead("o1").await;
    assert_eq!(tag_names(&lead), ["来源:展会", "活动:工博会2026"]);
    assert_eq!(
        source_of(&lead, "来源:展会"),
        "qr:expo-2026",
        "why: the channel"
    );
    assert_eq!(lead["first_channel"], "expo-2026");
}

#[tokio::test]
async fn a_channel_without_a_reply_falls_back_to_the_follow_welcome_without_its_tags() {
    let app = shipped().await;

    let reply = app
        .reply_to(&xml::follow("o1", Some("website")))
        .await
        .unwrap();

    assert!(text_of(&reply).starts_with("欢迎关注智控自动化"));
    assert_eq!(tag_names(&app.lead("o1").await), ["来源:官网"]);
}

#[tokio::test]
async fn an_organic_follow_and_an_unknown_scene_get_the_follow_rule() {
    let app = shipped().await;
    app.post_event(&xml::follow("o1", None)).await;
    app.post_event(&xml::follow("o2", Some("printed-elsewhere")))
        .await;

    for openid in ["o1", "o2"] {
        let lead = app.lead(openid).await;
        assert_eq!(tag_names(&lead), ["来源:自然关注"], "{openid}");
        assert_eq!(source_of(&lead, "来源:自然关注"), "follow");
    }
    assert_eq!(
        app.lead("o2").await["first_channel"],
        "printed-elsewhere",
        "the scene is still a fact"
    );
}

#[tokio::test]
async fn an_integer_scene_replies_with_news() {
    let app = shipped().await;

    let reply = app
        .reply_to(&xml::follow("o1", Some("1001")))
        .await
        .unwrap();

    assert!(
        reply.contains("<MsgType><![CDATA[news]]></MsgType>"),
        "{reply}"
    );
    assert!(reply.contains("2026 产品手册电子版"));
    assert_eq!(app.lead("o1").await["first_channel"], "1001");
}

#[tokio::test]
async fn clicks_views_and_keywords_add_their_tags_with_why() {
    let app = shipped().await;
    app.post_event(&xml::follow("o1", None)).await;
    app.post_event(&xml::click("o1", "MENU_PRODUCT_B")).await;
    app.post_event(&xml::view("o1", "https://example.com/cases/plant-42"))
        .await;
    app.post_event(&xml::text("o1", "请问价格多少", 1)).await;
    app.post_event(&xml::text("o1", "13800000000", 2)).await;
    app.post_event(&xml::text("o1", "我们在用 S7-1200", 3))
        .await;

    let lead = app.lead("o1").await;
    assert_eq!(source_of(&lead, "兴趣:伺服"), "click:MENU_PRODUCT_B");
    assert_eq!(
        source_of(&lead, "兴趣:客户案例"),
        "view:https://example.com/cases/"
    );
    assert_eq!(source_of(&lead, "意向:询价"), "keyword:价格");
    assert_eq!(source_of(&lead, "意向:留电话"), "keyword:^1[3-9]\\d{9}$");
    assert!(source_of(&lead, "兴趣:PLC").starts_with("keyword:(?i)"));
}

#[tokio::test]
async fn every_matching_rule_adds_tags_and_the_first_with_a_reply_answers() {
    // "报价" (contains) and "价格" (contains) both match; 报价's rule comes first in the file.
    let app = shipped().await;

    let reply = app
        .reply_to(&xml::text("o1", "报价和价格", 1))
        .await
        .unwrap();

    assert!(text_of(&reply).starts_with("报价请联系您的客户经理"));
    let lead = app.lead("o1").await;
    assert_eq!(tag_names(&lead), ["意向:询价"], "one tag, once");
}

#[tokio::test]
async fn replies_follow_the_leads_tags_after_the_event() {
    let app = shipped().await;
    // No interest yet: the "none" variant.
    let ask = app.reply_to(&xml::text("o1", "试用", 1)).await.unwrap();
    assert!(text_of(&ask).starts_with("请问您对哪款产品感兴趣"));

    // A click makes them a PLC lead: the "all" variant now.
    app.post_event(&xml::click("o1", "MENU_PRODUCT_A")).await;
    let plc = app.reply_to(&xml::text("o1", "试用", 2)).await.unwrap();
    assert!(text_of(&plc).starts_with("PLC 样机试用申请"));

    // A follower through the sales rep's card gets the rep's quote reply ("any").
    app.post_event(&xml::follow("o2", Some("sales-wanglei")))
        .await;
    let rep = app
        .reply_to(&xml::click("o2", "REQUEST_QUOTE"))
        .await
        .unwrap();
    assert!(text_of(&rep).starts_with("已通知您的客户经理"));
    let default = app
        .reply_to(&xml::click("o1", "REQUEST_QUOTE"))
        .await
        .unwrap();
    assert!(text_of(&default).starts_with("请回复您的手机号"));
}

#[tokio::test]
async fn a_keyword_that_tags_and_replies_sees_its_own_tag() {
    // "PLC" adds 兴趣:PLC; then "试用" must already see it: tags after the change decide.
    let app = shipped().await;
    app.post_event(&xml::text("o1", "plc", 1)).await;
    let reply = app.reply_to(&xml::text("o1", "试用", 2)).await.unwrap();
    assert!(text_of(&reply).starts_with("PLC 样机试用申请"));
}

#[tokio::test]
async fn a_retried_event_never_counts_twice_even_at_once() {
    let app = shipped().await;
    let push = xml::follow_at("o1", Some("expo-2026"), UnixTime::now().0);
    let (query, body) = app.signed(&push);

    let answers =
        futures_util::future::join_all((0..4).map(|_| app.post_raw(&query, body.clone()))).await;

    let replies: Vec<String> =
        futures_util::future::join_all(answers.into_iter().map(|a| a.text()))
            .await
            .into_iter()
            .map(Result::unwrap)
            .collect();
    assert!(
        replies.iter().all(|r| r.contains("工博会展台")),
        "every copy gets the reply: {replies:?}"
    );
    let channels: Value = app.admin_get("/api/channels").await.json().await.unwrap();
    let expo = channels["channels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["scene"] == "expo-2026")
        .unwrap();
    assert_eq!(expo["follows"], 1);
    assert_eq!(expo["leads"], 1);
    let mut conn = app.redis.conn().await;
    let outbox: u64 = redis::cmd("XLEN")
        .arg(format!("wx:{{{}}}:outbox", crate::helpers::APPID))
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(outbox, 1, "one sync entry");
}

#[tokio::test]
async fn unfollow_keeps_history_and_a_refollow_revives_without_changing_the_first_channel() {
    let app = shipped().await;
    app.post_event(&xml::follow("o1", Some("expo-2026"))).await;
    app.post_event(&xml::click("o1", "MENU_PRODUCT_A")).await;
    app.post_event(&xml::unfollow("o1")).await;

    let gone = app.lead("o1").await;
    assert_eq!(gone["subscribed"], false);
    assert_eq!(tag_names(&gone).len(), 3, "tags kept");

    app.post_event(&xml::follow_at(
        "o1",
        Some("ad-spring-2026"),
        UnixTime::now().0 + 1,
    ))
    .await;

    let back = app.lead("o1").await;
    assert_eq!(back["subscribed"], true);
    assert_eq!(
        back["first_channel"], "expo-2026",
        "first touch kept for good"
    );
    assert_eq!(
        back["channels"],
        serde_json::json!(["expo-2026", "ad-spring-2026"])
    );
    let kinds: Vec<&str> = back["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["follow", "unfollow", "click", "follow"]);

    let report: Value = app.admin_get("/api/channels").await.json().await.unwrap();
    let by_scene = |scene: &str| {
        report["channels"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["scene"] == scene)
            .unwrap()
            .clone()
    };
    let expo = by_scene("expo-2026");
    assert_eq!(
        (
            expo["follows"].as_i64(),
            expo["unfollows"].as_i64(),
            expo["net"].as_i64(),
            expo["leads"].as_i64()
        ),
        (Some(1), Some(1), Some(0), Some(1))
    );
    let ad = by_scene("ad-spring-2026");
    assert_eq!(
        (ad["follows"].as_i64(), ad["leads"].as_i64()),
        (Some(1), Some(0)),
        "a re-follow is not a new lead"
    );
}

#[tokio::test]
async fn a_scan_by_a_follower_adds_the_channel_and_its_tags() {
    let app = shipped().await;
    app.post_event(&xml::follow("o1", Some("website"))).await;
    app.post_event(&xml::scan("o1", "expo-2026")).await;

    let lead = app.lead("o1").await;
    assert_eq!(lead["first_channel"], "website");
    assert_eq!(
        lead["channels"],
        serde_json::json!(["website", "expo-2026"])
    );
    assert!(tag_names(&lead).contains(&"来源:展会".to_owned()));
    let report: Value = app.admin_get("/api/channels").await.json().await.unwrap();
    let expo = report["channels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["scene"] == "expo-2026")
        .unwrap();
    assert_eq!(
        (expo["scans"].as_i64(), expo["follows"].as_i64()),
        (Some(1), Some(0))
    );
}

#[tokio::test]
async fn the_channel_report_names_channels_and_counts_per_day() {
    let app = shipped().await;
    app.post_event(&xml::follow("o1", Some("expo-2026"))).await;
    app.post_event(&xml::follow("o2", None)).await;

    let report: Value = app.admin_get("/api/channels").await.json().await.unwrap();

    let channels = report["channels"].as_array().unwrap();
    let expo = channels.iter().find(|c| c["scene"] == "expo-2026").unwrap();
    assert_eq!(expo["name"], "2026 工博会展台 (上海 5.1H-B012)");
    assert_eq!(
        expo["days"].as_array().unwrap().len(),
        7,
        "the last 7 days by default"
    );
    assert_eq!(expo["days"][6]["follows"], 1, "today is last");
    let organic = channels.iter().find(|c| c["scene"].is_null()).unwrap();
    assert_eq!(
        (organic["name"].as_str(), organic["follows"].as_i64()),
        (Some("自然关注"), Some(1))
    );
    assert!(
        channels
            .iter()
            .any(|c| c["scene"] == "sales-wanglei" && c["follows"] == 0),
        "quiet channels show too"
    );

    for bad in [
        "/api/channels?from=2026-13-01",
        "/api/channels?from=2026-02-01&to=2026-01-01",
        "/api/channels?from=2020-01-01&to=2026-01-01",
    ] {
        assert_eq!(
            app.admin_get(bad).await.status(),
            StatusCode::BAD_REQUEST,
            "{bad}"
        );
    }
}

#[tokio::test]
async fn leads_filter_by_tag_channel_and_subscription_across_pages() {
    let app = shipped().await;
    for i in 0..7 {
        app.post_event(&xml::follow(&format!("expo{i}"), Some("expo-2026")))
            .await;
    }
    for i in 0..3 {
        app.post_event(&xml::follow(&format!("web{i}"), Some("website")))
            .await;
    }
    app.post_event(&xml::unfollow("expo0")).await;

    let collect = |query: &'static str| {
        let app = &app;
        async move {
            let mut seen = Vec::new();
            let mut cursor: Option<String> = None;
            loop {
                let mut path = format!("/api/leads?limit=3&{query}");
                if let Some(c) = &cursor {
                    path.push_str(&format!("&cursor={c}"));
                }
                let page: Value = app.admin_get(&path).await.json().await.unwrap();
                seen.extend(
                    page["leads"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|l| l["openid"].as_str().unwrap().to_owned()),
                );
                match page["next_cursor"].as_str() {
                    Some(next) => cursor = Some(next.to_owned()),
                    None => break,
                }
            }
            seen.sort();
            seen.dedup();
            seen
        }
    };
    assert_eq!(collect("").await.len(), 10);
    assert_eq!(collect("tag=来源:官网").await, ["web0", "web1", "web2"]);
    assert_eq!(collect("channel=expo-2026").await.len(), 7);
    assert_eq!(
        collect("channel=expo-2026&subscribed=false").await,
        ["expo0"]
    );
    assert_eq!(collect("tag=来源:展会&subscribed=true").await.len(), 6);
    assert_eq!(
        app.admin_get("/api/leads?limit=0").await.status(),
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn tags_list_with_lead_counts() {
    let app = shipped().await;
    app.post_event(&xml::follow("o1", Some("expo-2026"))).await;
    app.post_event(&xml::follow("o2", Some("expo-2026"))).await;
    app.post_event(&xml::click("o2", "MENU_PRODUCT_A")).await;

    let tags: Value = app.admin_get("/api/tags").await.json().await.unwrap();

    let count = |name: &str| {
        tags.as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == name)
            .unwrap()["leads"]
            .as_i64()
    };
    assert_eq!(count("来源:展会"), Some(2));
    assert_eq!(count("兴趣:PLC"), Some(1));
    assert_eq!(tags[0]["name"], "来源:展会", "most used first");
}

#[tokio::test]
async fn sales_add_and_remove_their_own_tags() {
    let app = shipped().await;
    app.post_event(&xml::follow("o1", Some("expo-2026"))).await;
    let edit = |body: Value, openid: &str| {
        app.http
            .post(format!("{}/api/leads/{openid}/tags", app.base))
            .bearer_auth(crate::helpers::ADMIN_TOKEN)
            .json(&body)
            .send()
    };

    let response = edit(
        serde_json::json!({"add": ["销售:重点跟进"], "remove": ["活动:工博会2026"]}),
        "o1",
    )
    .await
    .unwrap();

    assert_eq!(response.status(), StatusCode::OK);
    let lead: Value = response.json().await.unwrap();
    assert_eq!(tag_names(&lead), ["来源:展会", "销售:重点跟进"]);
    assert_eq!(source_of(&lead, "销售:重点跟进"), "admin");
    assert_eq!(lead["events"][0]["kind"], "tag");
    let members: Value = app
        .admin_get("/api/leads?tag=活动:工博会2026")
        .await
        .json()
        .await
        .unwrap();
    assert!(
        members["leads"].as_array().unwrap().is_empty(),
        "the index follows removals"
    );

    assert_eq!(
        edit(serde_json::json!({"add": ["x"]}), "nobody")
            .await
            .unwrap()
            .status(),
        StatusCode::NOT_FOUND
    );
    let too_long = edit(serde_json::json!({"add": ["标".repeat(31)]}), "o1")
        .await
        .unwrap();
    assert_eq!(too_long.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_good_reload_takes_effect_and_a_bad_one_keeps_the_old_rules() {
    let app = TestApp::spawn_with(Spawn {
        channels: vec![(
            "10.toml".to_owned(),
            "[[click]]\nkey = \"A\"\ntags = [\"兴趣:旧\"]\n".to_owned(),
        )],
        ..Spawn::default()
    })
    .await;
    let dir = app.channels_dir.path().to_owned();

    std::fs::write(
        dir.join("10.toml"),
        "[[click]]\nkey = \"A\"\ntags = [\"兴趣:新\"]\n",
    )
    .unwrap();
    app.rules.reload(&dir).await.unwrap();
    app.post_event(&xml::click("o1", "A")).await;
    assert_eq!(tag_names(&app.lead("o1").await), ["兴趣:新"]);

    std::fs::write(
        dir.join("10.toml"),
        "[[click]]\nkey = \"A\"\ntags = [\"兴趣:坏\"]\nbogus = 1\n",
    )
    .unwrap();
    let refused = app.rules.reload(&dir).await.unwrap_err().to_string();
    assert!(refused.contains("10.toml:4"), "{refused}");
    app.post_event(&xml::click("o2", "A")).await;
    assert_eq!(
        tag_names(&app.lead("o2").await),
        ["兴趣:新"],
        "the old rules stay"
    );
}
