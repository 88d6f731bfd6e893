//! The API client against the sandbox, over real HTTP on 127.0.0.1:0: tokens, tags and their
//! limits, paging, QR codes, messages, the state endpoints and fault injection; and the
//! sandbox's command-line flags.

use std::net::TcpListener;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::*;
use crate::domain::{Scene, TagName, UnionId};
use crate::wechat::api::{
    AccessToken, ApiError, Page, QrRequest, QrScene, WeChatApi, install_crypto_provider,
};

/// A sandbox served on a free port, a client for it, and the handle to its state.
struct TestSandbox {
    handle: SandboxHandle,
    api: WeChatApi,
    base: String,
}

async fn start(config: SandboxConfig) -> TestSandbox {
    start_with_timeout(config, Duration::from_secs(10)).await
}

async fn start_with_timeout(config: SandboxConfig, timeout: Duration) -> TestSandbox {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
    let base = format!("http://{}", listener.local_addr().expect("an address"));
    let handle = SandboxHandle::new(config);
    tokio::spawn(handle.serve(listener).expect("the sandbox serves"));
    let api = WeChatApi::new(&base, timeout).expect("a client");
    TestSandbox { handle, api, base }
}

fn secret() -> AppSecret {
    AppSecret::new(DEFAULT_SECRET)
}

fn openid(s: &str) -> OpenId {
    OpenId::parse(s).expect("a valid openid")
}

fn openids(prefix: &str, n: usize) -> Vec<OpenId> {
    (0..n).map(|i| openid(&format!("{prefix}{i:03}"))).collect()
}

fn tag_name(s: &str) -> TagName {
    TagName::parse(s).expect("a valid tag name")
}

fn wechat_code(result: Result<impl std::fmt::Debug, ApiError>) -> i64 {
    match result {
        Err(ApiError::WeChat { code, .. }) => code,
        other => panic!("expected a wechat errcode, got {other:?}"),
    }
}

impl TestSandbox {
    async fn token(&self) -> AccessToken {
        self.api
            .stable_token(DEFAULT_APPID, &secret(), false)
            .await
            .expect("a stable token")
            .token
    }

    fn raw(&self) -> reqwest::Client {
        install_crypto_provider();
        reqwest::Client::new()
    }

    async fn post_raw(&self, path_and_query: &str, body: Value) -> Value {
        let response = self
            .raw()
            .post(format!("{}{path_and_query}", self.base))
            .json(&body)
            .send()
            .await
            .expect("an answer");
        response.json().await.expect("json")
    }

    /// Follows `next_openid` until the empty page, returning every openid and the page sizes.
    async fn all_pages<F, Fut>(&self, mut fetch: F) -> (Vec<OpenId>, Vec<usize>)
    where
        F: FnMut(Option<OpenId>) -> Fut,
        Fut: std::future::Future<Output = Result<Page, ApiError>>,
    {
        let (mut all, mut sizes, mut next) = (Vec::new(), Vec::new(), None);
        loop {
            let page = fetch(next.take()).await.expect("a page");
            sizes.push(page.openids.len());
            all.extend(page.openids);
            match page.next_openid {
                Some(n) => next = Some(n),
                None => return (all, sizes),
            }
        }
    }
}

#[test]
fn the_config_is_a_set_of_flags() {
    use clap::Parser;
    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        config: SandboxConfig,
    }
    let cli = Cli::try_parse_from([
        "wxtag-sandbox",
        "--appid",
        "wxcli",
        "--secret",
        "s3cret",
        "--token-ttl-secs",
        "60",
        "--classic-overlap-secs",
        "300",
        "--page-size",
        "2",
        "--invalid-openid-prefix",
        "bad_",
        "--tag-name-unit",
        "bytes",
        "--busy-rate",
        "0.5",
    ])
    .unwrap();
    let config = cli.config;
    assert_eq!(
        (config.appid.as_str(), config.secret.expose()),
        ("wxcli", "s3cret")
    );
    assert_eq!(
        (config.token_ttl_secs, config.classic_overlap_secs),
        (60, 300)
    );
    assert_eq!(config.page_size, 2);
    assert_eq!(config.invalid_openid_prefix, "bad_");
    assert_eq!(config.tag_name_unit, TagNameUnit::Bytes);
    assert_eq!(config.faults.busy_rate, 0.5);
    assert!(!format!("{config:?}").contains("s3cret"));
}

#[tokio::test]
async fn a_new_classic_token_voids_the_previous_one() {
    let sb = start(SandboxConfig::default()).await;
    let first = sb
        .api
        .classic_token(DEFAULT_APPID, &secret())
        .await
        .unwrap();
    assert_eq!(first.expires_in, Duration::from_secs(7200));
    assert!(sb.api.get_tags(&first.token).await.is_ok());

    let second = sb
        .api
        .classic_token(DEFAULT_APPID, &secret())
        .await
        .unwrap();
    let err = sb.api.get_tags(&first.token).await.unwrap_err();
    assert_eq!(err.code(), Some(40001));
    assert!(err.is_token_error());
    assert!(sb.api.get_tags(&second.token).await.is_ok());
    assert_eq!(sb.handle.state().tokens_issued.classic, 2);
}

#[tokio::test]
async fn the_stable_token_repeats_and_force_refresh_rotates_it() {
    let sb = start(SandboxConfig::default()).await;
    let a = sb
        .api
        .stable_token(DEFAULT_APPID, &secret(), false)
        .await
        .unwrap();
    let b = sb
        .api
        .stable_token(DEFAULT_APPID, &secret(), false)
        .await
        .unwrap();
    assert_eq!(a.token.expose(), b.token.expose());
    assert!(b.expires_in <= Duration::from_secs(7200));

    // A classic token does not touch the stable one.
    sb.api
        .classic_token(DEFAULT_APPID, &secret())
        .await
        .unwrap();
    assert!(sb.api.get_tags(&a.token).await.is_ok());

    let forced = sb
        .api
        .stable_token(DEFAULT_APPID, &secret(), true)
        .await
        .unwrap();
    assert_ne!(forced.token.expose(), a.token.expose());
    assert_eq!(wechat_code(sb.api.get_tags(&a.token).await), 40001);
    assert!(sb.api.get_tags(&forced.token).await.is_ok());
    assert_eq!(sb.handle.state().tokens_issued.stable, 2);
}

#[tokio::test]
async fn wrong_credentials_are_fatal_config_errors_that_say_what_to_fix() {
    let sb = start(SandboxConfig::default()).await;
    let err = sb
        .api
        .stable_token("wx-wrong", &secret(), false)
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(40013));
    assert!(err.is_fatal_config() && !err.is_retryable());
    assert!(err.to_string().contains("WECHAT_APPID"), "{err}");

    let wrong = AppSecret::new("not-the-secret");
    let err = sb
        .api
        .classic_token(DEFAULT_APPID, &wrong)
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(40125));
    assert!(err.is_fatal_config());
    assert!(err.to_string().contains("WECHAT_APPSECRET"), "{err}");
    assert!(!format!("{err:?} {err}").contains("not-the-secret"));
}

#[tokio::test]
async fn missing_and_expired_tokens() {
    let sb = start(SandboxConfig::default()).await;
    let answer: Value = sb
        .raw()
        .get(format!("{}/cgi-bin/tags/get", sb.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer["errcode"], 41001);
    assert!(answer["errmsg"].as_str().unwrap().contains("rid: "));

    let token = sb.token().await;
    sb.handle.advance_clock(Duration::from_secs(7200));
    let err = sb.api.get_tags(&token).await.unwrap_err();
    assert_eq!(err.code(), Some(42001));
    assert!(err.is_token_error());
    // The stable token endpoint hands out a fresh one once the old one expired.
    assert!(sb.api.get_tags(&sb.token().await).await.is_ok());
}

#[tokio::test]
async fn a_zero_ttl_makes_every_token_expire_at_once() {
    let sb = start(SandboxConfig {
        token_ttl_secs: 0,
        ..SandboxConfig::default()
    })
    .await;
    let token = sb.token().await;
    assert_eq!(wechat_code(sb.api.get_tags(&token).await), 42001);
}

#[tokio::test]
async fn tags_are_created_listed_renamed_and_deleted_with_wechats_errcodes() {
    let sb = start(SandboxConfig::default()).await;
    let token = sb.token().await;
    let hot = sb
        .api
        .create_tag(&token, &tag_name("lead:hot"))
        .await
        .unwrap();
    let expo = sb
        .api
        .create_tag(&token, &tag_name("来源:展会"))
        .await
        .unwrap();
    assert_eq!((hot, expo), (TagId(100), TagId(101)));

    let dup = sb.api.create_tag(&token, &tag_name("lead:hot")).await;
    assert_eq!(wechat_code(dup), 45157);
    let star = sb.api.create_tag(&token, &tag_name("星标组")).await;
    assert_eq!(wechat_code(star), 45157);

    let tags = sb.api.get_tags(&token).await.unwrap();
    let listed: Vec<(u32, &str, u64)> = tags
        .iter()
        .map(|t| (t.id.0, t.name.as_str(), t.count))
        .collect();
    assert_eq!(
        listed,
        [
            (2, "星标组", 0),
            (100, "lead:hot", 0),
            (101, "来源:展会", 0)
        ]
    );

    sb.api
        .update_tag(&token, hot, &tag_name("lead:warm"))
        .await
        .unwrap();
    let taken = sb.api.update_tag(&token, hot, &tag_name("来源:展会")).await;
    assert_eq!(wechat_code(taken), 45157);
    for reserved in [0, 1, 2] {
        let renamed = sb
            .api
            .update_tag(&token, TagId(reserved), &tag_name("x"))
            .await;
        assert_eq!(wechat_code(renamed), 45058);
        assert_eq!(
            wechat_code(sb.api.delete_tag(&token, TagId(reserved)).await),
            45058
        );
    }
    assert_eq!(
        wechat_code(sb.api.delete_tag(&token, TagId(999)).await),
        45159
    );

    let lead = openid("oLead0001");
    sb.api
        .batch_tagging(&token, expo, std::slice::from_ref(&lead))
        .await
        .unwrap();
    sb.api.delete_tag(&token, expo).await.unwrap();
    assert!(sb.api.tags_of_user(&token, &lead).await.unwrap().is_empty());
    let state = sb.handle.state();
    assert_eq!(state.tag_named("lead:warm").map(|t| t.id), Some(hot));
    assert!(state.tag_named("来源:展会").is_none());
    assert_eq!(state.calls_to("/cgi-bin/tags/create", "45157"), 2);
    assert_eq!(state.calls_to("/cgi-bin/tags/create", "0"), 2);
}

#[tokio::test]
async fn the_101st_tag_is_refused_with_45056() {
    let sb = start(SandboxConfig::default()).await;
    let token = sb.token().await;
    for i in 0..100 {
        let name = tag_name(&format!("t{i}"));
        sb.api.create_tag(&token, &name).await.unwrap();
    }
    let over = sb.api.create_tag(&token, &tag_name("one-too-many")).await;
    assert_eq!(wechat_code(over), 45056);
    assert_eq!(
        sb.api.get_tags(&token).await.unwrap().len(),
        101,
        "星标组 does not count"
    );
}

#[tokio::test]
async fn long_tag_names_get_45158() {
    let sb = start(SandboxConfig {
        tag_name_unit: TagNameUnit::Bytes,
        ..SandboxConfig::default()
    })
    .await;
    let token = sb.token().await;
    // Ten CJK characters are 30 bytes; eleven are 33.
    sb.api
        .create_tag(&token, &tag_name(&"标".repeat(10)))
        .await
        .unwrap();
    let long = sb.api.create_tag(&token, &tag_name(&"签".repeat(11))).await;
    assert_eq!(wechat_code(long), 45158);

    let chars = start(SandboxConfig {
        tag_name_unit: TagNameUnit::Chars,
        ..SandboxConfig::default()
    })
    .await;
    let token = chars.token().await;
    chars
        .api
        .create_tag(&token, &tag_name(&"签".repeat(30)))
        .await
        .unwrap();
    let path = format!("/cgi-bin/tags/create?access_token={}", token.expose());
    let answer = chars
        .post_raw(&path, json!({ "tag": { "name": "x".repeat(31) } }))
        .await;
    assert_eq!(answer["errcode"], 45158);
}

#[tokio::test]
async fn batch_tagging_enforces_50_openids_valid_openids_and_20_tags_per_user() {
    let sb = start(SandboxConfig::default()).await;
    let token = sb.token().await;
    let tag = sb.api.create_tag(&token, &tag_name("batch")).await.unwrap();

    let fifty_one = openids("oBatch", 51);
    let err = sb
        .api
        .batch_tagging(&token, tag, &fifty_one)
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(40032));
    assert_eq!(
        wechat_code(sb.api.batch_tagging(&token, tag, &[]).await),
        40032
    );
    sb.api
        .batch_tagging(&token, tag, &fifty_one[..50])
        .await
        .unwrap();

    let mixed = [openid("oGood0001"), openid("invalid_0001")];
    assert_eq!(
        wechat_code(sb.api.batch_tagging(&token, tag, &mixed).await),
        40003
    );
    assert!(
        sb.handle.state().tags_of(&mixed[0]).is_empty(),
        "all or nothing"
    );
    assert_eq!(
        wechat_code(sb.api.tags_of_user(&token, &mixed[1]).await),
        40003
    );
    assert_eq!(
        wechat_code(sb.api.batch_tagging(&token, TagId(555), &mixed[..1]).await),
        45159
    );

    let lead = openid("oBusyLead");
    let mut ids = Vec::new();
    for i in 0..21 {
        ids.push(
            sb.api
                .create_tag(&token, &tag_name(&format!("k{i}")))
                .await
                .unwrap(),
        );
    }
    for id in &ids[..20] {
        sb.api
            .batch_tagging(&token, *id, std::slice::from_ref(&lead))
            .await
            .unwrap();
    }
    let err = sb
        .api
        .batch_tagging(&token, ids[20], std::slice::from_ref(&lead))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(45059));
    // Tagging again with a tag the lead already has is fine.
    sb.api
        .batch_tagging(&token, ids[0], std::slice::from_ref(&lead))
        .await
        .unwrap();
    assert_eq!(sb.api.tags_of_user(&token, &lead).await.unwrap(), ids[..20]);

    sb.api
        .batch_untagging(&token, ids[0], std::slice::from_ref(&lead))
        .await
        .unwrap();
    sb.api
        .batch_tagging(&token, ids[20], std::slice::from_ref(&lead))
        .await
        .unwrap();
    let info = sb.api.user_info(&token, &lead).await.unwrap();
    assert!(info.subscribed);
    assert_eq!(info.tag_ids, ids[1..]);
}

#[tokio::test]
async fn user_tag_get_and_user_get_page_through_next_openid() {
    let sb = start(SandboxConfig {
        page_size: 2,
        ..SandboxConfig::default()
    })
    .await;
    let token = sb.token().await;
    let tag = sb.api.create_tag(&token, &tag_name("paged")).await.unwrap();
    let members = openids("oPage", 5);
    sb.api.batch_tagging(&token, tag, &members).await.unwrap();
    sb.handle.add_followers(&openids("oZed", 2)).unwrap();

    let (got, sizes) = sb
        .all_pages(|next| {
            let (api, token) = (sb.api.clone(), token.clone());
            async move { api.tag_members(&token, tag, next.as_ref()).await }
        })
        .await;
    assert_eq!(got, members);
    assert_eq!(sizes, [2, 2, 1, 0], "the page after the last one is empty");

    let first = sb.api.followers(&token, None).await.unwrap();
    assert_eq!(first.total, Some(7));
    let (got, sizes) = sb
        .all_pages(|next| {
            let (api, token) = (sb.api.clone(), token.clone());
            async move { api.followers(&token, next.as_ref()).await }
        })
        .await;
    assert_eq!(got.len(), 7);
    assert_eq!(sizes, [2, 2, 2, 1, 0]);
    assert!(got.windows(2).all(|w| w[0] < w[1]));
    assert_eq!(
        wechat_code(sb.api.tag_members(&token, TagId(404), None).await),
        45159
    );
}

#[tokio::test]
async fn qrcode_create_makes_all_four_kinds_with_recognisable_urls() {
    let sb = start(SandboxConfig::default()).await;
    let token = sb.token().await;
    let expo = Scene::parse("expo-2026").unwrap();
    let requests = [
        QrRequest::Temporary {
            scene: QrScene::Id(123),
            expire_seconds: 604_800,
        },
        QrRequest::Temporary {
            scene: QrScene::Str(expo.clone()),
            expire_seconds: 9_999_999,
        },
        QrRequest::Permanent {
            scene: QrScene::Id(42),
        },
        QrRequest::Permanent {
            scene: QrScene::Str(expo),
        },
    ];
    let mut tickets = Vec::new();
    for request in &requests {
        let qr = sb.api.create_qrcode(&token, request).await.unwrap();
        assert!(qr.url.contains(request.action_name()), "{}", qr.url);
        tickets.push(qr);
    }
    assert!(tickets[0].url.ends_with("/QR_SCENE/123"));
    assert!(tickets[1].url.ends_with("/QR_STR_SCENE/expo-2026"));
    assert!(tickets[2].url.ends_with("/QR_LIMIT_SCENE/42"));
    assert!(tickets[3].url.ends_with("/QR_LIMIT_STR_SCENE/expo-2026"));
    let expiries: Vec<_> = tickets.iter().map(|t| t.expire_seconds).collect();
    assert_eq!(expiries, [Some(604_800), Some(2_592_000), None, None]);

    let again = sb.api.create_qrcode(&token, &requests[3]).await.unwrap();
    assert_eq!(again, tickets[3], "a permanent scene keeps its ticket");
    let state = sb.handle.state();
    assert_eq!(state.qrcodes.len(), 4);
    assert_eq!(state.qrcodes[1].scene, "expo-2026");

    let out_of_range = QrRequest::Permanent {
        scene: QrScene::Id(100_001),
    };
    assert_eq!(
        wechat_code(sb.api.create_qrcode(&token, &out_of_range).await),
        47001
    );

    // Forgetting the `scene` nesting is not refused: the code silently gets scene 0.
    let path = format!("/cgi-bin/qrcode/create?access_token={}", token.expose());
    let body = json!({ "action_name": "QR_LIMIT_STR_SCENE", "action_info": { "scene_str": "x" } });
    let answer = sb.post_raw(&path, body).await;
    assert!(
        answer["url"]
            .as_str()
            .unwrap()
            .ends_with("/QR_LIMIT_STR_SCENE/0")
    );
}

#[tokio::test]
async fn custom_text_messages_are_recorded() {
    let sb = start(SandboxConfig::default()).await;
    let token = sb.token().await;
    let lead = openid("oTalk0001");
    assert_eq!(
        wechat_code(sb.api.send_text(&token, &lead, "hi").await),
        45015,
        "no action of the user opened a window"
    );
    sb.handle
        .interact(&lead, super::Interaction::Message, None)
        .unwrap();
    sb.api
        .send_text(&token, &lead, "报价请联系您的客户经理")
        .await
        .unwrap();
    let bad = openid("invalid_talk");
    assert_eq!(
        wechat_code(sb.api.send_text(&token, &bad, "hi").await),
        40003
    );
    let messages = sb.handle.state().messages;
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].touser, lead);
    assert_eq!(messages[0].msgtype, "text");
    assert_eq!(
        messages[0].body["text"]["content"],
        "报价请联系您的客户经理"
    );
}

#[tokio::test]
async fn console_made_tags_state_over_http_and_reset() {
    let sb = start(SandboxConfig::default()).await;
    let token = sb.token().await;
    let created = sb
        .post_raw(
            "/sandbox/tags",
            json!({ "name": "VIP客户", "members": ["oVip001", "oVip002"] }),
        )
        .await;
    assert_eq!(created["id"], 100);
    let refused = sb
        .post_raw(
            "/sandbox/tags",
            json!({ "name": "bad", "members": ["invalid_x"] }),
        )
        .await;
    assert_eq!(refused["errcode"], 40003);

    let tags = sb.api.get_tags(&token).await.unwrap();
    let vip = tags
        .iter()
        .find(|t| t.name == "VIP客户")
        .expect("the console tag");
    assert_eq!((vip.id, vip.count), (TagId(100), 2));
    let members = sb.api.tag_members(&token, vip.id, None).await.unwrap();
    assert_eq!(members.openids, [openid("oVip001"), openid("oVip002")]);

    let registered = sb
        .post_raw(
            "/sandbox/followers",
            json!({ "openids": ["oNew1", "oVip001"] }),
        )
        .await;
    assert_eq!(registered["registered"], 1);

    let state: SandboxState = sb
        .raw()
        .get(format!("{}/sandbox/state", sb.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(state, sb.handle.state());
    assert_eq!(state.followers.len(), 3);
    assert_eq!(state.tags_of(&openid("oVip002")), [TagId(100)]);
    assert_eq!(state.calls_to("/cgi-bin/tags/get", "0"), 1);
    assert_eq!(state.tokens_issued.stable, 1);

    let status = sb
        .raw()
        .post(format!("{}/sandbox/reset", sb.base))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 204);
    let state = sb.handle.state();
    assert_eq!(state.tags.len(), 1);
    assert!(state.followers.is_empty() && state.calls.is_empty());
    assert_eq!(wechat_code(sb.api.get_tags(&token).await), 40001);
}

#[tokio::test]
async fn injected_busy_quota_and_http_500_are_retryable() {
    let sb = start(SandboxConfig::default()).await;
    let token = sb.token().await;
    let cases = [
        (
            Faults {
                busy_rate: 1.0,
                ..Faults::default()
            },
            "-1",
        ),
        (
            Faults {
                quota_rate: 1.0,
                ..Faults::default()
            },
            "45009",
        ),
        (
            Faults {
                http_500_rate: 1.0,
                ..Faults::default()
            },
            "http_500",
        ),
    ];
    for (faults, outcome) in cases {
        sb.handle.set_faults(faults);
        let err = sb.api.get_tags(&token).await.unwrap_err();
        assert!(err.is_retryable(), "{err:?}");
        assert!(!err.is_token_error() && !err.is_fatal_config());
        match outcome {
            "http_500" => assert!(matches!(err, ApiError::Http { status: 500 })),
            code => assert_eq!(err.code().map(|c| c.to_string()).as_deref(), Some(code)),
        }
        assert_eq!(sb.handle.state().calls_to("/cgi-bin/tags/get", outcome), 1);
    }
    sb.handle.set_faults(Faults::default());
    assert!(sb.api.get_tags(&token).await.is_ok());
}

#[tokio::test]
async fn faults_can_be_set_over_http_and_are_reproducible_with_a_seed() {
    let sb = start(SandboxConfig::default()).await;
    let token = sb.token().await;
    let mut runs = Vec::new();
    for _ in 0..2 {
        let set = sb
            .post_raw("/sandbox/faults", json!({ "busy_rate": 0.5, "seed": 7 }))
            .await;
        assert_eq!(set["busy_rate"], 0.5);
        let mut outcomes = Vec::new();
        for _ in 0..30 {
            outcomes.push(sb.api.get_tags(&token).await.is_ok());
        }
        runs.push(outcomes);
    }
    assert_eq!(runs[0], runs[1]);
    assert!(runs[0].contains(&true) && runs[0].contains(&false));
}

#[tokio::test]
async fn a_hung_call_is_a_timeout_and_latency_is_added() {
    let sb = start_with_timeout(SandboxConfig::default(), Duration::from_millis(300)).await;
    let token = sb.token().await;
    sb.handle.set_faults(Faults {
        timeout_rate: 1.0,
        hang_ms: 60_000,
        ..Faults::default()
    });
    let err = sb.api.get_tags(&token).await.unwrap_err();
    assert!(matches!(err, ApiError::Timeout), "{err:?}");
    assert!(err.is_retryable());
    assert_eq!(
        sb.handle.state().calls_to("/cgi-bin/tags/get", "timeout"),
        1
    );

    sb.handle.set_faults(Faults {
        latency_ms: 100,
        ..Faults::default()
    });
    let started = Instant::now();
    sb.api.get_tags(&token).await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(100));
}

#[tokio::test]
async fn transport_errors_never_show_the_access_token() {
    let closed = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let api = WeChatApi::new(&base, Duration::from_secs(5)).unwrap();
    let token = AccessToken::new("TOKEN-must-not-leak-0123456789");
    let err = api.get_tags(&token).await.unwrap_err();
    assert!(matches!(err, ApiError::Transport(_)), "{err:?}");
    assert!(err.is_retryable());
    let shown = format!("{err:?} {err}");
    assert!(!shown.contains("TOKEN-must-not-leak"), "{shown}");
    assert!(!shown.contains("access_token"), "{shown}");

    let secret = AppSecret::new("SECRET-must-not-leak");
    let err = api.classic_token("wx1", &secret).await.unwrap_err();
    assert!(!format!("{err:?} {err}").contains("SECRET-must-not-leak"));
}

/// The sandbox's authorisation URL for `redirect_uri` and `state`, in WeChat's order.
fn authorize_url(base: &str, appid: &str, redirect_uri: &str, state: &str) -> String {
    let encoded =
        percent_encoding::utf8_percent_encode(redirect_uri, percent_encoding::NON_ALPHANUMERIC);
    format!(
        "{base}/connect/oauth2/authorize?appid={appid}&redirect_uri={encoded}\
         &response_type=code&scope=snsapi_base&state={state}#wechat_redirect"
    )
}

fn no_redirects() -> reqwest::Client {
    install_crypto_provider();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("a client")
}

/// The code `redirect` (a `Location`) hands back, after checking its state.
fn code_of(location: &str, state: &str) -> String {
    let (_, query) = location.split_once('?').expect("a query");
    let pairs = actix_web::web::Query::<Vec<(String, String)>>::from_query(query)
        .map(actix_web::web::Query::into_inner)
        .expect("a query");
    assert_eq!(
        pairs[pairs.len() - 1],
        ("state".to_owned(), state.to_owned())
    );
    pairs
        .iter()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.clone())
        .expect("a code")
}

#[tokio::test]
async fn web_authorisation_hands_out_single_use_codes_that_expire_after_five_minutes() {
    let sandbox = start(SandboxConfig::default()).await;
    let browser = no_redirects();
    let back = "https://wx.example.test/oauth/callback?to=%2Fl%2Fabc";
    let url = authorize_url(&sandbox.base, DEFAULT_APPID, back, "s1");
    let authorise = |cookie: &'static str| browser.get(&url).header("cookie", cookie).send();
    let answer = authorise("sandbox_openid=oWebUser1; sandbox_unionid=uUnion1")
        .await
        .unwrap();
    assert_eq!(answer.status(), 302);
    let location = answer.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.starts_with(&format!("{back}&code=")), "{location}");
    let code = code_of(&location, "s1");

    let user = sandbox
        .api
        .web_user(DEFAULT_APPID, &secret(), &code)
        .await
        .unwrap();
    assert_eq!(user.openid, openid("oWebUser1"));
    assert_eq!(user.unionid.as_ref().map(UnionId::as_str), Some("uUnion1"));
    let again = sandbox.api.web_user(DEFAULT_APPID, &secret(), &code).await;
    assert_eq!(wechat_code(again), 40163);
    let unknown = sandbox.api.web_user(DEFAULT_APPID, &secret(), "nope").await;
    assert_eq!(wechat_code(unknown), 40029);

    let answer = authorise("sandbox_openid=oWebUser2").await.unwrap();
    let code = code_of(answer.headers()["location"].to_str().unwrap(), "s1");
    let wrong = AppSecret::new("not-the-secret");
    let refused = sandbox.api.web_user(DEFAULT_APPID, &wrong, &code).await;
    assert_eq!(wechat_code(refused), 40125);
    sandbox.handle.advance_clock(CODE_TTL);
    let late = sandbox.api.web_user(DEFAULT_APPID, &secret(), &code).await;
    assert_eq!(
        wechat_code(late),
        40029,
        "an unused code expires after 5 minutes"
    );

    let fresh = authorise("sandbox_openid=oWebUser2").await.unwrap();
    let code = code_of(fresh.headers()["location"].to_str().unwrap(), "s1");
    let user = sandbox
        .api
        .web_user(DEFAULT_APPID, &secret(), &code)
        .await
        .unwrap();
    assert_eq!((user.openid, user.unionid), (openid("oWebUser2"), None));
    let state = sandbox.handle.state();
    let path = "/sns/oauth2/access_token";
    assert_eq!(
        (
            state.calls_to(path, "0"),
            state.calls_to(path, "40163"),
            state.calls_to(path, "40029")
        ),
        (2, 1, 2)
    );
}

#[tokio::test]
async fn web_authorisation_checks_wechats_parameter_order_and_values() {
    let sandbox = start(SandboxConfig::default()).await;
    let browser = no_redirects();
    let cookie = "sandbox_openid=oWebUser1";
    let back = "https://wx.example.test/cb";
    let good = authorize_url(&sandbox.base, DEFAULT_APPID, back, "s1");
    let bad = [
        good.replace(
            "&response_type=code&scope=snsapi_base",
            "&scope=snsapi_base&response_type=code",
        ),
        authorize_url(&sandbox.base, "wxother", back, "s1"),
        good.replace("snsapi_base", "snsapi_login"),
        good.replace("state=s1", "state=not-alnum"),
        authorize_url(&sandbox.base, DEFAULT_APPID, "ftp://x", "s1"),
        good.replace("response_type=code", "response_type=token"),
    ];
    let expected = bad.into_iter().map(|url| (url, 400)).chain([(good, 302)]);
    for (url, status) in expected {
        let answer = browser
            .get(&url)
            .header("cookie", cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), status, "{url}");
    }
    let grant_type = sandbox
        .raw()
        .get(format!(
            "{}/sns/oauth2/access_token?appid={DEFAULT_APPID}&secret={DEFAULT_SECRET}&code=x&grant_type=client_credential",
            sandbox.base
        ))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(grant_type["errcode"], 40002);
}

#[tokio::test]
async fn without_a_cookie_the_browser_picks_a_user_and_returns_to_the_authorisation() {
    let sandbox = start(SandboxConfig::default()).await;
    sandbox
        .handle
        .add_followers(&[openid("oFollower1")])
        .unwrap();
    let browser = no_redirects();
    let url = authorize_url(
        &sandbox.base,
        DEFAULT_APPID,
        "https://wx.example.test/cb",
        "s1",
    );
    let page = browser.get(&url).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(
        html.contains("oFollower1") && !html.contains("<script"),
        "{html}"
    );
    let link = html
        .split("href=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .replace("&amp;", "&");
    let picked = browser
        .get(format!("{}{link}", sandbox.base))
        .send()
        .await
        .unwrap();
    assert_eq!(picked.status(), 302);
    let cookie = picked.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(cookie.starts_with("sandbox_openid=oFollower1;"), "{cookie}");
    let back = picked.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        back.starts_with("/connect/oauth2/authorize?appid="),
        "{back}"
    );
    let again = browser
        .get(format!("{}{back}", sandbox.base))
        .header("cookie", "sandbox_openid=oFollower1")
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 302);
    let elsewhere = browser
        .get(format!(
            "{}/sandbox/oauth/pick?openid=oFollower1&back=https%3A%2F%2Fevil.example",
            sandbox.base
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(elsewhere.status(), 400, "no open redirect");

    // The form: its hidden field holds the authorisation itself, which the browser encodes.
    let field = html
        .split("name=back value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .replace("&#38;", "&");
    assert_eq!(
        field,
        url.strip_prefix(&sandbox.base)
            .unwrap()
            .split('#')
            .next()
            .unwrap()
    );
    let typed = browser
        .get(format!("{}/sandbox/oauth/pick", sandbox.base))
        .query(&[("back", field.as_str()), ("openid", "oTyped1")])
        .send()
        .await
        .unwrap();
    assert_eq!(typed.status(), 302);
    assert_eq!(typed.headers()["location"].to_str().unwrap(), field);
}
