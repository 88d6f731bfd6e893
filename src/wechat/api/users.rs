//! Followers as WeChat returns them: a page of openids (`user/get`, `user/tag/get`) and one
//! follower's profile (`user/info`).

use crate::domain::{OpenId, TagId, UnionId, UnixTime};

/// One page of openids from `user/get` or `user/tag/get`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    /// The openids on this page (empty on the page after the last).
    pub openids: Vec<OpenId>,
    /// Where the next page starts; `None` when this page was empty, i.e. the list is done.
    pub next_openid: Option<OpenId>,
    /// The total number of followers (`user/get` only).
    pub total: Option<u64>,
}

/// A follower's profile as `user/info` returns it (names and avatars are no longer sent).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserInfo {
    /// The follower's openid.
    pub openid: OpenId,
    /// Whether the user follows the account now; when not, the other fields are empty.
    pub subscribed: bool,
    /// When the user last followed.
    pub subscribe_time: Option<UnixTime>,
    /// How the user followed, e.g. `ADD_SCENE_QR_CODE`.
    pub subscribe_scene: Option<String>,
    /// The integer scene of the QR code the user followed through (0 when none).
    pub qr_scene: u32,
    /// The string scene of the QR code the user followed through (empty when none).
    pub qr_scene_str: String,
    /// The tags the user carries.
    pub tag_ids: Vec<TagId>,
}

/// Who a web authorisation code (网页授权, `snsapi_base`) belongs to, as
/// `sns/oauth2/access_token` answers; the web access token it also sends is dropped unread.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct WebUser {
    /// The user's openid for this account (a follower or not).
    pub openid: OpenId,
    /// The user's unionid, sent only when the account is bound to an open-platform account.
    #[serde(default)]
    pub unionid: Option<UnionId>,
}
