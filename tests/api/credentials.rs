//! Named credentials with roles, every route behind its guard (from the one route table the
//! app registers from), the account in API paths, the audit hook, and `wxtag token`.

use reqwest::{Method, StatusCode, header, redirect};
use serde_json::Value;
use wxtag::admin::{Gate, Need, route_table};
use wxtag::domain::UnixTime;
use wxtag::store::access::{Credential, Role};
use wxtag::store::{Keys, Store};

use crate::helpers::{ADMIN_TOKEN, APPID, TOKEN, TestApp, xml};

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(redirect::Policy::none())
        .build()
        .unwrap()
}

/// Makes a credential straight in the app's Redis; its token.
pub(crate) async fn credential(
    app: &TestApp,
    name: &str,
    role: Role,
    account: Option<&str>,
) -> String {
    let conn = redis::Client::open(app.redis.url())
        .unwrap()
        .get_connection_manager()
        .await
        .unwrap();
    let store = Store::new(conn, APPID);
    let credential = Credential {
        name: name.to_owned(),
        role,
        account: account.map(str::to_owned),
        created: UnixTime::now().0,
    };
    store.create_credential(&credential).await.unwrap().unwrap()
}

/// The client's method for the app's method name.
fn method(name: &str) -> Method {
    Method::from_bytes(name.as_bytes()).unwrap()
}

/// A concrete path for a route pattern.
fn concrete(pattern: &str) -> String {
    pattern
        .replace("{appid}", APPID)
        .replace("{openid}", "o1")
        .replace("{scene}", "website")
        .replace("{name}", "style.css")
}

async fn call(
    app: &TestApp,
    method: &Method,
    path: &str,
    token: Option<&str>,
) -> reqwest::Response {
    let mut request = client().request(method.clone(), format!("{}{path}", app.base));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if *method == Method::POST {
        request = request
            .header(header::CONTENT_TYPE, "application/json")
            .body(r#"{"add": ["x"]}"#);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn every_admin_route_is_guarded_and_the_public_ones_are_named() {
    let app = TestApp::spawn().await;
    app.post_event(&xml::follow("o1", None)).await;
    let table = route_table();
    let public: Vec<(Method, &str)> = table
        .iter()
        .filter(|r| r.gate == Gate::Public)
        .map(|r| (method(r.method.as_str()), r.path.as_str()))
        .collect();
    assert_eq!(
        public,
        [
            (Method::GET, "/login"),
            (Method::POST, "/login"),
            (Method::POST, "/logout"),
            (Method::GET, "/assets/{name}"),
            (Method::GET, "/l/{token}"),
            (Method::GET, "/oauth/callback"),
            (Method::GET, "/f/{id}"),
            (Method::POST, "/f/{id}"),
        ],
        "the only public admin routes; /wechat, /healthz, /readyz and /metrics are not admin's"
    );
    assert!(table.len() >= 2 * 8 + 10, "the API twice, and the pages");

    for route in &table {
        let path = concrete(&route.path);
        for token in [None, Some("wrong-token-wrong-token")] {
            let response = call(&app, &method(route.method.as_str()), &path, token).await;
            match route.gate {
                Gate::Api(_) => {
                    assert_eq!(
                        response.status(),
                        StatusCode::UNAUTHORIZED,
                        "{} {path}",
                        route.method
                    );
                    assert_eq!(response.text().await.unwrap(), "");
                }
                Gate::Page(_) => {
                    assert_eq!(
                        response.status(),
                        StatusCode::SEE_OTHER,
                        "{} {path}",
                        route.method
                    );
                    let login = response.headers()[header::LOCATION].to_str().unwrap();
                    assert!(
                        login.starts_with("/login"),
                        "{} {path}: {login}",
                        route.method
                    );
                }
                Gate::Public => assert_ne!(response.status(), StatusCode::UNAUTHORIZED),
            }
        }
    }
    let unknown = call(&app, &Method::DELETE, "/api/accounts/wxnope/anything", None).await;
    assert_eq!(
        unknown.status(),
        StatusCode::UNAUTHORIZED,
        "the scope guards unknown paths"
    );
    assert_eq!(
        app.lead("o1").await["tags"],
        serde_json::json!([]),
        "no refused request changed anything"
    );
}

#[tokio::test]
async fn roles_and_accounts_limit_what_a_credential_may_do() {
    let app = TestApp::spawn().await;
    app.post_event(&xml::follow("o1", None)).await;
    let sales = credential(&app, "wang-lei", Role::Sales, None).await;
    let read = credential(&app, "board", Role::Read, Some(APPID)).await;
    let ingest = credential(&app, "crm", Role::Ingest, None).await;
    let elsewhere = credential(&app, "other-account", Role::Admin, Some("wxother")).await;

    let get = Method::GET;
    let post = Method::POST;
    for (token, method, path, status) in [
        (&sales, &get, "/api/leads", StatusCode::OK),
        (&sales, &post, "/api/leads/o1/tags", StatusCode::OK),
        (&sales, &get, "/api/export.csv", StatusCode::FORBIDDEN),
        (&read, &get, "/api/leads/o1", StatusCode::OK),
        (&read, &get, "/api/dead-letters", StatusCode::OK),
        (&read, &post, "/api/leads/o1/tags", StatusCode::FORBIDDEN),
        (&read, &get, "/api/export.csv", StatusCode::FORBIDDEN),
        (&elsewhere, &get, "/api/leads", StatusCode::FORBIDDEN),
        (&elsewhere, &get, "/api/tags", StatusCode::FORBIDDEN),
    ] {
        let response = call(&app, method, path, Some(token)).await;
        assert_eq!(response.status(), status, "{method} {path}");
        if status == StatusCode::FORBIDDEN {
            let error: Value = response.json().await.unwrap();
            assert_eq!(error["error"]["code"], "forbidden");
        }
    }
    for route in route_table() {
        match route.gate {
            Gate::Api(Need::Ingest) => {
                let path = concrete(&route.path);
                let response =
                    call(&app, &method(route.method.as_str()), &path, Some(&ingest)).await;
                let status = response.status();
                assert!(
                    status != StatusCode::FORBIDDEN && status != StatusCode::UNAUTHORIZED,
                    "ingest may: {path} answered {status}"
                );
            }
            Gate::Api(_) => {
                let path = concrete(&route.path);
                let response =
                    call(&app, &method(route.method.as_str()), &path, Some(&ingest)).await;
                assert_eq!(response.status(), StatusCode::FORBIDDEN, "ingest: {path}");
            }
            _ => {}
        }
    }

    let keys = Keys::new(APPID);
    let audit: Vec<String> = redis::cmd("LRANGE")
        .arg(keys.audit())
        .arg(0)
        .arg(-1)
        .query_async(&mut app.redis.conn().await)
        .await
        .unwrap();
    assert_eq!(audit.len(), 1, "one data-changing action: {audit:?}");
    let record: Value = serde_json::from_str(&audit[0]).unwrap();
    assert_eq!(record["who"], "wang-lei");
    assert_eq!(record["what"], "tags.edit");
    assert_eq!(record["target"], "o1");
    let lead = app.lead("o1").await;
    assert!(
        lead["tags"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["name"] == "x")
    );
}

#[tokio::test]
async fn the_dashboard_applies_the_same_roles() {
    let app = TestApp::spawn().await;
    app.post_event(&xml::follow("o1", None)).await;
    let sales = credential(&app, "wang-lei", Role::Sales, None).await;
    let read = credential(&app, "board", Role::Read, None).await;
    let (sales, read) = (
        app.session_cookie(&sales).await,
        app.session_cookie(&read).await,
    );
    let form = |cookie: &str| {
        client()
            .post(format!("{}/leads/o1/tags", app.base))
            .header(header::COOKIE, cookie)
            .form(&[("add", "跟进:王磊")])
            .send()
    };
    let export = |cookie: &str| {
        client()
            .get(format!("{}/export.csv", app.base))
            .header(header::COOKIE, cookie)
            .send()
    };

    assert_eq!(form(&sales).await.unwrap().status(), StatusCode::SEE_OTHER);
    assert_eq!(
        export(&sales).await.unwrap().status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(form(&read).await.unwrap().status(), StatusCode::FORBIDDEN);
    let page = client()
        .get(format!("{}/leads/o1", app.base))
        .header(header::COOKIE, &read)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
}

#[tokio::test]
async fn the_api_answers_under_the_accounts_own_paths_too() {
    let app = TestApp::spawn().await;
    app.post_event(&xml::follow("o1", None)).await;

    let lead = app
        .admin_get(&format!("/api/accounts/{APPID}/leads/o1"))
        .await;
    assert_eq!(lead.status(), StatusCode::OK);
    let lead: Value = lead.json().await.unwrap();
    assert_eq!(lead["openid"], "o1");
    let unknown = app.admin_get("/api/accounts/wxnope/leads/o1").await;
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    let error: Value = unknown.json().await.unwrap();
    assert_eq!(error["error"]["code"], "not_found");
    assert!(error["error"]["message"].as_str().unwrap().contains(APPID));
}

/// `wxtag` with the test app's Redis, account and channels folder.
pub(crate) fn wxtag(app: &TestApp, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_wxtag"))
        .args(args)
        .current_dir(app.channels_dir.path())
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("REDIS_URL", app.redis.url())
        .env("WXTAG_CHANNELS", app.channels_dir.path())
        .env("WECHAT_APPID", APPID)
        .env("WECHAT_APPSECRET", "not-used-by-token")
        .env("WECHAT_TOKEN", TOKEN)
        .output()
        .unwrap()
}

#[tokio::test]
async fn wxtag_token_creates_lists_and_revokes_credentials() {
    let app = TestApp::spawn().await;
    app.post_event(&xml::follow("o1", None)).await;

    let made = wxtag(&app, &["token", "create", "crm-sync", "--role", "read"]);
    assert!(made.status.success(), "{made:?}");
    let token = String::from_utf8(made.stdout).unwrap().trim().to_owned();
    assert_eq!(token.len(), 64, "256 random bits in hex: {token}");
    assert_eq!(
        call(&app, &Method::GET, "/api/leads/o1", Some(&token))
            .await
            .status(),
        StatusCode::OK
    );
    let stored: Vec<String> = redis::cmd("KEYS")
        .arg("*")
        .query_async(&mut app.redis.conn().await)
        .await
        .unwrap();
    let mut conn = app.redis.conn().await;
    for key in &stored {
        let dump: Vec<u8> = redis::cmd("DUMP")
            .arg(key)
            .query_async(&mut conn)
            .await
            .unwrap();
        assert!(
            !String::from_utf8_lossy(&dump).contains(&token),
            "the token itself is not stored ({key})"
        );
    }

    let again = wxtag(&app, &["token", "create", "crm-sync", "--role", "admin"]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("exists"));
    let list = wxtag(&app, &["token", "list"]);
    let listed = String::from_utf8(list.stdout).unwrap();
    let row = listed
        .lines()
        .find(|l| l.starts_with("crm-sync\t"))
        .expect(&listed);
    assert!(
        row.starts_with("crm-sync\tread\t(every account)\t"),
        "{row}"
    );
    assert!(!row.ends_with("never"), "it was used: {row}");

    let wrong = wxtag(&app, &["--account", "wxother", "token", "list"]);
    assert!(!wrong.status.success());
    assert!(String::from_utf8_lossy(&wrong.stderr).contains(APPID));

    let revoked = wxtag(&app, &["token", "revoke", "crm-sync"]);
    assert!(revoked.status.success(), "{revoked:?}");
    assert_eq!(
        call(&app, &Method::GET, "/api/leads/o1", Some(&token))
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        call(&app, &Method::GET, "/api/leads/o1", Some(ADMIN_TOKEN))
            .await
            .status(),
        StatusCode::OK,
        "the built-in admin stays"
    );
}

#[tokio::test]
async fn a_page_the_guard_refuses_is_in_the_requests_language() {
    let app = TestApp::spawn().await;
    app.post_event(&xml::follow("o1", None)).await;
    let read = credential(&app, "board", Role::Read, None).await;
    let read = app.session_cookie(&read).await;

    let refused = client()
        .post(format!("{}/leads/o1/tags?lang=en", app.base))
        .header(header::COOKIE, &read)
        .form(&[("add", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let page = refused.text().await.unwrap();
    assert!(page.contains("may not do this"), "{page}");
    assert!(!page.contains("没有权限"), "{page}");
}
