//! Web authorisation (`WECHAT_OAUTH=base`) over real HTTP, with the sandbox as WeChat: a
//! click goes through the whole redirect chain and is recorded for the clicker; a forward is
//! the clicker's touch and a `forward` on the sender's timeline; a reused code gets one fresh
//! authorisation, then the error page (or, for a link, the destination), never a loop; a
//! tampered state is refused; the cookie's flags; and the start-up refusals.

use std::net::TcpListener;

use reqwest::{StatusCode, header, redirect};
use serde_json::Value;
use wxtag::admin::AdminToken;
use wxtag::domain::UnixTime;
use wxtag::oauth::ReturnPath;
use wxtag::oauth::signed::State;
use wxtag::sandbox::{CODE_TTL, Faults, SandboxHandle};
use wxtag::startup::{AppConfig, Application, StartupError};
use wxtag::store::{Durability, KeyRing, KeySet};

use crate::helpers::{ADMIN_TOKEN, APPID, Spawn, TestApp, TestRedis, Wire, account};
use crate::links::{DESTINATION, PUBLIC, RULES};
use crate::tagging::tag_names;

const SENDER: &str = "oOAuthSender0000000000000001";
const FRIEND: &str = "oOAuthFriend0000000000000001";

/// An app with web authorisation on against a sandbox (also its WeChat API), public at
/// [`PUBLIC`], its clock a minute into an hour.
async fn app() -> (TestApp, SandboxHandle, String) {
    let (sandbox, base) = crate::sync::sandbox(Faults::default());
    let now = UnixTime::now().0;
    let app = TestApp::spawn_with(Spawn {
        channels: vec![("10.toml".into(), RULES.into())],
        public_url: Some(PUBLIC.to_owned()),
        wechat: Some(base.clone()),
        oauth_base: Some(base.clone()),
        clock_offset_secs: 3600 - now.rem_euclid(3600) + 60,
        ..Default::default()
    })
    .await;
    (app, sandbox, base)
}

fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(redirect::Policy::none())
        .build()
        .unwrap()
}

fn location(response: &reqwest::Response) -> String {
    assert_eq!(response.status(), StatusCode::FOUND, "{response:?}");
    response.headers()[header::LOCATION]
        .to_str()
        .unwrap()
        .to_owned()
}

/// The path of the tracked link in `openid`'s reply to `白皮书`.
async fn link_path(app: &TestApp, openid: &str) -> String {
    format!("/l/{}", crate::links::token(app, openid, 1).await)
}

/// `GET` on the app, as a browser that came over https through the local proxy.
async fn get(app: &TestApp, path: &str, cookie: Option<&str>) -> reqwest::Response {
    let mut request = browser()
        .get(format!("{}{path}", app.base))
        .header("x-forwarded-proto", "https");
    if let Some(cookie) = cookie {
        request = request.header(header::COOKIE, cookie);
    }
    request.send().await.unwrap()
}

/// The sandbox's answer to an authorisation URL for a browser whose user is `openid`: the
/// callback path on wxtag (with the code and state).
async fn authorise(authorize_url: &str, openid: &str, unionid: Option<&str>) -> String {
    let url = authorize_url
        .strip_suffix("#wechat_redirect")
        .expect("WeChat's fragment");
    let mut cookie = format!("sandbox_openid={openid}");
    if let Some(unionid) = unionid {
        cookie.push_str(&format!("; sandbox_unionid={unionid}"));
    }
    let answer = browser()
        .get(url)
        .header(header::COOKIE, cookie)
        .send()
        .await
        .unwrap();
    let back = location(&answer);
    back.strip_prefix(PUBLIC)
        .expect("back to wxtag's public URL")
        .to_owned()
}

/// The query parameters of a URL, in order.
fn params(url: &str) -> Vec<(String, String)> {
    let query = url.split_once('?').expect("a query").1;
    let query = query.split('#').next().unwrap();
    url_pairs(query)
}

fn url_pairs(query: &str) -> Vec<(String, String)> {
    actix_web::web::Query::<Vec<(String, String)>>::from_query(query)
        .unwrap()
        .into_inner()
}

/// The `name=value` of a `Set-Cookie` header.
fn cookie_pair(set_cookie: &str) -> String {
    set_cookie.split(';').next().unwrap().to_owned()
}

/// A click on `path` by `openid` from a browser with no cookie, through the whole chain;
/// returns the callback's answer and the identity cookie it set.
async fn click_through(
    app: &TestApp,
    sandbox: &str,
    path: &str,
    openid: &str,
    unionid: Option<&str>,
) -> (String, String) {
    let to_wechat = location(&get(app, path, None).await);
    assert!(
        to_wechat.starts_with(&format!(
            "{sandbox}/connect/oauth2/authorize?appid={APPID}&"
        )),
        "{to_wechat}"
    );
    let callback = authorise(&to_wechat, openid, unionid).await;
    let answer = get(app, &callback, None).await;
    let set_cookie = answer.headers()[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(location(&answer), path, "back to the link at once");
    (callback, cookie_pair(&set_cookie))
}

fn events(lead: &Value, kind: &str) -> Vec<String> {
    lead["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == kind)
        .map(|e| e["detail"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_click_is_identified_through_wechat_and_recorded_for_the_clicker() {
    let (app, _sandbox, _) = app().await;
    let path = link_path(&app, SENDER).await;

    let to_wechat = location(&get(&app, &path, None).await);
    let names: Vec<String> = params(&to_wechat).into_iter().map(|(k, _)| k).collect();
    assert_eq!(
        names,
        ["appid", "redirect_uri", "response_type", "scope", "state"],
        "WeChat's order: {to_wechat}"
    );
    assert!(to_wechat.ends_with("#wechat_redirect"), "{to_wechat}");
    let params = params(&to_wechat);
    assert_eq!(
        params[1].1,
        format!(
            "{PUBLIC}/oauth/callback?to={}",
            percent_encoding::utf8_percent_encode(&path, percent_encoding::NON_ALPHANUMERIC)
        ),
        "the redirect_uri, URL-encoded in the URL"
    );
    assert!(
        !to_wechat.contains("oauth/callback"),
        "redirect_uri is encoded"
    );
    assert_eq!(
        (params[2].1.as_str(), params[3].1.as_str()),
        ("code", "snsapi_base")
    );
    let state = &params[4].1;
    assert!(state.len() <= 128 && state.bytes().all(|b| b.is_ascii_alphanumeric()));
    assert!(
        app.lead(SENDER).await["events"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["kind"] != "link_click"),
        "nothing recorded before the clicker is known"
    );

    let callback = authorise(&to_wechat, SENDER, None).await;
    let answer = get(&app, &callback, None).await;
    assert_eq!(location(&answer), path);
    assert_eq!(answer.headers()[header::CACHE_CONTROL], "no-store");
    let set_cookie = answer.headers()[header::SET_COOKIE].to_str().unwrap();
    let clicked = get(&app, &path, Some(&cookie_pair(set_cookie))).await;
    assert_eq!(location(&clicked), DESTINATION);
    assert_eq!(clicked.headers()[header::REFERRER_POLICY], "no-referrer");

    let lead = app.lead(SENDER).await;
    assert_eq!(events(&lead, "link_click"), ["whitepaper"]);
    assert!(
        tag_names(&lead).contains(&"内容:白皮书".to_owned()),
        "{lead}"
    );
    assert!(events(&lead, "forward").is_empty(), "the lead's own click");
}

#[tokio::test]
async fn a_forward_is_the_clickers_touch_and_a_forward_on_the_senders_timeline() {
    let (app, _sandbox, sandbox) = app().await;
    let path = link_path(&app, SENDER).await;
    let (_, cookie) = click_through(&app, &sandbox, &path, FRIEND, Some("uFriendUnion1")).await;
    for _ in 0..2 {
        assert_eq!(
            location(&get(&app, &path, Some(&cookie)).await),
            DESTINATION
        );
    }

    let friend = app.lead(FRIEND).await;
    assert_eq!(
        events(&friend, "link_click"),
        ["whitepaper"],
        "one touch an hour"
    );
    assert!(
        tag_names(&friend).contains(&"内容:白皮书".to_owned()),
        "{friend}"
    );
    assert_eq!(friend["unionid"], "uFriendUnion1");
    let sender = app.lead(SENDER).await;
    assert_eq!(events(&sender, "forward"), [format!("whitepaper {FRIEND}")]);
    assert!(
        events(&sender, "link_click").is_empty(),
        "no touch for the sender"
    );
    assert!(
        !tag_names(&sender).contains(&"内容:白皮书".to_owned()),
        "{sender}"
    );
    assert_eq!(sender["unionid"], Value::Null);
    let (_, page) = crate::dashboard::page(&app, &format!("/leads/{SENDER}")).await;
    assert!(
        page.contains("转发的链接被他人打开") && page.contains(FRIEND),
        "{page}"
    );
}

#[tokio::test]
async fn a_reused_code_gets_one_fresh_authorisation_then_no_loop() {
    let (app, sandbox_handle, sandbox) = app().await;
    let path = link_path(&app, SENDER).await;
    let (callback, _) = click_through(&app, &sandbox, &path, SENDER, None).await;

    // Back or a refresh submits the used code again: one fresh authorisation.
    let again = location(&get(&app, &callback, None).await);
    assert!(
        again.starts_with(&format!("{sandbox}/connect/oauth2/authorize?")),
        "{again}"
    );
    let second = authorise(&again, SENDER, None).await;
    // The fresh authorisation's code, used twice: the second time no third authorisation,
    // the link's destination (nothing recorded).
    assert_eq!(location(&get(&app, &second, None).await), path);
    let last = get(&app, &second, None).await;
    assert_eq!(
        location(&last),
        DESTINATION,
        "no loop: on to the destination"
    );
    assert!(last.headers().get(header::SET_COOKIE).is_none());

    // A form's path gets the form, marked so it asks no second time.
    let store = app.redis.store().await;
    let key = KeyRing::of(KeySet::OAuth)
        .signing_key(&store)
        .await
        .unwrap();
    let form = ReturnPath::parse("/f/trial").unwrap();
    let state = State {
        key_id: key.id,
        issued: app.now(),
        attempt: 1,
    }
    .sign(&key, &form);
    let code = url_pairs(second.split_once('?').unwrap().1)
        .into_iter()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1;
    let page = get(
        &app,
        &format!("/oauth/callback?to=%2Ff%2Ftrial&code={code}&state={state}"),
        None,
    )
    .await;
    assert_eq!(location(&page), "/f/trial?oauth=failed");

    // An expired code (5 minutes) is refused by WeChat the same way.
    let fresh = location(&get(&app, &path, None).await);
    let late = authorise(&fresh, SENDER, None).await;
    sandbox_handle.advance_clock(CODE_TTL);
    let retried = location(&get(&app, &late, None).await);
    assert!(retried.contains("/connect/oauth2/authorize?"), "{retried}");
    let state = sandbox_handle.state();
    let exchange = "/sns/oauth2/access_token";
    assert_eq!(
        (
            state.calls_to(exchange, "0"),
            state.calls_to(exchange, "40163"),
            state.calls_to(exchange, "40029"),
        ),
        (2, 3, 1)
    );
    assert!(
        events(&app.lead(SENDER).await, "link_click").is_empty(),
        "a click whose clicker was never identified records nothing"
    );
}

#[tokio::test]
async fn a_tampered_state_or_return_path_is_refused_with_a_plain_page() {
    let (app, _sandbox, _) = app().await;
    let path = link_path(&app, SENDER).await;
    let to_wechat = location(&get(&app, &path, None).await);
    let callback = authorise(&to_wechat, SENDER, None).await;
    let pairs = url_pairs(callback.split_once('?').unwrap().1);
    let value = |name: &str| pairs.iter().find(|(k, _)| k == name).unwrap().1.clone();
    let (to, code, state) = (value("to"), value("code"), value("state"));
    let flipped = {
        let mut bytes = state.clone().into_bytes();
        let last = bytes.len() - 1;
        bytes[last] = if bytes[last] == b'0' { b'1' } else { b'0' };
        String::from_utf8(bytes).unwrap()
    };
    let enc = |s: &str| {
        percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
    };
    for bad in [
        format!(
            "/oauth/callback?to={}&code={code}&state={flipped}",
            enc(&to)
        ),
        format!(
            "/oauth/callback?to={}&code={code}&state={state}",
            enc("/l/another.token")
        ),
        format!(
            "/oauth/callback?to={}&code={code}&state={state}",
            enc("https://evil.example/")
        ),
        format!("/oauth/callback?to={}&code={code}", enc(&to)),
    ] {
        let answer = get(&app, &bad, None).await;
        assert_eq!(answer.status(), StatusCode::BAD_REQUEST, "{bad}");
        assert!(answer.headers().get(header::SET_COOKIE).is_none());
        assert!(answer.headers().get(header::LOCATION).is_none());
        let text = answer.text().await.unwrap();
        assert!(
            text.contains("无法确认") && !text.contains("<script"),
            "{text}"
        );
    }
    // The untouched callback still works: the code was never exchanged.
    assert_eq!(location(&get(&app, &callback, None).await), path);
}

#[tokio::test]
async fn the_identity_cookie_is_httponly_lax_short_lived_and_secure_over_https() {
    let (app, _sandbox, _) = app().await;
    let path = link_path(&app, SENDER).await;
    for https in [true, false] {
        let to_wechat = location(&get(&app, &path, None).await);
        let callback = authorise(&to_wechat, FRIEND, None).await;
        let mut request = browser().get(format!("{}{callback}", app.base));
        if https {
            request = request.header("x-forwarded-proto", "https");
        }
        let answer = request.send().await.unwrap();
        let cookie = answer.headers()[header::SET_COOKIE]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(cookie.starts_with("wxtag_id="), "{cookie}");
        let flags: Vec<&str> = cookie.split(';').skip(1).map(str::trim).collect();
        for flag in ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=1800"] {
            assert!(flags.contains(&flag), "{flag} in {cookie}");
        }
        assert_eq!(flags.contains(&"Secure"), https, "{cookie}");
        assert!(!cookie.contains(FRIEND), "the openid is encoded: {cookie}");
    }
    // A cookie whose value was changed is no identity: the browser is sent to WeChat.
    let forged = "wxtag_id=MS4xLm9Tb21lb25lRWxzZS4.AAAA";
    let answer = get(&app, &path, Some(forged)).await;
    assert!(location(&answer).contains("/connect/oauth2/authorize?"));
    // A link that records nothing (a tampered token) skips the authorisation.
    let tampered = format!("{}A", path);
    assert_eq!(location(&get(&app, &tampered, None).await), DESTINATION);
}

#[tokio::test]
async fn web_authorisation_without_a_public_url_stops_start_up() {
    let vars = |extra: &[(&'static str, &'static str)]| {
        let mut all = vec![
            ("WECHAT_OAUTH", "base"),
            ("WECHAT_APPID", APPID),
            ("WECHAT_APPSECRET", "s3cret"),
            ("WECHAT_TOKEN", crate::helpers::TOKEN),
        ];
        all.extend_from_slice(extra);
        wxtag::config::Settings::from_vars(move |name| {
            all.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        })
    };
    let err = vars(&[]).unwrap_err();
    assert_eq!(err.var, "WECHAT_OAUTH");
    assert!(err.problem.contains("WXTAG_PUBLIC_URL"), "{err}");
    let err = vars(&[("WECHAT_OAUTH_BASE", "weixin.qq.com")]).unwrap_err();
    assert_eq!(err.var, "WECHAT_OAUTH_BASE", "{err}");
    assert!(vars(&[("WXTAG_PUBLIC_URL", PUBLIC)]).is_ok());

    wxtag::wechat::api::install_crypto_provider();
    let redis = TestRedis::start().await;
    let channels = tempfile::tempdir().unwrap();
    let built = Application::build(
        AppConfig {
            account: account(Wire::Plain),
            channels_dir: channels.path().to_owned(),
            admin_token: AdminToken::parse(ADMIN_TOKEN).unwrap(),
            trusted_proxies: Default::default(),
            redis_url: redis.url(),
            api_base: "http://127.0.0.1:9".to_owned(),
            sync: None,
            durability: Durability::Relaxed,
            clock: Default::default(),
            history_days: 90,
            public_url: None,
            oauth_base: Some("http://127.0.0.1:9".to_owned()),
            witness: None,
        },
        TcpListener::bind("127.0.0.1:0").unwrap(),
    )
    .await;
    let Err(StartupError::OAuth(why)) = built else {
        panic!("web authorisation without a public URL must not start");
    };
    assert!(why.contains("WXTAG_PUBLIC_URL"), "{why}");
}

/// Runs `wxtag send link <id> --openid <SENDER>` against the app's Redis and rules.
async fn send_link(app: &TestApp, id: &str) -> std::process::Output {
    let mut command = crate::cli::wxtag(app.channels_dir.path());
    command
        .args(["send", "link", id, "--openid", SENDER])
        .env("REDIS_URL", app.redis.url())
        .env("WXTAG_PUBLIC_URL", PUBLIC)
        .env("WXTAG_CHANNELS", app.channels_dir.path())
        // The app's account (its keys are under its AppID).
        .env("WECHAT_APPID", APPID)
        .env("WECHAT_APPSECRET", "unused-here")
        .env("WECHAT_TOKEN", crate::helpers::TOKEN);
    tokio::process::Command::from(command)
        .output()
        .await
        .unwrap()
}

#[tokio::test]
async fn send_link_prints_the_leads_tracked_link_and_a_friend_opening_it_is_a_forward() {
    let (app, _sandbox, sandbox) = app().await;
    let _ = link_path(&app, SENDER).await;
    let out = send_link(&app, "whitepaper").await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let path = stdout
        .trim()
        .strip_prefix(PUBLIC)
        .unwrap_or_else(|| panic!("a tracked link: {stdout}"))
        .to_owned();
    assert!(path.starts_with("/l/"), "{path}");
    let (_, cookie) = click_through(&app, &sandbox, &path, FRIEND, None).await;
    assert_eq!(
        location(&get(&app, &path, Some(&cookie)).await),
        DESTINATION
    );
    assert_eq!(
        events(&app.lead(SENDER).await, "forward"),
        [format!("whitepaper {FRIEND}")]
    );

    let unknown = send_link(&app, "nope").await;
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no [[link]] has id nope"));
}

#[tokio::test]
async fn a_link_channel_survives_the_round_trip_through_wechat() {
    let (app, _sandbox, sandbox) = app().await;
    let path = format!("{}?ch=ad-baidu", link_path(&app, SENDER).await);
    let (_, cookie) = click_through(&app, &sandbox, &path, FRIEND, None).await;
    assert_eq!(
        location(&get(&app, &path, Some(&cookie)).await),
        DESTINATION
    );
    let friend = app.lead(FRIEND).await;
    assert_eq!(friend["first_channel"], "ad-baidu", "{friend}");
    assert!(
        tag_names(&friend).contains(&"来源:百度".to_owned()),
        "{friend}"
    );
    assert_eq!(
        friend["subscribed"],
        Value::Null,
        "first seen outside the chat"
    );
}

/// An app with web authorisation on, the forms tests' rules, and a sandbox whose token
/// exchange fails when `faulty` (every code is refused).
async fn form_app() -> (TestApp, SandboxHandle, String) {
    let (sandbox, base) = crate::sync::sandbox(Faults::default());
    let app = TestApp::spawn_with(Spawn {
        channels: vec![("10.toml".into(), crate::forms::RULES.into())],
        public_url: Some(crate::forms::PUBLIC.to_owned()),
        wechat: Some(base.clone()),
        oauth_base: Some(base.clone()),
        ..Default::default()
    })
    .await;
    (app, sandbox, base)
}

#[tokio::test]
async fn with_oauth_a_forwarded_form_lands_on_the_clicker_never_on_the_token_lead() {
    let (app, _sandbox, base) = form_app().await;
    let path = crate::forms::form_link(&app, SENDER, 1).await;
    // The friend's browser: web authorisation first, back to the form with the cookie.
    let (_, cookie) = click_through(&app, &base, &path, FRIEND, Some("oUnionFriend001")).await;
    let page = get(&app, &path, Some(&cookie)).await;
    assert_eq!(page.status(), StatusCode::OK);
    let page = page.text().await.unwrap();
    let filled = crate::forms::filled(&page, "赵六", "13900000006");
    let posted = browser()
        .post(format!("{}/f/trial", app.base))
        .header(header::COOKIE, &cookie)
        .form(&filled)
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), StatusCode::OK);
    let friend = app.lead(FRIEND).await;
    assert_eq!(
        friend["fields"]["mobile"]["value"], "13900000006",
        "{friend}"
    );
    assert_eq!(friend["fields"]["mobile"]["identity"], "oauth");
    assert_eq!(friend["unionid"], "oUnionFriend001");
    assert_eq!(friend["subscribed"], Value::Null, "a form proves no follow");
    assert!(tag_names(&friend).contains(&"意向:试用".to_owned()));
    let sender = app.lead(SENDER).await;
    assert!(
        sender["fields"].as_object().is_none_or(|f| f.is_empty()),
        "{sender}"
    );
}

#[tokio::test]
async fn a_form_whose_authorisation_fails_is_served_once_without_it_never_in_a_loop() {
    let (app, _sandbox, base) = form_app().await;
    let path = crate::forms::form_link(&app, SENDER, 1).await;
    let to_wechat = location(&get(&app, &path, None).await);
    let callback = authorise(&to_wechat, FRIEND, None).await;
    // The code is used once by this callback…
    let first = get(&app, &callback, None).await;
    assert_eq!(location(&first), path);
    // …and a second use of it (Back, a refresh) gets one fresh authorisation,
    let again = location(&get(&app, &callback, None).await);
    assert!(
        again.starts_with(&format!("{base}/connect/oauth2/authorize")),
        "{again}"
    );
    let retried = authorise(&again, FRIEND, None).await;
    // whose code, reused once more after its own use, ends the tries: the form, marked.
    let _ = get(&app, &retried, None).await;
    let served = location(&get(&app, &retried, None).await);
    assert_eq!(served, format!("{path}&oauth=failed"));
    let page = get(&app, &served, None).await;
    assert_eq!(
        page.status(),
        StatusCode::OK,
        "the form, not another authorisation"
    );
    assert!(page.text().await.unwrap().contains("wx.csrf"));
}
