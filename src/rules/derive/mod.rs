//! Tags from behaviour over time: rule tags, the score, tiers, lifecycle stages,
//! preferences, exclusive groups and expiry, computed from a lead's state and history.
//!
//! [`Rules::derive`] is a pure function of the lead's [`LeadState`] and the moment: which
//! derived tags it should hold now, which to add and remove (each with its why), its score
//! and stage, and the next moment any of that can change with no event (for the scheduler).
//! The webhook calls it while an event is handled, the scheduler when only time passes, and
//! `check --preview` on every lead: one computation for all three.
//!
//! # Order
//!
//! Expiry first (a tag in an `[[expire]]` lapses `after_days` after it was last applied: the
//! later of its tag time and the last touch of any touch key whose rule gives it), then
//! exclusive groups (the most recently applied tag of a prefix stays), then `[[rule]]`s in
//! file order (each sees the lead's other tags and the rule tags decided before it), the
//! score, `[[tiers]]`, `[[preference]]`s, and last the `[lifecycle]` stage, which sees every
//! tag decided before it.
//!
//! Where the contract is silent: a derived tag belongs to one section (two `[[rule]]`s may
//! not give the same tag: write one with `any`); an `[[expire]]` is at most as long as the
//! touch history, as the last application is read from it; groups and preferences break
//! ties by tag name; a tier list whose lowest `at_least` is above 0 gives no tag
//! to a lead below it (`check` warns); a `[[preference]]` with no counted touch gives none; a
//! tag held with a derived source that no section derives any more (its rule was deleted) is
//! removed; `[score]` points are positive, so the score only falls while no touch comes;
//! `sum` tiers add up the property of the lead's stored events (`LeadState::events`, which
//! the events API fills), so until it lands their value is 0.

mod apply;
mod eval;
pub(in crate::rules) mod file;
mod load;
mod preview;
mod score;
#[cfg(test)]
mod tests;
mod tiers;
mod why;

use std::collections::{BTreeMap, BTreeSet};

use sha2::{Digest, Sha256};

use super::Rules;
use super::automation::Fired;
use super::condition::{Condition, Facts, Score};
use crate::domain::{OpenId, TagName, UnixTime};
use crate::store::history::DEFAULT_HISTORY_DAYS;
use crate::store::{DerivedWrite, LeadState};
use crate::wechat::limits::TAG_NAME_LEN;

pub use apply::{AppliedDeriving, apply_deriving, apply_outside};
pub(in crate::rules) use load::{DerivedBuilder, DerivedSection};

/// The derived sections of a `channels/` folder: `[[rule]]`, `[score]`, `[[tiers]]`,
/// `[lifecycle]`, `[[preference]]`, `[[group]]`, `[[expire]]`.
#[derive(Debug)]
pub struct Derived {
    /// `[[rule]]`s, in file order.
    rules: Vec<RuleTags>,
    /// `[score]`.
    score: Option<score::Score>,
    /// `[[tiers]]`, in file order.
    tiers: Vec<tiers::Tiers>,
    /// `[lifecycle]`'s stages.
    stages: Vec<Stage>,
    /// `[[preference]]`s, in file order.
    preferences: Vec<Preference>,
    /// `[[group]]` prefixes.
    groups: Vec<String>,
    /// `[[expire]]`s.
    expires: Vec<Expire>,
    /// Touch key → the tags the touch rules with that source give.
    given: BTreeMap<String, Vec<TagName>>,
    /// Tag → the touch keys whose rules give it.
    givers: BTreeMap<TagName, Vec<String>>,
    /// Derived tag (rule, level, stage) → the section that derives it.
    owners: BTreeMap<String, Owner>,
    /// Touch keys a derived section names (score points, conditions, count tiers).
    named_keys: BTreeSet<String>,
    /// `WXTAG_HISTORY_DAYS`: touches older than this no longer count.
    history_days: u32,
}

impl Default for Derived {
    fn default() -> Self {
        Self {
            rules: Vec::new(),
            score: None,
            tiers: Vec::new(),
            stages: Vec::new(),
            preferences: Vec::new(),
            groups: Vec::new(),
            expires: Vec::new(),
            given: BTreeMap::new(),
            givers: BTreeMap::new(),
            owners: BTreeMap::new(),
            named_keys: BTreeSet::new(),
            history_days: DEFAULT_HISTORY_DAYS,
        }
    }
}

/// One `[[rule]]`.
#[derive(Debug)]
struct RuleTags {
    name: String,
    when: Condition,
    tags: Vec<TagName>,
}

/// One `[lifecycle]` stage.
#[derive(Debug)]
struct Stage {
    tag: TagName,
    when: Condition,
}

/// One `[[preference]]`: tags `prefix + <text after among> + suffix`.
#[derive(Debug)]
struct Preference {
    name: String,
    among: String,
    within_days: u32,
    prefix: String,
    suffix: String,
}

impl Preference {
    /// True when the pattern can produce `tag`.
    fn covers(&self, tag: &str) -> bool {
        tag.len() > self.prefix.len() + self.suffix.len()
            && tag.starts_with(&self.prefix)
            && tag.ends_with(&self.suffix)
    }

    /// The preference tag for an interest tag with the `among` prefix; `None` when it would
    /// not be a tag WeChat takes (over its length in UTF-8 bytes).
    fn tag_for(&self, interest: &str) -> Option<TagName> {
        let text = interest.strip_prefix(&self.among)?;
        let tag = format!("{}{text}{}", self.prefix, self.suffix);
        (tag.len() <= TAG_NAME_LEN).then(|| TagName::parse(&tag).ok())?
    }
}

/// One `[[expire]]`.
#[derive(Debug)]
struct Expire {
    tags: Vec<TagName>,
    after_days: u32,
}

/// The section that derives a tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Owner {
    Rule(usize),
    Tiers(usize),
    Stage(usize),
    Preference(usize),
}

impl Derived {
    /// True when no derived section is configured.
    fn is_empty(&self) -> bool {
        self.rules.is_empty()
            && self.score.is_none()
            && self.tiers.is_empty()
            && self.stages.is_empty()
            && self.preferences.is_empty()
            && self.groups.is_empty()
            && self.expires.is_empty()
    }

    /// The section that derives `tag`, if any.
    fn owner(&self, tag: &str) -> Option<Owner> {
        if let Some(&owner) = self.owners.get(tag) {
            return Some(owner);
        }
        self.preferences
            .iter()
            .position(|p| p.covers(tag))
            .map(Owner::Preference)
    }

    /// The source a derived tag is added and removed with.
    fn source(&self, owner: Owner) -> String {
        match owner {
            Owner::Rule(i) => format!("rule:{}", self.rules[i].name),
            Owner::Tiers(i) => format!("tiers:{}", self.tiers[i].name),
            Owner::Stage(_) => "lifecycle".to_owned(),
            Owner::Preference(i) => format!("preference:{}", self.preferences[i].name),
        }
    }

    /// The events whose property a `sum` tier adds up.
    pub(in crate::rules) fn summed_events(&self) -> impl Iterator<Item = &str> {
        self.tiers.iter().filter_map(|t| match &t.of {
            tiers::TierOf::Sum { event, .. } => Some(event.as_str()),
            _ => None,
        })
    }

    /// The touch key `<kind>:<what>` when a derived section names it.
    pub(in crate::rules) fn named_key(&self, kind: &str, what: &str) -> Option<&str> {
        self.named_keys
            .get(&format!("{kind}:{what}"))
            .map(String::as_str)
    }
}

/// True when `source` is one a derived section applies tags with: `rule:<name>`,
/// `tiers:<name>`, `lifecycle` or `preference:<name>`.
pub fn is_derived_source(source: &str) -> bool {
    source == "lifecycle"
        || ["rule:", "tiers:", "preference:"]
            .iter()
            .any(|p| source.starts_with(p))
}

/// What the rules over time make of one lead at one moment.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Derivation {
    /// Tags to add, each with its source (`rule:<name>`, `tiers:<name>`, `lifecycle`,
    /// `preference:<name>`).
    pub add: Vec<(TagName, String)>,
    /// Tags to remove, each with the source that removes it (the derived source, `expire`,
    /// or `group:<prefix>`).
    pub remove: Vec<(TagName, String)>,
    /// The lead's tags once `add` and `remove` are applied.
    pub tags: BTreeSet<String>,
    /// The score now, when a `[score]` is configured.
    pub score: Option<f64>,
    /// The stage tag, when a `[lifecycle]` is configured.
    pub stage: Option<TagName>,
    /// The next moment any of this can change with no event; `None`: never.
    pub next_due: Option<UnixTime>,
    /// What the changes fire for the automations (encoded [`crate::rules::automation::Fired`]).
    pub fired: String,
}

impl Derivation {
    /// True when nothing is to be written but the next due time.
    pub fn is_unchanged(&self) -> bool {
        self.add.is_empty() && self.remove.is_empty()
    }

    /// The store's write of this derivation to `openid`, whose state was read at `version`;
    /// the changes are dated `at`.
    pub fn write<'a>(&'a self, openid: &'a OpenId, version: u64, at: UnixTime) -> DerivedWrite<'a> {
        DerivedWrite {
            openid,
            version,
            at,
            add: &self.add,
            remove: &self.remove,
            next_due: self.next_due,
            fired: &self.fired,
        }
    }
}

/// One line of a preview: what a rule, tier list, stage or preference would do now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreviewRow {
    /// `rule`, `tiers`, `lifecycle` or `preference`.
    pub kind: &'static str,
    /// Its name (the stage tag for a lifecycle stage).
    pub name: String,
    /// Leads it would tag that do not hold its tag now.
    pub tag: u64,
    /// Leads holding its tag that it would untag.
    pub untag: u64,
}

impl Rules {
    /// True when any derived section, or an `inactive_days` automation, is configured:
    /// events then need the lead's state back and a derived write (which keeps the lead due
    /// for the scheduler at the moments time alone changes something).
    pub fn derives(&self) -> bool {
        !self.derived.is_empty() || self.watch.inactive_days().next().is_some()
    }

    /// The lead's derived tags, score and stage at `now`, and what must change to get there.
    ///
    /// What the changes fire for the automations comes with it, and so does inactivity: a
    /// lead past an `inactive_days` trigger's threshold fires it (once per quiet spell: the
    /// run is told apart by the last touch), and the next threshold ahead is a due moment.
    pub fn derive(&self, lead: &LeadState, now: UnixTime) -> Derivation {
        let mut derivation = self.derived.derive(lead, now);
        let mut fired = self.watch.changes(&derivation.add, &derivation.remove);
        if let Some(last) = lead.last_seen {
            for days in self.watch.inactive_days() {
                let at = UnixTime(last.0 + i64::from(days) * 86_400);
                if at <= now {
                    fired.push(Fired::Inactive {
                        days,
                        since: last.0,
                    });
                } else {
                    let due = derivation.next_due.map_or(at, |due| due.min(at));
                    derivation.next_due = Some(due);
                }
            }
        }
        derivation.fired = Fired::encode(&fired);
        derivation
    }

    /// Each derived tag's why in words (e.g. "3 touches in 30 days, last 2026-12-01 10:02"),
    /// and for other tags what applied them, by tag name.
    pub fn why(&self, lead: &LeadState, now: UnixTime) -> Vec<(String, String)> {
        self.derived.why(self, lead, now)
    }

    /// True when `condition` holds for `lead` at `now`, with `tags` as the tags it holds and
    /// the score these rules' `[score]` gives (a `score` leaf never holds without one): how a
    /// segment asks the one evaluator about a stored lead.
    pub fn holds(
        &self,
        condition: &Condition,
        lead: &LeadState,
        tags: &BTreeSet<String>,
        now: UnixTime,
    ) -> bool {
        let score_at = self.derived.score_of(lead);
        let facts = Facts {
            lead,
            tags,
            score: self.derived.score.as_ref().map(|_| Score(&score_at)),
        };
        condition.holds(&facts, now)
    }

    /// The touch keys `[score]` gives points for (none without one): what a score is
    /// computed from.
    pub fn score_keys(&self) -> Vec<String> {
        self.derived
            .score
            .as_ref()
            .map(|s| s.points.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// The `[lifecycle]` stage tags, in file order; none without a `[lifecycle]`.
    pub fn stage_tags(&self) -> Vec<&TagName> {
        self.derived.stages.iter().map(|s| &s.tag).collect()
    }

    /// How many days of touch history these rules were loaded for (`WXTAG_HISTORY_DAYS`).
    pub fn history_days(&self) -> u32 {
        self.derived.history_days
    }

    /// True when `tag` is derived (a rule, tier, stage or preference tag): sales edits and
    /// bulk jobs may not add or remove it.
    pub fn is_derived(&self, tag: &str) -> bool {
        self.derived.owner(tag).is_some()
    }

    /// The source the rules give `tag` with (`rule:<name>`, `tiers:<name>`, `lifecycle`,
    /// `preference:<name>`), for the dashboard's tags by kind; `None` when `tag` is not
    /// derived.
    pub fn derived_source(&self, tag: &str) -> Option<String> {
        self.derived
            .owner(tag)
            .map(|owner| self.derived.source(owner))
    }

    /// A fingerprint of the derived sections: when it changes, existing leads are
    /// re-evaluated (the backfill).
    pub fn derived_fingerprint(&self) -> String {
        let d = &self.derived;
        // The touch rules' tags matter only to the sections that read them.
        let reads_given =
            !(d.preferences.is_empty() && d.groups.is_empty() && d.expires.is_empty());
        let canonical = format!(
            "{:?}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}|{}|{:?}",
            d.rules,
            d.score,
            d.tiers,
            d.stages,
            d.preferences,
            d.groups,
            d.expires,
            d.history_days,
            reads_given.then_some(&d.given),
        );
        hex::encode(Sha256::digest(canonical.as_bytes()))
    }

    /// The preview's rows with nothing counted yet: one per rule, tier list, stage and
    /// preference, in file order.
    pub fn preview_rows(&self) -> Vec<PreviewRow> {
        self.derived.rows()
    }

    /// Adds what `derive` would do to `lead` now to `rows` (made by [`Self::preview_rows`]).
    pub fn preview(&self, lead: &LeadState, now: UnixTime, rows: &mut [PreviewRow]) {
        self.derived.preview(lead, now, rows);
    }
}
