//! Why a lead holds each tag, in words: a derived tag by its section (the condition's
//! explanation, the tier value and level, the preference's touches), any other tag by what
//! applied it (`QR code 展台, 2026-11-22 16:05`, `keyword 报价, …`, `added by sales, …`).

use super::{Derived, Owner};
use crate::domain::{Scene, UnixTime};
use crate::rules::Rules;
use crate::rules::condition::{Facts, Score};
use crate::store::{LeadState, StateTag, rfc3339};

/// A time as a person reads it: `2026-11-22 16:05` (China time, as the API shows times).
pub(super) fn short_time(at: UnixTime) -> String {
    let full = rfc3339(at);
    full.get(..16)
        .map_or(full.clone(), |head| head.replacen('T', " ", 1))
}

/// A number as a person reads it: whole when it is, else one decimal.
fn number(value: f64) -> String {
    let rounded = (value * 10.0).round() / 10.0;
    if rounded.fract() == 0.0 {
        format!("{rounded:.0}")
    } else {
        format!("{rounded:.1}")
    }
}

impl Derived {
    /// See [`Rules::why`].
    pub(super) fn why(
        &self,
        rules: &Rules,
        lead: &LeadState,
        now: UnixTime,
    ) -> Vec<(String, String)> {
        let derivation = self.derive(lead, now);
        let score_at = self.score_of(lead);
        let facts = Facts {
            lead,
            tags: &derivation.tags,
            score: self.score.as_ref().map(|_| Score(&score_at)),
        };
        lead.tags
            .iter()
            .map(|tag| {
                let detail = match self.owner(tag.name.as_str()) {
                    Some(owner) => self.derived_why(owner, tag, &facts, now),
                    None => applied_by(rules, tag),
                };
                (tag.name.to_string(), detail)
            })
            .collect()
    }

    /// A derived tag's why.
    fn derived_why(&self, owner: Owner, tag: &StateTag, facts: &Facts, now: UnixTime) -> String {
        match owner {
            Owner::Rule(i) => self.rules[i].when.explain(facts, now),
            Owner::Stage(i) => self.stages[i].when.explain(facts, now),
            Owner::Tiers(i) => {
                let tiers = &self.tiers[i];
                let state = tiers.state(self.score.as_ref(), facts.lead, self.history_days, now);
                let level = tiers
                    .levels
                    .iter()
                    .find(|(_, t)| t == &tag.name)
                    .map_or(String::new(), |(at_least, t)| {
                        format!(", level {t} ≥ {}", number(*at_least))
                    });
                format!("{} {}{level}", tiers.measure(), number(state.value))
            }
            Owner::Preference(i) => {
                let p = &self.preferences[i];
                match self.tally(p, facts.lead, now).winner {
                    Some((interest, n, last)) => format!(
                        "{n} touches of {interest} in {} days, last {}",
                        p.within_days,
                        short_time(last)
                    ),
                    None => format!("no touches of {}… in {} days", p.among, p.within_days),
                }
            }
        }
    }
}

/// What applied a tag that no derived section owns, and when.
fn applied_by(rules: &Rules, tag: &StateTag) -> String {
    let (kind, what) = tag
        .source
        .split_once(':')
        .unwrap_or((tag.source.as_str(), ""));
    let how = match kind {
        "follow" => "follow".to_owned(),
        "qr" | "channel" => {
            let name = Scene::parse(what)
                .ok()
                .and_then(|s| rules.channel(&s).map(|c| c.name.clone()))
                .unwrap_or_else(|| what.to_owned());
            match kind {
                "qr" => format!("QR code {name}"),
                _ => format!("a link through channel {name}"),
            }
        }
        "click" => format!("menu click {what}"),
        "view" => format!("menu link {what}"),
        "keyword" => format!("keyword {what}"),
        "admin" => "added by sales".to_owned(),
        _ => tag.source.clone(),
    };
    format!("{how}, {}", short_time(tag.at))
}
