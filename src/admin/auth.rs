//! Who may do what: the built-in admin token, named credentials with roles, and the checks
//! the route guards (`admin::routes`) run before any handler.
//!
//! The API takes only `Authorization: Bearer <token>`: `WXTAG_ADMIN_TOKEN` (compared in
//! constant time) is the built-in `admin` credential; any other token is looked up by its
//! SHA-256 among the named credentials. The dashboard takes only its session cookie
//! ([`COOKIE`]), which names a session in Redis, never a token. 401 means no, an unknown or a
//! revoked credential (with an empty body on the API); 403 a known one its role or account
//! does not allow.

use std::future::{Ready, ready};
use std::net::SocketAddr;

use actix_web::{
    FromRequest, HttpMessage, HttpRequest, HttpResponse, ResponseError, dev::Payload, http::header,
};
use subtle::ConstantTimeEq;

use super::client::Client;
pub use crate::config::{AdminToken, TrustedProxies};
use crate::store::access::{BUILT_IN_ADMIN, Credential, Role, digest};
use crate::store::{Store, StoreError};

/// The name of the dashboard's session cookie; it holds a random session id.
pub const COOKIE: &str = "wxtag_session";

/// The dashboard's login page.
pub const LOGIN_PATH: &str = "/login";

/// What a route needs its caller's role to allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Reading leads, channels, tags, dead letters and QR codes.
    Read,
    /// Changing sales' own tags on a lead.
    EditTags,
    /// Every lead at once, as CSV (a segment's members too).
    Export,
    /// Saving and deleting segments.
    EditSegments,
    /// Sending events from other systems and joining their ids to leads (the ingest
    /// routes: `POST /api/events`, `POST /api/leads/{openid}/identity`).
    Ingest,
    /// Publishing the account's menus to WeChat (`POST /api/menu/push`): admin only.
    Menus,
}

impl Need {
    /// True when `role` may do this. `ingest` may do only [`Need::Ingest`], which no role
    /// but `admin` may do besides.
    pub fn allows(self, role: Role) -> bool {
        match role {
            Role::Admin => true,
            Role::Sales => matches!(self, Need::Read | Need::EditTags | Need::EditSegments),
            Role::Read => self == Need::Read,
            Role::Ingest => self == Need::Ingest,
        }
    }
}

/// The credential a request was let in with; handlers take it to say who acted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The credential's name (`admin` for `WXTAG_ADMIN_TOKEN`).
    pub name: String,
    /// What it may do.
    pub role: Role,
    /// The only account it may act on; `None` for every account.
    pub account: Option<String>,
}

impl From<Credential> for Caller {
    fn from(credential: Credential) -> Self {
        Self {
            name: credential.name,
            role: credential.role,
            account: credential.account,
        }
    }
}

impl Caller {
    /// True when this caller may do `need` on `account`.
    pub fn may(&self, need: Need, account: &str) -> bool {
        need.allows(self.role) && self.account.as_deref().is_none_or(|own| own == account)
    }
}

/// The refusal of a request without a known credential.
#[derive(Debug, thiserror::Error)]
#[error("unauthorized")]
pub struct Unauthorized;

impl ResponseError for Unauthorized {
    fn error_response(&self) -> HttpResponse {
        HttpResponse::Unauthorized().finish()
    }
}

impl FromRequest for Caller {
    type Error = Unauthorized;
    type Future = Ready<Result<Self, Unauthorized>>;

    /// The caller the route guard let in; a route without a guard has none.
    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(
            req.extensions()
                .get::<Caller>()
                .cloned()
                .ok_or(Unauthorized),
        )
    }
}

/// How requests are let in: the built-in admin token, the account served, which proxies
/// are believed, and whether cookies must be `Secure`.
#[derive(Debug, Clone)]
pub struct Access {
    admin: AdminToken,
    admin_digest: String,
    appid: String,
    trusted: TrustedProxies,
    loopback: bool,
}

impl Access {
    /// Access for the account `appid`, served on `bound`.
    pub fn new(admin: AdminToken, appid: &str, trusted: TrustedProxies, bound: SocketAddr) -> Self {
        Self {
            admin_digest: digest(admin.reveal()),
            admin,
            appid: appid.to_owned(),
            trusted,
            loopback: bound.ip().is_loopback(),
        }
    }

    /// The account this server serves.
    pub fn appid(&self) -> &str {
        &self.appid
    }

    /// The client behind `req`, through trusted proxies only.
    pub fn client(&self, req: &HttpRequest) -> Client {
        Client::of(req, &self.trusted)
    }

    /// Whether a cookie set for `client` must be `Secure`: always, unless the server is bound
    /// to loopback and the client did not come over HTTPS.
    pub fn secure_cookie(&self, client: &Client) -> bool {
        !self.loopback || client.https
    }

    fn admin(&self) -> Caller {
        Caller {
            name: BUILT_IN_ADMIN.to_owned(),
            role: Role::Admin,
            account: None,
        }
    }

    /// The credential a presented token belongs to, if any, with the token's digest (what a
    /// session of it keeps).
    pub async fn by_token(
        &self,
        store: &Store,
        token: &str,
    ) -> Result<Option<(Caller, String)>, StoreError> {
        if self.admin.matches(token) {
            return Ok(Some((self.admin(), self.admin_digest.clone())));
        }
        let token_digest = digest(token);
        Ok(store
            .credential(&token_digest)
            .await?
            .map(|credential| (Caller::from(credential), token_digest)))
    }

    /// The caller of an API request, from its bearer token; cookies do not count here.
    pub async fn bearer(
        &self,
        store: &Store,
        req: &HttpRequest,
    ) -> Result<Option<Caller>, StoreError> {
        let presented = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|token| !token.is_empty());
        match presented {
            Some(token) => Ok(self.by_token(store, token).await?.map(|(caller, _)| caller)),
            None => Ok(None),
        }
    }

    /// The caller of a dashboard request, from its session cookie; a session whose
    /// credential was revoked (or whose admin token changed) lets nobody in.
    pub async fn session(
        &self,
        store: &Store,
        req: &HttpRequest,
    ) -> Result<Option<Caller>, StoreError> {
        let Some(cookie) = req.cookie(COOKIE) else {
            return Ok(None);
        };
        let Some(token_digest) = store.session(cookie.value()).await? else {
            return Ok(None);
        };
        if bool::from(token_digest.as_bytes().ct_eq(self.admin_digest.as_bytes())) {
            return Ok(Some(self.admin()));
        }
        Ok(store.credential(&token_digest).await?.map(Caller::from))
    }
}

/// The answer to a dashboard request without a session: a redirect to the login page.
#[derive(Debug, thiserror::Error)]
#[error("login required")]
pub struct LoginRequired {
    /// The page to return to after logging in (path and query, as the request had them).
    next: String,
}

impl LoginRequired {
    /// The redirect for `req`, which brings the browser back to it after logging in.
    pub fn for_request(req: &HttpRequest) -> Self {
        let next = req
            .uri()
            .path_and_query()
            .map_or("/", |pq| pq.as_str())
            .to_owned();
        Self { next }
    }
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
    fn next_pages_are_encoded_as_one_query_value() {
        assert_eq!(
            percent_encode("/leads?tag=兴趣:PLC&x=1"),
            "/leads%3Ftag%3D%E5%85%B4%E8%B6%A3%3APLC%26x%3D1"
        );
    }

    #[test]
    fn cookies_are_secure_unless_bound_to_loopback_over_plain_http() {
        let access = |bind: &str| {
            Access::new(
                AdminToken::generate(),
                "wx1",
                TrustedProxies::default(),
                bind.parse().unwrap(),
            )
        };
        let plain = Client {
            ip: None,
            https: false,
        };
        let https = Client {
            ip: None,
            https: true,
        };
        assert!(!access("127.0.0.1:8080").secure_cookie(&plain));
        assert!(access("127.0.0.1:8080").secure_cookie(&https));
        assert!(access("0.0.0.0:8080").secure_cookie(&plain));
        assert!(access("[::]:8080").secure_cookie(&plain));
    }

    #[test]
    fn roles_allow_what_the_contract_says() {
        use Need::*;
        for (role, allowed) in [
            (Role::Admin, [true, true, true, true, true]),
            (Role::Sales, [true, true, false, true, false]),
            (Role::Read, [true, false, false, false, false]),
            (Role::Ingest, [false, false, false, false, true]),
        ] {
            let got = [Read, EditTags, Export, EditSegments, Ingest].map(|need| need.allows(role));
            assert_eq!(got, allowed, "{role:?}");
        }
    }
}
