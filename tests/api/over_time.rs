//! Tags from behaviour over time, end to end: real Redis, the app on port 0, pushes over
//! HTTP. Rule tags reached exactly and derived before the reply; windows, quiet leads,
//! decaying scores and lapsing tags handled by the scheduler when only time passes (after a
//! restart 31 days later, and in a running app whose clock moves); one stage at all times;
//! groups, preferences, the backfill of a rule added on reload, the preview, and two
//! processes sharing the work across a time jump.

use std::time::Duration;

use serde_json::Value;

use crate::credentials::wxtag;
use crate::helpers::{Spawn, TestApp, eventually, xml};
use crate::sync::sandbox;

const DAY: i64 = 86_400;

/// Within this the scheduler acts (it promises a minute; it polls every 5 s).
const WITHIN: Duration = Duration::from_secs(40);

/// Touch rules, and the rules over time this file exercises.
const RULES: &str = r#"
[[click]]
key  = "MENU_PLC"
tags = ["兴趣:PLC"]

[[click]]
key  = "MENU_SERVO"
tags = ["兴趣:伺服"]

[[click]]
key   = "QUOTE"
reply = "quote noted"

[[keyword]]
text = "PLC"
tags = ["兴趣:PLC"]
[[keyword.reply]]
when = { tag = "意向:PLC高" }
text = "hot"
[[keyword.reply]]
text = "cold"

[[keyword]]
text = "汽车"
tags = ["行业:汽车"]

[[keyword]]
text = "锂电"
tags = ["行业:锂电"]

[[qr]]
scene = "expo"
tags  = ["活动:展会"]

[[rule]]
name = "PLC 高意向"
when = { count = ["click:MENU_PLC", "keyword:PLC"], at_least = 3, within_days = 30 }
tags = ["意向:PLC高"]

[score]
points = { "follow" = 5, "click:QUOTE" = 40 }
half_life_days = 10

[[tiers]]
name   = "等级"
of     = "score"
levels = [ { at_least = 30, tag = "等级:A" }, { at_least = 10, tag = "等级:B" }, { at_least = 0, tag = "等级:C" } ]

[lifecycle]
stages = [
  { tag = "阶段:流失",   when = { subscribed = false } },
  { tag = "阶段:商机",   when = { any = ["意向:PLC高"] } },
  { tag = "阶段:新线索", when = { first_seen_within_days = 7 } },
  { tag = "阶段:活跃",   when = { last_seen_within_days = 30 } },
  { tag = "阶段:沉默",   when = { inactive_days = 30 } },
]

[[preference]]
name        = "主要兴趣"
among       = "兴趣:"
within_days = 90
tag         = "偏好:{}"

[[group]]
prefix = "行业:"

[[expire]]
tags       = ["活动:展会"]
after_days = 20
"#;

fn spawn() -> Spawn {
    Spawn {
        channels: vec![("10-rules.toml".to_owned(), RULES.to_owned())],
        ..Spawn::default()
    }
}

/// The lead's tag names.
fn tags(lead: &Value) -> Vec<String> {
    lead["tags"]
        .as_array()
        .map(|tags| {
            tags.iter()
                .map(|t| t["name"].as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

fn has(lead: &Value, tag: &str) -> bool {
    tags(lead).iter().any(|t| t == tag)
}

/// The tag entry of `tag` on the lead.
fn tag<'a>(lead: &'a Value, tag: &str) -> &'a Value {
    lead["tags"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == tag)
        .unwrap_or_else(|| panic!("no tag {tag} on {lead}"))
}

/// The lead's stage tags: exactly one is the contract.
fn stages(lead: &Value) -> Vec<String> {
    tags(lead)
        .into_iter()
        .filter(|t| t.starts_with("阶段:"))
        .collect()
}

/// Timeline entries of `kind` whose detail starts with `tag`.
fn entries(lead: &Value, kind: &str, tag: &str) -> usize {
    lead["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == kind && e["detail"].as_str().unwrap().starts_with(tag))
        .count()
}

/// Sends a push dated on the app's clock, `secs` after its now; asserts it was taken.
async fn at(app: &TestApp, xml: String) {
    let response = app.post_event(&xml).await;
    assert!(response.status().is_success(), "{}", response.status());
}

fn t(app: &TestApp, secs: i64) -> i64 {
    app.now().0 + secs
}

/// Waits until the lead satisfies `check`, reading it through the API.
async fn until(app: &TestApp, openid: &str, check: impl Fn(&Value) -> bool) -> Value {
    eventually(WITHIN, || async {
        let lead = app.lead(openid).await;
        check(&lead).then_some(lead)
    })
    .await
}

#[tokio::test]
async fn a_rule_tag_comes_at_exactly_its_threshold_counting_touches_that_add_no_tag() {
    let app = TestApp::spawn_with(spawn()).await;
    at(&app, xml::follow_at("oRule", None, t(&app, 0))).await;
    at(&app, xml::click_at("oRule", "MENU_PLC", t(&app, 1))).await;
    // The second PLC click adds no tag (兴趣:PLC is already there) but still counts.
    at(&app, xml::click_at("oRule", "MENU_PLC", t(&app, 2))).await;
    let lead = app.lead("oRule").await;
    assert!(
        has(&lead, "兴趣:PLC") && !has(&lead, "意向:PLC高"),
        "{lead}"
    );

    // The third touch reaches the rule, and the reply chosen for it already sees the tag.
    let reply = app
        .reply_to(&xml::text_at("oRule", "PLC", 77, t(&app, 3)))
        .await
        .unwrap();
    assert!(reply.contains("hot"), "{reply}");

    let lead = app.lead("oRule").await;
    let rule = tag(&lead, "意向:PLC高");
    assert_eq!(rule["source"], "rule:PLC 高意向");
    let detail = rule["detail"].as_str().unwrap();
    assert!(detail.contains("3 touches in 30 days"), "{detail}");
    assert_eq!(entries(&lead, "tag+", "意向:PLC高"), 1, "{lead}");
    assert_eq!(stages(&lead), ["阶段:商机"]);
    assert_eq!(lead["stage"], "阶段:商机");
}

#[tokio::test]
async fn a_window_passing_removes_the_rule_tag_after_a_restart_31_days_later() {
    let mut app = TestApp::spawn_with(spawn()).await;
    at(&app, xml::follow_at("oLater", None, t(&app, 0))).await;
    for i in 1..=3 {
        at(&app, xml::click_at("oLater", "MENU_PLC", t(&app, i))).await;
    }
    assert!(has(&app.lead("oLater").await, "意向:PLC高"));

    app.restart(31 * DAY).await;
    let lead = until(&app, "oLater", |lead| !has(lead, "意向:PLC高")).await;
    assert_eq!(entries(&lead, "tag-", "意向:PLC高"), 1, "{lead}");
    assert_eq!(
        stages(&lead),
        ["阶段:沉默"],
        "quiet for 31 days, no event sent"
    );
    assert!(has(&lead, "兴趣:PLC"), "touch tags stay");
}

#[tokio::test]
async fn the_scheduler_removes_it_with_no_restart_when_time_moves() {
    let app = TestApp::spawn_with(spawn()).await;
    at(&app, xml::follow_at("oMoving", None, t(&app, 0))).await;
    for i in 1..=3 {
        at(&app, xml::click_at("oMoving", "MENU_PLC", t(&app, i))).await;
    }
    assert!(has(&app.lead("oMoving").await, "意向:PLC高"));

    app.clock.advance(29 * DAY);
    let lead = app.lead("oMoving").await;
    assert!(has(&lead, "意向:PLC高"), "29 days in, the window holds");

    app.clock.advance(2 * DAY);
    let lead = until(&app, "oMoving", |lead| !has(lead, "意向:PLC高")).await;
    assert_eq!(entries(&lead, "tag-", "意向:PLC高"), 1);
}

#[tokio::test]
async fn a_lead_has_exactly_one_stage_from_follow_to_intent_to_quiet_to_unfollow() {
    let app = TestApp::spawn_with(spawn()).await;
    at(&app, xml::follow_at("oStage", None, t(&app, 0))).await;
    assert_eq!(stages(&app.lead("oStage").await), ["阶段:新线索"]);

    for i in 1..=3 {
        at(&app, xml::click_at("oStage", "MENU_PLC", t(&app, i))).await;
    }
    assert_eq!(stages(&app.lead("oStage").await), ["阶段:商机"]);

    app.clock.advance(8 * DAY);
    at(&app, xml::text_at("oStage", "汽车", 1, t(&app, 0))).await;
    assert_eq!(
        stages(&app.lead("oStage").await),
        ["阶段:商机"],
        "intent still in the window"
    );

    app.clock.advance(31 * DAY);
    let lead = until(&app, "oStage", |lead| stages(lead) == ["阶段:沉默"]).await;
    assert!(!has(&lead, "意向:PLC高"));

    at(&app, xml::unfollow_at("oStage", t(&app, 0))).await;
    let lead = app.lead("oStage").await;
    assert_eq!(stages(&lead), ["阶段:流失"]);
    assert_eq!(lead["stage"], "阶段:流失");
}

#[tokio::test]
async fn tiers_move_with_the_score_as_it_decays() {
    let app = TestApp::spawn_with(spawn()).await;
    at(&app, xml::follow_at("oTier", None, t(&app, 0))).await;
    at(&app, xml::click_at("oTier", "QUOTE", t(&app, 1))).await;
    let lead = app.lead("oTier").await;
    assert_eq!(lead["score"], 45.0, "5 + 40, not decayed yet");
    assert!(has(&lead, "等级:A") && !has(&lead, "等级:B"), "{lead}");

    // One half-life later: 22.5, tier B.
    app.clock.advance(10 * DAY);
    let lead = until(&app, "oTier", |lead| has(lead, "等级:B")).await;
    assert!(!has(&lead, "等级:A"), "exactly one tier");
    let score = lead["score"].as_f64().unwrap();
    assert!((22.0..=22.6).contains(&score), "{score}");

    // Two more: 5.6, tier C.
    app.clock.advance(20 * DAY);
    let lead = until(&app, "oTier", |lead| has(lead, "等级:C")).await;
    assert_eq!(
        tags(&lead)
            .iter()
            .filter(|t| t.starts_with("等级:"))
            .count(),
        1
    );
    assert_eq!(tag(&lead, "等级:C")["source"], "tiers:等级");
}

#[tokio::test]
async fn a_new_tag_of_an_exclusive_group_replaces_the_old() {
    let app = TestApp::spawn_with(spawn()).await;
    at(&app, xml::text_at("oGroup", "汽车", 1, t(&app, 0))).await;
    assert!(has(&app.lead("oGroup").await, "行业:汽车"));
    at(&app, xml::text_at("oGroup", "锂电", 2, t(&app, 60))).await;
    let lead = app.lead("oGroup").await;
    assert!(
        has(&lead, "行业:锂电") && !has(&lead, "行业:汽车"),
        "{lead}"
    );
    assert_eq!(entries(&lead, "tag-", "行业:汽车"), 1);
}

#[tokio::test]
async fn a_preference_tie_goes_to_the_most_recent_interest() {
    let app = TestApp::spawn_with(spawn()).await;
    at(&app, xml::click_at("oPref", "MENU_PLC", t(&app, 0))).await;
    assert!(has(&app.lead("oPref").await, "偏好:PLC"));
    at(&app, xml::click_at("oPref", "MENU_SERVO", t(&app, 10))).await;
    let lead = app.lead("oPref").await;
    assert!(
        has(&lead, "偏好:伺服") && !has(&lead, "偏好:PLC"),
        "1:1, servo is newer"
    );
    at(&app, xml::click_at("oPref", "MENU_PLC", t(&app, 20))).await;
    let lead = app.lead("oPref").await;
    assert!(
        has(&lead, "偏好:PLC") && !has(&lead, "偏好:伺服"),
        "2:1 for PLC"
    );
    assert_eq!(tag(&lead, "偏好:PLC")["source"], "preference:主要兴趣");
}

#[tokio::test]
async fn a_tag_lapses_after_days_since_it_was_last_applied() {
    let app = TestApp::spawn_with(spawn()).await;
    at(&app, xml::follow_at("oLapse", Some("expo"), t(&app, 0))).await;
    assert!(has(&app.lead("oLapse").await, "活动:展会"));

    app.clock.advance(19 * DAY);
    assert!(has(&app.lead("oLapse").await, "活动:展会"), "19 of 20 days");
    app.clock.advance(2 * DAY);
    let lead = until(&app, "oLapse", |lead| !has(lead, "活动:展会")).await;
    assert_eq!(entries(&lead, "tag-", "活动:展会"), 1, "{lead}");
}

#[tokio::test]
async fn a_rule_added_on_reload_tags_existing_leads_from_their_history_as_previewed() {
    let touch_rules = RULES.split("[[rule]]").next().unwrap().to_owned();
    let app = TestApp::spawn_with(Spawn {
        channels: vec![("10-rules.toml".to_owned(), touch_rules)],
        ..Spawn::default()
    })
    .await;
    for i in 0..3 {
        at(&app, xml::click_at("oBackfill", "MENU_SERVO", t(&app, i))).await;
    }
    at(&app, xml::click_at("oNotEnough", "MENU_SERVO", t(&app, 0))).await;

    std::fs::write(
        app.channels_dir.path().join("20-servo.toml"),
        "[[rule]]\nname = \"伺服 高意向\"\n\
         when = { count = [\"click:MENU_SERVO\"], at_least = 3, within_days = 30 }\n\
         tags = [\"意向:伺服高\"]\n",
    )
    .unwrap();
    let fresh = wxtag::rules::Rules::load(app.channels_dir.path())
        .unwrap()
        .rules;
    let store = wxtag::store::Store::new(
        redis::Client::open(app.redis.url())
            .unwrap()
            .get_connection_manager()
            .await
            .unwrap(),
        crate::helpers::APPID,
    );
    let previews = wxtag::rules::preview::preview(&[&fresh], &store, app.now(), None)
        .await
        .unwrap();
    let preview = &previews[0];
    let row = preview
        .rows
        .iter()
        .find(|r| r.kind == "rule" && r.name == "伺服 高意向")
        .unwrap();
    assert_eq!((row.tag, row.untag, preview.leads), (1, 0, 2));
    let printed = wxtag(&app, &["check", "--preview"]);
    let printed = String::from_utf8(printed.stdout).unwrap();
    assert!(
        printed.contains("preview: rule \"伺服 高意向\": would tag 1 and untag 0 lead(s)")
            && printed.contains("preview: every 2 lead(s) read"),
        "{printed}"
    );

    app.rules.reload(app.channels_dir.path()).await.unwrap();
    let lead = until(&app, "oBackfill", |lead| has(lead, "意向:伺服高")).await;
    assert_eq!(tag(&lead, "意向:伺服高")["source"], "rule:伺服 高意向");
    assert!(!has(&app.lead("oNotEnough").await, "意向:伺服高"));
}

#[tokio::test]
async fn two_processes_across_a_time_jump_change_each_lead_once() {
    let (wechat, base) = sandbox(Default::default());
    let mut spawn = spawn();
    spawn.wechat = Some(base);
    let app = TestApp::spawn_with(spawn).await;
    let second = app.second_process(0).await;
    let leads: Vec<String> = (0..20).map(|i| format!("oTwin{i:02}")).collect();
    let openids: Vec<_> = leads
        .iter()
        .map(|l| wxtag::domain::OpenId::parse(l).unwrap())
        .collect();
    wechat.add_followers(&openids).unwrap();
    for lead in &leads {
        at(&app, xml::follow_at(lead, None, t(&app, 0))).await;
        for i in 1..=3 {
            at(&app, xml::click_at(lead, "MENU_PLC", t(&app, i))).await;
        }
    }
    let untag_calls = |state: &wxtag::sandbox::SandboxState| -> u64 {
        state
            .calls
            .iter()
            .filter(|(path, _)| path.contains("batchuntagging"))
            .flat_map(|(_, outcomes)| outcomes.values())
            .sum()
    };
    // Every lead carries the rule tag on WeChat before time jumps.
    eventually(WITHIN, || async {
        let state = wechat.state();
        let id = state.tag_named("意向:PLC高")?.id;
        openids
            .iter()
            .all(|o| state.tags_of(o).contains(&id))
            .then_some(())
    })
    .await;
    let untags_before = untag_calls(&wechat.state());

    app.clock.advance(31 * DAY);
    second.clock.advance(31 * DAY);
    for lead in &leads {
        let lead = until(&app, lead, |lead| !has(lead, "意向:PLC高")).await;
        assert_eq!(entries(&lead, "tag-", "意向:PLC高"), 1, "{lead}");
    }
    eventually(WITHIN, || async {
        let state = wechat.state();
        let id = state.tag_named("意向:PLC高")?.id;
        openids
            .iter()
            .all(|o| !state.tags_of(o).contains(&id))
            .then_some(())
    })
    .await;
    // The untagging went out in batches, never once per process.
    let untags = untag_calls(&wechat.state()) - untags_before;
    assert!(untags >= 1, "WeChat was asked to untag");
    assert!(
        untags <= leads.len() as u64,
        "each lead untagged at most once: {untags}"
    );
}

#[tokio::test]
async fn a_system_push_creates_no_lead_and_is_not_a_touch() {
    let app = TestApp::spawn_with(spawn()).await;
    let broadcast = format!(
        "<xml><ToUserName><![CDATA[gh_10f6c3c3ac5a]]></ToUserName>\
         <FromUserName><![CDATA[oSystemSender]]></FromUserName><CreateTime>{}</CreateTime>\
         <MsgType><![CDATA[event]]></MsgType><Event><![CDATA[MASSSENDJOBFINISH]]></Event>\
         <MsgID>1000001625</MsgID><Status><![CDATA[send success]]></Status>\
         <TotalCount>100</TotalCount><FilterCount>80</FilterCount><SentCount>75</SentCount>\
         <ErrorCount>5</ErrorCount></xml>",
        t(&app, 0)
    );
    let response = app.post_event(&broadcast).await;
    assert!(response.status().is_success());
    assert_eq!(response.text().await.unwrap(), "success");
    assert_eq!(
        app.lead_count().await,
        0,
        "a broadcast's result is not a lead"
    );
}
