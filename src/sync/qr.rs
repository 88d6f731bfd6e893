//! A channel's QR code: created through WeChat's `qrcode/create` (permanent or temporary, as
//! the channel says) and its `url` rendered to PNG locally, for `wxtag qr` and the dashboard.

use thiserror::Error;

use crate::rules::Channel;
use crate::wechat::api::{QrRequest, QrScene, QrTicket};
use crate::wechat::qrcode::{QrRenderError, render_png};

use crate::wechat::client::{Client, ClientError};

/// WeChat's longest lifetime for a temporary code: 30 days.
const MAX_EXPIRE_SECONDS: u32 = 2_592_000;

/// Why a channel's QR code could not be made.
#[derive(Debug, Error)]
pub enum QrError {
    /// WeChat did not create it.
    #[error("wechat did not create the qr code: {0}")]
    WeChat(#[from] ClientError),
    /// The returned content could not be rendered.
    #[error(transparent)]
    Render(#[from] QrRenderError),
}

/// The `qrcode/create` request for a channel: its integer scene if the file gave one, else its
/// string scene; permanent, or temporary for the channel's `expire_days`.
pub fn request_for(channel: &Channel) -> QrRequest {
    let scene = match channel.scene_id {
        Some(id) => QrScene::Id(id),
        None => QrScene::Str(channel.scene.clone()),
    };
    if channel.permanent {
        QrRequest::Permanent { scene }
    } else {
        QrRequest::Temporary {
            scene,
            expire_seconds: channel
                .expire_days
                .saturating_mul(86_400)
                .min(MAX_EXPIRE_SECONDS),
        }
    }
}

/// Creates the channel's QR code and renders it: the ticket WeChat returned and the PNG.
pub async fn channel_png(
    client: &Client,
    channel: &Channel,
) -> Result<(QrTicket, Vec<u8>), QrError> {
    let ticket = client.create_qrcode(&request_for(channel)).await?;
    let png = render_png(&ticket.url)?;
    Ok((ticket, png))
}
