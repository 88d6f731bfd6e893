//! User tags as WeChat lists them (`tags/get`).

use serde::Deserialize;

use crate::domain::TagId;

/// A tag as `tags/get` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct WeChatTag {
    /// The tag's id.
    pub id: TagId,
    /// The name as WeChat holds it; kept as text because staff may have made it in the console.
    pub name: String,
    /// How many followers carry the tag.
    #[serde(default)]
    pub count: u64,
}
