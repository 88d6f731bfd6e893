//! A re-follow queues a sync of the lead's tags: tags changed while it had unfollowed were
//! refused by WeChat, and what WeChat holds of it is unknown until the worker looks again.

use reqwest::StatusCode;

use crate::helpers::{Spawn, TestApp, xml};

const LEAD: &str = "oRefollow0000000000000000001";

#[tokio::test]
async fn a_re_follow_of_a_tagged_lead_queues_a_sync() {
    let app = TestApp::spawn_with(Spawn {
        channels: vec![(
            "10.toml".to_owned(),
            "[[qr]]\nscene = \"expo-2026\"\nname = \"展会\"\ntags = [\"来源:展会\"]\n".to_owned(),
        )],
        ..Spawn::default()
    })
    .await;
    let post = |push: String| {
        let app = &app;
        async move { assert_eq!(app.post_event(&push).await.status(), StatusCode::OK) }
    };
    post(xml::follow(LEAD, Some("expo-2026"))).await;
    assert_eq!(app.outbox_len().await, 1, "new tags queue a sync");
    post(xml::unfollow(LEAD)).await;
    assert_eq!(app.outbox_len().await, 1, "an unfollow queues nothing");

    // The same channel again: no tag is new, yet the lead's tags must be pushed again.
    post(xml::follow_at(LEAD, Some("expo-2026"), xml_now() + 1)).await;
    assert_eq!(app.outbox_len().await, 2, "the re-follow queues a sync");
    assert_eq!(app.lead(LEAD).await["subscribed"], true);

    let untagged = "oRefollowUntagged00000000002";
    post(xml::follow(untagged, None)).await;
    post(xml::unfollow(untagged)).await;
    post(xml::follow_at(untagged, None, xml_now() + 1)).await;
    assert_eq!(
        app.outbox_len().await,
        2,
        "nothing to push for a lead without tags"
    );
}

fn xml_now() -> i64 {
    wxtag::domain::UnixTime::now().0
}
