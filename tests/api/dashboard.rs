//! The dashboard over HTTP: login, the cookie and logout; what the pages show and escape;
//! sales' tag form; the CSV export; and the API's JSON errors for malformed requests.

use futures_util::{StreamExt, stream};
use reqwest::{Response, StatusCode, header, redirect};
use serde_json::Value;
use wxtag::store::Keys;

use crate::helpers::{ADMIN_TOKEN, APPID, Spawn, TestApp, xml};

/// An app with the shipped example rules.
async fn app() -> TestApp {
    TestApp::spawn_with(Spawn::shipped_channels()).await
}

/// A browser-like client that shows redirects instead of following them and keeps no
/// cookies: each test passes the cookie it means to.
fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(redirect::Policy::none())
        .build()
        .unwrap()
}

/// The `Cookie` header a browser sends once logged in with the admin token.
async fn logged_in(app: &TestApp) -> String {
    app.session_cookie(ADMIN_TOKEN).await
}

fn location(response: &Response) -> &str {
    response
        .headers()
        .get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

fn set_cookie(response: &Response) -> Option<String> {
    response
        .headers()
        .get(header::SET_COOKIE)
        .map(|v| v.to_str().unwrap().to_owned())
}

/// A dashboard page as the logged-in admin sees it: its status and body.
pub(crate) async fn page(app: &TestApp, path: &str) -> (StatusCode, String) {
    let response = client()
        .get(format!("{}{path}", app.base))
        .header(header::COOKIE, logged_in(app).await)
        .send()
        .await
        .unwrap();
    (response.status(), response.text().await.unwrap())
}

pub(crate) async fn post_form(app: &TestApp, path: &str, form: &[(&str, &str)]) -> Response {
    client()
        .post(format!("{}{path}", app.base))
        .header(header::COOKIE, logged_in(app).await)
        .form(form)
        .send()
        .await
        .unwrap()
}

async fn api_edit_tags(app: &TestApp, openid: &str, add: &[&str], remove: &[&str]) {
    let response = app
        .http
        .post(format!("{}/api/leads/{openid}/tags", app.base))
        .bearer_auth(ADMIN_TOKEN)
        .json(&serde_json::json!({ "add": add, "remove": remove }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn pages_send_a_logged_out_browser_to_login_and_back() {
    let app = TestApp::spawn().await;
    let http = client();

    let root = http.get(format!("{}/", app.base)).send().await.unwrap();
    assert_eq!(root.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&root), "/login");
    let deep = http
        .get(format!("{}/leads?tag=兴趣:PLC", app.base))
        .send()
        .await
        .unwrap();
    let login = location(&deep);
    assert_eq!(
        login, "/login?next=/leads%3Ftag%3D%25E5%2585%25B4%25E8%25B6%25A3%3APLC",
        "the page asked for, as one query value"
    );

    let form = http
        .get(format!("{}{login}", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), StatusCode::OK);
    let body = form.text().await.unwrap();
    assert!(body.contains("登录"));
    assert!(
        body.contains(r#"name="next" value="/leads?tag=%E5%85%B4%E8%B6%A3:PLC""#),
        "the form carries the page back: {body}"
    );
}

#[tokio::test]
async fn login_sets_an_httponly_strict_cookie_that_opens_pages_and_the_api() {
    let app = TestApp::spawn().await;

    let login = client()
        .post(format!("{}/login", app.base))
        .form(&[("token", ADMIN_TOKEN), ("next", "/tags")])
        .send()
        .await
        .unwrap();

    assert_eq!(login.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&login), "/tags");
    let cookie = set_cookie(&login).expect("a login cookie");
    assert!(cookie.starts_with("wxtag_session="), "{cookie}");
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age="] {
        assert!(
            cookie.contains(attribute),
            "{attribute} missing in {cookie}"
        );
    }
    assert!(!cookie.contains("Secure"), "plain http: no Secure flag");

    let (status, body) = page(&app, "/").await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("<html lang=\"zh-CN\">") && body.contains("渠道"));
    let api = client()
        .get(format!("{}/api/leads", app.base))
        .header(header::COOKIE, logged_in(&app).await)
        .send()
        .await
        .unwrap();
    assert_eq!(
        api.status(),
        StatusCode::UNAUTHORIZED,
        "the API takes bearer tokens only (issue 8)"
    );

    let https = client()
        .post(format!("{}/login", app.base))
        .header("x-forwarded-proto", "https")
        .form(&[("token", ADMIN_TOKEN)])
        .send()
        .await
        .unwrap();
    assert!(set_cookie(&https).unwrap().contains("Secure"));
}

#[tokio::test]
async fn a_wrong_token_is_refused_everywhere() {
    let app = TestApp::spawn().await;
    app.post_event(&xml::follow("o1", None)).await;

    let login = client()
        .post(format!("{}/login", app.base))
        .form(&[("token", "wrong-token-wrong-token"), ("next", "/")])
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), StatusCode::UNAUTHORIZED);
    assert!(set_cookie(&login).is_none());
    assert!(login.text().await.unwrap().contains("令牌不正确"));

    let forged = "wxtag_session=wrong-token-wrong-token";
    let page = client()
        .get(format!("{}/leads/o1", app.base))
        .header(header::COOKIE, forged)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::SEE_OTHER);
    assert!(location(&page).starts_with("/login"));
    let api = client()
        .get(format!("{}/api/leads/o1", app.base))
        .header(header::COOKIE, forged)
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(api.text().await.unwrap(), "", "nothing else is said");
}

#[tokio::test]
async fn logout_clears_the_cookie_and_login_never_leaves_the_site() {
    let app = TestApp::spawn().await;

    let logout = post_form(&app, "/logout", &[]).await;
    assert_eq!(logout.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&logout), "/login");
    let cleared = set_cookie(&logout).expect("a removal cookie");
    assert!(cleared.starts_with("wxtag_session=;"), "{cleared}");
    assert!(cleared.contains("Max-Age=0") && cleared.contains("Path=/"));

    for away in [
        "//evil.example/",
        "https://evil.example/",
        "/\\evil.example",
    ] {
        let login = client()
            .post(format!("{}/login", app.base))
            .form(&[("token", ADMIN_TOKEN), ("next", away)])
            .send()
            .await
            .unwrap();
        assert_eq!(location(&login), "/", "{away}");
    }
}

#[tokio::test]
async fn pages_escape_what_sales_and_followers_typed() {
    let app = app().await;
    app.post_event(&xml::follow("o1", Some("expo-2026"))).await;
    app.post_event(&xml::text("o1", "<img src=x onerror=alert(2)>", 1))
        .await;
    api_edit_tags(&app, "o1", &["<script>alert(1)</script>"], &[]).await;

    for path in [
        "/leads/o1",
        "/leads",
        "/tags",
        "/leads?tag=%3Cscript%3Ealert(1)%3C%2Fscript%3E",
    ] {
        let (status, body) = page(&app, path).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert!(!body.contains("<script>alert"), "{path} runs the tag");
        assert!(!body.contains("<img src=x"), "{path} runs the message");
        assert!(
            body.contains("&#60;script&#62;alert(1)"),
            "{path} shows the tag"
        );
    }
    let (_, lead) = page(&app, "/leads/o1").await;
    assert!(lead.contains("&#60;img src=x onerror=alert(2)&#62;"));
}

#[tokio::test]
async fn a_lead_page_says_where_the_lead_came_from_and_why_it_has_each_tag() {
    let app = app().await;
    app.post_event(&xml::follow("o1", Some("expo-2026"))).await;
    app.post_event(&xml::scan("o1", "website")).await;
    app.post_event(&xml::click("o1", "MENU_PRODUCT_A")).await;
    app.post_event(&xml::text("o1", "请问报价多少", 7)).await;

    let (status, body) = page(&app, "/leads/o1").await;

    assert_eq!(status, StatusCode::OK);
    let first = body.split("id=\"first-channel\">").nth(1).unwrap();
    assert!(first.starts_with("2026 工博会展台"), "{first}");
    let path = body.split("id=\"path\">").nth(1).unwrap();
    assert!(path.find("工博会").unwrap() < path.find("官网页脚").unwrap());
    for shown in [
        "兴趣:PLC",
        "菜单点击</span> MENU_PRODUCT_A",
        "意向:询价",
        "关键词</span> 报价",
        "渠道二维码</span> 2026 工博会展台",
        "来源:官网",
        "扫码",
        "请问报价多少",
    ] {
        assert!(body.contains(shown), "{shown} missing");
    }

    let (status, body) = page(&app, "/leads/nobody").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body.contains("没有 openid 为 nobody 的线索"));
}

#[tokio::test]
async fn sales_add_and_remove_their_own_tags_with_the_form() {
    let app = app().await;
    app.post_event(&xml::follow("o1", None)).await;

    let added = post_form(&app, "/leads/o1/tags", &[("add", " 跟进:王磊 ")]).await;
    assert_eq!(added.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&added), "/leads/o1#tags");
    let lead = app.lead("o1").await;
    let tag = lead["tags"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "跟进:王磊")
        .expect("the tag was added");
    assert_eq!(tag["source"], "admin");
    let (_, body) = page(&app, "/leads/o1").await;
    assert!(body.contains("销售添加") && body.contains(r#"name="remove" value="跟进:王磊""#));
    assert!(
        !body.contains(r#"name="remove" value="来源:自然关注""#),
        "rule tags are not sales' to remove"
    );

    let removed = post_form(&app, "/leads/o1/tags", &[("remove", "跟进:王磊")]).await;
    assert_eq!(removed.status(), StatusCode::SEE_OTHER);
    let names: Vec<Value> = app.lead("o1").await["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].clone())
        .collect();
    assert_eq!(names, ["来源:自然关注"]);

    let too_long = "长".repeat(31);
    let refused = post_form(&app, "/leads/o1/tags", &[("add", &too_long)]).await;
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    assert!(refused.text().await.unwrap().contains("标签名不对"));

    let cross_site = client()
        .post(format!("{}/leads/o1/tags", app.base))
        .header(header::COOKIE, logged_in(&app).await)
        .header("sec-fetch-site", "cross-site")
        .form(&[("add", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(cross_site.status(), StatusCode::FORBIDDEN);
    assert_eq!(app.lead("o1").await["tags"].as_array().unwrap().len(), 1);

    let expired = client()
        .post(format!("{}/leads/o1/tags", app.base))
        .form(&[("add", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(location(&expired), "/login?next=/leads/o1/tags");
    let back = client()
        .get(format!("{}/leads/o1/tags", app.base))
        .header(header::COOKIE, logged_in(&app).await)
        .send()
        .await
        .unwrap();
    assert_eq!(
        location(&back),
        "/leads/o1#tags",
        "after logging in again: the lead's tags"
    );
}

#[tokio::test]
async fn the_channels_page_names_the_channel_that_brought_the_most_leads() {
    let app = app().await;
    for openid in ["o1", "o2"] {
        app.post_event(&xml::follow(openid, Some("website"))).await;
    }
    app.post_event(&xml::follow("o3", Some("expo-2026"))).await;
    app.post_event(&xml::unfollow("o3")).await;

    let (status, body) = page(&app, "/").await;

    assert_eq!(status, StatusCode::OK);
    assert!(
        body.contains("新线索最多的渠道是 <strong>官网页脚</strong>"),
        "{body}"
    );
    let table = body.split("id=\"channels\"").nth(1).unwrap();
    assert!(table.find("官网页脚").unwrap() < table.find("工博会").unwrap());
    assert!(
        body.contains(r#"<rect class="bar c0""#),
        "the chart has bars"
    );
    assert!(body.contains(r#"href="/channels/website/qr.png" download="qr-website.png""#));
    assert!(
        body.contains("<th>合计</th><td>3</td><td>3</td><td>0</td><td>1</td><td>2</td>"),
        "totals: 3 leads, 3 follows, 0 scans, 1 unfollow, net 2"
    );

    let (status, body) = page(&app, "/?from=2026-13-01").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("日期不对") && body.contains("id=\"chart\""));
}

#[tokio::test]
async fn the_tags_page_shows_counts_sync_state_and_dead_letters() {
    let app = app().await;
    app.post_event(&xml::follow("o1", Some("expo-2026"))).await;
    app.post_event(&xml::follow("o2", Some("website"))).await;
    let keys = Keys::new(APPID);
    let mut redis = app.redis.conn().await;
    let _: () = redis::pipe()
        .hset(keys.wechat_tag_ids(), "来源:展会", 101)
        .hset(
            keys.unsynced_tags(),
            "来源:官网",
            "the account already has 100 tags",
        )
        .sadd(keys.external_tags(), "老客户")
        .lpush(
            keys.dead_letters(),
            r#"{"openid":"o1","tag":"来源:展会","op":"add","errcode":45159,"error":"invalid tag <b>","at":1714112445}"#,
        )
        .query_async(&mut redis)
        .await
        .unwrap();

    let (status, body) = page(&app, "/tags").await;

    assert_eq!(status, StatusCode::OK);
    for shown in [
        "已同步",
        "ID 101",
        "无法同步",
        "the account already has 100 tags",
        "待同步",
        "老客户",
        "微信后台创建",
        "45159",
        "invalid tag &#60;b&#62;",
        "2024-04-26 14:20",
        r#"<rect width="100""#,
    ] {
        assert!(body.contains(shown), "{shown} missing");
    }
}

#[tokio::test]
async fn assets_are_served_by_wxtag_with_a_validator() {
    let app = TestApp::spawn().await;
    let css = client()
        .get(format!("{}/assets/style.css", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(css.status(), StatusCode::OK);
    assert!(
        css.headers()[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/css")
    );
    let etag = css.headers()[header::ETAG].clone();
    assert!(css.text().await.unwrap().contains(".chart"));
    let again = client()
        .get(format!("{}/assets/style.css", app.base))
        .header(header::IF_NONE_MATCH, etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    let missing = client()
        .get(format!("{}/assets/nope.js", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_export_streams_every_lead_as_csv_with_a_bom() {
    let app = app().await;
    let leads = 203; // more than one page of 200
    stream::iter(0..leads)
        .for_each_concurrent(16, |i| {
            let app = &app;
            async move {
                let scene = if i % 2 == 0 { "expo-2026" } else { "website" };
                let response = app
                    .post_event(&xml::follow(&format!("o{i}"), Some(scene)))
                    .await;
                assert_eq!(response.status(), StatusCode::OK);
            }
        })
        .await;
    app.post_event(&xml::follow("-x", None)).await;
    api_edit_tags(
        &app,
        "-x",
        &["=HYPERLINK(\"x\")", "a,b"],
        &["来源:自然关注"],
    )
    .await;

    let unauthorized = client()
        .get(format!("{}/api/export.csv", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(unauthorized.status(), StatusCode::UNAUTHORIZED);
    let response = app.admin_get("/api/export.csv").await;

    assert_eq!(response.status(), StatusCode::OK);
    let headers = response.headers().clone();
    assert_eq!(headers[header::CONTENT_TYPE], "text/csv; charset=utf-8");
    assert!(
        headers[header::CONTENT_DISPOSITION]
            .to_str()
            .unwrap()
            .starts_with("attachment; filename=\"wxtag-leads-")
    );
    let bytes = response.bytes().await.unwrap();
    assert_eq!(&bytes[..3], b"\xEF\xBB\xBF", "a UTF-8 byte-order mark");
    let text = std::str::from_utf8(&bytes[3..]).unwrap();
    let lines: Vec<&str> = text.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert_eq!(
        lines[0],
        "openid,subscribed,first_channel,channels,tags,first_seen,last_seen,fields,external_id"
    );
    assert_eq!(lines.len(), 2 + leads, "every lead once");
    let mut openids: Vec<&str> = lines[1..]
        .iter()
        .map(|l| l.split(',').next().unwrap())
        .collect();
    openids.sort();
    openids.dedup();
    assert_eq!(openids.len(), 1 + leads, "no lead twice");
    let o0 = lines.iter().find(|l| l.starts_with("o0,")).unwrap();
    assert!(
        o0.starts_with("o0,true,expo-2026,expo-2026,来源:展会;活动:工博会2026,2"),
        "{o0}"
    );
    assert!(
        o0.ends_with("+08:00,{},"),
        "times in China time, no fields, no external id: {o0}"
    );
    let formula = lines.iter().find(|l| l.starts_with("'-x,")).unwrap();
    assert!(
        formula.starts_with("'-x,true,,,\"'=HYPERLINK(\"\"x\"\");a,b\",2"),
        "formulas are shown as text, commas quoted: {formula}"
    );
}

#[tokio::test]
async fn malformed_api_requests_get_the_json_error_shape() {
    let app = TestApp::spawn().await;
    app.post_event(&xml::follow("o1", None)).await;

    let query = app.admin_get("/api/leads?subscribed=maybe").await;
    let body = app
        .http
        .post(format!("{}/api/leads/o1/tags", app.base))
        .bearer_auth(ADMIN_TOKEN)
        .header(header::CONTENT_TYPE, "application/json")
        .body("{\"add\": 5}")
        .send()
        .await
        .unwrap();

    for response in [query, body] {
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let error: Value = response.json().await.unwrap();
        assert_eq!(error["error"]["code"], "bad_request", "{error}");
        assert!(error["error"]["message"].as_str().unwrap().len() > 5);
    }
}
