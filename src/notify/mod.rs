//! Sales alerts: the notices the automation sends to `[[notify]]` targets (WeCom group
//! robots, signed webhooks), queued in Redis with one delivery id each, so a notice is
//! delivered at least once however often it is enqueued.
//!
//! This module holds the notice and its enqueue; the queue itself (records, per-target due
//! sets claimed with a lease) is in `store::deliveries`.

use std::fmt;

use crate::domain::{DeliveryId, NotifyName, OpenId, UnixTime};
use crate::store::{NewDelivery, Store, StoreError};

/// What happened to the lead, as the webhook body's `event` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoticeEvent {
    /// A tag was added.
    TagAdded,
    /// A tag was removed.
    TagRemoved,
    /// The lead reached a lifecycle stage.
    Stage,
    /// The lead submitted a form.
    Form,
    /// Another system sent an event about the lead.
    Event,
    /// The lead entered a saved segment.
    SegmentEntered,
    /// The lead has been quiet for some days.
    InactiveDays,
    /// The lead changed (for CRM webhooks).
    LeadChanged,
}

impl NoticeEvent {
    /// Every event, in the contract's order.
    pub const ALL: [Self; 8] = [
        Self::TagAdded,
        Self::TagRemoved,
        Self::Stage,
        Self::Form,
        Self::Event,
        Self::SegmentEntered,
        Self::InactiveDays,
        Self::LeadChanged,
    ];

    /// The event as the body and the records name it: `tag_added`, …
    pub fn as_str(self) -> &'static str {
        match self {
            Self::TagAdded => "tag_added",
            Self::TagRemoved => "tag_removed",
            Self::Stage => "stage",
            Self::Form => "form",
            Self::Event => "event",
            Self::SegmentEntered => "segment_entered",
            Self::InactiveDays => "inactive_days",
            Self::LeadChanged => "lead_changed",
        }
    }

    /// The event of its name, if it is one.
    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.as_str() == raw)
    }
}

impl fmt::Display for NoticeEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One alert to send: to which target, about which lead, why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// The `[[notify]]` target.
    pub target: NotifyName,
    /// What happened.
    pub event: NoticeEvent,
    /// What about it, e.g. the tag or the form (shown on the card, sent in the body).
    pub detail: String,
    /// The lead.
    pub openid: OpenId,
    /// The delivery's id, chosen by the caller and stable (the automation's run and step).
    pub delivery: DeliveryId,
}

/// What an enqueue did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enqueued {
    /// The delivery is queued, due now.
    New,
    /// A delivery with this id was queued before: nothing changed.
    Known,
}

/// Queues `notice` for delivery, due `now`; enqueueing the same delivery id again changes
/// nothing, so one notice is one delivery however often a caller retries.
pub async fn enqueue(
    store: &Store,
    notice: &Notice,
    now: UnixTime,
) -> Result<Enqueued, StoreError> {
    let new = NewDelivery {
        id: &notice.delivery,
        target: &notice.target,
        event: notice.event.as_str(),
        detail: &notice.detail,
        openid: &notice.openid,
    };
    Ok(if store.enqueue_delivery(&new, now).await? {
        Enqueued::New
    } else {
        Enqueued::Known
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_round_trip_by_name() {
        for event in NoticeEvent::ALL {
            assert_eq!(NoticeEvent::parse(event.as_str()), Some(event));
        }
        assert_eq!(NoticeEvent::parse("tag added"), None);
    }
}
