//! `wxtag segment` as a script runs it, against the Redis of a running app: preview, save,
//! list, export and delete answer what the admin API answers (the same count, the same CSV
//! to the byte); `tag` dry-runs with the API's figures, then tags every member through a job
//! it works to the end; mistakes exit 1 and say where.

use std::collections::BTreeSet;
use std::process::{Output, Stdio};

use reqwest::Method;
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use wxtag::domain::{OpenId, SegmentName, TagName};
use wxtag::segments::jobs::{self, BulkTags};
use wxtag::store::Store;

use crate::bulk;
use crate::helpers::{ADMIN_TOKEN, Spawn, TestApp, xml};
use crate::ownership::PLC_RULE;
use crate::sync::wxtag;

/// The expo channel's leads.
const EXPO_WHEN: &str = r#"{"channel": "expo-2026"}"#;

/// An app with the expo channel and a rule tag (derived, so no sales edit or bulk job may
/// touch it), and `followers` leads: every third organic, the rest through the expo;
/// returns the expo's openids.
async fn app(followers: usize) -> (TestApp, BTreeSet<String>) {
    let app = TestApp::spawn_with(Spawn {
        channels: vec![
            ("10.toml".to_owned(), bulk::EXPO.to_owned()),
            ("50-plc.toml".to_owned(), PLC_RULE.to_owned()),
        ],
        ..Spawn::default()
    })
    .await;
    let mut expo = BTreeSet::new();
    for n in 0..followers {
        let openid = format!("o{n:03}");
        if n % 3 == 0 {
            app.post_event(&xml::follow(&openid, None)).await;
        } else {
            app.post_event(&xml::follow(&openid, Some("expo-2026")))
                .await;
            expo.insert(openid);
        }
    }
    (app, expo)
}

/// `wxtag segment ARGS…` on the app's Redis and channels folder, as user `tester`, with
/// `stdin` on its standard input.
async fn segment(app: &TestApp, args: &[&str], stdin: Option<&str>) -> Output {
    let dir = app.channels_dir.path();
    let mut command = wxtag(dir, &app.redis.url(), "http://127.0.0.1:9");
    command
        .env("WXTAG_CHANNELS", dir)
        .env("USER", "tester")
        .arg("segment")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if stdin.is_some() {
        command.stdin(Stdio::piped());
    }
    let mut child = command.spawn().unwrap();
    if let Some(text) = stdin {
        let mut input = child.stdin.take().unwrap();
        input.write_all(text.as_bytes()).await.unwrap();
    }
    child.wait_with_output().await.unwrap()
}

fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8(out.stderr.clone()).unwrap()
}

/// Asserts the command succeeded; its stdout.
fn ok(out: &Output) -> String {
    assert!(out.status.success(), "{out:?}\n{}", stderr(out));
    stdout(out)
}

/// Asserts the command failed with exit code 1; its stderr.
fn failed(out: &Output) -> String {
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    stderr(out)
}

async fn call(app: &TestApp, method: Method, path: &str, body: Option<Value>) -> reqwest::Response {
    let mut request = app
        .http
        .request(method, format!("{}{path}", app.base))
        .bearer_auth(ADMIN_TOKEN);
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.unwrap()
}

async fn tags_of(store: &Store, openid: &str) -> Vec<(String, String)> {
    let lead = store
        .lead(&OpenId::parse(openid).unwrap())
        .await
        .unwrap()
        .unwrap();
    lead.tags.into_iter().map(|t| (t.name, t.source)).collect()
}

#[tokio::test]
async fn wxtag_segment_previews_saves_lists_exports_and_deletes_as_the_api_does() {
    let (app, expo) = app(12).await;
    // A sales tag a spreadsheet would run as a formula, the lead's only tag.
    let edit = call(
        &app,
        Method::POST,
        "/api/leads/o001/tags",
        Some(json!({"add": ["=1+1"], "remove": ["来源:展会"]})),
    )
    .await;
    assert!(edit.status().is_success());

    let api: Value = call(
        &app,
        Method::POST,
        "/api/segments/preview",
        Some(json!({"when": {"channel": "expo-2026"}})),
    )
    .await
    .json()
    .await
    .unwrap();
    let preview: Value = serde_json::from_str(&ok(&segment(
        &app,
        &["preview", "--when", EXPO_WHEN, "--json"],
        None,
    )
    .await))
    .unwrap();
    assert_eq!(preview["count"], 8);
    assert_eq!(preview["count"], api["count"]);
    let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    assert_eq!(keys(&preview), keys(&api), "the API's object: {preview}");
    let sample: BTreeSet<String> = preview["sample"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(sample, expo);

    // The same condition from stdin, printed for a person: the count, then the sample.
    let human = ok(&segment(&app, &["preview", "--file", "-"], Some(EXPO_WHEN)).await);
    let mut lines = human.lines();
    assert!(lines.next().unwrap().starts_with("8 leads ("), "{human}");
    assert_eq!(lines.map(str::to_owned).collect::<BTreeSet<_>>(), expo);
    let unknown = segment(&app, &["preview", "--when", r#"{"tag": "从没有过"}"#], None).await;
    assert!(ok(&unknown).starts_with("0 leads"));
    assert!(
        stderr(&unknown).contains("warning: no lead has ever had the tag \"从没有过\""),
        "{}",
        stderr(&unknown)
    );

    let bad = r#"{"all": ["a", {"count": ["follow"], "within_days": 0}]}"#;
    let message = failed(&segment(&app, &["preview", "--when", bad], None).await);
    assert!(
        message.starts_with("error: --when: when.all[1].within_days: "),
        "{message}"
    );
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), "{\"all\": [").unwrap();
    let path = file.path().to_str().unwrap();
    let message = failed(&segment(&app, &["save", "x", "--file", path], None).await);
    assert!(
        message.starts_with(&format!("error: {path}: not JSON: ")),
        "{message}"
    );

    let saved = ok(&segment(&app, &["save", "展会", "--when", EXPO_WHEN], None).await);
    assert!(
        saved.starts_with("segment \"展会\" saved: 8 members"),
        "{saved}"
    );
    let table = ok(&segment(&app, &["list"], None).await);
    let row: Vec<&str> = table.lines().nth(1).unwrap().split('\t').collect();
    assert_eq!(
        (row[0], row[1], row[4]),
        ("展会", "8", "cli:tester"),
        "{table}"
    );
    let listed: Value =
        serde_json::from_str(&ok(&segment(&app, &["list", "--json"], None).await)).unwrap();
    let api: Value = call(&app, Method::GET, "/api/segments", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed, api);
    assert_eq!(listed["segments"][0]["members"], 8);

    // The export: the API's file to the byte (the same snapshot), members only.
    let out = tempfile::tempdir().unwrap();
    let csv_path = out.path().join("展会.csv");
    let written = segment(
        &app,
        &["export", "展会", "-o", csv_path.to_str().unwrap()],
        None,
    )
    .await;
    ok(&written);
    assert!(stderr(&written).contains("8 members of \"展会\""));
    let csv = std::fs::read_to_string(&csv_path).unwrap();
    let api = call(&app, Method::GET, "/api/segments/展会/export.csv", None)
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(csv, api);
    let full = call(&app, Method::GET, "/api/export.csv", None)
        .await
        .text()
        .await
        .unwrap();
    assert!(csv.starts_with('\u{feff}'));
    assert_eq!(
        csv.lines().next(),
        full.lines().next(),
        "the full export's header"
    );
    let members: BTreeSet<String> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap().to_owned())
        .collect();
    assert_eq!(members, expo);
    assert_eq!(csv.lines().count(), 1 + 8);
    let o001 = csv.lines().find(|l| l.starts_with("o001,")).unwrap();
    assert_eq!(
        o001.split(',').nth(4),
        Some("'=1+1"),
        "formula-safe: {o001}"
    );
    assert_eq!(
        ok(&segment(&app, &["export", "展会"], None).await),
        csv,
        "stdout"
    );

    ok(&segment(&app, &["delete", "展会"], None).await);
    let gone = "error: no segment named \"展会\"; `wxtag segment list` shows them";
    assert!(failed(&segment(&app, &["delete", "展会"], None).await).starts_with(gone));
    assert!(failed(&segment(&app, &["export", "展会"], None).await).starts_with(gone));
    assert_eq!(ok(&segment(&app, &["list"], None).await).lines().count(), 1);
}

#[tokio::test]
async fn wxtag_segment_tag_dry_runs_then_tags_every_member_and_refuses_derived_tags() {
    let (app, expo) = app(45).await;
    let store = app.redis.store().await;
    // A third of the members hold the tag already: no change for them.
    for openid in expo.iter().step_by(3) {
        let path = format!("/api/leads/{openid}/tags");
        let edit = call(
            &app,
            Method::POST,
            &path,
            Some(json!({"add": ["意向:PLC"]})),
        )
        .await;
        assert!(edit.status().is_success());
    }
    ok(&segment(&app, &["save", "展会", "--when", EXPO_WHEN], None).await);

    let tags = ["--add", "意向:PLC", "活动:工博会"];
    let dry: Value = serde_json::from_str(&ok(&segment(
        &app,
        &[&["tag", "展会", "--dry-run", "--json"][..], &tags].concat(),
        None,
    )
    .await))
    .unwrap();
    let api: Value = call(
        &app,
        Method::POST,
        "/api/segments/展会/tags",
        Some(json!({"add": ["意向:PLC", "活动:工博会"], "dry_run": true})),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(dry, api);
    assert_eq!(
        dry,
        json!({"leads": 30, "changes": 20 + 30, "wechat_calls": 2, "over_20": 0})
    );
    let human = ok(&segment(
        &app,
        &[&["tag", "展会", "--dry-run"][..], &tags].concat(),
        None,
    )
    .await);
    assert_eq!(
        human,
        "leads: 30\ntag changes: 50\nwechat calls: 2\nleads over WeChat's 20 tags: 0\n"
    );
    let still: Vec<(String, String)> = tags_of(&store, "o001").await;
    assert!(
        still.iter().all(|(name, _)| name != "活动:工博会"),
        "a dry run changes nothing"
    );

    let derived = failed(&segment(&app, &["tag", "展会", "--add", "意向:PLC高"], None).await);
    assert!(
        derived.starts_with("error: --add: 意向:PLC高 is derived"),
        "{derived}"
    );
    let both = failed(&segment(&app, &["tag", "展会", "--add", "x", "--remove", "x"], None).await);
    assert!(
        both.contains("--add and --remove both name \"x\""),
        "{both}"
    );
    let nothing = failed(&segment(&app, &["tag", "展会"], None).await);
    assert!(nothing.starts_with("error: nothing to do"), "{nothing}");
    let unknown = failed(&segment(&app, &["tag", "nope", "--add", "x"], None).await);
    assert!(
        unknown.starts_with("error: no segment named \"nope\""),
        "{unknown}"
    );

    let run = segment(&app, &[&["tag", "展会"][..], &tags].concat(), None).await;
    let job = ok(&run).trim().to_owned();
    assert_eq!(job.len(), 16, "the job id: {job}");
    let progress = stderr(&run);
    assert!(progress.contains("30/30\n"), "{progress}");
    assert!(
        progress.contains(&format!("job {job} done: 30 of 30")),
        "{progress}"
    );
    let status: Value = call(&app, Method::GET, &format!("/api/jobs/{job}"), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (&status["state"], &status["done"], &status["by"]),
        (&json!("done"), &json!(30), &json!("cli:tester"))
    );
    for openid in &expo {
        let tags = tags_of(&store, openid).await;
        assert!(
            tags.contains(&("活动:工博会".to_owned(), "segment:展会".to_owned())),
            "{openid}: {tags:?}"
        );
        assert!(
            tags.iter().any(|(name, _)| name == "意向:PLC"),
            "{openid}: {tags:?}"
        );
    }
    let outsider = tags_of(&store, "o000").await;
    assert!(outsider.iter().all(|(name, _)| name != "活动:工博会"));

    // A job left running (as by a Ctrl-C) is finished by `segment job`.
    let name = SegmentName::parse("展会").unwrap();
    let bulk = BulkTags {
        add: vec![TagName::parse("活动:复访").unwrap()],
        remove: Vec::new(),
    };
    let rules = app.rules.load();
    let left = jobs::start(&store, &rules, &name, &bulk, "cli:tester", app.now())
        .await
        .unwrap();
    let resumed = segment(&app, &["job", &left, "--json"], None).await;
    let status: Value = serde_json::from_str(&ok(&resumed)).unwrap();
    assert_eq!(
        (&status["state"], &status["done"]),
        (&json!("done"), &json!(30))
    );
    for openid in &expo {
        let tags = tags_of(&store, openid).await;
        assert!(
            tags.iter().any(|(name, _)| name == "活动:复访"),
            "{openid}: {tags:?}"
        );
    }
    let missing = failed(&segment(&app, &["job", "0000000000000000"], None).await);
    assert!(
        missing.starts_with("error: no job 0000000000000000"),
        "{missing}"
    );
}
