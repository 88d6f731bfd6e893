//! Messages to one follower and the account's blacklist: customer-service text and news
//! (`message/custom/send`, only inside the window a user's action opened, engagement §5),
//! template messages (`message/template/send`, verified service accounts) and
//! `tags/members/getblacklist`, paged.

use std::collections::BTreeMap;

use reqwest::Method;
use serde::{Deserialize, Serialize};

use super::{AccessToken, Ack, ApiError, Page, PageBody, WeChatApi};
use crate::domain::OpenId;
use crate::wechat::reply::Article;

/// A customer-service message: a text, or one news article (an external link).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CustomMessage<'a> {
    /// A text.
    Text(&'a str),
    /// One news article (WeChat takes one: 45008 for more).
    News(&'a Article),
}

/// A template message (模板消息): the template, where a tap goes, and each field's value as a
/// plain string (wrapped as `{"value": …}` on the wire).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TemplateMessage<'a> {
    /// The template's id from the MP console.
    pub template_id: &'a str,
    /// Where a tap on the message goes, if anywhere.
    pub url: Option<&'a str>,
    /// Field name → value.
    pub data: &'a BTreeMap<String, String>,
}

#[derive(Serialize)]
struct CustomBody<'a> {
    touser: &'a OpenId,
    msgtype: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    text: Option<TextContent<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    news: Option<NewsContent<'a>>,
}

#[derive(Serialize)]
struct TextContent<'a> {
    content: &'a str,
}

#[derive(Serialize)]
struct NewsContent<'a> {
    articles: [NewsArticle<'a>; 1],
}

#[derive(Serialize)]
struct NewsArticle<'a> {
    title: &'a str,
    description: &'a str,
    url: &'a str,
    picurl: &'a str,
}

#[derive(Serialize)]
struct TemplateBody<'a> {
    touser: &'a OpenId,
    template_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    url: Option<&'a str>,
    data: BTreeMap<&'a str, TemplateValue<'a>>,
}

#[derive(Serialize)]
struct TemplateValue<'a> {
    value: &'a str,
}

#[derive(Deserialize)]
struct MsgIdBody {
    msgid: u64,
}

#[derive(Serialize)]
struct BlacklistRequest<'a> {
    begin_openid: &'a str,
}

impl CustomMessage<'_> {
    fn body<'a>(&'a self, to: &'a OpenId) -> CustomBody<'a> {
        match self {
            Self::Text(content) => CustomBody {
                touser: to,
                msgtype: "text",
                text: Some(TextContent { content }),
                news: None,
            },
            Self::News(article) => CustomBody {
                touser: to,
                msgtype: "news",
                text: None,
                news: Some(NewsContent {
                    articles: [NewsArticle {
                        title: &article.title,
                        description: &article.description,
                        url: &article.url,
                        picurl: &article.picurl,
                    }],
                }),
            },
        }
    }
}

impl WeChatApi {
    /// Sends a customer-service message (`message/custom/send`); WeChat delivers it only
    /// inside a window the user's action opened (45015 outside it, 45047 past its count).
    pub async fn send_custom(
        &self,
        token: &AccessToken,
        to: &OpenId,
        message: CustomMessage<'_>,
    ) -> Result<(), ApiError> {
        let body = message.body(to);
        self.call::<_, Ack>(token, Method::POST, "message/custom/send", &[], Some(&body))
            .await
            .map(drop)
    }

    /// Sends a customer-service text message: [`Self::send_custom`] of a text.
    pub async fn send_text(
        &self,
        token: &AccessToken,
        to: &OpenId,
        text: &str,
    ) -> Result<(), ApiError> {
        self.send_custom(token, to, CustomMessage::Text(text)).await
    }

    /// Sends a template message (`message/template/send`), answering its `msgid`.
    pub async fn send_template(
        &self,
        token: &AccessToken,
        to: &OpenId,
        message: TemplateMessage<'_>,
    ) -> Result<u64, ApiError> {
        let body = TemplateBody {
            touser: to,
            template_id: message.template_id,
            url: message.url,
            data: (message.data.iter())
                .map(|(name, value)| (name.as_str(), TemplateValue { value }))
                .collect(),
        };
        let sent: MsgIdBody = self
            .call(
                token,
                Method::POST,
                "message/template/send",
                &[],
                Some(&body),
            )
            .await?;
        Ok(sent.msgid)
    }

    /// One page of the account's blacklist (`tags/members/getblacklist`, up to 10,000
    /// openids); pass the previous page's `next_openid`.
    pub async fn blacklist(
        &self,
        token: &AccessToken,
        begin: Option<&OpenId>,
    ) -> Result<Page, ApiError> {
        let body = BlacklistRequest {
            begin_openid: begin.map_or("", OpenId::as_str),
        };
        let page: PageBody = self
            .call(
                token,
                Method::POST,
                "tags/members/getblacklist",
                &[],
                Some(&body),
            )
            .await?;
        page.into_page()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn custom_messages_and_templates_have_wechats_shapes() {
        let to = OpenId::parse("oLead1").unwrap();
        let text = serde_json::to_value(CustomMessage::Text("您好").body(&to)).unwrap();
        assert_eq!(
            text,
            serde_json::json!({"touser": "oLead1", "msgtype": "text", "text": {"content": "您好"}})
        );
        let article = Article {
            title: "白皮书".into(),
            description: "d".into(),
            url: "https://x.example/a".into(),
            picurl: String::new(),
        };
        let news = serde_json::to_value(CustomMessage::News(&article).body(&to)).unwrap();
        assert_eq!(news["news"]["articles"][0]["title"], "白皮书");
        assert!(news.get("text").is_none());
    }
}
