//! `GET /api/channels/{scene}/qr.png`: the channel's QR code, created through WeChat
//! (permanent or temporary, as the channel says) and rendered locally, for the dashboard.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};

use super::error::error_body;
use super::{Admin, ApiError};
use crate::domain::Scene;
use crate::rules::LiveRules;
use crate::sync::Client;
use crate::sync::qr::channel_png;

/// Answers the PNG; 404 for a scene no `[[qr]]` names, 503 without a WeChat account, 502 when
/// WeChat did not create the code.
pub(super) async fn png(
    _: Admin,
    rules: web::Data<LiveRules>,
    wechat: web::Data<Option<Client>>,
    scene: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let scene = Scene::parse(&scene).map_err(|e| ApiError::BadRequest(format!("scene: {e}")))?;
    let rules = rules.load();
    let channel = rules
        .channel(&scene)
        .ok_or_else(|| ApiError::NotFound(format!("no channel has scene {scene}")))?;
    let Some(client) = wechat.as_ref() else {
        return Ok(error_body(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "no wechat account is configured to create qr codes",
        ));
    };
    match channel_png(client, channel).await {
        Ok((_, png)) => Ok(HttpResponse::Ok()
            .content_type("image/png")
            .insert_header(("Cache-Control", "no-store"))
            .body(png)),
        Err(error) => {
            tracing::warn!(%scene, %error, "could not make the channel's qr code");
            Ok(error_body(
                StatusCode::BAD_GATEWAY,
                "wechat",
                &error.to_string(),
            ))
        }
    }
}
