//! The sync benchmark: `cargo bench --bench sync`.
//!
//! A real redis-server on a free port, the WeChat sandbox with 20 ms added to every call, and
//! the sync worker between them:
//! 1. 100,000 tag assignments (10,000 leads × 10 tags) already in the outbox: time to converge
//!    and `batchtagging` calls made (the minimum is assignments / 50);
//! 2. a steady 1,000 events/s for 20 s, each adding one tag to a new lead, with the worker
//!    running as in `serve`: calls made and the sync lag (age of the oldest unsynced entry).

use std::net::TcpListener;
use std::time::{Duration, Instant};

use wxtag::domain::{OpenId, TagName, UnixTime};
use wxtag::metrics::Metrics;
use wxtag::redis_server::{Listen, LocalRedis, Options};
use wxtag::sandbox::{Faults, SandboxConfig, SandboxHandle};
use wxtag::store::{Effect, Store, TouchRecord};
use wxtag::sync::{SyncConfig, Worker};
use wxtag::wechat::api::AppSecret;
use wxtag::wechat::client::WeChatAccess;

const APPID: &str = "wxbench0000000000";
const SECRET: &str = "bench-secret";
const BATCHTAGGING: &str = "/cgi-bin/tags/members/batchtagging";

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// One follow adding `tags` to `lead`, as the webhook would record it.
async fn follow(store: &Store, lead: &str, tags: &[TagName], at: i64) {
    let openid = OpenId::parse(lead).expect("a valid openid");
    let identity = format!("{lead}|{at}|bench");
    store
        .apply(&TouchRecord {
            openid: &openid,
            identity: &identity,
            unsigned_body: None,
            at: UnixTime(at),
            effect: Effect::Follow,
            scene: None,
            timeline: Some(("follow", "")),
            location: None,
            tags: tags.iter().map(|t| (t, "follow")).collect(),
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
        .expect("the touch reaches Redis")
        .expect("no replay guard to refuse it");
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    wxtag::wechat::api::install_crypto_provider();
    let dir = tempfile::tempdir().expect("a temp dir");
    let redis = LocalRedis::start(Options {
        dir: dir.path().to_owned(),
        listen: Listen::Tcp(free_port()),
        durable: false,
    })
    .await
    .expect("redis-server starts");
    let conn = redis::Client::open(redis.url())
        .expect("a redis url")
        .get_connection_manager()
        .await
        .expect("redis answers");
    let store = Store::new(conn, APPID);
    store.load_scripts().await.expect("scripts load");

    let listener = TcpListener::bind("127.0.0.1:0").expect("a port");
    let base = format!("http://{}", listener.local_addr().expect("an address"));
    let sandbox = SandboxHandle::new(SandboxConfig {
        appid: APPID.to_owned(),
        secret: AppSecret::new(SECRET),
        faults: Faults {
            latency_ms: 20,
            ..Faults::default()
        },
        ..SandboxConfig::default()
    });
    tokio::spawn(sandbox.serve(listener).expect("the sandbox serves"));
    let access = WeChatAccess {
        base_url: base,
        appid: APPID.to_owned(),
        secret: AppSecret::new(SECRET),
    };
    let worker = || {
        Worker::new(
            store.clone(),
            &access,
            SyncConfig::default(),
            Metrics::new(),
        )
        .expect("a worker")
    };

    // 1. A backlog of 100,000 assignments.
    let (leads, per_lead) = (10_000, 10);
    let tags: Vec<TagName> = (0..per_lead)
        .map(|t| TagName::parse(&format!("兴趣:{t:02}")).expect("a valid tag"))
        .collect();
    for i in 0..leads {
        follow(&store, &format!("b{i:06}"), &tags, 1000).await;
    }
    let backlog = worker();
    let started = Instant::now();
    while !backlog.sync_once().await.expect("a sync cycle").is_idle() {}
    let converged = started.elapsed();
    let calls = sandbox.state().calls_to(BATCHTAGGING, "0");
    println!(
        "backlog: {} assignments converged in {:.1} s with {calls} batchtagging calls (minimum {})",
        leads * per_lead,
        converged.as_secs_f64(),
        leads * per_lead / 50
    );

    // 2. A steady 1,000 events/s for 20 s, the worker running as in serve.
    let before = sandbox.state().calls_to(BATCHTAGGING, "0");
    let running = tokio::spawn(worker().run_until_stopped(std::future::pending()));
    let mut lags = Vec::new();
    let started = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_millis(10));
    let mut sent = 0usize;
    while started.elapsed() < Duration::from_secs(20) {
        tick.tick().await;
        let due = usize::try_from(started.elapsed().as_millis())
            .unwrap_or(usize::MAX)
            .min(20_000);
        while sent < due {
            follow(
                &store,
                &format!("s{sent:06}"),
                &tags[sent % per_lead..=sent % per_lead],
                2000,
            )
            .await;
            sent += 1;
        }
        if sent % 250 < 10 {
            let stats = store.outbox_stats().await.expect("outbox stats");
            let now = u64::try_from(chrono::Utc::now().timestamp_millis()).unwrap_or_default();
            lags.push(
                stats
                    .oldest_ms
                    .map_or(0, |oldest| now.saturating_sub(oldest)),
            );
        }
    }
    running.abort();
    let steady = sandbox.state().calls_to(BATCHTAGGING, "0") - before;
    lags.sort_unstable();
    let at = |q: usize| lags.get(lags.len() * q / 100).copied().unwrap_or_default();
    println!(
        "steady: {sent} events at 1,000/s with {steady} batchtagging calls (minimum {}); \
         sync lag p50 {} ms, p95 {} ms, max {} ms",
        sent.div_ceil(50),
        at(50),
        at(95),
        lags.last().copied().unwrap_or_default()
    );
    redis.shutdown().await;
}
