//! The segments benchmark: `cargo bench --bench segments [-- LEADS]` (default 1,000,000).
//!
//! A real redis-server on a free port, filled through the intake's own script with LEADS
//! leads in a realistic mix: 20 channels of uneven reach (some follows organic), 60 tags in
//! five families (兴趣:, 行业:, 来源:, 活动: and others), first seen over the last year, 0 to 3
//! later touches (menu clicks, keywords, a rescan now and then) up to now, one in ten
//! unfollowed; then the seen-on-day sets' backfill, timed. Then each of the README's typical segments is previewed three times (the
//! median is reported) while the intake's script runs 500 times a second beside it, on its
//! own connection as in `serve`; reported: members, leads looked at, the preview's time and
//! Redis's CPU time per preview (the intake beside it included, about 3 % of a core), and
//! the intake script's round trip (p50, p99) with and without a preview running. Last, a bulk
//! tag of 100,000 followers of a second account through a job and the sync to the sandbox:
//! the time to tag them, to converge on WeChat, and the calls made.

use std::net::TcpListener;
use std::time::{Duration, Instant};

use futures_util::{StreamExt, stream};
use serde_json::json;
use wxtag::domain::{OpenId, Scene, SegmentName, TagName, UnixTime};
use wxtag::metrics::Metrics;
use wxtag::redis_server::{Listen, LocalRedis, Options};
use wxtag::rules::Rules;
use wxtag::rules::condition::Condition;
use wxtag::sandbox::{SandboxConfig, SandboxHandle};
use wxtag::segments::jobs::{self, BulkTags};
use wxtag::store::{Effect, Store, TouchRecord};
use wxtag::sync::{SyncConfig, Worker};
use wxtag::wechat::api::AppSecret;
use wxtag::wechat::client::WeChatAccess;

const APPID: &str = "wxbench0000000000";
const DAY: i64 = 86_400;

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A small deterministic random number generator (xorshift), so every run has one mix.
struct Dice(u64);

impl Dice {
    fn roll(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }

    /// 0..n, the low ones far likelier (a channel's or tag's reach is uneven).
    fn skewed(&mut self, n: u64) -> u64 {
        let a = self.roll(n);
        let b = self.roll(n);
        a.min(b)
    }
}

/// The 60 tags: 15 interests, 10 industries, 5 sources, 10 campaigns, 20 others (客户 the
/// first of them).
fn tags() -> Vec<TagName> {
    let mut names = Vec::new();
    names.extend((1..=15).map(|i| format!("兴趣:P{i:02}")));
    names.extend((1..=10).map(|i| format!("行业:I{i:02}")));
    names.extend((1..=5).map(|i| format!("来源:S{i:02}")));
    names.extend((1..=10).map(|i| format!("活动:E{i:02}")));
    names.push("客户".to_owned());
    names.extend((2..=20).map(|i| format!("T{i:02}")));
    names
        .iter()
        .map(|n| TagName::parse(n).expect("a valid tag"))
        .collect()
}

/// One lead's touches, as the webhook would apply them.
struct Touch {
    openid: OpenId,
    identity: String,
    at: UnixTime,
    effect: Effect,
    scene: Option<Scene>,
    tags: Vec<TagName>,
    keys: Vec<String>,
}

impl Touch {
    /// An organic follow with no tag, its identity `<openid>|<what>`.
    fn follow(openid: OpenId, what: &str, at: UnixTime) -> Self {
        Self {
            identity: format!("{openid}|{what}"),
            openid,
            at,
            effect: Effect::Follow,
            scene: None,
            tags: Vec::new(),
            keys: vec!["follow".to_owned()],
        }
    }
}

/// The touches of lead `n` (a follow, then 0 to 3 more), drawn from `dice`.
fn touches_of(n: usize, dice: &mut Dice, tags: &[TagName], now: UnixTime) -> Vec<Touch> {
    let openid = OpenId::parse(&format!("oBench{n:07}")).expect("a valid openid");
    let mut at = now.0 - dice.roll(365) as i64 * DAY - dice.roll(DAY as u64) as i64;
    let scene = (dice.roll(8) != 0)
        .then(|| Scene::parse(&format!("ch{:02}", dice.skewed(20) + 1)).expect("a scene"));
    let mut keys = vec!["follow".to_owned()];
    keys.extend(scene.as_ref().map(|s| format!("qr:{s}")));
    let mut out = vec![Touch {
        openid: openid.clone(),
        identity: format!("{openid}|follow"),
        at: UnixTime(at),
        effect: Effect::Follow,
        scene,
        tags: vec![tags[dice.skewed(60) as usize].clone()],
        keys,
    }];
    for i in 0..dice.roll(4) {
        at = (at + dice.roll(60 * DAY as u64) as i64).min(now.0);
        let effect = match dice.roll(10) {
            0 => Effect::Unfollow,
            1 => Effect::Scan,
            _ => Effect::Other,
        };
        let scene = (effect == Effect::Scan)
            .then(|| Scene::parse(&format!("ch{:02}", dice.skewed(20) + 1)).expect("a scene"));
        let key = if dice.roll(2) == 0 {
            format!("click:K{:02}", dice.skewed(10) + 1)
        } else {
            format!("keyword:W{:02}", dice.skewed(5) + 1)
        };
        let touched = effect != Effect::Unfollow;
        out.push(Touch {
            openid: openid.clone(),
            identity: format!("{openid}|{i}"),
            at: UnixTime(at),
            effect,
            scene,
            tags: if touched {
                vec![tags[dice.skewed(60) as usize].clone()]
            } else {
                Vec::new()
            },
            keys: if touched { vec![key] } else { Vec::new() },
        });
    }
    out
}

/// Applies one touch through the intake's script.
async fn apply(store: &Store, touch: &Touch) -> Duration {
    let started = Instant::now();
    let tags: Vec<(&TagName, &str)> = touch.tags.iter().map(|t| (t, "bench")).collect();
    store
        .apply(&TouchRecord {
            openid: &touch.openid,
            identity: &touch.identity,
            unsigned_body: None,
            at: touch.at,
            effect: touch.effect,
            scene: touch.scene.as_ref(),
            timeline: Some(("touch", "")),
            location: None,
            tags,
            want_tags: false,
            history: touch.keys.iter().map(String::as_str).collect(),
            history_days: 90,
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
    started.elapsed()
}

/// The rules the score leaf reads: points for the follow, the channels and the menu.
fn rules(dir: &std::path::Path) -> Rules {
    std::fs::write(
        dir.join("score.toml"),
        "[score]\npoints = { \"follow\" = 5, \"click:K01\" = 20, \"keyword:W01\" = 15, \"qr:ch01\" = 10 }\nhalf_life_days = 30\n",
    )
    .expect("a rules file");
    wxtag::rules::live::load(dir, 90).expect("the rules load")
}

/// A steady 500 applies a second until `stop`, each a new lead's follow; their round trips.
async fn steady(store: Store, stop: tokio::sync::watch::Receiver<bool>) -> Vec<Duration> {
    let mut tick = tokio::time::interval(Duration::from_millis(2));
    let mut times = Vec::new();
    let now = UnixTime::now();
    let mut n = 0u64;
    while !*stop.borrow() {
        tick.tick().await;
        let openid = OpenId::parse(&format!("oSteady{n:08}")).expect("a valid openid");
        let touch = Touch::follow(openid, "steady", now);
        times.push(apply(&store, &touch).await);
        n += 1;
    }
    times
}

/// Redis's CPU time so far (user and system), in seconds.
async fn redis_cpu(store_conn: &mut redis::aio::ConnectionManager) -> f64 {
    let info: String = redis::cmd("INFO")
        .arg("cpu")
        .query_async(store_conn)
        .await
        .expect("INFO answers");
    info.lines()
        .filter_map(|l| {
            l.strip_prefix("used_cpu_sys:")
                .or(l.strip_prefix("used_cpu_user:"))
        })
        .filter_map(|v| v.trim().parse::<f64>().ok())
        .sum()
}

fn quantile(times: &mut [Duration], q: f64) -> f64 {
    times.sort_unstable();
    let at = ((times.len() as f64 - 1.0) * q).round() as usize;
    times.get(at).map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

/// The intake's round trip (p50, p99 in ms) while `work` runs.
async fn beside<T>(store: &Store, work: impl std::future::Future<Output = T>) -> (T, f64, f64) {
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let load = tokio::spawn(steady(store.clone(), stopped));
    let out = work.await;
    stop.send(true).expect("the load listens");
    let mut times = load.await.expect("the load runs");
    (out, quantile(&mut times, 0.5), quantile(&mut times, 0.99))
}

/// Bulk tagging: 100,000 followers of a second account (in the same Redis), all in one
/// segment, tagged by a job and synced to the sandbox; the time to tag, the time to converge
/// and the `batchtagging` calls (the minimum is 100,000 / 50 = 2,000).
async fn bulk(redis: &LocalRedis, rules: &Rules) {
    const BULK_APPID: &str = "wxbulk00000000000";
    const SECRET: &str = "bench-secret";
    const BATCHTAGGING: &str = "/cgi-bin/tags/members/batchtagging";
    let conn = redis::Client::open(redis.url())
        .expect("a redis url")
        .get_connection_manager()
        .await
        .expect("redis answers");
    let store = Store::new(conn, BULK_APPID);
    store.load_scripts().await.expect("scripts load");
    let now = UnixTime::now();
    let leads = 100_000;
    let follows: Vec<Touch> = (0..leads)
        .map(|n| {
            let openid = OpenId::parse(&format!("oBulk{n:07}")).expect("a valid openid");
            Touch::follow(openid, "follow", now)
        })
        .collect();
    stream::iter(&follows)
        .for_each_concurrent(128, |touch| {
            let store = &store;
            async move {
                apply(store, touch).await;
            }
        })
        .await;

    let listener = TcpListener::bind("127.0.0.1:0").expect("a port");
    let base = format!("http://{}", listener.local_addr().expect("an address"));
    let sandbox = SandboxHandle::new(SandboxConfig {
        appid: BULK_APPID.to_owned(),
        secret: AppSecret::new(SECRET),
        ..SandboxConfig::default()
    });
    tokio::spawn(sandbox.serve(listener).expect("the sandbox serves"));
    let access = WeChatAccess {
        base_url: base,
        appid: BULK_APPID.to_owned(),
        secret: AppSecret::new(SECRET),
    };
    let worker = Worker::new(
        store.clone(),
        &access,
        SyncConfig::default(),
        Metrics::new(),
    )
    .expect("a worker");

    let name = SegmentName::parse("bulk").expect("a segment name");
    wxtag::segments::save(
        &store,
        rules,
        &name,
        json!({"subscribed": true}),
        "bench",
        now,
    )
    .await
    .expect("the segment saves");
    let tags = BulkTags {
        add: vec![TagName::parse("活动:回访").expect("a tag")],
        remove: Vec::new(),
    };
    let dry = jobs::dry_run(&store, rules, &name, &tags, now)
        .await
        .expect("the dry run");
    let started = Instant::now();
    let job = jobs::start(&store, rules, &name, &tags, "bench", now)
        .await
        .expect("the job starts");
    let syncing = tokio::spawn(worker.run_until_stopped(std::future::pending()));
    while jobs::status(&store, &job)
        .await
        .expect("the job's status")
        .is_some_and(|s| s.state == "running")
    {
        jobs::work(&store, "bench", 10, now)
            .await
            .expect("a job pass");
    }
    let tagged = started.elapsed();
    while store.outbox_stats().await.expect("outbox stats").depth > 0 {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let converged = started.elapsed();
    syncing.abort();
    println!(
        "bulk: {leads} followers tagged in {:.1} s, on WeChat in {:.1} s, with {} batchtagging \
         calls (dry run: {} changes, {} calls; the minimum {})",
        tagged.as_secs_f64(),
        converged.as_secs_f64(),
        sandbox.state().calls_to(BATCHTAGGING, "0"),
        dry.changes,
        dry.wechat_calls,
        leads / 50
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let leads: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.replace('_', "").parse().ok())
        .unwrap_or(1_000_000);
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
    let mut info = conn.clone();
    let store = Store::new(conn, APPID);
    store.load_scripts().await.expect("scripts load");
    // The intake's own connection, as in serve (each HTTP worker has one).
    let intake = Store::new(
        redis::Client::open(redis.url())
            .expect("a redis url")
            .get_connection_manager()
            .await
            .expect("redis answers"),
        APPID,
    );
    let rules = rules(dir.path());
    let now = UnixTime::now();

    let started = Instant::now();
    let tags = tags();
    let mut dice = Dice(0x9e37_79b9_7f4a_7c15);
    let all: Vec<Vec<Touch>> = (0..leads)
        .map(|n| touches_of(n, &mut dice, &tags, now))
        .collect();
    let count: usize = all.iter().map(Vec::len).sum();
    stream::iter(&all)
        .for_each_concurrent(128, |touches| {
            let store = &store;
            async move {
                for touch in touches {
                    apply(store, touch).await;
                }
            }
        })
        .await;
    println!(
        "generated {leads} leads ({count} touches) in {:.0} s",
        started.elapsed().as_secs_f64()
    );
    drop(all);

    // As the first serve after an upgrade does: every lead into the set of its last seen day,
    // a scheduler pass's worth at a time.
    let started = Instant::now();
    let mut filled = 0;
    loop {
        let step = store
            .backfill_seen(wxtag::scheduler::SEEN_FILL, now)
            .await
            .expect("the backfill step runs");
        filled += step.leads;
        if step.done {
            break;
        }
    }
    println!(
        "seen-on-day sets backfilled: {filled} leads in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let (_, idle50, idle99) = beside(&intake, tokio::time::sleep(Duration::from_secs(5))).await;
    println!("intake round trip, nothing else running: p50 {idle50:.2} ms, p99 {idle99:.2} ms");

    let segments = [
        ("one tag", json!("兴趣:P01")),
        (
            "tag and channel",
            json!({"all": ["兴趣:P02", {"channel": "ch03"}]}),
        ),
        (
            "any of 3 channels, not a tag",
            json!({"all": [
                {"any": [{"channel": "ch01"}, {"channel": "ch02"}, {"channel": "ch05"}]},
                {"none": ["客户"]},
            ]}),
        ),
        (
            "last seen in 30 days, a tag prefix",
            json!({"all": [{"last_seen_within_days": 30}, {"tag_prefix": "行业:"}]}),
        ),
        (
            "a count in a window",
            json!({"count": ["click:K01", "keyword:W01"], "at_least": 1, "within_days": 30}),
        ),
        (
            "the marketer's (2 channels, a tag, not a tag, active)",
            json!({"all": [
                {"any": [{"channel": "ch01"}, {"channel": "ch04"}]},
                "兴趣:P01",
                {"none": ["客户"]},
                {"last_seen_within_days": 30},
            ]}),
        ),
        (
            "a score and a date",
            json!({"all": [{"score": {"at_least": 10}}, {"first_seen_within_days": 90}]}),
        ),
    ];
    println!(
        "| segment | members | looked at | preview (median of 3) | Redis CPU per preview | intake p50 / p99 beside it |"
    );
    println!("|---|---:|---:|---:|---:|---:|");
    for (name, when) in segments {
        let condition = Condition::from_json(&when).expect("a valid condition");
        let mut took = Vec::new();
        let mut last = None;
        let mut p: (f64, f64) = (0.0, 0.0);
        let cpu_before = redis_cpu(&mut info).await;
        for _ in 0..3 {
            let (found, p50, p99) = beside(
                &intake,
                wxtag::segments::preview(&store, &rules, &condition, UnixTime::now()),
            )
            .await;
            let found = found.expect("the preview runs");
            took.push(found.took);
            p = (p.0.max(p50), p.1.max(p99));
            last = Some(found);
        }
        let cpu = (redis_cpu(&mut info).await - cpu_before) / 3.0;
        let found = last.expect("three previews ran");
        println!(
            "| {name} | {} | {} | {:.0} ms | {:.0} ms | {:.2} / {:.2} ms |",
            found.count,
            found.examined,
            quantile(&mut took, 0.5),
            cpu * 1000.0,
            p.0,
            p.1
        );
    }
    bulk(&redis, &rules).await;

    let stats: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(&mut info)
        .await
        .expect("INFO answers");
    for line in stats.lines().filter(|l| {
        ["hmget", "smismember", "sscan", "lrange"]
            .iter()
            .any(|c| l.starts_with(&format!("cmdstat_{c}:")))
    }) {
        println!("{line}");
    }
    redis.shutdown().await;
}
