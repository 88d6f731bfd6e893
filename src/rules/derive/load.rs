//! Reading the derived sections into [`Derived`], with `file:line` diagnostics, and the
//! checks that need every file: tag ownership (a derived tag has no other source), `[score]`
//! and `[lifecycle]` at most once, windows no longer than the touch history.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::PathBuf;

use serde::Deserialize;
use toml::Spanned;
use toml::de::DeValue;

use super::file::{
    RawExpire, RawGroup, RawLevel, RawLifecycle, RawOf, RawPreference, RawRule, RawScore, RawTiers,
};
use super::score::Score;
use super::tiers::{TierOf, Tiers};
use super::{Derived, Expire, Owner, Preference, RuleTags, Stage};
use crate::domain::{TagName, TouchKey};
use crate::rules::Rules;
use crate::rules::condition::Condition;
use crate::rules::diagnostics::Diagnostic;
use crate::rules::load::{Builder, FileCtx, Section, one_line};
use crate::wechat::limits::{TAG_NAME_LEN, TAGS_PER_ACCOUNT};

/// The derived sections, as written after `[[` or `[`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in crate::rules) enum DerivedSection {
    Rule,
    Score,
    Tiers,
    Lifecycle,
    Preference,
    Group,
    Expire,
}

impl DerivedSection {
    /// The section of a top-level key, if it is a derived one.
    pub(in crate::rules) fn from_key(key: &str) -> Option<Self> {
        Some(match key {
            "rule" => Self::Rule,
            "score" => Self::Score,
            "tiers" => Self::Tiers,
            "lifecycle" => Self::Lifecycle,
            "preference" => Self::Preference,
            "group" => Self::Group,
            "expire" => Self::Expire,
            _ => return None,
        })
    }

    /// The top-level key.
    pub(in crate::rules) fn key(self) -> &'static str {
        match self {
            Self::Rule => "rule",
            Self::Score => "score",
            Self::Tiers => "tiers",
            Self::Lifecycle => "lifecycle",
            Self::Preference => "preference",
            Self::Group => "group",
            Self::Expire => "expire",
        }
    }

    /// True for the sections written once as a table (`[score]`, `[lifecycle]`).
    pub(in crate::rules) fn single(self) -> bool {
        matches!(self, Self::Score | Self::Lifecycle)
    }
}

/// A place in a file.
type At = (PathBuf, usize);

/// The derived sections read so far, and where things were declared for the checks that
/// need every file.
#[derive(Debug, Default)]
pub(in crate::rules) struct DerivedBuilder {
    derived: Derived,
    /// Where `[score]` and `[lifecycle]` were first written.
    score_at: Option<String>,
    lifecycle_at: Option<String>,
    /// Each derived tag (rule, level, stage): where, and what derives it.
    tag_at: BTreeMap<TagName, (At, String)>,
    /// Each preference's pattern, group prefix and expiring tag: where.
    preference_at: Vec<At>,
    group_at: Vec<At>,
    expire_at: Vec<Vec<At>>,
    /// Places that read the score.
    reads_score: Vec<(At, String)>,
    /// `rule:`/`tiers:`/`preference:` name → where it was first used.
    names: BTreeMap<String, String>,
}

impl DerivedBuilder {
    /// An empty builder for a history of `history_days`.
    pub(in crate::rules) fn new(history_days: u32) -> Self {
        let mut b = Self::default();
        b.derived.history_days = history_days;
        b
    }

    /// Runs the checks that need every file and the touch rules, adds the tags preferences
    /// can make to the rule set's tags, and returns the sections.
    pub(in crate::rules) fn finish(
        self,
        rules: &mut Rules,
        diags: &mut Vec<Diagnostic>,
    ) -> Derived {
        let Self {
            mut derived,
            tag_at,
            preference_at,
            group_at,
            expire_at,
            reads_score,
            ..
        } = self;
        let error = |diags: &mut Vec<Diagnostic>, (file, line): &At, message: String| {
            diags.push(Diagnostic::error(file, *line, message));
        };
        let mut touch_tags: BTreeMap<&TagName, &str> = BTreeMap::new();
        for rule in &rules.rules {
            for tag in &rule.tags {
                touch_tags.entry(tag).or_insert(rule.source.as_str());
                let given = derived
                    .given
                    .entry(rule.source.as_str().to_owned())
                    .or_default();
                if !given.contains(tag) {
                    given.push(tag.clone());
                }
                let givers = derived.givers.entry(tag.clone()).or_default();
                if !givers.iter().any(|g| g == rule.source.as_str()) {
                    givers.push(rule.source.as_str().to_owned());
                }
            }
        }
        // Called only with tags taken from `touch_tags`, so the index is there.
        let own = |tag: &TagName, by: &str| {
            format!(
                "tag \"{tag}\" is derived by {by} and also given by {}; a derived tag has no \
                 other source: remove it from one of them",
                touch_tags[tag]
            )
        };
        for (tag, (at, by)) in &tag_at {
            if touch_tags.contains_key(tag) {
                error(diags, at, own(tag, by));
            }
        }
        for (p, at) in derived.preferences.iter().zip(&preference_at) {
            let by = format!("[[preference]] \"{}\"", p.name);
            if let Some(tag) = touch_tags.keys().find(|t| p.covers(t.as_str())) {
                error(diags, at, own(tag, &by));
            }
            if let Some((tag, (_, other))) = tag_at.iter().find(|(t, _)| p.covers(t.as_str())) {
                let message = format!(
                    "{by} can produce tag \"{tag}\", which {other} derives; give the preference \
                     a pattern of its own"
                );
                error(diags, at, message);
            }
            let interests: Vec<&&TagName> = touch_tags
                .keys()
                .filter(|t| t.as_str().starts_with(&p.among))
                .collect();
            if interests.is_empty() {
                let message = format!(
                    "{by}: no touch rule gives a tag starting with \"{}\", so it never tags",
                    p.among
                );
                diags.push(Diagnostic::warning(&at.0, at.1, message));
            }
            for interest in interests {
                let Some(tag) = p.tag_for(interest.as_str()) else {
                    let message = format!(
                        "{by} would make an invalid tag from \"{interest}\" (WeChat allows \
                         {TAG_NAME_LEN} bytes of UTF-8); shorten the pattern"
                    );
                    error(diags, at, message);
                    continue;
                };
                // The tags it can make are synced like any other: they count against the limit.
                if !rules.tags.contains(&tag) {
                    rules.tags.push(tag.clone());
                    if rules.tags.len() == TAGS_PER_ACCOUNT + 1 {
                        let message = format!(
                            "{by} makes tag \"{tag}\", distinct tag number {}; WeChat allows \
                             {TAGS_PER_ACCOUNT} tags per account",
                            TAGS_PER_ACCOUNT + 1
                        );
                        error(diags, at, message);
                    }
                }
            }
        }
        for (prefix, at) in derived.groups.iter().zip(&group_at) {
            let covered = tag_at
                .keys()
                .map(TagName::as_str)
                .find(|t| t.starts_with(prefix.as_str()));
            let pattern = derived
                .preferences
                .iter()
                .find(|p| p.prefix.starts_with(prefix.as_str()) || prefix.starts_with(&p.prefix));
            let what = covered
                .map(|t| format!("the derived tag \"{t}\""))
                .or(pattern.map(|p| format!("the tags of [[preference]] \"{}\"", p.name)));
            if let Some(what) = what {
                let message = format!(
                    "[[group]] prefix \"{prefix}\" covers {what}; a derived tag is already one at \
                     a time: remove the group or change its prefix"
                );
                error(diags, at, message);
            }
        }
        for (e, places) in derived.expires.iter().zip(&expire_at) {
            for (tag, at) in e.tags.iter().zip(places) {
                if tag_at.contains_key(tag)
                    || derived.preferences.iter().any(|p| p.covers(tag.as_str()))
                {
                    let message = format!(
                        "[[expire]] of the derived tag \"{tag}\"; a derived tag is removed when \
                         its section stops giving it: remove it from [[expire]]"
                    );
                    error(diags, at, message);
                }
            }
        }
        if derived.score.is_none() {
            for (at, what) in &reads_score {
                let message = format!(
                    "{what} reads the score, but no file has a [score]; add one with points"
                );
                error(diags, at, message);
            }
        }
        derived
    }
}

impl Builder {
    /// Deserialises one derived section entry and adds it.
    pub(in crate::rules) fn derived_item(
        &mut self,
        ctx: &FileCtx,
        section: DerivedSection,
        item: Spanned<DeValue>,
    ) {
        match section {
            DerivedSection::Rule => self.read(ctx, section, item, Self::rule),
            DerivedSection::Score => self.read(ctx, section, item, Self::score),
            DerivedSection::Tiers => self.read(ctx, section, item, Self::tiers),
            DerivedSection::Lifecycle => self.read(ctx, section, item, Self::lifecycle),
            DerivedSection::Preference => self.read(ctx, section, item, Self::preference),
            DerivedSection::Group => self.read(ctx, section, item, Self::group),
            DerivedSection::Expire => self.read(ctx, section, item, Self::expire),
        }
    }

    /// Deserialises an entry as `T` and, if it reads, hands it to `add` with its span.
    fn read<'i, T: Deserialize<'i>>(
        &mut self,
        ctx: &FileCtx,
        section: DerivedSection,
        item: Spanned<DeValue<'i>>,
        add: fn(&mut Self, &FileCtx, &Range<usize>, T),
    ) {
        let span = item.span();
        if let Some(raw) = self.parse::<T>(ctx, Section::Derived(section), item) {
            add(self, ctx, &span, raw);
        }
    }

    /// `(file, line)` of `span`, for checks made once every file is in.
    pub(in crate::rules) fn here(ctx: &FileCtx, span: &Range<usize>) -> At {
        (ctx.path.to_owned(), ctx.line(span))
    }

    /// A section name (`rule:<name>`, …) that must be unique and not empty.
    fn name(
        &mut self,
        ctx: &FileCtx,
        header: &str,
        kind: &str,
        raw: &Spanned<String>,
    ) -> Option<String> {
        let name = raw.get_ref().trim();
        if name.is_empty() {
            self.error(
                ctx,
                &raw.span(),
                format!("{header} has an empty name; name it"),
            );
            return None;
        }
        let key = format!("{kind}:{name}");
        if let Some(prev) = self.derived.names.get(&key) {
            let message =
                format!("{header} \"{name}\" is already defined at {prev}; give each its own name");
            self.error(ctx, &raw.span(), message);
            return None;
        }
        self.derived.names.insert(key, ctx.at(&raw.span()));
        Some(name.to_owned())
    }

    /// A number of days: 1 to the touch history's length.
    fn days(&mut self, ctx: &FileCtx, what: &str, span: &Range<usize>, days: i64) -> Option<u32> {
        let history = self.derived.derived.history_days;
        match u32::try_from(days) {
            Ok(d) if (1..=history).contains(&d) => Some(d),
            Ok(d) if d > history => {
                let message = format!(
                    "{what} is {d} days, longer than the touch history ({history} days, \
                     WXTAG_HISTORY_DAYS); shorten it or raise WXTAG_HISTORY_DAYS (at most 400)"
                );
                self.error(ctx, span, message);
                None
            }
            _ => {
                self.error(
                    ctx,
                    span,
                    format!("{what} is {days}; give 1 to {history} days"),
                );
                None
            }
        }
    }

    /// A derived tag: checked, counted against WeChat's limit, and owned by one section.
    fn owned_tag(
        &mut self,
        ctx: &FileCtx,
        raw: Spanned<String>,
        owner: Owner,
        by: &str,
    ) -> Option<TagName> {
        let span = raw.span();
        let tag = self.rule_tag(ctx, raw)?;
        if let Some(((file, line), other)) = self.derived.tag_at.get(&tag) {
            let message = format!(
                "tag \"{tag}\" is already derived by {other} at {}:{line}; a derived tag has one \
                 source",
                file.display()
            );
            self.error(ctx, &span, message);
            return None;
        }
        self.derived
            .tag_at
            .insert(tag.clone(), (Self::here(ctx, &span), by.to_owned()));
        self.derived.derived.owners.insert(tag.to_string(), owner);
        Some(tag)
    }

    /// A `when`, read by the condition language (which also checks its touch keys, windows
    /// and contradictions once every file is in); the score and touch keys it reads are noted.
    fn derived_condition(
        &mut self,
        ctx: &FileCtx,
        what: &str,
        raw: Spanned<toml::Value>,
    ) -> Option<Condition> {
        let at = Self::here(ctx, &raw.span());
        let when = self.condition(ctx, raw)?;
        if when.uses_score() {
            self.derived.reads_score.push((at, what.to_owned()));
        }
        let keys: Vec<String> = when
            .touch_keys()
            .iter()
            .map(|k| k.as_str().to_owned())
            .collect();
        self.derived.derived.named_keys.extend(keys);
        Some(when)
    }

    fn rule(&mut self, ctx: &FileCtx, _: &Range<usize>, raw: RawRule) {
        let name = self.name(ctx, "[[rule]]", "rule", &raw.name);
        let what = format!("[[rule]] \"{}\"", raw.name.get_ref());
        let when = self.derived_condition(ctx, &what, raw.when);
        if raw.tags.is_empty() {
            self.error(
                ctx,
                &raw.name.span(),
                format!("{what} has no tags; give it the tags it holds"),
            );
        }
        let index = self.derived.derived.rules.len();
        let tags: Vec<TagName> = raw
            .tags
            .into_iter()
            .filter_map(|t| self.owned_tag(ctx, t, Owner::Rule(index), &what))
            .collect();
        if let (Some(name), Some(when)) = (name, when) {
            self.derived
                .derived
                .rules
                .push(RuleTags { name, when, tags });
        }
    }

    fn score(&mut self, ctx: &FileCtx, span: &Range<usize>, raw: RawScore) {
        if let Some(prev) = &self.derived.score_at {
            let message =
                format!("[score] is already written at {prev}; keep one [score] across all files");
            self.error(ctx, span, message);
            return;
        }
        self.derived.score_at = Some(ctx.at(span));
        let mut ok = true;
        let half_life = *raw.half_life_days.get_ref();
        if !(half_life.is_finite() && half_life > 0.0) {
            let message =
                format!("half_life_days is {half_life}; give a positive number of days, e.g. 30");
            self.error(ctx, &raw.half_life_days.span(), message);
            ok = false;
        }
        let points_span = raw.points.span();
        let mut points = BTreeMap::new();
        for (key, value) in raw.points.into_inner() {
            if let Err(e) = TouchKey::parse(&key) {
                self.error(
                    ctx,
                    &value.span(),
                    format!("[score] points: \"{key}\" is not a touch key: {e}"),
                );
                ok = false;
                continue;
            }
            let v = *value.get_ref();
            if !(v.is_finite() && v > 0.0) {
                let message = format!(
                    "[score] points for \"{key}\" is {v}; give a positive number (the score only \
                     falls while no touch comes)"
                );
                self.error(ctx, &value.span(), message);
                ok = false;
                continue;
            }
            points.insert(key, v);
        }
        if points.is_empty() && ok {
            self.error(
                ctx,
                &points_span,
                "[score] has no points; give touch keys their points",
            );
            ok = false;
        }
        self.derived
            .derived
            .named_keys
            .extend(points.keys().cloned());
        if ok {
            self.derived.derived.score = Some(Score {
                points,
                half_life_days: half_life,
            });
        }
    }

    fn tiers(&mut self, ctx: &FileCtx, _: &Range<usize>, raw: RawTiers) {
        let name = self.name(ctx, "[[tiers]]", "tiers", &raw.name);
        let what = format!("[[tiers]] \"{}\"", raw.name.get_ref());
        let of = self.tier_of(ctx, &what, &raw.of);
        let index = self.derived.derived.tiers.len();
        let levels_span = raw.levels.span();
        let raw_levels = raw.levels.into_inner();
        if raw_levels.is_empty() {
            self.error(
                ctx,
                &levels_span,
                format!("{what} has no levels; give at least one"),
            );
        }
        let mut levels: Vec<(f64, TagName)> = Vec::new();
        for level in raw_levels {
            let span = level.span();
            let RawLevel { at_least, tag } = level.into_inner();
            let bound = *at_least.get_ref();
            if !bound.is_finite() {
                self.error(
                    ctx,
                    &at_least.span(),
                    format!("{what}: at_least must be a number"),
                );
                continue;
            }
            if let Some(&(prev, _)) = levels.last()
                && bound >= prev
            {
                let message = format!(
                    "{what}: at_least {bound} is not below the level before it ({prev}); \
                         write levels highest first"
                );
                self.error(ctx, &span, message);
                continue;
            }
            if let Some(tag) = self.owned_tag(ctx, tag, Owner::Tiers(index), &what) {
                levels.push((bound, tag));
            }
        }
        // A sum tier (order amounts) with no level at 0 is on purpose: a lead that has not
        // ordered holds none of its tags.
        let sum = matches!(of, Some(TierOf::Sum { .. }));
        if let Some(&(lowest, _)) = levels.last()
            && lowest > 0.0
            && !sum
        {
            let message = format!(
                "{what}: the lowest level is at_least {lowest}, so a lead below it holds no tag \
                     of the list; add a level at_least = 0 to give every lead one"
            );
            self.warn(ctx, &levels_span, message);
        }
        if let (Some(name), Some(of)) = (name, of) {
            self.derived.derived.tiers.push(Tiers { name, of, levels });
        }
    }

    /// `of = "score"`, `{ count = [...], within_days }` or `{ sum = {...}, within_days }`.
    fn tier_of(&mut self, ctx: &FileCtx, what: &str, raw: &Spanned<toml::Value>) -> Option<TierOf> {
        let span = raw.span();
        let shapes = "use \"score\", { count = [...], within_days = N } or { sum = { event, prop }, \
                      within_days = N }";
        let table = match raw.get_ref() {
            toml::Value::String(s) if s == "score" => {
                self.derived
                    .reads_score
                    .push((Self::here(ctx, &span), what.to_owned()));
                return Some(TierOf::Score);
            }
            toml::Value::Table(t) => t,
            _ => {
                self.error(
                    ctx,
                    &span,
                    format!("{what}: `of` is not a measure; {shapes}"),
                );
                return None;
            }
        };
        let raw = match toml::Value::Table(table.clone()).try_into::<RawOf>() {
            Ok(raw) => raw,
            Err(e) => {
                let message = format!("{what}: `of`: {}; {shapes}", one_line(e.message()));
                self.error(ctx, &span, message);
                return None;
            }
        };
        let days = self.days(ctx, &format!("{what}: within_days"), &span, raw.within_days);
        match (raw.count, raw.sum) {
            (Some(keys), None) => {
                let bad = keys
                    .iter()
                    .find_map(|k| TouchKey::parse(k).err().map(|e| (k, e)));
                let problem = match bad {
                    Some((key, e)) => Some(format!("\"{key}\" is not a touch key: {e}")),
                    None if keys.is_empty() => {
                        Some("count has no touch keys; name some".to_owned())
                    }
                    None => None,
                };
                if let Some(problem) = problem {
                    self.error(ctx, &span, format!("{what}: {problem}"));
                    return None;
                }
                self.derived.derived.named_keys.extend(keys.iter().cloned());
                Some(TierOf::Count {
                    keys,
                    within_days: days?,
                })
            }
            (None, Some(sum)) => Some(TierOf::Sum {
                event: sum.event,
                prop: sum.prop,
                within_days: days?,
            }),
            _ => {
                self.error(
                    ctx,
                    &span,
                    format!("{what}: `of` is not a measure; {shapes}"),
                );
                None
            }
        }
    }

    fn lifecycle(&mut self, ctx: &FileCtx, span: &Range<usize>, raw: RawLifecycle) {
        if let Some(prev) = &self.derived.lifecycle_at {
            let message = format!(
                "[lifecycle] is already written at {prev}; keep one [lifecycle] across all files"
            );
            self.error(ctx, span, message);
            return;
        }
        self.derived.lifecycle_at = Some(ctx.at(span));
        let stages_span = raw.stages.span();
        let raw_stages = raw.stages.into_inner();
        if raw_stages.is_empty() {
            self.error(
                ctx,
                &stages_span,
                "[lifecycle] has no stages; give at least one",
            );
        }
        for stage in raw_stages {
            let stage = stage.into_inner();
            let what = format!("[lifecycle] stage \"{}\"", stage.tag.get_ref());
            let when = self.derived_condition(ctx, &what, stage.when);
            let index = self.derived.derived.stages.len();
            let tag = self.owned_tag(ctx, stage.tag, Owner::Stage(index), "[lifecycle]");
            if let (Some(tag), Some(when)) = (tag, when) {
                self.derived.derived.stages.push(Stage { tag, when });
            }
        }
    }

    fn preference(&mut self, ctx: &FileCtx, _: &Range<usize>, raw: RawPreference) {
        let name = self.name(ctx, "[[preference]]", "preference", &raw.name);
        let what = format!("[[preference]] \"{}\"", raw.name.get_ref());
        let days = self.days(
            ctx,
            &format!("{what}: within_days"),
            &raw.within_days.span(),
            *raw.within_days.get_ref(),
        );
        let among = raw.among.get_ref().clone();
        if among.is_empty() {
            self.error(
                ctx,
                &raw.among.span(),
                format!("{what}: among is empty; give a tag prefix, e.g. \"兴趣:\""),
            );
        }
        let pattern = raw.tag.get_ref();
        let parts: Vec<&str> = pattern.split("{}").collect();
        let split = match parts.as_slice() {
            [prefix, suffix] if !(prefix.is_empty() && suffix.is_empty()) => {
                Some((*prefix, *suffix))
            }
            _ => {
                let message = format!(
                    "{what}: tag \"{pattern}\" must hold {{}} exactly once, with text around it, \
                     e.g. \"偏好:{{}}\""
                );
                self.error(ctx, &raw.tag.span(), message);
                None
            }
        };
        if let (Some(name), Some(within_days), Some((prefix, suffix)), false) =
            (name, days, split, among.is_empty())
        {
            self.derived
                .preference_at
                .push(Self::here(ctx, &raw.tag.span()));
            self.derived.derived.preferences.push(Preference {
                name,
                among,
                within_days,
                prefix: prefix.to_owned(),
                suffix: suffix.to_owned(),
            });
        }
    }

    fn group(&mut self, ctx: &FileCtx, _: &Range<usize>, raw: RawGroup) {
        let prefix = raw.prefix.get_ref();
        if prefix.is_empty() {
            self.error(
                ctx,
                &raw.prefix.span(),
                "[[group]] prefix is empty; give a tag prefix, e.g. \"行业:\"",
            );
            return;
        }
        self.derived
            .group_at
            .push(Self::here(ctx, &raw.prefix.span()));
        self.derived.derived.groups.push(prefix.clone());
    }

    fn expire(&mut self, ctx: &FileCtx, _: &Range<usize>, raw: RawExpire) {
        let days = self.days(
            ctx,
            "[[expire]] after_days",
            &raw.after_days.span(),
            *raw.after_days.get_ref(),
        );
        let mut tags = Vec::new();
        let mut places = Vec::new();
        for t in &raw.tags {
            if let Some(tag) = self.tag(ctx, t) {
                places.push(Self::here(ctx, &t.span()));
                tags.push(tag);
            }
        }
        if let Some(after_days) = days {
            self.derived.expire_at.push(places);
            self.derived
                .derived
                .expires
                .push(Expire { tags, after_days });
        }
    }
}
