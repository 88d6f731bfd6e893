//! Lead forms over real HTTP and Redis: a reply's `{form:ID}` is the lead's own form URL;
//! the page is never pre-filled and carries the consent text and a honeypot; a valid
//! submission lands on the lead as fields, a `form` touch and tags; invalid ones come back
//! with messages and store nothing; a missing CSRF token, a filled honeypot, too many a
//! minute and a body over 16 KiB are refused with no effect; a double submit is one; a
//! forwarded link submitted with another phone is a separate contact; the funnel counts it.

use reqwest::{StatusCode, header};
use serde_json::Value;
use wxtag::wechat::reply::Reply;

use std::time::Duration;

use crate::helpers::{Spawn, TestApp, eventually, xml};
use crate::tagging::{source_of, tag_names};

pub(crate) const PUBLIC: &str = "https://wx.example.test";
pub(crate) const LEAD: &str = "oFormLead00000000000000000001";
const CONSENT: &str = "我同意智控自动化收集我的姓名和手机号，仅用于联系我安排试用。";
pub(crate) const THANKS: &str = "提交成功，我们会在一个工作日内联系您。";

pub(crate) const RULES: &str = r#"
[[qr]]
scene = "expo"
name = "展会"
tags = ["来源:展会"]

[[form]]
id = "trial"
title = "申请试用"
consent = "我同意智控自动化收集我的姓名和手机号，仅用于联系我安排试用。"
tags = ["意向:试用"]
tag_from_field = { product = "兴趣:{}" }
thanks = "提交成功，我们会在一个工作日内联系您。"
fields = [
  { name = "name", label = "姓名", kind = "text", required = true },
  { name = "mobile", label = "手机号", kind = "mobile", required = true },
  { name = "email", label = "邮箱", kind = "email" },
  { name = "product", label = "感兴趣的产品", kind = "select", required = true, options = ["PLC", "伺服"] },
  { name = "note", label = "备注", kind = "textarea" },
]

[[keyword]]
text = "试用"
reply = "请填写试用申请：{form:trial}"

[[keyword]]
text = "申请"
news = [{ title = "申请试用", url = "form:trial" }]

[[rule]]
name = "填过试用表"
tags = ["意向:留资"]
when = { count = ["form:trial"], within_days = 30, at_least = 1 }
"#;

async fn app(public: bool) -> TestApp {
    TestApp::spawn_with(Spawn {
        channels: vec![("10.toml".into(), RULES.into())],
        public_url: public.then(|| PUBLIC.to_owned()),
        ..Default::default()
    })
    .await
}

/// The path and query of the form link in `openid`'s reply to `试用`.
pub(crate) async fn form_link(app: &TestApp, openid: &str, msg_id: u64) -> String {
    let reply = app
        .reply_to(&xml::text(openid, "试用", msg_id))
        .await
        .expect("a reply");
    let Reply::Text(text) = Reply::parse_xml(&reply).unwrap().0 else {
        panic!("a text reply");
    };
    let at = text.find(PUBLIC).expect("a form link in the reply");
    let path = text[at + PUBLIC.len()..].to_owned();
    assert!(path.starts_with("/f/trial?t="), "{path}");
    path
}

/// `GET` of a form page: its status and body.
async fn open(app: &TestApp, path: &str) -> (StatusCode, String) {
    let response = app
        .http
        .get(format!("{}{path}", app.base))
        .send()
        .await
        .unwrap();
    let status = response.status();
    assert_eq!(response.headers()[header::REFERRER_POLICY], "no-referrer");
    assert_eq!(response.headers()[header::CACHE_CONTROL], "no-store");
    (status, response.text().await.unwrap())
}

/// The value of the hidden input `name` on a page.
pub(crate) fn hidden(page: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let at = page
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} in {page}"))
        + marker.len();
    page[at..].split('"').next().unwrap().to_owned()
}

/// A valid submission of the page `page` with this name and mobile number.
pub(crate) fn filled(page: &str, name: &str, mobile: &str) -> Vec<(String, String)> {
    [
        ("wx.csrf", hidden(page, "wx.csrf")),
        ("wx.t", hidden(page, "wx.t")),
        ("wx.ch", hidden(page, "wx.ch")),
        ("wx.website", String::new()),
        ("name", name.to_owned()),
        ("mobile", mobile.to_owned()),
        ("email", "li@example.com".to_owned()),
        ("product", "伺服".to_owned()),
        ("note", "想了解交期".to_owned()),
        ("wx.consent", "1".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

/// `POST /f/trial`: its status and body.
async fn post(app: &TestApp, form: &[(String, String)]) -> (StatusCode, String) {
    let response = app
        .http
        .post(format!("{}/f/trial", app.base))
        .form(form)
        .send()
        .await
        .unwrap();
    (response.status(), response.text().await.unwrap())
}

/// Sets the input `name` of a submission.
fn with(mut form: Vec<(String, String)>, name: &str, value: &str) -> Vec<(String, String)> {
    form.retain(|(k, _)| k != name);
    form.push((name.to_owned(), value.to_owned()));
    form
}

async fn contacts(app: &TestApp) -> Vec<Value> {
    let body: Value = app.admin_get("/api/contacts").await.json().await.unwrap();
    body["contacts"].as_array().unwrap().clone()
}

fn form_events(lead: &Value) -> usize {
    lead["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "form" && e["detail"] == "trial")
        .count()
}

#[tokio::test]
async fn the_page_is_empty_with_the_consent_text_and_a_honeypot_even_after_a_submission() {
    let app = app(true).await;
    let link = form_link(&app, LEAD, 1).await;
    let (status, page) = open(&app, &link).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains(CONSENT), "{page}");
    assert!(page.contains(r#"name="wx.consent""#) && page.contains("required"));
    assert!(page.contains(r#"name="wx.website""#), "a honeypot");
    assert!(!page.contains("<script"), "no JavaScript");
    assert!(!hidden(&page, "wx.csrf").is_empty());
    assert!(
        page.contains(r#"name="mobile" type="tel" inputmode="numeric" autocomplete="tel" maxlength="11" value="""#),
        "an empty mobile input: {page}"
    );

    let (status, _) = post(&app, &filled(&page, "李雷", "13800138000")).await;
    assert_eq!(status, StatusCode::OK);
    // The same link (a forward carries it) opens an empty form: nothing from the lead.
    let (_, again) = open(&app, &link).await;
    assert!(
        !again.contains("13800138000") && !again.contains("李雷"),
        "{again}"
    );
}

#[tokio::test]
async fn a_valid_submission_lands_on_the_lead_with_its_touch_tags_and_timeline() {
    let app = app(true).await;
    let link = form_link(&app, LEAD, 1).await;
    let (_, page) = open(&app, &link).await;
    let (status, thanks) = post(&app, &filled(&page, "李雷", "13800138000")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(thanks.contains(THANKS), "{thanks}");

    let lead = app.lead(LEAD).await;
    let mobile = &lead["fields"]["mobile"];
    assert_eq!(mobile["value"], "13800138000", "{lead}");
    assert_eq!(mobile["form"], "trial");
    assert_eq!(mobile["identity"], "link");
    assert!(mobile["at"].as_str().unwrap().ends_with("+08:00"));
    assert_eq!(lead["fields"]["note"]["value"], "想了解交期");
    let tags = tag_names(&lead);
    assert!(tags.contains(&"意向:试用".to_owned()), "{tags:?}");
    assert!(
        tags.contains(&"兴趣:伺服".to_owned()),
        "tag_from_field: {tags:?}"
    );
    assert!(
        !tags.contains(&"兴趣:PLC".to_owned()),
        "only the chosen value: {tags:?}"
    );
    assert_eq!(source_of(&lead, "意向:试用"), "form:trial");
    assert_eq!(source_of(&lead, "兴趣:伺服"), "form:trial");
    assert_eq!(form_events(&lead), 1, "{lead}");
    // The touch counts in the rules over time: the scheduler derives the rule tag.
    eventually(Duration::from_secs(40), || async {
        let lead = app.lead(LEAD).await;
        tag_names(&lead)
            .contains(&"意向:留资".to_owned())
            .then_some(())
    })
    .await;

    let contacts = contacts(&app).await;
    assert_eq!(contacts.len(), 1);
    let c = &contacts[0];
    assert_eq!(c["attached"], true);
    assert_eq!(c["lead"], LEAD);
    assert_eq!(c["identity"], "link");
    assert_eq!(c["consent_hash"].as_str().unwrap().len(), 64);
    assert_eq!(
        c["consent"], CONSENT,
        "the text agreed to, kept with the submission"
    );
    assert_eq!(c["fields"]["product"], "伺服");

    // The export has the fields as one JSON column.
    let csv = app.admin_get("/api/export.csv").await.text().await.unwrap();
    let row = csv.lines().find(|l| l.starts_with(LEAD)).unwrap();
    assert!(
        row.contains(r#"""mobile"":{""value"":""13800138000"""#),
        "{row}"
    );

    // The lead page shows them, and says the submitter was known by the link.
    let (_, lead_page) = crate::dashboard::page(&app, &format!("/leads/{LEAD}")).await;
    assert!(lead_page.contains("留资信息") && lead_page.contains("13800138000"));
    assert!(lead_page.contains("经表单链接识别") && lead_page.contains("提交表单"));
}

#[tokio::test]
async fn invalid_fields_come_back_with_messages_and_nothing_is_stored() {
    let app = app(true).await;
    let link = form_link(&app, LEAD, 1).await;
    let (_, page) = open(&app, &link).await;
    let bad = filled(&page, "", "12345");
    let bad = with(bad, "email", "not-an-address");
    let bad = with(bad, "product", "马达");
    let bad: Vec<_> = bad.into_iter().filter(|(k, _)| k != "wx.consent").collect();
    let (status, again) = post(&app, &bad).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    for message in [
        "请填写姓名",
        "请输入正确的手机号码",
        "请输入正确的电子邮箱",
        "请从选项中选择感兴趣的产品",
        "请阅读并勾选同意个人信息授权说明",
    ] {
        assert!(again.contains(message), "{message} in {again}");
    }
    assert!(
        again.contains(r#"value="not-an-address""#),
        "what was typed stays"
    );

    let too_long = filled(&page, &"长".repeat(101), "13800138000");
    let (status, again) = post(&app, &too_long).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(again.contains("姓名最多 100 个字"), "{again}");

    let lead = app.lead(LEAD).await;
    assert_eq!(lead["fields"], serde_json::json!({}), "{lead}");
    assert_eq!(form_events(&lead), 0);
    assert!(contacts(&app).await.is_empty());
}

#[tokio::test]
async fn a_missing_csrf_token_or_a_filled_honeypot_is_refused_with_no_effect() {
    let app = app(true).await;
    let link = form_link(&app, LEAD, 1).await;
    let (_, page) = open(&app, &link).await;
    let good = filled(&page, "李雷", "13800138000");

    let missing: Vec<_> = good
        .iter()
        .filter(|(k, _)| k != "wx.csrf")
        .cloned()
        .collect();
    assert_eq!(post(&app, &missing).await.0, StatusCode::FORBIDDEN);
    let csrf = hidden(&page, "wx.csrf");
    // Another last character (a 32-byte MAC's last base64 character is one of A Q g w).
    let other = if csrf.ends_with('A') { 'Q' } else { 'A' };
    let forged = with(
        good.clone(),
        "wx.csrf",
        &format!("{}{other}", &csrf[..csrf.len() - 1]),
    );
    assert_eq!(post(&app, &forged).await.0, StatusCode::FORBIDDEN);
    let honeypot = with(good, "wx.website", "http://spam.example");
    assert_eq!(post(&app, &honeypot).await.0, StatusCode::BAD_REQUEST);

    assert!(contacts(&app).await.is_empty());
    let lead = app.lead(LEAD).await;
    assert_eq!(lead["fields"], serde_json::json!({}));
    assert!(!tag_names(&lead).contains(&"意向:试用".to_owned()));
}

#[tokio::test]
async fn more_than_ten_a_minute_from_one_address_are_refused() {
    let app = app(true).await;
    let (_, page) = open(&app, "/f/trial").await;
    let incomplete = filled(&page, "", "13800138000");
    for _ in 0..10 {
        assert_eq!(
            post(&app, &incomplete).await.0,
            StatusCode::UNPROCESSABLE_ENTITY
        );
    }
    let (status, body) = post(&app, &filled(&page, "李雷", "13800138000")).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert!(body.contains("提交过于频繁"), "{body}");
    assert!(contacts(&app).await.is_empty());
}

#[tokio::test]
async fn a_body_over_16_kib_is_413() {
    let app = app(true).await;
    let (_, page) = open(&app, "/f/trial").await;
    let big = with(
        filled(&page, "李雷", "13800138000"),
        "note",
        &"x".repeat(17 * 1024),
    );
    assert_eq!(post(&app, &big).await.0, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(contacts(&app).await.is_empty());
}

#[tokio::test]
async fn a_double_submit_is_one_submission() {
    let app = app(true).await;
    let link = form_link(&app, LEAD, 1).await;
    let (_, page) = open(&app, &link).await;
    let form = filled(&page, "李雷", "13800138000");
    for _ in 0..2 {
        let (status, body) = post(&app, &form).await;
        assert_eq!(status, StatusCode::OK);
        assert!(body.contains(THANKS));
    }
    assert_eq!(contacts(&app).await.len(), 1);
    assert_eq!(form_events(&app.lead(LEAD).await), 1);
}

#[tokio::test]
async fn a_forward_with_another_phone_is_a_separate_contact() {
    let app = app(true).await;
    let link = form_link(&app, LEAD, 1).await;
    let (_, page) = open(&app, &link).await;
    assert_eq!(
        post(&app, &filled(&page, "李雷", "13800138000")).await.0,
        StatusCode::OK
    );

    // A colleague opens the forwarded link and submits their own details.
    let (_, forwarded) = open(&app, &link).await;
    let theirs = filled(&forwarded, "韩梅梅", "13900139000");
    assert_eq!(post(&app, &theirs).await.0, StatusCode::OK);
    let lead = app.lead(LEAD).await;
    assert_eq!(
        lead["fields"]["mobile"]["value"], "13800138000",
        "not overwritten"
    );
    assert_eq!(lead["fields"]["name"]["value"], "李雷");
    assert_eq!(form_events(&lead), 1);
    let all = contacts(&app).await;
    assert_eq!(all.len(), 2);
    assert_eq!(all[0]["attached"], false, "newest first: the forward");
    assert_eq!(all[0]["lead"], LEAD, "whose link it was");
    assert_eq!(all[0]["fields"]["mobile"], "13900139000");

    // The lead again, with the same phone and name: it lands on the lead.
    let (_, mine) = open(&app, &link).await;
    let mine = with(filled(&mine, "李雷", "13800138000"), "note", "改为下周");
    assert_eq!(post(&app, &mine).await.0, StatusCode::OK);
    let lead = app.lead(LEAD).await;
    assert_eq!(lead["fields"]["note"]["value"], "改为下周");
    assert_eq!(form_events(&lead), 2);
}

#[tokio::test]
async fn without_a_token_the_submission_is_a_contact_only() {
    let app = app(true).await;
    let (_, page) = open(&app, "/f/trial").await;
    assert_eq!(
        post(&app, &filled(&page, "李雷", "13800138000")).await.0,
        StatusCode::OK
    );
    let all = contacts(&app).await;
    assert_eq!(all.len(), 1);
    assert_eq!(all[0]["attached"], false);
    assert_eq!(all[0]["identity"], "none");
    assert_eq!(all[0]["lead"], Value::Null);
    assert_eq!(app.lead_count().await, 0, "no lead from an anonymous form");

    let (status, _) = open(&app, "/f/nope").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_funnel_counts_the_leads_that_submitted_and_ch_names_the_channel() {
    let app = app(true).await;
    let other = "oFormLead00000000000000000002";
    app.post_event(&xml::follow(LEAD, Some("expo"))).await;
    app.post_event(&xml::follow(other, Some("expo"))).await;
    let funnel = &app.channel_report("expo").await["funnel"];
    assert_eq!(
        (funnel["new"].as_u64(), funnel["form"].as_u64()),
        (Some(2), Some(0))
    );

    let link = form_link(&app, LEAD, 1).await;
    let (_, page) = open(&app, &link).await;
    assert_eq!(
        post(&app, &filled(&page, "李雷", "13800138000")).await.0,
        StatusCode::OK
    );
    let funnel = &app.channel_report("expo").await["funnel"];
    assert_eq!(
        (funnel["new"].as_u64(), funnel["form"].as_u64()),
        (Some(2), Some(1))
    );

    // A lead first seen by a message opens the form through ?ch=expo: the touch counts there.
    let third = "oFormLead00000000000000000003";
    let link = form_link(&app, third, 2).await;
    let (_, page) = open(&app, &format!("{link}&ch=expo")).await;
    assert_eq!(hidden(&page, "wx.ch"), "expo");
    assert_eq!(
        post(&app, &filled(&page, "王五", "13700137000")).await.0,
        StatusCode::OK
    );
    let lead = app.lead(third).await;
    assert!(
        lead["channels"]
            .as_array()
            .unwrap()
            .contains(&Value::from("expo")),
        "{lead}"
    );
}

#[tokio::test]
async fn news_articles_carry_the_form_url_and_without_a_public_url_no_form_link_is_sent() {
    let app = app(true).await;
    let reply = app.reply_to(&xml::text(LEAD, "申请", 1)).await.unwrap();
    let Reply::News(articles) = Reply::parse_xml(&reply).unwrap().0 else {
        panic!("a news reply");
    };
    assert!(
        articles[0].url.starts_with(&format!("{PUBLIC}/f/trial?t=")),
        "{}",
        articles[0].url
    );

    let app = self::app(false).await;
    let reply = app.reply_to(&xml::text(LEAD, "试用", 1)).await.unwrap();
    let Reply::Text(text) = Reply::parse_xml(&reply).unwrap().0 else {
        panic!("a text reply");
    };
    assert_eq!(text, "请填写试用申请：");
}
