//! Parametric QR codes in the sandbox: reading a `qrcode/create` body as WeChat does, and the
//! ticket and URL of a made code.
//!
//! Like WeChat, a body without the `action_info.scene` nesting is not refused: the code gets
//! scene 0, so a client that forgets the nesting sees `0` in the URL, as it would see
//! `qrscene_0` in its events. The URL (`{base}/sandbox/q/{n}/{action_name}/{scene}`) names the
//! scene so a test or a person can tell codes apart; the sandbox does not serve it.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;

use super::errcode::WxError;
use super::view::QrView;

/// The lifetime of a temporary code when the request gives none.
const DEFAULT_EXPIRE_SECONDS: u64 = 30;

/// The longest lifetime of a temporary code: 30 days.
const MAX_EXPIRE_SECONDS: u64 = crate::wechat::limits::QR_TEMPORARY_MAX_SECS as u64;

/// The largest `scene_id` of a permanent code.
const MAX_PERMANENT_SCENE_ID: i64 = 100_000;

/// The longest `scene_str`.
const MAX_SCENE_STR: usize = 64;

/// The four kinds of parametric code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum QrKind {
    Scene,
    StrScene,
    LimitScene,
    LimitStrScene,
}

impl QrKind {
    fn parse(action_name: &str) -> Option<Self> {
        match action_name {
            "QR_SCENE" => Some(Self::Scene),
            "QR_STR_SCENE" => Some(Self::StrScene),
            "QR_LIMIT_SCENE" => Some(Self::LimitScene),
            "QR_LIMIT_STR_SCENE" => Some(Self::LimitStrScene),
            _ => None,
        }
    }

    fn action_name(self) -> &'static str {
        match self {
            Self::Scene => "QR_SCENE",
            Self::StrScene => "QR_STR_SCENE",
            Self::LimitScene => "QR_LIMIT_SCENE",
            Self::LimitStrScene => "QR_LIMIT_STR_SCENE",
        }
    }

    fn is_permanent(self) -> bool {
        matches!(self, Self::LimitScene | Self::LimitStrScene)
    }

    fn is_str(self) -> bool {
        matches!(self, Self::StrScene | Self::LimitStrScene)
    }
}

/// A `qrcode/create` body, read loosely so a missing `scene` can become scene 0.
#[derive(Debug, Deserialize)]
pub(super) struct QrCreateBody {
    #[serde(default)]
    expire_seconds: Option<i64>,
    action_name: String,
    #[serde(default)]
    action_info: Option<ActionInfo>,
}

#[derive(Debug, Deserialize)]
struct ActionInfo {
    #[serde(default)]
    scene: Option<SceneBody>,
}

#[derive(Debug, Deserialize)]
struct SceneBody {
    #[serde(default)]
    scene_id: Option<i64>,
    #[serde(default)]
    scene_str: Option<String>,
}

/// What code to make: its kind, scene (as text) and lifetime (temporary codes only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct QrSpec {
    kind: QrKind,
    scene: String,
    expire_seconds: Option<u64>,
}

impl QrSpec {
    /// Reads a request body: the kind must be one of the four, an explicit scene must be in
    /// range (47001 otherwise), a missing scene is 0, the lifetime defaults to 30 s and is
    /// capped at 30 days.
    pub(super) fn from_body(body: QrCreateBody) -> Result<Self, WxError> {
        let kind = QrKind::parse(&body.action_name).ok_or(WxError::DataFormat)?;
        let scene = body.action_info.and_then(|info| info.scene);
        let scene = if kind.is_str() {
            match scene.and_then(|s| s.scene_str) {
                None => "0".to_owned(),
                Some(s) if (1..=MAX_SCENE_STR).contains(&s.chars().count()) => s,
                Some(_) => return Err(WxError::DataFormat),
            }
        } else {
            let max = if kind.is_permanent() {
                MAX_PERMANENT_SCENE_ID
            } else {
                i64::from(u32::MAX)
            };
            match scene.and_then(|s| s.scene_id) {
                None => "0".to_owned(),
                Some(id) if (1..=max).contains(&id) => id.to_string(),
                Some(_) => return Err(WxError::DataFormat),
            }
        };
        let expire_seconds = (!kind.is_permanent()).then(|| match body.expire_seconds {
            Some(secs) if secs > 0 => u64::try_from(secs)
                .unwrap_or(MAX_EXPIRE_SECONDS)
                .min(MAX_EXPIRE_SECONDS),
            _ => DEFAULT_EXPIRE_SECONDS,
        });
        Ok(Self {
            kind,
            scene,
            expire_seconds,
        })
    }

    /// True for `QR_LIMIT_SCENE` and `QR_LIMIT_STR_SCENE`.
    pub(super) fn is_permanent(&self) -> bool {
        self.kind.is_permanent()
    }
}

/// A made code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct QrCode {
    pub(super) spec: QrSpec,
    pub(super) ticket: String,
    pub(super) url: String,
}

impl QrCode {
    /// The `serial`-th code of the account, its URL under `base_url`.
    pub(super) fn new(spec: QrSpec, serial: usize, base_url: &str) -> Self {
        let url = format!(
            "{base_url}/sandbox/q/{serial}/{}/{}",
            spec.kind.action_name(),
            percent_encode(&spec.scene)
        );
        // Base64 like WeChat's tickets, so they carry `+`, `/` and `=` that must be URL-encoded.
        let ticket = STANDARD.encode(format!("wxtag-sandbox:{serial}:{url}"));
        Self { spec, ticket, url }
    }

    /// The code's lifetime, for the answer (absent for permanent codes).
    pub(super) fn expire_seconds(&self) -> Option<u64> {
        self.spec.expire_seconds
    }

    /// The code as `GET /sandbox/state` shows it.
    pub(super) fn view(&self) -> QrView {
        QrView {
            ticket: self.ticket.clone(),
            url: self.url.clone(),
            action_name: self.spec.kind.action_name().to_owned(),
            scene: self.spec.scene.clone(),
            expire_seconds: self.spec.expire_seconds,
        }
    }
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(json: &str) -> Result<QrSpec, WxError> {
        QrSpec::from_body(serde_json::from_str(json).unwrap())
    }

    #[test]
    fn reads_the_four_kinds_with_their_scene_nesting() {
        let s = spec(r#"{"expire_seconds":604800,"action_name":"QR_STR_SCENE","action_info":{"scene":{"scene_str":"expo2024_booth12"}}}"#).unwrap();
        assert_eq!(
            (s.scene.as_str(), s.expire_seconds),
            ("expo2024_booth12", Some(604800))
        );
        let s =
            spec(r#"{"action_name":"QR_SCENE","action_info":{"scene":{"scene_id":123}}}"#).unwrap();
        assert_eq!((s.scene.as_str(), s.expire_seconds), ("123", Some(30)));
        let s = spec(r#"{"expire_seconds":9,"action_name":"QR_LIMIT_SCENE","action_info":{"scene":{"scene_id":100000}}}"#).unwrap();
        assert_eq!((s.scene.as_str(), s.expire_seconds), ("100000", None));
        assert!(
            spec(
                r#"{"action_name":"QR_LIMIT_STR_SCENE","action_info":{"scene":{"scene_str":"p"}}}"#
            )
            .unwrap()
            .is_permanent()
        );
    }

    #[test]
    fn a_forgotten_scene_wrapper_gives_scene_zero_as_at_wechat() {
        let s = spec(r#"{"action_name":"QR_STR_SCENE","action_info":{"scene_str":"x"}}"#).unwrap();
        assert_eq!(s.scene, "0");
    }

    #[test]
    fn out_of_range_scenes_and_unknown_kinds_are_refused() {
        for body in [
            r#"{"action_name":"QR_LIMIT_SCENE","action_info":{"scene":{"scene_id":100001}}}"#,
            r#"{"action_name":"QR_SCENE","action_info":{"scene":{"scene_id":0}}}"#,
            r#"{"action_name":"QR_STR_SCENE","action_info":{"scene":{"scene_str":""}}}"#,
            r#"{"action_name":"QR_FOREVER","action_info":{"scene":{"scene_id":1}}}"#,
        ] {
            assert_eq!(spec(body), Err(WxError::DataFormat), "{body}");
        }
        let long = format!(
            r#"{{"action_name":"QR_STR_SCENE","action_info":{{"scene":{{"scene_str":"{}"}}}}}}"#,
            "s".repeat(65)
        );
        assert_eq!(spec(&long), Err(WxError::DataFormat));
    }

    #[test]
    fn the_url_names_kind_and_scene() {
        let s = spec(r#"{"action_name":"QR_STR_SCENE","expire_seconds":99999999,"action_info":{"scene":{"scene_str":"展会 a/b"}}}"#).unwrap();
        assert_eq!(s.expire_seconds, Some(MAX_EXPIRE_SECONDS));
        let code = QrCode::new(s, 3, "http://127.0.0.1:9");
        assert_eq!(
            code.url,
            "http://127.0.0.1:9/sandbox/q/3/QR_STR_SCENE/%E5%B1%95%E4%BC%9A%20a%2Fb"
        );
    }
}
