//! Access tokens as WeChat hands them out: classic tokens that void their predecessor, and
//! stable tokens that stay the same until they near expiry.
//!
//! The classic and the stable token are independent, as at WeChat: fetching one never voids
//! the other. A token that expired more than [`FORGET_AFTER`] ago is forgotten and from then
//! on answers 40001 instead of 42001.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use rand::RngExt;
use rand::rngs::StdRng;

use super::errcode::WxError;

/// How long an expired token is remembered (so it answers 42001 rather than 40001).
const FORGET_AFTER: Duration = Duration::from_secs(3600);

/// How close together two forced stable-token refreshes may be; a closer one changes nothing.
const FORCE_REFRESH_SPACING: Duration = Duration::from_secs(30);

/// The characters of a token.
const TOKEN_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";

/// How long a token is.
const TOKEN_LEN: usize = 96;

/// One issued token's lifetime.
#[derive(Debug, Clone, Copy)]
struct Issued {
    expires_at: Instant,
    /// From when on it is void because a newer token replaced it.
    revoked_at: Option<Instant>,
}

/// A token grant: the token and its remaining lifetime in whole seconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Grant {
    pub(super) token: String,
    pub(super) expires_in: u64,
}

/// Every token the sandbox has issued and still remembers.
pub(super) struct TokenBook {
    ttl: Duration,
    classic_overlap: Duration,
    issued: HashMap<String, Issued>,
    latest_classic: Option<String>,
    current_stable: Option<String>,
    last_forced: Option<Instant>,
    /// How many classic tokens were issued.
    pub(super) classic_issued: u64,
    /// How many stable tokens were issued (a repeated answer with the same token is not counted).
    pub(super) stable_issued: u64,
}

impl TokenBook {
    /// An empty book whose tokens live `ttl`; a replaced classic token works `classic_overlap`
    /// longer.
    pub(super) fn new(ttl: Duration, classic_overlap: Duration) -> Self {
        Self {
            ttl,
            classic_overlap,
            issued: HashMap::new(),
            latest_classic: None,
            current_stable: None,
            last_forced: None,
            classic_issued: 0,
            stable_issued: 0,
        }
    }

    /// Checks a token sent with an API call.
    pub(super) fn check(&self, token: Option<&str>, now: Instant) -> Result<(), WxError> {
        let token = token
            .filter(|t| !t.is_empty())
            .ok_or(WxError::MissingToken)?;
        let issued = self.issued.get(token).ok_or(WxError::InvalidCredential)?;
        if issued.revoked_at.is_some_and(|at| at <= now) {
            Err(WxError::InvalidCredential)
        } else if issued.expires_at <= now {
            Err(WxError::TokenExpired)
        } else {
            Ok(())
        }
    }

    /// `GET /cgi-bin/token`: a new token; the previous classic token is void after the overlap.
    pub(super) fn classic(&mut self, now: Instant, rng: &mut StdRng) -> Grant {
        if let Some(previous) = self.latest_classic.take() {
            self.revoke(&previous, now + self.classic_overlap);
        }
        let token = self.issue(now, rng);
        self.latest_classic = Some(token.clone());
        self.classic_issued += 1;
        Grant {
            token,
            expires_in: self.ttl.as_secs(),
        }
    }

    /// `POST /cgi-bin/stable_token`: the current stable token while it has more than a 24th of
    /// its lifetime left (5 minutes of 2 hours, as at WeChat), else a new one; `force_refresh`
    /// voids the current token at once, but at most once per 30 seconds.
    pub(super) fn stable(&mut self, force_refresh: bool, now: Instant, rng: &mut StdRng) -> Grant {
        let rotate_window = self.ttl / 24;
        let current = self.current_stable.clone().and_then(|token| {
            let issued = *self.issued.get(&token)?;
            let live = issued.revoked_at.is_none() && issued.expires_at > now;
            live.then_some((token, issued.expires_at))
        });
        let recently_forced = self
            .last_forced
            .is_some_and(|at| now.duration_since(at) < FORCE_REFRESH_SPACING);
        if let Some((token, expires_at)) = current {
            let fresh = expires_at.duration_since(now) > rotate_window;
            if (force_refresh && recently_forced) || (!force_refresh && fresh) {
                return Grant {
                    token,
                    expires_in: expires_at.duration_since(now).as_secs(),
                };
            }
            if force_refresh {
                self.revoke(&token, now);
            }
        }
        if force_refresh {
            self.last_forced = Some(now);
        }
        let token = self.issue(now, rng);
        self.current_stable = Some(token.clone());
        self.stable_issued += 1;
        Grant {
            token,
            expires_in: self.ttl.as_secs(),
        }
    }

    fn revoke(&mut self, token: &str, at: Instant) {
        if let Some(issued) = self.issued.get_mut(token) {
            issued.revoked_at = Some(issued.revoked_at.map_or(at, |r| r.min(at)));
        }
    }

    /// Makes a new random token, forgetting tokens that can only answer 40001 anyway.
    fn issue(&mut self, now: Instant, rng: &mut StdRng) -> String {
        self.issued.retain(|_, t| {
            let revoked = t.revoked_at.is_some_and(|at| at <= now);
            !revoked && t.expires_at + FORGET_AFTER > now
        });
        let token: String = (0..TOKEN_LEN)
            .map(|_| char::from(TOKEN_ALPHABET[rng.random_range(0..TOKEN_ALPHABET.len())]))
            .collect();
        self.issued.insert(
            token.clone(),
            Issued {
                expires_at: now + self.ttl,
                revoked_at: None,
            },
        );
        token
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    const HOUR: Duration = Duration::from_secs(3600);

    fn book(overlap: Duration) -> (TokenBook, StdRng, Instant) {
        (
            TokenBook::new(2 * HOUR, overlap),
            StdRng::seed_from_u64(9),
            Instant::now(),
        )
    }

    #[test]
    fn a_new_classic_token_voids_the_previous_one_after_the_overlap() {
        let (mut book, mut rng, t0) = book(Duration::from_secs(300));
        let first = book.classic(t0, &mut rng).token;
        let second = book.classic(t0, &mut rng).token;
        assert_ne!(first, second);
        assert_eq!(book.check(Some(&first), t0), Ok(()));
        let later = t0 + Duration::from_secs(300);
        assert_eq!(
            book.check(Some(&first), later),
            Err(WxError::InvalidCredential)
        );
        assert_eq!(book.check(Some(&second), later), Ok(()));
        assert_eq!(book.classic_issued, 2);
    }

    #[test]
    fn expiry_missing_and_unknown_tokens() {
        let (mut book, mut rng, t0) = book(Duration::ZERO);
        let grant = book.classic(t0, &mut rng);
        assert_eq!(grant.expires_in, 7200);
        assert_eq!(
            book.check(Some(&grant.token), t0 + 2 * HOUR),
            Err(WxError::TokenExpired)
        );
        assert_eq!(book.check(None, t0), Err(WxError::MissingToken));
        assert_eq!(book.check(Some(""), t0), Err(WxError::MissingToken));
        assert_eq!(
            book.check(Some("nope"), t0),
            Err(WxError::InvalidCredential)
        );
    }

    #[test]
    fn stable_tokens_repeat_until_the_last_24th_of_their_life() {
        let (mut book, mut rng, t0) = book(Duration::ZERO);
        let first = book.stable(false, t0, &mut rng);
        let again = book.stable(false, t0 + HOUR, &mut rng);
        assert_eq!(again.token, first.token);
        assert_eq!(again.expires_in, 3600);
        let near_end = t0 + 2 * HOUR - Duration::from_secs(200);
        let rotated = book.stable(false, near_end, &mut rng);
        assert_ne!(rotated.token, first.token);
        assert_eq!(
            book.check(Some(&first.token), near_end),
            Ok(()),
            "it expires on its own"
        );
        assert_eq!(book.stable_issued, 2);
        // Classic tokens do not touch the stable one.
        book.classic(near_end, &mut rng);
        assert_eq!(book.check(Some(&rotated.token), near_end), Ok(()));
    }

    #[test]
    fn forced_refresh_voids_the_stable_token_at_most_every_30_seconds() {
        let (mut book, mut rng, t0) = book(Duration::ZERO);
        let first = book.stable(false, t0, &mut rng).token;
        let forced = book.stable(true, t0, &mut rng).token;
        assert_ne!(forced, first);
        assert_eq!(
            book.check(Some(&first), t0),
            Err(WxError::InvalidCredential)
        );
        let too_soon = book
            .stable(true, t0 + Duration::from_secs(10), &mut rng)
            .token;
        assert_eq!(too_soon, forced);
        let later = book
            .stable(true, t0 + Duration::from_secs(31), &mut rng)
            .token;
        assert_ne!(later, forced);
    }
}
