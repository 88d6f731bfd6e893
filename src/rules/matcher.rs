//! Matching one touch against the rules: which tags it adds, which channel it came through,
//! and which reply it gets once the lead is known (its tags, or its whole state when a
//! reply's `when` reads more).

use std::collections::HashSet;

use crate::domain::{EventName, FormId, LinkId, Scene, TagName, UnixTime};
use crate::wechat::reply::Reply;

use super::condition::{Condition, Facts};
use super::{Channel, RuleId, Rules, Source};

/// One thing a follower did, as far as the rules care.
#[derive(Debug, Clone, Copy)]
pub enum Touch<'a> {
    /// A follow; `scene` is the QR scene when it came through a parametric code.
    Follow {
        /// The scene from `qrscene_…`, if any.
        scene: Option<&'a Scene>,
    },
    /// A scan of a parametric code by someone who already follows.
    Scan {
        /// The scene scanned.
        scene: &'a Scene,
    },
    /// A custom-menu CLICK button.
    Click {
        /// The button's key.
        key: &'a str,
    },
    /// A custom-menu VIEW button (a link).
    View {
        /// The URL opened.
        url: &'a str,
    },
    /// A text message.
    Text {
        /// What the follower wrote.
        content: &'a str,
    },
    /// A tracked link followed with the lead's valid token.
    Link {
        /// The `[[link]]`'s id.
        id: &'a LinkId,
        /// The channel the link was opened through (`?ch=<scene>`), if it named one.
        channel: Option<&'a Scene>,
    },
    /// A lead form submitted by the lead.
    Form {
        /// The `[[form]]`'s id.
        id: &'a FormId,
        /// The channel the form was opened through (`?ch=<scene>`), if it named one.
        channel: Option<&'a Scene>,
    },
    /// A custom event from another system (`POST /api/events`).
    Event {
        /// Its name.
        name: &'a EventName,
        /// Its properties, which `[[event]]`s' `where` test.
        props: &'a serde_json::Map<String, serde_json::Value>,
    },
}

/// One loaded rule: where its tags come from, the tags, and its reply, if any.
#[derive(Debug)]
pub(super) struct Rule {
    pub(super) source: Source,
    pub(super) tags: Vec<TagName>,
    pub(super) answer: Option<Answer>,
    /// True for a keyword rule with `do_not_contact = true`: the lead asks not to be
    /// contacted (e.g. `退订`), and no send or broadcast reaches it afterwards.
    pub(super) do_not_contact: bool,
}

/// A rule's reply: one or more variants, tried in order.
#[derive(Debug)]
pub(super) struct Answer(pub(super) Vec<Variant>);

/// A reply and the condition under which it is sent (`None`: always).
#[derive(Debug)]
pub(super) struct Variant {
    pub(super) when: Option<Condition>,
    pub(super) reply: Reply,
}

/// What a touch means under the rules.
#[derive(Debug)]
pub struct Outcome<'r> {
    /// The tags to add, each with the rule that gave it, in precedence order, no duplicates.
    pub tags: Vec<(&'r TagName, &'r Source)>,
    /// The channel of a follow or scan through a known QR scene.
    pub channel: Option<&'r Channel>,
    /// The replies to try, in order.
    answers: Vec<&'r Answer>,
    /// The sources of every rule the touch matched, tags or not, in precedence order.
    matched: Vec<&'r Source>,
    /// The first matched rule that asks not to contact the lead (`do_not_contact = true`).
    do_not_contact: Option<&'r Source>,
}

impl<'r> Outcome<'r> {
    /// The `when` of every candidate variant that has one.
    fn whens(&self) -> impl Iterator<Item = &'r Condition> + '_ {
        self.answers
            .iter()
            .flat_map(|a| a.0.iter())
            .filter_map(|v| v.when.as_ref())
    }

    /// The source of the first matched rule with `do_not_contact = true`, as a touch record
    /// takes it; `None` when no matched rule asks not to contact the lead.
    pub fn do_not_contact(&self) -> Option<&'r str> {
        self.do_not_contact.map(Source::as_str)
    }

    /// The tags to add, each with its source as text, as a touch record takes them.
    pub fn tag_sources(&self) -> Vec<(&'r TagName, &'r str)> {
        self.tags
            .iter()
            .map(|(tag, source)| (*tag, source.as_str()))
            .collect()
    }

    /// True when choosing the reply depends on the lead: some candidate has a `when`.
    /// When false, the store need not read the lead's tags back.
    pub fn reply_needs_tags(&self) -> bool {
        self.whens().next().is_some()
    }

    /// True when some candidate's `when` needs more than the lead's tags (its profile, score
    /// or history): the reply is then chosen with the lead's whole state.
    pub fn reply_needs_state(&self) -> bool {
        self.whens().any(|w| !w.only_tags())
    }

    /// The reply to send, given the lead after this touch: the first variant whose `when`
    /// holds at `now`, of the first matching rule that has one. `None`: answer `success`.
    /// [`Facts::of_tags`] is enough unless [`Self::reply_needs_state`].
    pub fn reply(&self, facts: &Facts, now: UnixTime) -> Option<&'r Reply> {
        self.answers
            .iter()
            .flat_map(|a| a.0.iter())
            .find(|v| v.when.as_ref().is_none_or(|w| w.holds(facts, now)))
            .map(|v| &v.reply)
    }
}

impl Rules {
    /// Matches a touch: the tags it adds, its channel, and the candidate replies.
    pub fn evaluate(&self, touch: &Touch) -> Outcome<'_> {
        let mut matched: Vec<RuleId> = Vec::new();
        let mut channel = None;
        match *touch {
            Touch::Follow { scene } => match scene.and_then(|s| self.channel(s)) {
                Some(c) => channel = Some(c),
                None => matched.extend(&self.follow),
            },
            Touch::Scan { scene } => channel = self.channel(scene),
            Touch::Click { key } => matched.extend(self.clicks.get(key)),
            Touch::View { url } => self.views.matches(url, &mut matched),
            Touch::Text { content } => self.keywords.matches(content, &mut matched),
            Touch::Link { id, channel: via } => {
                matched.extend(self.links.get(id).map(|l| l.rule));
                channel = via.and_then(|s| self.channel(s));
            }
            Touch::Form { id, channel: via } => {
                matched.extend(self.forms.get(id).map(|f| f.rule));
                channel = via.and_then(|s| self.channel(s));
            }
            Touch::Event { name, props } => {
                let rules = self.events.get(name).into_iter().flatten();
                matched.extend(rules.filter_map(|(rule, filter)| {
                    filter
                        .as_ref()
                        .is_none_or(|f| f.passes(props))
                        .then_some(*rule)
                }));
            }
        }
        if let Some(c) = channel {
            matched.push(c.rule);
        }
        matched.sort_unstable();
        matched.dedup();

        let mut seen = HashSet::new();
        let mut tags = Vec::new();
        for rule in matched.iter().map(|&id| &self.rules[id]) {
            for tag in &rule.tags {
                if seen.insert(tag) {
                    tags.push((tag, &rule.source));
                }
            }
        }
        // Through a known channel, `[follow]`'s reply is the fallback (its tags are not added).
        let fallback: &[RuleId] = if channel.is_some() { &self.follow } else { &[] };
        let answers = matched
            .iter()
            .chain(fallback)
            .filter_map(|&id| self.rules[id].answer.as_ref())
            .collect();
        Outcome {
            tags,
            channel,
            answers,
            matched: matched.iter().map(|&id| &self.rules[id].source).collect(),
            do_not_contact: (matched.iter().map(|&id| &self.rules[id]))
                .find(|rule| rule.do_not_contact)
                .map(|rule| &rule.source),
        }
    }

    /// The touch keys a touch counts as in the touch history: the source of every rule it
    /// matched (even one that adds no tag), `follow` for any follow, and `qr:<scene>` or
    /// `click:<key>` when a derived section names it though no touch rule does.
    pub fn history_keys<'s>(&'s self, touch: &Touch, outcome: &Outcome<'s>) -> Vec<&'s str> {
        let mut keys: Vec<&str> = outcome.matched.iter().map(|s| s.as_str()).collect();
        let named = match *touch {
            Touch::Follow { scene } => {
                keys.push("follow");
                scene.and_then(|s| self.derived.named_key("qr", s.as_str()))
            }
            Touch::Scan { scene } => self.derived.named_key("qr", scene.as_str()),
            Touch::Click { key } => self.derived.named_key("click", key),
            Touch::View { .. }
            | Touch::Text { .. }
            | Touch::Link { .. }
            | Touch::Form { .. }
            | Touch::Event { .. } => None,
        };
        keys.extend(named);
        keys.sort_unstable();
        keys.dedup();
        keys
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixture::rules;
    use super::*;

    /// The outcome's tags as `tag <- source`.
    fn tags(o: &Outcome) -> Vec<String> {
        o.tags.iter().map(|(t, s)| format!("{t} <- {s}")).collect()
    }

    /// The reply's text (or `news:<first title>`) for a lead holding `held`.
    fn reply(o: &Outcome, held: &[&str]) -> Option<String> {
        let held = held.iter().map(|t| (*t).to_owned()).collect();
        match o.reply(&Facts::of_tags(&held), UnixTime(0))? {
            Reply::Text(t) => Some(t.clone()),
            Reply::News(a) => Some(format!("news:{}", a[0].title)),
            Reply::Image { media_id } => Some(format!("image:{media_id}")),
        }
    }

    fn scene(s: &str) -> Scene {
        Scene::parse(s).unwrap()
    }

    const FOLLOW: &str = r#"
[follow]
tags = ["来源:自然关注"]
reply = "welcome"
"#;

    const CHANNELS: &str = r#"
[[qr]]
scene = "expo-2026"
name = "展台"
tags = ["来源:展会", "活动:工博会2026"]
reply = "expo thanks"
permanent = true

[[qr]]
scene = 1001
tags = ["来源:手册"]
expire_days = 7
"#;

    const MENU: &str = r#"
[[click]]
key = "MENU_PRODUCT_A"
tags = ["兴趣:产品A"]
news = [{ title = "产品A" }]

[[view]]
url = "https://example.com/"
tags = ["访问:官网"]

[[view]]
url = "https://example.com/cases/"
tags = ["兴趣:客户案例"]
reply = "cases"
"#;

    const KEYWORDS: &str = r#"
[[keyword]]
text = "PDF"
tags = ["意向:资料"]
reply = "pdf"

[[keyword]]
match = "contains"
text = "报价"
tags = ["意向:询价"]

[[keyword]]
match = "regex"
text = '^1[3-9]\d{9}$'
tags = ["意向:留电话"]
reply = "phone"

[[keyword]]
match = "contains"
text = "价"
tags = ["意向:询价", "意向:价格"]
reply = "price"
"#;

    fn sample() -> Rules {
        rules(&[
            ("00-follow.toml", FOLLOW),
            ("10-qr.toml", CHANNELS),
            ("20-menu.toml", MENU),
            ("30-keywords.toml", KEYWORDS),
        ])
    }

    #[test]
    fn every_rule_kind_matches() {
        let r = sample();

        let o = r.evaluate(&Touch::Follow { scene: None });
        assert_eq!(tags(&o), ["来源:自然关注 <- follow"]);
        assert_eq!(o.channel, None);
        assert_eq!(reply(&o, &[]).as_deref(), Some("welcome"));

        let expo = scene("expo-2026");
        let o = r.evaluate(&Touch::Follow { scene: Some(&expo) });
        assert_eq!(
            tags(&o),
            [
                "来源:展会 <- qr:expo-2026",
                "活动:工博会2026 <- qr:expo-2026"
            ]
        );
        let channel = o.channel.expect("known scene");
        assert_eq!(
            (channel.name.as_str(), channel.code.unwrap().permanent),
            ("展台", true)
        );
        assert_eq!(reply(&o, &[]).as_deref(), Some("expo thanks"));

        let o = r.evaluate(&Touch::Scan { scene: &expo });
        assert_eq!(tags(&o).len(), 2);
        assert_eq!(reply(&o, &[]).as_deref(), Some("expo thanks"));

        let o = r.evaluate(&Touch::Click {
            key: "MENU_PRODUCT_A",
        });
        assert_eq!(tags(&o), ["兴趣:产品A <- click:MENU_PRODUCT_A"]);
        assert_eq!(reply(&o, &[]).as_deref(), Some("news:产品A"));
        assert!(
            r.evaluate(&Touch::Click {
                key: "menu_product_a"
            })
            .tags
            .is_empty()
        );

        let o = r.evaluate(&Touch::View {
            url: "https://example.com/cases/auto-line",
        });
        assert_eq!(
            tags(&o),
            [
                "访问:官网 <- view:https://example.com/",
                "兴趣:客户案例 <- view:https://example.com/cases/"
            ]
        );
        assert_eq!(reply(&o, &[]).as_deref(), Some("cases"));

        let o = r.evaluate(&Touch::Text { content: " pdf\n" });
        assert_eq!(tags(&o), ["意向:资料 <- keyword:PDF"]);
        assert_eq!(reply(&o, &[]).as_deref(), Some("pdf"));
        assert!(
            r.evaluate(&Touch::Text {
                content: "pdf please"
            })
            .tags
            .is_empty()
        );

        let o = r.evaluate(&Touch::Text {
            content: "13800000000",
        });
        assert_eq!(tags(&o), ["意向:留电话 <- keyword:^1[3-9]\\d{9}$"]);
        assert_eq!(reply(&o, &[]).as_deref(), Some("phone"));
    }

    #[test]
    fn every_matching_rule_adds_tags_once_and_the_first_with_a_reply_answers() {
        let r = sample();
        // "报价" (no reply) and "价" (reply) both match; the first tag source wins.
        let o = r.evaluate(&Touch::Text {
            content: "请问报价多少",
        });
        assert_eq!(
            tags(&o),
            ["意向:询价 <- keyword:报价", "意向:价格 <- keyword:价",]
        );
        assert_eq!(reply(&o, &[]).as_deref(), Some("price"));
    }

    #[test]
    fn file_order_then_rule_order_decides_precedence() {
        let r = rules(&[
            (
                "20-b.toml",
                "[[keyword]]\nmatch = \"contains\"\ntext = \"试\"\ntags = [\"b\"]\nreply = \"from b\"\n",
            ),
            (
                "10-a.toml",
                "[[keyword]]\nmatch = \"contains\"\ntext = \"试用\"\ntags = [\"a1\"]\n\n\
                 [[keyword]]\nmatch = \"regex\"\ntext = \"试\"\ntags = [\"a2\"]\nreply = \"from a2\"\n\n\
                 [[keyword]]\ntext = \"试用\"\ntags = [\"a3\"]\nreply = \"from a3\"\n",
            ),
        ]);
        let o = r.evaluate(&Touch::Text { content: "试用" });
        assert_eq!(
            tags(&o),
            [
                "a1 <- keyword:试用",
                "a2 <- keyword:试",
                "a3 <- keyword:试用",
                "b <- keyword:试"
            ]
        );
        assert_eq!(reply(&o, &[]).as_deref(), Some("from a2"));
    }

    #[test]
    fn tag_driven_variants_pick_the_first_that_holds() {
        let r = rules(&[(
            "k.toml",
            r#"
[[keyword]]
text = "试用"
tags = ["意向:试用"]
[[keyword.reply]]
when = { all = ["兴趣:产品A", "行业:汽车"] }
text = "A for cars"
[[keyword.reply]]
when = { any = ["兴趣:产品A", "兴趣:产品B"] }
text = "A or B"
[[keyword.reply]]
when = { none = ["意向:试用"] }
text = "unreachable: the lead has just been tagged"
[[keyword.reply]]
text = "default"
"#,
        )]);
        let o = r.evaluate(&Touch::Text { content: "试用" });
        let trial = "意向:试用";
        assert_eq!(
            reply(&o, &[trial, "兴趣:产品A", "行业:汽车"]).as_deref(),
            Some("A for cars")
        );
        assert_eq!(reply(&o, &[trial, "兴趣:产品A"]).as_deref(), Some("A or B"));
        assert_eq!(reply(&o, &[trial, "兴趣:产品B"]).as_deref(), Some("A or B"));
        assert_eq!(reply(&o, &[trial]).as_deref(), Some("default"));
        assert_eq!(
            reply(&o, &[]).as_deref(),
            Some("unreachable: the lead has just been tagged")
        );
    }

    #[test]
    fn a_rule_whose_variants_all_fail_gives_way_to_the_next_rule() {
        let r = rules(&[(
            "k.toml",
            r#"
[[keyword]]
text = "demo"
[[keyword.reply]]
when = { any = ["vip"] }
text = "vip demo"

[[keyword]]
match = "contains"
text = "dem"
reply = "generic"
"#,
        )]);
        let o = r.evaluate(&Touch::Text { content: "demo" });
        assert_eq!(reply(&o, &["vip"]).as_deref(), Some("vip demo"));
        assert_eq!(reply(&o, &[]).as_deref(), Some("generic"));
    }

    #[test]
    fn a_channel_without_a_reply_falls_back_to_follows_reply_but_not_its_tags() {
        let r = rules(&[("00-follow.toml", FOLLOW), ("10-qr.toml", CHANNELS)]);
        let brochure = scene("1001");
        for touch in [
            Touch::Follow {
                scene: Some(&brochure),
            },
            Touch::Scan { scene: &brochure },
        ] {
            let o = r.evaluate(&touch);
            assert_eq!(tags(&o), ["来源:手册 <- qr:1001"]);
            assert_eq!(reply(&o, &[]).as_deref(), Some("welcome"));
            let channel = o.channel.expect("brochure channel");
            assert_eq!(channel.code.unwrap().scene_id, Some(1001));
            assert_eq!(channel.code.unwrap().expire_days, 7);
            assert!(!channel.code.unwrap().permanent);
        }
    }

    #[test]
    fn an_unknown_scene_is_an_organic_follow_and_an_unknown_scan_does_nothing() {
        let r = rules(&[("00-follow.toml", FOLLOW), ("10-qr.toml", CHANNELS)]);
        let stranger = scene("last_trade_no_42");
        let o = r.evaluate(&Touch::Follow {
            scene: Some(&stranger),
        });
        assert_eq!(tags(&o), ["来源:自然关注 <- follow"]);
        assert_eq!(o.channel, None);
        assert_eq!(reply(&o, &[]).as_deref(), Some("welcome"));

        let o = r.evaluate(&Touch::Scan { scene: &stranger });
        assert!(o.tags.is_empty() && o.channel.is_none());
        assert_eq!(reply(&o, &[]), None);
    }

    #[test]
    fn no_rules_means_no_tags_and_no_reply() {
        let r = Rules::default();
        let o = r.evaluate(&Touch::Follow { scene: None });
        assert!(o.tags.is_empty());
        assert_eq!(reply(&o, &[]), None);
        assert!(r.evaluate(&Touch::Text { content: "hi" }).tags.is_empty());
        assert!(
            r.evaluate(&Touch::View { url: "https://x" })
                .tags
                .is_empty()
        );
    }

    #[test]
    fn a_when_over_the_leads_history_needs_its_state_and_is_chosen_with_it() {
        let r = rules(&[(
            "k.toml",
            r#"
[[click]]
key = "MENU_PLC"
tags = ["兴趣:PLC"]
[[click.reply]]
when = { all = ["兴趣:PLC", { count = ["click:MENU_PLC"], at_least = 3, within_days = 30 }] }
text = "third time: call us"
[[click.reply]]
when = { tag_prefix = "兴趣:" }
text = "interested"
"#,
        )]);
        let o = r.evaluate(&Touch::Click { key: "MENU_PLC" });
        assert!(o.reply_needs_tags() && o.reply_needs_state());
        let mut lead = crate::store::LeadState::default();
        let held = ["兴趣:PLC".to_owned()].into_iter().collect();
        let now = UnixTime(1_796_083_200);
        let text = |lead: &crate::store::LeadState| match o.reply(
            &Facts {
                lead,
                tags: &held,
                score: None,
            },
            now,
        ) {
            Some(Reply::Text(t)) => t.clone(),
            other => panic!("{other:?}"),
        };
        for _ in 0..2 {
            lead.history.record("click:MENU_PLC", now);
        }
        assert_eq!(text(&lead), "interested");
        lead.history.record("click:MENU_PLC", now);
        assert_eq!(text(&lead), "third time: call us");
        let tags_only = rules(&[(
            "k.toml",
            "[[click]]\nkey = \"A\"\n[[click.reply]]\nwhen = { none = [{ tag_prefix = \"x\" }] }\ntext = \"y\"\n",
        )]);
        let o = tags_only.evaluate(&Touch::Click { key: "A" });
        assert!(o.reply_needs_tags() && !o.reply_needs_state());
    }

    #[test]
    fn only_a_conditional_reply_needs_the_leads_tags() {
        let rules = rules(&[(
            "10.toml",
            "[[click]]\nkey = \"PLAIN\"\nreply = \"hi\"\n\n\
             [[click]]\nkey = \"TAGGED\"\n[[click.reply]]\nwhen = { any = [\"a\"] }\ntext = \"x\"\n\
             [[click.reply]]\ntext = \"y\"\n",
        )]);
        let needs = |key| rules.evaluate(&Touch::Click { key }).reply_needs_tags();
        assert!(!needs("PLAIN"));
        assert!(needs("TAGGED"));
        assert!(!needs("UNKNOWN"));
    }
}
