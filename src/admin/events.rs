//! The ingest routes, for other systems (a CRM, the website): `POST /api/events` and
//! `POST /api/leads/{openid}/identity`. Thin: the work is in [`crate::events`].

use actix_web::{HttpResponse, web};
use futures_util::StreamExt;
use serde::Deserialize;

use super::leads::LeadPath;
use super::{ApiError, Caller, audit};
use crate::domain::{Clock, ExternalId, OpenId};
use crate::events::{self, BatchError, MAX_BODY_BYTES, MAX_EVENTS};
use crate::rules::LiveRules;
use crate::store::{Join, Store};

/// `POST /api/events` `{"events": [...]}` → `{"accepted", "duplicates", "errors"}`; more than
/// 1,000 events or a body over 1 MiB is a 413, a body that is no event list a 400.
pub(super) async fn post(
    store: web::Data<Store>,
    rules: web::Data<LiveRules>,
    clock: web::Data<Clock>,
    mut payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| ApiError::BadRequest(format!("body: {e}")))?;
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(ApiError::TooLarge(format!(
                "the body is over {MAX_BODY_BYTES} bytes; send at most {MAX_EVENTS} events of \
                 at most 1 MiB a call"
            )));
        }
        body.extend_from_slice(&chunk);
    }
    let raw = events::parse_batch(&body).map_err(|e| match e {
        BatchError::TooMany(n) => ApiError::TooLarge(format!(
            "{n} events in one call; send at most {MAX_EVENTS} a call"
        )),
        BatchError::Malformed(message) => ApiError::BadRequest(message),
    })?;
    let report = events::ingest(&store, &rules.load(), raw, clock.now()).await?;
    Ok(HttpResponse::Ok().json(report))
}

/// The body of an identity join.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct IdentityBody {
    external_id: String,
}

/// `POST /api/leads/{openid}/identity` `{"external_id": "crm:4711"}`: joins the id to the
/// lead and applies the events parked for it; answers the lead. 409 when another lead holds
/// the id (or the lead holds another), 404 for an unknown lead; joining it again is a 200.
pub(super) async fn identity(
    caller: Caller,
    store: web::Data<Store>,
    rules: web::Data<LiveRules>,
    clock: web::Data<Clock>,
    path: web::Path<LeadPath>,
    body: web::Json<IdentityBody>,
) -> Result<HttpResponse, ApiError> {
    let openid =
        OpenId::parse(path.openid()).map_err(|e| ApiError::BadRequest(format!("openid: {e}")))?;
    let external = ExternalId::parse(&body.external_id)
        .map_err(|e| ApiError::BadRequest(format!("external_id: {e}")))?;
    let now = clock.now();
    match events::join(&store, &rules.load(), &openid, &external, now).await? {
        Join::UnknownLead => {
            return Err(ApiError::NotFound(format!("no lead with openid {openid}")));
        }
        Join::HeldBy(owner) => {
            return Err(ApiError::Conflict(format!(
                "external id {external} is already joined to lead {owner}; an external id \
                 names one lead"
            )));
        }
        Join::HasOther(held) => {
            return Err(ApiError::Conflict(format!(
                "lead {openid} is already joined to external id {held}; a lead has one \
                 external id"
            )));
        }
        Join::Joined => {
            audit::record(&store, now, &caller.name, "identity.join", openid.as_str()).await;
        }
        Join::Already => {}
    }
    let lead = store
        .lead(&openid)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no lead with openid {openid}")))?;
    Ok(HttpResponse::Ok().json(lead))
}
