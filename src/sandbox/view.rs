//! The sandbox's state as `GET /sandbox/state` shows it (and [`super::SandboxHandle::state`]
//! returns it): plain data, serialisable both ways so tests can read it over HTTP too.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::faults::Faults;
use super::menus::MenusView;
use crate::domain::{OpenId, TagId};

/// Everything the sandbox holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SandboxState {
    /// Every tag, by id, 星标组 (2) first.
    pub tags: Vec<TagView>,
    /// Every known follower (tagged once or registered), by openid.
    pub followers: Vec<FollowerView>,
    /// Answers by endpoint path, then by outcome: an errcode (`"0"` is success), `"http_500"`
    /// or `"timeout"`.
    pub calls: BTreeMap<String, BTreeMap<String, u64>>,
    /// How many tokens were issued.
    pub tokens_issued: TokensIssued,
    /// Every QR code made, oldest first.
    pub qrcodes: Vec<QrView>,
    /// Every customer-service and template message accepted, oldest first.
    pub messages: Vec<MessageView>,
    /// The users who blacklisted the account, by openid.
    pub blacklist: Vec<OpenId>,
    /// The faults in force.
    pub faults: Faults,
    /// The custom menus.
    #[serde(default)]
    pub menus: MenusView,
}

impl SandboxState {
    /// The tag with this exact name.
    pub fn tag_named(&self, name: &str) -> Option<&TagView> {
        self.tags.iter().find(|t| t.name == name)
    }

    /// The tag ids a follower carries (empty for an unknown openid).
    pub fn tags_of(&self, openid: &OpenId) -> Vec<TagId> {
        self.followers
            .iter()
            .find(|f| &f.openid == openid)
            .map(|f| f.tagid_list.clone())
            .unwrap_or_default()
    }

    /// How many calls to `path` (e.g. `/cgi-bin/tags/create`) ended with `outcome`
    /// (e.g. `"0"`, `"45157"`, `"http_500"`).
    pub fn calls_to(&self, path: &str, outcome: &str) -> u64 {
        self.calls
            .get(path)
            .and_then(|by_outcome| by_outcome.get(outcome))
            .copied()
            .unwrap_or(0)
    }
}

/// One tag and its members.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TagView {
    /// The tag id.
    pub id: TagId,
    /// The tag name.
    pub name: String,
    /// Who carries it, in openid order.
    pub members: Vec<OpenId>,
}

/// One follower and the tags they carry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FollowerView {
    /// The follower's openid.
    pub openid: OpenId,
    /// The tag ids they carry, ascending.
    pub tagid_list: Vec<TagId>,
}

/// Token counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokensIssued {
    /// New tokens from `GET /cgi-bin/token`.
    pub classic: u64,
    /// New tokens from `POST /cgi-bin/stable_token` (repeats of the same token not counted).
    pub stable: u64,
}

/// One QR code made through `qrcode/create`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QrView {
    /// Its ticket.
    pub ticket: String,
    /// The content its image encodes.
    pub url: String,
    /// `QR_SCENE`, `QR_STR_SCENE`, `QR_LIMIT_SCENE` or `QR_LIMIT_STR_SCENE`.
    pub action_name: String,
    /// Its scene as text (`"0"` when the request lacked the `action_info.scene` nesting).
    pub scene: String,
    /// Its lifetime; absent for permanent codes.
    pub expire_seconds: Option<u64>,
}

/// One message accepted by `message/custom/send` or `message/template/send`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessageView {
    /// The recipient.
    pub touser: OpenId,
    /// The message type, e.g. `text`, `news`, or `template` for a template message.
    pub msgtype: String,
    /// The whole request body.
    pub body: serde_json::Value,
}
