//! The sync worker against real Redis and the WeChat sandbox over real HTTP: convergence, the
//! minimum number of calls, faults, the 20-tag projection, bad openids, the reconcile, the
//! admin views, the CLI, and `serve` processes sharing the work and surviving kill -9.
//!
//! The sync benchmark is `cargo bench --bench sync` (benches/sync.rs).

use std::collections::{BTreeMap, BTreeSet};
use std::net::TcpListener;
use std::process::Stdio;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::Value;
use wxtag::domain::{OpenId, Scene, TagName, UnixTime};
use wxtag::metrics::Metrics;
use wxtag::sandbox::{Faults, SandboxConfig, SandboxHandle, SandboxState};
use wxtag::store::{Effect, Store, TouchRecord};
use wxtag::sync::{SyncConfig, SyncOutcome, Worker, project};
use wxtag::wechat::api::AppSecret;
use wxtag::wechat::client::{ClientError, Retry, WeChatAccess};
use wxtag::wechat::limits::TAGS_PER_USER;

use crate::helpers::{ADMIN_TOKEN, APPID, Spawn, TOKEN, TestApp, TestRedis, eventually, xml};

/// The secret test apps log in with (their account is in sandbox mode).
pub(crate) const SECRET: &str = wxtag::sandbox::DEFAULT_SECRET;

/// A sync that does not wait: no collecting window, quick retries, short leases.
pub(crate) fn quick() -> SyncConfig {
    SyncConfig {
        collect: Duration::ZERO,
        idle_poll: Duration::from_millis(10),
        batch: 5000,
        concurrency: 8,
        claim_idle: Duration::from_secs(1),
        lease: Duration::from_secs(3),
        retry: Retry {
            attempts: 8,
            base: Duration::from_millis(5),
            cap: Duration::from_millis(40),
        },
        timeout: Duration::from_secs(2),
        clock: Default::default(),
    }
}

pub(crate) fn openid(s: &str) -> OpenId {
    OpenId::parse(s).unwrap()
}

pub(crate) fn tag(s: &str) -> TagName {
    TagName::parse(s).unwrap()
}

/// Starts a sandbox account on a free port; returns its handle and base URL.
pub(crate) fn sandbox(faults: Faults) -> (SandboxHandle, String) {
    let config = SandboxConfig {
        appid: APPID.to_owned(),
        secret: AppSecret::new(SECRET),
        faults,
        ..SandboxConfig::default()
    };
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let handle = SandboxHandle::new(config);
    tokio::spawn(handle.serve(listener).unwrap());
    (handle, base)
}

pub(crate) fn access(base: &str) -> WeChatAccess {
    WeChatAccess {
        base_url: base.to_owned(),
        appid: APPID.to_owned(),
        secret: AppSecret::new(SECRET),
    }
}

/// Real Redis, a store on it, and a sandbox as WeChat.
pub(crate) struct Rig {
    pub(crate) redis: TestRedis,
    pub(crate) store: Store,
    pub(crate) sandbox: SandboxHandle,
    pub(crate) base: String,
}

impl Rig {
    pub(crate) async fn start(faults: Faults) -> Self {
        wxtag::wechat::api::install_crypto_provider();
        let redis = TestRedis::start().await;
        // A busy test machine must not turn a slow answer into a failed assertion.
        let patient = redis::aio::ConnectionManagerConfig::new()
            .set_response_timeout(Some(Duration::from_secs(10)));
        let conn = redis::Client::open(redis.url())
            .unwrap()
            .get_connection_manager_with_config(patient)
            .await
            .unwrap();
        let store = Store::new(conn, APPID);
        let (sandbox, base) = sandbox(faults);
        Self {
            redis,
            store,
            sandbox,
            base,
        }
    }

    pub(crate) fn worker(&self, config: SyncConfig) -> Worker {
        Worker::new(
            self.store.clone(),
            &access(&self.base),
            config,
            Metrics::new(),
        )
        .unwrap()
    }

    /// A lead follows through `scene` (its tags sourced `qr:<scene>`), or organically.
    pub(crate) async fn follow(&self, lead: &str, scene: Option<&str>, tags: &[&str], at: i64) {
        let lead = openid(lead);
        let scene = scene.map(|s| Scene::parse(s).unwrap());
        let source = scene
            .as_ref()
            .map_or("follow".to_owned(), |s| format!("qr:{s}"));
        let names: Vec<TagName> = tags.iter().map(|t| tag(t)).collect();
        let identity = format!("{lead}|{at}|follow");
        let applied = self
            .store
            .apply(&TouchRecord {
                openid: &lead,
                identity: &identity,
                unsigned_body: None,
                at: UnixTime(at),
                effect: Effect::Follow,
                scene: scene.as_ref(),
                timeline: Some(("follow", "")),
                location: None,
                tags: names.iter().map(|t| (t, source.as_str())).collect(),
                want_tags: false,
                history: Vec::new(),
                history_days: wxtag::store::history::DEFAULT_HISTORY_DAYS,
                derive: false,
                event: None,
                fired: String::new(),
                watched: String::new(),
                window: None,
                do_not_contact: None,
            })
            .await
            .unwrap()
            .expect("no replay guard to refuse it");
        assert!(applied.fresh);
    }

    /// Sales add and remove tags on a lead.
    pub(crate) async fn edit(&self, lead: &str, add: &[&str], remove: &[&str], at: i64) {
        let add: Vec<TagName> = add.iter().map(|t| tag(t)).collect();
        let remove: Vec<TagName> = remove.iter().map(|t| tag(t)).collect();
        let changed = self
            .store
            .edit_tags(&openid(lead), &add, &remove, "admin", "", UnixTime(at))
            .await
            .unwrap();
        assert!(changed.is_some(), "{lead} is a lead");
    }

    /// Cycles until the outbox has nothing left for this worker.
    pub(crate) async fn converge(&self, worker: &Worker) -> Vec<SyncOutcome> {
        let deadline = Instant::now() + Duration::from_secs(40);
        let mut outcomes = Vec::new();
        loop {
            let outcome = worker.sync_once().await.expect("a sync cycle");
            if outcome.is_idle() {
                return outcomes;
            }
            outcomes.push(outcome);
            assert!(Instant::now() < deadline, "no convergence: {outcomes:?}");
        }
    }

    /// Every lead's projection (tag names), as the sync computes it.
    pub(crate) async fn projections(&self, leads: &[OpenId]) -> Vec<BTreeSet<String>> {
        let unsynced = self.store.tag_sync().await.unwrap().unsynced;
        self.store
            .sync_leads(leads)
            .await
            .unwrap()
            .iter()
            .map(|lead| {
                project(lead, |t| !unsynced.contains_key(t.as_str()), &[])
                    .into_iter()
                    .map(ToString::to_string)
                    .collect()
            })
            .collect()
    }

    /// Asserts every lead carries exactly its projection on WeChat.
    pub(crate) async fn assert_in_step(&self, leads: &[OpenId]) {
        let carried = carried(&self.sandbox.state());
        let projections = self.projections(leads).await;
        for (lead, projected) in leads.iter().zip(projections) {
            let on = carried.get(lead).cloned().unwrap_or_default();
            assert_eq!(on, projected, "lead {lead}");
        }
    }

    pub(crate) async fn outbox_len(&self) -> u64 {
        let mut conn = self.redis.conn().await;
        redis::cmd("XLEN")
            .arg(self.store.keys().outbox())
            .query_async(&mut conn)
            .await
            .unwrap()
    }
}

/// The tag names each follower carries on WeChat.
pub(crate) fn carried(state: &SandboxState) -> BTreeMap<OpenId, BTreeSet<String>> {
    let mut carried: BTreeMap<OpenId, BTreeSet<String>> = BTreeMap::new();
    for tag in &state.tags {
        for member in &tag.members {
            carried
                .entry(member.clone())
                .or_default()
                .insert(tag.name.clone());
        }
    }
    carried
}

/// The tag names one follower carries on WeChat.
pub(crate) fn on_wechat(state: &SandboxState, lead: &OpenId) -> BTreeSet<String> {
    carried(state).remove(lead).unwrap_or_default()
}

fn leads(prefix: &str, n: usize) -> Vec<OpenId> {
    (0..n).map(|i| openid(&format!("{prefix}{i:04}"))).collect()
}

#[tokio::test]
async fn hundreds_of_leads_converge_with_the_minimum_number_of_calls() {
    let rig = Rig::start(Faults::default()).await;
    let all = leads("o", 300);
    let mut expected: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, lead) in all.iter().enumerate() {
        let tags: &[&str] = match i % 3 {
            0 => &["来源:展会", "活动:工博会2026"],
            1 => &["来源:官网"],
            _ => &["来源:自然关注"],
        };
        let scene = (i % 3 == 0)
            .then_some("expo")
            .or((i % 3 == 1).then_some("web"));
        rig.follow(lead.as_str(), scene, tags, 1000).await;
        for t in tags {
            *expected.entry(t).or_default() += 1;
        }
        if i % 4 == 0 {
            rig.edit(lead.as_str(), &["兴趣:产品A"], &[], 2000).await;
            *expected.entry("兴趣:产品A").or_default() += 1;
        }
    }
    let worker = rig.worker(quick());

    let outcomes = rig.converge(&worker).await;

    rig.assert_in_step(&all).await;
    let minimum: u64 = expected.values().map(|n| n.div_ceil(50) as u64).sum();
    let state = rig.sandbox.state();
    assert_eq!(
        state.calls_to("/cgi-bin/tags/members/batchtagging", "0"),
        minimum,
        "one call per tag per 50 leads: {expected:?}"
    );
    assert_eq!(
        state.calls_to("/cgi-bin/tags/members/batchuntagging", "0"),
        0
    );
    assert_eq!(
        state.calls_to("/cgi-bin/tags/create", "0"),
        expected.len() as u64
    );
    assert_eq!(outcomes.len(), 1, "everything in one cycle: {outcomes:?}");
    assert_eq!(outcomes[0].leads, 300);
    let projections = rig.projections(&all).await;
    let mut conn = rig.redis.conn().await;
    for (lead, projected) in all.iter().zip(projections) {
        let (w, lease): (Option<String>, Option<String>) = redis::pipe()
            .cmd("HGET")
            .arg(rig.store.keys().lead(lead))
            .arg("w")
            .cmd("GET")
            .arg(rig.store.keys().sync_lease(lead))
            .query_async(&mut conn)
            .await
            .unwrap();
        assert_eq!(lease, None, "{lead}: the lease is freed with the push");
        let w = w.unwrap_or_default();
        assert!(
            !w.contains('?') && w.split(' ').count() == projected.len(),
            "{lead}: w records each projected tag as held, none in doubt: {w:?}"
        );
    }
    assert_eq!(rig.outbox_len().await, 0, "every entry acknowledged");
    let stats = worker.refresh_metrics().await.unwrap();
    assert_eq!((stats.depth, stats.oldest_ms), (0, None));
    assert_eq!(
        rig.store.prune_consumers(Duration::ZERO).await.unwrap(),
        1,
        "a consumer with nothing pending can go"
    );
}

#[tokio::test]
async fn busy_quota_errors_timeouts_and_token_expiry_still_converge() {
    let rig = Rig::start(Faults {
        busy_rate: 0.3,
        quota_rate: 0.05,
        http_500_rate: 0.05,
        timeout_rate: 0.02,
        hang_ms: 1500,
        seed: Some(7),
        ..Faults::default()
    })
    .await;
    let all = leads("f", 150);
    for (i, lead) in all.iter().enumerate() {
        let tags = [format!("兴趣:{}", i % 5), format!("地区:{}", i % 3)];
        let tags: Vec<&str> = tags.iter().map(String::as_str).collect();
        rig.follow(lead.as_str(), None, &tags, 1000).await;
    }
    let worker = rig.worker(SyncConfig {
        timeout: Duration::from_millis(500),
        ..quick()
    });
    rig.converge(&worker).await;
    rig.assert_in_step(&all).await;

    // The token expires at WeChat while Redis still holds it; more changes arrive.
    rig.sandbox.advance_clock(Duration::from_secs(7300));
    for lead in &all[..60] {
        rig.edit(lead.as_str(), &["意向:试用"], &["兴趣:0"], 3000)
            .await;
    }
    rig.converge(&worker).await;

    rig.assert_in_step(&all).await;
    assert_eq!(rig.outbox_len().await, 0);
    let state = rig.sandbox.state();
    let refused: u64 = ["-1", "45009", "http_500", "timeout", "42001"]
        .iter()
        .map(|code| {
            state
                .calls
                .values()
                .map(|by| by.get(*code).copied().unwrap_or(0))
                .sum::<u64>()
        })
        .sum();
    assert!(refused > 10, "faults were injected: {:?}", state.calls);
    let expired: u64 = state
        .calls
        .values()
        .map(|by| by.get("42001").copied().unwrap_or(0))
        .sum();
    assert!(
        expired >= 1,
        "the expired token was refused: {:?}",
        state.calls
    );
    assert_eq!(
        state.tokens_issued.stable, 2,
        "one token, then one after expiry"
    );
}

#[tokio::test]
async fn wechat_gets_the_twenty_tags_that_matter_most() {
    let rig = Rig::start(Faults::default()).await;
    let lead = openid("o20");
    rig.follow("o20", Some("expo"), &["来源:展会", "活动:工博会"], 100)
        .await;
    for i in 0..24 {
        rig.edit("o20", &[&format!("兴趣:{i:02}")], &[], 200 + i)
            .await;
    }
    let worker = rig.worker(quick());
    rig.converge(&worker).await;

    let carried = on_wechat(&rig.sandbox.state(), &lead);
    assert_eq!(carried.len(), TAGS_PER_USER);
    assert!(carried.contains("来源:展会") && carried.contains("活动:工博会"));
    assert!(carried.contains("兴趣:23") && carried.contains("兴趣:06"));
    assert!(
        !carried.contains("兴趣:05"),
        "the oldest fall out: {carried:?}"
    );
    let redis_tags = rig.store.lead(&lead).await.unwrap().unwrap().tags;
    assert_eq!(redis_tags.len(), 26, "redis keeps every tag");

    // A newer tag arrives: the least important one is taken off WeChat first.
    rig.edit("o20", &["意向:询价"], &[], 500).await;
    rig.converge(&worker).await;

    let carried = on_wechat(&rig.sandbox.state(), &lead);
    assert_eq!(carried.len(), TAGS_PER_USER);
    assert!(carried.contains("意向:询价") && !carried.contains("兴趣:06"));
    rig.assert_in_step(&[lead]).await;
    let state = rig.sandbox.state();
    assert_eq!(
        state.calls_to("/cgi-bin/tags/members/batchuntagging", "0"),
        1
    );
    assert_eq!(
        state.calls_to("/cgi-bin/tags/members/batchtagging", "45059"),
        0
    );
}

#[tokio::test]
async fn one_bad_openid_is_split_out_and_dead_lettered_without_sinking_the_others() {
    let rig = Rig::start(Faults::default()).await;
    let mut all = leads("g", 49);
    all.push(openid("invalid_lead"));
    for lead in &all {
        rig.follow(lead.as_str(), None, &["兴趣:产品B"], 1000).await;
    }
    let worker = rig.worker(quick());

    let outcomes = rig.converge(&worker).await;

    let good = &all[..49];
    rig.assert_in_step(good).await;
    let state = rig.sandbox.state();
    assert_eq!(
        state.calls_to("/cgi-bin/tags/members/batchtagging", "40003"),
        7,
        "halving 50 down to 1 fails 1 + 6 times"
    );
    assert_eq!(outcomes.iter().map(|o| o.dead_letters).sum::<usize>(), 1);
    let letters = rig.store.dead_letters(10).await.unwrap();
    assert_eq!(letters.total, 1);
    let letter = &letters.newest[0];
    assert_eq!(
        (letter.openid.as_str(), letter.op.as_str()),
        ("invalid_lead", "add")
    );
    assert_eq!(letter.tag, "兴趣:产品B");
    assert_eq!(letter.errcode, Some(40003));
    assert_eq!(
        rig.outbox_len().await,
        0,
        "the failure is recorded, not left pending"
    );
    let stats = worker.refresh_metrics().await.unwrap();
    assert_eq!(stats.dead_letters, 1);
}

#[tokio::test]
async fn a_wrong_app_secret_stops_the_sync_without_retrying_and_says_what_to_fix() {
    let rig = Rig::start(Faults::default()).await;
    rig.follow("o1", None, &["兴趣:产品A"], 1000).await;
    let wrong = WeChatAccess {
        secret: AppSecret::new("not-the-secret"),
        ..access(&rig.base)
    };
    let worker = Worker::new(rig.store.clone(), &wrong, quick(), Metrics::new()).unwrap();

    let error = worker.sync_once().await.unwrap_err();

    assert!(matches!(error, ClientError::Config(_)), "{error:?}");
    assert!(error.to_string().contains("WECHAT_APPSECRET"), "{error}");
    let state = rig.sandbox.state();
    assert_eq!(
        state.calls_to("/cgi-bin/stable_token", "40125"),
        1,
        "never retried"
    );
    assert_eq!(rig.outbox_len().await, 1, "the change is kept for later");
}

#[tokio::test]
async fn reconcile_imports_console_tags_creates_missing_ones_and_repairs_drift() {
    let rig = Rig::start(Faults::default()).await;
    for lead in ["r1", "r2", "r3"] {
        rig.follow(lead, Some("expo"), &["来源:展会"], 1000).await;
    }
    let worker = rig.worker(quick());
    rig.converge(&worker).await;
    // Staff make a tag in the console for two leads and one follower wxtag never saw, and
    // someone takes wxtag's tag off r3 by hand.
    let vip = rig
        .sandbox
        .create_console_tag("VIP客户", &[openid("r1"), openid("r2"), openid("stranger")])
        .unwrap();
    let expo_id = rig.sandbox.state().tag_named("来源:展会").unwrap().id;
    let api = wxtag::wechat::api::WeChatApi::new(&rig.base, Duration::from_secs(2)).unwrap();
    let token = api
        .stable_token(APPID, &AppSecret::new(SECRET), false)
        .await
        .unwrap()
        .token;
    api.batch_untagging(&token, expo_id, &[openid("r3")])
        .await
        .unwrap();

    let report = worker
        .reconcile(&[tag("来源:展会"), tag("意向:试用")])
        .await
        .unwrap();

    assert_eq!(report.tags_imported, 1);
    assert_eq!(report.members_imported, 3);
    assert_eq!(report.tags_created, 1, "the rule tag no lead carries yet");
    assert_eq!(report.leads, 4);
    assert_eq!(report.leads_left, 0);
    let state = rig.sandbox.state();
    assert!(state.tag_named("意向:试用").is_some());
    assert!(
        state.tags_of(&openid("r3")).contains(&expo_id),
        "drift repaired"
    );
    assert!(
        state.tags_of(&openid("r1")).contains(&vip),
        "external tags stay on wechat"
    );
    let stranger = rig.store.lead(&openid("stranger")).await.unwrap().unwrap();
    assert_eq!(stranger.tags[0].name, "VIP客户");
    assert_eq!(stranger.tags[0].source, "wechat");
    assert!(
        rig.store
            .tag_sync()
            .await
            .unwrap()
            .external
            .contains("VIP客户")
    );
    rig.assert_in_step(&[openid("r1"), openid("r2"), openid("r3"), openid("stranger")])
        .await;
    assert_eq!(
        state.calls_to("/cgi-bin/tags/delete", "0"),
        0,
        "nothing is deleted"
    );

    let again = worker.reconcile(&[]).await.unwrap();
    assert_eq!(
        (again.tags_imported, again.members_imported, again.calls),
        (0, 0, 0)
    );
}

#[tokio::test]
async fn the_admin_api_shows_tag_states_dead_letters_metrics_and_channel_qr_codes() {
    let (sandbox, base) = sandbox(Faults::default());
    // Staff already made 99 tags in the console: one more fits, the next does not.
    for i in 0..99 {
        sandbox
            .create_console_tag(&format!("旧标签{i:02}"), &[])
            .unwrap();
    }
    let app = TestApp::spawn_with(Spawn {
        channels: vec![(
            "10.toml".to_owned(),
            "[[qr]]\nscene = \"expo-2026\"\nname = \"展会\"\ntags = [\"来源:展会\"]\npermanent = true\n"
                .to_owned(),
        )],
        wechat: Some(base.clone()),
        ..Spawn::default()
    })
    .await;
    app.post_event(&xml::follow("a1", Some("expo-2026"))).await;
    app.post_event(&xml::follow("invalid_a2", Some("expo-2026")))
        .await;
    let edit = app
        .http
        .post(format!("{}/api/leads/a1/tags", app.base))
        .bearer_auth(ADMIN_TOKEN)
        .json(&serde_json::json!({"add": ["销售:跟进"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(edit.status(), StatusCode::OK);

    let tags: Vec<Value> = eventually(Duration::from_secs(20), || async {
        let tags: Vec<Value> = app.admin_get("/api/tags").await.json().await.unwrap();
        let settled = tags.iter().all(|t| t["sync_state"] != "pending") && tags.len() == 2;
        settled.then_some(tags)
    })
    .await;
    let state_of = |name: &str| {
        tags.iter()
            .find(|t| t["name"] == name)
            .map(|t| {
                (
                    t["sync_state"].as_str().unwrap().to_owned(),
                    t["wechat_id"].clone(),
                )
            })
            .unwrap()
    };
    let (expo, expo_id) = state_of("来源:展会");
    let (sales, sales_id) = state_of("销售:跟进");
    assert_eq!(expo, "synced");
    assert!(expo_id.is_u64());
    assert!(
        sales.starts_with("unsynced: ") && sales.contains("100 tags"),
        "{sales}"
    );
    assert!(sales_id.is_null());

    let letters: Value = eventually(Duration::from_secs(20), || async {
        let body: Value = app
            .admin_get("/api/dead-letters")
            .await
            .json()
            .await
            .unwrap();
        (body["total"] == 1).then_some(body)
    })
    .await;
    let letter = &letters["dead_letters"][0];
    assert_eq!(letter["openid"], "invalid_a2");
    assert_eq!(letter["op"], "add");
    assert_eq!(letter["errcode"], 40003);
    assert!(letter["at"].as_str().unwrap().ends_with("+08:00"));
    let on = on_wechat(&sandbox.state(), &openid("a1"));
    assert_eq!(on, BTreeSet::from(["来源:展会".to_owned()]));

    let metrics = eventually(Duration::from_secs(20), || async {
        let text = app
            .http
            .get(format!("{}/metrics", app.base))
            .send()
            .await
            .unwrap();
        let text = text.text().await.unwrap();
        // Both gauges come from one refresh: one made before the dead letter was written
        // can show the outbox empty and no letter yet.
        (text.contains("wxtag_outbox_depth 0") && text.contains("wxtag_dead_letters 1"))
            .then_some(text)
    })
    .await;
    assert!(metrics.contains(
        "wxtag_wechat_api_calls_total{endpoint=\"tags/members/batchtagging\",errcode=\"40003\"}"
    ));

    let qr = app.admin_get("/api/channels/expo-2026/qr.png").await;
    assert_eq!(qr.status(), StatusCode::OK);
    assert_eq!(qr.headers()["content-type"], "image/png");
    assert!(qr.bytes().await.unwrap().starts_with(b"\x89PNG"));
    let codes = sandbox.state().qrcodes;
    assert_eq!(codes[0].action_name, "QR_LIMIT_STR_SCENE");
    assert_eq!(codes[0].scene, "expo-2026");
    assert_eq!(
        app.admin_get("/api/channels/nope/qr.png").await.status(),
        StatusCode::NOT_FOUND
    );
}

/// A `wxtag` command with the test account's environment, run in an empty directory.
pub(crate) fn wxtag(dir: &std::path::Path, redis: &str, api: &str) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_wxtag"));
    command
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("RUST_LOG", "info")
        .env("REDIS_URL", redis)
        // Test Redis servers keep nothing on disk, on purpose: accept that.
        .env("WXTAG_DURABILITY", "relaxed")
        .env("WECHAT_APPID", APPID)
        .env("WECHAT_APPSECRET", SECRET)
        .env("WECHAT_TOKEN", TOKEN)
        .env("WECHAT_API_BASE", api)
        .env("WXTAG_ADMIN_TOKEN", ADMIN_TOKEN)
        .env("WXTAG_CHANNELS", dir.join("channels"))
        .stdin(Stdio::null())
        .kill_on_drop(true);
    command
}

/// A `wxtag serve` process on a free port.
pub(crate) struct Serve {
    pub(crate) child: tokio::process::Child,
    pub(crate) base: String,
}

impl Serve {
    pub(crate) async fn start(dir: &std::path::Path, redis: &str, api: &str, name: &str) -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let log = std::fs::File::create(dir.join(format!("{name}.log"))).unwrap();
        let child = wxtag(dir, redis, api)
            .arg("serve")
            .env("WXTAG_BIND", format!("127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let base = format!("http://127.0.0.1:{port}");
        wxtag::wechat::api::install_crypto_provider();
        let http = reqwest::Client::new();
        eventually(Duration::from_secs(20), || async {
            let up = http.get(format!("{base}/healthz")).send().await;
            up.is_ok_and(|r| r.status().is_success()).then_some(())
        })
        .await;
        Self { child, base }
    }

    /// Successful `batchtagging` calls this process made, from its /metrics.
    async fn taggings(&self) -> u64 {
        let text = reqwest::get(format!("{}/metrics", self.base))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        text.lines()
            .find(|l| {
                l.starts_with(
                    "wxtag_wechat_api_calls_total{endpoint=\"tags/members/batchtagging\",errcode=\"0\"}",
                )
            })
            .and_then(|l| l.rsplit(' ').next()?.parse().ok())
            .unwrap_or(0)
    }
}

/// A directory with an empty `channels/` folder.
pub(crate) fn workdir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("channels")).unwrap();
    dir
}

/// Polls until every lead is in step and the outbox is empty.
async fn eventually_in_step(rig: &Rig, leads: &[OpenId], within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let carried = carried(&rig.sandbox.state());
        let projections = rig.projections(leads).await;
        let nothing = BTreeSet::new();
        let behind = leads
            .iter()
            .zip(&projections)
            .filter(|(lead, projected)| carried.get(*lead).unwrap_or(&nothing) != *projected)
            .count();
        if behind == 0 && rig.outbox_len().await == 0 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{behind} leads not in step, outbox {} long",
            rig.outbox_len().await
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn two_serve_processes_share_the_work_and_fetch_one_token() {
    let rig = Rig::start(Faults {
        latency_ms: 20,
        ..Faults::default()
    })
    .await;
    let dir = workdir();
    let one = Serve::start(dir.path(), &rig.redis.url(), &rig.base, "one").await;
    let two = Serve::start(dir.path(), &rig.redis.url(), &rig.base, "two").await;

    let all = leads("s", 2000);
    for (burst, chunk) in all.chunks(200).enumerate() {
        for lead in chunk {
            let tags = [format!("兴趣:{}", burst % 4), "来源:官网".to_owned()];
            let tags: Vec<&str> = tags.iter().map(String::as_str).collect();
            rig.follow(lead.as_str(), None, &tags, 1000).await;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    eventually_in_step(&rig, &all, Duration::from_secs(30)).await;
    let (a, b) = (one.taggings().await, two.taggings().await);
    assert!(a > 0 && b > 0, "both processes synced: {a} and {b} calls");
    let state = rig.sandbox.state();
    assert_eq!(
        state.calls_to("/cgi-bin/stable_token", "0"),
        1,
        "one fetch for both: the other process waited for it"
    );
    assert_eq!(state.tokens_issued.classic, 0);
}

#[tokio::test]
async fn a_serve_killed_mid_sync_loses_nothing_after_a_restart() {
    let rig = Rig::start(Faults {
        latency_ms: 50,
        ..Faults::default()
    })
    .await;
    let all = leads("k", 2000);
    for (i, lead) in all.iter().enumerate() {
        let tags: Vec<String> = (0..5).map(|t| format!("标签:{}", (i + t) % 7)).collect();
        let tags: Vec<&str> = tags.iter().map(String::as_str).collect();
        rig.follow(lead.as_str(), None, &tags, 1000).await;
    }
    let dir = workdir();
    let mut first = Serve::start(dir.path(), &rig.redis.url(), &rig.base, "first").await;
    eventually(Duration::from_secs(20), || async {
        let made = rig
            .sandbox
            .state()
            .calls_to("/cgi-bin/tags/members/batchtagging", "0");
        (made >= 30).then_some(())
    })
    .await;

    first.child.start_kill().unwrap();
    first.child.wait().await.unwrap();
    let made = rig
        .sandbox
        .state()
        .calls_to("/cgi-bin/tags/members/batchtagging", "0");
    let minimum = 7 * (all.len() * 5 / 7).div_ceil(50) as u64;
    assert!(
        made < minimum,
        "killed mid-sync: {made} of {minimum} calls made"
    );
    for lead in &all[..100] {
        rig.edit(lead.as_str(), &["意向:询价"], &["标签:0"], 2000)
            .await;
    }
    let _second = Serve::start(dir.path(), &rig.redis.url(), &rig.base, "second").await;

    eventually_in_step(&rig, &all, Duration::from_secs(40)).await;
}

#[tokio::test]
async fn the_cli_reconciles_and_renders_a_channel_qr_code() {
    let rig = Rig::start(Faults::default()).await;
    rig.follow("c1", Some("expo"), &["来源:展会"], 1000).await;
    let dir = workdir();
    std::fs::write(
        dir.path().join("channels/10.toml"),
        "[[qr]]\nscene = \"expo\"\ntags = [\"来源:展会\", \"活动:工博会\"]\nexpire_days = 7\n",
    )
    .unwrap();

    let sync = wxtag(dir.path(), &rig.redis.url(), &rig.base)
        .arg("sync")
        .output()
        .await
        .unwrap();
    let qr = wxtag(dir.path(), &rig.redis.url(), &rig.base)
        .args(["qr", "expo", "-o", "expo.png"])
        .output()
        .await
        .unwrap();

    let out = String::from_utf8_lossy(&sync.stdout);
    assert!(
        sync.status.success(),
        "{out}\n{}",
        String::from_utf8_lossy(&sync.stderr)
    );
    assert!(out.contains("2 created"), "{out}");
    assert!(out.contains("1 in step with wechat"), "{out}");
    rig.assert_in_step(&[openid("c1")]).await;
    assert_eq!(rig.outbox_len().await, 0, "the outbox is drained");
    assert!(
        qr.status.success(),
        "{}",
        String::from_utf8_lossy(&qr.stderr)
    );
    let png = std::fs::read(dir.path().join("expo.png")).unwrap();
    assert!(png.starts_with(b"\x89PNG"));
    let codes = rig.sandbox.state().qrcodes;
    assert_eq!(codes[0].action_name, "QR_STR_SCENE");
    assert_eq!(codes[0].expire_seconds, Some(7 * 86_400));
}
