//! Reading a `channels/` folder into [`Rules`], collecting every mistake on the way.
//!
//! Each file is parsed into toml's spanned document first, so a syntax error never hides the
//! other files' mistakes; then each section entry (one `[[qr]]`, one `[[keyword]]`, …) is
//! deserialised on its own, so one bad rule does not hide the next. Checks that span files
//! (duplicate scenes and click keys, the 100-tag limit) run as the rules arrive, in file-name
//! order, and point at the later occurrence.
//!
//! This module reads files and sections; each section's rules are checked in its own file
//! (`follow`, `qr`, `channel`, `click`, `view`, `keyword`, `link`, `form`, `event`, `notify`, `menu`, `automation`), the tags and replies they share in
//! `tags` and `replies`.

mod automation;
mod channel;
mod click;
mod event;
mod follow;
mod form;
mod keyword;
mod link;
mod menu;
mod notify;
mod qr;
mod replies;
mod tags;
mod view;

use std::collections::{HashMap, HashSet};
use std::fs;
use std::io;
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;
use toml::de::{DeTable, DeValue, ValueDeserializer};

use super::condition::Condition;
use super::derive::{DerivedBuilder, DerivedSection};
use super::diagnostics::{Diagnostic, LineIndex, Severity};
use super::file::{
    RawAutomation, RawChannel, RawClick, RawEvent, RawFollow, RawForm, RawKeyword, RawLink,
    RawMenu, RawQr, RawView,
};
use super::index::KeywordIndexBuilder;
use super::link::RefKind;
use super::matcher::{Answer, Rule};
use super::{CheckFailed, Loaded, RuleId, Rules, Source};
use crate::domain::{AutomationName, FormId, LinkId, NotifyName, Scene, TagName};
use crate::store::history::DEFAULT_HISTORY_DAYS;
use crate::wechat::limits::TAGS_PER_ACCOUNT;

/// The sections a file may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in crate::rules) enum Section {
    Follow,
    Qr,
    Channel,
    Click,
    View,
    Keyword,
    Link,
    Form,
    Event,
    Automation,
    /// `[[notify]]` (sales alert targets).
    Notify,
    /// `[menu]` and its `[[menu.for]]`.
    Menu,
    /// `[[rule]]`, `[score]`, `[[tiers]]`, … (read in `rules::derive`).
    Derived(DerivedSection),
}

impl Section {
    fn from_key(key: &str) -> Option<Self> {
        Some(match key {
            "follow" => Self::Follow,
            "qr" => Self::Qr,
            "channel" => Self::Channel,
            "click" => Self::Click,
            "view" => Self::View,
            "keyword" => Self::Keyword,
            "link" => Self::Link,
            "form" => Self::Form,
            "event" => Self::Event,
            "automation" => Self::Automation,
            "notify" => Self::Notify,
            "menu" => Self::Menu,
            other => return DerivedSection::from_key(other).map(Self::Derived),
        })
    }

    fn key(self) -> &'static str {
        match self {
            Self::Follow => "follow",
            Self::Qr => "qr",
            Self::Channel => "channel",
            Self::Click => "click",
            Self::View => "view",
            Self::Keyword => "keyword",
            Self::Link => "link",
            Self::Form => "form",
            Self::Event => "event",
            Self::Automation => "automation",
            Self::Notify => "notify",
            Self::Menu => "menu",
            Self::Derived(d) => d.key(),
        }
    }

    /// True for the sections written as one table (`[follow]`, `[score]`, `[lifecycle]`).
    fn single(self) -> bool {
        match self {
            Self::Follow | Self::Menu => true,
            Self::Derived(d) => d.single(),
            _ => false,
        }
    }

    /// How the section is written in a file: `[follow]`, `[[qr]]`, …
    fn header(self) -> String {
        match self {
            Self::Follow => "[follow]".to_owned(),
            Self::Menu => "[menu]".to_owned(),
            Self::Derived(d) if d.single() => format!("[{}]", d.key()),
            other => format!("[[{}]]", other.key()),
        }
    }
}

impl Rules {
    /// Loads every `*.toml` in `dir`, in file-name order (names starting with `.` are skipped,
    /// as editors leave such files behind). Fails with every error found, never just the first.
    /// Windows may look back over the default touch history.
    pub fn load(dir: &Path) -> Result<Loaded, CheckFailed> {
        Self::load_with(dir, DEFAULT_HISTORY_DAYS)
    }

    /// [`Rules::load`] for a touch history of `history_days` (`WXTAG_HISTORY_DAYS`): a
    /// window longer than it is an error.
    pub fn load_with(dir: &Path, history_days: u32) -> Result<Loaded, CheckFailed> {
        let mut b = Builder::new(dir, history_days);
        match toml_files(dir) {
            Ok(files) if files.is_empty() => b.diags.push(Diagnostic::warning(
                dir,
                0,
                "no *.toml files; nothing will be tagged or answered",
            )),
            Ok(files) => files.iter().for_each(|f| b.file(f)),
            Err(d) => b.diags.push(d),
        }
        b.finish()
    }
}

/// The folder's `*.toml` files, sorted by name.
fn toml_files(dir: &Path) -> Result<Vec<PathBuf>, Diagnostic> {
    let unreadable = |e: io::Error| {
        let message = match e.kind() {
            io::ErrorKind::NotFound => "folder not found; create it and put the channel files \
                 (*.toml) in it, or set WXTAG_CHANNELS to the folder that holds them"
                .to_owned(),
            io::ErrorKind::NotADirectory => {
                "is not a folder; set WXTAG_CHANNELS to the folder that holds the channel files"
                    .to_owned()
            }
            _ => format!("cannot read the folder: {e}"),
        };
        Diagnostic::error(dir, 0, message)
    };
    let mut files = Vec::new();
    for entry in fs::read_dir(dir).map_err(unreadable)? {
        let path = entry.map_err(unreadable)?.path();
        let visible = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| !n.starts_with('.'));
        if visible && path.extension().is_some_and(|e| e == "toml") && path.is_file() {
            files.push(path);
        }
    }
    files.sort_by(|a, b| a.file_name().cmp(&b.file_name()));
    Ok(files)
}

/// One file being read: its path and how to turn spans into lines.
pub(in crate::rules) struct FileCtx<'a> {
    pub(in crate::rules) path: &'a Path,
    lines: LineIndex,
}

impl FileCtx<'_> {
    pub(in crate::rules) fn line(&self, span: &Range<usize>) -> usize {
        self.lines.line_of(span)
    }

    /// `file:line`, for messages that point at an earlier occurrence.
    pub(in crate::rules) fn at(&self, span: &Range<usize>) -> String {
        format!("{}:{}", self.path.display(), self.line(span))
    }
}

/// The rules and diagnostics gathered so far.
pub(in crate::rules) struct Builder {
    dir: PathBuf,
    rules: Rules,
    keywords: KeywordIndexBuilder,
    diags: Vec<Diagnostic>,
    seen_tags: HashSet<TagName>,
    /// Where the first distinct tag past WeChat's limit appears.
    over_limit: Option<(PathBuf, usize, TagName)>,
    /// Scene → `file:line` of the `[[qr]]` that claimed it.
    scene_at: HashMap<Scene, String>,
    /// CLICK key → `file:line` of the `[[click]]` that claimed it.
    click_at: HashMap<String, String>,
    /// Link id → `file:line` of the `[[link]]` that claimed it.
    link_at: HashMap<LinkId, String>,
    /// Form id → `file:line` of the `[[form]]` that claimed it.
    form_at: HashMap<FormId, String>,
    /// Every link or form a reply names (`{link:ID}`, `url = "form:ID"`, …), with its
    /// `(file, line)`, checked once all links and forms are in.
    link_refs: Vec<((PathBuf, usize), RefKind, String)>,
    /// Automation name → `file:line` of the `[[automation]]` that claimed it.
    automation_at: HashMap<AutomationName, String>,
    /// What automations name that the whole folder must confirm, with `(file, line)`.
    automation_refs: Vec<((PathBuf, usize), automation::AutomationRef)>,
    /// Every condition read, with its `(file, line)`, checked once all rules are in.
    conditions: Vec<((PathBuf, usize), Condition)>,
    /// Days of touch history kept: no window may be longer.
    history_days: u32,
    /// The derived sections read so far.
    pub(in crate::rules) derived: DerivedBuilder,
    /// Notify name → `file:line` of the `[[notify]]` that claimed it.
    notify_at: HashMap<NotifyName, String>,
    /// Values `${NAME}` took from the environment → the name: secrets, never shown.
    secrets: HashMap<String, String>,
    /// The menus read so far, with what their checks across files need.
    menus: menu::MenuBuilder,
}

impl Builder {
    fn new(dir: &Path, history_days: u32) -> Self {
        Self {
            dir: dir.to_owned(),
            rules: Rules::default(),
            keywords: KeywordIndexBuilder::default(),
            diags: Vec::new(),
            seen_tags: HashSet::new(),
            over_limit: None,
            scene_at: HashMap::new(),
            click_at: HashMap::new(),
            link_at: HashMap::new(),
            form_at: HashMap::new(),
            link_refs: Vec::new(),
            automation_at: HashMap::new(),
            automation_refs: Vec::new(),
            conditions: Vec::new(),
            history_days,
            derived: DerivedBuilder::new(history_days),
            notify_at: HashMap::new(),
            secrets: HashMap::new(),
            menus: menu::MenuBuilder::default(),
        }
    }

    pub(in crate::rules) fn error(
        &mut self,
        ctx: &FileCtx,
        span: &Range<usize>,
        message: impl Into<String>,
    ) {
        let d = Diagnostic::error(ctx.path, ctx.line(span), message);
        self.diags.push(d);
    }

    pub(in crate::rules) fn warn(
        &mut self,
        ctx: &FileCtx,
        span: &Range<usize>,
        message: impl Into<String>,
    ) {
        let d = Diagnostic::warning(ctx.path, ctx.line(span), message);
        self.diags.push(d);
    }

    fn file(&mut self, path: &Path) {
        self.rules.files += 1;
        let text = match fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) => {
                let d = Diagnostic::error(path, 0, format!("cannot read the file: {e}"));
                self.diags.push(d);
                return;
            }
        };
        let ctx = FileCtx {
            path,
            lines: LineIndex::new(&text),
        };
        let (root, errors) = DeTable::parse_recoverable(&text);
        if !errors.is_empty() {
            for e in errors {
                let line = e.span().map_or(1, |s| ctx.line(&s));
                let message = format!("invalid TOML: {}", one_line(e.message()));
                self.diags.push(Diagnostic::error(path, line, message));
            }
            return;
        }
        for (key, mut value) in root.into_inner() {
            self.fill_env(&ctx, &mut value);
            let Some(section) = Section::from_key(key.get_ref()) else {
                let message = format!(
                    "unknown section `{}`; use [follow], [[qr]], [[click]], [[view]], [[keyword]], \
                     [[link]], [[form]], [[event]], [[notify]], [menu], [[menu.for]], [[automation]], [[rule]], [score], [[tiers]], [lifecycle], [[preference]], [[group]] or [[expire]]",
                    key.get_ref()
                );
                self.error(&ctx, &key.span(), message);
                continue;
            };
            let span = value.span();
            let items: Vec<Spanned<DeValue>> = match (section, value.into_inner()) {
                (s, DeValue::Array(_)) if s.single() => {
                    let per = if s == Section::Follow {
                        " per file"
                    } else {
                        ""
                    };
                    let message = format!("write {} once{per}, not [{}]", s.header(), s.header());
                    self.error(&ctx, &span, message);
                    continue;
                }
                (s, v) if s.single() => vec![Spanned::new(span, v)],
                (_, DeValue::Array(items)) => items.into_iter().collect(),
                (s, _) => {
                    let message = format!("write {}, one table per rule", s.header());
                    self.error(&ctx, &span, message);
                    continue;
                }
            };
            for item in items {
                self.item(&ctx, section, item);
            }
        }
    }

    /// Deserialises one section entry and adds its rule.
    fn item(&mut self, ctx: &FileCtx, section: Section, item: Spanned<DeValue>) {
        let span = item.span();
        if !matches!(item.get_ref(), DeValue::Table(_)) {
            let message = format!("each {} entry must be a table", section.header());
            self.error(ctx, &span, message);
            return;
        }
        match section {
            Section::Follow => {
                if let Some(raw) = self.parse::<RawFollow>(ctx, section, item) {
                    self.follow(ctx, span, raw);
                }
            }
            Section::Qr => {
                if let Some(raw) = self.parse::<RawQr>(ctx, section, item) {
                    self.qr(ctx, span, raw);
                }
            }
            Section::Channel => {
                if let Some(raw) = self.parse::<RawChannel>(ctx, section, item) {
                    self.channel(ctx, raw);
                }
            }
            Section::Click => {
                if let Some(raw) = self.parse::<RawClick>(ctx, section, item) {
                    self.click(ctx, span, raw);
                }
            }
            Section::View => {
                if let Some(raw) = self.parse::<RawView>(ctx, section, item) {
                    self.view(ctx, span, raw);
                }
            }
            Section::Keyword => {
                if let Some(raw) = self.parse::<RawKeyword>(ctx, section, item) {
                    self.keyword(ctx, span, raw);
                }
            }
            Section::Link => {
                if let Some(raw) = self.parse::<RawLink>(ctx, section, item) {
                    self.link(ctx, raw);
                }
            }
            Section::Form => {
                if let Some(raw) = self.parse::<RawForm>(ctx, section, item) {
                    self.form(ctx, raw);
                }
            }
            Section::Event => {
                if let Some(raw) = self.parse::<RawEvent>(ctx, section, item) {
                    self.event(ctx, span, raw);
                }
            }
            Section::Automation => {
                if let Some(raw) = self.parse::<RawAutomation>(ctx, section, item) {
                    self.automation(ctx, raw);
                }
            }
            Section::Notify => {
                if let Some(raw) = self.parse::<notify::RawNotify>(ctx, section, item) {
                    self.notify(ctx, span, raw);
                }
            }
            Section::Menu => {
                if let Some(raw) = self.parse::<RawMenu>(ctx, section, item) {
                    self.menu(ctx, raw);
                }
            }
            Section::Derived(d) => self.derived_item(ctx, d, item),
        }
    }

    /// Runs serde over one table; its error (unknown key, wrong type, missing key) carries the
    /// span of the key or value at fault. An unknown key is reported, dropped, and the table
    /// read again, so a typo does not hide the rule's other mistakes; any other error ends the
    /// rule.
    pub(in crate::rules) fn parse<'i, T: Deserialize<'i>>(
        &mut self,
        ctx: &FileCtx,
        section: Section,
        mut item: Spanned<DeValue<'i>>,
    ) -> Option<T> {
        loop {
            let e = match T::deserialize(ValueDeserializer::from(item.clone())) {
                Ok(raw) => return Some(raw),
                Err(e) => e,
            };
            let at = e.span().unwrap_or(item.span());
            let message = format!("{}: {}", section.header(), one_line(e.message()));
            self.error(ctx, &at, message);
            if !remove_key_at(item.get_mut(), &at) {
                return None;
            }
        }
    }

    fn push(&mut self, source: Source, tags: Vec<TagName>, answer: Option<Answer>) -> RuleId {
        self.rules.rules.push(Rule {
            source,
            tags,
            answer,
            do_not_contact: false,
        });
        self.rules.rules.len() - 1
    }

    /// Runs the checks that need every file, builds the keyword index, and splits the
    /// diagnostics into the result.
    fn finish(mut self) -> Result<Loaded, CheckFailed> {
        self.check_conditions();
        self.check_link_refs();
        let mut event_props: HashSet<String> = (self.conditions.iter())
            .flat_map(|(_, condition)| condition.event_props())
            .map(str::to_owned)
            .collect();
        let Builder {
            dir,
            mut rules,
            keywords,
            mut diags,
            over_limit,
            derived,
            automation_refs,
            secrets,
            menus,
            ..
        } = self;
        rules.derived = derived.finish(&mut rules, &mut diags);
        rules.menus = menus.finish(&rules, &mut diags);
        automation::check_automations(&mut rules, automation_refs, &mut diags);
        event_props.extend(rules.derived.summed_events().map(str::to_owned));
        rules.event_props = event_props;
        if let Some((file, line, tag)) = over_limit {
            let message = format!(
                "tag \"{tag}\" is distinct tag number {}; WeChat allows {TAGS_PER_ACCOUNT} tags per \
                 account and these files name {}",
                TAGS_PER_ACCOUNT + 1,
                rules.tags.len()
            );
            diags.push(Diagnostic::error(&file, line, message));
        }
        if !diags.iter().any(|d| d.severity == Severity::Error) {
            match keywords.build() {
                Ok(index) => rules.keywords = index,
                Err(message) => diags.push(Diagnostic::error(&dir, 0, message)),
            }
        }
        notify::redact_secrets(&mut diags, secrets);
        diags.sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));
        let (errors, warnings): (Vec<_>, Vec<_>) = diags
            .into_iter()
            .partition(|d| d.severity == Severity::Error);
        if errors.is_empty() {
            Ok(Loaded { rules, warnings })
        } else {
            Err(CheckFailed {
                errors,
                warnings,
                stats: rules.stats(),
            })
        }
    }
}

/// Removes the table entry whose key sits at `span`, at any depth; false when no key does
/// (the error was about a value or a whole table).
fn remove_key_at(value: &mut DeValue, span: &Range<usize>) -> bool {
    match value {
        DeValue::Table(table) => match table.keys().find(|k| k.span() == *span).cloned() {
            Some(key) => table.remove(&key).is_some(),
            None => table
                .iter_mut()
                .any(|(_, v)| remove_key_at(v.get_mut(), span)),
        },
        DeValue::Array(items) => items.iter_mut().any(|v| remove_key_at(v.get_mut(), span)),
        _ => false,
    }
}

/// A library message on one line.
pub(in crate::rules) fn one_line(message: &str) -> String {
    message.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests;
