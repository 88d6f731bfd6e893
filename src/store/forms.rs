//! Lead forms' submissions: each one kept as a contact (`wx:{A}:contacts`), its values landed
//! on the lead when the submitter is known, and the rate limit per client address.
//!
//! A submission is written by one script (`lua/submit_form.lua`), at most once per CSRF
//! token, so a double submit is one submission. Through a `{form:ID}` link's token, the first
//! submission's phone and name are remembered with the token: a later submission through
//! it with another phone or name (someone the link was forwarded to) is kept as a contact of
//! its own and leaves the lead as it was. A submission with no identity (the form opened
//! from a website) is a contact only.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use redis::{AsyncCommands, Script};
use serde::{Deserialize, Serialize};

use super::fields::{self, FieldMeta};
use super::{Store, StoreError};
use crate::domain::{FieldName, FormId, OpenId, UnixTime};

/// The window of the per-address rate limit.
pub const FORM_RATE_WINDOW_SECS: u64 = 60;

/// The most contacts one page of [`Store::contacts`] reads.
pub const CONTACTS_PAGE_MAX: u64 = 100;

static SUBMIT: LazyLock<Script> =
    LazyLock::new(|| fields::script(include_str!("lua/submit_form.lua")));

/// What a contact records of a submission (the script adds `id` and `attached`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContactBody {
    /// When it was submitted (RFC 3339).
    pub at: String,
    /// The form's id.
    pub form: String,
    /// The form's version (a digest of its title, fields and consent) when it was submitted.
    pub form_version: String,
    /// The consent text the submitter ticked, as the page showed it (PIPL: what was agreed).
    pub consent: String,
    /// The SHA-256 of that consent text.
    pub consent_hash: String,
    /// How the submitter was known: `link` (a `{form:ID}` link's token), `oauth` (web
    /// authorisation) or `none`.
    pub identity: String,
    /// The lead the identity names (the token's lead), if any.
    pub lead: Option<OpenId>,
    /// The channel the form was opened through (`?ch=`), if any.
    pub scene: Option<String>,
    /// The values submitted, by field name.
    pub fields: BTreeMap<String, String>,
}

/// One submission as kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contact {
    /// Its id, in order of arrival from 1.
    pub id: u64,
    /// True when its values landed on [`ContactBody::lead`]; false for a contact of its own
    /// (no identity, or a forward of the lead's link by someone with another phone or name).
    pub attached: bool,
    /// The rest.
    #[serde(flatten)]
    pub body: ContactBody,
}

/// The lead a submission may land on.
#[derive(Debug, Clone)]
pub struct Known<'a> {
    /// The lead.
    pub openid: &'a OpenId,
    /// What the lead's fields record as the identity (`link`, `oauth`).
    pub identity: &'a str,
    /// Through a link token: the submission is compared with the token's first one. `None`
    /// for a submitter web authorisation identified, whose submissions always land.
    pub through: Option<Through<'a>>,
}

/// A submission through a `{form:ID}` link's token, which a forward carries too.
#[derive(Debug, Clone)]
pub struct Through<'a> {
    /// The token's payload: submissions through one token are compared.
    pub token: &'a str,
    /// How long the token stays valid (s): its memory of the first submission lasts as long.
    pub token_secs: u64,
    /// A digest of the submission's phone and name.
    pub fingerprint: &'a str,
}

/// One submission, checked and ready to store.
#[derive(Debug, Clone)]
pub struct Submission<'a> {
    /// The form.
    pub form: &'a FormId,
    /// The CSRF token's nonce: one submission per token.
    pub nonce: &'a str,
    /// How long the nonce is remembered (the CSRF token's lifetime).
    pub nonce_secs: u64,
    /// When it was submitted.
    pub at: UnixTime,
    /// The lead it may land on, if the submitter is known.
    pub known: Option<Known<'a>>,
    /// The values, in the form's order (blank optional fields left out).
    pub values: &'a [(FieldName, String)],
    /// The contact record.
    pub contact: &'a ContactBody,
}

/// What storing a submission did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Submitted {
    /// This CSRF token was submitted before: nothing written; `attached` when the first
    /// submission's values landed on the lead (its touch is then applied again, idempotent).
    Again {
        /// The first submission's values landed on the lead.
        attached: bool,
    },
    /// Kept as contact `id`; `attached` when its values landed on the lead.
    Stored {
        /// The contact's id.
        id: u64,
        /// The values landed on the lead.
        attached: bool,
    },
}

impl Store {
    /// Stores one submission (see the module's doc).
    pub async fn submit_form(&self, s: &Submission<'_>) -> Result<Submitted, StoreError> {
        let keys = &self.keys;
        let body = serde_json::to_string(s.contact).map_err(|e| StoreError::Corrupt {
            key: keys.contacts(),
            what: format!("cannot encode the contact: {e}"),
        })?;
        // The script writes `{"id":…,"attached":…,` itself, then the rest of the object.
        let rest = body.strip_prefix('{').unwrap_or(&body).to_owned();
        let mut invocation = SUBMIT.prepare_invoke();
        invocation
            .key(keys.form_submission(s.form.as_str(), s.nonce))
            .key(keys.contact_seq())
            .key(keys.contacts());
        if let Some(known) = &s.known {
            invocation.key(keys.lead(known.openid));
            if let Some(through) = &known.through {
                invocation.key(keys.form_token(through.token));
            }
        }
        invocation.arg(s.nonce_secs.max(1)).arg(s.at.0).arg(rest);
        match &s.known {
            Some(known) => {
                match &known.through {
                    Some(through) => invocation
                        .arg("1")
                        .arg(through.fingerprint)
                        .arg(through.token_secs.max(1)),
                    None => invocation.arg("2").arg("").arg(1),
                };
                let meta = FieldMeta {
                    at: s.at.0,
                    form: s.form.as_str(),
                    identity: known.identity,
                }
                .encode();
                for (name, value) in s.values {
                    invocation
                        .arg(format!("{}{name}", fields::PROFILE_PREFIX))
                        .arg(value)
                        .arg(format!("{}{name}", fields::PROFILE_META_PREFIX))
                        .arg(&meta);
                }
            }
            None => {
                invocation.arg("").arg("").arg(1);
            }
        }
        let (stored, id, attached): (i64, u64, i64) =
            invocation.invoke_async(&mut self.conn.clone()).await?;
        Ok(if stored == 1 {
            Submitted::Stored {
                id,
                attached: attached == 1,
            }
        } else {
            Submitted::Again {
                attached: attached == 1,
            }
        })
    }

    /// Counts one submission from `client` and returns how many it made this minute.
    pub async fn count_form_submission(&self, client: &str) -> Result<u64, StoreError> {
        self.count_in_window(&self.keys.form_rate(client), FORM_RATE_WINDOW_SECS)
            .await
    }

    /// The contacts newest first from id `before` (exclusive; `None`: the newest), at most
    /// `limit` (1 to [`CONTACTS_PAGE_MAX`]), and the `before` of the next page, if any.
    pub async fn contacts(
        &self,
        before: Option<u64>,
        limit: u64,
    ) -> Result<(Vec<Contact>, Option<u64>), StoreError> {
        let mut conn = self.conn.clone();
        let key = self.keys.contacts();
        let last: Option<u64> = conn.get(self.keys.contact_seq()).await?;
        let top = before.map_or(last.unwrap_or(0), |b| b.saturating_sub(1));
        let limit = limit.clamp(1, CONTACTS_PAGE_MAX);
        let low = top.saturating_sub(limit - 1).max(1);
        if top == 0 {
            return Ok((Vec::new(), None));
        }
        let ids: Vec<u64> = (low..=top).rev().collect();
        let raw: Vec<Option<String>> = redis::cmd("HMGET")
            .arg(&key)
            .arg(&ids)
            .query_async(&mut conn)
            .await?;
        let contacts = raw
            .into_iter()
            .flatten()
            .map(|json| {
                serde_json::from_str(&json).map_err(|e| StoreError::Corrupt {
                    key: key.clone(),
                    what: format!("a contact is not in the shape wxtag writes: {e}"),
                })
            })
            .collect::<Result<Vec<Contact>, _>>()?;
        Ok((contacts, (low > 1).then_some(low)))
    }
}
