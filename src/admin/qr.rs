//! `GET /api/channels/{scene}/qr.png` (and the dashboard's `/channels/{scene}/qr.png`): the
//! channel's QR code, created through WeChat (permanent or temporary, as the channel says)
//! and rendered locally.
//!
//! WeChat's ticket is kept in Redis, so downloading the PNG again does not make a new code:
//! a permanent code's for good (an account may make at most 100,000), a temporary code's
//! until shortly before it expires. A channel whose file changes (say, from permanent to
//! temporary) asks for a new code, since the cache is keyed by the request too.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use serde::Deserialize;

use super::ApiError;
use super::error::error_body;
use crate::domain::Scene;
use crate::rules::LiveRules;
use crate::store::{Store, StoreError};
use crate::wechat::api::QrRequest;
use crate::wechat::client::{Client, ClientError};
use crate::wechat::qrcode::render_png;

/// A channel's path segment (also under `/api/accounts/{appid}`).
#[derive(Debug, Deserialize)]
pub(super) struct ScenePath {
    scene: String,
}

/// How long before a temporary code expires wxtag stops handing it out: an hour, or half its
/// life for codes shorter than two hours.
fn cache_secs(expire_seconds: Option<u64>) -> Option<u64> {
    expire_seconds.map(|secs| secs - (secs / 2).min(3_600))
}

/// Why a channel's QR code could not be had.
#[derive(Debug, thiserror::Error)]
pub(super) enum QrFailure {
    /// No WeChat account to create it with.
    #[error("no wechat account is configured to create qr codes")]
    NoAccount,
    /// WeChat did not create it.
    #[error("wechat did not create the qr code: {0}")]
    WeChat(#[from] ClientError),
    /// Redis failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The content of the channel's QR code for `request`: the one WeChat made before while it
/// is still handed out, else a new one, kept for next time.
pub(super) async fn channel_qr_url(
    store: &Store,
    client: Option<&Client>,
    scene: &Scene,
    request: &QrRequest,
) -> Result<String, QrFailure> {
    let fingerprint = format!("{request:?}");
    if let Some(url) = store.cached_qr(scene, &fingerprint).await? {
        return Ok(url);
    }
    let client = client.ok_or(QrFailure::NoAccount)?;
    let ticket = client.create_qrcode(request).await?;
    match cache_secs(ticket.expire_seconds) {
        Some(0) => {}
        ttl => {
            store
                .cache_qr(scene, &fingerprint, &ticket.url, ttl)
                .await?
        }
    }
    Ok(ticket.url)
}

/// Answers the PNG; 404 for a scene no `[[qr]]` names (a `[[channel]]` has no code), 503 without a WeChat account, 502 when
/// WeChat did not create the code.
pub(super) async fn png(
    rules: web::Data<LiveRules>,
    store: web::Data<Store>,
    wechat: web::Data<Option<Client>>,
    path: web::Path<ScenePath>,
) -> Result<HttpResponse, ApiError> {
    let scene =
        Scene::parse(&path.scene).map_err(|e| ApiError::BadRequest(format!("scene: {e}")))?;
    let request = {
        let rules = rules.load();
        let channel = rules
            .channel(&scene)
            .ok_or_else(|| ApiError::NotFound(format!("no channel has scene {scene}")))?;
        channel
            .qr_request()
            .ok_or_else(|| ApiError::NotFound(channel.no_code()))?
    };
    let url = match channel_qr_url(&store, wechat.as_ref().as_ref(), &scene, &request).await {
        Ok(url) => url,
        Err(QrFailure::Store(error)) => return Err(ApiError::Store(error)),
        Err(failure @ QrFailure::NoAccount) => {
            return Ok(error_body(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                &failure.to_string(),
            ));
        }
        Err(failure @ QrFailure::WeChat(_)) => {
            tracing::warn!(%scene, error = %failure, "could not make the channel's qr code");
            return Ok(error_body(
                StatusCode::BAD_GATEWAY,
                "wechat",
                &failure.to_string(),
            ));
        }
    };
    match render_png(&url) {
        Ok(png) => Ok(HttpResponse::Ok()
            .content_type("image/png")
            .insert_header(("Cache-Control", "no-store"))
            .body(png)),
        Err(error) => {
            tracing::warn!(%scene, %error, "could not render the channel's qr code");
            Ok(error_body(
                StatusCode::BAD_GATEWAY,
                "wechat",
                &error.to_string(),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temporary_codes_are_handed_out_until_shortly_before_they_expire() {
        assert_eq!(cache_secs(None), None, "permanent: for good");
        assert_eq!(cache_secs(Some(2_592_000)), Some(2_592_000 - 3_600));
        assert_eq!(cache_secs(Some(600)), Some(300));
        assert_eq!(cache_secs(Some(1)), Some(1));
    }
}
