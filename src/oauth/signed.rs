//! The two values web authorisation signs, with keys of their own (`KeySet::OAuth`):
//!
//! - the `state` WeChat carries through the authorisation and back: `[A-Za-z0-9]`, at most
//!   128 bytes, as WeChat requires. It is `<key id>x<issued>x<attempt>x<tag>`, the tag the
//!   first 16 bytes of HMAC-SHA256 (hex) over `state.<key id>.<issued>.<attempt>.<to>`: it
//!   vouches for where the browser returns (`to`, a [`ReturnPath`] that rides in the
//!   `redirect_uri`, being too long for the state), for the attempt (so a reused code gets
//!   one fresh authorisation, never a loop) and for its age ([`STATE_LIFETIME_SECS`]).
//! - the identity cookie: base64url of `<key id>.<issued>.<openid>.<unionid>` (the unionid
//!   possibly empty), `.`, and the base64url HMAC-SHA256 over `identity.` and that payload;
//!   trusted for [`COOKIE_LIFETIME_SECS`].

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::Mac;

use super::{Identity, ReturnPath};
use crate::domain::{OpenId, UnionId, UnixTime};
use crate::store::LinkKey;

/// How long a state is accepted after the authorisation started: WeChat's code lives 5
/// minutes; the rest is for a slow page.
pub const STATE_LIFETIME_SECS: i64 = 600;

/// How long the identity cookie is trusted (and kept by the browser): 30 minutes.
pub const COOKIE_LIFETIME_SECS: i64 = 1800;

/// The most authorisations one click may start: the first and one fresh one after a
/// reused or expired code.
pub const MAX_ATTEMPTS: u8 = 2;

/// How many bytes of the state's HMAC it keeps (hex doubles them).
const STATE_TAG_BYTES: usize = 16;

/// What a state vouches for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct State {
    /// The key that signed it.
    pub key_id: u32,
    /// When the authorisation started.
    pub issued: UnixTime,
    /// 0 for the first authorisation, 1 for the fresh one after a reused code.
    pub attempt: u8,
}

impl State {
    /// The MAC input: the state's parts and where it returns.
    fn payload(&self, to: &ReturnPath) -> String {
        format!(
            "state.{}.{}.{}.{to}",
            self.key_id, self.issued.0, self.attempt
        )
    }

    /// The state's text, signed with `key` (whose id is [`State::key_id`]), vouching for `to`.
    pub fn sign(&self, key: &LinkKey, to: &ReturnPath) -> String {
        let tag = key.mac(&self.payload(to)).finalize().into_bytes();
        format!(
            "{}x{}x{}x{}",
            self.key_id,
            self.issued.0,
            self.attempt,
            hex::encode(&tag[..STATE_TAG_BYTES])
        )
    }

    /// The key id a state's text names, if it reads as a state at all.
    pub fn key_id_of(raw: &str) -> Option<u32> {
        raw.split('x').next()?.parse().ok()
    }

    /// The state `raw` says, when `key` signed it for `to`, it is younger than
    /// [`STATE_LIFETIME_SECS`] at `now`, and its attempt is one of [`MAX_ATTEMPTS`].
    pub fn verify(
        raw: &str,
        key: Option<&LinkKey>,
        to: &ReturnPath,
        now: UnixTime,
    ) -> Option<Self> {
        let mut parts = raw.split('x');
        let state = Self {
            key_id: parts.next()?.parse().ok()?,
            issued: UnixTime(parts.next()?.parse().ok()?),
            attempt: parts.next()?.parse().ok()?,
        };
        let tag = hex::decode(parts.next()?).ok()?;
        let key = key.filter(|k| k.id == state.key_id)?;
        let fresh = (0..STATE_LIFETIME_SECS).contains(&now.0.saturating_sub(state.issued.0));
        let signed = key
            .mac(&state.payload(to))
            .verify_truncated_left(&tag)
            .is_ok();
        (parts.next().is_none()
            && tag.len() == STATE_TAG_BYTES
            && signed
            && fresh
            && state.attempt < MAX_ATTEMPTS)
            .then_some(state)
    }
}

/// The identity cookie's value for `identity`, issued at `issued` and signed with `key`.
pub fn sign_identity(identity: &Identity, key: &LinkKey, issued: UnixTime) -> String {
    let payload = URL_SAFE_NO_PAD.encode(format!(
        "{}.{}.{}.{}",
        key.id,
        issued.0,
        identity.openid,
        identity.unionid.as_ref().map_or("", UnionId::as_str)
    ));
    let tag = key
        .mac(&format!("identity.{payload}"))
        .finalize()
        .into_bytes();
    format!("{payload}.{}", URL_SAFE_NO_PAD.encode(tag))
}

/// The key id an identity cookie names, if it reads as one.
pub fn identity_key_id(raw: &str) -> Option<u32> {
    let (payload, _) = raw.split_once('.')?;
    let text = String::from_utf8(URL_SAFE_NO_PAD.decode(payload).ok()?).ok()?;
    text.split('.').next()?.parse().ok()
}

/// The identity a cookie's value names, when `key` signed it less than
/// [`COOKIE_LIFETIME_SECS`] before `now`.
pub fn verify_identity(raw: &str, key: Option<&LinkKey>, now: UnixTime) -> Option<Identity> {
    let (payload, tag) = raw.split_once('.')?;
    let key = key?;
    key.mac(&format!("identity.{payload}"))
        .verify_slice(&URL_SAFE_NO_PAD.decode(tag).ok()?)
        .ok()?;
    let text = String::from_utf8(URL_SAFE_NO_PAD.decode(payload).ok()?).ok()?;
    let mut parts = text.split('.');
    let key_id: u32 = parts.next()?.parse().ok()?;
    let issued: i64 = parts.next()?.parse().ok()?;
    let openid = OpenId::parse(parts.next()?).ok()?;
    let unionid = match parts.next()? {
        "" => None,
        raw => Some(UnionId::parse(raw).ok()?),
    };
    let fresh = (0..COOKIE_LIFETIME_SECS).contains(&now.0.saturating_sub(issued));
    (key_id == key.id && fresh && parts.next().is_none()).then_some(Identity { openid, unionid })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(id: u32, fill: u8) -> LinkKey {
        LinkKey::filled(id, fill)
    }

    fn to(raw: &str) -> ReturnPath {
        ReturnPath::parse(raw).unwrap()
    }

    #[test]
    fn a_state_is_short_alphanumeric_and_vouches_for_its_return_and_attempt() {
        let k = key(3, 9);
        let now = UnixTime(1_764_000_000);
        let back = to("/l/eyJhIjoxfQ.c2lnbmF0dXJl");
        let state = State {
            key_id: 3,
            issued: now,
            attempt: 1,
        };
        let raw = state.sign(&k, &back);
        assert!(
            raw.len() <= 128 && raw.bytes().all(|b| b.is_ascii_alphanumeric()),
            "{raw}"
        );
        assert_eq!(State::key_id_of(&raw), Some(3));
        assert_eq!(
            State::verify(&raw, Some(&k), &back, now),
            Some(state.clone())
        );
        let later = UnixTime(now.0 + STATE_LIFETIME_SECS - 1);
        assert!(State::verify(&raw, Some(&k), &back, later).is_some());
        let expired = UnixTime(now.0 + STATE_LIFETIME_SECS);
        assert!(State::verify(&raw, Some(&k), &back, expired).is_none());
        // Elsewhere, another key, or a changed attempt: refused.
        assert!(State::verify(&raw, Some(&k), &to("/l/other"), now).is_none());
        assert!(State::verify(&raw, Some(&key(3, 8)), &back, now).is_none());
        assert!(State::verify(&raw, None, &back, now).is_none());
        let bumped = raw.replacen("x1x", "x0x", 1);
        assert!(State::verify(&bumped, Some(&k), &back, now).is_none());
        let third = State {
            attempt: MAX_ATTEMPTS,
            ..state
        }
        .sign(&k, &back);
        assert!(
            State::verify(&third, Some(&k), &back, now).is_none(),
            "no third attempt"
        );
    }

    #[test]
    fn an_identity_cookie_holds_for_half_an_hour_and_cannot_be_changed() {
        let k = key(1, 4);
        let now = UnixTime(1_764_000_000);
        let who = Identity {
            openid: OpenId::parse("oClicker0000000000000000001").unwrap(),
            unionid: Some(UnionId::parse("uUnion1").unwrap()),
        };
        let raw = sign_identity(&who, &k, now);
        assert_eq!(identity_key_id(&raw), Some(1));
        assert_eq!(verify_identity(&raw, Some(&k), now), Some(who.clone()));
        let late = UnixTime(now.0 + COOKIE_LIFETIME_SECS);
        assert_eq!(verify_identity(&raw, Some(&k), late), None);
        let (_, tag) = raw.split_once('.').unwrap();
        let other = Identity {
            openid: OpenId::parse("oSomeoneElse").unwrap(),
            unionid: None,
        };
        let forged = sign_identity(&other, &k, now);
        let (forged_payload, _) = forged.split_once('.').unwrap();
        let swapped = format!("{forged_payload}.{tag}");
        assert_eq!(verify_identity(&swapped, Some(&k), now), None);
        assert_eq!(verify_identity(&raw, Some(&key(1, 5)), now), None);
        assert_eq!(verify_identity("garbage", Some(&k), now), None);
    }
}
