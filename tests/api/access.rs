//! Access to the dashboard and the API over HTTP: sessions that logout revokes, a bearer-only
//! API, the Origin check, the login limiter behind trusted and untrusted peers, and QR codes
//! made once per code, not once per download.

use std::net::{IpAddr, TcpListener};

use reqwest::{Response, StatusCode, header, redirect};
use wxtag::sandbox::{SandboxConfig, SandboxHandle};
use wxtag::wechat::api::AppSecret;

use crate::helpers::{ADMIN_TOKEN, APPID, Spawn, TestApp, xml};

/// A client that shows redirects and keeps no cookies; from `local` when given (any
/// 127.0.0.0/8 address is this machine, but only 127.0.0.1 is a trusted proxy by default).
fn client_from(local: Option<IpAddr>) -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(redirect::Policy::none())
        .local_address(local)
        .build()
        .unwrap()
}

fn client() -> reqwest::Client {
    client_from(None)
}

fn set_cookie(response: &Response) -> Option<String> {
    response
        .headers()
        .get(header::SET_COOKIE)
        .map(|v| v.to_str().unwrap().to_owned())
}

fn location(response: &Response) -> &str {
    response
        .headers()
        .get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

async fn log_in(app: &TestApp, token: &str) -> String {
    app.session_cookie(token).await
}

async fn get_with_cookie(app: &TestApp, path: &str, cookie: &str) -> Response {
    client()
        .get(format!("{}{path}", app.base))
        .header(header::COOKIE, cookie)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn the_session_cookie_is_a_short_lived_id_not_the_token() {
    let app = TestApp::spawn().await;
    let login = client()
        .post(format!("{}/login", app.base))
        .form(&[("token", ADMIN_TOKEN)])
        .send()
        .await
        .unwrap();
    let cookie = set_cookie(&login).unwrap();

    assert!(!cookie.contains(ADMIN_TOKEN), "{cookie}");
    let max_age: i64 = cookie
        .split("Max-Age=")
        .nth(1)
        .and_then(|rest| rest.split(';').next())
        .and_then(|age| age.parse().ok())
        .expect("a Max-Age");
    assert!(max_age <= 12 * 3600, "a working day, not a week: {max_age}");
    let forged = format!("wxtag_session={ADMIN_TOKEN}");
    let page = get_with_cookie(&app, "/", &forged).await;
    assert_eq!(
        page.status(),
        StatusCode::SEE_OTHER,
        "the token is no cookie"
    );
}

#[tokio::test]
async fn logout_revokes_the_session_on_the_server() {
    let app = TestApp::spawn().await;
    let cookie = log_in(&app, ADMIN_TOKEN).await;
    assert_eq!(
        get_with_cookie(&app, "/", &cookie).await.status(),
        StatusCode::OK
    );

    let logout = client()
        .post(format!("{}/logout", app.base))
        .header(header::COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), StatusCode::SEE_OTHER);

    let after = get_with_cookie(&app, "/", &cookie).await;
    assert_eq!(
        after.status(),
        StatusCode::SEE_OTHER,
        "a copy of the old cookie no longer works"
    );
    assert_eq!(location(&after), "/login");
}

#[tokio::test]
async fn the_api_takes_bearer_tokens_only_not_the_session_cookie() {
    let app = TestApp::spawn().await;
    app.post_event(&xml::follow("o1", None)).await;
    let cookie = log_in(&app, ADMIN_TOKEN).await;

    for path in ["/api/leads", "/api/leads/o1", "/api/export.csv"] {
        let api = get_with_cookie(&app, path, &cookie).await;
        assert_eq!(api.status(), StatusCode::UNAUTHORIZED, "{path}");
    }
    let export = get_with_cookie(&app, "/export.csv", &cookie).await;
    assert_eq!(
        export.status(),
        StatusCode::OK,
        "the dashboard's own export"
    );
    let body = get_with_cookie(&app, "/", &cookie)
        .await
        .text()
        .await
        .unwrap();
    assert!(
        body.contains(r#"href="/export.csv""#),
        "the page links it: {body}"
    );
}

#[tokio::test]
async fn a_form_posted_from_another_origin_is_refused_without_sec_fetch_site() {
    let app = TestApp::spawn_with(Spawn::shipped_channels()).await;
    app.post_event(&xml::follow("o1", None)).await;
    let cookie = log_in(&app, ADMIN_TOKEN).await;
    let post = |origin: Option<(&'static str, String)>| {
        let mut request = client()
            .post(format!("{}/leads/o1/tags", app.base))
            .header(header::COOKIE, &cookie)
            .form(&[("add", "跟进:王磊")]);
        if let Some((name, value)) = origin {
            request = request.header(name, value);
        }
        request.send()
    };

    let evil = post(Some(("origin", "http://evil.example".to_owned())))
        .await
        .unwrap();
    assert_eq!(evil.status(), StatusCode::FORBIDDEN);
    let evil_referer = post(Some(("referer", "http://evil.example/x".to_owned())))
        .await
        .unwrap();
    assert_eq!(evil_referer.status(), StatusCode::FORBIDDEN);
    assert_eq!(app.lead("o1").await["tags"].as_array().unwrap().len(), 1);

    let own = post(Some(("origin", app.base.clone()))).await.unwrap();
    assert_eq!(own.status(), StatusCode::SEE_OTHER, "our own page's form");
    assert_eq!(app.lead("o1").await["tags"].as_array().unwrap().len(), 2);
}

async fn attempt(
    http: &reqwest::Client,
    app: &TestApp,
    forwarded_for: &str,
    token: &str,
) -> StatusCode {
    http.post(format!("{}/login", app.base))
        .header("x-forwarded-for", forwarded_for)
        .form(&[("token", token)])
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn login_attempts_are_limited_per_client_behind_a_trusted_proxy() {
    let app = TestApp::spawn().await;
    let proxy = client(); // 127.0.0.1: a trusted proxy by default

    for _ in 0..10 {
        let status = attempt(&proxy, &app, "203.0.113.1", "wrong-token-wrong-token").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let limited = attempt(&proxy, &app, "203.0.113.1", ADMIN_TOKEN).await;
    assert_eq!(
        limited,
        StatusCode::TOO_MANY_REQUESTS,
        "the 11th attempt this minute, even with the right token"
    );
    let other = attempt(&proxy, &app, "198.51.100.1, 203.0.113.2", ADMIN_TOKEN).await;
    assert_eq!(
        other,
        StatusCode::SEE_OTHER,
        "another client behind the same proxy (the rightmost untrusted hop) is not limited"
    );
}

#[tokio::test]
async fn an_untrusted_peer_cannot_dodge_the_limit_or_claim_https_with_forwarding_headers() {
    let app = TestApp::spawn().await;
    let untrusted = client_from(Some("127.0.0.2".parse().unwrap()));

    for i in 0..10 {
        let status = attempt(
            &untrusted,
            &app,
            &format!("203.0.113.{i}"),
            "wrong-token-wrong-token",
        )
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let limited = attempt(&untrusted, &app, "192.0.2.77", ADMIN_TOKEN).await;
    assert_eq!(
        limited,
        StatusCode::TOO_MANY_REQUESTS,
        "its forwarding header is ignored: the peer itself is limited"
    );

    let claims_https = client_from(Some("127.0.0.3".parse().unwrap()))
        .post(format!("{}/login", app.base))
        .header("x-forwarded-proto", "https")
        .form(&[("token", ADMIN_TOKEN)])
        .send()
        .await
        .unwrap();
    assert!(!set_cookie(&claims_https).unwrap().contains("Secure"));
    let trusted_https = client()
        .post(format!("{}/login", app.base))
        .header("x-forwarded-proto", "https")
        .form(&[("token", ADMIN_TOKEN)])
        .send()
        .await
        .unwrap();
    assert!(set_cookie(&trusted_https).unwrap().contains("Secure"));
}

#[tokio::test]
async fn a_channel_qr_png_makes_one_wechat_code_not_one_per_download() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let sandbox = SandboxHandle::new(SandboxConfig {
        appid: APPID.to_owned(),
        secret: AppSecret::new(wxtag::sandbox::DEFAULT_SECRET),
        ..SandboxConfig::default()
    });
    tokio::spawn(sandbox.serve(listener).unwrap());
    let app = TestApp::spawn_with(Spawn {
        wechat: Some(base),
        ..Spawn::shipped_channels()
    })
    .await;

    for scene in ["website", "website", "ad-spring-2026", "ad-spring-2026"] {
        let png = app
            .admin_get(&format!("/api/channels/{scene}/qr.png"))
            .await;
        assert_eq!(png.status(), StatusCode::OK, "{scene}");
        assert!(png.bytes().await.unwrap().starts_with(b"\x89PNG"));
    }

    let codes = sandbox.state().qrcodes;
    let made: Vec<(&str, &str)> = codes
        .iter()
        .map(|c| (c.scene.as_str(), c.action_name.as_str()))
        .collect();
    assert_eq!(
        made,
        [
            ("website", "QR_LIMIT_STR_SCENE"),
            ("ad-spring-2026", "QR_STR_SCENE")
        ],
        "one permanent and one 30-day code, each made once"
    );
}

#[tokio::test]
async fn the_login_page_and_the_navigation_come_in_english_when_asked() {
    let app = TestApp::spawn_with(Spawn::shipped_channels()).await;
    app.post_event(&xml::follow("o1", None)).await;

    let login = client()
        .get(format!("{}/login?lang=en", app.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        login.contains(r#"<html lang="en">"#) && login.contains("Log in"),
        "{login}"
    );
    assert!(!login.contains("管理令牌"));

    let cookie = log_in(&app, ADMIN_TOKEN).await;
    let page = client()
        .get(format!("{}/leads", app.base))
        .header(header::COOKIE, &cookie)
        .header(header::ACCEPT_LANGUAGE, "en-GB,en;q=0.9")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for label in ["Channels", "Leads", "Tags", "Export CSV", "Log out"] {
        assert!(page.contains(label), "{label} missing");
    }
    let chinese = get_with_cookie(&app, "/leads", &cookie)
        .await
        .text()
        .await
        .unwrap();
    assert!(chinese.contains(r#"<html lang="zh-CN">"#) && chinese.contains(">线索<"));
}
