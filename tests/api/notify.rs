//! Sales alerts' queue against a real Redis: one delivery per delivery id however often it
//! is enqueued, a claim keeps a delivery from a second process until its lease passes, an
//! attempt is recorded once, and a dead letter goes back in the queue by hand only.

use wxtag::domain::{DeliveryId, NotifyName, OpenId, UnixTime};
use wxtag::notify::{self, Enqueued, Notice, NoticeEvent};
use wxtag::store::{AttemptResult, DeliveryState, Requeued};

use crate::helpers::TestRedis;

fn notice(delivery: &str) -> Notice {
    Notice {
        target: NotifyName::parse("sales").unwrap(),
        event: NoticeEvent::Stage,
        detail: "阶段:商机".to_owned(),
        openid: OpenId::parse("oNotifyLead1").unwrap(),
        delivery: DeliveryId::parse(delivery).unwrap(),
    }
}

#[tokio::test]
async fn enqueueing_the_same_delivery_twice_queues_one() {
    let redis = TestRedis::start().await;
    let store = redis.store().await;
    let now = UnixTime(1_800_000_000);
    let n = notice("run-1:3");
    assert_eq!(
        notify::enqueue(&store, &n, now).await.unwrap(),
        Enqueued::New
    );
    assert_eq!(
        notify::enqueue(&store, &n, now).await.unwrap(),
        Enqueued::Known
    );
    let (page, total) = store.deliveries_page(0, 50).await.unwrap();
    assert_eq!(total, 1);
    assert_eq!(page.len(), 1);
    assert_eq!(page[0].state, DeliveryState::Pending);
    assert_eq!(page[0].event, "stage");
    assert_eq!(
        store
            .deliveries_pending(std::slice::from_ref(&n.target))
            .await
            .unwrap(),
        1
    );
}

#[tokio::test]
async fn a_claim_holds_a_delivery_for_its_lease_and_an_attempt_is_recorded_once() {
    let redis = TestRedis::start().await;
    let store = redis.store().await;
    let other = redis.store().await;
    let now = UnixTime(1_800_000_000);
    let n = notice("run-2:1");
    notify::enqueue(&store, &n, now).await.unwrap();

    let claimed = store
        .claim_deliveries(&n.target, now, 10, 60)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    let again = other
        .claim_deliveries(&n.target, now, 10, 60)
        .await
        .unwrap();
    assert!(
        again.is_empty(),
        "another process does not get the claimed delivery"
    );
    // A killed process's claim comes back once the lease has passed.
    let later = UnixTime(now.0 + 61);
    let back = other
        .claim_deliveries(&n.target, later, 10, 60)
        .await
        .unwrap();
    assert_eq!(back.len(), 1, "the claim came back after the lease");

    let retry = AttemptResult::Retry {
        next: UnixTime(later.0 + 10),
        error: "HTTP 500 from the receiver".to_owned(),
    };
    assert!(
        store
            .finish_delivery(&claimed[0], &retry, later)
            .await
            .unwrap()
    );
    assert!(
        !other
            .finish_delivery(&back[0], &retry, later)
            .await
            .unwrap(),
        "the same attempt is recorded once"
    );
    let record = store.delivery(&n.delivery).await.unwrap().unwrap();
    assert_eq!(record.state, DeliveryState::Retrying);
    assert_eq!(record.attempts, 1);
    assert_eq!(record.next, Some(later.0 + 10));
    assert_eq!(record.error, "HTTP 500 from the receiver");
    assert!(
        store
            .claim_deliveries(&n.target, later, 10, 60)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn a_dead_letter_keeps_its_error_and_goes_back_in_the_queue_by_hand() {
    let redis = TestRedis::start().await;
    let store = redis.store().await;
    let now = UnixTime(1_800_000_000);
    let n = notice("run-3:1");
    notify::enqueue(&store, &n, now).await.unwrap();
    let claimed = store
        .claim_deliveries(&n.target, now, 10, 60)
        .await
        .unwrap();
    let dead = AttemptResult::Dead {
        error: "connection refused".to_owned(),
    };
    assert!(
        store
            .finish_delivery(&claimed[0], &dead, now)
            .await
            .unwrap()
    );
    let record = store.delivery(&n.delivery).await.unwrap().unwrap();
    assert_eq!(record.state, DeliveryState::Dead);
    assert_eq!(record.error, "connection refused");
    assert_eq!(
        store
            .deliveries_pending(std::slice::from_ref(&n.target))
            .await
            .unwrap(),
        0
    );

    let later = UnixTime(now.0 + 86_400);
    assert_eq!(
        store.retry_delivery(&n.delivery, later).await.unwrap(),
        Requeued::Yes
    );
    assert_eq!(
        store.retry_delivery(&n.delivery, later).await.unwrap(),
        Requeued::NotDead
    );
    let unknown = DeliveryId::parse("nope").unwrap();
    assert_eq!(
        store.retry_delivery(&unknown, later).await.unwrap(),
        Requeued::Unknown
    );
    let again = store
        .claim_deliveries(&n.target, later, 10, 60)
        .await
        .unwrap();
    assert_eq!(again.len(), 1, "due again");
    assert_eq!(again[0].since, later.0, "with a fresh retry horizon");
}
