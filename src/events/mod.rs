//! Events from other systems (website, CRM, webinars, orders): `POST /api/events`, joining a
//! CRM's id to a lead, and the events kept for leads wxtag does not know yet.
//!
//! - [`parse_batch`] and [`Event::parse`]: the body's limits (at most [`MAX_EVENTS`] events,
//!   [`MAX_BODY_BYTES`]), and each event parsed on its own, so one malformed event is listed
//!   by its index while the others go in.
//! - [`ingest`]: each event, idempotent by its `id` (remembered for `WXTAG_HISTORY_DAYS`),
//!   is a touch `event:<name>` counted at its own `at` on a known lead, with a timeline
//!   entry, the tags of the matching `[[event]]` rules and the rules over time derived again
//!   in the same script ([`crate::rules::derive::apply_deriving`]); its properties are kept
//!   on the lead only when some `where` or `sum` reads that event's name.
//! - An event for an unknown openid or external id is parked (at most
//!   [`crate::store::PARKED_PER_LEAD`] per lead, [`crate::store::PARK_SECS`] after the last)
//!   and applied when the lead appears: by [`join`] for an external id, and by the
//!   scheduler's [`settle_parked`] for an openid at its next pass once the lead is first
//!   seen (the touch that makes the lead moves its openid to the front of the parked set).

use std::collections::HashMap;

use futures_util::{StreamExt, stream};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::domain::{EventName, ExternalId, OpenId, UnixTime};
use crate::rules::automation::Fired;
use crate::rules::{Rules, Touch, derive};
use crate::store::{
    Addressee, Effect, EventRecord, Join, Parking, Store, StoreError, TouchRecord, applied_identity,
};

/// The most events one call takes.
pub const MAX_EVENTS: usize = 1_000;

/// The largest body one call takes: 1 MiB.
pub const MAX_BODY_BYTES: usize = 1 << 20;

/// The largest `props` of one event, as compact JSON: 4 KiB.
pub const MAX_PROPS_BYTES: usize = 4 * 1024;

/// The longest event `id`.
pub const MAX_ID_CHARS: usize = 128;

/// How far ahead of now an event's `at` may be: a day (clocks differ, time zones get lost).
pub const MAX_FUTURE_SECS: i64 = 86_400;

/// How many parked openids one scheduler pass checks.
pub const SETTLE_BATCH: usize = 200;

/// How long a checked openid waits before it is checked again.
pub const SETTLE_AGAIN_SECS: i64 = 60;

/// Why a whole call is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BatchError {
    /// More than [`MAX_EVENTS`] events.
    TooMany(usize),
    /// Not `{"events": [...]}`.
    Malformed(String),
}

/// The body as posted: the events, each still raw so one bad event fails alone.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Body {
    events: Vec<Value>,
}

/// The events of a body, each still raw.
pub fn parse_batch(body: &[u8]) -> Result<Vec<Value>, BatchError> {
    let body: Body = serde_json::from_slice(body).map_err(|e| {
        BatchError::Malformed(format!(
            "body: {e}; send {{\"events\": [{{\"id\", \"openid\" or \"external_id\", \"name\", \
             \"at\", \"props\"}}]}}"
        ))
    })?;
    if body.events.len() > MAX_EVENTS {
        return Err(BatchError::TooMany(body.events.len()));
    }
    Ok(body.events)
}

/// One event from another system, parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// The sender's id for it: the same id again is the same event.
    pub id: String,
    /// The lead it is about.
    pub to: Addressee,
    /// Its name: the touch key is `event:<name>`.
    pub name: EventName,
    /// When it happened.
    pub at: UnixTime,
    /// Its properties.
    pub props: Map<String, Value>,
}

/// An event as posted, field by field.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEvent {
    id: Value,
    #[serde(default)]
    openid: Option<String>,
    #[serde(default)]
    external_id: Option<String>,
    name: String,
    at: String,
    #[serde(default)]
    props: Option<Value>,
}

/// An event as parked: what it is without whom (the parking list says whom).
#[derive(Debug, Serialize, Deserialize)]
struct Parked {
    id: String,
    name: EventName,
    at: i64,
    props: Map<String, Value>,
}

impl Event {
    /// Parses one posted event at `now`; the error says what is wrong with it.
    pub fn parse(raw: Value, now: UnixTime) -> Result<Self, String> {
        let raw: RawEvent = serde_json::from_value(raw).map_err(|e| e.to_string())?;
        let id = match raw.id {
            Value::String(id) => id,
            Value::Number(n) => n.to_string(),
            _ => return Err("id must be a text or a number".to_owned()),
        };
        if id.is_empty() || id.chars().count() > MAX_ID_CHARS || id.chars().any(char::is_control) {
            return Err(format!(
                "id must be 1 to {MAX_ID_CHARS} characters with no control characters"
            ));
        }
        let to = match (raw.openid, raw.external_id) {
            (Some(openid), None) => {
                Addressee::OpenId(OpenId::parse(&openid).map_err(|e| format!("openid: {e}"))?)
            }
            (None, Some(external)) => Addressee::External(
                ExternalId::parse(&external).map_err(|e| format!("external_id: {e}"))?,
            ),
            (Some(_), Some(_)) => {
                return Err("give openid or external_id, not both".to_owned());
            }
            (None, None) => return Err("give the lead's openid or external_id".to_owned()),
        };
        let name = EventName::parse(&raw.name).map_err(|e| format!("name: {e}"))?;
        let at = chrono::DateTime::parse_from_rfc3339(&raw.at).map_err(|e| {
            format!(
                "at {:?} is not RFC 3339 with an offset ({e}), e.g. 2026-12-01T10:02:00+08:00",
                raw.at
            )
        })?;
        let at = UnixTime(at.timestamp());
        if at.0 > now.0 + MAX_FUTURE_SECS {
            return Err(format!(
                "at {} is more than a day in the future; send events when they happen",
                raw.at
            ));
        }
        let props = match raw.props {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(props)) => props,
            Some(_) => return Err("props must be an object, e.g. {\"amount\": 300}".to_owned()),
        };
        let size = Value::Object(props.clone()).to_string().len();
        if size > MAX_PROPS_BYTES {
            return Err(format!(
                "props are {size} bytes as JSON; at most {MAX_PROPS_BYTES}"
            ));
        }
        Ok(Self {
            id,
            to,
            name,
            at,
            props,
        })
    }

    fn parked(&self) -> String {
        let parked = Parked {
            id: self.id.clone(),
            name: self.name.clone(),
            at: self.at.0,
            props: self.props.clone(),
        };
        serde_json::to_string(&parked).unwrap_or_default()
    }

    /// The event parked for `to`; `None` when `raw` is not one.
    fn unparked(raw: &str, to: Addressee) -> Option<Self> {
        let parked: Parked = serde_json::from_str(raw).ok()?;
        Some(Self {
            id: parked.id,
            to,
            name: parked.name,
            at: UnixTime(parked.at),
            props: parked.props,
        })
    }
}

/// What a call did: `POST /api/events`'s answer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    /// Events applied or parked.
    pub accepted: usize,
    /// Events whose id was seen before (in this call or an earlier one).
    pub duplicates: usize,
    /// The malformed events, by their index in the call.
    pub errors: Vec<Rejected>,
}

/// One malformed event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rejected {
    /// Its index in `events`.
    pub index: usize,
    /// What is wrong with it.
    pub message: String,
}

/// How many leads' events one call works on at once (each lead's in order).
pub const LEADS_AT_ONCE: usize = 16;

/// Parses and ingests `raw` events at `now`: each lead's events in the order given, up to
/// [`LEADS_AT_ONCE`] leads at a time.
pub async fn ingest(
    store: &Store,
    rules: &Rules,
    raw: Vec<Value>,
    now: UnixTime,
) -> Result<Report, StoreError> {
    let mut report = Report::default();
    let mut by_lead: Vec<(Addressee, Vec<Event>)> = Vec::new();
    let mut place: HashMap<Addressee, usize> = HashMap::new();
    for (index, raw) in raw.into_iter().enumerate() {
        match Event::parse(raw, now) {
            Ok(event) => {
                let at = *place.entry(event.to.clone()).or_insert_with(|| {
                    by_lead.push((event.to.clone(), Vec::new()));
                    by_lead.len() - 1
                });
                by_lead[at].1.push(event);
            }
            Err(message) => report.errors.push(Rejected { index, message }),
        }
    }
    let mut leads = stream::iter(by_lead)
        .map(|(_, events)| ingest_one_lead(store, rules, events, now))
        .buffer_unordered(LEADS_AT_ONCE);
    while let Some(done) = leads.next().await {
        let (accepted, duplicates) = done?;
        report.accepted += accepted;
        report.duplicates += duplicates;
    }
    Ok(report)
}

/// One lead's events, in order: how many were accepted and how many were duplicates.
async fn ingest_one_lead(
    store: &Store,
    rules: &Rules,
    events: Vec<Event>,
    now: UnixTime,
) -> Result<(usize, usize), StoreError> {
    let (mut accepted, mut duplicates) = (0, 0);
    for event in events {
        let fresh = match store
            .park_event(&event.id, &event.to, &event.parked(), now)
            .await?
        {
            Parking::Duplicate => false,
            Parking::Parked => true,
            Parking::Known(openid) => apply(store, rules, &event, &openid, now).await?,
        };
        if fresh {
            accepted += 1;
        } else {
            duplicates += 1;
        }
    }
    Ok((accepted, duplicates))
}

/// Applies `event` to the known lead `openid`: true when it had no effect before.
pub async fn apply(
    store: &Store,
    rules: &Rules,
    event: &Event,
    openid: &OpenId,
    now: UnixTime,
) -> Result<bool, StoreError> {
    let touch = Touch::Event {
        name: &event.name,
        props: &event.props,
    };
    let outcome = rules.evaluate(&touch);
    let key = format!("event:{}", event.name);
    let mut history = rules.history_keys(&touch, &outcome);
    history.push(&key);
    history.sort_unstable();
    history.dedup();
    let identity = applied_identity(&event.id);
    let detail = timeline_detail(event);
    let record = rules.keeps_event_props(&event.name).then(|| {
        let record = EventRecord {
            name: event.name.to_string(),
            at: event.at,
            props: event.props.clone(),
        };
        record.encode(&event.id)
    });
    let history_days = rules.history_days();
    let tags = outcome.tag_sources();
    // Only an event of the last day starts automations: an older one is history arriving.
    let recent = event.at.0 >= now.0 - 86_400;
    let fired = rules.watch().event(&event.name).filter(|_| recent);
    let touch = TouchRecord {
        openid,
        identity: &identity,
        unsigned_body: None,
        at: event.at,
        // Only a lead wxtag knows gets an event, and an event proves nothing about following:
        // its subscription stays as it is (`null` for one first seen outside the chat).
        effect: Effect::Outside,
        scene: None,
        timeline: Some(("event", &detail)),
        location: None,
        watched: if recent {
            rules.watch().added_mask(&tags)
        } else {
            String::new()
        },
        tags,
        want_tags: false,
        history,
        history_days,
        derive: rules.derives(),
        event: record.as_deref(),
        fired: fired.map(|f| Fired::encode(&[f])).unwrap_or_default(),
        window: None,
        do_not_contact: None,
    };
    // Remembered as long as the history it counts in: a repeat within it is no second touch.
    let dedup_secs = u64::from(history_days) * 86_400;
    let applied = derive::apply_outside(store, rules, &touch, now, dedup_secs).await?;
    // No replay guard is given, so `OtherBody` never comes back.
    Ok(applied.is_ok_and(|applied| applied.fresh))
}

/// The timeline's detail of an event: its name and properties, cut to 200 characters.
fn timeline_detail(event: &Event) -> String {
    let detail = if event.props.is_empty() {
        event.name.to_string()
    } else {
        format!("{} {}", event.name, Value::Object(event.props.clone()))
    };
    detail.chars().take(200).collect()
}

/// Joins `external` to the lead `openid` at `now`, then applies the events parked for it.
pub async fn join(
    store: &Store,
    rules: &Rules,
    openid: &OpenId,
    external: &ExternalId,
    now: UnixTime,
) -> Result<Join, StoreError> {
    let joined = store.join_identity(openid, external, now).await?;
    if matches!(joined, Join::Joined | Join::Already) {
        apply_parked(
            store,
            rules,
            &Addressee::External(external.clone()),
            openid,
            now,
        )
        .await?;
    }
    Ok(joined)
}

/// Applies the events parked for `to` to the lead `openid`, then forgets them (an event
/// applied twice, after a crash in between, has one effect: its id is remembered).
async fn apply_parked(
    store: &Store,
    rules: &Rules,
    to: &Addressee,
    openid: &OpenId,
    now: UnixTime,
) -> Result<usize, StoreError> {
    let parked = store.parked_events(to).await?;
    let mut applied = 0;
    for raw in &parked {
        match Event::unparked(raw, to.clone()) {
            Some(event) => applied += usize::from(apply(store, rules, &event, openid, now).await?),
            None => tracing::warn!("a parked event is not in the stored form; dropped"),
        }
    }
    store.forget_parked(to).await?;
    Ok(applied)
}

/// The scheduler's step: the openids with parked events whose check is due, up to
/// [`SETTLE_BATCH`]; for each lead wxtag now knows, its parked events are applied. Each
/// parked openid is checked about every [`SETTLE_AGAIN_SECS`]. Returns the events applied.
pub async fn settle_parked(
    store: &Store,
    rules: &Rules,
    now: UnixTime,
) -> Result<usize, StoreError> {
    let mut applied = 0;
    for (openid, known, parked) in store
        .claim_parked(now, SETTLE_BATCH, SETTLE_AGAIN_SECS)
        .await?
    {
        let to = Addressee::OpenId(openid.clone());
        if known {
            applied += apply_parked(store, rules, &to, &openid, now).await?;
        } else if !parked {
            // Its events expired unclaimed.
            store.forget_parked(&to).await?;
        }
    }
    Ok(applied)
}

#[cfg(test)]
mod tests;
