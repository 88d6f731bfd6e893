//! Passive replies: what wxtag answers WeChat with, and the XML it is sent as.

use serde::Deserialize;

/// One article of a news (图文) reply.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Article {
    /// The headline.
    pub title: String,
    /// The line under the headline.
    #[serde(default)]
    pub description: String,
    /// Where a tap on the article goes.
    #[serde(default)]
    pub url: String,
    /// The cover picture's URL.
    #[serde(default)]
    pub picurl: String,
}

/// What to answer a follower with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// A text message.
    Text(String),
    /// An image already uploaded to WeChat, by its media id.
    Image {
        /// The media id from WeChat's media upload API.
        media_id: String,
    },
    /// News (图文): 1 to 8 articles.
    News(Vec<Article>),
}
