//! Lead forms (留资): `/f/<id>` serves a `[[form]]`, and a submission lands on the lead the
//! `{form:ID}` link was sent to, as fields, a `form` touch and tags.
//!
//! - [`csrf`]: the page's signed token (no server session), one submission per token;
//! - [`check`]: the fields checked as their kinds say, with the page's messages in Chinese;
//! - [`identify`]: who submits, in one place;
//! - [`submit`]: storing a submission (a contact, and the lead's fields, touch and tags);
//! - [`http`]: the thin handlers of `GET` and `POST /f/{id}`.
//!
//! A form is never pre-filled from a token: a forwarded link carries the sender's token, and
//! the page would show the sender's phone number to whoever opens it.

pub mod check;
pub mod csrf;
pub mod http;

use sha2::{Digest, Sha256};

use crate::domain::{FieldName, FormId, OpenId, Scene, UnixTime};
use crate::links::{Links, Target, Token};
use crate::rules::automation::Fired;
use crate::rules::{FieldKind, Form, Rules, Touch, derive};
use crate::store::{
    ContactBody, Effect, Known, Store, StoreError, Submission, Submitted, Through, TouchRecord,
    rfc3339,
};

/// How a submitter is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identity {
    /// Through the `{form:ID}` link's token: the lead it was sent to, or someone the lead
    /// forwarded it to (told apart by phone and name, see `store::forms`).
    Link {
        /// The token's lead.
        openid: OpenId,
        /// The token's payload, naming it among all tokens.
        token: String,
        /// When the token stops being trusted.
        expires: UnixTime,
    },
    /// By web authorisation: who the browser's WeChat user is (beats any token).
    Authorised(crate::oauth::Identity),
    /// Not at all: the form was opened from a website, or the token did not verify.
    Unknown,
}

impl Identity {
    /// As the lead's fields and the contacts record it: `link`, `oauth` or `none`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Link { .. } => "link",
            Self::Authorised(_) => "oauth",
            Self::Unknown => "none",
        }
    }
}

/// Who submits `form` at `now`: the browser's WeChat user when web authorisation said who
/// (`authorised`, which always beats the token), else the link token the page carried
/// (`?t=`, kept in a hidden field). The one place identity is resolved.
pub async fn identify(
    authorised: Option<crate::oauth::Identity>,
    token: Option<&str>,
    form: &FormId,
    links: &Links,
    store: &Store,
    now: UnixTime,
) -> Result<Identity, StoreError> {
    if let Some(identity) = authorised {
        return Ok(Identity::Authorised(identity));
    }
    let Some(token) = token.and_then(|raw| Token::parse(raw).ok()) else {
        return Ok(Identity::Unknown);
    };
    if token.target() != &Target::Form(form.clone()) {
        return Ok(Identity::Unknown);
    }
    let key = links.keys().key(store, token.key_id()).await?;
    Ok(match token.verify(key.as_ref(), now) {
        Ok(claims) => Identity::Link {
            openid: claims.openid.clone(),
            token: token.payload().to_owned(),
            expires: UnixTime(
                claims
                    .issued
                    .0
                    .saturating_add(crate::links::token::LIFETIME_SECS),
            ),
        },
        Err(rejected) => {
            tracing::info!(%rejected, form = %form, "a form token did not verify: the submission is kept as a contact");
            Identity::Unknown
        }
    })
}

/// A digest of what tells two people apart on a form: its mobile numbers and its `name`
/// field, as submitted.
pub fn fingerprint(form: &Form, values: &[(FieldName, String)]) -> String {
    let mut hash = Sha256::new();
    for field in &form.fields {
        if field.kind == FieldKind::Mobile || field.name.as_str() == "name" {
            let value = values.iter().find(|(n, _)| *n == field.name);
            hash.update(value.map_or("", |(_, v)| v.as_str()).as_bytes());
            hash.update([0]);
        }
    }
    hex::encode(hash.finalize())
}

/// One checked submission of a page.
#[derive(Debug, Clone)]
pub struct Posted<'a> {
    /// The form.
    pub form: &'a Form,
    /// The page's CSRF nonce.
    pub nonce: &'a str,
    /// Who submits.
    pub identity: &'a Identity,
    /// The channel the page was opened through (`?ch=`): a `[[qr]]` or `[[channel]]` scene.
    pub scene: Option<&'a Scene>,
    /// The values, in the form's order.
    pub values: &'a [(FieldName, String)],
    /// When.
    pub at: UnixTime,
}

/// Stores a submission: always a contact; when it lands on a lead, the lead's fields, then a
/// `form` touch (touch key `form:<id>`, the form's tags and the tags of its select values,
/// source `form:<id>`, a `form` timeline entry, the rules over time derived again at once).
/// A form proves nothing about following: someone first seen by it is `subscribed: null`.
pub async fn submit(
    posted: &Posted<'_>,
    rules: &Rules,
    store: &Store,
    links: &Links,
) -> Result<Submitted, StoreError> {
    let form = posted.form;
    let openid = match posted.identity {
        Identity::Link { openid, .. } => Some(openid),
        Identity::Authorised(identity) => Some(&identity.openid),
        Identity::Unknown => None,
    };
    let contact = ContactBody {
        at: rfc3339(posted.at),
        form: form.id.to_string(),
        form_version: form.version.clone(),
        consent: form.consent.clone(),
        consent_hash: form.consent_hash.clone(),
        identity: posted.identity.as_str().to_owned(),
        lead: openid.cloned(),
        scene: posted.scene.map(|s| s.to_string()),
        fields: posted
            .values
            .iter()
            .map(|(n, v)| (n.to_string(), v.clone()))
            .collect(),
    };
    let fingerprint = fingerprint(form, posted.values);
    let known = match posted.identity {
        Identity::Link {
            openid,
            token,
            expires,
        } => Some(Known {
            openid,
            identity: posted.identity.as_str(),
            through: Some(Through {
                token,
                token_secs: u64::try_from(expires.0 - posted.at.0).unwrap_or(1),
                fingerprint: &fingerprint,
            }),
        }),
        Identity::Authorised(identity) => Some(Known {
            openid: &identity.openid,
            identity: posted.identity.as_str(),
            through: None,
        }),
        Identity::Unknown => None,
    };
    let nonce_secs = u64::try_from(csrf::LIFETIME_SECS).unwrap_or(u64::MAX);
    let submitted = store
        .submit_form(&Submission {
            form: &form.id,
            nonce: posted.nonce,
            nonce_secs,
            at: posted.at,
            known,
            values: posted.values,
            contact: &contact,
        })
        .await?;
    // A double submit applies the touch again: it is idempotent by the same token, and so a
    // touch that failed after the submission was stored is not lost to the retry.
    let attached = match submitted {
        Submitted::Stored { attached, .. } | Submitted::Again { attached } => attached,
    };
    if let (true, Some(openid)) = (attached, openid) {
        touch(posted, openid, rules, store, links, nonce_secs).await?;
        if let Identity::Authorised(crate::oauth::Identity {
            unionid: Some(unionid),
            ..
        }) = posted.identity
        {
            store.set_unionid(openid, unionid).await?;
        }
    }
    Ok(submitted)
}

/// The `form` touch of a submission that landed on `openid`.
async fn touch(
    posted: &Posted<'_>,
    openid: &OpenId,
    rules: &Rules,
    store: &Store,
    links: &Links,
    remember_secs: u64,
) -> Result<(), StoreError> {
    let form = posted.form;
    let touch = Touch::Form {
        id: &form.id,
        channel: posted.scene,
    };
    let outcome = rules.evaluate(&touch);
    let source = rules.form_source(form).as_str();
    let mut tags: Vec<_> = outcome
        .tags
        .iter()
        .map(|(tag, source)| (*tag, source.as_str()))
        .collect();
    let chosen = |name: &FieldName| {
        posted
            .values
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    for tag in form.value_tags(chosen) {
        if !tags.iter().any(|(held, _)| *held == tag) {
            tags.push((tag, source));
        }
    }
    let identity = format!("form|{}|{}", form.id, posted.nonce);
    let record = TouchRecord {
        openid,
        identity: &identity,
        unsigned_body: None,
        at: posted.at,
        // Someone first seen by a form becomes a lead here, `subscribed: null`.
        effect: Effect::Outside,
        scene: outcome.channel.map(|c| &c.scene),
        timeline: Some(("form", form.id.as_str())),
        location: None,
        watched: rules.watch().added_mask(&tags),
        tags,
        want_tags: false,
        history: rules.history_keys(&touch, &outcome),
        history_days: links.history_days(),
        derive: rules.derives(),
        event: None,
        fired: (rules.watch().form(&form.id))
            .map(|f| Fired::encode(&[f]))
            .unwrap_or_default(),
        window: None,
        do_not_contact: None,
    };
    // The rules over time at once (rule tags, score, …), in the touch's own script. No
    // unsigned body, so no replay guard can refuse it.
    let _ = derive::apply_outside(store, rules, &record, posted.at, remember_secs).await?;
    Ok(())
}
