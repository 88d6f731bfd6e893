//! The sync worker's hardening (issue 8): a worker that loses a lead's lease lets go of it, an
//! unfollowed lead is resynced in full when it follows again, and a tag name WeChat refuses
//! stays in Redis, unsynced with its reason, without a call.

use std::collections::BTreeSet;
use std::time::Duration;

use wxtag::domain::UnixTime;
use wxtag::sandbox::Faults;
use wxtag::store::{DeadLetterRecord, Effect, TagOp, TouchRecord};
use wxtag::sync::SyncConfig;
use wxtag::wechat::api::{AccessToken, AppSecret, WeChatApi};

use crate::helpers::eventually;
use crate::sync::{Rig, on_wechat, openid, quick};

const BATCH_TAGGING: &str = "/cgi-bin/tags/members/batchtagging";

/// The calls the sandbox answered at `endpoint`, whatever the outcome.
fn calls(rig: &Rig, endpoint: &str) -> u64 {
    rig.sandbox
        .state()
        .calls
        .get(endpoint)
        .map_or(0, |outcomes| outcomes.values().sum())
}

/// A client of the rig's sandbox, and a token for it.
async fn api_client(rig: &Rig) -> (WeChatApi, AccessToken) {
    let api = WeChatApi::new(&rig.base, Duration::from_secs(2)).unwrap();
    let secret = AppSecret::new(crate::sync::SECRET);
    let grant = api
        .stable_token(crate::helpers::APPID, &secret, false)
        .await
        .unwrap();
    (api, grant.token)
}

/// The raw `w` field of a lead's hash: what the sync recorded WeChat holds.
async fn w_of(rig: &Rig, lead: &str) -> Option<String> {
    let mut conn = rig.redis.conn().await;
    redis::cmd("HGET")
        .arg(rig.store.keys().lead(&openid(lead)))
        .arg("w")
        .query_async(&mut conn)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_worker_that_loses_a_lease_neither_writes_w_nor_keeps_calling() {
    let rig = Rig::start(Faults {
        latency_ms: 900,
        ..Faults::default()
    })
    .await;
    let tags = ["兴趣:A", "兴趣:B", "兴趣:C", "兴趣:D", "兴趣:E"];
    rig.follow("o-lease", None, &tags, 1000).await;
    // Renewed every 400 ms: a lease taken away is found well within one 900 ms call.
    let worker = rig.worker(SyncConfig {
        lease: Duration::from_millis(1200),
        ..quick()
    });
    let cycle = tokio::spawn(async move { worker.sync_once().await });

    // One tag per wave for one lead: take the lease away once the first call has landed (as a
    // failover to a replica that missed the lease would; an expired lease is found before the
    // next wave).
    eventually(Duration::from_secs(30), || async {
        (calls(&rig, BATCH_TAGGING) >= 1).then_some(())
    })
    .await;
    let lease = rig.store.keys().sync_lease(&openid("o-lease"));
    let mut conn = rig.redis.conn().await;
    let () = redis::cmd("SET")
        .arg(&lease)
        .arg("another-worker")
        .arg("PX")
        .arg(60_000)
        .query_async(&mut conn)
        .await
        .unwrap();
    let _: i64 = redis::cmd("HSET")
        .arg(rig.store.keys().lead(&openid("o-lease")))
        .arg("w")
        .arg("written-by-the-new-holder")
        .query_async(&mut conn)
        .await
        .unwrap();

    let outcome = cycle
        .await
        .unwrap()
        .expect("the cycle ends without an error");

    assert_eq!(
        w_of(&rig, "o-lease").await.as_deref(),
        Some("written-by-the-new-holder"),
        "only the lease holder writes w"
    );
    let made = calls(&rig, BATCH_TAGGING);
    assert!(
        made <= 2,
        "the worker stopped calling for the lead once a renewal found the lease gone (at most the call in flight): {made} of 5"
    );
    assert_eq!(
        outcome.acked, 0,
        "a lead it lost is not settled: {outcome:?}"
    );
    assert_eq!(outcome.left, 1, "{outcome:?}");
    let holder: Option<String> = redis::cmd("GET")
        .arg(&lease)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(
        holder.as_deref(),
        Some("another-worker"),
        "the lease is not freed"
    );
}

fn names<const N: usize>(names: [&str; N]) -> BTreeSet<String> {
    names.into_iter().map(str::to_owned).collect()
}

/// A lead unfollows, as its push tells wxtag.
async fn unfollow(rig: &Rig, lead: &str, at: i64) {
    let lead = openid(lead);
    let identity = format!("{lead}|{at}|unsubscribe");
    let applied = rig
        .store
        .apply(&TouchRecord {
            openid: &lead,
            identity: &identity,
            unsigned_body: None,
            at: UnixTime(at),
            effect: Effect::Unfollow,
            scene: None,
            timeline: Some(("unfollow", "")),
            location: None,
            tags: Vec::new(),
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

/// A dead letter as the worker writes one when WeChat refuses a change with `errcode`.
fn dead_letter(lead: &str, tag: &str, errcode: i64) -> DeadLetterRecord {
    DeadLetterRecord {
        openid: lead.to_owned(),
        tag: tag.to_owned(),
        op: TagOp::Add,
        errcode: Some(errcode),
        error: "invalid openid".to_owned(),
        at: 1250,
    }
}

#[tokio::test]
async fn a_lead_that_follows_again_gets_its_whole_projection_back() {
    let rig = Rig::start(Faults::default()).await;
    rig.follow("o-back", None, &["来源:官网"], 1000).await;
    rig.follow("o-other", None, &["来源:官网"], 1000).await;
    rig.follow("o-quiet", None, &["来源:展会"], 1000).await;
    let worker = rig.worker(quick());
    rig.converge(&worker).await;
    assert_eq!(
        on_wechat(&rig.sandbox.state(), &openid("o-back")),
        names(["来源:官网"])
    );

    // It unfollows (WeChat drops its tags), and sales tag it meanwhile.
    unfollow(&rig, "o-back", 1100).await;
    rig.sandbox.unfollow(&[openid("o-back")]).unwrap();
    // This one unfollows with nothing changing meanwhile: the sync never sees it unfollowed.
    unfollow(&rig, "o-quiet", 1100).await;
    rig.sandbox.unfollow(&[openid("o-quiet")]).unwrap();
    rig.edit("o-back", &["兴趣:PLC"], &[], 1200).await;
    let tagging = calls(&rig, BATCH_TAGGING);
    rig.converge(&worker).await;
    assert_eq!(
        calls(&rig, BATCH_TAGGING),
        tagging,
        "no call for a lead that does not follow"
    );
    assert_eq!(rig.outbox_len().await, 0, "its entry is acknowledged");
    assert_eq!(rig.store.dead_letters(10).await.unwrap().total, 0);

    // What a change racing the unfollow leaves behind, and another lead's dead letter.
    for letter in [
        dead_letter("o-back", "兴趣:PLC", 40003),
        dead_letter("o-other", "兴趣:PLC", 40003),
        dead_letter("o-back", "兴趣:PLC", 45159),
    ] {
        rig.store.push_dead_letter(&letter).await.unwrap();
    }

    // It follows again: the whole projection goes back, its not-following dead letters go.
    rig.sandbox
        .add_followers(&[openid("o-back"), openid("o-quiet")])
        .unwrap();
    rig.follow("o-back", None, &[], 1300).await;
    rig.follow("o-quiet", None, &[], 1300).await;
    rig.converge(&worker).await;
    assert_eq!(
        on_wechat(&rig.sandbox.state(), &openid("o-quiet")),
        names(["来源:展会"])
    );
    assert_eq!(
        on_wechat(&rig.sandbox.state(), &openid("o-back")),
        names(["来源:官网", "兴趣:PLC"])
    );
    let left: Vec<(String, Option<i64>)> = rig
        .store
        .dead_letters(10)
        .await
        .unwrap()
        .newest
        .into_iter()
        .map(|d| (d.openid, d.errcode))
        .collect();
    assert_eq!(
        left,
        [
            ("o-back".to_owned(), Some(45159)),
            ("o-other".to_owned(), Some(40003))
        ]
    );
}

#[tokio::test]
async fn the_sandbox_refuses_to_tag_a_user_who_unfollowed() {
    let rig = Rig::start(Faults::default()).await;
    rig.follow("o-gone", None, &["来源:官网"], 1000).await;
    rig.converge(&rig.worker(quick())).await;
    rig.sandbox.unfollow(&[openid("o-gone")]).unwrap();
    let state = rig.sandbox.state();
    assert!(
        on_wechat(&state, &openid("o-gone")).is_empty(),
        "unfollowing drops the tags"
    );

    let (api, token) = api_client(&rig).await;
    let id = state.tag_named("来源:官网").unwrap().id;
    let refused = api
        .batch_tagging(&token, id, &[openid("o-gone")])
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Some(40003));
    let info = api.user_info(&token, &openid("o-gone")).await.unwrap();
    assert!(!info.subscribed && info.tag_ids.is_empty());

    rig.sandbox.add_followers(&[openid("o-gone")]).unwrap();
    api.batch_tagging(&token, id, &[openid("o-gone")])
        .await
        .unwrap();
    assert!(
        api.user_info(&token, &openid("o-gone"))
            .await
            .unwrap()
            .subscribed
    );
}

#[tokio::test]
async fn a_tag_name_over_30_bytes_stays_unsynced_with_its_reason_and_no_call() {
    let rig = Rig::start(Faults::default()).await;
    let long = "长".repeat(11);
    assert_eq!(long.len(), 33);
    rig.follow("o-long", None, &["来源:官网", long.as_str()], 1000)
        .await;
    rig.converge(&rig.worker(quick())).await;

    let state = rig.sandbox.state();
    assert_eq!(
        on_wechat(&state, &openid("o-long")),
        names(["来源:官网"]),
        "the other tags sync"
    );
    assert_eq!(
        state.calls_to("/cgi-bin/tags/create", "45158"),
        0,
        "wechat is never called with the name"
    );
    let sync = rig.store.tag_sync().await.unwrap();
    let reason = sync
        .unsynced
        .get(&long)
        .expect("the tag is marked unsynced");
    assert!(
        reason.contains("30 bytes") && reason.contains("rename"),
        "{reason}"
    );

    // The sandbox counts bytes, as WeChat does.
    let (api, token) = api_client(&rig).await;
    let name = wxtag::domain::TagName::parse(&long).unwrap();
    let refused = api.create_tag(&token, &name).await.unwrap_err();
    assert_eq!(refused.code(), Some(45158));
    let ten = wxtag::domain::TagName::parse(&"长".repeat(10)).unwrap();
    assert!(api.create_tag(&token, &ten).await.is_ok(), "30 bytes fit");
}

#[tokio::test]
async fn the_worker_returns_the_error_when_no_retry_can_help() {
    let rig = Rig::start(Faults::default()).await;
    let mut conn = rig.redis.conn().await;
    let () = redis::cmd("SET")
        .arg(rig.store.keys().outbox())
        .arg("not a stream")
        .query_async(&mut conn)
        .await
        .unwrap();
    let worker = rig.worker(quick());
    let ended = tokio::time::timeout(
        Duration::from_secs(30),
        worker.run_until_stopped(std::future::pending()),
    )
    .await
    .expect("the worker returns rather than looping");
    let error = ended.expect_err("an error no retry fixes");
    assert!(wxtag::sync::gives_up(&error), "{error}");
    assert!(error.to_string().contains("WRONGTYPE"), "{error}");
}
