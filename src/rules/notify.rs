//! `[[notify]]` targets as the rules know them: where a sales alert goes. The delivery
//! itself (bodies, signatures, retries) lives in the `notify` module, a layer above.
//!
//! A target's URL and secret may hold values taken from the environment (`${NAME}`), so
//! both are kept as secrets: `Debug` never prints them.

use secrecy::{ExposeSecret, SecretString};

use crate::domain::NotifyName;

/// Where a target's alerts go, and how.
#[derive(Debug, Clone)]
pub enum TargetKind {
    /// `wecom_robot = URL`: a WeCom (企业微信) group robot, sent a markdown card.
    Robot {
        /// The robot's webhook URL, with its `key`.
        url: SecretString,
    },
    /// `webhook = URL` with `secret`: a signed JSON body.
    Webhook {
        /// Where the body is posted.
        url: SecretString,
        /// The HMAC-SHA256 key of `X-Wxtag-Signature`.
        secret: SecretString,
    },
}

/// One `[[notify]]` target.
#[derive(Debug, Clone)]
pub struct NotifyTarget {
    /// The name steps refer to.
    pub name: NotifyName,
    /// Where and how.
    pub kind: TargetKind,
}

impl NotifyTarget {
    /// `wecom_robot` or `webhook`, as metrics and the deliveries page name the kind.
    pub fn kind_str(&self) -> &'static str {
        match self.kind {
            TargetKind::Robot { .. } => "wecom_robot",
            TargetKind::Webhook { .. } => "webhook",
        }
    }

    /// The URL the target is sent to.
    pub fn url(&self) -> &str {
        match &self.kind {
            TargetKind::Robot { url } | TargetKind::Webhook { url, .. } => url.expose_secret(),
        }
    }
}
