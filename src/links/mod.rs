//! Tracked links: `{link:ID}` in a reply becomes the lead's own signed URL, and
//! `GET /l/<token>` records the click and sends the browser on.
//!
//! - [`token`]: the per-lead token (HMAC-SHA256 over openid, link id, issued-at and key id;
//!   valid [`token::LIFETIME_SECS`]).
//! - [`KeyRing`]: the signing keys, in Redis and cached; rotation keeps old tokens verifying.
//! - [`Links::personalise`]: a reply with its links filled in for one lead. Without
//!   `WXTAG_PUBLIC_URL` a link is sent as its plain destination, untracked (logged once).
//! - [`follow`]: what one click does; [`http`] is its thin handler.
//!
//! The destination always comes from the `[[link]]` by id, never from the token or the
//! query, so `/l/` is no open redirect. A token that does not verify (tampered, expired,
//! another key's) still redirects to the link it names and records nothing; a token that
//! names no known link is a 404.
//!
//! With web authorisation on (`WECHAT_OAUTH=base`, [`crate::oauth`]) the clicker is
//! identified first ([`Clicker`]): a click by someone other than the token's lead (a
//! forwarded article) is the clicker's touch, and a `forward` entry on the sender's timeline.

pub mod http;
pub mod token;

use std::borrow::Cow;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::config::PublicUrl;
use crate::domain::{FormId, LinkId, OpenId, Scene, UnixTime};
use crate::oauth::Identity;
use crate::rules::{
    ARTICLE_FORM_PREFIX, ARTICLE_LINK_PREFIX, RefKind, Rules, Touch, fill_links, link_refs,
};
use crate::store::history::DEFAULT_HISTORY_DAYS;
use crate::store::{Effect, LinkKey, Store, StoreError, TouchRecord};
use crate::wechat::reply::Reply;

pub use crate::store::KeyRing;
pub use token::{Claims, Rejected, Target, Token};

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

    /// The signing keys, shared with the forms' CSRF tokens.
    pub fn keys(&self) -> &KeyRing {
        &self.keys
    }

    /// Days of touch history a touch from outside the chat keeps (`WXTAG_HISTORY_DAYS`).
    pub fn history_days(&self) -> u32 {
        self.history_days
    }

    /// `reply` for `openid` at `now`: each `{link:ID}` of a text and each news article's
    /// `url = "link:ID"` becomes `$WXTAG_PUBLIC_URL/l/<token>`, each `{form:ID}` (and
    /// `url = "form:ID"`) `$WXTAG_PUBLIC_URL/f/<id>?t=<token>`. A reply naming neither is
    /// returned as it is, with no Redis call. Without a public URL, or when the signing key
    /// cannot be read, a link becomes its plain destination and a form is left out (logged).
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
                        "a reply names a [[link]] or [[form]] but WXTAG_PUBLIC_URL is not set: \
                         links go out as their plain destination, untracked, and form links are \
                         left out; set WXTAG_PUBLIC_URL to the address followers' browsers reach \
                         wxtag at"
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
        let sign = |target: Target| {
            signing
                .as_ref()
                .map(|(public, key)| (public, signed(key, target, openid, now)))
        };
        // The URL a reference becomes; `None` for one the rules do not know.
        let url = |kind: RefKind, id: &str| -> Option<String> {
            match kind {
                RefKind::Link => {
                    let id = LinkId::parse(id).ok()?;
                    let link = rules.link(&id)?;
                    Some(match sign(Target::Link(id)) {
                        None => link.url.clone(),
                        Some((public, token)) => format!("{public}{PATH}{token}"),
                    })
                }
                RefKind::Form => {
                    let id = FormId::parse(id).ok()?;
                    rules.form(&id)?;
                    Some(match sign(Target::Form(id.clone())) {
                        None => String::new(),
                        Some((public, token)) => format!("{public}{}", forms_url(&id, &token)),
                    })
                }
            }
        };
        Cow::Owned(match reply {
            Reply::Text(text) => match link_refs(text) {
                Ok(refs) => Reply::Text(fill_links(text, &refs, |r| {
                    url(r.kind, r.id).unwrap_or_else(|| format!("{{{}:{}}}", r.kind.as_str(), r.id))
                })),
                Err(_) => reply.clone(),
            },
            Reply::News(articles) => Reply::News(
                articles
                    .iter()
                    .map(|a| {
                        let mut a = a.clone();
                        let named = a
                            .url
                            .strip_prefix(ARTICLE_LINK_PREFIX)
                            .map(|id| (RefKind::Link, id))
                            .or_else(|| {
                                a.url
                                    .strip_prefix(ARTICLE_FORM_PREFIX)
                                    .map(|id| (RefKind::Form, id))
                            });
                        if let Some(found) = named.and_then(|(kind, id)| url(kind, id)) {
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

impl Links {
    /// `$WXTAG_PUBLIC_URL/l/<token>`: `link`'s tracked URL for `openid`, signed at `now` with
    /// the current key, as a reply would send it; `None` without a public URL.
    pub async fn tracked_url(
        &self,
        store: &Store,
        link: &LinkId,
        openid: &OpenId,
        now: UnixTime,
    ) -> Result<Option<String>, StoreError> {
        let Some(public) = &self.public_url else {
            return Ok(None);
        };
        let key = self.keys.signing_key(store).await?;
        let token = signed(&key, Target::Link(link.clone()), openid, now);
        Ok(Some(format!("{public}{PATH}{token}")))
    }
}

/// A token for `openid` and `target`, signed with `key` at `now`.
fn signed(key: &LinkKey, target: Target, openid: &OpenId, now: UnixTime) -> String {
    Claims {
        openid: openid.clone(),
        target,
        issued: now,
        key_id: key.id,
    }
    .sign(key)
}

/// The path and query of a form's personal URL: `/f/<id>?t=<token>`.
fn forms_url(id: &FormId, token: &str) -> String {
    format!("{FORM_PATH}{id}?t={token}")
}

/// The path forms are served under: `/f/<id>`.
pub const FORM_PATH: &str = "/f/";

/// True when a reply names a link or a form (the loader has checked every such name).
fn names_links(reply: &Reply) -> bool {
    match reply {
        Reply::Text(text) => text.contains("{link:") || text.contains("{form:"),
        Reply::News(articles) => articles.iter().any(|a| {
            a.url.starts_with(ARTICLE_LINK_PREFIX) || a.url.starts_with(ARTICLE_FORM_PREFIX)
        }),
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

/// Who clicked, as far as wxtag knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Clicker {
    /// Web authorisation is off: the lead the token names.
    Lead,
    /// Web authorisation said who.
    Identified(Identity),
    /// Web authorisation is on but could not say who: nothing is recorded.
    Unknown,
}

/// What a click recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Click {
    /// A `link` touch for the token's lead, with the link's tags.
    Counted,
    /// A `link` touch for the clicker, who is not the token's lead (a forward), and a
    /// `forward` entry on the lead's timeline.
    Forwarded,
    /// Nothing: web authorisation could not identify the clicker.
    Unidentified,
    /// Nothing: this lead clicked this link earlier this hour.
    SameHour,
    /// Nothing: the token is not trusted.
    Refused(Rejected),
    /// Nothing: Redis failed (logged); the browser is sent on all the same.
    Failed,
}

/// One click on `/l/<raw>` by `clicker` at `now`, opened through the channel `via`
/// (`?ch=<scene>`) if any: the link is looked up by the id the token names; a trusted token
/// records a `link` touch (touch key `link:<id>`, the link's tags, a `link_click` timeline
/// entry; through a known channel also the channel's tags and touch key) for the clicker,
/// at most one per clicker, link and hour.
pub async fn follow(
    raw: &str,
    via: Option<&Scene>,
    rules: &Rules,
    store: &Store,
    links: &Links,
    clicker: &Clicker,
    now: UnixTime,
) -> Followed {
    let Ok(token) = Token::parse(raw) else {
        return Followed::NotFound;
    };
    let Some((id, link)) = token
        .link()
        .and_then(|id| rules.link(id).map(|link| (id, link)))
    else {
        return Followed::NotFound;
    };
    let url = link.url.clone();
    let click = match record(&token, id, via, rules, store, links, clicker, now).await {
        Ok(click) => click,
        Err(error) => {
            tracing::error!(%error, link = %token.target(), "cannot record a link click");
            Click::Failed
        }
    };
    Followed::Redirect { url, click }
}

/// True when a click on `/l/<raw>` would record something once its clicker is known: the
/// token names a `[[link]]` and verifies. Web authorisation is worth starting only then (an
/// untrusted token redirects at once); a Redis failure answers false (logged).
pub async fn worth_identifying(
    raw: &str,
    rules: &Rules,
    store: &Store,
    links: &Links,
    now: UnixTime,
) -> bool {
    let Ok(token) = Token::parse(raw) else {
        return false;
    };
    if token.link().and_then(|id| rules.link(id)).is_none() {
        return false;
    }
    match links.keys.key(store, token.key_id()).await {
        Ok(key) => token.verify(key.as_ref(), now).is_ok(),
        Err(error) => {
            tracing::error!(%error, "cannot read the link keys");
            false
        }
    }
}

/// Verifies the token (of the link `link`) and records its touch for the clicker (and, for
/// a forward, the sender's `forward` entry).
// The click (token, link, channel, clicker, time) and the three parts it is written through.
#[allow(clippy::too_many_arguments)]
async fn record(
    token: &Token,
    link: &LinkId,
    via: Option<&Scene>,
    rules: &Rules,
    store: &Store,
    links: &Links,
    clicker: &Clicker,
    now: UnixTime,
) -> Result<Click, StoreError> {
    let key = links.keys.key(store, token.key_id()).await?;
    let claims = match token.verify(key.as_ref(), now) {
        Ok(claims) => claims,
        Err(rejected) => return Ok(Click::Refused(rejected)),
    };
    let who = match clicker {
        Clicker::Lead => None,
        Clicker::Identified(identity) => Some(identity),
        Clicker::Unknown => return Ok(Click::Unidentified),
    };
    let openid = who.map_or(&claims.openid, |identity| &identity.openid);
    let touch = Touch::Link {
        id: link,
        channel: via,
    };
    let outcome = rules.evaluate(&touch);
    let hour = now.0.div_euclid(3600);
    let identity = format!("link|{openid}|{link}|{hour}");
    let tags = outcome.tag_sources();
    let record = TouchRecord {
        openid,
        identity: &identity,
        unsigned_body: None,
        at: now,
        // A clicker wxtag did not know becomes a lead here, `subscribed: null`.
        effect: Effect::Outside,
        scene: outcome.channel.map(|c| &c.scene),
        // `link` is WeChat's own kind of a link message a lead sends.
        timeline: Some(("link_click", link.as_str())),
        location: None,
        watched: rules.watch().added_mask(&tags),
        tags,
        want_tags: false,
        history: rules.history_keys(&touch, &outcome),
        history_days: links.history_days,
        // The scheduler derives the lead again (rule tags, score, …) with this touch.
        derive: rules.derives(),
        event: None,
        fired: String::new(),
        window: None,
        do_not_contact: None,
    };
    // Remembered until the hour ends, so a second click in it is no second touch.
    let rest_of_hour = 3600 - now.0.rem_euclid(3600);
    let applied = store
        .apply_remembering(&record, u64::try_from(rest_of_hour).unwrap_or(3600))
        .await?;
    if !matches!(applied, Ok(ref applied) if applied.fresh) {
        return Ok(Click::SameHour);
    }
    if let Some(unionid) = who.and_then(|identity| identity.unionid.as_ref()) {
        store.set_unionid(openid, unionid).await?;
    }
    if *openid == claims.openid {
        return Ok(Click::Counted);
    }
    store
        .note_forward(&claims.openid, openid, link.as_str(), now)
        .await?;
    Ok(Click::Forwarded)
}
