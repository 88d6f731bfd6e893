//! The QR code a channel needs: the `qrcode/create` request its `[[qr]]` section describes.

use super::Channel;
use crate::wechat::api::{QrRequest, QrScene};
use crate::wechat::limits::QR_TEMPORARY_MAX_SECS;

impl Channel {
    /// The `qrcode/create` request for this channel: its integer scene if the file gave one,
    /// else its string scene; permanent, or temporary for the channel's `expire_days`.
    pub fn qr_request(&self) -> QrRequest {
        let scene = match self.scene_id {
            Some(id) => QrScene::Id(id),
            None => QrScene::Str(self.scene.clone()),
        };
        if self.permanent {
            QrRequest::Permanent { scene }
        } else {
            QrRequest::Temporary {
                scene,
                expire_seconds: self
                    .expire_days
                    .saturating_mul(86_400)
                    .min(QR_TEMPORARY_MAX_SECS),
            }
        }
    }
}
