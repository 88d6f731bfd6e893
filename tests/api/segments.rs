//! Segments against a real Redis: every count equals a brute-force evaluation of every lead's
//! whole state, for nested conditions over tags, channels, dates, the score and counts;
//! samples are members; snapshots hold each member once. Then the API: save, list, preview,
//! members paged while leads arrive, export, delete, and the mistakes it refuses.

use std::collections::{BTreeSet, HashSet};
use std::path::Path;

use redis::AsyncCommands;
use reqwest::StatusCode;
use serde_json::{Value, json};
use wxtag::domain::{OpenId, Scene, SegmentName, TagName, UnixTime};
use wxtag::rules::Rules;
use wxtag::rules::condition::Condition;
use wxtag::segments;
use wxtag::store::{Effect, Keys, Store, TouchRecord};

use crate::helpers::{APPID, TestApp, TestRedis, xml};

const DAY: i64 = 86_400;

/// A small deterministic random number generator (xorshift), so a failing mix can be
/// replayed.
struct Dice(u64);

impl Dice {
    fn roll(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

const CHANNELS: [&str; 5] = [
    "expo-2026",
    "website",
    "baidu-ads",
    "tencent-ads",
    "webinar",
];
const TAGS: [&str; 7] = [
    "兴趣:PLC",
    "兴趣:HMI",
    "兴趣:伺服",
    "客户",
    "来源:展会",
    "行业:汽车",
    "vip",
];
const KEYS: [&str; 4] = [
    "click:REQUEST_QUOTE",
    "keyword:PLC",
    "click:MENU_PRODUCT_A",
    "keyword:试用",
];

/// Writes `leads` leads through the intake's own script: a follow through one of the
/// channels (some organic) between 0 and 120 days ago, then up to 5 touches with tags and
/// touch keys, a later scan through another channel now and then, some unfollows, and a
/// profile field on some. Returns every openid.
async fn seed(store: &Store, redis: &TestRedis, leads: usize, now: UnixTime) -> Vec<OpenId> {
    let mut dice = Dice(0x9e37_79b9_7f4a_7c15);
    let tags: Vec<TagName> = TAGS.iter().map(|t| TagName::parse(t).unwrap()).collect();
    let scenes: Vec<Scene> = CHANNELS.iter().map(|s| Scene::parse(s).unwrap()).collect();
    let mut conn = redis.conn().await;
    let mut openids = Vec::new();
    for n in 0..leads {
        let openid = OpenId::parse(&format!("o{n:05}")).unwrap();
        let mut at = UnixTime(now.0 - dice.roll(120) as i64 * DAY - dice.roll(DAY as u64) as i64);
        let organic = dice.roll(6) == 0;
        let scene = (!organic).then(|| &scenes[dice.roll(5) as usize]);
        let source = scene.map_or("follow".to_owned(), |s| format!("qr:{s}"));
        let first_tag = &tags[dice.roll(7) as usize];
        let mut history = vec!["follow".to_owned()];
        history.extend(scene.map(|s| format!("qr:{s}")));
        let identity = format!("{openid}|follow");
        let record = TouchRecord {
            openid: &openid,
            identity: &identity,
            unsigned_body: None,
            at,
            effect: Effect::Follow,
            scene,
            timeline: Some(("follow", "")),
            location: None,
            tags: vec![(first_tag, &source)],
            want_tags: false,
            history: history.iter().map(String::as_str).collect(),
            history_days: 90,
            derive: false,
            event: None,
            fired: String::new(),
            watched: String::new(),
            window: None,
            do_not_contact: None,
        };
        store.apply(&record).await.unwrap().unwrap();
        for touch in 0..dice.roll(6) {
            at = UnixTime((at.0 + dice.roll(20 * DAY as u64) as i64).min(now.0));
            let key = KEYS[dice.roll(4) as usize];
            let tag = &tags[dice.roll(7) as usize];
            let rescan = dice.roll(5) == 0;
            let effect = match dice.roll(12) {
                0 => Effect::Unfollow,
                _ if rescan => Effect::Scan,
                _ => Effect::Other,
            };
            let scene = rescan.then(|| &scenes[dice.roll(5) as usize]);
            let identity = format!("{openid}|{touch}");
            let history = if effect == Effect::Unfollow {
                Vec::new()
            } else {
                vec![key]
            };
            let added = if effect == Effect::Unfollow {
                Vec::new()
            } else {
                vec![(tag, key)]
            };
            let record = TouchRecord {
                openid: &openid,
                identity: &identity,
                unsigned_body: None,
                at,
                effect,
                scene,
                timeline: Some(("touch", key)),
                location: None,
                tags: added,
                want_tags: false,
                history,
                history_days: 90,
                derive: false,
                event: None,
                fired: String::new(),
                watched: String::new(),
                window: None,
                do_not_contact: None,
            };
            store.apply(&record).await.unwrap().unwrap();
        }
        if dice.roll(4) == 0 {
            let () = conn
                .hset(Keys::new(APPID).lead(&openid), "f:company", "ACME")
                .await
                .unwrap();
        }
        openids.push(openid);
    }
    openids
}

/// The leads a condition holds for, from every lead's whole state, one by one.
async fn brute_force(
    store: &Store,
    rules: &Rules,
    condition: &Condition,
    leads: &[OpenId],
    now: UnixTime,
) -> BTreeSet<OpenId> {
    let states = store.lead_states(leads).await.unwrap();
    leads
        .iter()
        .zip(states)
        .filter_map(|(openid, state)| {
            let state = state?;
            let tags: BTreeSet<String> = state.tags.iter().map(|t| t.name.to_string()).collect();
            rules
                .holds(condition, &state, &tags, now)
                .then(|| openid.clone())
        })
        .collect()
}

/// Checks every condition of `table` against the brute force: the count, the sample and a
/// snapshot holding each member once. Returns how many were not empty.
async fn check_table(
    store: &Store,
    rules: &Rules,
    leads: &[OpenId],
    now: UnixTime,
    table: &[serde_json::Value],
) -> usize {
    let mut nonempty = 0;
    for when in table {
        let condition = Condition::from_json(when).unwrap();
        let expected = brute_force(store, rules, &condition, leads, now).await;
        let found = segments::preview(store, rules, &condition, now)
            .await
            .unwrap();
        assert_eq!(found.count, expected.len() as u64, "{when}");
        assert!(found.complete);
        assert_eq!(
            found.sample.len(),
            expected.len().min(segments::SAMPLE),
            "{when}"
        );
        assert!(found.sample.iter().all(|o| expected.contains(o)), "{when}");

        let (snapshotted, id) = segments::snapshot(store, rules, &condition, now)
            .await
            .unwrap();
        assert_eq!(snapshotted.count, found.count);
        let members = segments::snapshot_members(store, &id, 0, 100_000)
            .await
            .unwrap()
            .unwrap_or_default();
        let unique: HashSet<&OpenId> = members.iter().collect();
        assert_eq!(unique.len(), members.len(), "each member once: {when}");
        let members: BTreeSet<OpenId> = members.into_iter().collect();
        assert_eq!(members, expected, "{when}");
        if !expected.is_empty() {
            nonempty += 1;
        }
    }
    nonempty
}

#[tokio::test]
async fn counts_equal_a_brute_force_evaluation_for_nested_conditions() {
    let redis = TestRedis::start().await;
    let store = redis.store().await;
    let rules = wxtag::rules::live::load(Path::new("channels"), 90).unwrap();
    let now = UnixTime::now();
    // Enough leads that the index walk and the bigger sets' scans take several chunks.
    let leads = seed(&store, &redis, 1_400, now).await;

    let table = [
        json!("兴趣:PLC"),
        json!({"all": ["兴趣:PLC", {"channel": "expo-2026"}]}),
        json!({"all": [
            {"any": [{"channel": "expo-2026"}, {"channel": "website"}, {"channel": "webinar"}]},
            {"none": ["客户"]},
        ]}),
        json!({"all": [{"last_seen_within_days": 30}, {"tag_prefix": "兴趣:"}]}),
        json!({"last_seen_within_days": 7}),
        json!({"any": [{"last_seen_within_days": 3}, "vip"]}),
        json!({"count": ["keyword:PLC", "click:MENU_PRODUCT_A"], "at_least": 2, "within_days": 30}),
        json!({"count": ["keyword:试用"], "at_least": 1, "within_days": 14}),
        json!({"any": [
            {"all": [{"first_channel": "baidu-ads"}, {"subscribed": true}]},
            {"all": [{"tag_prefix": "行业:"}, {"first_seen_within_days": 45}]},
        ]}),
        json!({"none": [{"tag_prefix": "兴趣:"}, {"channel": "website"}]}),
        json!({"all": [{"score": {"at_least": 10}}, {"inactive_days": 14}]}),
        json!({"all": [{"field": "company"}, {"any": ["vip", "客户"]}]}),
        json!({"all": [{"subscribed": false}, {"count": ["click:REQUEST_QUOTE"], "at_most": 1, "within_days": 60}]}),
        json!({"all": ["vip", "没有这个标签"]}),
        json!({"tag_prefix": "没有:"}),
    ];
    // Before the seen-on-day sets are complete, date conditions walk every lead.
    let recent = Condition::from_json(&json!({"last_seen_within_days": 7})).unwrap();
    let walked = segments::preview(&store, &rules, &recent, now)
        .await
        .unwrap();
    assert_eq!(walked.examined, leads.len() as u64);
    let nonempty = check_table(&store, &rules, &leads, now, &table).await;
    assert!(
        nonempty >= 11,
        "the mix makes most segments non-empty: {nonempty}"
    );

    // As after an upgrade: the sets are gone (the leads came before them), and the
    // backfill puts every lead back in the set of its last seen day.
    let mut conn = redis.conn().await;
    let stale: Vec<String> = conn.keys(format!("wx:{{{APPID}}}:seen*")).await.unwrap();
    assert!(
        stale.len() > 90,
        "one set a day the seeded leads were seen: {stale:?}"
    );
    let () = conn.del(&stale).await.unwrap();
    // 700 a step: the third step finds the index's end with nothing left to read.
    let mut steps = 0;
    while !store.backfill_seen(700, now).await.unwrap().done {
        steps += 1;
        assert!(steps < 10, "the backfill ends");
    }
    assert!(store.seen_ready().await.unwrap());
    assert_eq!(
        check_table(&store, &rules, &leads, now, &table).await,
        nonempty
    );
    let indexed = segments::preview(&store, &rules, &recent, now)
        .await
        .unwrap();
    assert_eq!(indexed.count, walked.count);
    assert!(
        indexed.examined < leads.len() as u64 / 3,
        "the last week's sets, not every lead: {}",
        indexed.examined
    );
}

#[tokio::test]
async fn a_touch_puts_its_lead_in_the_seen_set_of_the_day_its_last_seen_moves_to() {
    let redis = TestRedis::start().await;
    let store = redis.store().await;
    let openid = OpenId::parse("oSeen0000000000000000000001").unwrap();
    // 10:00 China time, ten days ago.
    let now = UnixTime::now().0;
    let day0 = now - now.rem_euclid(DAY) - 10 * DAY + 2 * 3_600;
    let touch = |n: u32, at: i64, effect: Effect| {
        let openid = openid.clone();
        let store = store.clone();
        async move {
            let identity = format!("seen|{n}");
            store
                .apply(&TouchRecord {
                    openid: &openid,
                    identity: &identity,
                    unsigned_body: None,
                    at: UnixTime(at),
                    effect,
                    scene: None,
                    timeline: None,
                    location: None,
                    tags: Vec::new(),
                    want_tags: false,
                    history: Vec::new(),
                    history_days: 90,
                    derive: false,
                    event: None,
                    fired: String::new(),
                    watched: String::new(),
                    window: None,
                    do_not_contact: None,
                })
                .await
                .unwrap()
                .unwrap();
        }
    };
    let keys = Keys::new(APPID);
    let mut conn = redis.conn().await;
    let mut members = async |at: i64| -> Vec<String> {
        let day = wxtag::store::day_of(UnixTime(at));
        conn.smembers(keys.seen_on(&day)).await.unwrap()
    };
    touch(0, day0, Effect::Follow).await;
    touch(1, day0 + 3_600, Effect::Other).await;
    assert_eq!(members(day0).await, [openid.to_string()]);
    touch(2, day0 + DAY, Effect::Other).await;
    assert_eq!(members(day0 + DAY).await, [openid.to_string()]);
    assert_eq!(
        members(day0).await.len(),
        1,
        "the day it moved through keeps it"
    );
    touch(3, day0 - DAY, Effect::Other).await;
    assert!(
        members(day0 - DAY).await.is_empty(),
        "a late touch moves no last seen"
    );
    touch(4, day0 + 2 * DAY, Effect::Unfollow).await;
    assert!(
        members(day0 + 2 * DAY).await.is_empty(),
        "an unfollow is no touch"
    );
}

#[tokio::test]
async fn a_broken_bulk_job_does_not_stop_the_recount_of_the_same_pass() {
    let redis = TestRedis::start().await;
    let store = redis.store().await;
    let now = UnixTime::now();
    seed(&store, &redis, 60, now).await;
    let rules = wxtag::rules::LiveRules::new(Rules::default());
    let name = SegmentName::parse("vip").unwrap();
    let stale = UnixTime(now.0 - 2 * segments::REFRESH_SECS);
    segments::save(&store, &rules.load(), &name, json!("vip"), "test", stale)
        .await
        .unwrap();
    // A job Redis holds as a string, not a hash: reading it fails.
    let keys = Keys::new(APPID);
    let mut conn = redis.conn().await;
    let () = conn.zadd(keys.jobs(), "broken", now.0).await.unwrap();
    let () = conn.set(keys.job("broken"), "not a hash").await.unwrap();
    let scheduler =
        wxtag::scheduler::Scheduler::new(rules, store, wxtag::domain::Clock::shifted(0));
    let pass = scheduler.pass().await.expect("the pass itself goes on");
    assert_eq!(pass.job_steps, 0);
    assert_eq!(
        pass.recounted,
        Some(name),
        "the stale segment is recounted all the same"
    );
}

#[tokio::test]
async fn a_tag_segment_looks_only_at_the_tags_members() {
    let redis = TestRedis::start().await;
    let store = redis.store().await;
    let rules = Rules::default();
    let now = UnixTime::now();
    seed(&store, &redis, 300, now).await;
    let condition = Condition::from_json(&json!({"all": ["vip", {"subscribed": true}]})).unwrap();
    let vip: u64 = redis
        .conn()
        .await
        .scard(Keys::new(APPID).tag_members(&TagName::parse("vip").unwrap()))
        .await
        .unwrap();
    let found = segments::preview(&store, &rules, &condition, now)
        .await
        .unwrap();
    assert_eq!(
        found.examined, vip,
        "the walk reads the tag's set, not all 300 leads"
    );
    assert!(found.count <= vip);
}

/// The API's call with the admin token and a JSON body.
async fn call(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> reqwest::Response {
    let mut request = reqwest::Client::new()
        .request(method, format!("{}{path}", app.base))
        .bearer_auth(crate::helpers::ADMIN_TOKEN);
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn segments_are_saved_listed_paged_exported_and_deleted_through_the_api() {
    let app = TestApp::spawn().await;
    for n in 0..12 {
        let scene = if n % 3 == 0 { "website" } else { "expo-2026" };
        app.post_event(&xml::follow(&format!("o{n:02}"), Some(scene)))
            .await;
    }
    let when = json!({"channel": "expo-2026"});

    let preview = call(
        &app,
        reqwest::Method::POST,
        "/api/segments/preview",
        Some(json!({"when": when})),
    )
    .await;
    assert_eq!(preview.status(), StatusCode::OK);
    let preview: Value = preview.json().await.unwrap();
    assert_eq!(preview["count"], 8);
    assert_eq!(preview["sample"].as_array().unwrap().len(), 8);
    assert!(preview["took_ms"].is_u64());

    let saved = call(
        &app,
        reqwest::Method::PUT,
        "/api/segments/展会",
        Some(json!({"when": when})),
    )
    .await;
    assert_eq!(saved.status(), StatusCode::OK);
    let saved: Value = saved.json().await.unwrap();
    assert_eq!(saved["members"], 8);
    assert_eq!(saved["when"], when);

    let listed: Value = call(&app, reqwest::Method::GET, "/api/segments", None)
        .await
        .json()
        .await
        .unwrap();
    let segment = &listed["segments"][0];
    assert_eq!(segment["name"], "展会");
    assert_eq!(segment["members"], 8);
    assert_eq!(segment["days"].as_array().unwrap().len(), 1);
    assert_eq!(segment["days"][0]["members"], 8);

    // Paged three at a time while more members arrive: each member of the count exactly once.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/segments/展会/leads?limit=3&cursor={c}"),
            None => "/api/segments/展会/leads?limit=3".to_owned(),
        };
        let page: Value = call(&app, reqwest::Method::GET, &path, None)
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(page["total"], 8);
        seen.extend(
            page["leads"]
                .as_array()
                .unwrap()
                .iter()
                .map(|l| l["openid"].as_str().unwrap().to_owned()),
        );
        app.post_event(&xml::follow(
            &format!("late{}", seen.len()),
            Some("expo-2026"),
        ))
        .await;
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    let unique: BTreeSet<&String> = seen.iter().collect();
    assert_eq!((seen.len(), unique.len()), (8, 8), "{seen:?}");
    assert!(seen.iter().all(|o| !o.starts_with("late")));

    let csv = call(
        &app,
        reqwest::Method::GET,
        "/api/segments/展会/export.csv",
        None,
    )
    .await;
    assert_eq!(csv.status(), StatusCode::OK);
    let csv = csv.text().await.unwrap();
    assert!(csv.starts_with("\u{feff}openid,subscribed,first_channel"));
    assert_eq!(
        csv.lines().count(),
        1 + 8,
        "the header and the last count's members: {csv}"
    );

    let deleted = call(&app, reqwest::Method::DELETE, "/api/segments/展会", None).await;
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    let again = call(&app, reqwest::Method::DELETE, "/api/segments/展会", None).await;
    assert_eq!(again.status(), StatusCode::NOT_FOUND);
    let gone = call(&app, reqwest::Method::GET, "/api/segments/展会/leads", None).await;
    assert_eq!(gone.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn bad_segments_are_refused_with_the_path_and_unknown_names_are_warnings() {
    let app = TestApp::spawn().await;
    app.post_event(&xml::follow("o1", Some("expo-2026"))).await;
    let bad = call(
        &app,
        reqwest::Method::POST,
        "/api/segments/preview",
        Some(json!({"when": {"all": ["a", {"count": ["follow"], "within_days": 0}]}})),
    )
    .await;
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    let error: Value = bad.json().await.unwrap();
    assert_eq!(error["error"]["code"], "bad_request");
    let message = error["error"]["message"].as_str().unwrap();
    assert!(message.starts_with("when.all[1].within_days"), "{message}");

    let saved = call(
        &app,
        reqwest::Method::PUT,
        "/api/segments/x",
        Some(json!({"when": {"nope": 1}})),
    )
    .await;
    assert_eq!(saved.status(), StatusCode::BAD_REQUEST);
    let listed: Value = call(&app, reqwest::Method::GET, "/api/segments", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        listed["segments"],
        json!([]),
        "a refused segment is not saved"
    );

    let bad_name = call(
        &app,
        reqwest::Method::PUT,
        "/api/segments/%20x",
        Some(json!({"when": "a"})),
    )
    .await;
    assert_eq!(bad_name.status(), StatusCode::BAD_REQUEST);
    let bad_cursor = call(
        &app,
        reqwest::Method::GET,
        "/api/segments/x/leads?cursor=zz",
        None,
    )
    .await;
    assert_eq!(bad_cursor.status(), StatusCode::BAD_REQUEST);

    let unknown = call(
        &app,
        reqwest::Method::POST,
        "/api/segments/preview",
        Some(json!({"when": {"any": ["从没有过", {"tag_prefix": "无:"}, {"channel": "nowhere"}]}})),
    )
    .await;
    assert_eq!(unknown.status(), StatusCode::OK);
    let unknown: Value = unknown.json().await.unwrap();
    assert_eq!(unknown["count"], 0);
    assert_eq!(
        unknown["warnings"].as_array().unwrap().len(),
        3,
        "{unknown}"
    );
}

#[tokio::test]
async fn a_recount_notices_the_leads_that_entered_and_keeps_the_day() {
    let redis = TestRedis::start().await;
    let store = redis.store().await;
    let rules = Rules::default();
    let now = UnixTime::now();
    let vip = TagName::parse("vip").unwrap();
    let tag = |openid: &str, tagged: bool| {
        let (store, vip) = (&store, &vip);
        let openid = OpenId::parse(openid).unwrap();
        async move {
            let identity = format!("{openid}|follow");
            let record = TouchRecord {
                openid: &openid,
                identity: &identity,
                unsigned_body: None,
                at: now,
                effect: Effect::Follow,
                scene: None,
                timeline: Some(("follow", "")),
                location: None,
                tags: if tagged {
                    vec![(vip, "follow")]
                } else {
                    Vec::new()
                },
                want_tags: false,
                history: vec!["follow"],
                history_days: 90,
                derive: false,
                event: None,
                fired: String::new(),
                watched: String::new(),
                window: None,
                do_not_contact: None,
            };
            store.apply(&record).await.unwrap().unwrap();
        }
    };
    tag("plain", false).await;
    tag("before1", true).await;
    tag("before2", true).await;
    let name = wxtag::domain::SegmentName::parse("贵宾").unwrap();
    let (saved, _) = segments::save(&store, &rules, &name, json!("vip"), "admin", now)
        .await
        .unwrap();
    assert_eq!(saved.members, Some(2));
    assert_eq!(
        segments::refresh_one(&store, &rules, UnixTime(now.0 + 10))
            .await
            .unwrap(),
        None,
        "a fresh count is not redone"
    );

    tag("after1", true).await;
    tag("after2", true).await;
    let later = UnixTime(now.0 + segments::REFRESH_SECS + 1);
    let recounted = segments::refresh_one(&store, &rules, later).await.unwrap();
    assert_eq!(recounted.as_ref(), Some(&name));
    let entered: BTreeSet<String> = store
        .segment_entries(10)
        .await
        .unwrap()
        .into_iter()
        .map(|(segment, openid, at)| {
            assert_eq!((segment.as_str(), at), ("贵宾", later.0));
            openid
        })
        .collect();
    assert_eq!(
        entered,
        ["after1", "after2"]
            .map(str::to_owned)
            .into_iter()
            .collect(),
        "the first count set the baseline; only newcomers entered"
    );
    let listed = segments::list(&store).await.unwrap();
    assert_eq!(listed[0].members, Some(4));
    assert_eq!(listed[0].days.last().map(|d| d.members), Some(4));

    // A changed condition starts a new baseline: nobody "enters" by the edit.
    let (edited, _) = segments::save(
        &store,
        &rules,
        &name,
        json!({"subscribed": true}),
        "admin",
        later,
    )
    .await
    .unwrap();
    assert_eq!(
        edited.members,
        Some(5),
        "the lead without the tag is in now"
    );
    assert_eq!(store.segment_entries(10).await.unwrap().len(), 2);
}
