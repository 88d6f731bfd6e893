//! The QR code a channel needs: the `qrcode/create` request its `[[qr]]` section describes.

use super::Channel;
use crate::wechat::api::{QrRequest, QrScene};
use crate::wechat::limits::QR_TEMPORARY_MAX_SECS;

impl Channel {
    /// The `qrcode/create` request for this channel: its integer scene if the file gave one,
    /// else its string scene; permanent, or temporary for the code's `expire_days`. `None`
    /// for a link channel (`[[channel]]`), which has no code.
    pub fn qr_request(&self) -> Option<QrRequest> {
        let code = self.code?;
        let scene = match code.scene_id {
            Some(id) => QrScene::Id(id),
            None => QrScene::Str(self.scene.clone()),
        };
        Some(if code.permanent {
            QrRequest::Permanent { scene }
        } else {
            QrRequest::Temporary {
                scene,
                expire_seconds: code
                    .expire_days
                    .saturating_mul(86_400)
                    .min(QR_TEMPORARY_MAX_SECS),
            }
        })
    }

    /// The message for asking a link channel for its QR code.
    pub fn no_code(&self) -> String {
        format!(
            "channel {} is a [[channel]] without a QR code: share its links with ?ch={}, or \
             make it a [[qr]] to get a code",
            self.scene, self.scene
        )
    }
}
