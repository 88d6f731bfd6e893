//! `channels/*.toml`: loading the marketer's rules, `check` diagnostics, and matching a touch
//! (follow, scan, menu click or link, text) to the tags it adds and the reply it gets.
//!
//! # Loading
//!
//! [`Rules::load`] reads every `*.toml` in the folder in file-name order and reports every
//! mistake it finds (not just the first) as a [`Diagnostic`] `file:line: message`. Warnings
//! do not stop a load; errors do.
//!
//! Where the file format leaves room: several files may each hold a `[follow]`, and they act
//! like rules (every one adds its tags, the first with a reply answers); a `[[qr]]` without a
//! `name` is shown by its scene; a `[[qr]]` needs neither tags nor a reply (it still counts
//! follows), while any other rule with neither gets a warning.
//!
//! # Matching
//!
//! [`Rules::evaluate`] costs the same with 10 rules or 10,000: scenes, click keys and exact
//! keywords are hash lookups, all `contains` keywords run as one Aho-Corasick automaton, all
//! regex keywords as one `RegexSet`, and VIEW URLs walk a byte trie of the configured prefixes.
//!
//! Every matching rule adds its tags (file order, then rule order; a tag is listed once, with
//! the first rule that gave it). The reply comes from the first matching rule that has a reply
//! variant holding for the lead's tags; a follow or scan through a channel with no such reply
//! falls back to `[follow]`'s. `[follow]` tags apply only to follows without a known scene; a
//! follow through a scene no file names counts as an organic follow.
//!
//! Keyword normalisation: the message and every keyword `text` are trimmed of surrounding
//! white space (including the full-width space). `exact` and `contains` ignore ASCII case
//! (`PDF` matches `pdf`; Chinese has no case). A `regex` is searched in the trimmed message as
//! written: it is case-sensitive unless it says `(?i)`, and matches anywhere unless anchored.
//! VIEW prefixes and click keys compare bytes exactly, as WeChat sends them back verbatim.

pub mod automation;
pub mod condition;
pub mod derive;
mod diagnostics;
mod file;
#[cfg(test)]
mod fixture;
mod form;
mod index;
pub mod lead_view;
mod link;
pub mod live;
mod load;
mod matcher;
mod menu;
pub mod notify;
pub mod preview;
mod qr;

use std::collections::{HashMap, HashSet};
use std::fmt;

use thiserror::Error;

use crate::domain::{EventName, FormId, LinkId, Scene, TagName};

use condition::PropFilter;

pub use diagnostics::{Diagnostic, Severity, report};
pub use form::{FieldKind, FieldTags, Form, FormField};
pub use link::{
    ARTICLE_FORM_PREFIX, ARTICLE_LINK_PREFIX, FORM_URL_MAX_BYTES, LINK_URL_MAX_BYTES, Link,
    LinkRef, RefKind, fill_links, link_refs,
};
pub use live::LiveRules;
pub use matcher::{Outcome, Touch};
pub use menu::{MenuFor, Menus};

use index::{KeywordIndex, PrefixTrie};
use matcher::Rule;

/// Position of a rule in [`Rules::rules`]: lower means earlier (file order, then rule order).
type RuleId = usize;

/// The typed rule set of one `channels/` folder, indexed for matching.
///
/// `Rules::default()` has no rules: nothing is tagged and nothing is answered.
#[derive(Debug, Default)]
pub struct Rules {
    /// Every rule, in precedence order.
    rules: Vec<Rule>,
    /// The `[follow]` sections (at most one per file).
    follow: Vec<RuleId>,
    /// The `[[qr]]` channels, in precedence order.
    channels: Vec<Channel>,
    /// Scene → index into `channels`.
    scenes: HashMap<Scene, usize>,
    /// CLICK key → its rule (keys are unique).
    clicks: HashMap<String, RuleId>,
    /// VIEW URL prefixes.
    views: PrefixTrie,
    /// `[[link]]` id → its destination and rule (ids are unique).
    links: HashMap<LinkId, Link>,
    /// `[[form]]` id → the form and its rule (ids are unique).
    forms: HashMap<FormId, Form>,
    /// `[[keyword]]` rules, all three kinds.
    keywords: KeywordIndex,
    /// `[[event]]` rules by event name, each with its `where`, in precedence order.
    events: HashMap<EventName, Vec<(RuleId, Option<PropFilter>)>>,
    /// The events whose properties some `where` or `sum` reads: only theirs are stored.
    event_props: HashSet<String>,
    /// Every distinct tag the rules add, in first-seen order.
    tags: Vec<TagName>,
    /// How many files were read.
    files: usize,
    /// The derived sections (`[[rule]]`, `[score]`, `[[tiers]]`, …).
    derived: derive::Derived,
    /// `[[automation]]`s, in file order.
    automations: Vec<automation::Automation>,
    /// What they wait for.
    watch: automation::Watch,
    /// `[[notify]]` targets by name (names are unique).
    notify: HashMap<crate::domain::NotifyName, notify::NotifyTarget>,
    /// The default `[menu]` and the `[[menu.for]]` menus.
    menus: Menus,
}

impl Rules {
    /// Every `[[automation]]`, in file order.
    pub fn automations(&self) -> &[automation::Automation] {
        &self.automations
    }

    /// What the automations wait for: the apply path asks it what a change fires.
    pub fn watch(&self) -> &automation::Watch {
        &self.watch
    }

    /// The `[[notify]]` target of this name, if one is in force.
    pub fn notify_target(&self, name: &crate::domain::NotifyName) -> Option<&notify::NotifyTarget> {
        self.notify.get(name)
    }

    /// The channel of a scene, if a `[[qr]]` names it.
    pub fn channel(&self, scene: &Scene) -> Option<&Channel> {
        self.scenes.get(scene).map(|&i| &self.channels[i])
    }

    /// Every channel, in file order then rule order.
    pub fn channels(&self) -> impl Iterator<Item = &Channel> {
        self.channels.iter()
    }

    /// Every distinct tag a rule can add, in the order the files first name them.
    pub fn tag_names(&self) -> impl Iterator<Item = &TagName> {
        self.tags.iter()
    }

    /// What a follower could do to touch these rules: scenes, click keys, VIEW prefixes and
    /// keyword texts (not regexes). `wxtag send` load runs draw from it.
    pub fn samples(&self) -> Samples {
        let mut click_keys: Vec<String> = self.clicks.keys().cloned().collect();
        click_keys.sort();
        Samples {
            scenes: self.channels.iter().map(|c| c.scene.to_string()).collect(),
            click_keys,
            view_urls: self
                .rules
                .iter()
                .filter_map(|r| r.source.as_str().strip_prefix("view:").map(str::to_owned))
                .collect(),
            keywords: self.keywords.texts.clone(),
        }
    }

    /// True when some condition's `where` or a `sum` tier reads the properties of the event
    /// `name`, so each such event's properties are stored on the lead.
    pub fn keeps_event_props(&self, name: &EventName) -> bool {
        self.event_props.contains(name.as_str())
    }

    /// Counts for `wxtag check`'s summary line.
    pub fn stats(&self) -> Stats {
        Stats {
            files: self.files,
            rules: self.rules.len(),
            tags: self.tags.len(),
        }
    }
}

/// What a follower could send to touch the rules; see [`Rules::samples`].
#[derive(Debug, Clone, Default)]
pub struct Samples {
    /// Every channel's scene.
    pub scenes: Vec<String>,
    /// Every CLICK key.
    pub click_keys: Vec<String>,
    /// Every VIEW URL prefix.
    pub view_urls: Vec<String>,
    /// Every `exact` and `contains` keyword text.
    pub keywords: Vec<String>,
}

/// One channel: a `[[qr]]` code, or a `[[channel]]` that only links carry (`?ch=<scene>`),
/// and what a touch through it means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Channel {
    /// The scene WeChat sends back (`scene_str`, or `scene_id` in decimal), or the `?ch=` of
    /// a link channel's links.
    pub scene: Scene,
    /// The name shown on the dashboard (the scene when the file gives none).
    pub name: String,
    /// The tags a touch through this channel adds.
    pub tags: Vec<TagName>,
    /// The channel's QR code; `None` for a `[[channel]]`, which has none.
    pub code: Option<QrCode>,
    /// This channel's rule.
    rule: RuleId,
}

/// What a `[[qr]]` says of its code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QrCode {
    /// A permanent code (`QR_LIMIT_*`) rather than a temporary one.
    pub permanent: bool,
    /// How long a temporary code lives, 1 to 30 days (30 unless the file says otherwise).
    pub expire_days: u32,
    /// The integer scene, when the file gave one; `None` for a `scene_str`.
    pub scene_id: Option<u32>,
}

/// Why a tag was applied: a short, stable string such as `qr:expo-2026` or `keyword:报价`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Source(String);

impl Source {
    fn follow() -> Self {
        Self("follow".to_owned())
    }

    fn of(kind: &str, what: &str) -> Self {
        Self(format!("{kind}:{what}"))
    }

    /// The source as text: `follow`, `qr:<scene>`, `click:<key>`, `view:<url prefix>`,
    /// `keyword:<text>`, `link:<id>`, `form:<id>` or `event:<name>`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Sizes of a rule set, for the `check` summary.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// `*.toml` files read.
    pub files: usize,
    /// Rules loaded (each `[follow]`, `[[qr]]`, `[[click]]`, `[[view]]`, `[[keyword]]`,
    /// `[[link]]`, `[[event]]`).
    pub rules: usize,
    /// Distinct tags the rules add.
    pub tags: usize,
}

/// A folder that loaded: the rules, and any warnings worth showing.
#[derive(Debug)]
pub struct Loaded {
    /// The rule set.
    pub rules: Rules,
    /// Doubts that did not stop the load.
    pub warnings: Vec<Diagnostic>,
}

/// A folder that did not load: every error and warning found, in file and line order.
#[derive(Debug, Error)]
#[error("{} in the channels folder:{}", diagnostics::count(.errors.len(), "error"), lines(.errors))]
pub struct CheckFailed {
    /// What must be fixed.
    pub errors: Vec<Diagnostic>,
    /// Doubts found along the way.
    pub warnings: Vec<Diagnostic>,
    /// What was read before giving up, for the summary.
    pub stats: Stats,
}

fn lines(diags: &[Diagnostic]) -> String {
    diags.iter().map(|d| format!("\n{d}")).collect()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::path::Path;

    use super::condition::Facts;
    use super::fixture::{folder, rules};
    use super::*;
    use crate::domain::UnixTime;
    use crate::wechat::reply::Reply;

    fn text(reply: Option<&Reply>) -> Option<&str> {
        match reply? {
            Reply::Text(t) => Some(t),
            _ => None,
        }
    }

    #[test]
    fn the_shipped_channels_folder_loads_clean() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("channels");
        let loaded = match Rules::load(&dir) {
            Ok(loaded) => loaded,
            Err(failed) => panic!("channels/ must load: {failed}"),
        };
        assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
        let rules = loaded.rules;
        let stats = rules.stats();
        assert_eq!(stats.files, 8);
        assert!(rules.derives(), "the example shows the rules over time");
        let automations: Vec<&str> = rules
            .automations()
            .iter()
            .map(|a| a.name.as_str())
            .collect();
        assert_eq!(automations, ["商机提醒", "资料跟进", "PLC 沉默提醒"]);
        assert!(stats.tags <= 100);

        let scenes: Vec<&str> = rules.channels().map(|c| c.scene.as_str()).collect();
        assert_eq!(
            scenes,
            [
                "expo-2026",
                "website",
                "1001",
                "sales-wanglei",
                "ad-spring-2026",
                "ad-baidu"
            ]
        );
        let baidu = rules.channel(&Scene::parse("ad-baidu").unwrap()).unwrap();
        assert!(baidu.code.is_none(), "the example shows a link channel");
        let whitepaper = LinkId::parse("whitepaper-2026").unwrap();
        assert!(rules.link(&whitepaper).is_some(), "and a tracked link");
        let menus = rules.menus();
        assert_eq!(menus.default.as_ref().map(Vec::len), Some(3));
        let sales: Vec<&str> = menus.tags().map(TagName::as_str).collect();
        assert_eq!(sales, ["来源:销售名片"], "a menu for the sales rep's card");
        let ad = rules
            .channel(&Scene::parse("ad-spring-2026").unwrap())
            .unwrap();
        assert!(!ad.code.unwrap().permanent);

        // The website code has no reply of its own: the [follow] welcome answers.
        let website = Scene::parse("website").unwrap();
        let o = rules.evaluate(&Touch::Follow {
            scene: Some(&website),
        });
        let none = BTreeSet::new();
        let untagged = Facts::of_tags(&none);
        assert!(
            text(o.reply(&untagged, UnixTime(0)))
                .unwrap()
                .starts_with("欢迎关注")
        );

        // The tag-driven trial reply from product.md.
        let o = rules.evaluate(&Touch::Text { content: "试用" });
        let plc = BTreeSet::from(["兴趣:PLC".to_owned()]);
        let plc = Facts::of_tags(&plc);
        let plc_reply = text(o.reply(&plc, UnixTime(0))).unwrap();
        assert!(plc_reply.starts_with("PLC 样机试用申请") && plc_reply.contains("{form:trial}"));
        assert!(
            text(o.reply(&untagged, UnixTime(0)))
                .unwrap()
                .starts_with("请问")
        );
    }

    #[test]
    fn ten_thousand_keyword_rules_match_through_the_shared_indexes() {
        // 10 files of 1,000 rules: 450 exact, 450 contains, 100 regex each; 100 distinct tags.
        let files: Vec<(String, String)> = (0..10)
            .map(|f| {
                let body: String = (f * 1000..(f + 1) * 1000)
                    .map(|i| {
                        let (kind, text) = match i % 10 {
                            0 => ("regex", format!("^r{i}-\\\\d+$")),
                            1..=5 => ("exact", format!("Exact{i}")),
                            _ => ("contains", format!("#{i}#")),
                        };
                        format!(
                            "[[keyword]]\nmatch = \"{kind}\"\ntext = \"{text}\"\ntags = [\"t{}\"]\nreply = \"reply {i}\"\n\n",
                            i % 100
                        )
                    })
                    .collect();
                (format!("{f:02}.toml"), body)
            })
            .collect();
        let named: Vec<(&str, &str)> = files
            .iter()
            .map(|(n, b)| (n.as_str(), b.as_str()))
            .collect();
        let rules = rules(&named);
        assert_eq!(rules.stats().rules, 10_000);
        assert_eq!(rules.stats().tags, 100);

        let sources = |content: &str| -> Vec<String> {
            let o = rules.evaluate(&Touch::Text { content });
            o.tags.iter().map(|(t, s)| format!("{t}={s}")).collect()
        };
        assert_eq!(sources("  EXACT9001 "), ["t1=keyword:Exact9001"]);
        assert_eq!(sources("exact9006"), Vec::<String>::new()); // a contains rule's number
        assert_eq!(
            sources("need #7#, #77# and #9999# please"),
            ["t7=keyword:#7#", "t77=keyword:#77#", "t99=keyword:#9999#"]
        );
        assert_eq!(sources("r5550-12"), ["t50=keyword:^r5550-\\d+$"]);
        assert_eq!(sources("r5551-12"), Vec::<String>::new());

        let o = rules.evaluate(&Touch::Text {
            content: "#9999# then #17#",
        });
        let none = BTreeSet::new();
        let reply = o.reply(&Facts::of_tags(&none), UnixTime(0));
        assert_eq!(text(reply), Some("reply 17"));
    }

    #[test]
    fn report_prints_each_diagnostic_then_a_summary() {
        let dir = folder(&[
            (
                "10-expo.toml",
                "[[qr]]\nscene = \"expo-2026\"\ntags = [\"来源:展会\"]\n\n[[qr]]\nscene = \"expo 2026\"\n",
            ),
            ("20-menu.toml", "[[click]]\nkey = \"A\"\n"),
        ]);
        let result = Rules::load(dir.path());
        let (out, ok) = report(Path::new("channels"), &result);
        assert!(!ok);
        let expo = dir.path().join("10-expo.toml");
        let menu = dir.path().join("20-menu.toml");
        assert_eq!(
            out,
            format!(
                "{}:6: scene \"expo 2026\" has a space; use 1-64 of A-Z a-z 0-9 _ -\n\
                 {}:1: warning: [[click]] has no tags and no reply, so it does nothing\n\
                 channels/: 2 files, 2 rules, 1 tag, 1 error, 1 warning\n",
                expo.display(),
                menu.display()
            )
        );

        let (out, ok) = report(
            Path::new("channels/"),
            &Ok(Loaded {
                rules: Rules::default(),
                warnings: Vec::new(),
            }),
        );
        assert!(ok);
        assert_eq!(
            out,
            "channels/: 0 files, 0 rules, 0 tags, 0 errors, 0 warnings\n"
        );
    }

    #[test]
    fn rules_can_be_shared_across_worker_threads() {
        fn shareable<T: Send + Sync>() {}
        shareable::<Rules>();
    }

    #[test]
    fn check_failed_lists_every_error() {
        let failed = super::fixture::load(&[("a.toml", "[[clik]]\n[[qr]]\nscene = 0\n")])
            .expect_err("two errors");
        let shown = failed.to_string();
        assert!(
            shown.starts_with("2 errors in the channels folder:\n"),
            "{shown}"
        );
        assert!(shown.contains("a.toml:1: unknown section `clik`"));
        assert!(shown.contains("a.toml:3: scene_id 0 is out of range"));
    }
}
