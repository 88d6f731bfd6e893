//! The dashboard's static files, compiled into the binary so wxtag serves every byte itself
//! (no CDN: users' networks may block it).
//!
//! Each asset is answered with a content-derived ETag; a browser revalidates after an hour
//! and gets `304 Not Modified` while the binary is unchanged.

use std::sync::LazyLock;

use actix_web::{HttpRequest, HttpResponse, http::header, web};
use sha1::{Digest, Sha1};

/// One embedded file.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
    etag: LazyLock<String>,
}

macro_rules! asset {
    ($name:literal, $type:literal) => {
        Asset {
            name: $name,
            content_type: $type,
            body: include_bytes!(concat!("../../../assets/", $name)),
            etag: LazyLock::new(|| {
                let digest = Sha1::digest(include_bytes!(concat!("../../../assets/", $name)));
                format!("\"{}\"", &hex::encode(digest)[..16])
            }),
        }
    };
}

static ASSETS: [Asset; 2] = [
    asset!("style.css", "text/css; charset=utf-8"),
    asset!("favicon.svg", "image/svg+xml"),
];

/// `GET /assets/{name}`: an embedded file, or 404.
pub(super) async fn serve(req: HttpRequest, name: web::Path<String>) -> HttpResponse {
    let Some(asset) = ASSETS.iter().find(|a| a.name == name.as_str()) else {
        return HttpResponse::NotFound().finish();
    };
    let etag = asset.etag.as_str();
    let fresh = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|tag| tag.trim() == etag));
    let mut response = if fresh {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    response
        .insert_header((header::ETAG, etag))
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"));
    if fresh {
        response.finish()
    } else {
        response.content_type(asset.content_type).body(asset.body)
    }
}
