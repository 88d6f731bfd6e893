//! Messages to one lead that never break WeChat's rules (engagement §5): the automation and
//! broadcasts send through [`Sender`].
//!
//! A send to a lead is, in order:
//! 1. **reserved** in one script (`store::sends`, `send_reserve.lua`): an attempt seen before
//!    answers its recorded result (or [`SendOutcome::Unknown`] when it never finished: a crash
//!    mid-call; never called again); a lead that asked not to be contacted, blacklisted the
//!    account or unfollowed is skipped; a customer-service message needs an open window with
//!    room (see [`WINDOWS`]), and spends its slot there and then, so two processes never both
//!    spend the last one; without one, the template fallback is used or the send is skipped;
//! 2. **called**, the attempt recorded as pending first: busy (-1), quota (45009), HTTP 5xx and
//!    timeouts are retried a few times within seconds ([`SEND_RETRY`]); WeChat's final refusals
//!    (45015, 45047, 43004, 43019, 48002, 47003, 40003, 43101, …) are not;
//! 3. **recorded**: the result on the attempt and on the lead's timeline (kind `send`); 43019
//!    marks the lead blacklisted so later sends skip it without a call; 45015 or 45047 with a
//!    fallback sends the template instead. Every result is counted in `wxtag_sends_total`.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use crate::config::{AccountKind, Feature};
use crate::domain::{OpenId, UnixTime};
use crate::metrics::Metrics;
use crate::store::{Reservation, SendChannel, SendRequest, Store, StoreError, WindowLimits};
use crate::wechat::api::{CustomMessage, SendRefusal, TemplateMessage};
use crate::wechat::client::{Client, ClientError, Retry};
use crate::wechat::reply::Article;

/// WeChat's customer-service windows (engagement §5): a message from the user allows 5
/// messages within 48 hours; a follow, a scan or a `click`/`scancode_*` button, 3 within one
/// minute. Where windows overlap, every message counts against each open one (the safe
/// reading: WeChat does not say how they combine).
pub const WINDOWS: WindowLimits = WindowLimits {
    message_secs: 48 * 3600,
    message_messages: 5,
    interaction_secs: 60,
    interaction_messages: 3,
};

/// How a send's call is retried while its failure may pass (-1, 45009, HTTP 5xx, timeouts):
/// 4 tries within about 2 seconds.
pub const SEND_RETRY: Retry = Retry {
    attempts: 4,
    base: Duration::from_millis(250),
    cap: Duration::from_secs(1),
};

/// The longest [`AttemptId`], in bytes.
pub const ATTEMPT_ID_MAX: usize = 200;

/// A customer-service message: the shapes replies use in `channels/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outbound {
    /// A text.
    Text(String),
    /// One news article.
    News(Article),
}

impl Outbound {
    /// A few words on what it is, for the timeline.
    fn what(&self) -> String {
        match self {
            Self::Text(text) => format!("text {}", preview(text)),
            Self::News(article) => format!("news {}", preview(&article.title)),
        }
    }

    fn wire(&self) -> CustomMessage<'_> {
        match self {
            Self::Text(text) => CustomMessage::Text(text),
            Self::News(article) => CustomMessage::News(article),
        }
    }
}

/// A template message (模板消息): plain strings per field, wrapped as `{"value": …}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateSend {
    /// The template's id from the MP console.
    pub template_id: String,
    /// Where a tap on the message goes, if anywhere.
    pub url: Option<String>,
    /// Field name → value.
    pub data: BTreeMap<String, String>,
}

impl TemplateSend {
    /// A few words on what it is, for the timeline.
    fn what(&self) -> String {
        format!("template {}", preview(&self.template_id))
    }

    fn wire(&self) -> TemplateMessage<'_> {
        TemplateMessage {
            template_id: &self.template_id,
            url: self.url.as_deref(),
            data: &self.data,
        }
    }
}

/// The caller's stable id of one send (the automation passes its run and step): the same id
/// is never sent twice.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AttemptId(String);

impl AttemptId {
    /// Parses an id: 1 to [`ATTEMPT_ID_MAX`] bytes, no control characters.
    pub fn parse(raw: &str) -> Result<Self, String> {
        if raw.is_empty() || raw.len() > ATTEMPT_ID_MAX {
            return Err(format!(
                "a send attempt id must be 1 to {ATTEMPT_ID_MAX} bytes, got {}",
                raw.len()
            ));
        }
        if raw.chars().any(char::is_control) {
            return Err(format!(
                "a send attempt id has a control character: {raw:?}"
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Why a send was skipped without a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkipReason {
    /// No customer-service window is open (and no template fallback was given).
    OutsideWindow,
    /// The open windows' messages are spent.
    WindowUsed,
    /// The lead asked not to be contacted.
    DoNotContact,
    /// The lead blacklisted the account (43019 before, or WeChat's blacklist).
    Blacklisted,
    /// The lead unfollowed.
    Unfollowed,
    /// wxtag does not know the lead.
    UnknownLead,
    /// The account's kind cannot use this (e.g. templates on a subscription account).
    AccountKind(Feature),
}

impl SkipReason {
    /// The reason's name in records, metrics and on the timeline.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OutsideWindow => "outside_window",
            Self::WindowUsed => "window_used",
            Self::DoNotContact => "do_not_contact",
            Self::Blacklisted => "blacklisted",
            Self::Unfollowed => "unfollowed",
            Self::UnknownLead => "unknown_lead",
            Self::AccountKind(Feature::Templates) => "account_kind_templates",
            Self::AccountKind(_) => "account_kind",
        }
    }

    /// The reason of a stored name.
    pub fn parse(raw: &str) -> Option<Self> {
        Some(match raw {
            "outside_window" => Self::OutsideWindow,
            "window_used" => Self::WindowUsed,
            "do_not_contact" => Self::DoNotContact,
            "blacklisted" => Self::Blacklisted,
            "unfollowed" => Self::Unfollowed,
            "unknown_lead" => Self::UnknownLead,
            "account_kind_templates" => Self::AccountKind(Feature::Templates),
            "account_kind" => Self::AccountKind(Feature::CustomerService),
            _ => return None,
        })
    }
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How WeChat failed a send, finally: its errcode when it gave one, and the error in words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendFailure {
    /// WeChat's errcode; `None` for HTTP errors, timeouts and transport failures that
    /// outlasted the retries.
    pub code: Option<i64>,
    /// What happened, for people.
    pub message: String,
}

impl SendFailure {
    /// The refusal, when WeChat refused the message for good (45015, 43019, …).
    pub fn refusal(&self) -> Option<SendRefusal> {
        self.code.and_then(SendRefusal::of)
    }

    fn of(e: &ClientError) -> Self {
        let code = match e {
            ClientError::Api(e) | ClientError::Config(e) => e.code(),
            ClientError::Store(_) | ClientError::TokenWait => None,
        };
        Self {
            code,
            message: e.to_string(),
        }
    }
}

/// How a send ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendOutcome {
    /// The customer-service message was sent (WeChat gives it no id).
    Sent,
    /// The template was sent, with WeChat's `msgid`; `instead_of` says why the
    /// customer-service message could not be (`None` for a template sent as such).
    SentTemplate {
        /// WeChat's id of the template message.
        msgid: u64,
        /// Why the template stood in for a customer-service message.
        instead_of: Option<SkipReason>,
    },
    /// Nothing was called.
    Skipped(SkipReason),
    /// WeChat refused or failed it, finally.
    Failed(SendFailure),
    /// The attempt had been recorded before and never finished (a crash mid-call): whether
    /// the lead got it is unknown, and it is never tried again.
    Unknown,
}

impl SendOutcome {
    /// The result's name in `wxtag_sends_total`.
    fn metric(&self) -> String {
        match self {
            Self::Sent | Self::SentTemplate { .. } => "sent".to_owned(),
            Self::Skipped(reason) => format!("skipped_{reason}"),
            Self::Failed(failure) => match failure.code {
                Some(code) => format!("failed_{code}"),
                None => "failed".to_owned(),
            },
            Self::Unknown => "unknown".to_owned(),
        }
    }

    /// The attempt's stored record, as [`Self::decode`] reads it back.
    fn encode(&self) -> String {
        match self {
            Self::Sent => "sent custom".to_owned(),
            Self::SentTemplate { msgid, instead_of } => format!(
                "sent template {msgid} {}",
                instead_of.map_or("-", SkipReason::as_str)
            ),
            Self::Skipped(reason) => format!("skipped {reason}"),
            Self::Failed(failure) => format!(
                "failed {} {}",
                failure
                    .code
                    .map_or_else(|| "-".to_owned(), |c| c.to_string()),
                failure.message
            ),
            Self::Unknown => "unknown custom".to_owned(),
        }
    }

    /// A stored record; `None` when it is not one [`Self::encode`] writes.
    fn decode(record: &str) -> Option<Self> {
        let mut words = record.splitn(3, ' ');
        Some(match (words.next()?, words.next()?) {
            ("sent", "custom") => Self::Sent,
            ("sent", "template") => {
                let mut rest = words.next()?.split(' ');
                let msgid = rest.next()?.parse().ok()?;
                let instead_of = match rest.next()? {
                    "-" => None,
                    reason => Some(SkipReason::parse(reason)?),
                };
                Self::SentTemplate { msgid, instead_of }
            }
            ("skipped", reason) => Self::Skipped(SkipReason::parse(reason)?),
            ("failed", code) => Self::Failed(SendFailure {
                code: if code == "-" {
                    None
                } else {
                    Some(code.parse().ok()?)
                },
                message: words.next().unwrap_or_default().to_owned(),
            }),
            ("unknown", _) => Self::Unknown,
            _ => return None,
        })
    }
}

/// Sends to one lead within WeChat's rules; built once at start, cheap to clone.
#[derive(Debug, Clone)]
pub struct Sender {
    store: Store,
    client: Client,
    account: AccountKind,
    metrics: Metrics,
}

impl Sender {
    /// A sender through `client` (retrying as [`SEND_RETRY`] says), recording in `store`,
    /// for an account of kind `account`.
    pub fn new(store: Store, client: Client, account: AccountKind, metrics: Metrics) -> Self {
        Self {
            store,
            client: client.retrying(SEND_RETRY),
            account,
            metrics,
        }
    }

    /// Sends `message` to `openid`, at most once for `attempt`: inside a window with room,
    /// else `fallback` (a template, on an account that may send them), else skipped with the
    /// reason. The result is on the lead's timeline. Only Redis failing is an error: the
    /// attempt is then not sent (or, if the failure came after the call, unknown).
    pub async fn send(
        &self,
        openid: &OpenId,
        message: &Outbound,
        fallback: Option<&TemplateSend>,
        attempt: &AttemptId,
        now: UnixTime,
    ) -> Result<SendOutcome, StoreError> {
        let fallback = fallback.filter(|_| self.account.can(Feature::Templates).is_ok());
        if self.account.can(Feature::CustomerService).is_err() {
            return match fallback {
                Some(template) => {
                    self.send_template(
                        openid,
                        template,
                        attempt,
                        now,
                        Some(SkipReason::AccountKind(Feature::CustomerService)),
                    )
                    .await
                }
                None => {
                    let skipped =
                        SendOutcome::Skipped(SkipReason::AccountKind(Feature::CustomerService));
                    self.record(openid, attempt, &skipped, "custom", &message.what(), now)
                        .await
                }
            };
        }
        let what = message.what();
        let request = SendRequest {
            openid,
            attempt: attempt.as_str(),
            channel: SendChannel::Custom,
            fallback: fallback.is_some(),
            what: &what,
            now,
            windows: WINDOWS,
        };
        match self.reserve(&request).await? {
            Reserved::Done(outcome) => Ok(outcome),
            Reserved::Template(instead_of) => match fallback {
                Some(template) => {
                    self.call_template(openid, template, attempt, now, instead_of)
                        .await
                }
                // The script offers the template only when asked to (a fallback given).
                None => Err(StoreError::Corrupt {
                    key: self.store.keys().send_attempt(attempt.as_str()),
                    what: "send_reserve.lua offered a template no one asked for".to_owned(),
                }),
            },
            Reserved::Custom => {
                let result = self
                    .client
                    .call("message/custom/send", |api, token| async move {
                        api.send_custom(&token, openid, message.wire()).await
                    })
                    .await;
                let failure = match result {
                    Ok(()) => {
                        return self
                            .record(openid, attempt, &SendOutcome::Sent, "custom", &what, now)
                            .await;
                    }
                    Err(e) => SendFailure::of(&e),
                };
                let closed = match failure.refusal() {
                    Some(SendRefusal::OutsideWindow) => Some(SkipReason::OutsideWindow),
                    Some(SendRefusal::WindowUsed) => Some(SkipReason::WindowUsed),
                    _ => None,
                };
                match (closed, fallback) {
                    (Some(instead_of), Some(template)) => {
                        let detail = format!(
                            "failed custom errcode {}, the template instead: {what}",
                            failure.code.unwrap_or_default()
                        );
                        self.store
                            .finish_send(
                                openid,
                                attempt.as_str(),
                                "pending template",
                                Some(&detail),
                                None,
                                now,
                            )
                            .await?;
                        self.count("custom", &SendOutcome::Failed(failure));
                        self.call_template(openid, template, attempt, now, Some(instead_of))
                            .await
                    }
                    _ => {
                        self.record(
                            openid,
                            attempt,
                            &SendOutcome::Failed(failure),
                            "custom",
                            &what,
                            now,
                        )
                        .await
                    }
                }
            }
        }
    }

    /// Sends a template message as such (a service notice), at most once for `attempt`;
    /// skipped on an account that cannot send templates, or for a lead that may not be
    /// contacted.
    pub async fn send_template(
        &self,
        openid: &OpenId,
        template: &TemplateSend,
        attempt: &AttemptId,
        now: UnixTime,
        instead_of: Option<SkipReason>,
    ) -> Result<SendOutcome, StoreError> {
        let what = template.what();
        if self.account.can(Feature::Templates).is_err() {
            let skipped = SendOutcome::Skipped(SkipReason::AccountKind(Feature::Templates));
            return self
                .record(openid, attempt, &skipped, "template", &what, now)
                .await;
        }
        let request = SendRequest {
            openid,
            attempt: attempt.as_str(),
            channel: SendChannel::Template,
            fallback: false,
            what: &what,
            now,
            windows: WINDOWS,
        };
        match self.reserve(&request).await? {
            Reserved::Done(outcome) => Ok(outcome),
            Reserved::Custom | Reserved::Template(_) => {
                self.call_template(openid, template, attempt, now, instead_of)
                    .await
            }
        }
    }

    /// Why `openid` may not be contacted now (do-not-contact, blacklisted, unfollowed, not
    /// known), or `None` when it may: what broadcasts ask before they send to a lead.
    pub async fn contact_block(&self, openid: &OpenId) -> Result<Option<SkipReason>, StoreError> {
        let blocks = self
            .store
            .contact_blocks(std::slice::from_ref(openid))
            .await?;
        Ok(blocks
            .into_iter()
            .next()
            .flatten()
            .and_then(SkipReason::parse))
    }

    /// Reads WeChat's blacklist (`getblacklist`, every page up to `max_pages` of 10,000) and
    /// marks the leads it names, so sends skip them without a call; returns how many leads
    /// were newly marked.
    pub async fn sync_blacklist(
        &self,
        max_pages: u32,
        now: UnixTime,
    ) -> Result<u64, SyncBlacklistError> {
        let mut marked = 0;
        let mut begin: Option<OpenId> = None;
        for _ in 0..max_pages {
            let page = self
                .client
                .call("tags/members/getblacklist", |api, token| {
                    let begin = begin.clone();
                    async move { api.blacklist(&token, begin.as_ref()).await }
                })
                .await
                .map_err(SyncBlacklistError::WeChat)?;
            marked += self.store.mark_blacklisted(&page.openids, now).await?;
            match page.next_openid {
                Some(next) => begin = Some(next),
                None => break,
            }
        }
        Ok(marked)
    }

    /// Reserves the send; the outcome at once when there is nothing to call.
    async fn reserve(&self, request: &SendRequest<'_>) -> Result<Reserved, StoreError> {
        let kind = request.channel.as_str();
        let outcome = match self.store.reserve_send(request).await? {
            Reservation::Custom => return Ok(Reserved::Custom),
            Reservation::Template(instead_of) => {
                return Ok(Reserved::Template(
                    instead_of.as_deref().and_then(SkipReason::parse),
                ));
            }
            Reservation::Seen(record) => {
                return SendOutcome::decode(&record)
                    .map(Reserved::Done)
                    .ok_or_else(|| StoreError::Corrupt {
                        key: self.store.keys().send_attempt(request.attempt),
                        what: format!("not a send attempt's record: {record:?}"),
                    });
            }
            Reservation::Unknown(_) => SendOutcome::Unknown,
            Reservation::Skipped(reason) => {
                SendOutcome::Skipped(SkipReason::parse(&reason).unwrap_or(SkipReason::UnknownLead))
            }
        };
        self.count(kind, &outcome);
        if let SendOutcome::Unknown = outcome {
            tracing::warn!(
                attempt = request.attempt,
                "a send attempt was recorded before and never finished (a crash mid-call?): not sent again"
            );
        }
        Ok(Reserved::Done(outcome))
    }

    /// Calls `message/template/send` for a reserved attempt and records the result.
    async fn call_template(
        &self,
        openid: &OpenId,
        template: &TemplateSend,
        attempt: &AttemptId,
        now: UnixTime,
        instead_of: Option<SkipReason>,
    ) -> Result<SendOutcome, StoreError> {
        let what = template.what();
        let result = self
            .client
            .call("message/template/send", |api, token| async move {
                api.send_template(&token, openid, template.wire()).await
            })
            .await;
        let outcome = match result {
            Ok(msgid) => SendOutcome::SentTemplate { msgid, instead_of },
            Err(e) => SendOutcome::Failed(SendFailure::of(&e)),
        };
        self.record(openid, attempt, &outcome, "template", &what, now)
            .await
    }

    /// Records a call's result on the attempt and the timeline, and counts it.
    async fn record(
        &self,
        openid: &OpenId,
        attempt: &AttemptId,
        outcome: &SendOutcome,
        kind: &str,
        what: &str,
        now: UnixTime,
    ) -> Result<SendOutcome, StoreError> {
        let detail = match outcome {
            SendOutcome::Sent => format!("sent custom: {what}"),
            SendOutcome::SentTemplate { msgid, instead_of } => match instead_of {
                Some(reason) => format!("sent template msgid {msgid} ({reason}): {what}"),
                None => format!("sent template msgid {msgid}: {what}"),
            },
            SendOutcome::Skipped(reason) => format!("skipped {reason}: {what}"),
            SendOutcome::Failed(failure) => match failure.code {
                Some(code) => format!("failed {kind} errcode {code}: {what}"),
                None => format!("failed {kind} ({}): {what}", failure.message),
            },
            SendOutcome::Unknown => format!("unknown {kind}: {what}"),
        };
        let blacklisted = matches!(outcome, SendOutcome::Failed(f) if f.refusal() == Some(SendRefusal::Blacklisted));
        self.store
            .finish_send(
                openid,
                attempt.as_str(),
                &outcome.encode(),
                Some(&detail),
                blacklisted.then_some("errcode:43019"),
                now,
            )
            .await?;
        if let SendOutcome::Failed(failure) = outcome {
            tracing::info!(kind, errcode = failure.code, error = %failure.message, "a send failed");
        }
        self.count(kind, outcome);
        Ok(outcome.clone())
    }

    fn count(&self, kind: &str, outcome: &SendOutcome) {
        self.metrics
            .sends
            .with_label_values(&[kind, outcome.metric().as_str()])
            .inc();
    }
}

/// What a reservation leaves to do.
enum Reserved {
    /// Nothing: the outcome.
    Done(SendOutcome),
    /// Call `message/custom/send`.
    Custom,
    /// Call `message/template/send`, standing in for the reason given.
    Template(Option<SkipReason>),
}

/// Why reading WeChat's blacklist failed.
#[derive(Debug, thiserror::Error)]
pub enum SyncBlacklistError {
    /// WeChat failed, after retries.
    #[error("reading wechat's blacklist (tags/members/getblacklist) failed: {0}")]
    WeChat(ClientError),
    /// Redis failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The first 40 characters of `text`, with `…` when there were more.
fn preview(text: &str) -> String {
    let mut out: String = text.chars().take(40).collect();
    if text.chars().nth(40).is_some() {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip() {
        for outcome in [
            SendOutcome::Sent,
            SendOutcome::SentTemplate {
                msgid: 42,
                instead_of: Some(SkipReason::OutsideWindow),
            },
            SendOutcome::SentTemplate {
                msgid: 7,
                instead_of: None,
            },
            SendOutcome::Skipped(SkipReason::WindowUsed),
            SendOutcome::Skipped(SkipReason::AccountKind(Feature::Templates)),
            SendOutcome::Failed(SendFailure {
                code: Some(45015),
                message: "closed window".into(),
            }),
            SendOutcome::Failed(SendFailure {
                code: None,
                message: "timed out".into(),
            }),
            SendOutcome::Unknown,
        ] {
            assert_eq!(
                SendOutcome::decode(&outcome.encode()),
                Some(outcome.clone())
            );
        }
        assert_eq!(SendOutcome::decode("pending custom"), None);
    }

    #[test]
    fn attempt_ids_are_bounded_and_printable() {
        assert!(AttemptId::parse("run-1:step-2").is_ok());
        assert!(AttemptId::parse("").is_err());
        assert!(AttemptId::parse(&"x".repeat(201)).is_err());
        assert!(AttemptId::parse("a\nb").is_err());
    }
}
