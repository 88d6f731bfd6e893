//! The flow outside the chat end to end, with the shipped `channels/`: a new lead sends 试用,
//! opens the white paper's tracked link and the trial form from the reply, fills the form in,
//! and the lead shows the fields, the `link` and `form` touches and the tags they caused; a
//! CRM then posts orders and the lead's tier by order amount moves with them.

use reqwest::{StatusCode, redirect};
use serde_json::{Value, json};
use wxtag::wechat::reply::Reply;

use crate::events::post_events;
use crate::forms::hidden;
use crate::helpers::{Spawn, TestApp, xml};
use crate::tagging::tag_names;

const PUBLIC: &str = "https://wx.example.test";
const LEAD: &str = "oOutsideFlow00000000000000001";

/// The URLs under [`PUBLIC`] in a text reply, as paths.
fn paths(reply: &str) -> Vec<String> {
    let Reply::Text(text) = Reply::parse_xml(reply).unwrap().0 else {
        panic!("a text reply: {reply}");
    };
    text.match_indices(PUBLIC)
        .map(|(at, _)| {
            text[at + PUBLIC.len()..]
                .chars()
                .take_while(|c| !c.is_whitespace())
                .collect()
        })
        .collect()
}

#[tokio::test]
async fn a_trial_request_outside_the_chat_lands_on_the_lead_and_orders_move_its_tier() {
    let app = TestApp::spawn_with(Spawn {
        public_url: Some(PUBLIC.to_owned()),
        ..Spawn::shipped_channels_over_time()
    })
    .await;
    let browser = reqwest::Client::builder()
        .redirect(redirect::Policy::none())
        .build()
        .unwrap();
    assert_eq!(
        app.post_event(&xml::follow(LEAD, None)).await.status(),
        StatusCode::OK
    );
    let reply = app.reply_to(&xml::text(LEAD, "试用", 1)).await.unwrap();
    let paths = paths(&reply);
    let form = paths
        .iter()
        .find(|p| p.starts_with("/f/trial?t="))
        .expect("the form");
    let link = paths
        .iter()
        .find(|p| p.starts_with("/l/"))
        .expect("the white paper");

    let clicked = browser
        .get(format!("{}{link}", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(clicked.status(), StatusCode::FOUND);
    let page = browser
        .get(format!("{}{form}", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let page = page.text().await.unwrap();
    let submission = [
        ("wx.csrf", hidden(&page, "wx.csrf")),
        ("wx.t", hidden(&page, "wx.t")),
        ("wx.ch", hidden(&page, "wx.ch")),
        ("wx.website", String::new()),
        ("name", "王芳".to_owned()),
        ("company", "华东精密机械".to_owned()),
        ("mobile", "13812345678".to_owned()),
        ("email", String::new()),
        ("product", "HMI".to_owned()),
        ("note", "包装线改造".to_owned()),
        ("wx.consent", "1".to_owned()),
    ];
    let thanks = browser
        .post(format!("{}/f/trial", app.base))
        .form(&submission)
        .send()
        .await
        .unwrap();
    assert_eq!(thanks.status(), StatusCode::OK);
    assert!(thanks.text().await.unwrap().contains("提交成功"));

    let lead = app.lead(LEAD).await;
    assert_eq!(lead["fields"]["company"]["value"], "华东精密机械", "{lead}");
    assert_eq!(lead["fields"]["mobile"]["form"], "trial");
    let kinds: Vec<&str> = lead["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert!(
        kinds.contains(&"link_click") && kinds.contains(&"form"),
        "{kinds:?}"
    );
    let tags = tag_names(&lead);
    for tag in ["内容:白皮书", "意向:留资", "兴趣:HMI", "阶段:商机"] {
        assert!(tags.contains(&tag.to_owned()), "{tag} in {tags:?}");
    }

    // The CRM posts orders: 30,000 is a small customer, 200,000 more a mid-sized one.
    let at = |ago: i64| {
        chrono::DateTime::from_timestamp(app.now().0 - ago, 0)
            .unwrap()
            .to_rfc3339()
    };
    let order = |id: &str, ago: i64, amount: u64| json!({"id": id, "openid": LEAD, "name": "order", "at": at(ago), "props": {"amount": amount}});
    post_events(&app, vec![order("so-1", 86_400, 30_000)]).await;
    let tier = |lead: &Value| {
        tag_names(lead)
            .into_iter()
            .filter(|t| t.starts_with("客户等级:"))
            .collect::<Vec<_>>()
    };
    assert_eq!(tier(&app.lead(LEAD).await), ["客户等级:小型"]);
    post_events(&app, vec![order("so-2", 60, 200_000)]).await;
    let lead = app.lead(LEAD).await;
    assert_eq!(tier(&lead), ["客户等级:中型"]);
    assert!(
        tag_names(&lead).contains(&"客户:大单".to_owned()),
        "a 200,000 order"
    );
}
