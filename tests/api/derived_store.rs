//! The store side of the rules over time against a real Redis: the touch history written by
//! each touch, the lead's state read back, the version-checked derived write, claiming due
//! leads, the shared backfill, and what a lead with history costs.

use redis::AsyncCommands;
use wxtag::domain::{OpenId, Scene, TagName, UnixTime};
use wxtag::store::history::{BUCKET_SECS, bucket_of};
use wxtag::store::keys::DEDUP_TTL_SECS;
use wxtag::store::{
    Applied, BackfillStep, DerivedWrite, Effect, Keys, LeadState, Store, TouchRecord,
};

use crate::helpers::{APPID, TestRedis};

const DAY: i64 = 86_400;

/// A touch of `openid` at `at` counting as `history`, with nothing else to write.
fn touch<'a>(
    openid: &'a OpenId,
    identity: &'a str,
    at: UnixTime,
    history: Vec<&'a str>,
) -> TouchRecord<'a> {
    TouchRecord {
        openid,
        identity,
        unsigned_body: None,
        at,
        effect: Effect::Other,
        scene: None,
        timeline: None,
        location: None,
        tags: Vec::new(),
        want_tags: false,
        history,
        history_days: 90,
        derive: false,
        event: None,
        fired: String::new(),
        watched: String::new(),
        window: None,
        do_not_contact: None,
    }
}

/// Applies a touch the replay guard has no reason to refuse.
async fn apply(store: &Store, record: &TouchRecord<'_>) -> Applied {
    store.apply(record).await.unwrap().expect("no replay guard")
}

/// A moment on the hour, a few days ago, so that expiries computed from it lie ahead.
fn recent() -> UnixTime {
    let now = UnixTime::now().0;
    UnixTime(now - now.rem_euclid(BUCKET_SECS) - 10 * DAY)
}

fn openid(raw: &str) -> OpenId {
    OpenId::parse(raw).unwrap()
}

async fn history_value(redis: &TestRedis, openid: &OpenId, key: &str) -> Option<String> {
    let mut conn = redis.conn().await;
    conn.hget(Keys::new(APPID).history(openid), key)
        .await
        .unwrap()
}

/// The lead's state as the scheduler reads it; `None` when the lead is unknown.
async fn state_of(store: &Store, lead: &OpenId) -> Option<LeadState> {
    let mut states = store.lead_states(std::slice::from_ref(lead)).await.unwrap();
    states.pop().flatten()
}

#[tokio::test]
async fn history_counts_every_touch_once_even_without_tags_or_on_a_retry() {
    let redis = TestRedis::start().await;
    let store = redis.store().await;
    let lead = openid("oHistoryCounts00000000000001");
    let at = recent();
    let tag = TagName::parse("兴趣:PLC").unwrap();

    let mut first = touch(&lead, "d1", at, vec!["click:MENU_PLC", "follow"]);
    first.tags = vec![(&tag, "click:MENU_PLC")];
    assert!(apply(&store, &first).await.fresh);
    // The same delivery again (WeChat's retry): dedup'd, so it counts once.
    assert!(!apply(&store, &first).await.fresh);
    // Two more clicks that add no new tag still count, one in a later hour.
    let mut again = touch(&lead, "d2", UnixTime(at.0 + 60), vec!["click:MENU_PLC"]);
    again.tags = vec![(&tag, "click:MENU_PLC")];
    apply(&store, &again).await;
    let later = UnixTime(at.0 + 2 * BUCKET_SECS);
    apply(&store, &touch(&lead, "d3", later, vec!["click:MENU_PLC"])).await;

    let hour = bucket_of(at);
    assert_eq!(
        history_value(&redis, &lead, "click:MENU_PLC")
            .await
            .as_deref(),
        Some(format!("{} {hour}*2 {}", later.0, hour + 2).as_str())
    );
    assert_eq!(
        history_value(&redis, &lead, "follow").await.as_deref(),
        Some(format!("{} {hour}", at.0).as_str())
    );
    let state = state_of(&store, &lead).await.unwrap();
    let clicks = state.history.key("click:MENU_PLC").unwrap();
    assert_eq!(clicks.count_within(30, later), 3);
    assert_eq!(clicks.last, later);
}

#[tokio::test]
async fn a_late_touch_is_inserted_in_order_and_old_hours_are_dropped() {
    let redis = TestRedis::start().await;
    let store = redis.store().await;
    let lead = openid("oHistoryOrder000000000000001");
    let at = recent();
    let hour = bucket_of(at);
    let key = "event:order";

    apply(&store, &touch(&lead, "a", at, vec![key])).await;
    // A custom event sent late counts at its own time, before the touch already recorded.
    let early = UnixTime(at.0 - 5 * BUCKET_SECS + 10);
    apply(&store, &touch(&lead, "b", early, vec![key])).await;
    apply(&store, &touch(&lead, "c", UnixTime(early.0 + 5), vec![key])).await;
    assert_eq!(
        history_value(&redis, &lead, key).await.as_deref(),
        Some(format!("{} {}*2 {hour}", at.0, hour - 5).as_str()),
        "the latest touch stays `last`; the late hour goes first"
    );

    // With 2 days of history, a touch 3 days on drops the hours more than 2 days before it.
    let mut short = touch(&lead, "d", UnixTime(at.0 + 3 * DAY), vec![key]);
    short.history_days = 2;
    apply(&store, &short).await;
    assert_eq!(
        history_value(&redis, &lead, key).await.as_deref(),
        Some(format!("{} {}", at.0 + 3 * DAY, hour + 72).as_str())
    );
    // The hash lives `history_days` + 1 days after the newest touch, and is only extended:
    // a late touch leaves it, a new newest touch extends it.
    let history = Keys::new(APPID).history(&lead);
    let expiry = || async {
        let expires: i64 = redis::cmd("EXPIRETIME")
            .arg(&history)
            .query_async(&mut redis.conn().await)
            .await
            .unwrap();
        expires
    };
    assert_eq!(
        expiry().await,
        at.0 + 91 * DAY,
        "a shorter expiry never replaces a longer one"
    );
    for (identity, offset, expires) in [("e", DAY, 91 * DAY), ("f", 4 * DAY, 95 * DAY)] {
        apply(
            &store,
            &touch(&lead, identity, UnixTime(at.0 + offset), vec![key]),
        )
        .await;
        assert_eq!(expiry().await, at.0 + expires, "after touch {identity}");
    }
}

#[tokio::test]
async fn the_state_read_back_decodes_every_field_and_marks_the_lead_due() {
    let redis = TestRedis::start().await;
    let store = redis.store().await;
    let lead = openid("oStateFields0000000000000001");
    let at = recent();
    let expo = Scene::parse("expo-2026").unwrap();
    let web = Scene::parse("website").unwrap();
    let tag = TagName::parse("来源:展会").unwrap();

    let mut follow = touch(&lead, "f", at, vec!["follow", "qr:expo-2026"]);
    follow.effect = Effect::Follow;
    follow.scene = Some(&expo);
    follow.tags = vec![(&tag, "qr:expo-2026")];
    follow.timeline = Some(("follow", "expo-2026"));
    apply(&store, &follow).await;
    let mut conn = redis.conn().await;
    let keys = Keys::new(APPID);
    let _: () = conn
        .hset(keys.lead(&lead), "f:company", "ACME GmbH")
        .await
        .unwrap();

    let mut scan = touch(&lead, "s", UnixTime(at.0 + 100), vec!["qr:website"]);
    scan.effect = Effect::Scan;
    scan.scene = Some(&web);
    scan.derive = true;
    let applied = apply(&store, &scan).await;
    let state = applied.state.expect("derive reads the state back");

    assert_eq!(state.version, 2, "one bump per touch");
    assert_eq!(state.first_seen, Some(at));
    assert_eq!(state.last_seen, Some(UnixTime(at.0 + 100)));
    assert_eq!(state.first_channel.as_deref(), Some("expo-2026"));
    assert_eq!(state.channels, ["website"]);
    assert_eq!(state.subscribed, Some(true));
    assert_eq!(state.tags.len(), 1);
    assert_eq!(state.tags[0].name, tag);
    assert_eq!(state.tags[0].at, at);
    assert_eq!(state.tags[0].source, "qr:expo-2026");
    assert_eq!(state.fields["company"], "ACME GmbH");
    assert_eq!(
        state
            .history
            .key("qr:website")
            .unwrap()
            .count_within(1, UnixTime(at.0 + 100)),
        1
    );
    assert_eq!(state.history.iter().count(), 3);
    assert_eq!(
        store
            .lead_states(std::slice::from_ref(&lead))
            .await
            .unwrap(),
        [Some(state)],
        "the scheduler reads the same state"
    );
    let due: Option<i64> = conn.zscore(keys.due(), lead.as_str()).await.unwrap();
    assert_eq!(
        due,
        Some(at.0 + 100 + 30),
        "due after the grace unless the write lands"
    );
    let unknown = store
        .lead_states(&[openid("oUnknown00000000000000000001")])
        .await
        .unwrap();
    assert_eq!(unknown, [None]);

    // A field that does not decode is skipped, never an error.
    let _: () = conn.hset(keys.lead(&lead), "fs", "soon").await.unwrap();
    let _: () = conn
        .hset(keys.history(&lead), "click:X", "garbage")
        .await
        .unwrap();
    let counter = prometheus::IntCounter::new("corrupt", "corrupt leads met").unwrap();
    let counting = store.clone().counting_corrupt_leads_in(counter.clone());
    let state = counting.lead_states(&[lead]).await.unwrap()[0]
        .clone()
        .unwrap();
    assert_eq!(counter.get(), 1, "counted as a corrupt lead");
    assert_eq!(state.first_seen, None);
    assert!(state.history.key("click:X").is_none());
    assert!(state.history.key("follow").is_some());
}

/// Everything a derived write may touch, to compare before and after.
async fn snapshot(redis: &TestRedis, lead: &OpenId) -> (u64, Vec<(String, String)>, String) {
    let mut conn = redis.conn().await;
    let keys = Keys::new(APPID);
    let size: u64 = redis::cmd("DBSIZE").query_async(&mut conn).await.unwrap();
    let mut hash: Vec<(String, String)> = conn.hgetall(keys.lead(lead)).await.unwrap();
    hash.sort();
    let head: Option<String> = conn.get(keys.timeline_head(lead)).await.unwrap();
    (size, hash, head.unwrap_or_default())
}

#[tokio::test]
async fn a_derived_write_lands_only_on_the_version_it_was_computed_from() {
    let redis = TestRedis::start().await;
    let store = redis.store().await;
    let lead = openid("oDerivedWrite000000000000001");
    let at = recent();
    let stale_tag = TagName::parse("阶段:新线索").unwrap();
    let mut first = touch(&lead, "1", at, vec!["follow"]);
    first.tags = vec![(&stale_tag, "lifecycle")];
    first.timeline = Some(("follow", ""));
    apply(&store, &first).await;
    let read = state_of(&store, &lead).await.unwrap();
    let mut conn = redis.conn().await;
    let keys = Keys::new(APPID);
    let outbox_before: u64 = conn.xlen(keys.outbox()).await.unwrap();

    let add = [(
        TagName::parse("意向:PLC高").unwrap(),
        "rule:PLC 高意向".to_owned(),
    )];
    let remove = [(stale_tag.clone(), "lifecycle".to_owned())];
    let then = UnixTime(at.0 + 50);
    let write = DerivedWrite {
        openid: &lead,
        version: read.version + 1,
        at: then,
        add: &add,
        remove: &remove,
        next_due: Some(UnixTime(at.0 + 30 * DAY)),
        fired: "",
    };
    let before = snapshot(&redis, &lead).await;
    assert!(!store.apply_derived(&write).await.unwrap(), "stale version");
    assert_eq!(snapshot(&redis, &lead).await, before, "nothing written");
    let due: Option<i64> = conn.zscore(keys.due(), lead.as_str()).await.unwrap();
    assert_eq!(due, None);

    let write = DerivedWrite {
        version: read.version,
        ..write
    };
    assert!(store.apply_derived(&write).await.unwrap());
    let after = state_of(&store, &lead).await.unwrap();
    assert_eq!(after.version, read.version + 1);
    let tags: Vec<(&str, i64, &str)> = after
        .tags
        .iter()
        .map(|t| (t.name.as_str(), t.at.0, t.source.as_str()))
        .collect();
    assert_eq!(tags, [("意向:PLC高", then.0, "rule:PLC 高意向")]);
    let members: bool = conn
        .sismember(keys.tag_members(&add[0].0), lead.as_str())
        .await
        .unwrap();
    assert!(members);
    let stale_members: bool = conn
        .sismember(keys.tag_members(&stale_tag), lead.as_str())
        .await
        .unwrap();
    assert!(!stale_members);
    let registered: Option<i64> = conn.hget(keys.tags(), "意向:PLC高").await.unwrap();
    assert_eq!(registered, Some(then.0));
    let outbox_after: u64 = conn.xlen(keys.outbox()).await.unwrap();
    assert_eq!(
        outbox_after,
        outbox_before + 1,
        "the sync pushes adds and removals"
    );
    let due: Option<i64> = conn.zscore(keys.due(), lead.as_str()).await.unwrap();
    assert_eq!(due, Some(at.0 + 30 * DAY));
    let events = store.lead(&lead).await.unwrap().unwrap().events.unwrap();
    let events: Vec<(&str, &str)> = events
        .iter()
        .map(|e| (e.kind.as_str(), e.detail.as_str()))
        .collect();
    assert_eq!(
        events,
        [
            ("tag-", "阶段:新线索 (lifecycle)"),
            ("tag+", "意向:PLC高 (rule:PLC 高意向)"),
            ("follow", ""),
        ]
    );

    // Nothing left to change with time: the lead leaves the due set; nothing changed, so
    // the version and the outbox stay.
    let quiet = DerivedWrite {
        version: after.version,
        add: &[],
        remove: &[],
        next_due: None,
        fired: "",
        ..write
    };
    assert!(store.apply_derived(&quiet).await.unwrap());
    let due: Option<i64> = conn.zscore(keys.due(), lead.as_str()).await.unwrap();
    assert_eq!(due, None);
    let outbox_quiet: u64 = conn.xlen(keys.outbox()).await.unwrap();
    assert_eq!(outbox_quiet, outbox_after);

    // Sales' edits bump the version too, so a write computed before them is refused.
    let by_hand = TagName::parse("客户:重点").unwrap();
    store
        .edit_tags(&lead, &[by_hand], &[], "admin", "", then)
        .await
        .unwrap();
    let late = DerivedWrite {
        version: after.version,
        ..write
    };
    assert!(!store.apply_derived(&late).await.unwrap());
}

#[tokio::test]
async fn two_claimers_at_once_split_the_due_leads_with_no_overlap() {
    let redis = TestRedis::start().await;
    let one = redis.store().await;
    let two = redis.store().await;
    let now = UnixTime::now();
    let keys = Keys::new(APPID);
    let mut conn = redis.conn().await;
    let due: Vec<String> = (0..300).map(|i| format!("oClaim{i:022}")).collect();
    for (i, member) in due.iter().enumerate() {
        let score = now.0 - i64::try_from(i).unwrap();
        let _: () = conn.zadd(keys.due(), member, score).await.unwrap();
    }
    let _: () = conn
        .zadd(keys.due(), "oClaimLater00000000000000001", now.0 + 60)
        .await
        .unwrap();

    let claim = |store: Store| async move {
        let mut all = Vec::new();
        loop {
            let batch = store.claim_due(now, 25, 120).await.unwrap();
            if batch.is_empty() {
                return all;
            }
            all.extend(batch.into_iter().map(|o| o.as_str().to_owned()));
        }
    };
    let (a, b) = tokio::join!(tokio::spawn(claim(one)), tokio::spawn(claim(two)));
    let (a, b) = (a.unwrap(), b.unwrap());
    let mut every: Vec<String> = a.iter().chain(&b).cloned().collect();
    every.sort();
    let mut expected = due.clone();
    expected.sort();
    assert_eq!(every, expected, "each due lead claimed exactly once");
    assert!(!every.contains(&"oClaimLater00000000000000001".to_owned()));
    let score: Option<i64> = conn.zscore(keys.due(), &due[7]).await.unwrap();
    assert_eq!(score, Some(now.0 + 120), "pushed a lease ahead");

    // A batch bigger than one ZADD's share is pushed ahead whole.
    let many: Vec<(i64, String)> = (0..700).map(|i| (now.0, format!("oMany{i:023}"))).collect();
    let _: () = conn.zadd_multiple(keys.due(), &many).await.unwrap();
    assert_eq!(
        redis
            .store()
            .await
            .claim_due(now, 1000, 60)
            .await
            .unwrap()
            .len(),
        700
    );
    let still_due: u64 = conn.zcount(keys.due(), "-inf", now.0).await.unwrap();
    assert_eq!(still_due, 0);
}

#[tokio::test]
async fn the_backfill_is_shared_paced_and_starts_over_on_a_new_fingerprint() {
    let redis = TestRedis::start().await;
    let processes = [redis.store().await, redis.store().await];
    let at = recent();
    let leads: Vec<OpenId> = (0..25)
        .map(|i| openid(&format!("oBackfill{i:019}")))
        .collect();
    for (i, lead) in leads.iter().enumerate() {
        let identity = i.to_string();
        apply(&processes[0], &touch(lead, &identity, at, vec!["follow"])).await;
    }
    let now = UnixTime::now();

    // The processes take turns at each moment; the due set is drained after each step, so
    // every lead the backfill makes due is seen exactly once.
    let mut enqueued = Vec::new();
    let mut steps = Vec::new();
    for (turn, t) in [0, 0, 30, 60, 61, 120, 180, 240].into_iter().enumerate() {
        let process = &processes[turn % 2];
        let when = UnixTime(now.0 + t);
        let step = process.backfill_step("fp-1", 10, 60, when).await.unwrap();
        steps.push(step);
        enqueued.extend(process.claim_due(when, 100, 3600).await.unwrap());
    }
    assert_eq!(
        steps,
        [
            BackfillStep::Enqueued(10),
            BackfillStep::NotYet,
            BackfillStep::NotYet,
            BackfillStep::Enqueued(10),
            BackfillStep::NotYet,
            BackfillStep::Enqueued(5),
            BackfillStep::Done,
            BackfillStep::Done,
        ]
    );
    enqueued.sort();
    let mut expected = leads.clone();
    expected.sort();
    assert_eq!(enqueued, expected, "every lead once");

    let restart = UnixTime(now.0 + 300);
    assert_eq!(
        processes[1]
            .backfill_step("fp-2", 10, 60, restart)
            .await
            .unwrap(),
        BackfillStep::Enqueued(10),
        "a new fingerprint starts over at once"
    );
    let again = processes[0].claim_due(restart, 100, 3600).await.unwrap();
    assert_eq!(again, leads[..10], "from the oldest lead");
}

/// What `MEMORY USAGE` counts for a key.
async fn usage(conn: &mut redis::aio::MultiplexedConnection, key: &str) -> u64 {
    redis::cmd("MEMORY")
        .arg("USAGE")
        .arg(key)
        .arg("SAMPLES")
        .arg(0)
        .query_async(conn)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_due_lead_with_history_3_tags_and_5_events_costs_at_most_1_5_kib() {
    let redis = TestRedis::start().await;
    let store = redis.store().await;
    let lead = openid("oyORnuP8q7ou2gfYjqLzSIWZf0rs");
    let at = recent();
    let expo = Scene::parse("expo-2026").unwrap();
    let tags = [
        TagName::parse("来源:展会").unwrap(),
        TagName::parse("兴趣:产品A").unwrap(),
        TagName::parse("意向:询价").unwrap(),
    ];
    let touches: [(&str, i64, Vec<&str>, Option<&TagName>); 5] = [
        ("follow", 0, vec!["follow", "qr:expo-2026"], Some(&tags[0])),
        ("click", 60, vec!["click:MENU_PRODUCT_A"], Some(&tags[1])),
        (
            "view",
            2 * BUCKET_SECS,
            vec!["view:https://example.com/about"],
            None,
        ),
        (
            "text",
            DAY,
            vec!["keyword:报价", "click:MENU_PRODUCT_A"],
            Some(&tags[2]),
        ),
        (
            "text",
            2 * DAY,
            vec!["keyword:报价", "click:MENU_PRODUCT_A"],
            None,
        ),
    ];
    for (i, (kind, offset, history, tag)) in touches.into_iter().enumerate() {
        let identity = i.to_string();
        let mut record = touch(&lead, &identity, UnixTime(at.0 + offset), history);
        record.timeline = Some((kind, "detail of the touch"));
        record.tags = tag.map(|t| (t, "source")).into_iter().collect();
        record.derive = true;
        if i == 0 {
            record.effect = Effect::Follow;
            record.scene = Some(&expo);
        }
        apply(&store, &record).await;
    }
    let state = state_of(&store, &lead).await.unwrap();
    assert_eq!(state.tags.len(), 3);
    assert_eq!(state.history.iter().count(), 5);

    let keys = Keys::new(APPID);
    let mut conn = redis.conn().await;
    // A set's share of one lead: its size over its members, with as many leads in it as a
    // real account's tag, channel or due set has at least.
    let others: Vec<String> = (0..199).map(|i| format!("oOther{i:022}")).collect();
    for tag in &tags {
        let _: () = conn.sadd(keys.tag_members(tag), &others).await.unwrap();
    }
    let _: () = conn
        .sadd(keys.channel_members(&expo), &others)
        .await
        .unwrap();
    let due: Vec<(i64, &String)> = others.iter().map(|o| (at.0 + DAY, o)).collect();
    let _: () = conn.zadd_multiple(keys.due(), &due).await.unwrap();
    let mut total = 0;
    let mut parts = Vec::new();
    for key in [
        keys.lead(&lead),
        keys.history(&lead),
        keys.timeline_head(&lead),
    ] {
        let bytes = usage(&mut conn, &key).await;
        parts.push((key, bytes));
        total += bytes;
    }
    let sets = tags.iter().map(|tag| keys.tag_members(tag));
    for key in sets.chain([keys.channel_members(&expo)]) {
        let members: u64 = conn.scard(&key).await.unwrap();
        let share = usage(&mut conn, &key).await / members;
        parts.push((key, share));
        total += share;
    }
    let members: u64 = conn.zcard(keys.due()).await.unwrap();
    assert_eq!(members, 200, "the lead is due too");
    let share = usage(&mut conn, &keys.due()).await / members;
    parts.push((keys.due(), share));
    total += share;
    eprintln!("memory of one lead: {total} bytes: {parts:?}");
    assert!(total <= 1536, "{total} bytes: {parts:?}");
}

/// The commands Redis ran for `apply` (scripts' commands included, the script call not).
async fn commands_of(redis: &TestRedis, store: &Store, record: &TouchRecord<'_>) -> u64 {
    let mut conn = redis.conn().await;
    let _: () = redis::cmd("CONFIG")
        .arg("RESETSTAT")
        .query_async(&mut conn)
        .await
        .unwrap();
    apply(store, record).await;
    let stats: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(&mut conn)
        .await
        .unwrap();
    stats
        .lines()
        .filter_map(|line| line.strip_prefix("cmdstat_"))
        .filter(|line| {
            let command = line.split([':', '|']).next().unwrap_or_default();
            !["evalsha", "config", "info"].contains(&command)
        })
        .filter_map(|line| {
            line.split_once("calls=")?
                .1
                .split(',')
                .next()?
                .parse::<u64>()
                .ok()
        })
        .sum()
}

#[tokio::test]
async fn history_adds_three_commands_per_touch() {
    let redis = TestRedis::start().await;
    let store = redis.store().await;
    let lead = openid("oCommands0000000000000000001");
    let at = recent();
    apply(&store, &touch(&lead, "0", at, vec!["follow"])).await;
    let mut record = touch(&lead, "1", at, Vec::new());
    record.timeline = Some(("click", "MENU_PLC"));
    let without = commands_of(&redis, &store, &record).await;
    let keys = vec!["click:MENU_PLC", "keyword:PLC"];
    let mut record = touch(&lead, "2", UnixTime(at.0 + 60), keys);
    record.timeline = Some(("click", "MENU_PLC"));
    let with = commands_of(&redis, &store, &record).await;
    record.identity = "3";
    record.at = UnixTime(at.0 + 120);
    record.derive = true;
    let derived = commands_of(&redis, &store, &record).await;
    eprintln!("commands per event: {without} without history, {with} with, {derived} deriving");
    assert_eq!(
        without, 7,
        "as before the history: SET NX, HMGET, GET, SET, HSET; and TIME and ZADD marking the \
         lead changed"
    );
    // (`with` is a minute later the same day: the lead is in that day's seen set already.)
    assert_eq!(with, without + 3, "HMGET, HSET and EXPIREAT of the history");
    assert_eq!(
        derived,
        with + 4,
        "ZADD of the due set, the two HGETALLs and the ZRANGE of the stored events"
    );
}

#[tokio::test]
async fn the_sync_worker_pushes_a_derived_add_and_removal_to_wechat() {
    use crate::sync::{Rig, on_wechat, quick};
    let rig = Rig::start(wxtag::sandbox::Faults::default()).await;
    let lead = openid("oDerivedSync0000000000000001");
    rig.follow(
        lead.as_str(),
        Some("expo"),
        &["来源:展会", "阶段:新线索"],
        1000,
    )
    .await;
    let worker = rig.worker(quick());
    rig.converge(&worker).await;
    assert!(on_wechat(&rig.sandbox.state(), &lead).contains("阶段:新线索"));
    let state = state_of(&rig.store, &lead).await.unwrap();

    let add = [(TagName::parse("阶段:活跃").unwrap(), "lifecycle".to_owned())];
    let remove = [(
        TagName::parse("阶段:新线索").unwrap(),
        "lifecycle".to_owned(),
    )];
    let write = DerivedWrite {
        openid: &lead,
        version: state.version,
        at: UnixTime(2000),
        add: &add,
        remove: &remove,
        next_due: None,
        fired: "",
    };
    assert!(rig.store.apply_derived(&write).await.unwrap());
    rig.converge(&worker).await;

    let carried = on_wechat(&rig.sandbox.state(), &lead);
    let carried: Vec<&str> = carried.iter().map(String::as_str).collect();
    assert_eq!(carried, ["来源:展会", "阶段:活跃"]);
}

#[tokio::test]
async fn last_seen_moves_with_touches_only_and_never_back() {
    let redis = TestRedis::start().await;
    let store = redis.store().await;
    let lead = openid("oLastSeen0000000000000000001");
    let at = recent();
    let last_seen = || async { state_of(&store, &lead).await.unwrap().last_seen };
    apply(&store, &touch(&lead, "1", at, vec!["follow"])).await;
    let mut location = touch(&lead, "2", UnixTime(at.0 + 10), Vec::new());
    location.effect = Effect::Location;
    location.location = Some("31.2,121.5,30".to_owned());
    apply(&store, &location).await;
    let late = touch(&lead, "3", UnixTime(at.0 - DAY), vec!["event:order"]);
    apply(&store, &late).await;
    assert_eq!(last_seen().await, Some(at), "no touch, and a late one");
    apply(
        &store,
        &touch(&lead, "4", UnixTime(at.0 + 20), vec!["click:A"]),
    )
    .await;
    let mut unfollow = touch(&lead, "5", UnixTime(at.0 + 30), Vec::new());
    unfollow.effect = Effect::Unfollow;
    apply(&store, &unfollow).await;
    assert_eq!(last_seen().await, Some(UnixTime(at.0 + 20)));
}

#[tokio::test]
async fn every_write_that_changes_tags_bumps_the_version() {
    let redis = TestRedis::start().await;
    let store = redis.store().await;
    let lead = openid("oVersions0000000000000000001");
    let at = recent();
    let version = || async { state_of(&store, &lead).await.map(|state| state.version) };
    let retry = touch(&lead, "1", at, vec!["follow"]);
    apply(&store, &retry).await;
    apply(&store, &retry).await;
    assert_eq!(version().await, Some(1), "a dedup'd retry changes nothing");
    let by_hand = TagName::parse("客户:重点").unwrap();
    let edit = std::slice::from_ref(&by_hand);
    store
        .edit_tags(&lead, edit, &[], "admin", "", at)
        .await
        .unwrap();
    store
        .edit_tags(&lead, edit, &[], "admin", "", at)
        .await
        .unwrap();
    assert_eq!(version().await, Some(2), "only a change bumps it");
    let console = TagName::parse("控制台:VIP").unwrap();
    let members = std::slice::from_ref(&lead);
    let id = wxtag::domain::TagId(120);
    store
        .import_external_tag(&console, id, members, at)
        .await
        .unwrap();
    store
        .import_external_tag(&console, id, members, at)
        .await
        .unwrap();
    assert_eq!(version().await, Some(3));
}

/// One touch of a sequence: its effect, channel, tags and touch keys.
type Step<'a> = (
    Effect,
    Option<&'a Scene>,
    Vec<(&'a TagName, &'a str)>,
    Vec<&'a str>,
);

#[tokio::test]
async fn the_lead_after_a_touch_is_what_the_script_leaves() {
    let redis = TestRedis::start().await;
    let store = redis.store().await;
    let lead = openid("o-touched");
    let (ch_a, ch_b) = (Scene::parse("a").unwrap(), Scene::parse("b").unwrap());
    let (x, y) = (
        TagName::parse("来源:A").unwrap(),
        TagName::parse("兴趣:Y").unwrap(),
    );
    let at = recent();
    let steps: Vec<Step> = vec![
        (
            Effect::Follow,
            Some(&ch_a),
            vec![(&x, "qr:a")],
            vec!["follow", "qr:a"],
        ),
        (Effect::Other, None, vec![(&y, "click:Y")], vec!["click:Y"]),
        (Effect::Scan, Some(&ch_b), vec![(&x, "qr:a")], vec!["qr:b"]),
        (Effect::Unfollow, None, Vec::new(), Vec::new()),
        (Effect::Other, None, vec![(&y, "click:Y")], vec!["click:Y"]),
        (Effect::Location, None, Vec::new(), Vec::new()),
    ];
    for (i, (effect, scene, tags, history)) in steps.into_iter().enumerate() {
        let identity = format!("step-{i}");
        let mut record = touch(&lead, &identity, UnixTime(at.0 + 600 * i as i64), history);
        record.effect = effect;
        record.scene = scene;
        record.tags = tags;
        let before = state_of(&store, &lead).await;
        let expected = LeadState::touched(before.as_ref(), &record);
        apply(&store, &record).await;
        assert_eq!(
            state_of(&store, &lead).await,
            Some(expected),
            "step {i} ({effect:?})"
        );
    }
}

#[tokio::test]
async fn derived_changes_land_with_the_touch_or_not_at_all() {
    let redis = TestRedis::start().await;
    let store = redis.store().await;
    let lead = openid("o-with-derived");
    let tier = TagName::parse("等级:C").unwrap();
    let at = recent();
    let add = [(tier.clone(), "tiers:等级".to_owned())];
    let first = touch(&lead, "first", at, vec!["follow"]);
    let write = DerivedWrite {
        openid: &lead,
        version: 0,
        at,
        add: &add,
        remove: &[],
        next_due: Some(UnixTime(at.0 + 7 * DAY)),
        fired: "",
    };
    let applied = store
        .apply_deriving(&first, &write, false, DEDUP_TTL_SECS)
        .await
        .unwrap()
        .unwrap()
        .expect("a new lead is at no version");
    assert!(applied.fresh);
    let state = state_of(&store, &lead).await.unwrap();
    assert!(state.tags.iter().any(|t| t.name == tier), "{state:?}");
    assert_eq!(state.version, 1, "one write, one version");
    let mut conn = redis.conn().await;
    let due: Option<f64> = conn
        .zscore(Keys::new(APPID).due(), lead.as_str())
        .await
        .unwrap();
    assert_eq!(
        due,
        Some((at.0 + 7 * DAY) as f64),
        "due when the write said"
    );
    let members: bool = conn
        .sismember(Keys::new(APPID).tag_members(&tier), lead.as_str())
        .await
        .unwrap();
    assert!(members, "the derived tag is indexed");

    // Computed from a version the lead is no longer at: nothing at all is written, not even
    // the delivery's dedup marker, so the caller can read, derive and try again.
    let second = touch(&lead, "second", UnixTime(at.0 + 60), vec!["click:A"]);
    let stale = DerivedWrite {
        version: 0,
        ..write
    };
    let outcome = store
        .apply_deriving(&second, &stale, true, DEDUP_TTL_SECS)
        .await
        .unwrap();
    assert_eq!(outcome, Ok(None), "stale");
    assert_eq!(state_of(&store, &lead).await.unwrap(), state);
    let outcome = store
        .apply_deriving(
            &second,
            &DerivedWrite {
                version: 1,
                ..write
            },
            true,
            DEDUP_TTL_SECS,
        )
        .await
        .unwrap();
    assert!(
        outcome.unwrap().unwrap().fresh,
        "the retry applies the delivery"
    );
}

#[tokio::test]
async fn a_tag_is_registered_by_its_first_lead_and_by_a_store_that_does_not_know_it_yet() {
    let redis = TestRedis::start().await;
    let store = redis.store().await;
    let expo = TagName::parse("来源:展会").unwrap();
    let registry = Keys::new(APPID).tags();
    let at = recent();
    let leads = [openid("o-first"), openid("o-second"), openid("o-third")];
    let tagged = |lead| {
        let mut record = touch(lead, lead.as_str(), at, Vec::new());
        record.tags = vec![(&expo, "qr:expo")];
        record
    };
    apply(&store, &tagged(&leads[0])).await;
    let mut conn = redis.conn().await;
    let first: Option<i64> = conn.hget(&registry, expo.as_str()).await.unwrap();
    assert_eq!(first, Some(at.0), "the first lead registers the tag");

    // The store now knows the tag: the next lead makes no registry write (shown by a registry
    // emptied behind its back staying empty) ...
    let _: i64 = conn.hdel(&registry, expo.as_str()).await.unwrap();
    apply(&store, &tagged(&leads[1])).await;
    let known: Option<i64> = conn.hget(&registry, expo.as_str()).await.unwrap();
    assert_eq!(known, None, "no registry write for a tag the store knows");

    // ... while a store that does not know it (another process) writes it again.
    let other = redis.store().await;
    apply(&other, &tagged(&leads[2])).await;
    let again: Option<i64> = conn.hget(&registry, expo.as_str()).await.unwrap();
    assert_eq!(again, Some(at.0));
}
