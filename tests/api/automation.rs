//! Automations end to end, over real HTTP with the sandbox as WeChat: a trigger starts one
//! run per lead; tag steps, sends inside the window and template fallbacks outside it;
//! waits that survive a restart later on; quiet hours; two processes never running a step
//! twice; a notify queued once under one delivery id.

use std::time::Duration;

use serde_json::Value;
use wxtag::domain::OpenId;
use wxtag::sandbox::{Faults, Interaction, SandboxHandle};

use crate::helpers::{Spawn, TestApp, eventually, xml};
use crate::sync::sandbox;

const DAY: i64 = 86_400;

/// Within this a run's step is done (the worker polls every second).
const WITHIN: Duration = Duration::from_secs(30);

const KEYWORDS: &str = r#"
[[keyword]]
text = "资料"
tags = ["意向:资料"]

[[keyword]]
text = "试用"
tags = ["意向:试用"]

[[keyword]]
text = "晚安"
tags = ["意向:晚安"]

[[notify]]
name = "sales-hook"
webhook = "https://crm.example.com/hooks/wxtag"
secret = "s3cret"
"#;

const AUTOMATIONS: &str = r#"
[[automation]]
name = "资料跟进"
on = { tag_added = "意向:资料" }
steps = [
  { add_tags = ["跟进:资料"] },
  { send = { text = "您的资料已发送，有问题随时回复。" }, template = "TPL_FOLLOW", data = { thing1 = "产品手册" }, when = { none = ["意向:试用"] } },
  { notify = "sales-hook" },
]

[[automation]]
name = "两天后"
on = { tag_added = "意向:试用" }
steps = [ { wait = "2d" }, { add_tags = ["跟进:试用两天"] } ]

[[automation]]
name = "夜间"
on = { tag_added = "意向:晚安" }
quiet_hours = "22:00-08:00"
steps = [ { send = { text = "早上好" } } ]
"#;

async fn app_with(sandbox_base: &str, clock_offset_secs: i64) -> TestApp {
    TestApp::spawn_with(Spawn {
        channels: vec![
            ("30-keywords.toml".to_owned(), KEYWORDS.to_owned()),
            ("60-automation.toml".to_owned(), AUTOMATIONS.to_owned()),
        ],
        wechat: Some(sandbox_base.to_owned()),
        clock_offset_secs,
        ..Spawn::default()
    })
    .await
}

/// The lead writes `text`: the app gets the push, and WeChat (the sandbox) knows it.
async fn says(app: &TestApp, sandbox: &SandboxHandle, openid: &str, text: &str, n: u64) {
    sandbox
        .interact(&OpenId::parse(openid).unwrap(), Interaction::Message, None)
        .unwrap();
    let response = app.post_event(&xml::text(openid, text, n)).await;
    assert!(response.status().is_success());
}

fn tag_source(lead: &Value, tag: &str) -> Option<String> {
    lead["tags"]
        .as_array()?
        .iter()
        .find(|t| t["name"] == tag)
        .and_then(|t| t["source"].as_str().map(str::to_owned))
}

/// Timeline entries of `kind` whose detail contains `text`.
fn entries(lead: &Value, kind: &str, text: &str) -> usize {
    lead["events"]
        .as_array()
        .map(|events| {
            events
                .iter()
                .filter(|e| e["kind"] == kind && e["detail"].as_str().unwrap_or("").contains(text))
                .count()
        })
        .unwrap_or(0)
}

/// Messages the sandbox delivered to `openid`, as (msgtype, body).
fn delivered(sandbox: &SandboxHandle, openid: &str) -> Vec<(String, Value)> {
    sandbox
        .state()
        .messages
        .into_iter()
        .filter(|m| m.touser.as_str() == openid)
        .map(|m| (m.msgtype, m.body))
        .collect()
}

#[tokio::test]
async fn a_tag_starts_one_run_that_tags_sends_inside_the_window_and_queues_the_alert() {
    let (sandbox, base) = sandbox(Faults::default());
    let app = app_with(&base, 0).await;
    let lead = "oAutoFollowUp0001";
    says(&app, &sandbox, lead, "资料", 1).await;

    let done = eventually(WITHIN, || async {
        let lead = app.lead(lead).await;
        (entries(&lead, "automation", "step 3 (notify) queued") == 1).then_some(lead)
    })
    .await;
    assert_eq!(
        tag_source(&done, "跟进:资料").as_deref(),
        Some("automation:资料跟进")
    );
    assert_eq!(
        entries(
            &done,
            "automation",
            "资料跟进 started (tag_added 意向:资料)"
        ),
        1
    );
    let sent = delivered(&sandbox, lead);
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0].0, "text");
    assert_eq!(
        sent[0].1["text"]["content"],
        "您的资料已发送，有问题随时回复。"
    );
    assert_eq!(entries(&done, "send", "sent custom"), 1);
    let store = app.redis.store().await;
    let (queued, total) = store.deliveries_page(0, 10).await.unwrap();
    assert_eq!(total, 1);
    assert_eq!(queued[0].target.as_str(), "sales-hook");
    assert_eq!(queued[0].event, "tag_added");
    assert_eq!(queued[0].openid.as_str(), lead);

    // Saying it again adds no tag, so nothing fires: once another lead's run is through,
    // this lead still ran once (the inbox is worked in order).
    says(&app, &sandbox, lead, "资料", 2).await;
    let other = "oAutoFollowUp0002";
    says(&app, &sandbox, other, "资料", 3).await;
    eventually(WITHIN, || async {
        let lead = app.lead(other).await;
        (entries(&lead, "automation", "queued") == 1).then_some(())
    })
    .await;
    let again = app.lead(lead).await;
    assert_eq!(entries(&again, "automation", "started"), 1);
    assert_eq!(delivered(&sandbox, lead).len(), 1);
    let text = app.metrics_text().await;
    assert!(
        text.contains(r#"wxtag_automation_runs_total{automation="资料跟进",outcome="done"} 2"#),
        "{text}"
    );
}

#[tokio::test]
async fn outside_the_window_a_send_falls_back_to_its_template_and_a_false_when_skips() {
    let (sandbox, base) = sandbox(Faults::default());
    let app = app_with(&base, 0).await;
    // The push reaches the bot, but WeChat was never told: no window is open.
    let outside = "oAutoOutside00001";
    app.post_event(&xml::text(outside, "资料", 1)).await;
    let skipped = "oAutoSkipped00001";
    says(&app, &sandbox, skipped, "试用", 2).await;
    says(&app, &sandbox, skipped, "资料", 3).await;

    eventually(WITHIN, || async {
        let a = app.lead(outside).await;
        let b = app.lead(skipped).await;
        (entries(&a, "automation", "queued") == 1 && entries(&b, "automation", "queued") == 1)
            .then_some(())
    })
    .await;
    let sent = delivered(&sandbox, outside);
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0].0, "template");
    assert_eq!(sent[0].1["template_id"], "TPL_FOLLOW");
    assert_eq!(sent[0].1["data"]["thing1"]["value"], "产品手册");
    let b = app.lead(skipped).await;
    assert_eq!(
        entries(
            &b,
            "automation",
            "step 2 (send) skipped: its when does not hold"
        ),
        1
    );
    assert!(delivered(&sandbox, skipped).is_empty());
}

#[tokio::test]
async fn a_wait_survives_a_restart_two_days_later() {
    let (sandbox, base) = sandbox(Faults::default());
    let mut app = app_with(&base, 0).await;
    let lead = "oAutoWaits0000001";
    says(&app, &sandbox, lead, "试用", 1).await;
    let store = app.redis.store().await;
    let run = "两天后:oAutoWaits0000001".to_owned();
    eventually(WITHIN, || async {
        let runs = store.runs(std::slice::from_ref(&run)).await.unwrap();
        runs[0].as_ref().filter(|r| r.step == 1).map(|_| ())
    })
    .await;
    assert!(tag_source(&app.lead(lead).await, "跟进:试用两天").is_none());

    app.restart(2 * DAY + 60).await;
    let lead = eventually(WITHIN, || async {
        let lead = app.lead(lead).await;
        tag_source(&lead, "跟进:试用两天").map(|_| lead)
    })
    .await;
    assert_eq!(entries(&lead, "automation", "两天后 started"), 1);
    let runs = store.runs(std::slice::from_ref(&run)).await.unwrap();
    assert_eq!(runs[0].as_ref().map(|r| r.state.as_str()), Some("done"));
}

#[tokio::test]
async fn quiet_hours_delay_a_send_to_their_end() {
    let (sandbox, base) = sandbox(Faults::default());
    // 23:00 China time today (or tomorrow): inside 22:00-08:00.
    let now = wxtag::domain::UnixTime::now().0;
    let local = now + 8 * 3600;
    let mut late = local - local.rem_euclid(DAY) + 23 * 3600 - 8 * 3600;
    if late < now {
        late += DAY;
    }
    let app = app_with(&base, late - now).await;
    let lead = "oAutoQuiet0000001";
    says(&app, &sandbox, lead, "晚安", 1).await;
    let store = app.redis.store().await;
    let run = "夜间:oAutoQuiet0000001".to_owned();
    eventually(WITHIN, || async {
        let lead = app.lead(lead).await;
        (entries(&lead, "automation", "夜间 started") == 1).then_some(())
    })
    .await;
    // Claimed and put off: still at its send, nothing delivered.
    eventually(WITHIN, || async {
        let runs = store.runs(std::slice::from_ref(&run)).await.unwrap();
        let run = runs[0].clone()?;
        (run.step == 0).then_some(())
    })
    .await;
    assert!(delivered(&sandbox, lead).is_empty());

    // Nine hours on it is 08:00 past: the send goes (WeChat's window is the sandbox's, on
    // its own clock, still open).
    app.clock.advance(9 * 3600 + 60);
    eventually(WITHIN, || async {
        (!delivered(&sandbox, lead).is_empty()).then_some(())
    })
    .await;
    assert_eq!(delivered(&sandbox, lead)[0].1["text"]["content"], "早上好");
}

#[tokio::test]
async fn two_processes_never_run_a_step_twice() {
    let (sandbox, base) = sandbox(Faults::default());
    let app = app_with(&base, 0).await;
    let _second = app.second_process(0).await;
    let leads: Vec<String> = (0..20).map(|n| format!("oAutoTwoProcs{n:04}")).collect();
    for (n, lead) in leads.iter().enumerate() {
        says(&app, &sandbox, lead, "资料", n as u64 + 1).await;
    }
    eventually(WITHIN, || async {
        let done = sandbox.state().messages.len();
        (done >= 20).then_some(())
    })
    .await;
    let store = app.redis.store().await;
    eventually(WITHIN, || async {
        let (_, total) = store.deliveries_page(0, 0).await.unwrap();
        (total == 20).then_some(())
    })
    .await;
    for lead in &leads {
        let view = app.lead(lead).await;
        assert_eq!(entries(&view, "automation", "started"), 1, "{lead}");
        assert_eq!(entries(&view, "send", "sent custom"), 1, "{lead}");
        assert_eq!(delivered(&sandbox, lead).len(), 1, "{lead}");
    }
}
