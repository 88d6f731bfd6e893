//! What `wxtag check` says about a condition: touch keys no rule gives, windows longer than
//! the touch history, and conditions that can never hold, each with its path inside the
//! condition. The loader adds the file and the line of the `when`.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use super::{Condition, ConditionError, Node, PropOp, index, join};
use crate::domain::{Scene, TagName, TouchKey};
use crate::rules::{Rules, Severity};

/// What a condition is checked against: the touch keys the rule set gives and how many days
/// of touch history are kept.
#[derive(Debug)]
pub struct CheckContext<'a> {
    given: HashSet<&'a str>,
    history_days: u32,
}

impl<'a> CheckContext<'a> {
    /// The touch keys of every rule in `rules` (`qr:<scene>`, `click:<key>`, `view:<prefix>`,
    /// `keyword:<text>`, `link:<id>`, `form:<id>`, `follow`), and the history's length in days (`WXTAG_HISTORY_DAYS`).
    pub fn new(rules: &'a Rules, history_days: u32) -> Self {
        Self {
            given: rules.rules.iter().map(|r| r.source.as_str()).collect(),
            history_days,
        }
    }
}

/// Every problem of `condition` under `ctx`, as `(severity, "<path>: <message>")`.
pub fn check_condition(condition: &Condition, ctx: &CheckContext) -> Vec<(Severity, String)> {
    let mut out = Vec::new();
    walk(&condition.node, "", ctx, &mut out);
    if let Some(e) = contradiction(&condition.node, "") {
        out.push((Severity::Error, e.to_string()));
    }
    out
}

fn walk(node: &Node, path: &str, ctx: &CheckContext, out: &mut Vec<(Severity, String)>) {
    let mut say = |severity, at: &str, message: String| {
        let e = ConditionError {
            path: at.to_owned(),
            message,
        };
        out.push((severity, e.to_string()));
    };
    let window = match node {
        Node::All(children) | Node::Any(children) | Node::None(children) => {
            let at = join(path, combinator(node));
            for (i, child) in children.iter().enumerate() {
                walk(child, &index(&at, i), ctx, out);
            }
            return;
        }
        Node::Count(window) => {
            let at = join(path, "count");
            for (i, key) in window.keys.iter().enumerate() {
                if let Some((severity, message)) = unknown_key(key, ctx) {
                    say(severity, &index(&at, i), message);
                }
            }
            window
        }
        Node::Event { window, .. } => window,
        _ => return,
    };
    if window.days > ctx.history_days {
        let message = format!(
            "a window of {} days is longer than the {} days of touch history kept \
             (WXTAG_HISTORY_DAYS); shorten it or keep more history (at most 400 days)",
            window.days, ctx.history_days
        );
        say(Severity::Error, &join(path, "within_days"), message);
    }
}

/// `all`, `any` or `none`.
fn combinator(node: &Node) -> &'static str {
    match node {
        Node::All(_) => "all",
        Node::Any(_) => "any",
        _ => "none",
    }
}

/// Why a counted touch key can never be touched, if no rule gives it.
fn unknown_key(key: &TouchKey, ctx: &CheckContext) -> Option<(Severity, String)> {
    let what = key.as_str().split_once(':').map_or("", |(_, what)| what);
    let (section, field) = match key.kind() {
        "qr" => ("[[qr]]", "scene"),
        "channel" => ("[[channel]]", "scene"),
        "click" => ("[[click]]", "key"),
        "view" => ("[[view]]", "url"),
        "keyword" => ("[[keyword]]", "text"),
        "link" => ("[[link]]", "id"),
        "form" if ctx.given.contains(key.as_str()) => return None,
        "form" => {
            let message = format!(
                "touch key `{key}` counts nothing until a [[form]] with id \"{what}\" is written"
            );
            return Some((Severity::Warning, message));
        }
        _ => return None,
    };
    if ctx.given.contains(key.as_str()) {
        return None;
    }
    let message = format!(
        "unknown touch key `{key}`: no {section} has {field} = \"{what}\"; check the spelling \
         against the rules"
    );
    Some((Severity::Error, message))
}

/// Why the condition at `path` can never hold, if it cannot: an `all` that asks for a thing
/// and its opposite, bounds that no value meets, an `any` whose every branch can never hold.
pub(super) fn contradiction(node: &Node, path: &str) -> Option<ConditionError> {
    let never = |at: String, message: String| {
        Some(ConditionError {
            path: at,
            message: format!("can never hold: {message}"),
        })
    };
    match node {
        Node::All(children) => {
            let at = join(path, "all");
            for (i, child) in children.iter().enumerate() {
                if let Some(e) = contradiction(child, &index(&at, i)) {
                    return Some(e);
                }
            }
            let mut facts = Literals::default();
            children.iter().for_each(|c| facts.gather(c, true));
            facts.conflict().and_then(|m| never(at, m))
        }
        Node::Any(children) => {
            let at = join(path, "any");
            let each: Vec<ConditionError> = children
                .iter()
                .enumerate()
                .map(|(i, child)| contradiction(child, &index(&at, i)))
                .collect::<Option<_>>()?;
            let first = each.into_iter().next()?;
            let message = format!("no alternative can hold (the first: {first})");
            never(at, message)
        }
        Node::Score(b) => match (b.at_least, b.at_most) {
            (Some(min), Some(max)) if min > max => never(
                join(path, "score"),
                format!("at_least {min} is above at_most {max}"),
            ),
            _ => None,
        },
        Node::Count(w) | Node::Event { window: w, .. } => {
            if let Some(max) = w.at_most.filter(|&max| w.at_least > max) {
                let message = format!("at_least {} is above at_most {max}", w.at_least);
                return never(join(path, "at_least"), message);
            }
            let Node::Event { filter, .. } = node else {
                return None;
            };
            let mut least: BTreeMap<&str, f64> = BTreeMap::new();
            let mut most: BTreeMap<&str, f64> = BTreeMap::new();
            for test in filter {
                match test.op {
                    PropOp::AtLeast(n) => least.insert(&test.prop, n),
                    PropOp::AtMost(n) => most.insert(&test.prop, n),
                    _ => None,
                };
            }
            least.iter().find_map(|(prop, &min)| {
                let max = most.get(prop).copied().filter(|&max| min > max)?;
                let message = format!("{prop} at_least {min} is above at_most {max}");
                never(join(&join(path, "where"), prop), message)
            })
        }
        _ => None,
    }
}

/// What an `all` asks of the lead, leaf by leaf (its `none`s negated), to find opposites.
#[derive(Debug, Default)]
struct Literals<'n> {
    tags: BTreeMap<&'n TagName, BTreeSet<bool>>,
    /// `subscribed = <key>` asked for (true) or against (false). Not following is not the
    /// same as unfollowed: a lead first seen outside the chat is neither.
    subscribed: BTreeMap<bool, BTreeSet<bool>>,
    first_channel: BTreeMap<&'n Scene, BTreeSet<bool>>,
    fields: BTreeMap<&'n str, BTreeSet<bool>>,
    /// The shortest `last_seen_within_days` asked for.
    seen_within: Option<u32>,
    /// The longest `inactive_days` asked for.
    quiet_for: Option<u32>,
}

impl<'n> Literals<'n> {
    /// Adds what `node` asks (`positive`) or, negated, what its absence asks: only the
    /// parts that are a plain "and" of leaves.
    fn gather(&mut self, node: &'n Node, positive: bool) {
        match (node, positive) {
            (Node::All(children), true) | (Node::Any(children), false) => {
                children.iter().for_each(|c| self.gather(c, positive));
            }
            (Node::None(children), true) => children.iter().for_each(|c| self.gather(c, false)),
            (Node::All(children) | Node::Any(children), _) if children.len() == 1 => {
                self.gather(&children[0], positive);
            }
            (Node::None(children), false) if children.len() == 1 => {
                self.gather(&children[0], true);
            }
            (Node::Tag(tag), _) => {
                self.tags.entry(tag).or_default().insert(positive);
            }
            (Node::Subscribed(want), _) => {
                self.subscribed.entry(*want).or_default().insert(positive);
            }
            (Node::FirstChannel(scene), _) => {
                self.first_channel
                    .entry(scene)
                    .or_default()
                    .insert(positive);
            }
            (Node::Field { name, exists }, _) => {
                self.fields
                    .entry(name)
                    .or_default()
                    .insert(*exists == positive);
            }
            (Node::LastSeenWithin(days), true) | (Node::Inactive(days), false) => {
                self.seen_within = Some(self.seen_within.map_or(*days, |d| d.min(*days)));
            }
            (Node::Inactive(days), true) | (Node::LastSeenWithin(days), false) => {
                self.quiet_for = Some(self.quiet_for.map_or(*days, |d| d.max(*days)));
            }
            _ => {}
        }
    }

    /// The first pair of opposites, in words.
    fn conflict(&self) -> Option<String> {
        if let Some((tag, _)) = self.tags.iter().find(|(_, ways)| ways.len() == 2) {
            return Some(format!("it asks for the tag {tag} and for its absence"));
        }
        let asked = |want: bool| self.subscribed.get(&want).map(|ways| ways.contains(&true));
        if asked(true) == Some(true) && asked(false) == Some(true) {
            return Some("it asks for subscribed = true and subscribed = false".to_owned());
        }
        if let Some((want, _)) = self.subscribed.iter().find(|(_, ways)| ways.len() == 2) {
            return Some(format!(
                "it asks for subscribed = {want} and for its absence"
            ));
        }
        let firsts: Vec<&&Scene> = self
            .first_channel
            .iter()
            .filter(|(_, ways)| ways.contains(&true))
            .map(|(scene, _)| scene)
            .collect();
        if let [a, b, ..] = firsts.as_slice() {
            return Some(format!("it asks for two first channels, {a} and {b}"));
        }
        if let Some((scene, _)) = self.first_channel.iter().find(|(_, w)| w.len() == 2) {
            return Some(format!("it asks for first channel {scene} and for another"));
        }
        if let Some((name, _)) = self.fields.iter().find(|(_, ways)| ways.len() == 2) {
            return Some(format!("it asks for {name} to be set and not set"));
        }
        match (self.seen_within, self.quiet_for) {
            (Some(seen), Some(quiet)) if seen <= quiet => Some(format!(
                "it asks for a touch within {seen} days and for none for {quiet} days"
            )),
            _ => None,
        }
    }
}
