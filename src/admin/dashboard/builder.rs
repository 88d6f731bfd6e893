//! The segment builder's model: a condition as a tree of groups (all / any / none) and leaves
//! that plain form controls edit, with no JavaScript.
//!
//! Every node has a path (`r` for the root group, `r-1-0` for the first child of its second
//! child), and its controls are named after it: `k.<path>` its kind, `v.<path>` its value,
//! `d.<path>` its days, `l.<path>` and `m.<path>` its lower and upper bounds. A button
//! named `act` says what the post does: `add:<path>` adds a condition to a group,
//! `group:<path>` a group, `del:<path>` removes a node; `preview`, `save` and `json` (use the
//! JSON text instead) act on the whole. The page posts the whole tree back each time and gets
//! it back changed, with the preview count.
//!
//! The tree becomes the condition's JSON ([`Draft::to_json`]) for the one parser to check, so
//! the builder and the API accept exactly the same conditions; a parse error's path
//! (`all[1].any[0].within_days`) leads back to the row it is about ([`row_of`]). A condition
//! the builder cannot show (an `event` leaf, `exists = false`) is edited as JSON.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::words::Words;

/// The deepest a builder's groups nest (the root is depth 1).
pub const MAX_DEPTH: usize = 5;

/// The most nodes a builder's tree holds: a post with more is cut there.
pub const MAX_NODES: usize = 120;

/// A group's kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupKind {
    /// Every child holds.
    All,
    /// At least one child holds.
    Any,
    /// No child holds.
    None,
}

impl GroupKind {
    /// Every kind, in the order the select lists them.
    pub const EVERY: [GroupKind; 3] = [GroupKind::All, GroupKind::Any, GroupKind::None];

    /// The condition language's key.
    pub fn key(self) -> &'static str {
        match self {
            GroupKind::All => "all",
            GroupKind::Any => "any",
            GroupKind::None => "none",
        }
    }

    fn parse(key: &str) -> Option<Self> {
        Self::EVERY.into_iter().find(|k| k.key() == key)
    }

    /// The kind in words.
    pub fn label(self, t: &'static Words) -> &'static str {
        match self {
            GroupKind::All => t.group_all,
            GroupKind::Any => t.group_any,
            GroupKind::None => t.group_none,
        }
    }
}

/// A leaf's kind: one of the condition language's leaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeafKind {
    /// `{ tag }`.
    Tag,
    /// `{ tag_prefix }`.
    TagPrefix,
    /// `{ channel }`.
    Channel,
    /// `{ first_channel }`.
    FirstChannel,
    /// `{ subscribed }`.
    Subscribed,
    /// `{ first_seen_within_days }`.
    FirstSeen,
    /// `{ last_seen_within_days }`.
    LastSeen,
    /// `{ inactive_days }`.
    Inactive,
    /// `{ score = { at_least, at_most } }`.
    Score,
    /// `{ field, exists = true }`.
    Field,
    /// `{ count, at_least, at_most, within_days }`.
    Count,
}

/// Which of a leaf's controls its kind uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Inputs {
    /// The text (a tag, prefix, scene, field name, or touch keys).
    pub value: bool,
    /// The window in days.
    pub days: bool,
    /// The lower and upper bounds.
    pub bounds: bool,
}

impl LeafKind {
    /// Every kind, in the order the select lists them.
    pub const EVERY: [LeafKind; 11] = [
        LeafKind::Tag,
        LeafKind::TagPrefix,
        LeafKind::Channel,
        LeafKind::FirstChannel,
        LeafKind::LastSeen,
        LeafKind::Inactive,
        LeafKind::FirstSeen,
        LeafKind::Count,
        LeafKind::Score,
        LeafKind::Subscribed,
        LeafKind::Field,
    ];

    /// The condition language's key (`score` and `count` name their tables).
    pub fn key(self) -> &'static str {
        match self {
            LeafKind::Tag => "tag",
            LeafKind::TagPrefix => "tag_prefix",
            LeafKind::Channel => "channel",
            LeafKind::FirstChannel => "first_channel",
            LeafKind::Subscribed => "subscribed",
            LeafKind::FirstSeen => "first_seen_within_days",
            LeafKind::LastSeen => "last_seen_within_days",
            LeafKind::Inactive => "inactive_days",
            LeafKind::Score => "score",
            LeafKind::Field => "field",
            LeafKind::Count => "count",
        }
    }

    fn parse(key: &str) -> Option<Self> {
        Self::EVERY.into_iter().find(|k| k.key() == key)
    }

    /// The kind in words.
    pub fn label(self, t: &'static Words) -> &'static str {
        match self {
            LeafKind::Tag => t.leaf_tag,
            LeafKind::TagPrefix => t.leaf_tag_prefix,
            LeafKind::Channel => t.leaf_channel,
            LeafKind::FirstChannel => t.leaf_first_channel,
            LeafKind::Subscribed => t.leaf_subscribed,
            LeafKind::FirstSeen => t.leaf_first_seen,
            LeafKind::LastSeen => t.leaf_last_seen,
            LeafKind::Inactive => t.leaf_inactive,
            LeafKind::Score => t.leaf_score,
            LeafKind::Field => t.leaf_field,
            LeafKind::Count => t.leaf_count,
        }
    }

    /// An example value for the text control.
    pub fn hint(self, t: &'static Words) -> &'static str {
        match self {
            LeafKind::Tag => t.hint_tag,
            LeafKind::TagPrefix => t.hint_prefix,
            LeafKind::Channel | LeafKind::FirstChannel => "expo-2026",
            LeafKind::Field => "company",
            LeafKind::Count => "click:MENU_PLC, keyword:PLC",
            LeafKind::Subscribed
            | LeafKind::FirstSeen
            | LeafKind::LastSeen
            | LeafKind::Inactive
            | LeafKind::Score => "",
        }
    }

    /// The id of the page's list of known values for the text control (`""` for none).
    pub fn datalist(self) -> &'static str {
        match self {
            LeafKind::Tag | LeafKind::TagPrefix => "known-tags",
            LeafKind::Channel | LeafKind::FirstChannel => "known-channels",
            _ => "",
        }
    }

    /// The controls this kind uses.
    pub fn inputs(self) -> Inputs {
        let (value, days, bounds) = match self {
            LeafKind::Tag
            | LeafKind::TagPrefix
            | LeafKind::Channel
            | LeafKind::FirstChannel
            | LeafKind::Subscribed
            | LeafKind::Field => (true, false, false),
            LeafKind::FirstSeen | LeafKind::LastSeen | LeafKind::Inactive => (false, true, false),
            LeafKind::Score => (false, false, true),
            LeafKind::Count => (true, true, true),
        };
        Inputs {
            value,
            days,
            bounds,
        }
    }
}

/// A leaf as its controls hold it: text, checked only when it becomes JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leaf {
    /// What it tests.
    pub kind: LeafKind,
    /// The text control.
    pub value: String,
    /// The days control.
    pub days: String,
    /// The lower bound.
    pub least: String,
    /// The upper bound.
    pub most: String,
}

impl Leaf {
    /// A blank leaf of `kind`.
    pub fn blank(kind: LeafKind) -> Self {
        Self {
            kind,
            value: String::new(),
            days: String::new(),
            least: String::new(),
            most: String::new(),
        }
    }
}

/// A node of the builder's tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Draft {
    /// A group of conditions.
    Group(GroupKind, Vec<Draft>),
    /// One condition.
    Leaf(Leaf),
}

impl Leaf {
    /// The condition in words, as the segment's page lists it: `有互动 最近 30 天`.
    pub fn summary(&self, t: &'static Words) -> String {
        let mut out = self.kind.label(t).to_owned();
        let inputs = self.kind.inputs();
        if self.kind == LeafKind::Subscribed {
            let state = if self.value == "no" {
                t.unsubscribed
            } else {
                t.subscribed
            };
            out.push_str(&format!(" {state}"));
        } else if inputs.value {
            out.push_str(&format!(" {}", self.value));
        }
        if inputs.bounds {
            for (sign, bound) in [("≥", &self.least), ("≤", &self.most)] {
                if !bound.is_empty() {
                    out.push_str(&format!(" {sign} {bound}"));
                }
            }
        }
        if inputs.days {
            out.push_str(&format!(" {} {} {}", t.within, self.days, t.days));
        }
        out
    }
}

/// What a builder post asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Count the condition as it stands.
    Preview,
    /// Save it under the name given.
    Save,
    /// Replace the tree by the JSON text.
    UseJson,
    /// Add a blank condition to the group at the path.
    Add(String),
    /// Add a group (of one blank condition) to the group at the path.
    AddGroup(String),
    /// Remove the node at the path.
    Remove(String),
}

impl Action {
    /// Reads the `act` button's value; anything else (Enter in a text box) previews.
    pub fn parse(raw: &str) -> Self {
        let path = |p: &str| p.to_owned();
        match raw.split_once(':') {
            Some(("add", p)) => Action::Add(path(p)),
            Some(("group", p)) => Action::AddGroup(path(p)),
            Some(("del", p)) => Action::Remove(path(p)),
            _ => match raw {
                "save" => Action::Save,
                "json" => Action::UseJson,
                _ => Action::Preview,
            },
        }
    }
}

/// The root's path.
pub const ROOT: &str = "r";

/// One node's controls as posted.
#[derive(Debug, Default)]
struct Posted<'a> {
    kind: &'a str,
    value: &'a str,
    days: &'a str,
    least: &'a str,
    most: &'a str,
}

impl Draft {
    /// A new builder's tree: every one of one blank tag condition.
    pub fn new() -> Self {
        Draft::Group(
            GroupKind::All,
            vec![Draft::Leaf(Leaf::blank(LeafKind::Tag))],
        )
    }

    /// The tree the builder's controls describe; controls of no node (or past
    /// [`MAX_NODES`] or [`MAX_DEPTH`]) are ignored, and a root that is missing is a new tree.
    pub fn from_form(pairs: &[(String, String)]) -> Self {
        let mut nodes: BTreeMap<&str, Posted> = BTreeMap::new();
        for (name, value) in pairs {
            let Some((control, path)) = name.split_once('.') else {
                continue;
            };
            if !valid_path(path) {
                continue;
            }
            if nodes.len() >= MAX_NODES && !nodes.contains_key(path) {
                continue;
            }
            let node = nodes.entry(path).or_default();
            let value = value.as_str();
            match control {
                "k" => node.kind = value,
                "v" => node.value = value,
                "d" => node.days = value,
                "l" => node.least = value,
                "m" => node.most = value,
                _ => {}
            }
        }
        build(&nodes, ROOT, 1).unwrap_or_else(Draft::new)
    }

    /// The tree of a condition's JSON, or `None` when the builder cannot show it (a root that
    /// is a leaf becomes a group of one).
    pub fn from_json(when: &Value) -> Option<Self> {
        let draft = node_of(when, 1)?;
        Some(match draft {
            Draft::Group(..) => draft,
            leaf @ Draft::Leaf(_) => Draft::Group(GroupKind::All, vec![leaf]),
        })
    }

    /// The condition's JSON, for the parser: numbers that do not read stay text, so the
    /// parser names them.
    pub fn to_json(&self) -> Value {
        match self {
            Draft::Group(kind, children) => {
                json!({ kind.key(): children.iter().map(Draft::to_json).collect::<Vec<_>>() })
            }
            Draft::Leaf(leaf) => leaf_json(leaf),
        }
    }

    /// Applies a structural action; `false` when it named no node it can change (the tree
    /// is then unchanged).
    pub fn apply(&mut self, action: &Action) -> bool {
        match action {
            Action::Add(path) | Action::AddGroup(path) => {
                let depth = path.split('-').count();
                let full = self.nodes() >= MAX_NODES;
                let Some(Draft::Group(_, children)) = self.at_mut(path) else {
                    return false;
                };
                let leaf = Draft::Leaf(Leaf::blank(LeafKind::Tag));
                let node = match action {
                    Action::AddGroup(_) if depth < MAX_DEPTH => {
                        Draft::Group(GroupKind::Any, vec![leaf])
                    }
                    Action::AddGroup(_) => return false,
                    _ => leaf,
                };
                if full {
                    return false;
                }
                children.push(node);
                true
            }
            Action::Remove(path) => {
                let Some((parent, index)) = path.rsplit_once('-') else {
                    return false;
                };
                let Ok(index) = index.parse::<usize>() else {
                    return false;
                };
                match self.at_mut(parent) {
                    Some(Draft::Group(_, children)) if index < children.len() => {
                        children.remove(index);
                        true
                    }
                    _ => false,
                }
            }
            Action::Preview | Action::Save | Action::UseJson => false,
        }
    }

    /// How many nodes the tree has.
    fn nodes(&self) -> usize {
        match self {
            Draft::Group(_, children) => 1 + children.iter().map(Draft::nodes).sum::<usize>(),
            Draft::Leaf(_) => 1,
        }
    }

    fn at_mut(&mut self, path: &str) -> Option<&mut Draft> {
        let mut steps = path.split('-');
        if steps.next() != Some(ROOT) {
            return None;
        }
        let mut node = self;
        for step in steps {
            let index: usize = step.parse().ok()?;
            node = match node {
                Draft::Group(_, children) => children.get_mut(index)?,
                Draft::Leaf(_) => return None,
            };
        }
        Some(node)
    }

    /// The tree as rows for the page, in order: a group opens, its children follow, and it
    /// closes (where its add buttons are).
    pub fn rows(&self) -> Vec<Row> {
        let mut rows = Vec::new();
        self.push_rows(ROOT.to_owned(), 1, &mut rows);
        rows
    }

    fn push_rows(&self, path: String, depth: usize, rows: &mut Vec<Row>) {
        match self {
            Draft::Group(kind, children) => {
                rows.push(Row::Open {
                    path: path.clone(),
                    kind: *kind,
                    removable: depth > 1,
                });
                for (i, child) in children.iter().enumerate() {
                    child.push_rows(format!("{path}-{i}"), depth + 1, rows);
                }
                rows.push(Row::Close {
                    path,
                    nestable: depth < MAX_DEPTH,
                });
            }
            Draft::Leaf(leaf) => rows.push(Row::Leaf {
                path,
                leaf: leaf.clone(),
            }),
        }
    }
}

/// A builder post, read: what it asks for, the name typed, the tree (`None` when the
/// condition is edited as JSON and the builder cannot show it), and the condition's JSON.
#[derive(Debug, Clone, PartialEq)]
pub struct Post {
    /// The button pressed.
    pub action: Action,
    /// The segment's name, trimmed.
    pub name: String,
    /// The tree after the action.
    pub draft: Option<Draft>,
    /// The condition, or why the JSON box does not read as JSON.
    pub when: Result<Value, String>,
    /// The JSON box's text to show again: the condition pretty-printed, or what was typed.
    pub json: String,
}

impl Post {
    /// Reads a post: the JSON box speaks when its button was pressed or the page is in JSON
    /// mode (`mode=json`), else the controls do, and the action is applied to their tree.
    pub fn read(pairs: &[(String, String)]) -> Self {
        let field = |name: &str| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map_or("", |(_, v)| v.as_str())
        };
        let action = Action::parse(field("act"));
        let typed = field("json");
        let (draft, when) = if action == Action::UseJson || field("mode") == "json" {
            match serde_json::from_str::<Value>(typed) {
                Ok(when) => (Draft::from_json(&when), Ok(when)),
                Err(e) => (None, Err(e.to_string())),
            }
        } else {
            let mut draft = Draft::from_form(pairs);
            draft.apply(&action);
            let when = draft.to_json();
            (Some(draft), Ok(when))
        };
        let json = match &when {
            Ok(when) => serde_json::to_string_pretty(when).unwrap_or_default(),
            Err(_) => typed.to_owned(),
        };
        Self {
            name: field("name").trim().to_owned(),
            action,
            draft,
            when,
            json,
        }
    }

    /// True when the post asks for a count (preview, save, or taking the JSON box), not
    /// only a change of the tree.
    pub fn counts(&self) -> bool {
        matches!(
            self.action,
            Action::Preview | Action::Save | Action::UseJson
        )
    }
}

/// One row of the builder as the page draws it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Row {
    /// A group starts: its kind control, and a remove button unless it is the root.
    Open {
        /// The group's path.
        path: String,
        /// Its kind.
        kind: GroupKind,
        /// False for the root.
        removable: bool,
    },
    /// A condition's controls.
    Leaf {
        /// The condition's path.
        path: String,
        /// Its controls' values.
        leaf: Leaf,
    },
    /// A group ends: its add buttons.
    Close {
        /// The group's path.
        path: String,
        /// False when a group added here would nest deeper than [`MAX_DEPTH`].
        nestable: bool,
    },
}

/// The row a parse error's path is about: `all[1].any[0].within_days` → `r-1-0`.
pub fn row_of(error_path: &str) -> String {
    let mut row = ROOT.to_owned();
    for step in error_path.split('.') {
        let Some(index) = step
            .strip_suffix(']')
            .and_then(|s| s.split_once('['))
            .and_then(|(_, i)| i.parse::<usize>().ok())
        else {
            break;
        };
        row.push_str(&format!("-{index}"));
    }
    row
}

/// `r` followed by `-<index>` steps, no deeper than [`MAX_DEPTH`] groups hold leaves.
fn valid_path(path: &str) -> bool {
    let mut steps = path.split('-');
    steps.next() == Some(ROOT)
        && path.split('-').count() <= MAX_DEPTH + 1
        && steps.all(|s| !s.is_empty() && s.len() <= 3 && s.bytes().all(|b| b.is_ascii_digit()))
}

/// The node at `path` from the posted controls, children in index order.
fn build(nodes: &BTreeMap<&str, Posted>, path: &str, depth: usize) -> Option<Draft> {
    let posted = nodes.get(path)?;
    if let Some(kind) = GroupKind::parse(posted.kind) {
        let prefix = format!("{path}-");
        let mut children: Vec<(usize, &str)> = nodes
            .keys()
            .filter_map(|p| {
                let rest = p.strip_prefix(&prefix)?;
                let index = rest.parse::<usize>().ok()?;
                Some((index, *p))
            })
            .collect();
        children.sort_unstable();
        let children = if depth < MAX_DEPTH + 1 {
            children
                .into_iter()
                .filter_map(|(_, p)| build(nodes, p, depth + 1))
                .collect()
        } else {
            Vec::new()
        };
        return Some(Draft::Group(kind, children));
    }
    let kind = LeafKind::parse(posted.kind).unwrap_or(LeafKind::Tag);
    Some(Draft::Leaf(Leaf {
        kind,
        value: posted.value.trim().to_owned(),
        days: posted.days.trim().to_owned(),
        least: posted.least.trim().to_owned(),
        most: posted.most.trim().to_owned(),
    }))
}

/// A number as JSON when it reads as one, else the text itself (the parser then says what
/// is wrong with it, at its path).
fn number(raw: &str) -> Value {
    if let Ok(n) = raw.parse::<u64>() {
        return json!(n);
    }
    match raw.parse::<f64>() {
        Ok(x) if x.is_finite() => json!(x),
        _ => json!(raw),
    }
}

fn leaf_json(leaf: &Leaf) -> Value {
    let mut out = Map::new();
    let key = leaf.kind.key().to_owned();
    let bounds = |out: &mut Map<String, Value>| {
        for (name, raw) in [("at_least", &leaf.least), ("at_most", &leaf.most)] {
            if !raw.is_empty() {
                out.insert(name.to_owned(), number(raw));
            }
        }
    };
    match leaf.kind {
        LeafKind::Tag
        | LeafKind::TagPrefix
        | LeafKind::Channel
        | LeafKind::FirstChannel
        | LeafKind::Field => {
            out.insert(key, json!(leaf.value));
        }
        LeafKind::Subscribed => {
            out.insert(key, json!(leaf.value != "no"));
        }
        LeafKind::FirstSeen | LeafKind::LastSeen | LeafKind::Inactive => {
            out.insert(key, number(&leaf.days));
        }
        LeafKind::Score => {
            let mut table = Map::new();
            bounds(&mut table);
            out.insert(key, Value::Object(table));
        }
        LeafKind::Count => {
            let keys: Vec<&str> = leaf
                .value
                .split([',', '，', '、', ' '])
                .map(str::trim)
                .filter(|k| !k.is_empty())
                .collect();
            out.insert(key, json!(keys));
            bounds(&mut out);
            out.insert("within_days".to_owned(), number(&leaf.days));
        }
    }
    Value::Object(out)
}

/// Text of a JSON scalar the builder shows in a control.
fn text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn node_of(value: &Value, depth: usize) -> Option<Draft> {
    if let Value::String(tag) = value {
        return Some(Draft::Leaf(Leaf {
            value: tag.clone(),
            ..Leaf::blank(LeafKind::Tag)
        }));
    }
    let table = value.as_object()?;
    if table.len() == 1
        && let Some((key, children)) = table.iter().next()
        && let Some(kind) = GroupKind::parse(key)
    {
        if depth > MAX_DEPTH {
            return None;
        }
        let children = children
            .as_array()?
            .iter()
            .map(|c| node_of(c, depth + 1))
            .collect::<Option<Vec<_>>>()?;
        return Some(Draft::Group(kind, children));
    }
    let (kind, head) = LeafKind::EVERY
        .into_iter()
        .find_map(|kind| Some((kind, table.get(kind.key())?)))?;
    let allowed: &[&str] = match kind {
        LeafKind::Count => &["count", "at_least", "at_most", "within_days"],
        LeafKind::Field => &["field", "exists"],
        _ => &[kind.key()],
    };
    if table.keys().any(|k| !allowed.contains(&k.as_str())) {
        return None;
    }
    let mut leaf = Leaf::blank(kind);
    let get = |name: &str| table.get(name).and_then(text).unwrap_or_default();
    match kind {
        LeafKind::Tag
        | LeafKind::TagPrefix
        | LeafKind::Channel
        | LeafKind::FirstChannel
        | LeafKind::Field => {
            if kind == LeafKind::Field && table.get("exists").is_some_and(|e| e != &json!(true)) {
                return None;
            }
            leaf.value = text(head)?;
        }
        LeafKind::Subscribed => {
            leaf.value = if head.as_bool()? { "yes" } else { "no" }.to_owned();
        }
        LeafKind::FirstSeen | LeafKind::LastSeen | LeafKind::Inactive => {
            leaf.days = text(head)?;
        }
        LeafKind::Score => {
            let bounds = head.as_object()?;
            if bounds.keys().any(|k| k != "at_least" && k != "at_most") {
                return None;
            }
            let bound = |name: &str| bounds.get(name).and_then(text).unwrap_or_default();
            leaf.least = bound("at_least");
            leaf.most = bound("at_most");
        }
        LeafKind::Count => {
            leaf.value = match head {
                Value::Array(keys) => keys
                    .iter()
                    .map(|k| k.as_str().map(str::to_owned))
                    .collect::<Option<Vec<_>>>()?
                    .join(", "),
                other => text(other)?,
            };
            leaf.least = get("at_least");
            leaf.most = get("at_most");
            leaf.days = get("within_days");
        }
    }
    Some(Draft::Leaf(leaf))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn posted(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    /// The marketer's segment of the issue, as the builder posts it.
    fn marketers() -> Vec<(String, String)> {
        posted(&[
            ("k.r", "all"),
            ("k.r-0", "any"),
            ("k.r-0-0", "channel"),
            ("v.r-0-0", "expo-2026"),
            ("k.r-0-1", "channel"),
            ("v.r-0-1", "website"),
            ("k.r-1", "tag"),
            ("v.r-1", " 兴趣:PLC "),
            ("k.r-2", "none"),
            ("k.r-2-0", "tag"),
            ("v.r-2-0", "客户"),
            ("k.r-3", "last_seen_within_days"),
            ("d.r-3", "30"),
            ("act", "preview"),
        ])
    }

    #[test]
    fn the_posted_tree_becomes_the_condition_the_api_takes() {
        let draft = Draft::from_form(&marketers());
        let when = draft.to_json();
        assert_eq!(
            when,
            json!({"all": [
                {"any": [{"channel": "expo-2026"}, {"channel": "website"}]},
                {"tag": "兴趣:PLC"},
                {"none": [{"tag": "客户"}]},
                {"last_seen_within_days": 30},
            ]})
        );
        assert!(crate::rules::condition::Condition::from_json(&when).is_ok());
        assert_eq!(Draft::from_json(&when), Some(draft), "and back");
    }

    #[test]
    fn children_keep_their_index_order_not_the_posts_order() {
        let draft = Draft::from_form(&posted(&[
            ("k.r", "any"),
            ("k.r-10", "tag"),
            ("v.r-10", "b"),
            ("k.r-2", "tag"),
            ("v.r-2", "a"),
        ]));
        assert_eq!(
            draft.to_json(),
            json!({"any": [{"tag": "a"}, {"tag": "b"}]})
        );
    }

    #[test]
    fn buttons_add_and_remove_nodes_within_the_limits() {
        let mut draft = Draft::from_form(&marketers());
        assert!(draft.apply(&Action::parse("add:r-0")));
        assert!(draft.apply(&Action::parse("group:r")));
        assert!(draft.apply(&Action::parse("del:r-1")));
        assert!(!draft.apply(&Action::parse("del:r")), "the root stays");
        assert!(!draft.apply(&Action::parse("add:r-9")), "no such group");
        let when = draft.to_json();
        assert_eq!(when["all"][0]["any"].as_array().map(Vec::len), Some(3));
        assert_eq!(when["all"][0]["any"][2], json!({"tag": ""}));
        assert_eq!(when["all"].as_array().map(Vec::len), Some(4));
        assert_eq!(when["all"][3], json!({"any": [{"tag": ""}]}));

        let mut deep = Draft::new();
        let mut path = ROOT.to_owned();
        while deep.apply(&Action::AddGroup(path.clone())) {
            path.push_str("-1");
        }
        assert_eq!(
            path.split('-').count(),
            MAX_DEPTH,
            "groups nest {MAX_DEPTH} deep"
        );
        let mut wide = Draft::new();
        while wide.apply(&Action::Add(ROOT.to_owned())) {}
        assert_eq!(wide.nodes(), MAX_NODES);
    }

    #[test]
    fn a_parse_error_leads_to_its_row() {
        let draft = Draft::from_form(&posted(&[
            ("k.r", "all"),
            ("k.r-0", "any"),
            ("k.r-0-0", "last_seen_within_days"),
            ("d.r-0-0", "thirty"),
        ]));
        let error = crate::rules::condition::Condition::from_json(&draft.to_json()).unwrap_err();
        assert_eq!(row_of(&error.path), "r-0-0", "{error}");
        assert_eq!(row_of(""), ROOT);
    }

    #[test]
    fn counts_scores_and_flags_round_trip_and_what_the_builder_cannot_show_is_none() {
        let when = json!({"any": [
            {"count": ["click:MENU_PLC", "keyword:PLC"], "at_least": 3, "within_days": 30},
            {"score": {"at_least": 60}},
            {"subscribed": false},
            {"field": "company", "exists": true},
            "vip",
        ]});
        let draft = Draft::from_json(&when).unwrap();
        let back = draft.to_json();
        assert_eq!(back["any"][0], when["any"][0]);
        assert_eq!(back["any"][1], when["any"][1]);
        assert_eq!(back["any"][2], when["any"][2]);
        assert_eq!(back["any"][3], json!({"field": "company"}));
        assert_eq!(back["any"][4], json!({"tag": "vip"}));
        assert_eq!(
            Draft::from_json(&json!({"tag": "vip"})).map(|d| d.to_json()),
            Some(json!({"all": [{"tag": "vip"}]}))
        );
        for hidden in [
            json!({"event": "order", "within_days": 90}),
            json!({"field": "company", "exists": false}),
            json!({"tag": "a", "extra": 1}),
        ] {
            assert_eq!(Draft::from_json(&hidden), None, "{hidden}");
        }
    }

    #[test]
    fn a_condition_reads_in_words() {
        let t = &crate::admin::dashboard::words::ZH;
        let leaf = |kind, value: &str, days: &str, least: &str| Leaf {
            kind,
            value: value.to_owned(),
            days: days.to_owned(),
            least: least.to_owned(),
            most: String::new(),
        };
        assert_eq!(
            leaf(LeafKind::LastSeen, "", "30", "").summary(t),
            "有互动 最近 30 天"
        );
        assert_eq!(
            leaf(LeafKind::Count, "keyword:PLC", "30", "3").summary(t),
            "互动次数 keyword:PLC ≥ 3 最近 30 天"
        );
        assert_eq!(
            leaf(LeafKind::Subscribed, "no", "", "").summary(t),
            "关注状态 已取关"
        );
    }

    #[test]
    fn a_post_applies_its_button_or_reads_the_json_box() {
        let mut pairs = marketers();
        pairs.push(("name".to_owned(), " 展会 PLC ".to_owned()));
        pairs.retain(|(k, _)| k != "act");
        pairs.push(("act".to_owned(), "add:r-0".to_owned()));
        let post = Post::read(&pairs);
        assert_eq!(post.name, "展会 PLC");
        assert!(!post.counts());
        let when = post.when.unwrap();
        assert_eq!(when["all"][0]["any"].as_array().map(Vec::len), Some(3));
        let json = |text: &str, act: &str| {
            Post::read(&posted(&[("json", text), ("act", act), ("k.r", "any")]))
        };
        let typed = json(r#"{"event": "order", "within_days": 90}"#, "json");
        assert!(
            typed.counts() && typed.draft.is_none(),
            "edited as JSON only"
        );
        assert_eq!(typed.when.unwrap()["event"], "order");
        assert!(json("{not json", "json").when.is_err());
        let shown = json(r#"{"tag": "vip"}"#, "json");
        assert_eq!(
            shown.draft.map(|d| d.to_json()),
            Some(json!({"all": [{"tag": "vip"}]}))
        );
        assert!(
            json("{not json", "preview").when.is_ok(),
            "the box speaks only when asked"
        );
    }

    #[test]
    fn controls_of_no_node_and_bad_paths_are_ignored() {
        let draft = Draft::from_form(&posted(&[
            ("k.r", "all"),
            ("k.r-0", "tag"),
            ("v.r-0", "a"),
            ("k.x-1", "tag"),
            ("k.r--1", "tag"),
            ("k.r-1-1-1-1-1-1-1", "tag"),
            ("v.r-5", "orphan without a kind"),
        ]));
        assert_eq!(
            draft.to_json(),
            json!({"all": [{"tag": "a"}, {"tag": "orphan without a kind"}]})
        );
        assert_eq!(Draft::from_form(&[]), Draft::new());
    }
}
