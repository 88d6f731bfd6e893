//! Reading a `channels/` folder into [`Rules`], collecting every mistake on the way.
//!
//! Each file is parsed into toml's spanned document first, so a syntax error never hides the
//! other files' mistakes; then each section entry (one `[[qr]]`, one `[[keyword]]`, …) is
//! deserialised on its own, so one bad rule does not hide the next. Checks that span files
//! (duplicate scenes and click keys, the 100-tag limit) run as the rules arrive, in file-name
//! order, and point at the later occurrence.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::io;
use std::ops::Range;
use std::path::{Path, PathBuf};

use regex::Regex;
use serde::Deserialize;
use toml::Spanned;
use toml::de::{DeTable, DeValue, ValueDeserializer};

use crate::domain::{ParseError, Scene, TagName};
use crate::wechat::reply::{Article, Reply};

use super::diagnostics::{Diagnostic, LineIndex, Severity};
use super::file::{
    MatchKind, RawClick, RawFollow, RawKeyword, RawQr, RawReply, RawVariant, RawView, RawWhen,
    SpannedStrings,
};
use super::index::KeywordIndexBuilder;
use super::matcher::{Answer, Rule, Variant, When};
use super::{Channel, CheckFailed, Loaded, RuleId, Rules, Source};
use crate::wechat::limits::{NEWS_ARTICLES, TAG_NAME_LEN, TAGS_PER_ACCOUNT};

/// WeChat's limit on a passive text reply, in bytes.
const MAX_TEXT_BYTES: usize = 2048;
/// WeChat's limit on a menu CLICK key, in bytes.
const MAX_KEY_BYTES: usize = 128;
/// WeChat's limit on a menu VIEW URL, in bytes.
const MAX_URL_BYTES: usize = 1024;
/// WeChat's range for a permanent code's `scene_id`.
const MAX_PERMANENT_SCENE_ID: u32 = 100_000;
/// How long a temporary code lives when the file does not say, and the most WeChat allows.
const MAX_EXPIRE_DAYS: u32 = 30;
/// What a scene may hold, for messages.
const SCENE_RULE: &str = "use 1-64 of A-Z a-z 0-9 _ -";

/// The sections a file may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Section {
    Follow,
    Qr,
    Click,
    View,
    Keyword,
}

impl Section {
    fn from_key(key: &str) -> Option<Self> {
        Some(match key {
            "follow" => Self::Follow,
            "qr" => Self::Qr,
            "click" => Self::Click,
            "view" => Self::View,
            "keyword" => Self::Keyword,
            _ => return None,
        })
    }

    fn key(self) -> &'static str {
        match self {
            Self::Follow => "follow",
            Self::Qr => "qr",
            Self::Click => "click",
            Self::View => "view",
            Self::Keyword => "keyword",
        }
    }

    /// How the section is written in a file: `[follow]`, `[[qr]]`, …
    fn header(self) -> String {
        match self {
            Self::Follow => "[follow]".to_owned(),
            other => format!("[[{}]]", other.key()),
        }
    }
}

impl Rules {
    /// Loads every `*.toml` in `dir`, in file-name order (names starting with `.` are skipped,
    /// as editors leave such files behind). Fails with every error found, never just the first.
    pub fn load(dir: &Path) -> Result<Loaded, CheckFailed> {
        let mut b = Builder::new(dir);
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
struct FileCtx<'a> {
    path: &'a Path,
    lines: LineIndex,
}

impl FileCtx<'_> {
    fn line(&self, span: &Range<usize>) -> usize {
        self.lines.line_of(span)
    }

    /// `file:line`, for messages that point at an earlier occurrence.
    fn at(&self, span: &Range<usize>) -> String {
        format!("{}:{}", self.path.display(), self.line(span))
    }
}

/// The rules and diagnostics gathered so far.
struct Builder {
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
}

impl Builder {
    fn new(dir: &Path) -> Self {
        Self {
            dir: dir.to_owned(),
            rules: Rules::default(),
            keywords: KeywordIndexBuilder::default(),
            diags: Vec::new(),
            seen_tags: HashSet::new(),
            over_limit: None,
            scene_at: HashMap::new(),
            click_at: HashMap::new(),
        }
    }

    fn error(&mut self, ctx: &FileCtx, span: &Range<usize>, message: impl Into<String>) {
        let d = Diagnostic::error(ctx.path, ctx.line(span), message);
        self.diags.push(d);
    }

    fn warn(&mut self, ctx: &FileCtx, span: &Range<usize>, message: impl Into<String>) {
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
        for (key, value) in root.into_inner() {
            let Some(section) = Section::from_key(key.get_ref()) else {
                let message = format!(
                    "unknown section `{}`; use [follow], [[qr]], [[click]], [[view]] or [[keyword]]",
                    key.get_ref()
                );
                self.error(&ctx, &key.span(), message);
                continue;
            };
            let span = value.span();
            let items: Vec<Spanned<DeValue>> = match (section, value.into_inner()) {
                (Section::Follow, DeValue::Array(_)) => {
                    self.error(&ctx, &span, "write [follow] once per file, not [[follow]]");
                    continue;
                }
                (Section::Follow, v) => vec![Spanned::new(span, v)],
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
        }
    }

    /// Runs serde over one table; its error (unknown key, wrong type, missing key) carries the
    /// span of the key or value at fault. An unknown key is reported, dropped, and the table
    /// read again, so a typo does not hide the rule's other mistakes; any other error ends the
    /// rule.
    fn parse<'i, T: Deserialize<'i>>(
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

    fn follow(&mut self, ctx: &FileCtx, span: Range<usize>, raw: RawFollow) {
        let (tags, answer) =
            self.common(ctx, Section::Follow, &span, raw.tags, raw.reply, raw.news);
        let id = self.push(Source::follow(), tags, answer);
        self.rules.follow.push(id);
    }

    fn qr(&mut self, ctx: &FileCtx, span: Range<usize>, raw: RawQr) {
        let (tags, answer) = self.common(ctx, Section::Qr, &span, raw.tags, raw.reply, raw.news);
        let expire_days = match raw.expire_days {
            None => MAX_EXPIRE_DAYS,
            Some(days) if raw.permanent => {
                let message = "expire_days has no effect on a permanent code; remove it or set \
                               permanent = false";
                self.warn(ctx, &days.span(), message);
                MAX_EXPIRE_DAYS
            }
            Some(days) => match u32::try_from(*days.get_ref()) {
                Ok(d) if (1..=MAX_EXPIRE_DAYS).contains(&d) => d,
                _ => {
                    let message = format!(
                        "expire_days {} is out of range; a temporary code lives 1-{MAX_EXPIRE_DAYS} days",
                        days.get_ref()
                    );
                    self.error(ctx, &days.span(), message);
                    MAX_EXPIRE_DAYS
                }
            },
        };
        let scene_span = raw.scene.span();
        let Some((scene, scene_id)) = self.scene(ctx, raw.scene, raw.permanent) else {
            return;
        };
        if let Some(prev) = self.scene_at.get(&scene) {
            let message = format!(
                "scene \"{scene}\" is already used at {prev}; give each QR code its own scene"
            );
            self.error(ctx, &scene_span, message);
            return;
        }
        self.scene_at.insert(scene.clone(), ctx.at(&scene_span));
        let rule = self.push(Source::of("qr", scene.as_str()), tags.clone(), answer);
        self.rules
            .scenes
            .insert(scene.clone(), self.rules.channels.len());
        self.rules.channels.push(Channel {
            name: raw.name.unwrap_or_else(|| scene.to_string()),
            scene,
            tags,
            permanent: raw.permanent,
            expire_days,
            scene_id,
            rule,
        });
    }

    /// A scene as text (`scene_str`) or as a number (`scene_id`, whose range depends on
    /// whether the code is permanent).
    fn scene(
        &mut self,
        ctx: &FileCtx,
        raw: Spanned<toml::Value>,
        permanent: bool,
    ) -> Option<(Scene, Option<u32>)> {
        let span = raw.span();
        let message = match raw.into_inner() {
            toml::Value::String(s) => match Scene::parse(&s) {
                Ok(scene) => return Some((scene, None)),
                Err(ParseError::Empty { .. }) => format!("scene is empty; {SCENE_RULE}"),
                Err(ParseError::TooLong { len, .. }) => {
                    format!("scene \"{s}\" is {len} characters; {SCENE_RULE}")
                }
                Err(ParseError::BadChar { found: ' ', .. }) => {
                    format!("scene \"{s}\" has a space; {SCENE_RULE}")
                }
                Err(ParseError::BadChar { found, .. }) => {
                    format!("scene \"{s}\" has {found:?}; {SCENE_RULE}")
                }
            },
            toml::Value::Integer(n) => {
                let (kind, max) = if permanent {
                    ("permanent", MAX_PERMANENT_SCENE_ID)
                } else {
                    ("temporary", u32::MAX)
                };
                match u32::try_from(n) {
                    Ok(id) if (1..=max).contains(&id) => {
                        return Some((Scene::from_id(id), Some(id)));
                    }
                    _ => format!("scene_id {n} is out of range; {kind} codes take 1-{max}"),
                }
            }
            other => format!(
                "scene must be a text (scene_str) or a whole number (scene_id), not a {}",
                other.type_str()
            ),
        };
        self.error(ctx, &span, message);
        None
    }

    fn click(&mut self, ctx: &FileCtx, span: Range<usize>, raw: RawClick) {
        let (tags, answer) = self.common(ctx, Section::Click, &span, raw.tags, raw.reply, raw.news);
        let key_span = raw.key.span();
        let key = raw.key.into_inner();
        let problem = if key.is_empty() {
            Some("click key is empty; write the button's key, e.g. MENU_PRODUCT_A".to_owned())
        } else if key.len() > MAX_KEY_BYTES {
            Some(format!(
                "click key \"{key}\" is {} bytes; WeChat allows at most {MAX_KEY_BYTES}",
                key.len()
            ))
        } else {
            self.click_at.get(&key).map(|prev| {
                format!(
                    "click key \"{key}\" is already used at {prev}; give each button its own key"
                )
            })
        };
        if let Some(message) = problem {
            self.error(ctx, &key_span, message);
            return;
        }
        self.click_at.insert(key.clone(), ctx.at(&key_span));
        let rule = self.push(Source::of("click", &key), tags, answer);
        self.rules.clicks.insert(key, rule);
    }

    fn view(&mut self, ctx: &FileCtx, span: Range<usize>, raw: RawView) {
        let (tags, answer) = self.common(ctx, Section::View, &span, raw.tags, raw.reply, raw.news);
        let url_span = raw.url.span();
        let url = raw.url.into_inner();
        if url.is_empty() {
            let message =
                "view url is empty; write the start of the link, e.g. https://example.com/cases/";
            self.error(ctx, &url_span, message);
            return;
        }
        if url.len() > MAX_URL_BYTES {
            let message = format!(
                "view url is {} bytes; WeChat allows at most {MAX_URL_BYTES}",
                url.len()
            );
            self.error(ctx, &url_span, message);
            return;
        }
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            let message = format!(
                "view url \"{url}\" does not start with http:// or https://, so no menu link will match it"
            );
            self.warn(ctx, &url_span, message);
        }
        let rule = self.push(Source::of("view", &url), tags, answer);
        self.rules.views.insert(&url, rule);
    }

    fn keyword(&mut self, ctx: &FileCtx, span: Range<usize>, raw: RawKeyword) {
        let (tags, answer) =
            self.common(ctx, Section::Keyword, &span, raw.tags, raw.reply, raw.news);
        let text_span = raw.text.span();
        let text = raw.text.get_ref().trim();
        if text.is_empty() {
            let message = "keyword text is empty; write the word (or pattern) to match";
            self.error(ctx, &text_span, message);
            return;
        }
        if raw.kind == MatchKind::Regex
            && let Err(e) = Regex::new(text)
        {
            let message = format!("regex \"{text}\" does not compile: {}", regex_problem(&e));
            self.error(ctx, &text_span, message);
            return;
        }
        let rule = self.push(Source::of("keyword", text), tags, answer);
        match raw.kind {
            MatchKind::Exact => self.keywords.exact(text, rule),
            MatchKind::Contains => self.keywords.contains(text, rule),
            MatchKind::Regex => self.keywords.regex(text, rule),
        }
    }

    fn push(&mut self, source: Source, tags: Vec<TagName>, answer: Option<Answer>) -> RuleId {
        self.rules.rules.push(Rule {
            source,
            tags,
            answer,
        });
        self.rules.rules.len() - 1
    }

    /// The parts every section shares: tags and a reply.
    fn common(
        &mut self,
        ctx: &FileCtx,
        section: Section,
        span: &Range<usize>,
        tags: SpannedStrings,
        reply: Option<Spanned<RawReply>>,
        news: Option<Spanned<Vec<Article>>>,
    ) -> (Vec<TagName>, Option<Answer>) {
        // A channel without tags or a reply still counts follows, so only other rules warn.
        if section != Section::Qr && tags.is_empty() && reply.is_none() && news.is_none() {
            let message = format!(
                "{} has no tags and no reply, so it does nothing",
                section.header()
            );
            self.warn(ctx, span, message);
        }
        let tags = tags
            .into_iter()
            .filter_map(|t| self.rule_tag(ctx, t))
            .collect();
        let answer = self.answer(ctx, section, reply, news);
        (tags, answer)
    }

    /// A tag a rule adds: checked, and counted against WeChat's per-account limit.
    fn rule_tag(&mut self, ctx: &FileCtx, raw: Spanned<String>) -> Option<TagName> {
        let tag = self.tag(ctx, &raw)?;
        if self.seen_tags.insert(tag.clone()) {
            self.rules.tags.push(tag.clone());
            if self.rules.tags.len() == TAGS_PER_ACCOUNT + 1 {
                let at = (ctx.path.to_owned(), ctx.line(&raw.span()), tag.clone());
                self.over_limit = Some(at);
            }
        }
        Some(tag)
    }

    /// Parses a tag name, saying what is wrong with it. WeChat counts a name's length in
    /// UTF-8 bytes (errcode 45158 beyond), so a longer name could never sync.
    fn tag(&mut self, ctx: &FileCtx, raw: &Spanned<String>) -> Option<TagName> {
        let s = raw.get_ref();
        if s.len() > TAG_NAME_LEN {
            let message = format!(
                "tag \"{s}\" is {} bytes; WeChat allows {TAG_NAME_LEN} bytes of UTF-8 \
                 (about {} Chinese characters)",
                s.len(),
                TAG_NAME_LEN / 3
            );
            self.error(ctx, &raw.span(), message);
            return None;
        }
        let e = match TagName::parse(s) {
            Ok(tag) => return Some(tag),
            Err(e) => e,
        };
        let message = match e {
            ParseError::Empty { .. } => {
                "a tag is empty; remove it or name it, e.g. \"兴趣:产品A\"".to_owned()
            }
            ParseError::TooLong { len, max, .. } => {
                format!("tag \"{s}\" is {len} characters; WeChat allows at most {max}")
            }
            ParseError::BadChar { .. } if s.trim() != s => {
                format!("tag \"{s}\" starts or ends with white space; remove it")
            }
            ParseError::BadChar { found, .. } => {
                format!("tag \"{s}\" holds the control character {found:?}; remove it")
            }
        };
        self.error(ctx, &raw.span(), message);
        None
    }

    /// `reply = "…"`, `news = [...]` or `[[….reply]]` variants; at most one of them.
    fn answer(
        &mut self,
        ctx: &FileCtx,
        section: Section,
        reply: Option<Spanned<RawReply>>,
        news: Option<Spanned<Vec<Article>>>,
    ) -> Option<Answer> {
        let always = |reply| {
            Answer(vec![Variant {
                when: When::Always,
                reply,
            }])
        };
        match (reply, news) {
            (None, None) => None,
            (Some(reply), Some(news)) => {
                let message = match reply.get_ref() {
                    RawReply::Text(_) => "has both reply text and news; keep one".to_owned(),
                    RawReply::Variants(_) => format!(
                        "has both [[{}.reply]] variants and news; move the news into a variant",
                        section.key()
                    ),
                };
                let message = format!("{} {message}", section.header());
                self.error(ctx, &news.span(), message);
                None
            }
            (None, Some(news)) => self.news(ctx, section, news).map(always),
            (Some(reply), None) => {
                let span = reply.span();
                match reply.into_inner() {
                    RawReply::Text(text) => self.text(ctx, &span, text).map(always),
                    RawReply::Variants(variants) => self.variants(ctx, section, &span, variants),
                }
            }
        }
    }

    fn variants(
        &mut self,
        ctx: &FileCtx,
        section: Section,
        span: &Range<usize>,
        raw: Vec<Spanned<RawVariant>>,
    ) -> Option<Answer> {
        if raw.is_empty() {
            let message = format!(
                "reply has no variants; give each [[{}.reply]] a text or news",
                section.key()
            );
            self.error(ctx, span, message);
            return None;
        }
        let mut variants = Vec::new();
        let mut all_ok = true;
        let mut default_seen = false;
        for v in raw {
            let v_span = v.span();
            let RawVariant { when, text, news } = v.into_inner();
            if default_seen {
                let message = "this reply variant follows one without `when`, so it is never \
                               used; move it up or give the earlier one a `when`";
                self.warn(ctx, &v_span, message);
            }
            let when = match when {
                None => {
                    default_seen = true;
                    Some(When::Always)
                }
                Some(w) => self.when(ctx, w),
            };
            let reply = match (text, news) {
                (Some(text), None) => self.text(ctx, &text.span(), text.into_inner()),
                (None, Some(news)) => self.news(ctx, section, news),
                (Some(text), Some(_)) => {
                    let message = "a reply variant has both text and news; keep one";
                    self.error(ctx, &text.span(), message);
                    None
                }
                (None, None) => {
                    let message = "a reply variant has neither text nor news; give one";
                    self.error(ctx, &v_span, message);
                    None
                }
            };
            match (when, reply) {
                (Some(when), Some(reply)) => variants.push(Variant { when, reply }),
                _ => all_ok = false,
            }
        }
        all_ok.then_some(Answer(variants))
    }

    fn when(&mut self, ctx: &FileCtx, raw: Spanned<RawWhen>) -> Option<When> {
        let span = raw.span();
        let RawWhen { all, any, none } = raw.into_inner();
        let (make, list): (fn(Vec<TagName>) -> When, SpannedStrings) = match (all, any, none) {
            (Some(list), None, None) => (When::All, list),
            (None, Some(list), None) => (When::Any, list),
            (None, None, Some(list)) => (When::None, list),
            (None, None, None) => {
                self.error(ctx, &span, "`when` is empty; use one of all, any or none");
                return None;
            }
            _ => {
                let message = "`when` has more than one of all, any and none; use one per \
                               variant and split the rest into more variants";
                self.error(ctx, &span, message);
                return None;
            }
        };
        let tags: Vec<TagName> = list.iter().filter_map(|t| self.tag(ctx, t)).collect();
        (tags.len() == list.len()).then(|| make(tags))
    }

    fn text(&mut self, ctx: &FileCtx, span: &Range<usize>, text: String) -> Option<Reply> {
        let problem = if text.trim().is_empty() {
            "reply text is empty; write a message or remove the reply".to_owned()
        } else if text.len() > MAX_TEXT_BYTES {
            format!(
                "reply text is {} bytes; WeChat allows at most {MAX_TEXT_BYTES}",
                text.len()
            )
        } else {
            return Some(Reply::Text(text));
        };
        self.error(ctx, span, problem);
        None
    }

    fn news(
        &mut self,
        ctx: &FileCtx,
        section: Section,
        news: Spanned<Vec<Article>>,
    ) -> Option<Reply> {
        let n = news.get_ref().len();
        let problem = if n == 0 {
            format!("news has no articles; give 1 to {NEWS_ARTICLES}")
        } else if n > NEWS_ARTICLES {
            format!("news has {n} articles; WeChat allows at most {NEWS_ARTICLES}")
        } else {
            if section == Section::Keyword && n > 1 {
                let message = format!(
                    "news has {n} articles, but WeChat shows only the first in a reply to a text message"
                );
                self.warn(ctx, &news.span(), message);
            }
            return Some(Reply::News(news.into_inner()));
        };
        self.error(ctx, &news.span(), problem);
        None
    }

    /// Runs the checks that need every file, builds the keyword index, and splits the
    /// diagnostics into the result.
    fn finish(self) -> Result<Loaded, CheckFailed> {
        let Builder {
            dir,
            mut rules,
            keywords,
            mut diags,
            over_limit,
            ..
        } = self;
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
fn one_line(message: &str) -> String {
    message.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The gist of a regex error: the syntax error's last `error:` line, or the whole message.
fn regex_problem(e: &regex::Error) -> String {
    let text = e.to_string();
    text.lines()
        .rev()
        .find_map(|l| l.trim().strip_prefix("error: ").map(str::to_owned))
        .unwrap_or_else(|| one_line(&text))
}

#[cfg(test)]
mod tests {
    use super::super::fixture::{folder, load};
    use super::*;

    /// Every diagnostic as `name:line: [warning: ]message`, errors first, with the temporary
    /// folder left out of the file name.
    fn said(result: &Result<Loaded, CheckFailed>) -> Vec<String> {
        let (errors, warnings) = match result {
            Ok(loaded) => (&[][..], &loaded.warnings[..]),
            Err(failed) => (&failed.errors[..], &failed.warnings[..]),
        };
        errors
            .iter()
            .chain(warnings)
            .map(|d| {
                let name = d.file.file_name().unwrap_or_default();
                Diagnostic {
                    file: PathBuf::from(name),
                    ..d.clone()
                }
                .to_string()
            })
            .collect()
    }

    /// The `name:line` of every diagnostic.
    fn at(result: &Result<Loaded, CheckFailed>) -> Vec<String> {
        said(result)
            .into_iter()
            .map(|s| {
                let mut parts = s.splitn(3, ':');
                format!("{}:{}", parts.next().unwrap(), parts.next().unwrap())
            })
            .collect()
    }

    #[test]
    fn bad_toml_is_reported_with_its_line_and_other_files_still_checked() {
        let r = load(&[
            (
                "a.toml",
                "[follow]\ntags = [\"来源:自然关注\"]\nreply = \"hi\n",
            ),
            ("b.toml", "[[click]]\nkey = \"K\"\nnope = 1\n"),
        ]);
        let said = said(&r);
        assert!(said[0].starts_with("a.toml:3: invalid TOML: "), "{said:?}");
        assert!(
            said.iter()
                .any(|s| s.starts_with("b.toml:3: [[click]]: unknown field `nope`"))
        );
        assert!(r.is_err());
    }

    #[test]
    fn unknown_keys_point_at_the_key_even_when_nested() {
        let r = load(&[(
            "k.toml",
            r#"[[qr]]
scene = "a"
name = "A"
nmae = "typo"

[[keyword]]
text = "试用"
[[keyword.reply]]
text = "x"
whn = { all = ["兴趣:产品A"] }

[[keyword]]
text = "b"
reply = [{ text = "y", colour = "red" }]
"#,
        )]);
        assert_eq!(at(&r), ["k.toml:4", "k.toml:10", "k.toml:14"]);
        let said = said(&r);
        assert!(said[0].contains("unknown field `nmae`"), "{said:?}");
        assert!(said[1].contains("unknown field `whn`"), "{said:?}");
        assert!(said[2].contains("unknown field `colour`"), "{said:?}");
    }

    #[test]
    fn an_unknown_key_does_not_hide_the_rules_other_mistakes() {
        let r = load(&[(
            "k.toml",
            r#"[[qr]]
scene = "expo 2026"
nmae = "typo"
colour = "red"

[[keyword]]
text = "试用"
[[keyword.reply]]
when = { all = ["兴趣:产品A"], whn = 1 }
text = ""
"#,
        )]);
        let said = said(&r);
        assert_eq!(
            at(&r),
            ["k.toml:2", "k.toml:3", "k.toml:4", "k.toml:9", "k.toml:10"],
            "{said:?}"
        );
        assert!(said[0].contains("has a space"));
        assert!(said[3].contains("unknown field `whn`"));
        assert!(said[4].contains("reply text is empty"));
    }

    #[test]
    fn a_missing_key_points_at_the_section_and_an_unknown_section_at_its_name() {
        let r = load(&[(
            "m.toml",
            "[[click]]\ntags = [\"x\"]\n\n[[clik]]\nkey = \"K\"\n\n[[keyword]]\nmatch = \"fuzzy\"\ntext = \"a\"\n",
        )]);
        let said = said(&r);
        assert_eq!(at(&r), ["m.toml:1", "m.toml:4", "m.toml:8"], "{said:?}");
        assert!(said[0].contains("missing field `key`"));
        assert!(said[1].contains("unknown section `clik`"));
        assert!(said[2].contains("unknown variant `fuzzy`"));
    }

    #[test]
    fn duplicate_scenes_across_files_and_duplicate_click_keys_are_errors() {
        let r = load(&[
            (
                "10.toml",
                "[[qr]]\nscene = 1001\n\n[[click]]\nkey = \"K\"\ntags = [\"t\"]\n",
            ),
            (
                "20.toml",
                "# brochure again\n[[qr]]\nscene = \"1001\"\n[[click]]\nkey = \"K\"\ntags = [\"t\"]\n",
            ),
        ]);
        assert_eq!(at(&r), ["20.toml:3", "20.toml:5"]);
        let said = said(&r);
        assert!(
            said[0].contains("scene \"1001\" is already used at "),
            "{said:?}"
        );
        assert!(said[0].contains("10.toml:2"), "{said:?}");
        assert!(
            said[1].contains("click key \"K\" is already used at "),
            "{said:?}"
        );
        assert!(said[1].contains("10.toml:5"), "{said:?}");
    }

    #[test]
    fn a_regex_that_does_not_compile_is_an_error_at_its_text() {
        let r = load(&[(
            "k.toml",
            "[[keyword]]\nmatch = \"regex\"\ntext = \"(产品\"\ntags = [\"t\"]\n",
        )]);
        assert_eq!(
            said(&r),
            ["k.toml:3: regex \"(产品\" does not compile: unclosed group"]
        );
    }

    #[test]
    fn tags_over_30_utf8_bytes_are_refused_with_why() {
        let long = "a".repeat(31);
        let cjk_11 = "标".repeat(11);
        let bad = format!(
            "[[click]]\nkey = \"K\"\ntags = [\n  \"ok\",\n  \"{long}\",\n  \"{cjk_11}\",\n]\n\n\
             [[keyword]]\ntext = \"试用\"\n[[keyword.reply]]\nwhen = {{ any = [\"{cjk_11}\"] }}\ntext = \"x\"\n"
        );
        let why = "WeChat allows 30 bytes of UTF-8 (about 10 Chinese characters)";
        assert_eq!(
            said(&load(&[("t.toml", &bad)])),
            [
                format!("t.toml:5: tag \"{long}\" is 31 bytes; {why}"),
                format!("t.toml:6: tag \"{cjk_11}\" is 33 bytes; {why}"),
                format!("t.toml:12: tag \"{cjk_11}\" is 33 bytes; {why}"),
            ]
        );

        let at_limit = format!(
            "[[click]]\nkey = \"K\"\ntags = [\"{}\", \"{}\"]\n",
            "标".repeat(10),
            "a".repeat(30)
        );
        let loaded = load(&[("t.toml", &at_limit)]).expect("30 bytes is within the limit");
        assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
        assert_eq!(loaded.rules.tag_names().count(), 2);
    }

    #[test]
    fn malformed_tags_say_what_is_wrong() {
        let r = load(&[("t.toml", "[follow]\ntags = [\"\", \" x\", \"a\\u0007b\"]\n")]);
        assert_eq!(at(&r), ["t.toml:2", "t.toml:2", "t.toml:2"]);
        let said = said(&r);
        assert!(said[0].contains("a tag is empty"));
        assert!(said[1].contains("starts or ends with white space"));
        assert!(said[2].contains("control character"));
    }

    #[test]
    fn scene_strings_must_be_1_to_64_id_characters() {
        let long = "s".repeat(65);
        let text = format!(
            "[[qr]]\nscene = \"expo 2026\"\n\n[[qr]]\nscene = \"{long}\"\n\n[[qr]]\nscene = \"展会\"\n\n[[qr]]\nscene = \"\"\n\n[[qr]]\nscene = 1.5\n"
        );
        let r = load(&[("10-expo.toml", &text)]);
        assert_eq!(
            said(&r),
            [
                "10-expo.toml:2: scene \"expo 2026\" has a space; use 1-64 of A-Z a-z 0-9 _ -"
                    .to_owned(),
                format!("10-expo.toml:5: scene \"{long}\" is 65 characters; use 1-64 of A-Z a-z 0-9 _ -"),
                "10-expo.toml:8: scene \"展会\" has '展'; use 1-64 of A-Z a-z 0-9 _ -".to_owned(),
                "10-expo.toml:11: scene is empty; use 1-64 of A-Z a-z 0-9 _ -".to_owned(),
                "10-expo.toml:14: scene must be a text (scene_str) or a whole number (scene_id), not a float".to_owned(),
            ]
        );
    }

    #[test]
    fn scene_ids_are_1_to_100000_when_permanent_and_never_0() {
        let text = "[[qr]]\nscene = 100001\npermanent = true\n\n\
                    [[qr]]\nscene = 100001\n\n\
                    [[qr]]\nscene = 0\n\n\
                    [[qr]]\nscene = -3\n\n\
                    [[qr]]\nscene = 4294967296\n\n\
                    [[qr]]\nscene = 100000\npermanent = true\n\n\
                    [[qr]]\nscene = \"ok\"\nexpire_days = 31\n";
        let r = load(&[("q.toml", text)]);
        assert_eq!(
            said(&r),
            [
                "q.toml:2: scene_id 100001 is out of range; permanent codes take 1-100000",
                "q.toml:9: scene_id 0 is out of range; temporary codes take 1-4294967295",
                "q.toml:12: scene_id -3 is out of range; temporary codes take 1-4294967295",
                "q.toml:15: scene_id 4294967296 is out of range; temporary codes take 1-4294967295",
                "q.toml:23: expire_days 31 is out of range; a temporary code lives 1-30 days",
            ]
        );
    }

    #[test]
    fn more_than_100_distinct_tags_in_all_files_is_an_error_at_the_101st() {
        let first: String = (0..60)
            .map(|i| format!("[[click]]\nkey = \"K{i}\"\ntags = [\"t{i}\", \"shared\"]\n"))
            .collect();
        // 60 + "shared" = 61 distinct tags in the first file; the second brings the 101st on
        // its line 3 * 40 = 120 (rule 40's tags line), and a 102nd after it.
        let second: String = (60..102)
            .map(|i| format!("[[click]]\nkey = \"K{i}\"\ntags = [\"t{i}\"]\n"))
            .collect();
        let r = load(&[("a.toml", &first), ("b.toml", &second)]);
        let said = said(&r);
        assert_eq!(said.len(), 1, "{said:?}");
        assert_eq!(
            said[0],
            "b.toml:120: tag \"t99\" is distinct tag number 101; WeChat allows 100 tags per \
             account and these files name 103"
        );

        let exactly_100: String = (0..100)
            .map(|i| format!("[[click]]\nkey = \"K{i}\"\ntags = [\"t{i}\"]\n"))
            .collect();
        assert!(load(&[("a.toml", &exactly_100)]).is_ok());
    }

    #[test]
    fn news_needs_1_to_8_articles() {
        let article = "{ title = \"t\" }";
        let nine = [article; 9].join(", ");
        let text = format!(
            "[[click]]\nkey = \"A\"\nnews = [{nine}]\n\n[[click]]\nkey = \"B\"\nnews = []\n\n\
             [[click]]\nkey = \"C\"\nnews = [{{ title = \"t\", colour = \"red\" }}]\n"
        );
        let r = load(&[("n.toml", &text)]);
        let said = said(&r);
        assert_eq!(at(&r), ["n.toml:3", "n.toml:7", "n.toml:11"], "{said:?}");
        assert!(said[0].ends_with("news has 9 articles; WeChat allows at most 8"));
        assert!(said[1].ends_with("news has no articles; give 1 to 8"));
        assert!(said[2].contains("unknown field `colour`"));
    }

    #[test]
    fn reply_text_is_at_most_2048_bytes() {
        let ok = "回".repeat(682); // 2046 bytes
        let long = "回".repeat(683); // 2049 bytes
        let text = format!(
            "[[click]]\nkey = \"A\"\nreply = \"{ok}\"\n[[click]]\nkey = \"B\"\nreply = \"{long}\"\n"
        );
        assert_eq!(
            said(&load(&[("r.toml", &text)])),
            ["r.toml:6: reply text is 2049 bytes; WeChat allows at most 2048"]
        );
    }

    #[test]
    fn a_reply_is_text_or_news_never_both_nor_neither() {
        let text = r#"[[click]]
key = "A"
reply = "x"
news = [{ title = "t" }]

[[click]]
key = "B"
[[click.reply]]
when = { all = ["a"] }

[[click]]
key = "C"
[[click.reply]]
text = "x"
news = [{ title = "t" }]

[[click]]
key = "D"
reply = []
"#;
        let r = load(&[("r.toml", text)]);
        assert_eq!(
            said(&r),
            [
                "r.toml:4: [[click]] has both reply text and news; keep one",
                "r.toml:8: a reply variant has neither text nor news; give one",
                "r.toml:14: a reply variant has both text and news; keep one",
                "r.toml:19: reply has no variants; give each [[click.reply]] a text or news",
            ]
        );
    }

    #[test]
    fn a_when_holds_exactly_one_of_all_any_none() {
        let text = r#"[[keyword]]
text = "试用"
[[keyword.reply]]
when = { all = ["a"], none = ["b"] }
text = "x"
[[keyword.reply]]
when = {}
text = "y"
[[keyword.reply]]
text = "default"
[[keyword.reply]]
when = { any = ["c"] }
text = "never"
"#;
        let r = load(&[("w.toml", text)]);
        assert_eq!(
            said(&r),
            [
                "w.toml:4: `when` has more than one of all, any and none; use one per variant \
                 and split the rest into more variants",
                "w.toml:7: `when` is empty; use one of all, any or none",
                "w.toml:11: warning: this reply variant follows one without `when`, so it is \
                 never used; move it up or give the earlier one a `when`",
            ]
        );
    }

    #[test]
    fn every_mistake_in_a_file_is_reported_not_just_the_first() {
        let text = r#"[[qr]]
scene = "a b"

[[click]]
key = "K"
tags = ["这是一个非常非常非常非常非常非常非常非常非常非常长的标签名字啊"]

[[keyword]]
match = "regex"
text = "[z-a]"
reply = "x"
"#;
        let r = load(&[("all.toml", text)]);
        assert_eq!(at(&r), ["all.toml:2", "all.toml:6", "all.toml:10"]);
    }

    #[test]
    fn rules_may_only_reply_but_a_rule_that_does_nothing_is_a_warning() {
        let r = load(&[(
            "o.toml",
            "[[keyword]]\ntext = \"hi\"\nreply = \"hello\"\n\n[[view]]\nurl = \"https://x.com/\"\n\n[[qr]]\nscene = \"bare\"\n",
        )]);
        assert_eq!(
            said(&r),
            ["o.toml:5: warning: [[view]] has no tags and no reply, so it does nothing"]
        );
        let rules = r.expect("warnings only").rules;
        assert_eq!(rules.stats().rules, 3);
        assert_eq!(
            rules.channel(&Scene::parse("bare").unwrap()).unwrap().name,
            "bare"
        );
    }

    #[test]
    fn sections_must_have_the_right_shape() {
        let r = load(&[(
            "s.toml",
            "[[follow]]\ntags = [\"a\"]\n\n[qr]\nscene = \"x\"\n\n[[click]]\nkey = \"K\"\ntags = \"not a list\"\n",
        )]);
        let said = said(&r);
        assert_eq!(at(&r), ["s.toml:1", "s.toml:4", "s.toml:9"], "{said:?}");
        assert!(said[0].ends_with("write [follow] once per file, not [[follow]]"));
        assert!(said[1].ends_with("write [[qr]], one table per rule"));
        assert!(said[2].contains("[[click]]: invalid type"));
    }

    #[test]
    fn a_missing_folder_says_what_to_do_and_an_empty_one_warns() {
        let dir = folder(&[]);
        let missing = dir.path().join("channels");
        let failed = Rules::load(&missing).expect_err("missing folder");
        assert_eq!(failed.errors.len(), 1);
        assert_eq!(failed.errors[0].line, 0);
        assert!(
            failed.errors[0]
                .message
                .contains("folder not found; create it")
        );
        assert!(failed.errors[0].message.contains("WXTAG_CHANNELS"));

        let loaded = Rules::load(dir.path()).expect("an empty folder loads");
        assert_eq!(loaded.rules.stats().files, 0);
        assert!(loaded.warnings[0].message.starts_with("no *.toml files"));
    }

    #[test]
    fn files_load_in_name_order_and_other_files_are_ignored() {
        let dir = folder(&[
            ("20-b.toml", "[[click]]\nkey = \"B\"\ntags = [\"b\"]\n"),
            ("10-a.toml", "[[click]]\nkey = \"A\"\ntags = [\"a\"]\n"),
            ("notes.md", "not toml ["),
            (".#10-a.toml", "not toml ["),
        ]);
        let rules = Rules::load(dir.path()).expect("loads").rules;
        let tags: Vec<&str> = rules.tag_names().map(TagName::as_str).collect();
        assert_eq!(tags, ["a", "b"]);
        assert_eq!(rules.stats().files, 2);
    }
}
