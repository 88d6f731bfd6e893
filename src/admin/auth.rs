//! The admin token and the extractor that guards every admin route with it.
//!
//! A request is let in with `Authorization: Bearer <token>`, compared in constant time.
//! Anything else gets 401 with an empty body: nothing else is said.

use std::future::{Ready, ready};

use actix_web::{
    FromRequest, HttpRequest, HttpResponse, ResponseError, dev::Payload, http::header, web,
};
use secrecy::{ExposeSecret, SecretString};
use subtle::ConstantTimeEq;

/// The shortest admin token accepted from the environment.
const MIN_LEN: usize = 16;

/// The bearer token of the admin API and dashboard (`WXTAG_ADMIN_TOKEN`).
#[derive(Debug, Clone)]
pub struct AdminToken(SecretString);

impl AdminToken {
    /// Accepts a token of at least 16 visible ASCII characters.
    pub fn parse(raw: &str) -> Result<Self, String> {
        if raw.len() < MIN_LEN || !raw.chars().all(|c| c.is_ascii_graphic()) {
            return Err(format!(
                "must be at least {MIN_LEN} visible ASCII characters without spaces; \
                 make one with `openssl rand -hex 16`"
            ));
        }
        Ok(Self(SecretString::from(raw)))
    }

    /// A fresh random token (32 hex digits), for a `serve` started without one.
    pub fn generate() -> Self {
        let bytes: [u8; 16] = rand::random();
        Self(SecretString::from(hex::encode(bytes)))
    }

    /// The token itself, to print once at start-up or to send as a client.
    pub fn reveal(&self) -> &str {
        self.0.expose_secret()
    }

    /// True when `candidate` is this token; the comparison takes the same time either way.
    pub fn matches(&self, candidate: &str) -> bool {
        self.0
            .expose_secret()
            .as_bytes()
            .ct_eq(candidate.as_bytes())
            .into()
    }
}

/// Proof that a request carried the admin token; take it as a handler argument.
#[derive(Debug)]
pub struct Admin;

/// The refusal of a request without the admin token.
#[derive(Debug, thiserror::Error)]
#[error("unauthorized")]
pub struct Unauthorized;

impl ResponseError for Unauthorized {
    fn error_response(&self) -> HttpResponse {
        HttpResponse::Unauthorized().finish()
    }
}

impl FromRequest for Admin {
    type Error = Unauthorized;
    type Future = Ready<Result<Self, Unauthorized>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let presented = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "));
        let allowed = match (req.app_data::<web::Data<AdminToken>>(), presented) {
            (Some(token), Some(presented)) => token.matches(presented.trim()),
            _ => false,
        };
        ready(if allowed {
            Ok(Admin)
        } else {
            Err(Unauthorized)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_enough_and_compared_exactly() {
        assert!(AdminToken::parse("short").is_err());
        assert!(AdminToken::parse("has a space in it ok").is_err());
        let token = AdminToken::parse("0123456789abcdef").unwrap();
        assert!(token.matches("0123456789abcdef"));
        assert!(!token.matches("0123456789abcdeF"));
        assert!(!token.matches("0123456789abcdef0"));
        assert!(!token.matches(""));
        assert!(!format!("{token:?}").contains("0123456789"));
    }

    #[test]
    fn generated_tokens_differ_and_parse() {
        let (a, b) = (AdminToken::generate(), AdminToken::generate());
        assert_ne!(a.reveal(), b.reveal());
        assert!(AdminToken::parse(a.reveal()).is_ok());
    }
}
