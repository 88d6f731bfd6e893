//! The rules over time on hand-built leads: thresholds, windows, decay, stages, groups,
//! preferences, expiry, previews, and the `check` mistakes of the derived sections.

use std::collections::BTreeSet;

use super::super::fixture::{load, rules};
use super::super::{Rules, Touch};
use super::PreviewRow;
use crate::domain::{Scene, TagName, UnixTime};
use crate::store::history::{BUCKET_SECS, TouchHistory, bucket_of};
use crate::store::{LeadState, StateTag};

const DAY: i64 = 86_400;
/// 2025-12-01 10:02 China time, in the middle of an hour.
const T0: i64 = 1_764_554_520;

/// A subscribed lead first seen at `T0` holding `tags` (`name`, `at`, `source`) with `touches`
/// (`touch key`, `at`) in its history.
fn lead(tags: &[(&str, i64, &str)], touches: &[(&str, i64)]) -> LeadState {
    let mut history = TouchHistory::default();
    for &(key, at) in touches {
        history.record(key, UnixTime(at));
    }
    LeadState {
        version: 1,
        first_seen: Some(UnixTime(T0)),
        last_seen: touches.iter().map(|&(_, at)| UnixTime(at)).max(),
        first_channel: Some(String::new()),
        subscribed: Some(true),
        tags: tags
            .iter()
            .map(|&(name, at, source)| StateTag {
                name: TagName::parse(name).unwrap(),
                at: UnixTime(at),
                source: source.to_owned(),
            })
            .collect(),
        history,
        ..LeadState::default()
    }
}

/// The lead once a derivation's changes are applied at `at` (what the store does).
fn applied(rules: &Rules, mut lead: LeadState, at: i64) -> LeadState {
    let d = rules.derive(&lead, UnixTime(at));
    lead.tags
        .retain(|t| !d.remove.iter().any(|(r, _)| r == &t.name));
    for (name, source) in d.add {
        lead.tags.push(StateTag {
            name,
            at: UnixTime(at),
            source,
        });
    }
    lead
}

fn names(changes: &[(TagName, String)]) -> Vec<String> {
    changes.iter().map(|(t, s)| format!("{t} <- {s}")).collect()
}

/// The end of the hour bucket a moment falls in.
fn bucket_end(at: i64) -> i64 {
    (bucket_of(UnixTime(at)) + 1) * BUCKET_SECS
}

const SCORE: &str = r#"
[[click]]
key = "REQUEST_QUOTE"
reply = "quote"

[score]
points = { "follow" = 5, "click:REQUEST_QUOTE" = 20, "keyword:报价" = 15 }
half_life_days = 30

[[tiers]]
name = "线索等级"
of = "score"
levels = [ { at_least = 60, tag = "等级:A" }, { at_least = 25, tag = "等级:B" }, { at_least = 0, tag = "等级:C" } ]
"#;

#[test]
fn tiers_move_with_the_score_as_it_decays_and_next_due_is_the_crossing() {
    let rules = rules(&[("a.toml", SCORE)]);
    let quotes = [("click:REQUEST_QUOTE", T0); 3];
    let l = lead(&[], &quotes);
    let d = rules.derive(&l, UnixTime(T0));
    assert_eq!(
        d.score,
        Some(60.0),
        "reached exactly when the touch happens"
    );
    assert_eq!(names(&d.add), ["等级:A <- tiers:线索等级"]);
    // Full points until the touch's hour is over, then it decays below 60 at once.
    assert_eq!(d.next_due, Some(UnixTime(bucket_end(T0) + 1)));

    let l = applied(&rules, l, T0);
    let at = bucket_end(T0) + 1;
    let d = rules.derive(&l, UnixTime(at));
    assert_eq!(names(&d.add), ["等级:B <- tiers:线索等级"]);
    assert_eq!(names(&d.remove), ["等级:A <- tiers:线索等级"]);
    let crossing = d.next_due.unwrap().0;
    // 60 × 2^(−age/30 days) falls below 25 after 30 × log2(60/25) ≈ 37.9 days.
    let expected = bucket_end(T0) as f64 + 30.0 * DAY as f64 * (60.0f64 / 25.0).log2();
    assert!(
        (crossing as f64 - expected).abs() <= 1.0,
        "{crossing} vs {expected}"
    );
    let l = applied(&rules, l, at);
    assert!(rules.derive(&l, UnixTime(crossing - 1)).is_unchanged());
    let d = rules.derive(&l, UnixTime(crossing));
    assert_eq!(names(&d.add), ["等级:C <- tiers:线索等级"]);
    assert_eq!(d.next_due, None, "the lowest level holds for ever");
    assert_eq!(d.tags, BTreeSet::from(["等级:C".to_owned()]));
}

#[test]
fn touches_that_add_no_tag_still_count() {
    let rules = rules(&[("a.toml", SCORE)]);
    // The [[click]] only replies; the keyword has no rule at all, only points.
    let key = "REQUEST_QUOTE";
    let click = Touch::Click { key };
    let o = rules.evaluate(&click);
    assert!(o.tags.is_empty());
    assert_eq!(rules.history_keys(&click, &o), ["click:REQUEST_QUOTE"]);
    let other = Touch::Click { key: "UNKNOWN" };
    assert!(
        rules
            .history_keys(&other, &rules.evaluate(&other))
            .is_empty()
    );
    let scene = Scene::parse("expo").unwrap();
    let follow = Touch::Follow {
        scene: Some(&scene),
    };
    assert_eq!(
        rules.history_keys(&follow, &rules.evaluate(&follow)),
        ["follow"]
    );

    let l = lead(
        &[],
        &[
            ("click:REQUEST_QUOTE", T0),
            ("keyword:报价", T0),
            ("follow", T0),
        ],
    );
    assert_eq!(rules.derive(&l, UnixTime(T0)).score, Some(40.0));
}

const COUNT: &str = r#"
[[click]]
key = "MENU_PLC"
reply = "plc"

[[tiers]]
name = "PLC 意向"
of = { count = ["click:MENU_PLC", "keyword:PLC"], within_days = 30 }
levels = [ { at_least = 3, tag = "意向:PLC高" } ]
"#;

#[test]
fn a_count_reaches_its_threshold_exactly_and_leaves_with_its_window() {
    let loaded = load(&[("a.toml", COUNT)]).unwrap();
    assert!(
        loaded.warnings[0]
            .message
            .contains("a lead below it holds no tag"),
        "{:?}",
        loaded.warnings
    );
    let rules = loaded.rules;
    let two = lead(&[], &[("click:MENU_PLC", T0), ("keyword:PLC", T0 + 60)]);
    let d = rules.derive(&two, UnixTime(T0 + 60));
    assert!(d.add.is_empty(), "2 touches: no tag");
    assert_eq!(
        d.next_due, None,
        "below every level, nothing changes by time"
    );

    let three = lead(
        &[],
        &[
            ("click:MENU_PLC", T0),
            ("keyword:PLC", T0 + 60),
            ("click:MENU_PLC", T0 + 2 * DAY),
        ],
    );
    let d = rules.derive(&three, UnixTime(T0 + 2 * DAY));
    assert_eq!(names(&d.add), ["意向:PLC高 <- tiers:PLC 意向"]);
    // The first touch leaves the window 30 days after its hour ends: the tag goes then.
    let leaves = bucket_end(T0) + 30 * DAY;
    assert_eq!(d.next_due, Some(UnixTime(leaves)));
    let held = applied(&rules, three, T0 + 2 * DAY);
    assert!(rules.derive(&held, UnixTime(leaves - 1)).is_unchanged());
    let d = rules.derive(&held, UnixTime(T0 + 31 * DAY));
    assert_eq!(names(&d.remove), ["意向:PLC高 <- tiers:PLC 意向"]);
    assert!(d.tags.is_empty());
}

const GROUPS: &str = r#"
[[click]]
key = "IND_AUTO"
tags = ["行业:汽车"]

[[click]]
key = "IND_FOOD"
tags = ["行业:食品"]

[[group]]
prefix = "行业:"

[[expire]]
tags = ["活动:工博会2026"]
after_days = 90

[[qr]]
scene = "expo-2026"
tags = ["活动:工博会2026"]
"#;

#[test]
fn an_exclusive_group_keeps_the_most_recently_applied() {
    let rules = rules(&[("a.toml", GROUPS)]);
    let l = lead(
        &[
            ("行业:汽车", T0, "click:IND_AUTO"),
            ("行业:食品", T0 + DAY, "click:IND_FOOD"),
        ],
        &[("click:IND_AUTO", T0), ("click:IND_FOOD", T0 + DAY)],
    );
    let d = rules.derive(&l, UnixTime(T0 + DAY));
    assert_eq!(names(&d.remove), ["行业:汽车 <- group:行业:"]);
    assert_eq!(d.tags, BTreeSet::from(["行业:食品".to_owned()]));
    // Clicking the first again later re-applies it: now it is the newer one.
    let mut again = l.clone();
    again
        .history
        .record("click:IND_AUTO", UnixTime(T0 + 2 * DAY));
    assert_eq!(
        names(&rules.derive(&again, UnixTime(T0 + 2 * DAY)).remove),
        ["行业:食品 <- group:行业:"]
    );
}

#[test]
fn a_tag_expires_exactly_after_days_after_it_was_last_applied() {
    let rules = rules(&[("a.toml", GROUPS)]);
    let rescan = T0 + 10 * DAY;
    let l = lead(
        &[("活动:工博会2026", T0, "qr:expo-2026")],
        &[("qr:expo-2026", T0), ("qr:expo-2026", rescan)],
    );
    let lapses = rescan + 90 * DAY;
    let d = rules.derive(&l, UnixTime(T0 + DAY));
    assert!(d.is_unchanged());
    assert_eq!(d.next_due, Some(UnixTime(lapses)));
    assert!(rules.derive(&l, UnixTime(lapses - 1)).is_unchanged());
    let d = rules.derive(&l, UnixTime(lapses));
    assert_eq!(names(&d.remove), ["活动:工博会2026 <- expire"]);
    assert_eq!(d.next_due, None);
}

const PREFERENCE: &str = r#"
[[click]]
key = "PLC"
tags = ["兴趣:PLC"]

[[click]]
key = "HMI"
tags = ["兴趣:HMI"]

[[preference]]
name = "主要兴趣"
among = "兴趣:"
within_days = 90
tag = "偏好:{}"
"#;

#[test]
fn a_preference_goes_to_the_most_touched_and_ties_to_the_most_recent() {
    let rules = rules(&[("a.toml", PREFERENCE)]);
    assert!(rules.is_derived("偏好:PLC"));
    assert!(!rules.is_derived("兴趣:PLC"));
    let synced: Vec<&str> = rules.tag_names().map(TagName::as_str).collect();
    assert_eq!(
        synced,
        ["兴趣:PLC", "兴趣:HMI", "偏好:HMI", "偏好:PLC"],
        "made ahead, like any tag"
    );
    let l = lead(
        &[],
        &[
            ("click:PLC", T0),
            ("click:HMI", T0 + 60),
            ("click:PLC", T0 + 2 * DAY),
            ("click:HMI", T0 + 3 * DAY),
        ],
    );
    let d = rules.derive(&l, UnixTime(T0 + 3 * DAY));
    assert_eq!(
        names(&d.add),
        ["偏好:HMI <- preference:主要兴趣"],
        "2 each: the most recent wins"
    );
    assert_eq!(d.next_due, Some(UnixTime(bucket_end(T0) + 90 * DAY)));
    let held = applied(&rules, l, T0 + 3 * DAY);
    let why = rules.why(&held, UnixTime(T0 + 3 * DAY));
    assert_eq!(why[0].0, "偏好:HMI");
    assert!(
        why[0]
            .1
            .starts_with("2 touches of 兴趣:HMI in 90 days, last "),
        "{why:?}"
    );

    let mut more = held.clone();
    more.history.record("click:PLC", UnixTime(T0 + 4 * DAY));
    let d = rules.derive(&more, UnixTime(T0 + 4 * DAY));
    assert_eq!(names(&d.add), ["偏好:PLC <- preference:主要兴趣"]);
    assert_eq!(names(&d.remove), ["偏好:HMI <- preference:主要兴趣"]);
    // Once every touch has left the window, no preference is held.
    let d = rules.derive(&more, UnixTime(T0 + 100 * DAY));
    assert!(d.add.is_empty());
    assert_eq!(names(&d.remove), ["偏好:HMI <- preference:主要兴趣"]);
    assert_eq!(d.next_due, None);
}

#[test]
fn preview_counts_equal_what_derive_does() {
    let rules = rules(&[
        ("a.toml", SCORE),
        ("b.toml", PREFERENCE),
        ("c.toml", RULE),
        ("d.toml", LIFECYCLE),
    ]);
    let plc = [
        ("click:MENU_PRODUCT_A", T0),
        ("click:MENU_PRODUCT_A", T0),
        ("keyword:PLC", T0),
    ];
    let leads = [
        lead(&[], &[("click:REQUEST_QUOTE", T0); 3]),
        lead(&[("等级:A", T0, "tiers:线索等级")], &[("follow", T0)]),
        lead(&[], &[("click:PLC", T0)]),
        lead(&[], &[]),
        lead(&[("阶段:沉默", T0, "lifecycle")], &plc),
    ];
    let now = UnixTime(T0 + 60);
    let mut rows = rules.preview_rows();
    for l in &leads {
        rules.preview(l, now, &mut rows);
    }
    let row = |kind, name: &str, tag, untag| PreviewRow {
        kind,
        name: name.to_owned(),
        tag,
        untag,
    };
    assert_eq!(
        rows,
        [
            row("rule", "PLC 高意向", 1, 0),
            row("tiers", "线索等级", 5, 1),
            row("lifecycle", "阶段:流失", 0, 0),
            row("lifecycle", "阶段:商机", 0, 0),
            row("lifecycle", "阶段:新线索", 5, 0),
            row("lifecycle", "阶段:活跃", 0, 0),
            row("lifecycle", "阶段:沉默", 0, 1),
            row("preference", "主要兴趣", 1, 0),
        ]
    );
    // Every lead here changes at most one tag per row, so the rows add up to the changes.
    let derived: Vec<_> = leads.iter().map(|l| rules.derive(l, now)).collect();
    let adds: u64 = derived.iter().map(|d| d.add.len() as u64).sum();
    let removes: u64 = derived.iter().map(|d| d.remove.len() as u64).sum();
    let (tagged, untagged) = rows
        .iter()
        .fold((0, 0), |(t, u), r| (t + r.tag, u + r.untag));
    assert_eq!((adds, removes), (tagged, untagged));
}

#[test]
fn the_fingerprint_follows_the_derived_sections_only() {
    let a = rules(&[("a.toml", SCORE)]).derived_fingerprint();
    assert_eq!(a, rules(&[("a.toml", SCORE)]).derived_fingerprint());
    let with_keyword = format!("{SCORE}\n[[keyword]]\ntext = \"hi\"\nreply = \"hello\"\n");
    assert_eq!(a, rules(&[("a.toml", &with_keyword)]).derived_fingerprint());
    let slower = SCORE.replace("half_life_days = 30", "half_life_days = 45");
    assert_ne!(a, rules(&[("a.toml", &slower)]).derived_fingerprint());
    assert!(rules(&[("a.toml", SCORE)]).derives());
    assert!(!rules(&[("a.toml", "[[click]]\nkey = \"A\"\nreply = \"a\"\n")]).derives());
}

/// The diagnostics of a folder that must fail, as `file:line: message` without the folder.
fn errors(files: &[(&str, &str)], history_days: u32) -> Vec<String> {
    let dir = super::super::fixture::folder(files);
    let failed = Rules::load_with(dir.path(), history_days).expect_err("must fail");
    let prefix = format!("{}/", dir.path().display());
    failed
        .errors
        .iter()
        .map(|d| d.to_string().replacen(&prefix, "", 1))
        .collect()
}

#[test]
fn check_reports_derived_mistakes_at_file_and_line() {
    let owned = "[[click]]\nkey = \"A\"\ntags = [\"等级:A\"]\n";
    let said = errors(&[("a.toml", SCORE), ("b.toml", owned)], 90);
    assert_eq!(said.len(), 1, "{said:?}");
    assert!(said[0].starts_with("a.toml:13: tag \"等级:A\" is derived by [[tiers]] \"线索等级\" and also given by click:A"), "{said:?}");

    let second = "[[keyword]]\ntext = \"x\"\nreply = \"y\"\n\n[score]\npoints = { follow = 1 }\nhalf_life_days = 7\n";
    let said = errors(&[("a.toml", SCORE), ("b.toml", second)], 90);
    assert_eq!(said.len(), 1, "{said:?}");
    assert!(
        said[0].starts_with("b.toml:5: [score] is already written at "),
        "{said:?}"
    );
    assert!(said[0].contains("a.toml:6;"), "{said:?}");

    let said = errors(&[("a.toml", PREFERENCE)], 60);
    assert_eq!(said.len(), 1, "{said:?}");
    assert!(said[0].starts_with("a.toml:13: [[preference]] \"主要兴趣\": within_days is 90 days, longer than the touch history (60 days"), "{said:?}");

    let said = errors(
        &[
            (
                "a.toml",
                &format!(
                    "{GROUPS}\n[[group]]\nprefix = \"活动:\"\n[[expire]]\ntags = [\"偏好:x\"]\nafter_days = 500\n"
                ),
            ),
            ("b.toml", PREFERENCE),
        ],
        90,
    );
    assert!(
        said.iter()
            .any(|s| s.contains("after_days is 500 days, longer than the touch history")),
        "{said:?}"
    );

    let bad = "[[preference]]\nname = \"p\"\namong = \"兴趣:\"\nwithin_days = 9\ntag = \"偏好\"\n\n[[tiers]]\nname = \"t\"\nof = \"score\"\nlevels = [ { at_least = 1, tag = \"x\" }, { at_least = 2, tag = \"y\" } ]\n";
    let said = errors(&[("a.toml", bad)], 90);
    assert_eq!(said.len(), 3, "{said:?}");
    assert!(
        said[0]
            .starts_with("a.toml:5: [[preference]] \"p\": tag \"偏好\" must hold {} exactly once"),
        "{said:?}"
    );
    assert!(
        said[1].starts_with("a.toml:9: [[tiers]] \"t\" reads the score, but no file has a [score]"),
        "{said:?}"
    );
    assert!(
        said[2].starts_with("a.toml:10: [[tiers]] \"t\": at_least 2 is not below"),
        "{said:?}"
    );
}

const RULE: &str = r#"
[[click]]
key = "MENU_PRODUCT_A"
reply = "a"

[[keyword]]
text = "PLC"
reply = "plc"

[[rule]]
name = "PLC 高意向"
when = { count = ["click:MENU_PRODUCT_A", "keyword:PLC"], at_least = 3, within_days = 30 }
tags = ["意向:PLC高"]
"#;

#[test]
fn a_rule_tag_comes_at_its_threshold_exactly_and_goes_when_its_window_passes() {
    let rules = rules(&[("a.toml", RULE)]);
    assert!(rules.is_derived("意向:PLC高"));
    let text = Touch::Text { content: "PLC" };
    assert_eq!(
        rules.history_keys(&text, &rules.evaluate(&text)),
        ["keyword:PLC"],
        "a reply-only rule still counts"
    );

    let two = lead(
        &[],
        &[("click:MENU_PRODUCT_A", T0), ("keyword:PLC", T0 + 60)],
    );
    assert!(
        rules.derive(&two, UnixTime(T0 + 60)).add.is_empty(),
        "2 touches: no tag"
    );
    let mut three = two.clone();
    three.history.record("keyword:PLC", UnixTime(T0 + 2 * DAY));
    let d = rules.derive(&three, UnixTime(T0 + 2 * DAY));
    assert_eq!(
        names(&d.add),
        ["意向:PLC高 <- rule:PLC 高意向"],
        "the third touch tags"
    );
    let leaves = bucket_end(T0) + 30 * DAY;
    assert_eq!(
        d.next_due,
        Some(UnixTime(leaves)),
        "when the first touch leaves the window"
    );

    let held = applied(&rules, three, T0 + 2 * DAY);
    let why = rules.why(&held, UnixTime(T0 + 2 * DAY));
    assert_eq!(why[0].0, "意向:PLC高");
    assert!(why[0].1.contains('3'), "{why:?}");
    assert!(rules.derive(&held, UnixTime(leaves - 1)).is_unchanged());
    let d = rules.derive(&held, UnixTime(T0 + 31 * DAY));
    assert_eq!(names(&d.remove), ["意向:PLC高 <- rule:PLC 高意向"]);
    assert!(d.tags.is_empty());
}

const LIFECYCLE: &str = r#"
[[keyword]]
match = "contains"
text = "报价"
tags = ["意向:询价"]

[lifecycle]
stages = [
  { tag = "阶段:流失",   when = { subscribed = false } },
  { tag = "阶段:商机",   when = { any = ["意向:询价", "意向:试用"] } },
  { tag = "阶段:新线索", when = { first_seen_within_days = 7 } },
  { tag = "阶段:活跃",   when = { last_seen_within_days = 30 } },
  { tag = "阶段:沉默",   when = { inactive_days = 30 } },
]
"#;

#[test]
fn a_lead_holds_one_stage_at_all_times_from_follow_to_unfollow() {
    let rules = rules(&[("a.toml", LIFECYCLE)]);
    let stages = |l: &LeadState| -> Vec<String> {
        l.tags
            .iter()
            .filter(|t| t.name.as_str().starts_with("阶段:"))
            .map(|t| t.name.to_string())
            .collect()
    };
    // Follow: a new lead. The scheduler comes back when the stage can change.
    let mut l = applied(&rules, lead(&[], &[("follow", T0)]), T0);
    assert_eq!(stages(&l), ["阶段:新线索"]);
    let due = rules
        .derive(&l, UnixTime(T0))
        .next_due
        .expect("the new-lead window closes");
    assert!(due.0 > T0 && due.0 <= T0 + 7 * DAY + BUCKET_SECS, "{due:?}");
    // Each moment the scheduler would act on: one stage, never none, never two.
    let mut at = due.0;
    while at < T0 + 31 * DAY {
        l = applied(&rules, l, at);
        assert_eq!(stages(&l).len(), 1, "at {at}: {:?}", stages(&l));
        at = rules
            .derive(&l, UnixTime(at))
            .next_due
            .map_or(i64::MAX, |t| t.0);
    }
    l = applied(&rules, l, T0 + 8 * DAY);
    assert_eq!(stages(&l), ["阶段:活跃"]);
    // Quiet for 30 days.
    l = applied(&rules, l, T0 + 31 * DAY);
    assert_eq!(stages(&l), ["阶段:沉默"]);
    // Intent: asking for a price adds 意向:询价 (a touch tag), the stage follows.
    l.history.record("keyword:报价", UnixTime(T0 + 40 * DAY));
    l.last_seen = Some(UnixTime(T0 + 40 * DAY));
    l.tags.push(StateTag {
        name: TagName::parse("意向:询价").unwrap(),
        at: UnixTime(T0 + 40 * DAY),
        source: "keyword:报价".to_owned(),
    });
    let d = rules.derive(&l, UnixTime(T0 + 40 * DAY));
    assert_eq!(d.stage.as_ref().map(TagName::as_str), Some("阶段:商机"));
    assert_eq!(names(&d.remove), ["阶段:沉默 <- lifecycle"]);
    l = applied(&rules, l, T0 + 40 * DAY);
    assert_eq!(stages(&l), ["阶段:商机"]);
    // Unfollow.
    l.subscribed = Some(false);
    l = applied(&rules, l, T0 + 41 * DAY);
    assert_eq!(stages(&l), ["阶段:流失"]);
    assert_eq!(rules.derive(&l, UnixTime(T0 + 41 * DAY)).next_due, None);
}

#[test]
fn a_rule_tag_a_touch_rule_also_gives_is_refused() {
    let touch = "[[click]]\nkey = \"B\"\ntags = [\"意向:PLC高\"]\n";
    let said = errors(&[("a.toml", RULE), ("b.toml", touch)], 90);
    assert_eq!(said.len(), 1, "{said:?}");
    assert!(
        said[0].starts_with("a.toml:13: tag \"意向:PLC高\" is derived by [[rule]] \"PLC 高意向\" and also given by click:B"),
        "{said:?}"
    );
    let long = RULE.replace("within_days = 30", "within_days = 120");
    let said = errors(&[("a.toml", &long)], 90);
    assert_eq!(said.len(), 1, "{said:?}");
    assert!(said[0].starts_with("a.toml:12: "), "{said:?}");
    assert!(
        said[0].contains("120 days is longer than the 90 days of touch history"),
        "{said:?}"
    );
    let group = "[[group]]\nprefix = \"意向:\"\n";
    let said = errors(&[("a.toml", RULE), ("b.toml", group)], 90);
    assert!(
        said[0].starts_with(
            "b.toml:2: [[group]] prefix \"意向:\" covers the derived tag \"意向:PLC高\""
        ),
        "{said:?}"
    );
}

#[test]
fn a_sum_tier_adds_up_event_properties_in_its_window() {
    let tiers = r#"
[[tiers]]
name = "客户价值"
of = { sum = { event = "order", prop = "amount" }, within_days = 90 }
levels = [ { at_least = 1000, tag = "价值:高" }, { at_least = 0, tag = "价值:普通" } ]
"#;
    let rules = rules(&[("a.toml", tiers)]);
    let order = |at: i64, amount: serde_json::Value| crate::store::EventRecord {
        name: "order".to_owned(),
        at: UnixTime(at),
        props: serde_json::Map::from_iter([("amount".to_owned(), amount)]),
    };
    let mut l = lead(&[], &[]);
    l.events = vec![order(T0, 600.into()), order(T0 + 10 * DAY, "500".into())];
    let d = rules.derive(&l, UnixTime(T0 + 10 * DAY));
    assert_eq!(
        names(&d.add),
        ["价值:高 <- tiers:客户价值"],
        "600 + \"500\" reaches 1000"
    );
    assert_eq!(d.next_due, Some(UnixTime(bucket_end(T0) + 90 * DAY)));
    let held = applied(&rules, l, T0 + 10 * DAY);
    let d = rules.derive(&held, UnixTime(bucket_end(T0) + 90 * DAY));
    assert_eq!(names(&d.add), ["价值:普通 <- tiers:客户价值"]);
    assert_eq!(names(&d.remove), ["价值:高 <- tiers:客户价值"]);
}

#[test]
fn a_tier_measure_that_is_not_one_is_refused_at_its_line() {
    let of = |measure: &str| {
        format!(
            "[[tiers]]\nname = \"t\"\nof = {measure}\nlevels = [ {{ at_least = 0, tag = \"x\" }} ]\n"
        )
    };
    for (measure, says) in [
        (
            "{ count = [\"tap:x\"], within_days = 5 }",
            "\"tap:x\" is not a touch key",
        ),
        ("{ count = [], within_days = 5 }", "count has no touch keys"),
        (
            "{ count = [\"follow\"], within_days = 0 }",
            "within_days is 0; give 1 to 90 days",
        ),
        ("{ count = [\"follow\"] }", "missing field `within_days`"),
        (
            "{ count = [\"follow\"], within_days = 5, every = 1 }",
            "unknown field `every`",
        ),
        ("\"points\"", "`of` is not a measure"),
    ] {
        let said = errors(&[("a.toml", &of(measure))], 90);
        assert_eq!(said.len(), 1, "{measure}: {said:?}");
        assert!(
            said[0].starts_with("a.toml:3: [[tiers]] \"t\": "),
            "{said:?}"
        );
        assert!(said[0].contains(says), "{measure}: {said:?}");
    }
}

#[test]
fn why_says_in_words_what_gave_each_tag() {
    let rules = rules(&[("a.toml", SCORE), ("b.toml", GROUPS)]);
    let l = lead(
        &[
            ("等级:A", T0, "tiers:线索等级"),
            ("活动:工博会2026", T0, "qr:expo-2026"),
            ("行业:汽车", T0, "click:IND_AUTO"),
            ("vip", T0, "admin"),
        ],
        &[
            ("click:REQUEST_QUOTE", T0),
            ("click:REQUEST_QUOTE", T0),
            ("click:REQUEST_QUOTE", T0),
            ("click:REQUEST_QUOTE", T0),
        ],
    );
    let why = rules.why(&l, UnixTime(T0));
    let at = "2025-12-01 10:02";
    assert_eq!(
        why,
        [
            (
                "等级:A".to_owned(),
                "score 80, level 等级:A ≥ 60".to_owned()
            ),
            (
                "活动:工博会2026".to_owned(),
                format!("QR code expo-2026, {at}")
            ),
            ("行业:汽车".to_owned(), format!("menu click IND_AUTO, {at}")),
            ("vip".to_owned(), format!("added by sales, {at}")),
        ]
    );
}

#[test]
fn history_keys_name_what_a_derived_section_counts_even_without_a_touch_rule() {
    let files = r#"
[[qr]]
scene = "expo-2026"

[score]
points = { "click:ONLY_SCORED" = 3, "qr:flyer" = 2 }
half_life_days = 10
"#;
    let rules = rules(&[("a.toml", files)]);
    let keys = |touch: Touch| {
        rules
            .history_keys(&touch, &rules.evaluate(&touch))
            .join(" ")
    };
    let expo = Scene::parse("expo-2026").unwrap();
    let flyer = Scene::parse("flyer").unwrap();
    let other = Scene::parse("other").unwrap();
    assert_eq!(
        keys(Touch::Follow { scene: Some(&expo) }),
        "follow qr:expo-2026"
    );
    assert_eq!(keys(Touch::Scan { scene: &expo }), "qr:expo-2026");
    assert_eq!(
        keys(Touch::Follow {
            scene: Some(&flyer)
        }),
        "follow qr:flyer"
    );
    assert_eq!(keys(Touch::Scan { scene: &flyer }), "qr:flyer");
    assert_eq!(keys(Touch::Scan { scene: &other }), "");
    assert_eq!(
        keys(Touch::Click { key: "ONLY_SCORED" }),
        "click:ONLY_SCORED"
    );
    assert_eq!(keys(Touch::Text { content: "hello" }), "");
}

#[test]
fn a_second_lifecycle_and_unknown_keys_are_refused_at_their_lines() {
    let again = "[lifecycle]\nstages = [ { tag = \"阶段:x\", when = { subscribed = true } } ]\n";
    let said = errors(&[("a.toml", LIFECYCLE), ("b.toml", again)], 90);
    assert_eq!(said.len(), 1, "{said:?}");
    assert!(
        said[0].starts_with("b.toml:1: [lifecycle] is already written at "),
        "{said:?}"
    );

    let typo = "[[group]]\nprefix = \"行业:\"\nprefixes = [\"x\"]\n\n[[expire]]\ntags = [\"a\"]\nafter_day = 3\n";
    let said = errors(&[("a.toml", typo)], 90);
    assert_eq!(said.len(), 3, "{said:?}");
    assert_eq!(said[1], "a.toml:5: [[expire]]: missing field `after_days`");
    assert!(
        said[0].starts_with("a.toml:3: [[group]]: unknown field `prefixes`"),
        "{said:?}"
    );
    assert!(
        said[2].starts_with("a.toml:7: [[expire]]: unknown field `after_day`"),
        "{said:?}"
    );
}

#[test]
fn a_preference_pattern_that_makes_a_tag_too_long_for_wechat_is_refused() {
    let long = PREFERENCE.replace("tag = \"偏好:{}\"", "tag = \"主要的行为偏好是这个:{}\"");
    let said = errors(&[("a.toml", &long)], 90);
    assert_eq!(said.len(), 2, "{said:?}");
    assert!(
        said[1].starts_with(
            "a.toml:14: [[preference]] \"主要兴趣\" would make an invalid tag from \"兴趣:PLC\""
        ),
        "{said:?}"
    );
}

#[test]
fn a_tier_list_without_a_level_at_0_is_a_warning_except_for_a_sum_of_orders() {
    let tiers = |of: &str| {
        format!(
            "[score]\npoints = {{ follow = 5 }}\nhalf_life_days = 30\n\n[[tiers]]\nname = \"t\"\n\
             of = {of}\nlevels = [ {{ at_least = 10, tag = \"t:高\" }}, {{ at_least = 1, tag = \"t:低\" }} ]\n"
        )
    };
    let score = load(&[("a.toml", &tiers("\"score\""))]).unwrap();
    assert_eq!(score.warnings.len(), 1, "{:?}", score.warnings);
    assert!(
        score.warnings[0]
            .message
            .contains("add a level at_least = 0")
    );
    let sum = tiers(r#"{ sum = { event = "order", prop = "amount" }, within_days = 90 }"#);
    let sum = load(&[("a.toml", &sum)]).unwrap();
    assert!(
        sum.warnings.is_empty(),
        "no order, no tier: {:?}",
        sum.warnings
    );
}
