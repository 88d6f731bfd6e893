//! Parametric QR codes (`qrcode/create`): what is asked for, the JSON WeChat wants for it
//! (the scene nested under `action_info`), and the ticket it answers.

use serde::{Deserialize, Serialize};

use crate::domain::Scene;

/// The scene a parametric QR code carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QrScene {
    /// An integer `scene_id` (temporary: non-zero 32-bit; permanent: 1 to 100000).
    Id(u32),
    /// A `scene_str`.
    Str(Scene),
}

/// What `qrcode/create` is asked for; each variant pair maps to one `action_name`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QrRequest {
    /// `QR_SCENE` / `QR_STR_SCENE`: expires after `expire_seconds` (WeChat's maximum is 30 days).
    Temporary {
        /// The scene.
        scene: QrScene,
        /// Lifetime in seconds, at most 2,592,000.
        expire_seconds: u32,
    },
    /// `QR_LIMIT_SCENE` / `QR_LIMIT_STR_SCENE`: never expires; at most 100,000 per account.
    Permanent {
        /// The scene.
        scene: QrScene,
    },
}

impl QrRequest {
    /// WeChat's `action_name` for this request.
    pub fn action_name(&self) -> &'static str {
        match self {
            Self::Temporary {
                scene: QrScene::Id(_),
                ..
            } => "QR_SCENE",
            Self::Temporary {
                scene: QrScene::Str(_),
                ..
            } => "QR_STR_SCENE",
            Self::Permanent {
                scene: QrScene::Id(_),
            } => "QR_LIMIT_SCENE",
            Self::Permanent {
                scene: QrScene::Str(_),
            } => "QR_LIMIT_STR_SCENE",
        }
    }

    pub(super) fn body(&self) -> QrBody<'_> {
        let (scene, expire_seconds) = match self {
            Self::Temporary {
                scene,
                expire_seconds,
            } => (scene, Some(*expire_seconds)),
            Self::Permanent { scene } => (scene, None),
        };
        let scene = match scene {
            QrScene::Id(scene_id) => SceneBody::Id {
                scene_id: *scene_id,
            },
            QrScene::Str(scene) => SceneBody::Str {
                scene_str: scene.as_str(),
            },
        };
        QrBody {
            expire_seconds,
            action_name: self.action_name(),
            action_info: ActionInfo { scene },
        }
    }
}

/// A created QR code.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct QrTicket {
    /// The ticket, for `showqrcode` (URL-encode it: it holds `+`, `/`, `=`).
    pub ticket: String,
    /// The content the QR image encodes; render it with [`crate::wechat::qrcode::render_png`].
    pub url: String,
    /// Seconds until the code expires; `None` for permanent codes.
    #[serde(default)]
    pub expire_seconds: Option<u64>,
}

#[derive(Serialize)]
pub(super) struct QrBody<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    expire_seconds: Option<u32>,
    action_name: &'static str,
    action_info: ActionInfo<'a>,
}

#[derive(Serialize)]
struct ActionInfo<'a> {
    scene: SceneBody<'a>,
}

#[derive(Serialize)]
#[serde(untagged)]
enum SceneBody<'a> {
    Id { scene_id: u32 },
    Str { scene_str: &'a str },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qr_requests_nest_the_scene_under_action_info() {
        let scene = Scene::parse("expo-2026").unwrap();
        let temporary = QrRequest::Temporary {
            scene: QrScene::Str(scene),
            expire_seconds: 604_800,
        };
        assert_eq!(
            serde_json::to_value(temporary.body()).unwrap(),
            serde_json::json!({"expire_seconds":604800,"action_name":"QR_STR_SCENE",
                "action_info":{"scene":{"scene_str":"expo-2026"}}})
        );
        let permanent = QrRequest::Permanent {
            scene: QrScene::Id(123),
        };
        assert_eq!(
            serde_json::to_value(permanent.body()).unwrap(),
            serde_json::json!({"action_name":"QR_LIMIT_SCENE",
                "action_info":{"scene":{"scene_id":123}}})
        );
    }
}
