//! Sends within WeChat's rules, over real HTTP with the sandbox as WeChat: the windows a
//! push opens and their counts, at most once per attempt (a crash mid-call is unknown, never
//! sent again), retries of -1, the template fallback, 43019 and the blacklist,
//! do_not_contact by a keyword rule and by the API, and the account kind.

use std::collections::BTreeMap;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;
use wxtag::config::{AccountKind, Feature, Kind};
use wxtag::domain::{OpenId, UnixTime};
use wxtag::metrics::Metrics;
use wxtag::outreach::{
    AttemptId, Outbound, SendOutcome, Sender, SkipReason, TemplateSend, WINDOWS,
};
use wxtag::sandbox::{Faults, Interaction, SandboxHandle, SandboxState};
use wxtag::store::{Reservation, SendChannel, SendRequest, Store};
use wxtag::wechat::client::{Client, Retry};

use crate::helpers::{ADMIN_TOKEN, Spawn, TestApp, xml};
use crate::sync::{access, sandbox};

const RULES: &str = r#"
[[keyword]]
text = "资料"
tags = ["兴趣:资料"]

[[keyword]]
text = "退订"
tags = ["意向:退订"]
do_not_contact = true
"#;

const CUSTOM: &str = "/cgi-bin/message/custom/send";
const TEMPLATE: &str = "/cgi-bin/message/template/send";

/// The app (pushes, the lead API), its store, a sandbox as WeChat and a sender to it.
struct Rig {
    app: TestApp,
    store: Store,
    sandbox: SandboxHandle,
    base: String,
    metrics: Metrics,
    sender: Sender,
}

impl Rig {
    async fn start() -> Self {
        Self::of_kind(AccountKind::default()).await
    }

    async fn of_kind(kind: AccountKind) -> Self {
        let app = TestApp::spawn_with(Spawn {
            channels: vec![("30-keywords.toml".to_owned(), RULES.to_owned())],
            ..Spawn::default()
        })
        .await;
        let store = app.redis.store().await;
        let (sandbox, base) = sandbox(Faults::default());
        let metrics = Metrics::new();
        let sender = Self::sender(&store, &base, kind, &metrics);
        Self {
            app,
            store,
            sandbox,
            base,
            metrics,
            sender,
        }
    }

    fn sender(store: &Store, base: &str, kind: AccountKind, metrics: &Metrics) -> Sender {
        let client = Client::new(
            store.clone(),
            &access(base),
            Duration::from_secs(5),
            Retry::default(),
            metrics.clone(),
        )
        .unwrap();
        Sender::new(store.clone(), client, kind, metrics.clone())
    }

    /// The lead does something: the app gets the push, and the sandbox (WeChat) knows it.
    async fn act(&self, push: &str, openid: &str, kind: Interaction) {
        let response = self.app.post_event(push).await;
        assert_eq!(response.status(), StatusCode::OK);
        self.sandbox
            .interact(&OpenId::parse(openid).unwrap(), kind, None)
            .unwrap();
    }

    async fn send(
        &self,
        openid: &str,
        attempt: &str,
        fallback: Option<&TemplateSend>,
    ) -> SendOutcome {
        self.send_at(openid, attempt, fallback, self.app.now())
            .await
    }

    async fn send_at(
        &self,
        openid: &str,
        attempt: &str,
        fallback: Option<&TemplateSend>,
        at: UnixTime,
    ) -> SendOutcome {
        let message = Outbound::Text(format!("跟进 {attempt}"));
        self.sender
            .send(
                &OpenId::parse(openid).unwrap(),
                &message,
                fallback,
                &AttemptId::parse(attempt).unwrap(),
                at,
            )
            .await
            .unwrap()
    }

    fn state(&self) -> SandboxState {
        self.sandbox.state()
    }

    /// Every call to `path`, whatever its answer.
    fn calls(&self, path: &str) -> u64 {
        self.state()
            .calls
            .get(path)
            .map_or(0, |by| by.values().sum())
    }

    /// The lead's timeline entries of kind `send`, newest first.
    async fn sends_on_timeline(&self, openid: &str) -> Vec<String> {
        let lead = self.app.lead(openid).await;
        lead["events"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["kind"] == "send")
            .map(|e| e["detail"].as_str().unwrap().to_owned())
            .collect()
    }
}

fn template() -> TemplateSend {
    TemplateSend {
        template_id: "TPL_FOLLOW_UP".to_owned(),
        url: Some("https://example.com/lead".to_owned()),
        data: BTreeMap::from([("thing1".to_owned(), "您的资料已备好".to_owned())]),
    }
}

#[tokio::test]
async fn a_keyword_opens_the_window_and_the_sixth_message_in_48_hours_is_skipped_uncalled() {
    let rig = Rig::start().await;
    let lead = "oSendKeyword0001";
    rig.act(&xml::text(lead, "资料", 1), lead, Interaction::Message)
        .await;

    for n in 1..=5 {
        assert_eq!(
            rig.send(lead, &format!("run-1:{n}"), None).await,
            SendOutcome::Sent
        );
    }
    let sixth = rig.send(lead, "run-1:6", None).await;
    assert_eq!(sixth, SendOutcome::Skipped(SkipReason::WindowUsed));
    assert_eq!(rig.state().calls_to(CUSTOM, "0"), 5);
    assert_eq!(rig.calls(CUSTOM), 5, "the sixth made no call");
    let delivered: Vec<_> = rig
        .state()
        .messages
        .into_iter()
        .filter(|m| m.touser.as_str() == lead)
        .collect();
    assert_eq!(delivered.len(), 5);
    assert_eq!(delivered[0].body["text"]["content"], "跟进 run-1:1");

    // The same attempt again is the same outcome, with no call.
    assert_eq!(rig.send(lead, "run-1:1", None).await, SendOutcome::Sent);
    assert_eq!(rig.calls(CUSTOM), 5);

    let timeline = rig.sends_on_timeline(lead).await;
    assert_eq!(timeline.len(), 6, "{timeline:?}");
    assert!(
        timeline[0].starts_with("skipped window_used"),
        "{timeline:?}"
    );
    assert!(
        timeline[1].starts_with("sent custom: text 跟进"),
        "{timeline:?}"
    );
    let text = rig.metrics.render();
    assert!(
        text.contains(r#"wxtag_sends_total{kind="custom",result="sent"} 5"#),
        "{text}"
    );
    assert!(
        text.contains(r#"wxtag_sends_total{kind="custom",result="skipped_window_used"} 1"#),
        "{text}"
    );
}

#[tokio::test]
async fn a_follow_allows_three_within_a_minute_and_none_after_it() {
    let rig = Rig::start().await;
    let lead = "oSendFollow00001";
    rig.act(&xml::follow(lead, None), lead, Interaction::Follow)
        .await;
    for n in 1..=3 {
        assert_eq!(
            rig.send(lead, &format!("f:{n}"), None).await,
            SendOutcome::Sent
        );
    }
    assert_eq!(
        rig.send(lead, "f:4", None).await,
        SendOutcome::Skipped(SkipReason::WindowUsed)
    );
    let later = UnixTime(rig.app.now().0 + 61);
    assert_eq!(
        rig.send_at(lead, "f:5", None, later).await,
        SendOutcome::Skipped(SkipReason::OutsideWindow)
    );
    assert_eq!(rig.calls(CUSTOM), 3);

    // A click opens a window of its own, a VIEW none.
    let clicker = "oSendClick00001";
    let view = xml::view(clicker, "https://example.com/");
    assert_eq!(rig.app.post_event(&view).await.status(), StatusCode::OK);
    assert_eq!(
        rig.send(clicker, "c:1", None).await,
        SendOutcome::Skipped(SkipReason::OutsideWindow)
    );
    rig.act(
        &xml::click(clicker, "REQUEST_QUOTE"),
        clicker,
        Interaction::Click,
    )
    .await;
    assert_eq!(rig.send(clicker, "c:2", None).await, SendOutcome::Sent);
}

#[tokio::test]
async fn outside_the_window_the_fallback_template_is_sent() {
    let rig = Rig::start().await;
    let lead = "oSendFallback001";
    rig.act(&xml::follow(lead, None), lead, Interaction::Follow)
        .await;
    let later = UnixTime(rig.app.now().0 + 3600);
    let outcome = rig.send_at(lead, "fb:1", Some(&template()), later).await;
    let SendOutcome::SentTemplate { msgid, instead_of } = outcome else {
        panic!("{outcome:?}");
    };
    assert_eq!(instead_of, Some(SkipReason::OutsideWindow));
    assert!(msgid > 0);
    assert_eq!(
        rig.calls(CUSTOM),
        0,
        "no customer-service call outside the window"
    );
    let state = rig.state();
    let sent = state
        .messages
        .iter()
        .find(|m| m.msgtype == "template")
        .unwrap();
    assert_eq!(sent.body["template_id"], "TPL_FOLLOW_UP");
    assert_eq!(sent.body["data"]["thing1"]["value"], "您的资料已备好");
    let timeline = rig.sends_on_timeline(lead).await;
    assert!(
        timeline[0].starts_with(&format!("sent template msgid {msgid} (outside_window)")),
        "{timeline:?}"
    );

    // WeChat's own 45015 (the sandbox saw no action, wxtag did) falls back as well.
    let unseen = "oSendFallback002";
    let push = xml::text(unseen, "资料", 77);
    assert_eq!(rig.app.post_event(&push).await.status(), StatusCode::OK);
    let outcome = rig.send(unseen, "fb:2", Some(&template())).await;
    assert!(
        matches!(
            outcome,
            SendOutcome::SentTemplate {
                instead_of: Some(SkipReason::OutsideWindow),
                ..
            }
        ),
        "{outcome:?}"
    );
    assert_eq!(rig.state().calls_to(CUSTOM, "45015"), 1);
}

#[tokio::test]
async fn a_crash_mid_call_is_unknown_and_never_sent_again() {
    let rig = Rig::start().await;
    let lead = "oSendCrash000001";
    rig.act(&xml::text(lead, "资料", 2), lead, Interaction::Message)
        .await;
    // A process reserved the attempt (recorded it as pending) and died before the result.
    let openid = OpenId::parse(lead).unwrap();
    let reserved = rig
        .store
        .reserve_send(&SendRequest {
            openid: &openid,
            attempt: "run-9:step-1",
            channel: SendChannel::Custom,
            fallback: false,
            what: "text 跟进",
            now: rig.app.now(),
            windows: WINDOWS,
        })
        .await
        .unwrap();
    assert_eq!(reserved, Reservation::Custom);

    assert_eq!(
        rig.send(lead, "run-9:step-1", None).await,
        SendOutcome::Unknown
    );
    assert_eq!(
        rig.send(lead, "run-9:step-1", None).await,
        SendOutcome::Unknown
    );
    assert_eq!(rig.calls(CUSTOM), 0, "an unknown attempt is never called");
    let timeline = rig.sends_on_timeline(lead).await;
    assert_eq!(timeline.len(), 1, "{timeline:?}");
    assert!(timeline[0].starts_with("unknown custom"), "{timeline:?}");
    assert!(
        rig.metrics
            .render()
            .contains(r#"wxtag_sends_total{kind="custom",result="unknown"} 1"#)
    );
}

#[tokio::test]
async fn busy_is_retried_then_sent() {
    let rig = Rig::start().await;
    let lead = "oSendBusy0000001";
    rig.act(&xml::text(lead, "资料", 3), lead, Interaction::Message)
        .await;
    rig.sandbox.script_send_errors(&[-1, -1]).unwrap();
    assert_eq!(rig.send(lead, "b:1", None).await, SendOutcome::Sent);
    let state = rig.state();
    assert_eq!(state.calls_to(CUSTOM, "-1"), 2);
    assert_eq!(state.calls_to(CUSTOM, "0"), 1);
}

#[tokio::test]
async fn a_final_refusal_is_recorded_once_and_43019_skips_the_next_send_without_a_call() {
    let rig = Rig::start().await;
    let lead = "oSendBlack000001";
    rig.act(&xml::text(lead, "资料", 4), lead, Interaction::Message)
        .await;
    let openid = OpenId::parse(lead).unwrap();
    rig.sandbox
        .blacklist(std::slice::from_ref(&openid))
        .unwrap();

    let outcome = rig.send(lead, "bl:1", None).await;
    let SendOutcome::Failed(failure) = &outcome else {
        panic!("{outcome:?}");
    };
    assert_eq!(failure.code, Some(43019));
    assert_eq!(rig.calls(CUSTOM), 1, "a final refusal is not retried");
    assert_eq!(
        rig.app.lead(lead).await["blacklisted"]["source"],
        "errcode:43019"
    );
    assert_eq!(
        rig.send(lead, "bl:2", None).await,
        SendOutcome::Skipped(SkipReason::Blacklisted)
    );
    assert_eq!(rig.calls(CUSTOM), 1);

    // WeChat's blacklist, read: a lead on it is skipped before any call.
    let other = "oSendBlack000002";
    rig.act(&xml::text(other, "资料", 5), other, Interaction::Message)
        .await;
    rig.sandbox
        .blacklist(&[OpenId::parse(other).unwrap()])
        .unwrap();
    assert_eq!(
        rig.sender.sync_blacklist(10, rig.app.now()).await.unwrap(),
        1
    );
    assert_eq!(
        rig.send(other, "bl:3", None).await,
        SendOutcome::Skipped(SkipReason::Blacklisted)
    );
    assert_eq!(rig.calls(CUSTOM), 1);
    assert_eq!(
        rig.sender
            .contact_block(&OpenId::parse(other).unwrap())
            .await
            .unwrap(),
        Some(SkipReason::Blacklisted)
    );
}

#[tokio::test]
async fn do_not_contact_by_a_keyword_rule_and_by_the_api_is_honoured() {
    let rig = Rig::start().await;
    let lead = "oSendDnc00000001";
    rig.act(&xml::text(lead, "退订", 6), lead, Interaction::Message)
        .await;
    let shown = rig.app.lead(lead).await;
    assert_eq!(shown["do_not_contact"]["source"], "keyword:退订", "{shown}");
    let cookie = rig.app.session_cookie(ADMIN_TOKEN).await;
    let page = rig
        .app
        .http
        .get(format!("{}/leads/{lead}", rig.app.base))
        .header(reqwest::header::COOKIE, cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("勿联系"), "the lead page shows the mark");
    assert!(page.contains("keyword:退订"), "and who set it");
    assert_eq!(
        rig.send(lead, "d:1", Some(&template())).await,
        SendOutcome::Skipped(SkipReason::DoNotContact)
    );

    let other = "oSendDnc00000002";
    rig.act(&xml::text(other, "资料", 7), other, Interaction::Message)
        .await;
    let path = format!("{}/api/leads/{other}/do_not_contact", rig.app.base);
    let put = rig
        .app
        .http
        .put(&path)
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), StatusCode::OK);
    let body: Value = put.json().await.unwrap();
    assert_eq!(body["do_not_contact"]["source"], "admin:admin");
    assert_eq!(
        rig.send(other, "d:2", None).await,
        SendOutcome::Skipped(SkipReason::DoNotContact)
    );
    assert_eq!(rig.calls(CUSTOM), 0);
    assert_eq!(rig.calls(TEMPLATE), 0);

    let delete = rig
        .app
        .http
        .delete(&path)
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(delete.status(), StatusCode::OK);
    let body: Value = delete.json().await.unwrap();
    assert!(body["do_not_contact"].is_null(), "{body}");
    assert_eq!(rig.send(other, "d:3", None).await, SendOutcome::Sent);

    let unknown = format!("{}/api/leads/oNobody/do_not_contact", rig.app.base);
    let missing = rig
        .app
        .http
        .put(&unknown)
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_subscription_account_never_sends_templates() {
    let rig = Rig::of_kind(AccountKind {
        kind: Kind::Subscription,
        verified: true,
    })
    .await;
    assert!(
        AccountKind {
            kind: Kind::Subscription,
            verified: true
        }
        .can(Feature::Templates)
        .is_err()
    );
    let lead = "oSendKind0000001";
    rig.act(&xml::follow(lead, None), lead, Interaction::Follow)
        .await;
    let later = UnixTime(rig.app.now().0 + 3600);
    assert_eq!(
        rig.send_at(lead, "k:1", Some(&template()), later).await,
        SendOutcome::Skipped(SkipReason::OutsideWindow),
        "no fallback on an account without templates"
    );
    let direct = rig
        .sender
        .send_template(
            &OpenId::parse(lead).unwrap(),
            &template(),
            &AttemptId::parse("k:2").unwrap(),
            rig.app.now(),
            None,
        )
        .await
        .unwrap();
    assert_eq!(
        direct,
        SendOutcome::Skipped(SkipReason::AccountKind(Feature::Templates))
    );
    assert_eq!(rig.calls(TEMPLATE), 0);
    assert!(rig.base.starts_with("http://"));
}
