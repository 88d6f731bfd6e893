//! A real browser against the dashboard: headless Chromium, driven through chromedriver,
//! logs in, sees the channel chart, opens a lead and its tags, adds a tag and sees it appear,
//! then checks the pages fit a phone; a marketer builds a segment with the builder's
//! buttons, previews, saves and bulk-tags it; and a lead fills in a form at phone width, and
//! sales see its fields on the lead page. Screenshots at desktop and phone width are saved under
//! `target/screenshots/` for a person to look at.
//!
//! Needs Debian's `chromium` and `chromium-driver` (`scripts/test` installs them).

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Value, json};
use wxtag::domain::UnixTime;
use wxtag::store::Keys;

use crate::helpers::{ADMIN_TOKEN, APPID, Spawn, TestApp, eventually, xml};

const DAY: i64 = 86_400;

/// A chromedriver this test started, in its own process group; the group (chromedriver and
/// the browsers it started) is ended when this is dropped.
struct Chromedriver {
    child: Child,
    url: String,
    profile: tempfile::TempDir,
}

impl Drop for Chromedriver {
    fn drop(&mut self) {
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill")
            .args(["-TERM", "--", &group])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// The first `name` on PATH.
fn on_path(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(name))
        .find(|path| path.is_file())
}

impl Chromedriver {
    /// Starts chromedriver on a free port and waits until it is ready.
    async fn start() -> Self {
        let binary = on_path("chromedriver").expect(
            "chromedriver is not on PATH: install Debian's chromium and chromium-driver \
             (scripts/test does)",
        );
        let http = reqwest::Client::new();
        for _ in 0..5 {
            let port = free_port();
            let mut child = Command::new(&binary)
                .arg(format!("--port={port}"))
                .process_group(0)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("chromedriver starts");
            let url = format!("http://127.0.0.1:{port}");
            let ready = eventually(Duration::from_secs(20), || {
                let exited = matches!(child.try_wait(), Ok(Some(_)));
                let status = http.get(format!("{url}/status")).send();
                async move {
                    if exited {
                        return Some(false);
                    }
                    let body: Value = status.await.ok()?.json().await.ok()?;
                    body["value"]["ready"].as_bool().filter(|ready| *ready)
                }
            })
            .await;
            let driver = Self {
                child,
                url,
                profile: tempfile::tempdir().expect("a profile dir"),
            };
            if ready {
                return driver;
            }
        }
        panic!("chromedriver did not start");
    }

    /// A fresh headless Chromium session with its own profile.
    async fn browser(&self) -> Client {
        let mut options = json!({
            "args": [
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                "--disable-dev-shm-usage",
                "--lang=zh-CN",
                "--accept-lang=zh-CN",
                "--window-size=1280,1000",
                format!("--user-data-dir={}", self.profile.path().display()),
            ],
        });
        if let Some(chromium) = on_path("chromium") {
            options["binary"] = json!(chromium);
        }
        let mut capabilities = serde_json::Map::new();
        capabilities.insert("goog:chromeOptions".to_owned(), options);
        ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities)
            .connect(&self.url)
            .await
            .expect("a browser session")
    }
}

/// Where screenshots go: `target/screenshots/`.
fn screenshots() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("the target tmp dir is inside the target dir")
        .join("screenshots");
    std::fs::create_dir_all(&dir).expect("the screenshot dir");
    dir
}

async fn screenshot(browser: &Client, name: &str) {
    let png = browser.screenshot().await.expect("a screenshot");
    std::fs::write(screenshots().join(name), png).expect("the screenshot is saved");
}

/// A week of traffic through the example channels, and one lead with a story.
async fn seed(app: &TestApp) {
    let now = UnixTime::now().0;
    let traffic: [(&str, i64, usize); 7] = [
        ("expo-2026", 6, 3),
        ("expo-2026", 5, 5),
        ("website", 5, 1),
        ("website", 3, 2),
        ("1001", 2, 2),
        ("sales-wanglei", 1, 1),
        ("ad-spring-2026", 0, 2),
    ];
    for (scene, days_ago, count) in traffic {
        for n in 0..count {
            let openid = format!("oDemo_{scene}_{days_ago}_{n}");
            let at = now - days_ago * DAY;
            app.post_event(&xml::follow_at(&openid, Some(scene), at))
                .await;
        }
    }
    app.post_event(&xml::follow_at("oDemo_organic", None, now - 4 * DAY))
        .await;
    app.post_event(&xml::unfollow("oDemo_website_3_1")).await;

    let lead = "oZK7u2gfYjqLzSIWZf0rsLead1";
    app.post_event(&xml::follow_at(lead, Some("expo-2026"), now - 2 * DAY))
        .await;
    app.post_event(&xml::scan(lead, "website")).await;
    app.post_event(&xml::click(lead, "MENU_PRODUCT_A")).await;
    app.post_event(&xml::view(lead, "https://example.com/cases/auto-welding"))
        .await;
    app.post_event(&xml::text(lead, "S7-1200 的报价多少?", 42))
        .await;

    // What the sync worker would have recorded.
    let keys = Keys::new(APPID);
    let mut redis = app.redis.conn().await;
    let _: () = redis::pipe()
        .hset(keys.wechat_tag_ids(), "来源:展会", 101)
        .hset(keys.wechat_tag_ids(), "活动:工博会2026", 102)
        .hset(keys.wechat_tag_ids(), "来源:官网", 103)
        .hset(
            keys.unsynced_tags(),
            "活动:春季投放2026",
            "the account already has 100 tags; delete unused tags in the WeChat console",
        )
        .lpush(
            keys.dead_letters(),
            json!({"openid": "oDemo_1001_2_0", "tag": "来源:产品手册", "op": "add",
                   "errcode": 45159, "error": "invalid tag name", "at": now})
            .to_string(),
        )
        .query_async(&mut redis)
        .await
        .expect("the sync state is seeded");
}

/// True when the page is no wider than the window (nothing scrolls sideways).
async fn fits_width(browser: &Client) -> bool {
    browser
        .execute(
            "return document.documentElement.scrollWidth <= window.innerWidth;",
            vec![],
        )
        .await
        .expect("the script runs")
        .as_bool()
        .unwrap_or(false)
}

/// At phone width, opens each page: nothing may scroll sideways; each is saved as a
/// screenshot by the name beside it.
async fn at_phone_width(browser: &Client, app: &TestApp, pages: &[(&str, &str)]) {
    browser.set_window_size(390, 1400).await.unwrap();
    for (path, name) in pages {
        browser.goto(&format!("{}{path}", app.base)).await.unwrap();
        browser
            .wait()
            .for_element(Locator::Css("main h1"))
            .await
            .unwrap();
        assert!(fits_width(browser).await, "{path} is wider than a phone");
        screenshot(browser, name).await;
    }
}

/// Logs in through the form, from a logged-out browser; the first page is the login's.
async fn login(browser: &Client, app: &TestApp) {
    browser.goto(&format!("{}/", app.base)).await.unwrap();
    let token = browser
        .wait()
        .for_element(Locator::Css("input#token"))
        .await
        .expect("the login form");
    assert_eq!(browser.current_url().await.unwrap().path(), "/login");
    screenshot(browser, "01-login.png").await;
    token.send_keys(ADMIN_TOKEN).await.unwrap();
    browser
        .find(Locator::Css(".login button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    browser
        .wait()
        .for_element(Locator::Css("header nav"))
        .await
        .expect("logged in");
}

/// Clicks the element `css` finds.
async fn click(browser: &Client, css: &str) {
    browser
        .wait()
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .click()
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"));
}

/// Types `text` into the (emptied) input `css` finds.
async fn type_into(browser: &Client, css: &str, text: &str) {
    let input = browser
        .wait()
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"));
    input.clear().await.unwrap();
    input.send_keys(text).await.unwrap();
}

/// Picks the option `value` of the select `css` finds.
async fn choose(browser: &Client, css: &str, value: &str) {
    browser
        .wait()
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .select_by_value(value)
        .await
        .unwrap_or_else(|e| panic!("{css} = {value}: {e}"));
}

/// The text of the element `css` finds.
async fn text(browser: &Client, css: &str) -> String {
    browser
        .wait()
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .text()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_marketer_builds_a_segment_previews_saves_and_tags_it_in_a_real_browser() {
    let app = TestApp::spawn_with(Spawn::shipped_channels()).await;
    seed(&app).await;
    // Interested in PLC: the story lead, two from the expo, one from the website, one from
    // an ad; one of the expo's is a customer already.
    for openid in [
        "oDemo_expo-2026_5_0",
        "oDemo_expo-2026_5_1",
        "oDemo_website_3_0",
        "oDemo_ad-spring-2026_0_0",
    ] {
        app.post_event(&xml::click(openid, "MENU_PRODUCT_A")).await;
    }
    let customer = app
        .http
        .post(format!("{}/api/leads/oDemo_expo-2026_5_1/tags", app.base))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"add": ["客户"]}))
        .send()
        .await
        .unwrap();
    assert!(customer.status().is_success());
    let members = [
        "oZK7u2gfYjqLzSIWZf0rsLead1",
        "oDemo_expo-2026_5_0",
        "oDemo_website_3_0",
    ];
    let driver = Chromedriver::start().await;
    let browser = driver.browser().await;
    login(&browser, &app).await;
    click(&browser, "header nav a[href='/segments']").await;
    click(&browser, "#new-segment").await;

    // "Followed through the expo or the website, interested in PLC, not yet a customer,
    // active in the last 30 days", built with the form's own buttons.
    type_into(&browser, "input[name='v.r-0']", "兴趣:PLC").await;
    click(&browser, "button[value='group:r']").await;
    choose(&browser, "select[name='k.r-1-0']", "channel").await;
    type_into(&browser, "input[name='v.r-1-0']", "expo-2026").await;
    click(&browser, "button[value='add:r-1']").await;
    choose(&browser, "select[name='k.r-1-1']", "channel").await;
    type_into(&browser, "input[name='v.r-1-1']", "website").await;
    click(&browser, "button[value='group:r']").await;
    choose(&browser, "select[name='k.r-2']", "none").await;
    type_into(&browser, "input[name='v.r-2-0']", "客户").await;
    click(&browser, "button[value='add:r']").await;
    choose(&browser, "select[name='k.r-3']", "last_seen_within_days").await;
    click(&browser, "#preview").await;
    type_into(&browser, "input[name='d.r-3']", "30").await;
    click(&browser, "#preview").await;
    let count = text(&browser, "#preview-count").await;
    assert_eq!(count, "3 位线索");
    let profile = text(&browser, "#profile").await;
    assert!(
        profile.contains("兴趣:PLC") && profile.contains("100%"),
        "{profile}"
    );
    screenshot(&browser, "11-segment-builder.png").await;

    type_into(&browser, "#segment-name", "展会官网 PLC 活跃").await;
    click(&browser, "#save").await;
    let size = text(&browser, "#segment-members").await;
    assert!(size.starts_with("3 位线索"), "{size}");
    let listed = text(&browser, "#members").await;
    for member in members {
        assert!(listed.contains(member), "{member} in {listed}");
    }
    browser
        .find(Locator::Css("svg#trend-chart"))
        .await
        .expect("the 30-day trend");
    screenshot(&browser, "12-segment.png").await;

    // Bulk tagging: the dry run first, then the job, watched until it is done.
    type_into(&browser, "#bulk input[name=add]", "活动:回访").await;
    click(&browser, "#dry-run").await;
    assert_eq!(text(&browser, "#dry-leads").await, "3");
    assert_eq!(text(&browser, "#dry-changes").await, "3");
    screenshot(&browser, "13-segment-dry-run.png").await;
    click(&browser, "#confirm-bulk").await;
    eventually(Duration::from_secs(30), || async {
        let state = browser.find(Locator::Css("#job-state")).await.ok()?;
        (state.text().await.ok()? == "已完成").then_some(())
    })
    .await;
    for member in members {
        let tags = app.lead(member).await["tags"].to_string();
        assert!(
            tags.contains("segment:展会官网 PLC 活跃"),
            "{member}: {tags}"
        );
    }

    at_phone_width(
        &browser,
        &app,
        &[
            ("/build", "14-phone-builder.png"),
            ("/segments", "15-phone-segments.png"),
        ],
    )
    .await;
    browser.close().await.unwrap();
}

#[tokio::test]
async fn a_marketer_and_a_sales_person_use_the_dashboard_in_a_real_browser() {
    let app = TestApp::spawn_with(Spawn::shipped_channels()).await;
    seed(&app).await;
    let driver = Chromedriver::start().await;
    let browser = driver.browser().await;
    let lead = "oZK7u2gfYjqLzSIWZf0rsLead1";

    login(&browser, &app).await;

    // The marketer: which channel brought the most leads?
    browser
        .wait()
        .for_element(Locator::Css("svg#chart"))
        .await
        .expect("the channel chart");
    let bars = browser
        .find_all(Locator::Css("svg#chart rect.bar"))
        .await
        .unwrap();
    assert!(
        bars.len() >= 6,
        "one bar per channel and day: {}",
        bars.len()
    );
    let best = browser
        .find(Locator::Css("#best strong"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(best.starts_with("2026 工博会展台"), "{best}");
    screenshot(&browser, "02-channels.png").await;

    // The sales person finds the lead and sees why it has each tag.
    browser
        .find(Locator::Css("header nav a[href='/leads']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    browser
        .wait()
        .for_element(Locator::Css(&format!("a[href='/leads/{lead}']")))
        .await
        .expect("the lead in the list")
        .click()
        .await
        .unwrap();
    let tags = browser
        .wait()
        .for_element(Locator::Css("section#tags"))
        .await
        .expect("the lead's tags");
    let text = tags.text().await.unwrap();
    for shown in [
        "兴趣:PLC",
        "菜单点击",
        "意向:询价",
        "关键词",
        "兴趣:客户案例",
    ] {
        assert!(text.contains(shown), "{shown} missing in {text}");
    }
    screenshot(&browser, "03-lead.png").await;

    // … and adds a tag of their own.
    browser
        .find(Locator::Css("#add-tag input[name=add]"))
        .await
        .unwrap()
        .send_keys("跟进:王磊")
        .await
        .unwrap();
    browser
        .find(Locator::Css("#add-tag button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let added = browser
        .wait()
        .for_element(Locator::XPath(
            "//section[@id='tags']//tr[.//a[normalize-space()='跟进:王磊']]",
        ))
        .await
        .expect("the new tag appears");
    assert!(added.text().await.unwrap().contains("销售添加"));
    screenshot(&browser, "04-tag-added.png").await;

    browser.goto(&format!("{}/tags", app.base)).await.unwrap();
    browser
        .wait()
        .for_element(Locator::Css("#tag-bars svg.hbar"))
        .await
        .expect("the tag bars");
    let dead = browser
        .find(Locator::Css("#dead-letters"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        dead.contains("45159") && dead.contains("来源:产品手册"),
        "{dead}"
    );
    screenshot(&browser, "05-tags.png").await;

    // At phone width nothing scrolls sideways.
    let lead_page = format!("/leads/{lead}");
    at_phone_width(
        &browser,
        &app,
        &[
            ("/", "06-phone-channels.png"),
            (&lead_page, "07-phone-lead.png"),
            ("/leads", "08-phone-leads.png"),
            ("/tags", "09-phone-tags.png"),
            ("/preview", "10-phone-preview.png"),
        ],
    )
    .await;

    // Logging out leads back to the login form.
    browser
        .find(Locator::Css("form.logout button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    browser
        .wait()
        .for_element(Locator::Css("input#token"))
        .await
        .expect("the login form again");
    browser.goto(&format!("{}/tags", app.base)).await.unwrap();
    browser
        .wait()
        .for_element(Locator::Css("input#token"))
        .await
        .expect("logged out for good");
    browser.close().await.unwrap();
}

#[tokio::test]
async fn a_lead_fills_in_a_form_at_phone_width_and_sales_see_the_fields() {
    use crate::forms::{LEAD, PUBLIC, RULES, THANKS, form_link};
    let app = TestApp::spawn_with(Spawn {
        channels: vec![("10.toml".into(), RULES.into())],
        public_url: Some(PUBLIC.to_owned()),
        ..Default::default()
    })
    .await;
    let path = form_link(&app, LEAD, 1).await;
    let driver = Chromedriver::start().await;
    let browser = driver.browser().await;
    browser.set_window_size(390, 1000).await.unwrap();
    browser.goto(&format!("{}{path}", app.base)).await.unwrap();
    type_into(&browser, "#f-name", "Li Lei").await;
    type_into(&browser, "#f-mobile", "13800138000").await;
    choose(&browser, "#f-product", "伺服").await;
    click(&browser, "input[name='wx.consent']").await;
    assert!(fits_width(&browser).await, "the form is wider than a phone");
    screenshot(&browser, "30-phone-form.png").await;
    click(&browser, "#leadform button[type=submit]").await;
    assert_eq!(text(&browser, "#note").await, THANKS);
    screenshot(&browser, "31-phone-form-thanks.png").await;

    login(&browser, &app).await;
    browser
        .goto(&format!("{}/leads/{LEAD}", app.base))
        .await
        .unwrap();
    let fields = text(&browser, "#fields").await;
    assert!(
        fields.contains("13800138000") && fields.contains("Li Lei"),
        "{fields}"
    );
    browser.close().await.unwrap();
}
