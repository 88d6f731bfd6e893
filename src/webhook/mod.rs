//! The intake: what happens to one push from WeChat, from `POST /wechat` to the reply.
//!
//! [`Intake::push`] reads top to bottom as the flow of one event:
//! verify the signature and timestamp → open the envelope (safe mode) → parse the typed
//! message → match it against the channel rules → apply it to Redis in one round trip
//! (replay guard of a plaintext body, dedup, profile, tags, touch history, timeline,
//! counters, outbox); with rules over time, the lead is read first, its rule tags, score,
//! tiers and stage are derived from it with the touch applied, and the touch and what
//! changed are written in the same script, checked against the lead's version
//! ([`derive::apply_deriving`]) → choose the reply by the lead after the change → fill in its
//! tracked links for the lead ([`crate::links`]) → render it, encrypted when the request was.
//! The HTTP side ([`http`]) only extracts the request, calls this, and logs one line.

pub mod http;
pub mod policy;

use std::collections::BTreeSet;

use thiserror::Error;

use crate::config::Account;
use crate::domain::{OpenId, Scene, UnixTime};
use crate::links::Links;
use crate::rules::condition::{Facts, Score};
use crate::rules::derive;
use crate::rules::{LiveRules, Touch};
use crate::store::history::DEFAULT_HISTORY_DAYS;
use crate::store::keys;
use crate::store::{
    Effect, LeadState, OtherBody, Store, StoreError, TouchRecord, UnsignedBody, Window,
};
use crate::wechat::crypto::{CryptoError, MessageCipher};
use crate::wechat::inbound::{
    self, Body, EncryptedEnvelope, Event, Inbound, InboundError, Message,
};
use crate::wechat::reply::{self, EncryptedReply};
use crate::wechat::signature::{self, SignatureError};

/// The query string WeChat signs every push with.
#[derive(Debug, Default, serde::Deserialize)]
pub struct PushQuery {
    /// `sha1(sort(token, timestamp, nonce))`.
    pub signature: Option<String>,
    /// Unix seconds.
    pub timestamp: Option<String>,
    /// A random value.
    pub nonce: Option<String>,
    /// `aes` in compatible and safe mode.
    pub encrypt_type: Option<String>,
    /// `sha1(sort(token, timestamp, nonce, Encrypt))` in compatible and safe mode.
    pub msg_signature: Option<String>,
    /// The echo string of a URL verification (GET).
    pub echostr: Option<String>,
}

/// Why a push was refused or failed.
#[derive(Debug, Error)]
pub enum IntakeError {
    /// The signature, msg_signature or timestamp does not hold: 401.
    #[error("not signed by WeChat: {0}")]
    Unsigned(#[from] SignatureError),
    /// A signature parameter is missing: 401.
    #[error("missing query parameter {0}")]
    MissingParam(&'static str),
    /// The body is not a WeChat message: 400.
    #[error("malformed message: {0}")]
    Malformed(#[from] InboundError),
    /// The encrypted payload cannot be opened: 400.
    #[error("cannot decrypt: {0}")]
    Undecryptable(#[from] CryptoError),
    /// An encrypted push arrived but no `WECHAT_AES_KEY` is set: 400.
    #[error("encrypted push but WECHAT_AES_KEY is not set; set it to the console's EncodingAESKey")]
    NoAesKey,
    /// A plaintext push's signed query was seen before with another body: a replay, 401.
    #[error(
        "replayed signature: this timestamp, nonce and signature came before with another \
         body; a plaintext body is covered by no signature (safe mode signs it)"
    )]
    ReplayedSignature,
    /// The body is not UTF-8: 400.
    #[error("body is not UTF-8")]
    NotUtf8,
    /// Redis failed: 500, so WeChat retries the push.
    #[error("store: {0}")]
    Store(#[from] StoreError),
}

/// What to answer a push with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// Nothing to say: the bare `success`.
    Success,
    /// A passive reply (encrypted when the push was).
    Xml(String),
}

/// A handled push, for the request log.
#[derive(Debug)]
pub struct Handled {
    /// The lead.
    pub openid: OpenId,
    /// The message kind, e.g. `follow`, `click`, `text`.
    pub kind: &'static str,
    /// False when this was a retry of a delivery already applied.
    pub fresh: bool,
    /// The answer.
    pub answer: Answer,
}

/// Everything the intake needs: the account, the rules (swapped on reload) and the store.
#[derive(Debug)]
pub struct Intake {
    account: Account,
    cipher: Option<MessageCipher>,
    rules: LiveRules,
    store: Store,
    history_days: u32,
    links: Links,
    witness: Option<PushWitness>,
}

/// Told of every push applied for the first time that opens a customer-service window: how
/// sandbox mode lets its stand-in for WeChat know what each user did, as WeChat itself
/// would, so its window rules hold for the bot's sends.
#[derive(Clone)]
pub struct PushWitness(std::sync::Arc<Tell>);

/// What a [`PushWitness`] calls: the lead, the window its push opened, when.
type Tell = dyn Fn(&OpenId, Window, UnixTime) + Send + Sync;

impl PushWitness {
    /// A witness calling `tell` with the lead, the window its push opened and when.
    pub fn new(tell: impl Fn(&OpenId, Window, UnixTime) + Send + Sync + 'static) -> Self {
        Self(std::sync::Arc::new(tell))
    }
}

impl std::fmt::Debug for PushWitness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PushWitness")
    }
}

impl Intake {
    /// An intake for `account`, matching with `rules` and writing to `store`.
    pub fn new(account: Account, rules: LiveRules, store: Store) -> Self {
        let cipher = account
            .aes_key
            .clone()
            .map(|key| MessageCipher::new(key, account.appid.clone()));
        Self {
            account,
            cipher,
            rules,
            store,
            history_days: DEFAULT_HISTORY_DAYS,
            links: Links::default(),
            witness: None,
        }
    }

    /// This intake, filling in replies' tracked links with `links` (by default they go out
    /// as their plain destinations, untracked).
    pub fn linking(mut self, links: Links) -> Self {
        self.links = links;
        self
    }

    /// This intake, telling `witness` of each fresh push that opens a window.
    pub fn witnessed_by(mut self, witness: Option<PushWitness>) -> Self {
        self.witness = witness;
        self
    }

    /// This intake, keeping `days` of touch history per lead (`WXTAG_HISTORY_DAYS`).
    pub fn keeping_history_days(mut self, days: u32) -> Self {
        self.history_days = days;
        self
    }

    /// `GET /wechat`: URL verification; returns the `echostr` to echo when the signature holds.
    pub fn verify_url(&self, query: &PushQuery, now: UnixTime) -> Result<String, IntakeError> {
        self.check_signature(query, now)?;
        query
            .echostr
            .clone()
            .ok_or(IntakeError::MissingParam("echostr"))
    }

    fn check_signature<'q>(
        &self,
        query: &'q PushQuery,
        now: UnixTime,
    ) -> Result<Signed<'q>, IntakeError> {
        let param = |value: &'q Option<String>, name| {
            value.as_deref().ok_or(IntakeError::MissingParam(name))
        };
        let timestamp = param(&query.timestamp, "timestamp")?;
        let nonce = param(&query.nonce, "nonce")?;
        let sig = param(&query.signature, "signature")?;
        signature::verify_signature(&self.account.token, timestamp, nonce, sig)?;
        let at = signature::check_timestamp(timestamp, now)?;
        Ok(Signed {
            timestamp,
            nonce,
            signature: sig,
            at,
        })
    }

    /// `POST /wechat`: the flow of one event, from the raw request to the answer.
    pub async fn push(
        &self,
        query: &PushQuery,
        body: &[u8],
        now: UnixTime,
    ) -> Result<Handled, IntakeError> {
        // 1. Signed by WeChat, recently.
        let signed = self.check_signature(query, now)?;
        let (timestamp, nonce) = (signed.timestamp, signed.nonce);
        let body = std::str::from_utf8(body).map_err(|_| IntakeError::NotUtf8)?;

        // 2. Open the envelope in compatible and safe mode.
        let encrypted = query.encrypt_type.as_deref() == Some("aes");
        let xml = if encrypted {
            let cipher = self.cipher.as_ref().ok_or(IntakeError::NoAesKey)?;
            let envelope = EncryptedEnvelope::parse(body)?;
            let msg_signature = query
                .msg_signature
                .as_deref()
                .ok_or(IntakeError::MissingParam("msg_signature"))?;
            signature::verify_msg_signature(
                &self.account.token,
                timestamp,
                nonce,
                &envelope.encrypt,
                msg_signature,
            )?;
            cipher.decrypt(&envelope.encrypt)?
        } else {
            body.to_owned()
        };

        // 3. The typed message.
        let inbound = inbound::parse(&xml)?;

        // 4. Match it against the channel rules (an owned snapshot: it is held across the
        // store's awaits below, which an arc-swap guard must not be).
        let rules = self.rules.load();
        let touch = touch(&inbound);
        let outcome = touch.as_ref().map(|touch| rules.evaluate(touch));
        let history = match (&touch, &outcome) {
            (Some(touch), Some(outcome)) => rules.history_keys(touch, outcome),
            _ => Vec::new(),
        };

        // 5. Apply it to Redis: one script, at most once per delivery, and a plaintext
        // body only under the signed query it first came with. 6. With rules over time, the
        // lead is read before, and its rule tags, score, tiers, stage, preference, groups
        // and expiry, derived with this touch applied, are written in that same script.
        let identity = policy::dedup_key(&inbound);
        let detail = policy::detail(&inbound);
        let (effect, location) = effect(&inbound);
        let tags = outcome
            .as_ref()
            .map(|o| o.tag_sources())
            .unwrap_or_default();
        let watched = rules.watch().added_mask(&tags);
        let needs_state = outcome.as_ref().is_some_and(|o| o.reply_needs_state());
        let is_touch = !matches!(effect, Effect::Location | Effect::System);
        let record = TouchRecord {
            openid: &inbound.from,
            identity: &identity,
            unsigned_body: (!encrypted).then(|| signed.unsigned_body(body.as_bytes())),
            at: inbound.created,
            effect,
            scene: scene(&inbound),
            timeline: is_touch.then_some((policy::kind(&inbound), detail.as_str())),
            location,
            watched,
            tags,
            want_tags: outcome.as_ref().is_some_and(|o| o.reply_needs_tags()),
            fired: String::new(),
            history,
            history_days: self.history_days,
            derive: (rules.derives() && is_touch) || needs_state,
            event: None,
            window: window(&inbound),
            do_not_contact: outcome.as_ref().and_then(|o| o.do_not_contact()),
        };
        let (applied, lead, derivation) = if rules.derives() && is_touch {
            derive::apply_deriving(&self.store, &rules, &record, now, keys::DEDUP_TTL_SECS)
                .await?
                .map_err(|OtherBody| IntakeError::ReplayedSignature)?
        } else {
            let applied = self
                .store
                .apply(&record)
                .await?
                .map_err(|_| IntakeError::ReplayedSignature)?;
            (applied, None, None)
        };
        if let (true, Some(witness), Some(window)) = (applied.fresh, &self.witness, record.window) {
            (witness.0)(&inbound.from, window, inbound.created);
        }

        // 7. The reply, chosen by the lead after the change.
        let tags: BTreeSet<String> = match &derivation {
            Some(derivation) => derivation.tags.clone(),
            None => applied.tags.into_iter().collect(),
        };
        let no_state = LeadState::default();
        // A reply is chosen now: the score at any other moment is not asked for.
        let score_now = derivation.as_ref().and_then(|d| d.score);
        let score_at = |_: UnixTime| score_now.unwrap_or(0.0);
        let facts = Facts {
            lead: lead
                .as_ref()
                .or(applied.state.as_ref())
                .unwrap_or(&no_state),
            tags: &tags,
            score: score_now.map(|_| Score(&score_at)),
        };
        let reply = outcome.as_ref().and_then(|o| o.reply(&facts, now));
        // 8. Its tracked links, signed for this lead (no Redis call when it names none).
        let reply = match reply {
            Some(reply) => Some(
                self.links
                    .personalise(reply, &rules, &self.store, &inbound.from, now)
                    .await,
            ),
            None => None,
        };
        let answer = match reply {
            None => Answer::Success,
            Some(reply) => {
                let xml = reply::render(&reply, &inbound.from, &inbound.to, now);
                match (&self.cipher, encrypted) {
                    (Some(cipher), true) => Answer::Xml(
                        EncryptedReply::seal(&self.account.token, cipher, &xml, timestamp, nonce)
                            .to_xml(),
                    ),
                    _ => Answer::Xml(xml),
                }
            }
        };
        Ok(Handled {
            kind: policy::kind(&inbound),
            openid: inbound.from,
            fresh: applied.fresh,
            answer,
        })
    }
}

/// The signature parameters of a push that hold, and the timestamp's moment.
#[derive(Debug, Clone, Copy)]
struct Signed<'q> {
    timestamp: &'q str,
    nonce: &'q str,
    signature: &'q str,
    at: UnixTime,
}

impl<'q> Signed<'q> {
    /// The guard of a body no signature covers: this query vouches for `body` only, for as
    /// long as the timestamp is accepted.
    fn unsigned_body(self, body: &'q [u8]) -> UnsignedBody<'q> {
        UnsignedBody {
            timestamp: self.timestamp,
            nonce: self.nonce,
            signature: self.signature,
            body,
            until: UnixTime(self.at.0 + signature::MAX_SKEW_SECS + 1),
        }
    }
}

/// What the rules engine sees of a message; `None` for messages no rule can match.
fn touch(inbound: &Inbound) -> Option<Touch<'_>> {
    match &inbound.body {
        Body::Event(Event::Subscribe { scene, .. }) => Some(Touch::Follow {
            scene: scene.as_ref(),
        }),
        Body::Event(Event::Scan { scene, .. }) => Some(Touch::Scan { scene }),
        Body::Event(Event::Click { key }) => Some(Touch::Click { key }),
        Body::Event(Event::View { url, .. }) => Some(Touch::View { url }),
        Body::Message {
            message: Message::Text { content },
            ..
        } => Some(Touch::Text { content }),
        // A voice message with speech recognition on is matched like the text it says.
        Body::Message {
            message:
                Message::Voice {
                    recognition: Some(text),
                    ..
                },
            ..
        } => Some(Touch::Text { content: text }),
        _ => None,
    }
}

/// The channel a message came through, if any. Unknown scenes count too: they are facts.
fn scene(inbound: &Inbound) -> Option<&Scene> {
    match &inbound.body {
        Body::Event(Event::Subscribe { scene, .. }) => scene.as_ref(),
        Body::Event(Event::Scan { scene, .. }) => Some(scene),
        _ => None,
    }
}

/// The message's effect on subscription and counters, and the location it reports.
fn effect(inbound: &Inbound) -> (Effect, Option<String>) {
    match &inbound.body {
        Body::Event(Event::Subscribe { .. }) => (Effect::Follow, None),
        Body::Event(Event::Scan { .. }) => (Effect::Scan, None),
        Body::Event(Event::Unsubscribe) => (Effect::Unfollow, None),
        Body::Event(Event::TemplateSendJobFinish { .. } | Event::MassSendJobFinish { .. }) => {
            (Effect::System, None)
        }
        Body::Event(Event::Location {
            latitude,
            longitude,
            precision,
        }) => (
            Effect::Location,
            Some(format!("{latitude},{longitude},{precision}")),
        ),
        _ => (Effect::Other, None),
    }
}

/// The customer-service window a push opens (engagement §5): any message the user sends
/// (5 in 48 h); a follow, a scan, or a `click`, `scancode_push` or `scancode_waitmsg` button
/// (3 in 1 minute). A `view` button, a location report and WeChat's own pushes open none.
fn window(inbound: &Inbound) -> Option<Window> {
    match &inbound.body {
        Body::Message { .. } => Some(Window::Message),
        Body::Event(
            Event::Subscribe { .. }
            | Event::Scan { .. }
            | Event::Click { .. }
            | Event::ScancodePush { .. }
            | Event::ScancodeWaitmsg { .. },
        ) => Some(Window::Interaction),
        Body::Event(_) => None,
    }
}
