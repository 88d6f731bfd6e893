//! The sync worker's hardening (issue 8): a worker that loses a lead's lease lets go of it, an
//! unfollowed lead is resynced in full when it follows again, and a tag name WeChat refuses
//! stays in Redis, unsynced with its reason, without a call.

use std::time::Duration;

use wxtag::sandbox::Faults;

use crate::helpers::eventually;
use crate::sync::{Rig, openid, quick};

/// The calls the sandbox answered at `endpoint`, whatever the outcome.
fn calls(rig: &Rig, endpoint: &str) -> u64 {
    rig.sandbox
        .state()
        .calls
        .get(endpoint)
        .map_or(0, |outcomes| outcomes.values().sum())
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
        latency_ms: 600,
        ..Faults::default()
    })
    .await;
    let tags = ["兴趣:A", "兴趣:B", "兴趣:C", "兴趣:D", "兴趣:E"];
    rig.follow("o-lease", None, &tags, 1000).await;
    let worker = rig.worker(quick());
    let cycle = tokio::spawn(async move { worker.sync_once().await });

    // One tag per wave for one lead: take the lease away once the first call has landed.
    eventually(Duration::from_secs(30), || async {
        (calls(&rig, "/cgi-bin/tags/members/batchtagging") >= 1).then_some(())
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
    let made = calls(&rig, "/cgi-bin/tags/members/batchtagging");
    assert!(
        made <= 2,
        "the worker stopped calling for the lead (at most the call in flight): {made} of 5"
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
