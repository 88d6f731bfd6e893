//! The CSRF token a form page carries: signed with the link keys, tied to one form and a
//! short lifetime, so no server session is needed.
//!
//! The token is `<payload>.<tag>`, both base64url without padding: the payload is
//! `<key id>.<issued at, unix s>.<nonce>` (the nonce 16 random bytes in hex), the tag
//! HMAC-SHA256 over `csrf|<form id>|<encoded payload>`, so a token of one form does not pass
//! on another, nor as a link token. The nonce names the submission: the same token posted
//! twice is one submission.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::Mac;

use crate::domain::{FormId, UnixTime};
use crate::links::KeyRing;

use crate::store::{LinkKey, Store, StoreError};

/// How long a form page's token is accepted: 2 hours to fill the form in.
pub const LIFETIME_SECS: i64 = 2 * 3600;

/// A token that verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Csrf {
    /// The submission's nonce (hex).
    pub nonce: String,
    /// When the page was served.
    pub issued: UnixTime,
}

/// The text the tag covers.
fn signed(form: &FormId, payload: &str) -> String {
    format!("csrf|{form}|{payload}")
}

/// A fresh token for a page of `form` served at `now`, signed with `key`.
pub fn issue(form: &FormId, key: &LinkKey, now: UnixTime) -> String {
    let nonce = hex::encode(rand::random::<[u8; 16]>());
    let payload = URL_SAFE_NO_PAD.encode(format!("{}.{}.{nonce}", key.id, now.0));
    let tag = key.mac(&signed(form, &payload)).finalize().into_bytes();
    format!("{payload}.{}", URL_SAFE_NO_PAD.encode(tag))
}

/// A token read but not yet trusted.
#[derive(Debug)]
struct Read<'r> {
    key_id: u32,
    payload: &'r str,
    tag: Vec<u8>,
    claims: Csrf,
}

/// Reads a token's parts; `None` when it is not in the shape [`issue`] writes.
fn read(raw: &str) -> Option<Read<'_>> {
    let (payload, tag) = raw.split_once('.')?;
    let text = String::from_utf8(URL_SAFE_NO_PAD.decode(payload).ok()?).ok()?;
    let mut parts = text.splitn(3, '.');
    let key_id = parts.next()?.parse::<u32>().ok()?;
    let issued = parts.next()?.parse::<i64>().ok()?;
    let nonce = parts.next()?;
    let hex_nonce = nonce.len() == 32 && nonce.bytes().all(|b| b.is_ascii_hexdigit());
    hex_nonce.then(|| Read {
        key_id,
        payload,
        tag: URL_SAFE_NO_PAD.decode(tag).unwrap_or_default(),
        claims: Csrf {
            nonce: nonce.to_owned(),
            issued: UnixTime(issued),
        },
    })
}

/// The claims of `token` when `key` signed it for `form` and it is fresh at `now`.
fn trust(token: Read<'_>, form: &FormId, key: &LinkKey, now: UnixTime) -> Option<Csrf> {
    let issued = token.claims.issued.0;
    let fresh = issued <= now.0 && now.0 < issued.saturating_add(LIFETIME_SECS);
    let signed_by_key = key.id == token.key_id
        && key
            .mac(&signed(form, token.payload))
            .verify_slice(&token.tag)
            .is_ok();
    (fresh && signed_by_key).then_some(token.claims)
}

/// The token's claims when it was issued for `form` with one of the account's keys and is
/// not older than [`LIFETIME_SECS`] at `now`; `None` for anything else (missing, forged,
/// another form's, expired). A token from the future is refused too.
pub async fn verify(
    raw: &str,
    form: &FormId,
    keys: &KeyRing,
    store: &Store,
    now: UnixTime,
) -> Result<Option<Csrf>, StoreError> {
    let Some(token) = read(raw) else {
        return Ok(None);
    };
    let Some(key) = keys.key(store, token.key_id).await? else {
        return Ok(None);
    };
    Ok(trust(token, form, &key, now))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_passes_for_its_form_until_it_expires_and_nothing_else_passes() {
        let key = LinkKey {
            id: 3,
            bytes: [5; 32],
        };
        let trial = FormId::parse("trial").unwrap();
        let now = UnixTime(1_764_000_000);
        let token = issue(&trial, &key, now);
        let check = |raw: &str, form: &FormId, key: &LinkKey, at: i64| {
            read(raw).and_then(|t| trust(t, form, key, UnixTime(at)))
        };
        let claims = check(&token, &trial, &key, now.0).expect("it passes");
        assert_eq!(claims.issued, now);
        assert_eq!(claims.nonce.len(), 32);
        assert!(check(&token, &trial, &key, now.0 + LIFETIME_SECS - 1).is_some());
        assert!(
            check(&token, &trial, &key, now.0 + LIFETIME_SECS).is_none(),
            "expired"
        );
        assert!(
            check(&token, &trial, &key, now.0 - 1).is_none(),
            "from the future"
        );
        let other = FormId::parse("other").unwrap();
        assert!(
            check(&token, &other, &key, now.0).is_none(),
            "another form's"
        );
        let stranger = LinkKey {
            id: 3,
            bytes: [6; 32],
        };
        assert!(
            check(&token, &trial, &stranger, now.0).is_none(),
            "another key's"
        );
        let (payload, _) = token.split_once('.').unwrap();
        assert!(check(&format!("{payload}.AAAA"), &trial, &key, now.0).is_none());
        assert_ne!(issue(&trial, &key, now), token, "a fresh nonce each page");
        for bad in ["", "x", "a.b", "!!.!!"] {
            assert!(read(bad).is_none(), "{bad}");
        }
    }
}
