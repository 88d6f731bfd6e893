//! The derivation itself: expiry, groups, rules, score, tiers, preferences, lifecycle, then
//! the difference with what the lead holds and the next moment any of it can change.

use std::collections::{BTreeMap, BTreeSet};

use super::{Derivation, Derived, Owner, Preference, is_derived_source};
use crate::domain::{TagName, UnixTime};
use crate::rules::condition::{Facts, Score};
use crate::store::history::leaves_window;
use crate::store::{LeadState, StateTag};

/// The earliest future moment seen so far.
#[derive(Debug)]
struct Next {
    now: UnixTime,
    min: Option<UnixTime>,
}

impl Next {
    fn at(&mut self, moment: Option<UnixTime>) {
        if let Some(m) = moment {
            let m = m.max(UnixTime(self.now.0.saturating_add(1)));
            self.min = Some(self.min.map_or(m, |cur| cur.min(m)));
        }
    }
}

/// What a preference makes of a lead now.
#[derive(Debug)]
pub(super) struct Tally<'a> {
    /// The winning interest tag, its touches in the window and its last touch.
    pub(super) winner: Option<(&'a TagName, u64, UnixTime)>,
    /// The next moment a counted touch leaves the window.
    pub(super) next: Option<UnixTime>,
}

impl Derived {
    /// When `tag` was last applied: the later of its tag time and the last touch of any
    /// touch key whose rule gives it.
    pub(super) fn last_applied(&self, lead: &LeadState, tag: &StateTag) -> UnixTime {
        self.givers
            .get(&tag.name)
            .into_iter()
            .flatten()
            .filter_map(|key| lead.history.key(key))
            .map(|h| h.last)
            .fold(tag.at, UnixTime::max)
    }

    /// The touches in a preference's window per interest tag, and the winner: the most
    /// touched, ties to the most recent, then to the first name.
    pub(super) fn tally<'a>(
        &'a self,
        p: &Preference,
        lead: &LeadState,
        now: UnixTime,
    ) -> Tally<'a> {
        let mut per_tag: BTreeMap<&TagName, (u64, UnixTime)> = BTreeMap::new();
        let mut next: Option<UnixTime> = None;
        for (key, history) in lead.history.iter() {
            let Some(tags) = self.given.get(key) else {
                continue;
            };
            let mut interests = tags
                .iter()
                .filter(|t| t.as_str().starts_with(&p.among))
                .peekable();
            if interests.peek().is_none() {
                continue;
            }
            let counted: Vec<(i64, u32)> = history.within(p.within_days, now).collect();
            let Some(&(oldest, _)) = counted.first() else {
                continue;
            };
            let leaves = leaves_window(oldest, p.within_days);
            next = Some(next.map_or(leaves, |n| n.min(leaves)));
            let n: u64 = counted.iter().map(|&(_, c)| u64::from(c)).sum();
            for tag in interests {
                let entry = per_tag.entry(tag).or_insert((0, UnixTime(i64::MIN)));
                entry.0 += n;
                entry.1 = entry.1.max(history.last);
            }
        }
        let winner = per_tag
            .into_iter()
            .max_by(|a, b| (a.1.0, a.1.1).cmp(&(b.1.0, b.1.1)).then(b.0.cmp(a.0)))
            .map(|(tag, (n, last))| (tag, n, last));
        Tally { winner, next }
    }

    /// The lead's score at any moment (0 without a `[score]`), as conditions read it.
    pub(super) fn score_of<'a>(&'a self, lead: &'a LeadState) -> impl Fn(UnixTime) -> f64 + 'a {
        move |at| {
            self.score
                .as_ref()
                .map_or(0.0, |s| s.at(&lead.history, self.history_days, at))
        }
    }

    /// See [`crate::rules::Rules::derive`].
    pub(super) fn derive(&self, lead: &LeadState, now: UnixTime) -> Derivation {
        let mut next = Next { now, min: None };
        let mut remove: Vec<(TagName, String)> = Vec::new();
        let mut held: BTreeMap<&str, &StateTag> =
            lead.tags.iter().map(|t| (t.name.as_str(), t)).collect();

        for e in &self.expires {
            for tag in &e.tags {
                let Some(&held_tag) = held.get(tag.as_str()) else {
                    continue;
                };
                let lapses = UnixTime(
                    self.last_applied(lead, held_tag)
                        .0
                        .saturating_add(i64::from(e.after_days) * 86_400),
                );
                if lapses <= now {
                    held.remove(tag.as_str());
                    remove.push((tag.clone(), "expire".to_owned()));
                } else {
                    next.at(Some(lapses));
                }
            }
        }

        for prefix in &self.groups {
            let members: Vec<&StateTag> = held
                .values()
                .copied()
                .filter(|t| t.name.as_str().starts_with(prefix.as_str()))
                .collect();
            let newest = members
                .iter()
                .max_by_key(|t| (self.last_applied(lead, t), &t.name))
                .map(|t| t.name.clone());
            for t in members {
                if Some(&t.name) != newest.as_ref() {
                    held.remove(t.name.as_str());
                    remove.push((t.name.clone(), format!("group:{prefix}")));
                }
            }
        }

        let held_derived =
            |t: &StateTag| self.owner(t.name.as_str()).is_some() || is_derived_source(&t.source);
        let mut seen: BTreeSet<String> = held
            .values()
            .filter(|t| !held_derived(t))
            .map(|t| t.name.to_string())
            .collect();
        let mut wanted: Vec<(TagName, String)> = Vec::new();
        let mut want = |seen: &mut BTreeSet<String>, tag: &TagName, source: String| {
            if seen.insert(tag.to_string()) {
                wanted.push((tag.clone(), source));
            }
        };

        let score_at = self.score_of(lead);
        let score_now = self.score.as_ref().map(|_| score_at(now));
        let score = self.score.as_ref().map(|_| Score(&score_at));
        for (i, rule) in self.rules.iter().enumerate() {
            let facts = Facts {
                lead,
                tags: &seen,
                score,
            };
            let holds = rule.when.holds(&facts, now);
            next.at(rule.when.next_change(&facts, now));
            if holds {
                for tag in &rule.tags {
                    want(&mut seen, tag, self.source(Owner::Rule(i)));
                }
            }
        }
        for (i, tiers) in self.tiers.iter().enumerate() {
            let state = tiers.state(self.score.as_ref(), lead, self.history_days, now);
            next.at(state.next);
            if let Some(level) = state.level {
                want(
                    &mut seen,
                    &tiers.levels[level].1,
                    self.source(Owner::Tiers(i)),
                );
            }
        }
        for (i, p) in self.preferences.iter().enumerate() {
            let tally = self.tally(p, lead, now);
            next.at(tally.next);
            if let Some(tag) = tally
                .winner
                .and_then(|(interest, _, _)| p.tag_for(interest.as_str()))
            {
                want(&mut seen, &tag, self.source(Owner::Preference(i)));
            }
        }
        let mut stage = None;
        for (i, s) in self.stages.iter().enumerate() {
            let facts = Facts {
                lead,
                tags: &seen,
                score,
            };
            next.at(s.when.next_change(&facts, now));
            if s.when.holds(&facts, now) {
                stage = Some(s.tag.clone());
                want(&mut seen, &s.tag, self.source(Owner::Stage(i)));
                break;
            }
        }

        for t in held.values().filter(|t| held_derived(t)) {
            if !wanted.iter().any(|(w, _)| w == &t.name) {
                let source = self
                    .owner(t.name.as_str())
                    .map_or_else(|| t.source.clone(), |o| self.source(o));
                remove.push((t.name.clone(), source));
            }
        }
        let add: Vec<(TagName, String)> = wanted
            .into_iter()
            .filter(|(tag, _)| !held.contains_key(tag.as_str()))
            .collect();
        let mut tags: BTreeSet<String> = lead.tags.iter().map(|t| t.name.to_string()).collect();
        for (tag, _) in &remove {
            tags.remove(tag.as_str());
        }
        tags.extend(add.iter().map(|(tag, _)| tag.to_string()));
        Derivation {
            add,
            remove,
            tags,
            score: score_now,
            stage,
            next_due: next.min,
            fired: String::new(),
        }
    }
}
