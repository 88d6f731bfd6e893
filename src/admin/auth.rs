//! The admin token and the extractors that guard every admin route and dashboard page with it.
//!
//! A request is let in with `Authorization: Bearer <token>`, or with the dashboard's login
//! cookie ([`COOKIE`], HttpOnly and `SameSite=Strict`) holding the token; either is compared in
//! constant time. The JSON API answers anything else with 401 and an empty body: nothing else
//! is said. Dashboard pages ([`AdminPage`]) send the browser to the login page instead.

use std::future::{Ready, ready};

use actix_web::{
    FromRequest, HttpRequest, HttpResponse, ResponseError, dev::Payload, http::header, web,
};
use secrecy::{ExposeSecret, SecretString};
use subtle::ConstantTimeEq;

/// The name of the dashboard's login cookie; it holds the admin token.
pub const COOKIE: &str = "wxtag_admin";

/// The dashboard's login page.
pub const LOGIN_PATH: &str = "/login";

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

/// True when the request carries the admin token: as a bearer token when it sends an
/// `Authorization` header, else in the login cookie.
pub(super) fn carries_token(req: &HttpRequest) -> bool {
    let Some(token) = req.app_data::<web::Data<AdminToken>>() else {
        return false;
    };
    match req.headers().get(header::AUTHORIZATION) {
        Some(value) => value
            .to_str()
            .ok()
            .and_then(|value| value.strip_prefix("Bearer "))
            .is_some_and(|presented| token.matches(presented.trim())),
        None => req
            .cookie(COOKIE)
            .is_some_and(|cookie| token.matches(cookie.value())),
    }
}

impl FromRequest for Admin {
    type Error = Unauthorized;
    type Future = Ready<Result<Self, Unauthorized>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(if carries_token(req) {
            Ok(Admin)
        } else {
            Err(Unauthorized)
        })
    }
}

/// Proof that a dashboard request carried the admin token; without it the browser is sent to
/// the login page, which brings it back here afterwards.
#[derive(Debug)]
pub struct AdminPage;

/// The answer to a dashboard request without the admin token: a redirect to the login page.
#[derive(Debug, thiserror::Error)]
#[error("login required")]
pub struct LoginRequired {
    /// The page to return to after logging in (path and query, as the request had them).
    next: String,
}

impl ResponseError for LoginRequired {
    fn error_response(&self) -> HttpResponse {
        let location = if self.next == "/" {
            LOGIN_PATH.to_owned()
        } else {
            format!("{LOGIN_PATH}?next={}", percent_encode(&self.next))
        };
        HttpResponse::SeeOther()
            .insert_header((header::LOCATION, location))
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .finish()
    }
}

impl FromRequest for AdminPage {
    type Error = LoginRequired;
    type Future = Ready<Result<Self, LoginRequired>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(if carries_token(req) {
            Ok(AdminPage)
        } else {
            let next = req
                .uri()
                .path_and_query()
                .map_or("/", |pq| pq.as_str())
                .to_owned();
            Err(LoginRequired { next })
        })
    }
}

/// Percent-encodes everything but unreserved characters and `/`, for a query value.
fn percent_encode(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for byte in raw.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~/".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
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
    fn next_pages_are_encoded_as_one_query_value() {
        assert_eq!(
            percent_encode("/leads?tag=兴趣:PLC&x=1"),
            "/leads%3Ftag%3D%E5%85%B4%E8%B6%A3%3APLC%26x%3D1"
        );
    }

    #[test]
    fn generated_tokens_differ_and_parse() {
        let (a, b) = (AdminToken::generate(), AdminToken::generate());
        assert_ne!(a.reveal(), b.reveal());
        assert!(AdminToken::parse(a.reveal()).is_ok());
    }
}
