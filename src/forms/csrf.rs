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
use crate::links::token::mac;
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
    let tag = mac(key, &signed(form, &payload)).finalize().into_bytes();
    format!("{payload}.{}", URL_SAFE_NO_PAD.encode(tag))
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
    let Some((payload, tag)) = raw.split_once('.') else {
        return Ok(None);
    };
    let Some(text) = URL_SAFE_NO_PAD
        .decode(payload)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
    else {
        return Ok(None);
    };
    let mut parts = text.splitn(3, '.');
    let (Some(key_id), Some(issued), Some(nonce)) = (
        parts.next().and_then(|p| p.parse::<u32>().ok()),
        parts.next().and_then(|p| p.parse::<i64>().ok()),
        parts.next(),
    ) else {
        return Ok(None);
    };
    let fresh = issued <= now.0 && now.0 < issued.saturating_add(LIFETIME_SECS);
    let hex_nonce = nonce.len() == 32 && nonce.bytes().all(|b| b.is_ascii_hexdigit());
    if !fresh || !hex_nonce {
        return Ok(None);
    }
    let Some(key) = keys.key(store, key_id).await? else {
        return Ok(None);
    };
    let tag = URL_SAFE_NO_PAD.decode(tag).unwrap_or_default();
    if mac(&key, &signed(form, payload))
        .verify_slice(&tag)
        .is_err()
    {
        return Ok(None);
    }
    Ok(Some(Csrf {
        nonce: nonce.to_owned(),
        issued: UnixTime(issued),
    }))
}
