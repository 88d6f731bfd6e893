//! A tracked link's (or a form link's) per-lead token: who it was sent to, which link or
//! form, when, and under which key, signed with HMAC-SHA256.
//!
//! The token is `<payload>.<tag>`, both base64url without padding: the payload is
//! `<key id>.<issued at, unix s>.<target>.<openid>`, the target a link id or `f:` and a form
//! id (every part is digits, `A-Za-z0-9_-` or that `f:`, so `.` separates them
//! unambiguously, and a link's token is the same as before forms existed, so the tokens
//! already sent still verify), the tag HMAC-SHA256 over the encoded payload with the key the
//! id names. Reading a token ([`Token::parse`]) and trusting it
//! ([`Token::verify`]) are two steps: a token that does not verify still names its link,
//! and the redirect still goes there (recording nothing).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::Mac;
use thiserror::Error;

use crate::domain::{FormId, LinkId, OpenId, UnixTime};
use crate::store::LinkKey;

/// How long a token is trusted after it is issued: 90 days.
pub const LIFETIME_SECS: i64 = 90 * 86_400;

/// What a token leads to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A `[[link]]`, opened at `/l/<token>`.
    Link(LinkId),
    /// A `[[form]]`, opened at `/f/<id>?t=<token>`.
    Form(FormId),
}

/// How a form target is written in a payload: `f:<id>` (a link id holds no `:`).
const FORM_TARGET: &str = "f:";

impl Target {
    fn parse(raw: &str) -> Result<Self, Unreadable> {
        match raw.strip_prefix(FORM_TARGET) {
            Some(id) => FormId::parse(id).map(Self::Form).map_err(|_| Unreadable),
            None => LinkId::parse(raw).map(Self::Link).map_err(|_| Unreadable),
        }
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Link(id) => write!(f, "{id}"),
            Self::Form(id) => write!(f, "{FORM_TARGET}{id}"),
        }
    }
}

/// What a token says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claims {
    /// The lead the link was sent to.
    pub openid: OpenId,
    /// The `[[link]]` or `[[form]]`.
    pub target: Target,
    /// When the reply carrying it was made.
    pub issued: UnixTime,
    /// The id of the key that signed it.
    pub key_id: u32,
}

impl Claims {
    /// The token of these claims, signed with `key` (whose id must be [`Claims::key_id`]).
    pub fn sign(&self, key: &LinkKey) -> String {
        let payload = URL_SAFE_NO_PAD.encode(format!(
            "{}.{}.{}.{}",
            self.key_id, self.issued.0, self.target, self.openid
        ));
        let tag = URL_SAFE_NO_PAD.encode(key.mac(&payload).finalize().into_bytes());
        format!("{payload}.{tag}")
    }
}

/// A token read but not yet trusted.
#[derive(Debug, Clone)]
pub struct Token {
    claims: Claims,
    payload: String,
    tag: Vec<u8>,
}

/// Why a token's payload cannot be read: it names no link at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("not a link token")]
pub struct Unreadable;

/// Why a readable token is not trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum Rejected {
    /// No key of this account has its key id (another account's token, or made up).
    #[error("signed with an unknown key")]
    UnknownKey,
    /// The tag does not match the payload (tampered).
    #[error("the signature does not match")]
    BadTag,
    /// Issued more than [`LIFETIME_SECS`] ago.
    #[error("expired")]
    Expired,
}

impl Token {
    /// Reads a token's claims; the tag is checked by [`Token::verify`]. A tag that is not
    /// even base64 only fails verification, so the token still names its link.
    pub fn parse(raw: &str) -> Result<Self, Unreadable> {
        let (payload, tag) = raw.split_once('.').ok_or(Unreadable)?;
        let text = URL_SAFE_NO_PAD.decode(payload).map_err(|_| Unreadable)?;
        let text = String::from_utf8(text).map_err(|_| Unreadable)?;
        let mut parts = text.splitn(4, '.');
        let mut next = || parts.next().ok_or(Unreadable);
        let key_id = next()?.parse::<u32>().map_err(|_| Unreadable)?;
        let issued = UnixTime(next()?.parse::<i64>().map_err(|_| Unreadable)?);
        let target = Target::parse(next()?)?;
        let openid = OpenId::parse(next()?).map_err(|_| Unreadable)?;
        Ok(Self {
            claims: Claims {
                openid,
                target,
                issued,
                key_id,
            },
            payload: payload.to_owned(),
            tag: URL_SAFE_NO_PAD.decode(tag).unwrap_or_default(),
        })
    }

    /// The link the token names, trusted or not; `None` for a form's token.
    pub fn link(&self) -> Option<&LinkId> {
        match &self.claims.target {
            Target::Link(id) => Some(id),
            Target::Form(_) => None,
        }
    }

    /// The link or form the token names, trusted or not.
    pub fn target(&self) -> &Target {
        &self.claims.target
    }

    /// The payload as sent: what tells this token apart from every other (two tokens of
    /// one payload differ only by a forged tag).
    pub fn payload(&self) -> &str {
        &self.payload
    }

    /// The key id the token names, trusted or not.
    pub fn key_id(&self) -> u32 {
        self.claims.key_id
    }

    /// The claims, when `key` (the key of [`Token::key_id`], if this account has it) signed
    /// them and they are not expired at `now`. The tag is compared in constant time.
    pub fn verify(&self, key: Option<&LinkKey>, now: UnixTime) -> Result<&Claims, Rejected> {
        let key = key
            .filter(|k| k.id == self.claims.key_id)
            .ok_or(Rejected::UnknownKey)?;
        key.mac(&self.payload)
            .verify_slice(&self.tag)
            .map_err(|_| Rejected::BadTag)?;
        if now.0 >= self.claims.issued.0.saturating_add(LIFETIME_SECS) {
            return Err(Rejected::Expired);
        }
        Ok(&self.claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::PublicUrl;
    use crate::rules::{FORM_URL_MAX_BYTES, LINK_URL_MAX_BYTES};

    fn key(id: u32, fill: u8) -> LinkKey {
        LinkKey::filled(id, fill)
    }

    fn claims(key_id: u32) -> Claims {
        Claims {
            openid: OpenId::parse("oLead000000000000000000000001").unwrap(),
            target: Target::Link(LinkId::parse("whitepaper").unwrap()),
            issued: UnixTime(1_764_000_000),
            key_id,
        }
    }

    #[test]
    fn a_signed_token_verifies_until_it_expires() {
        let k = key(1, 7);
        let token = Token::parse(&claims(1).sign(&k)).unwrap();
        let issued = claims(1).issued;
        assert_eq!(token.verify(Some(&k), issued), Ok(&claims(1)));
        let last = UnixTime(issued.0 + LIFETIME_SECS - 1);
        assert!(token.verify(Some(&k), last).is_ok());
        let after = UnixTime(issued.0 + LIFETIME_SECS);
        assert_eq!(token.verify(Some(&k), after), Err(Rejected::Expired));
    }

    #[test]
    fn a_tampered_or_foreign_token_names_its_link_but_does_not_verify() {
        let k = key(1, 7);
        let now = claims(1).issued;
        let raw = claims(1).sign(&k);
        let (payload, tag) = raw.split_once('.').unwrap();
        // Another lead's openid under the same tag.
        let mut forged = claims(1);
        forged.openid = OpenId::parse("oSomeoneElse").unwrap();
        let forged_payload = forged.sign(&k).split_once('.').unwrap().0.to_owned();
        let tampered = Token::parse(&format!("{forged_payload}.{tag}")).unwrap();
        assert_eq!(tampered.link().unwrap().as_str(), "whitepaper");
        assert_eq!(tampered.verify(Some(&k), now), Err(Rejected::BadTag));
        let garbage_tag = Token::parse(&format!("{payload}.!!")).unwrap();
        assert_eq!(garbage_tag.verify(Some(&k), now), Err(Rejected::BadTag));
        let other_key = key(1, 8);
        let token = Token::parse(&raw).unwrap();
        assert_eq!(token.verify(Some(&other_key), now), Err(Rejected::BadTag));
        assert_eq!(token.verify(None, now), Err(Rejected::UnknownKey));
        assert_eq!(
            token.verify(Some(&key(2, 7)), now),
            Err(Rejected::UnknownKey)
        );
        for bad in [
            "",
            "abc",
            "abc.def",
            "%%.x",
            &URL_SAFE_NO_PAD.encode("1.2.bad id.o"),
        ] {
            assert!(Token::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_longest_tracked_url_fits_what_the_loader_counts() {
        let longest = Claims {
            openid: OpenId::parse(&"o".repeat(OpenId::MAX_LEN)).unwrap(),
            target: Target::Link(LinkId::parse(&"l".repeat(LinkId::MAX_LEN)).unwrap()),
            issued: UnixTime(i64::MAX),
            key_id: u32::MAX,
        };
        let url = PublicUrl::MAX_LEN + "/l/".len() + longest.sign(&key(u32::MAX, 1)).len();
        assert!(url <= LINK_URL_MAX_BYTES, "{url} > {LINK_URL_MAX_BYTES}");
        let form = FormId::parse(&"f".repeat(FormId::MAX_LEN)).unwrap();
        let longest = Claims {
            target: Target::Form(form.clone()),
            ..longest
        };
        let url = PublicUrl::MAX_LEN
            + format!("/f/{form}?t=").len()
            + longest.sign(&key(u32::MAX, 1)).len();
        assert!(url <= FORM_URL_MAX_BYTES, "{url} > {FORM_URL_MAX_BYTES}");
    }

    #[test]
    fn a_form_token_names_its_form_and_a_link_token_reads_as_before() {
        let k = key(1, 7);
        let mut form = claims(1);
        form.target = Target::Form(FormId::parse("trial").unwrap());
        let token = Token::parse(&form.sign(&k)).unwrap();
        assert_eq!(token.link(), None);
        assert_eq!(token.verify(Some(&k), form.issued), Ok(&form));
        // A link token as signed before forms existed: the payload names the bare link id.
        let payload =
            URL_SAFE_NO_PAD.encode("1.1764000000.whitepaper.oLead000000000000000000000001");
        assert_eq!(claims(1).sign(&k).split_once('.').unwrap().0, payload);
    }
}
