//! The intake flow called directly, so WeChat's official vectors run with their own clock.

use wxtag::config::{Account, Mode};
use wxtag::domain::{OpenId, UnixTime};
use wxtag::rules::{LiveRules, Rules};
use wxtag::store::Store;
use wxtag::webhook::{Answer, Intake, IntakeError, PushQuery};
use wxtag::wechat::crypto::EncodingAesKey;
use wxtag::wechat::signature::ServerToken;

use crate::helpers::TestRedis;

/// The official third-party-platform example (protocol §5.7): pad 22, safe mode.
const BODY: &str = "<xml><ToUserName><![CDATA[gh_97417a04a28d]]></ToUserName><Encrypt><![CDATA[D7yzvUNAL930rd28wf21s4hvXhz0L6Uit/p2Di6C5DHyYGpEgdBRnKjBec34JwoQXicwaZC7fOVihW80F4VtsdvE//1vr7oAbqjDv8KenVp+ajKYpJnyQ4zMRhIC+a31fCVOMC03FfzV/QuC94kBP55a+Za3sJgvAn+ZbsNqZI5DkyuzkhQN8OBqCzFhizGmy0xpM0MEA4agpvE+RuNO1rhHTtuJB5yltw1FiYzecSXJ+y/D2r81VkRn2eYjh2ltsoyfbDR7Is6ookXIFxTfyeNyeHxMeT4KN5WpCDmSbTcUYrbBUlkGLJ9n/rU8YOywma6G7aTb7KZKOqCxgfoUlYEZPk4FUL/TK7ShriFDMVCLyjQJ15Ob++agDWtcxhfUfe6HIoIpRW8mKNBQiY/Jd1svvuskA1wLef1RTtzKfMpagSCX/laZINmdnX4zrF6kIaR9P4xQrWXbsTFHTYe0Mg==]]></Encrypt></xml>";

fn query() -> PushQuery {
    PushQuery {
        signature: Some("cc0c594499c1634947d5b502f158ee518947db27".into()),
        timestamp: Some("1715943329".into()),
        nonce: Some("1590219412".into()),
        encrypt_type: Some("aes".into()),
        msg_signature: Some("6c12a4205838198b8fa631b3220723bb07f1015c".into()),
        echostr: None,
    }
}

async fn intake(redis: &TestRedis, appid: &str) -> (Intake, Store) {
    let conn = redis::Client::open(redis.url())
        .unwrap()
        .get_connection_manager()
        .await
        .unwrap();
    let store = Store::new(conn, appid);
    let account = Account {
        appid: appid.to_owned(),
        mode: Mode::Sandbox,
        token: ServerToken::new("AAAAA".to_owned()),
        aes_key: Some(EncodingAesKey::parse(&"A".repeat(43)).unwrap()),
        api_base: "http://127.0.0.1:9".to_owned(),
        kind: Default::default(),
    };
    let rules = LiveRules::new(Rules::default());
    (Intake::new(account, rules, store.clone()), store)
}

#[tokio::test]
async fn the_official_safe_mode_example_is_opened_and_recorded() {
    let redis = TestRedis::start().await;
    let (intake, store) = intake(&redis, "wx134c8103faa5a59e").await;

    let handled = intake
        .push(&query(), BODY.as_bytes(), UnixTime(1715943329))
        .await
        .unwrap();

    assert_eq!(handled.answer, Answer::Success);
    assert_eq!(handled.openid.as_str(), "o9AgO5Kd5ggOC-bXrbNODIiE3bGY");
    let lead = store
        .lead(&OpenId::parse("o9AgO5Kd5ggOC-bXrbNODIiE3bGY").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(lead.events.as_ref().unwrap().len(), 1);
    assert!(
        lead.events.as_ref().unwrap()[0]
            .detail
            .contains("debug_demo"),
        "{:?}",
        lead.events.as_ref().unwrap()[0]
    );
}

#[tokio::test]
async fn the_official_example_for_another_appid_is_refused() {
    let redis = TestRedis::start().await;
    let (intake, _) = intake(&redis, "wx0000000000000000").await;

    let refused = intake
        .push(&query(), BODY.as_bytes(), UnixTime(1715943329))
        .await;

    assert!(
        matches!(refused, Err(IntakeError::Undecryptable(_))),
        "{refused:?}"
    );
}

#[tokio::test]
async fn the_official_example_replayed_later_is_refused() {
    let redis = TestRedis::start().await;
    let (intake, _) = intake(&redis, "wx134c8103faa5a59e").await;

    let refused = intake
        .push(&query(), BODY.as_bytes(), UnixTime(1715943329 + 301))
        .await;

    assert!(
        matches!(refused, Err(IntakeError::Unsigned(_))),
        "{refused:?}"
    );
}
