//! Access to the admin API and dashboard, kept in Redis so every `serve` process shares it:
//! named credentials with roles, dashboard sessions, the login limiter, the audit list, and
//! the channel QR tickets WeChat made (so a download does not make a new code).
//!
//! Secrets are never stored: a credential is named by the SHA-256 of its token and a session
//! by the SHA-256 of its cookie. Both are random (256 and 128 bits), so a fast hash is
//! enough: a slow one (bcrypt, argon2) only helps against guessing low-entropy passwords,
//! and nobody guesses 2^128 values whatever the hash costs.

use std::sync::LazyLock;

use redis::{AsyncCommands, Script};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{Store, StoreError};
use crate::domain::{Scene, UnixTime};

static AUTHENTICATE: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("lua/authenticate.lua")));
static CREATE_CREDENTIAL: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("lua/create_credential.lua")));
static REVOKE_CREDENTIAL: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("lua/revoke_credential.lua")));

/// How many audit records are kept (the newest).
pub const AUDIT_CAP: isize = 10_000;

/// The window of the login limiter, in seconds.
pub const LOGIN_WINDOW_SECS: u64 = 60;

/// The name of the built-in credential, `WXTAG_ADMIN_TOKEN`; no named credential may take it.
pub const BUILT_IN_ADMIN: &str = "admin";

/// What a credential may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Everything.
    Admin,
    /// Read everything and edit leads' tags; no export.
    Sales,
    /// Read everything but the export.
    Read,
    /// Only the ingest routes (events and identities pushed by another system).
    Ingest,
}

impl Role {
    /// Parses `admin`, `sales`, `read` or `ingest`.
    pub fn parse(raw: &str) -> Result<Self, String> {
        match raw {
            "admin" => Ok(Role::Admin),
            "sales" => Ok(Role::Sales),
            "read" => Ok(Role::Read),
            "ingest" => Ok(Role::Ingest),
            other => Err(format!(
                "{other:?} is not a role; use admin, sales, read or ingest"
            )),
        }
    }

    /// The role's name, as `parse` takes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Sales => "sales",
            Role::Read => "read",
            Role::Ingest => "ingest",
        }
    }
}

/// A named credential: who holds it and what it may do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credential {
    /// Who holds it (a person or a system); audit records name it.
    pub name: String,
    /// What it may do.
    pub role: Role,
    /// The only account it may act on; `None` for every account.
    pub account: Option<String>,
    /// When it was made (unix seconds).
    pub created: i64,
}

/// A credential as `wxtag token list` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialUse {
    /// The credential.
    pub credential: Credential,
    /// When it last let a request in (unix seconds), if ever.
    pub last_used: Option<i64>,
}

/// One data-changing admin action, for the audit list.
#[derive(Debug, Clone, Serialize)]
pub struct AuditRecord<'a> {
    /// The credential's name.
    pub who: &'a str,
    /// What was done, e.g. `tags.edit`, `token.create`, `login`.
    pub what: &'a str,
    /// What it was done to (an openid, a credential name); empty when nothing.
    pub target: &'a str,
    /// When (unix seconds).
    pub at: i64,
}

/// The SHA-256 of a secret, in hex: how tokens and sessions are named in Redis.
pub fn digest(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// A new random token for a named credential: 256 bits, in hex.
pub fn new_token() -> String {
    hex::encode(rand::random::<[u8; 32]>())
}

/// Checks a credential name: 1 to 64 of `A-Z a-z 0-9 _ . -`, and not the built-in `admin`.
pub fn check_name(name: &str) -> Result<(), String> {
    if name == BUILT_IN_ADMIN {
        return Err(
            "\"admin\" is the built-in credential (WXTAG_ADMIN_TOKEN); pick another name".into(),
        );
    }
    let ok = (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{name:?} is not a credential name; use 1 to 64 letters, digits, `_`, `.` or `-`"
        ))
    }
}

fn parse_credential(key: &str, json: &str) -> Result<Credential, StoreError> {
    serde_json::from_str(json).map_err(|e| StoreError::Corrupt {
        key: key.to_owned(),
        what: format!("credential: {e}"),
    })
}

/// A hash's fields and values, as `HGETALL` answers.
type Pairs<V> = Vec<(String, V)>;

/// A cached QR ticket: the request it answered, and what the code encodes.
#[derive(Debug, Serialize, Deserialize)]
struct CachedQr {
    request: String,
    url: String,
}

impl Store {
    /// Adds a credential and returns its new token, to show once; `None` when the name is
    /// taken.
    pub async fn create_credential(
        &self,
        credential: &Credential,
    ) -> Result<Option<String>, StoreError> {
        let token = new_token();
        let json = serde_json::to_string(credential).map_err(|e| StoreError::Corrupt {
            key: self.keys.credentials(),
            what: format!("cannot encode the credential: {e}"),
        })?;
        let added: i64 = CREATE_CREDENTIAL
            .key(self.keys.credentials())
            .key(self.keys.credential_names())
            .arg(digest(&token))
            .arg(&credential.name)
            .arg(json)
            .invoke_async(&mut self.conn.clone())
            .await?;
        Ok((added == 1).then_some(token))
    }

    /// Every named credential, by name, with when it was last used.
    pub async fn credentials(&self) -> Result<Vec<CredentialUse>, StoreError> {
        let mut conn = self.conn.clone();
        let key = self.keys.credentials();
        let (stored, used): (Pairs<String>, Pairs<i64>) = redis::pipe()
            .hgetall(&key)
            .hgetall(self.keys.credentials_used())
            .query_async(&mut conn)
            .await?;
        let used: std::collections::HashMap<String, i64> = used.into_iter().collect();
        let mut out = stored
            .iter()
            .map(|(digest, json)| {
                Ok(CredentialUse {
                    credential: parse_credential(&key, json)?,
                    last_used: used.get(digest).copied(),
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        out.sort_by(|a, b| a.credential.name.cmp(&b.credential.name));
        Ok(out)
    }

    /// Removes the credential of that name; false when there is none.
    pub async fn revoke_credential(&self, name: &str) -> Result<bool, StoreError> {
        let removed: i64 = REVOKE_CREDENTIAL
            .key(self.keys.credentials())
            .key(self.keys.credential_names())
            .key(self.keys.credentials_used())
            .arg(name)
            .invoke_async(&mut self.conn.clone())
            .await?;
        Ok(removed == 1)
    }

    /// The credential whose token has this digest, noting that it was used now; `None` for
    /// an unknown or revoked token.
    pub async fn credential(&self, token_digest: &str) -> Result<Option<Credential>, StoreError> {
        let found: Option<String> = AUTHENTICATE
            .key(self.keys.credentials())
            .key(self.keys.credentials_used())
            .arg(token_digest)
            .arg(UnixTime::now().0)
            .invoke_async(&mut self.conn.clone())
            .await?;
        found
            .map(|json| parse_credential(&self.keys.credentials(), &json))
            .transpose()
    }

    /// Opens a dashboard session for the credential with this token digest, for `ttl_secs`;
    /// returns the cookie value (128 random bits, in hex).
    pub async fn start_session(
        &self,
        credential_digest: &str,
        ttl_secs: u64,
    ) -> Result<String, StoreError> {
        let cookie = hex::encode(rand::random::<[u8; 16]>());
        let _: () = self
            .conn
            .clone()
            .set_ex(
                self.keys.session(&digest(&cookie)),
                credential_digest,
                ttl_secs,
            )
            .await?;
        Ok(cookie)
    }

    /// The token digest of the credential a session cookie belongs to; `None` when the
    /// session is unknown, expired or ended.
    pub async fn session(&self, cookie: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .conn
            .clone()
            .get(self.keys.session(&digest(cookie)))
            .await?)
    }

    /// Ends a session: its cookie no longer works, wherever it was copied to.
    pub async fn end_session(&self, cookie: &str) -> Result<(), StoreError> {
        let _: () = self
            .conn
            .clone()
            .del(self.keys.session(&digest(cookie)))
            .await?;
        Ok(())
    }

    /// Counts one login attempt from `client` and returns how many it made this minute.
    pub async fn count_login_attempt(&self, client: &str) -> Result<u64, StoreError> {
        self.count_in_window(&self.keys.login_attempts(client), LOGIN_WINDOW_SECS)
            .await
    }

    /// Counts one more at `key`, a counter that starts a window of `secs` at its first count,
    /// and returns the count in this window.
    pub(super) async fn count_in_window(&self, key: &str, secs: u64) -> Result<u64, StoreError> {
        let (count,): (u64,) = redis::pipe()
            .atomic()
            .incr(key, 1)
            .cmd("EXPIRE")
            .arg(key)
            .arg(secs)
            .arg("NX")
            .ignore()
            .query_async(&mut self.conn.clone())
            .await?;
        Ok(count)
    }

    /// Appends an audit record, keeping the newest [`AUDIT_CAP`].
    pub async fn append_audit(&self, record: &AuditRecord<'_>) -> Result<(), StoreError> {
        let key = self.keys.audit();
        let json = serde_json::to_string(record).map_err(|e| StoreError::Corrupt {
            key: key.clone(),
            what: format!("cannot encode the audit record: {e}"),
        })?;
        let _: () = redis::pipe()
            .atomic()
            .lpush(&key, json)
            .ignore()
            .ltrim(&key, 0, AUDIT_CAP - 1)
            .ignore()
            .query_async(&mut self.conn.clone())
            .await?;
        Ok(())
    }

    /// The content of the channel's cached QR code, if one was made for the same `request`
    /// and has not expired.
    pub async fn cached_qr(
        &self,
        scene: &Scene,
        request: &str,
    ) -> Result<Option<String>, StoreError> {
        let key = self.keys.qr_ticket(scene);
        let found: Option<String> = self.conn.clone().get(&key).await?;
        Ok(found
            .and_then(|json| serde_json::from_str::<CachedQr>(&json).ok())
            .filter(|cached| cached.request == request)
            .map(|cached| cached.url))
    }

    /// Keeps the content of the channel's QR code made for `request`: for `ttl_secs`, or for
    /// good when `None` (a permanent code).
    pub async fn cache_qr(
        &self,
        scene: &Scene,
        request: &str,
        url: &str,
        ttl_secs: Option<u64>,
    ) -> Result<(), StoreError> {
        let key = self.keys.qr_ticket(scene);
        let json = serde_json::to_string(&CachedQr {
            request: request.to_owned(),
            url: url.to_owned(),
        })
        .map_err(|e| StoreError::Corrupt {
            key: key.clone(),
            what: format!("cannot encode the qr ticket: {e}"),
        })?;
        let mut conn = self.conn.clone();
        let _: () = match ttl_secs {
            Some(ttl) => conn.set_ex(&key, json, ttl).await?,
            None => conn.set(&key, json).await?,
        };
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_parse_their_own_names_only() {
        for role in [Role::Admin, Role::Sales, Role::Read, Role::Ingest] {
            assert_eq!(Role::parse(role.as_str()), Ok(role));
        }
        assert!(
            Role::parse("root")
                .unwrap_err()
                .contains("admin, sales, read or ingest")
        );
    }

    #[test]
    fn names_are_short_plain_and_never_the_built_in_admin() {
        assert!(check_name("crm-sync.prod_1").is_ok());
        for bad in ["", "admin", "has space", "名字", &"x".repeat(65)] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn tokens_are_256_random_bits_and_digests_are_sha256() {
        let (a, b) = (new_token(), new_token());
        assert_eq!(a.len(), 64);
        assert_ne!(a, b);
        assert_eq!(
            digest("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
