//! Tracked links: `{link:ID}` in a reply becomes the lead's own signed URL, and
//! `GET /l/<token>` records the click and sends the browser on.
//!
//! - [`token`]: the per-lead token (HMAC-SHA256 over openid, link id, issued-at and key id;
//!   valid [`token::LIFETIME_SECS`]).
//! - [`keys`]: the signing keys, in Redis and cached; rotation keeps old tokens verifying.
//! - [`Links::personalise`]: a reply with its links filled in for one lead. Without
//!   `WXTAG_PUBLIC_URL` a link is sent as its plain destination, untracked (logged once).
//! - [`follow`]: what one click does; [`http`] is its thin handler.
//!
//! The destination always comes from the `[[link]]` by id, never from the token or the
//! query, so `/l/` is no open redirect. A token that does not verify (tampered, expired,
//! another key's) still redirects to the link it names and records nothing; a token that
//! names no known link is a 404.

pub mod http;
pub mod keys;
pub mod token;

use std::borrow::Cow;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::config::PublicUrl;
use crate::domain::{LinkId, OpenId, UnixTime};
use crate::rules::{ARTICLE_LINK_PREFIX, Rules, Touch, fill_links, link_refs};
use crate::store::history::DEFAULT_HISTORY_DAYS;
use crate::store::{Effect, Store, StoreError, TouchRecord};
use crate::wechat::reply::Reply;

pub use keys::KeyRing;
pub use token::{Claims, Rejected, Token};

/// The path tracked links are served under: `/l/<token>`.
pub const PATH: &str = "/l/";

/// What replies and clicks need: where wxtag is public, the signing keys, and the touch
/// history's length.
#[derive(Debug, Clone)]
pub struct Links {
    public_url: Option<PublicUrl>,
    /// The signing keys, shared by every clone.
    keys: KeyRing,
    history_days: u32,
    /// Whether "links go out untracked" was logged already.
    warned: Arc<AtomicBool>,
}

impl Default for Links {
    fn default() -> Self {
        Self::new(None, DEFAULT_HISTORY_DAYS)
    }
}

impl Links {
    /// Links served at `public_url` (`WXTAG_PUBLIC_URL`; `None`: untracked), their clicks
    /// keeping `history_days` of touch history (`WXTAG_HISTORY_DAYS`).
    pub fn new(public_url: Option<PublicUrl>, history_days: u32) -> Self {
        Self {
            public_url,
            keys: KeyRing::default(),
            history_days,
            warned: Arc::new(AtomicBool::new(false)),
        }
    }

    /// `reply` for `openid` at `now`: each `{link:ID}` of a text and each news article's
    /// `url = "link:ID"` becomes `$WXTAG_PUBLIC_URL/l/<token>`. A reply naming no link is
    /// returned as it is, with no Redis call. Without a public URL, or when the signing key
    /// cannot be read, a link becomes its plain destination (logged).
    pub async fn personalise<'r>(
        &self,
        reply: &'r Reply,
        rules: &Rules,
        store: &Store,
        openid: &OpenId,
        now: UnixTime,
    ) -> Cow<'r, Reply> {
        if !names_links(reply) {
            return Cow::Borrowed(reply);
        }
        let signing = match &self.public_url {
            None => {
                if !self.warned.swap(true, Ordering::Relaxed) {
                    tracing::warn!(
                        "a reply names a [[link]] but WXTAG_PUBLIC_URL is not set: links go out \
                         as their plain destination, untracked"
                    );
                }
                None
            }
            Some(public) => match self.keys.signing_key(store).await {
                Ok(key) => Some((public, key)),
                Err(error) => {
                    tracing::error!(%error, "cannot read the link keys: links go out untracked");
                    None
                }
            },
        };
        let url = |id: &str| -> Option<String> {
            let id = LinkId::parse(id).ok()?;
            let link = rules.link(&id)?;
            Some(match &signing {
                None => link.url.clone(),
                Some((public, key)) => {
                    let claims = Claims {
                        openid: openid.clone(),
                        link: id,
                        issued: now,
                        key_id: key.id,
                    };
                    format!("{public}{PATH}{}", claims.sign(key))
                }
            })
        };
        Cow::Owned(match reply {
            Reply::Text(text) => match link_refs(text) {
                Ok(refs) => Reply::Text(fill_links(text, &refs, |id| {
                    url(id).unwrap_or_else(|| format!("{{link:{id}}}"))
                })),
                Err(_) => reply.clone(),
            },
            Reply::News(articles) => Reply::News(
                articles
                    .iter()
                    .map(|a| {
                        let mut a = a.clone();
                        if let Some(found) = a.url.strip_prefix(ARTICLE_LINK_PREFIX).and_then(url) {
                            a.url = found;
                        }
                        a
                    })
                    .collect(),
            ),
            Reply::Image { .. } => reply.clone(),
        })
    }
}

/// True when a reply names a link (the loader has checked every such name).
fn names_links(reply: &Reply) -> bool {
    match reply {
        Reply::Text(text) => text.contains("{link:"),
        Reply::News(articles) => articles
            .iter()
            .any(|a| a.url.starts_with(ARTICLE_LINK_PREFIX)),
        Reply::Image { .. } => false,
    }
}

/// What a click on `/l/<token>` comes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Followed {
    /// Send the browser to the link's `url`; `click` says what was recorded.
    Redirect {
        /// The `[[link]]`'s destination.
        url: String,
        /// What was recorded.
        click: Click,
    },
    /// The token is unreadable, or names no `[[link]]`.
    NotFound,
}

/// What a click recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Click {
    /// A `link` touch for the token's lead, with the link's tags.
    Counted,
    /// Nothing: this lead clicked this link earlier this hour.
    SameHour,
    /// Nothing: the token is not trusted.
    Refused(Rejected),
    /// Nothing: Redis failed (logged); the browser is sent on all the same.
    Failed,
}

/// One click on `/l/<raw>` at `now`: the link is looked up by the id the token names; a
/// trusted token records a `link` touch (touch key `link:<id>`, the link's tags, a
/// `link_click` timeline entry), at most one per lead, link and hour.
pub async fn follow(
    raw: &str,
    rules: &Rules,
    store: &Store,
    links: &Links,
    now: UnixTime,
) -> Followed {
    let Ok(token) = Token::parse(raw) else {
        return Followed::NotFound;
    };
    let Some(link) = rules.link(token.link()) else {
        return Followed::NotFound;
    };
    let url = link.url.clone();
    let click = match record(&token, rules, store, links, now).await {
        Ok(click) => click,
        Err(error) => {
            tracing::error!(%error, link = %token.link(), "cannot record a link click");
            Click::Failed
        }
    };
    Followed::Redirect { url, click }
}

/// Verifies the token and records its touch.
async fn record(
    token: &Token,
    rules: &Rules,
    store: &Store,
    links: &Links,
    now: UnixTime,
) -> Result<Click, StoreError> {
    let key = links.keys.key(store, token.key_id()).await?;
    let claims = match token.verify(key.as_ref(), now) {
        Ok(claims) => claims,
        Err(rejected) => return Ok(Click::Refused(rejected)),
    };
    let touch = Touch::Link { id: &claims.link };
    let outcome = rules.evaluate(&touch);
    let hour = now.0.div_euclid(3600);
    let identity = format!("link|{}|{}|{hour}", claims.openid, claims.link);
    let record = TouchRecord {
        openid: &claims.openid,
        identity: &identity,
        unsigned_body: None,
        at: now,
        effect: Effect::Other,
        scene: None,
        // `link` is WeChat's own kind of a link message a lead sends.
        timeline: Some(("link_click", claims.link.as_str())),
        location: None,
        tags: outcome.tag_sources(),
        want_tags: false,
        history: rules.history_keys(&touch, &outcome),
        history_days: links.history_days,
        // The scheduler derives the lead again (rule tags, score, …) with this touch.
        derive: rules.derives(),
        event: None,
    };
    // Remembered until the hour ends, so a second click in it is no second touch.
    let rest_of_hour = 3600 - now.0.rem_euclid(3600);
    let applied = store
        .apply_remembering(&record, u64::try_from(rest_of_hour).unwrap_or(3600))
        .await?;
    Ok(match applied {
        Ok(applied) if applied.fresh => Click::Counted,
        _ => Click::SameHour,
    })
}
