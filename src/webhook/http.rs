//! The webhook's HTTP side: extract the request, call the [`Intake`] with wxtag's (possibly
//! shifted) [`Clock`], answer, log one line.

use std::time::Instant;

use actix_web::{HttpResponse, http::StatusCode, web};

use super::{Answer, Intake, IntakeError, PushQuery};
use crate::domain::Clock;
use crate::metrics::Metrics;

/// The largest push body accepted; WeChat's are a few KiB.
pub const MAX_BODY: usize = 64 * 1024;

/// Registers `GET` and `POST /wechat`.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/wechat")
            .app_data(web::PayloadConfig::new(MAX_BODY))
            .route(web::get().to(verify))
            .route(web::post().to(push)),
    );
}

impl IntakeError {
    fn status(&self) -> StatusCode {
        match self {
            IntakeError::Unsigned(_)
            | IntakeError::MissingParam(_)
            | IntakeError::ReplayedSignature => StatusCode::UNAUTHORIZED,
            IntakeError::Malformed(_)
            | IntakeError::Undecryptable(_)
            | IntakeError::NoAesKey
            | IntakeError::NotUtf8 => StatusCode::BAD_REQUEST,
            IntakeError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// The answer to a refused request: the status only; the reason goes to the log.
fn refuse(error: &IntakeError, started: Instant) -> HttpResponse {
    let status = error.status();
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    if status.is_server_error() {
        tracing::error!(%error, status = status.as_u16(), latency_ms, "push failed");
    } else {
        tracing::warn!(%error, status = status.as_u16(), latency_ms, "push refused");
    }
    HttpResponse::build(status).finish()
}

/// `GET /wechat`: echo `echostr` when the signature holds.
async fn verify(
    intake: web::Data<Intake>,
    clock: web::Data<Clock>,
    query: web::Query<PushQuery>,
) -> HttpResponse {
    let started = Instant::now();
    match intake.verify_url(&query, clock.now()) {
        Ok(echo) => {
            tracing::info!("url verification passed");
            HttpResponse::Ok().content_type("text/plain").body(echo)
        }
        Err(error) => refuse(&error, started),
    }
}

/// `POST /wechat`: one message or event.
async fn push(
    intake: web::Data<Intake>,
    metrics: web::Data<Metrics>,
    clock: web::Data<Clock>,
    query: web::Query<PushQuery>,
    body: web::Bytes,
) -> HttpResponse {
    let started = Instant::now();
    match intake.push(&query, &body, clock.now()).await {
        Ok(handled) => {
            let outcome = match (&handled.answer, handled.fresh) {
                (_, false) => "duplicate",
                (Answer::Success, true) => "applied",
                (Answer::Xml(_), true) => "replied",
            };
            let seconds = started.elapsed().as_secs_f64();
            metrics
                .events
                .with_label_values(&[handled.kind, outcome])
                .inc();
            metrics.event_seconds.observe(seconds);
            tracing::info!(
                openid = %handled.openid,
                kind = handled.kind,
                outcome,
                latency_ms = seconds * 1000.0,
                "push"
            );
            match handled.answer {
                Answer::Success => HttpResponse::Ok()
                    .content_type("text/plain")
                    .body("success"),
                Answer::Xml(xml) => HttpResponse::Ok()
                    .content_type("text/xml; charset=utf-8")
                    .body(xml),
            }
        }
        Err(error) => {
            if matches!(error, IntakeError::Store(_)) {
                metrics.redis_errors.inc();
            }
            refuse(&error, started)
        }
    }
}
