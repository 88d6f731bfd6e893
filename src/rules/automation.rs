//! `[[automation]]`s as the rules know them: a trigger, a `when`, and steps; and what fired
//! for a lead, as the apply scripts record it for the automation worker ([`Fired`]).
//!
//! The hot path asks only [`Watch`]: which tags, forms and events some automation waits for,
//! so a touch that fires nothing writes nothing more. Running the steps is
//! the automation worker's (`src/automation/`).

use std::collections::{BTreeMap, BTreeSet, HashSet};

use super::condition::Condition;
use crate::domain::{
    AutomationName, EventName, FormId, NotifyName, SegmentName, TagName, UnixTime,
};
use crate::wechat::reply::Reply;

/// One `[[automation]]`.
#[derive(Debug, Clone)]
pub struct Automation {
    /// Its name, unique across the files.
    pub name: AutomationName,
    /// What starts a run.
    pub on: Trigger,
    /// Checked when the trigger fires: no run starts unless it holds.
    pub when: Option<Condition>,
    /// The steps, in order.
    pub steps: Vec<Step>,
    /// True when a lead may run it again (else at most once per lead).
    pub repeat: bool,
    /// China-time hours in which its sends wait.
    pub quiet_hours: Option<QuietHours>,
    /// At most this many of its messages reach one lead per China-time day.
    pub max_messages_per_day: Option<u32>,
}

/// What starts an automation's run for a lead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trigger {
    /// The lead got the tag (from any source but an import, restore or backfill).
    TagAdded(TagName),
    /// The lead lost the tag.
    TagRemoved(TagName),
    /// The lead reached the `[lifecycle]` stage (its stage tag was added).
    Stage(TagName),
    /// The lead submitted the form.
    Form(FormId),
    /// The events API brought the event (with an `at` within the last day).
    Event(EventName),
    /// The lead entered the saved segment (noticed at its recount).
    SegmentEntered(SegmentName),
    /// The lead has not been touched for this many days.
    InactiveDays(u32),
}

impl Trigger {
    /// How `check` and the timeline show it: `tag_added 兴趣:PLC`.
    pub fn describe(&self) -> String {
        match self {
            Self::TagAdded(tag) => format!("tag_added {tag}"),
            Self::TagRemoved(tag) => format!("tag_removed {tag}"),
            Self::Stage(tag) => format!("stage {tag}"),
            Self::Form(id) => format!("form {id}"),
            Self::Event(name) => format!("event {name}"),
            Self::SegmentEntered(name) => format!("segment_entered {name}"),
            Self::InactiveDays(days) => format!("inactive_days {days}"),
        }
    }

    /// True when what fired starts this trigger.
    pub fn matches(&self, fired: &Fired) -> bool {
        match (self, fired) {
            (Self::TagAdded(t) | Self::Stage(t), Fired::TagAdded(f)) => t.as_str() == f,
            (Self::TagRemoved(t), Fired::TagRemoved(f)) => t.as_str() == f,
            (Self::Form(id), Fired::Form(f)) => id.as_str() == f,
            (Self::Event(name), Fired::Event(f)) => name.as_str() == f,
            (Self::SegmentEntered(name), Fired::SegmentEntered(f)) => name.as_str() == f,
            (Self::InactiveDays(days), Fired::Inactive { days: d, .. }) => days == d,
            _ => false,
        }
    }
}

/// One step: an action, run only when its `when` holds (else skipped, on the timeline).
#[derive(Debug, Clone)]
pub struct Step {
    /// What the step does.
    pub action: Action,
    /// Checked when the step's turn comes.
    pub when: Option<Condition>,
}

/// What a step does.
#[derive(Debug, Clone)]
pub enum Action {
    /// A customer-service message, inside the window; else its template fallback, if any.
    Send {
        /// The message (text or one news article; `{link:ID}` filled in for the lead).
        message: Reply,
        /// The template message sent instead outside the window.
        fallback: Option<TemplateMessage>,
    },
    /// A template message (a service notice).
    Template(TemplateMessage),
    /// An alert to a `[[notify]]` target, by name.
    Notify(NotifyName),
    /// Tags added to the lead (source `automation:<name>`).
    AddTags(Vec<TagName>),
    /// Tags removed from the lead.
    RemoveTags(Vec<TagName>),
    /// A pause of this many seconds before the next step.
    Wait(u64),
}

impl Action {
    /// The step's kind as the timeline and the metrics name it.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Send { .. } => "send",
            Self::Template(_) => "template",
            Self::Notify(_) => "notify",
            Self::AddTags(_) => "add_tags",
            Self::RemoveTags(_) => "remove_tags",
            Self::Wait(_) => "wait",
        }
    }
}

/// A template message: its id, where a tap goes, and its fields as plain strings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateMessage {
    /// The template's id on the account.
    pub template_id: String,
    /// Where a tap on it goes, if anywhere.
    pub url: Option<String>,
    /// Field → value (wrapped as `{"value": …}` when sent).
    pub data: BTreeMap<String, String>,
}

/// Quiet hours in China time, `22:00-08:00`: minutes of the day from (inclusive) to
/// (exclusive); a span past midnight wraps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuietHours {
    from: u32,
    to: u32,
}

/// Seconds China time is ahead of UTC.
const CHINA_OFFSET_SECS: i64 = 8 * 3600;

impl QuietHours {
    /// Parses `HH:MM-HH:MM` (24-hour clock); the two ends must differ.
    pub fn parse(s: &str) -> Result<Self, String> {
        let minutes = |part: &str| -> Option<u32> {
            let (h, m) = part.trim().split_once(':')?;
            let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
            (h < 24 && m < 60 && part.trim().len() == 5).then_some(h * 60 + m)
        };
        let bad =
            || format!("quiet_hours \"{s}\" must be HH:MM-HH:MM in China time, e.g. 22:00-08:00");
        let (from, to) = s.split_once('-').ok_or_else(bad)?;
        let (from, to) = (minutes(from).ok_or_else(bad)?, minutes(to).ok_or_else(bad)?);
        if from == to {
            return Err(format!(
                "quiet_hours \"{s}\" starts where it ends; leave it out for none"
            ));
        }
        Ok(Self { from, to })
    }

    /// When the quiet hours that hold `at` end; `None` when `at` is not in them.
    pub fn end_after(&self, at: UnixTime) -> Option<UnixTime> {
        let local = at.0 + CHINA_OFFSET_SECS;
        let minute = u32::try_from(local.rem_euclid(86_400) / 60).unwrap_or(0);
        let quiet = if self.from < self.to {
            (self.from..self.to).contains(&minute)
        } else {
            minute >= self.from || minute < self.to
        };
        if !quiet {
            return None;
        }
        let day_start = local - local.rem_euclid(86_400);
        let mut end = day_start + i64::from(self.to) * 60;
        if end <= local {
            end += 86_400;
        }
        Some(UnixTime(end - CHINA_OFFSET_SECS))
    }
}

/// What fired for a lead, as the apply scripts record it in the automation inbox.
///
/// Encoded as `kind \x1f value` items joined by `\x1e`: `a` tag added, `r` tag removed, `f`
/// form, `e` event, `s` segment entered, `i` inactive (`days \x1f since`, the last touch
/// the inactivity counts from). The scripts write `a` items themselves for the touch tags
/// they add.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fired {
    /// A tag was added.
    TagAdded(String),
    /// A tag was removed.
    TagRemoved(String),
    /// A form was submitted.
    Form(String),
    /// An event came.
    Event(String),
    /// The lead entered a saved segment.
    SegmentEntered(String),
    /// The lead has had no touch for `days` days since `since` (unix s).
    Inactive {
        /// The automation's threshold.
        days: u32,
        /// The lead's last touch.
        since: i64,
    },
}

impl Fired {
    /// Encodes a list for the inbox.
    pub fn encode(fired: &[Fired]) -> String {
        let items: Vec<String> = fired
            .iter()
            .map(|f| match f {
                Self::TagAdded(v) => format!("a\x1f{v}"),
                Self::TagRemoved(v) => format!("r\x1f{v}"),
                Self::Form(v) => format!("f\x1f{v}"),
                Self::Event(v) => format!("e\x1f{v}"),
                Self::SegmentEntered(v) => format!("s\x1f{v}"),
                Self::Inactive { days, since } => format!("i\x1f{days}\x1f{since}"),
            })
            .collect();
        items.join("\x1e")
    }

    /// Decodes an inbox entry's list; items not in the shape written are skipped.
    pub fn decode(s: &str) -> Vec<Fired> {
        s.split('\x1e')
            .filter_map(|item| {
                let (kind, value) = item.split_once('\x1f')?;
                let value = value.to_owned();
                Some(match kind {
                    "a" => Self::TagAdded(value),
                    "r" => Self::TagRemoved(value),
                    "f" => Self::Form(value),
                    "e" => Self::Event(value),
                    "s" => Self::SegmentEntered(value),
                    "i" => {
                        let (days, since) = value.split_once('\x1f')?;
                        Self::Inactive {
                            days: days.parse().ok()?,
                            since: since.parse().ok()?,
                        }
                    }
                    _ => return None,
                })
            })
            .collect()
    }

    /// What tells two firings of one repeatable automation apart for the same lead:
    /// inactivity is one firing per quiet spell, whoever notices it.
    pub fn instance(&self) -> Option<String> {
        match self {
            Self::Inactive { since, .. } => Some(format!("i{since}")),
            _ => None,
        }
    }
}

/// What the automations wait for, for the apply path: cheap lookups, empty without any.
#[derive(Debug, Clone, Default)]
pub struct Watch {
    added: HashSet<String>,
    removed: HashSet<String>,
    forms: HashSet<String>,
    events: HashSet<String>,
    segments: bool,
    inactive: BTreeSet<u32>,
}

impl Watch {
    /// The watch of `automations`.
    pub fn of(automations: &[Automation]) -> Self {
        let mut watch = Self::default();
        for automation in automations {
            match &automation.on {
                Trigger::TagAdded(t) | Trigger::Stage(t) => {
                    watch.added.insert(t.to_string());
                }
                Trigger::TagRemoved(t) => {
                    watch.removed.insert(t.to_string());
                }
                Trigger::Form(id) => {
                    watch.forms.insert(id.to_string());
                }
                Trigger::Event(name) => {
                    watch.events.insert(name.to_string());
                }
                Trigger::SegmentEntered(_) => watch.segments = true,
                Trigger::InactiveDays(days) => {
                    watch.inactive.insert(*days);
                }
            }
        }
        watch
    }

    /// True when some automation starts on this tag being added.
    pub fn on_added(&self, tag: &str) -> bool {
        self.added.contains(tag)
    }

    /// One byte per tag of a touch (its tags with their sources, as the touch record holds
    /// them), `1` when some automation starts on its being added: the apply
    /// script records those it adds. Empty (nothing for the script to look at) when no
    /// automation starts on a tag being added.
    pub fn added_mask(&self, tags: &[(&TagName, &str)]) -> String {
        if self.added.is_empty() {
            return String::new();
        }
        (tags.iter())
            .map(|(t, _)| if self.on_added(t.as_str()) { '1' } else { '0' })
            .collect()
    }

    /// What derived changes fire: the watched tags among those added and removed.
    pub fn changes(&self, add: &[(TagName, String)], remove: &[(TagName, String)]) -> Vec<Fired> {
        let added = add
            .iter()
            .filter(|(t, _)| self.added.contains(t.as_str()))
            .map(|(t, _)| Fired::TagAdded(t.to_string()));
        let removed = remove
            .iter()
            .filter(|(t, _)| self.removed.contains(t.as_str()))
            .map(|(t, _)| Fired::TagRemoved(t.to_string()));
        added.chain(removed).collect()
    }

    /// One byte per tag of `add` then `remove`, `1` when some automation starts on that
    /// change: sales edits and bulk jobs record those they make.
    pub fn edited_mask(&self, add: &[TagName], remove: &[TagName]) -> String {
        let added = add.iter().map(|t| self.on_added(t.as_str()));
        let removed = remove.iter().map(|t| self.on_removed(t.as_str()));
        added
            .chain(removed)
            .map(|w| if w { '1' } else { '0' })
            .collect()
    }

    /// True when some automation starts on this tag being removed.
    pub fn on_removed(&self, tag: &str) -> bool {
        self.removed.contains(tag)
    }

    /// The form's firing, when some automation starts on it.
    pub fn form(&self, id: &FormId) -> Option<Fired> {
        self.forms
            .contains(id.as_str())
            .then(|| Fired::Form(id.to_string()))
    }

    /// The event's firing, when some automation starts on it.
    pub fn event(&self, name: &EventName) -> Option<Fired> {
        self.events
            .contains(name.as_str())
            .then(|| Fired::Event(name.to_string()))
    }

    /// True when some automation starts on entering a segment.
    pub fn segments(&self) -> bool {
        self.segments
    }

    /// The inactivity thresholds (days) automations start on, smallest first.
    pub fn inactive_days(&self) -> impl Iterator<Item = u32> + '_ {
        self.inactive.iter().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fired_round_trips_through_its_encoding() {
        let fired = vec![
            Fired::TagAdded("阶段:商机".into()),
            Fired::TagRemoved("兴趣:PLC".into()),
            Fired::Form("trial".into()),
            Fired::Event("order".into()),
            Fired::SegmentEntered("展会 PLC".into()),
            Fired::Inactive {
                days: 2,
                since: 1_700_000_000,
            },
        ];
        assert_eq!(Fired::decode(&Fired::encode(&fired)), fired);
        assert_eq!(Fired::decode(""), vec![]);
        assert_eq!(
            Fired::decode("x\x1fy\x1ea\x1fok"),
            vec![Fired::TagAdded("ok".into())]
        );
    }

    #[test]
    fn quiet_hours_wrap_past_midnight_in_china_time() {
        let quiet = QuietHours::parse("22:00-08:00").unwrap();
        // 2026-12-02 23:30 China time is 15:30 UTC.
        let late = UnixTime(1_796_225_400);
        let end = quiet.end_after(late).unwrap();
        // 08:00 China time the next morning is 00:00 UTC on the 3rd.
        assert_eq!(end, UnixTime(1_796_256_000));
        // 12:00 China time is not quiet.
        assert_eq!(quiet.end_after(UnixTime(1_796_184_000)), None);
        let day = QuietHours::parse("12:00-13:30").unwrap();
        assert_eq!(
            day.end_after(UnixTime(1_796_184_000)),
            Some(UnixTime(1_796_189_400))
        );
        assert!(QuietHours::parse("22:00").is_err());
        assert!(QuietHours::parse("25:00-08:00").is_err());
        assert!(QuietHours::parse("08:00-08:00").is_err());
    }
}
