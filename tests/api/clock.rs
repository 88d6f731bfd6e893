//! `WXTAG_CLOCK_OFFSET_SECS`: every clock of wxtag runs shifted. A shifted app accepts pushes
//! and URL verifications signed on its clock and refuses the real time; the lead, sales' tag edits and their audit
//! record, the channel report's today and the export's file name all use the shifted time; a restart "later"
//! keeps the lead; the sync's reconcile dates what it imports on it; `wxtag send` signs
//! with the shifted time; `serve` warns.

use std::time::Duration;

use reqwest::{StatusCode, header};
use wxtag::domain::{Clock, UnixTime};
use wxtag::store::{Keys, rfc3339};
use wxtag::sync::SyncConfig;
use wxtag::wechat::signature;

use crate::cli::{Serve, wxtag};
use crate::helpers::{ADMIN_TOKEN, APPID, Spawn, TOKEN, TestApp, eventually, xml};
use crate::sync::{Rig, openid, quick};
use crate::webhook::verification_query;

const DAY: i64 = 86_400;

/// The `yyyy-mm-dd` day, in China time, of a moment.
fn day(at: UnixTime) -> String {
    rfc3339(at)[..10].to_owned()
}

async fn shifted(offset_secs: i64) -> TestApp {
    TestApp::spawn_with(Spawn {
        clock_offset_secs: offset_secs,
        ..Spawn::shipped_channels()
    })
    .await
}

#[tokio::test]
async fn a_shifted_app_takes_pushes_signed_on_its_clock_and_refuses_the_real_time() {
    let app = shifted(DAY).await;
    let created = app.now();
    assert!(
        created.0 - UnixTime::now().0 >= DAY - 5,
        "the app's clock runs a day ahead"
    );

    let follow = xml::follow_at("oClockAhead", Some("expo-2026"), created.0);
    let accepted = app.post_event(&follow).await;
    assert_eq!(
        accepted.status(),
        StatusCode::OK,
        "signed on the app's clock"
    );
    let lead = app.lead("oClockAhead").await;
    assert_eq!(
        lead["first_seen"],
        rfc3339(created),
        "the lead's first seen is the shifted day"
    );
    assert_ne!(day(created), day(UnixTime::now()), "not today");

    let real = xml::follow_at("oClockReal", Some("expo-2026"), UnixTime::now().0);
    let (query, body) = app.signed_now(&real);
    let refused = app.post_raw(&query, body).await;
    assert_eq!(
        refused.status(),
        StatusCode::UNAUTHORIZED,
        "the real time is a day off the app's clock: out of the 5-minute window"
    );
    let unknown = app.admin_get("/api/leads/oClockReal").await;
    assert_eq!(
        unknown.status(),
        StatusCode::NOT_FOUND,
        "a refused push has no effect"
    );
}

#[tokio::test]
async fn url_verification_checks_the_timestamp_against_the_shifted_clock() {
    let app = shifted(-DAY).await;
    let verify = |at: UnixTime| {
        let timestamp = at.0.to_string();
        let signed = signature::sign(&[TOKEN, &timestamp, "987654321"]);
        app.http
            .get(format!("{}/wechat", app.base))
            .query(&verification_query(&timestamp, &signed))
            .send()
    };

    let shifted = verify(app.now()).await.unwrap();
    assert_eq!(
        shifted.status(),
        StatusCode::OK,
        "signed a day back, as the app's clock"
    );
    assert_eq!(shifted.text().await.unwrap(), "5837397520665436492");
    let real = verify(UnixTime::now()).await.unwrap();
    assert_eq!(
        real.status(),
        StatusCode::UNAUTHORIZED,
        "the real time is a day ahead"
    );
}

#[tokio::test]
async fn tag_edits_the_channel_report_and_the_export_use_the_shifted_day() {
    let app = shifted(10 * DAY).await;
    app.post_event(&xml::follow_at("oClockSales", None, app.now().0))
        .await;

    let before = app.now();
    let edited = app
        .http
        .post(format!("{}/api/leads/oClockSales/tags", app.base))
        .bearer_auth(ADMIN_TOKEN)
        .json(&serde_json::json!({ "add": ["跟进:已联系"] }))
        .send()
        .await
        .unwrap();
    assert_eq!(edited.status(), StatusCode::OK);
    let lead: serde_json::Value = edited.json().await.unwrap();
    let tag = lead["tags"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "跟进:已联系")
        .cloned()
        .expect("the tag is added");
    let at = tag["at"].as_str().unwrap();
    assert!(
        at >= rfc3339(before).as_str() && at <= rfc3339(app.now()).as_str(),
        "the edit is dated on the app's clock: {at}"
    );
    let audit: Vec<String> =
        redis::AsyncCommands::lrange(&mut app.redis.conn().await, Keys::new(APPID).audit(), 0, 0)
            .await
            .unwrap();
    let record: serde_json::Value = serde_json::from_str(&audit[0]).unwrap();
    assert_eq!(record["what"], "tags.edit");
    let audited = record["at"].as_i64().unwrap();
    assert!(
        audited >= before.0 && audited <= app.now().0,
        "the audit record is dated on the app's clock: {audited}"
    );

    let report: serde_json::Value = app.admin_get("/api/channels").await.json().await.unwrap();
    let today = [day(before), day(app.now())];
    assert!(
        today.iter().any(|d| report["to"] == d.as_str()),
        "the report ends on the shifted today: {} vs {today:?}",
        report["to"]
    );

    let export = app.admin_get("/api/export.csv").await;
    let disposition = export.headers()[header::CONTENT_DISPOSITION]
        .to_str()
        .unwrap()
        .to_owned();
    let compact = today.map(|d| d.replace('-', ""));
    assert!(
        compact
            .iter()
            .any(|d| disposition.contains(&format!("wxtag-leads-{d}.csv"))),
        "the export is named after the shifted day: {disposition} vs {compact:?}"
    );
}

#[tokio::test]
async fn a_restart_later_keeps_the_lead_and_takes_the_new_time() {
    let mut app = TestApp::spawn_with(Spawn::shipped_channels()).await;
    let first = app.now();
    app.post_event(&xml::follow_at("oClockRestart", Some("expo-2026"), first.0))
        .await;

    app.restart(31 * DAY).await;

    assert_eq!(app.clock.offset_secs(), 31 * DAY);
    let later = app.now();
    let click = xml::follow_at("oClockRestart", None, later.0);
    let (query, body) = app.signed_now(&click);
    let refused = app.post_raw(&query, body).await;
    assert_eq!(
        refused.status(),
        StatusCode::UNAUTHORIZED,
        "31 days later, a push signed at the real time is out of the window"
    );
    let accepted = app.post_event(&click).await;
    assert_eq!(accepted.status(), StatusCode::OK);
    let lead = app.lead("oClockRestart").await;
    assert_eq!(
        lead["first_seen"],
        rfc3339(first),
        "the lead survived the restart"
    );
    assert_eq!(
        lead["last_seen"],
        rfc3339(later),
        "seen again, 31 days later"
    );
    assert_eq!(lead["first_channel"], "expo-2026");
}

#[tokio::test]
async fn reconcile_dates_the_console_tags_it_imports_on_the_shifted_clock() {
    let rig = Rig::start(Default::default()).await;
    rig.sandbox
        .create_console_tag("VIP客户", &[openid("oClockStranger")])
        .unwrap();
    let clock = Clock::shifted(20 * DAY);
    let worker = rig.worker(SyncConfig {
        clock: clock.clone(),
        ..quick()
    });

    let before = clock.now();
    let report = worker.reconcile(&[]).await.unwrap();
    let after = clock.now();

    assert_eq!(report.members_imported, 1);
    let stranger = rig
        .store
        .lead(&openid("oClockStranger"))
        .await
        .unwrap()
        .expect("the console's member is imported");
    let at = &stranger.tags[0].at;
    assert!(
        *at >= rfc3339(before) && *at <= rfc3339(after),
        "imported {at}, on the shifted clock ({} to {})",
        rfc3339(before),
        rfc3339(after)
    );
}

#[tokio::test]
async fn send_signs_with_the_shifted_clock() {
    let app = shifted(DAY).await;
    let dir = tempfile::tempdir().unwrap();
    let send = |offset: Option<&str>, openid: &str| {
        let mut command = wxtag(dir.path());
        command
            .args(["send", "follow", "--scene", "expo-2026", "--openid", openid])
            .arg("--url")
            .arg(format!("{}/wechat", app.base))
            .env("WECHAT_TOKEN", TOKEN);
        if let Some(offset) = offset {
            command.env("WXTAG_CLOCK_OFFSET_SECS", offset);
        }
        tokio::process::Command::from(command).output()
    };

    let shifted = send(Some(&DAY.to_string()), "oSendAhead").await.unwrap();
    assert!(
        shifted.status.success(),
        "{}",
        String::from_utf8_lossy(&shifted.stdout)
    );
    let lead = app.lead("oSendAhead").await;
    let first_seen = lead["first_seen"].as_str().unwrap().to_owned();
    assert!(
        first_seen >= rfc3339(UnixTime(app.now().0 - 60)),
        "CreateTime is on the shifted clock too: {first_seen}"
    );

    let real = send(None, "oSendReal").await.unwrap();
    assert!(!real.status.success(), "the real time is a day off");
    assert!(
        String::from_utf8_lossy(&real.stdout).contains("401"),
        "{}",
        String::from_utf8_lossy(&real.stdout)
    );
}

#[tokio::test]
async fn serve_warns_when_its_clock_is_shifted() {
    let serve = Serve::start("", &[("WXTAG_CLOCK_OFFSET_SECS", "-3600".to_owned())]).await;
    let log = eventually(Duration::from_secs(10), || async {
        let log = serve.log();
        log.contains("clock shifted").then_some(log)
    })
    .await;
    assert!(
        log.contains("clock shifted by -3600 s: for tests and demos only"),
        "{log}"
    );
    assert!(log.contains("WARN"), "a warning: {log}");
}
