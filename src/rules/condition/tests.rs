//! The condition language: parsing (TOML and JSON alike, errors with paths), evaluation at
//! the windows' exact edges, the next change, the words, the checks.

use std::collections::BTreeSet;

use serde_json::json;

use super::*;
use crate::rules::Severity;
use crate::rules::fixture::rules;
use crate::store::EventRecord;
use crate::store::history::{BUCKET_SECS, bucket_of, leaves_window};

const DAY: i64 = 86_400;
/// 2026-12-01 00:00 UTC, an hour boundary (08:00 in China).
const T0: i64 = 1_796_083_200;

fn toml(text: &str) -> Result<Condition, ConditionError> {
    let doc: toml::Table = toml::from_str(&format!("when = {text}")).expect("test TOML");
    Condition::from_toml(&doc["when"])
}

fn cond(text: &str) -> Condition {
    toml(text).unwrap_or_else(|e| panic!("{text}: {e}"))
}

fn error(text: &str) -> String {
    toml(text).expect_err(text).to_string()
}

fn tags(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|t| (*t).to_owned()).collect()
}

fn at(secs: i64) -> UnixTime {
    UnixTime(T0 + secs)
}

/// A lead that clicked MENU_PLC three times (T0, T0 + 1 day, T0 + 2 days) and wrote "PLC"
/// once (T0 + 2 days + 30 min), first seen through expo-2026 at T0, following.
fn lead() -> LeadState {
    let mut lead = LeadState {
        first_seen: Some(at(0)),
        last_seen: Some(at(2 * DAY + 1_800)),
        first_channel: Some("expo-2026".to_owned()),
        channels: vec!["website".to_owned()],
        subscribed: Some(true),
        ..LeadState::default()
    };
    lead.fields
        .insert("company".to_owned(), "某某机械".to_owned());
    lead.fields.insert("phone".to_owned(), " ".to_owned());
    for t in [0, DAY, 2 * DAY] {
        lead.history.record("click:MENU_PLC", at(t));
    }
    lead.history.record("keyword:PLC", at(2 * DAY + 1_800));
    lead
}

fn holds(c: &Condition, lead: &LeadState, held: &[&str], now: UnixTime) -> bool {
    let held = tags(held);
    c.holds(
        &Facts {
            lead,
            tags: &held,
            score: None,
        },
        now,
    )
}

#[test]
fn toml_and_json_give_the_same_tree() {
    let written = r#"{ all = [
        "兴趣:PLC",
        { any = [{ tag_prefix = "行业:" }, { channel = "expo-2026" }, { first_channel = 1001 }] },
        { none = [{ subscribed = false }, { inactive_days = 30 }] },
        { first_seen_within_days = 7 },
        { last_seen_within_days = 30 },
        { score = { at_least = 60, at_most = 99.5 } },
        { field = "company", exists = true },
        { count = ["click:MENU_PLC", "keyword:PLC"], at_least = 3, within_days = 30 },
        { event = "order", at_least = 1, within_days = 90, where = { amount = { at_least = 1000 }, city = { in = ["上海", "苏州"] } } },
    ] }"#;
    let json = json!({ "all": [
        "兴趣:PLC",
        { "any": [{ "tag_prefix": "行业:" }, { "channel": "expo-2026" }, { "first_channel": 1001 }] },
        { "none": [{ "subscribed": false }, { "inactive_days": 30 }] },
        { "first_seen_within_days": 7 },
        { "last_seen_within_days": 30 },
        { "score": { "at_least": 60, "at_most": 99.5 } },
        { "field": "company", "exists": true },
        { "count": ["click:MENU_PLC", "keyword:PLC"], "at_least": 3, "within_days": 30 },
        { "event": "order", "at_least": 1, "within_days": 90,
          "where": { "amount": { "at_least": 1000 }, "city": { "in": ["上海", "苏州"] } } },
    ] });
    let from_toml = cond(written);
    assert_eq!(Condition::from_json(&json), Ok(from_toml.clone()));
    let Node::All(children) = &from_toml.node else {
        panic!("{from_toml:?}")
    };
    assert_eq!(children.len(), 9);
    assert_eq!(children[0], Node::Tag(TagName::parse("兴趣:PLC").unwrap()));
    assert!(matches!(&children[1], Node::Any(c) if c.len() == 3));
    assert!(matches!(
        &children[7],
        Node::Count(Window { keys, at_least: 3, at_most: None, days: 30 }) if keys.len() == 2
    ));
    assert!(matches!(&children[8], Node::Event { filter, .. } if filter.len() == 2));
    // Today's reply `when` keeps its meaning.
    let old = cond(r#"{ all = ["兴趣:PLC"] }"#);
    assert!(old.only_tags());
    assert_eq!(
        cond(r#""兴趣:PLC""#).node,
        Node::Tag(TagName::parse("兴趣:PLC").unwrap())
    );
}

#[test]
fn combinators_nest_to_any_depth_and_bounds_have_defaults() {
    let deep = (0..20).fold("\"x\"".to_owned(), |inner, i| {
        let key = ["all", "any", "none"][i % 3];
        format!("{{ {key} = [{inner}] }}")
    });
    assert!(toml(&deep).is_ok());
    let too_deep = (0..40).fold("\"x\"".to_owned(), |inner, _| {
        format!("{{ all = [{inner}] }}")
    });
    assert!(error(&too_deep).contains("nested more than 32 deep"));

    let w = |text: &str| match cond(text).node {
        Node::Count(w) | Node::Event { window: w, .. } => (w.at_least, w.at_most),
        other => panic!("{other:?}"),
    };
    assert_eq!(w(r#"{ count = ["follow"], within_days = 3 }"#), (1, None));
    assert_eq!(
        w(r#"{ count = ["follow"], at_most = 2, within_days = 3 }"#),
        (0, Some(2))
    );
    assert_eq!(w(r#"{ event = "order", within_days = 3 }"#), (1, None));
    assert_eq!(
        cond(r#"{ field = "company" }"#).node,
        Node::Field {
            name: "company".to_owned(),
            exists: true
        }
    );
}

#[test]
fn every_mistake_names_its_path() {
    let cases = [
        (
            r#"{ all = ["a", "b", { count = ["follow"], within_days = 4000 }] }"#,
            "all[2].within_days: must be 1..=3650",
        ),
        (
            r#"{ any = ["a", { count = ["click:A", "tap:B"], within_days = 3 }] }"#,
            "any[1].count[1]: touch key",
        ),
        (
            r#"{ all = [] }"#,
            "all: is empty; give at least one condition",
        ),
        (r#"{ none = [{ any = [] }] }"#, "none[0].any: is empty"),
        (
            r#"{ all = ["a"], colour = 1 }"#,
            "colour: unknown field `colour`",
        ),
        (
            r#"{ tag = "a", channel = "b" }"#,
            "channel: `channel` cannot share a table with `tag`",
        ),
        (
            r#"{ colour = "red" }"#,
            "colour: unknown field `colour`; a condition is one of",
        ),
        (r#"{ count = ["follow"] }"#, "within_days: missing"),
        (r#"{ count = [], within_days = 1 }"#, "count: is empty"),
        (
            r#"{ count = ["follow", "click:A", "follow"], within_days = 1 }"#,
            "count[2]: `follow` is listed twice (first at count[0])",
        ),
        (
            r#"{ count = ["follow"], within_days = 0 }"#,
            "within_days: must be 1..=3650",
        ),
        (
            r#"{ count = ["follow"], within_days = 1.5 }"#,
            "within_days: must be 1..=3650",
        ),
        (
            r#"{ count = ["follow"], at_least = -1, within_days = 1 }"#,
            "at_least: must be a whole",
        ),
        (r#"{ score = {} }"#, "score: give at_least, at_most or both"),
        (r#"{ score = { above = 3 } }"#, "score.above: unknown field"),
        (
            r#"{ score = { at_least = "x" } }"#,
            "score.at_least: must be a number",
        ),
        (
            r#"{ subscribed = "yes" }"#,
            "subscribed: must be true or false",
        ),
        (
            r#"{ field = "company", exists = 1 }"#,
            "exists: must be true or false",
        ),
        (r#"{ channel = "expo 2026" }"#, "channel: scene"),
        (r#"{ tag = " a" }"#, "tag: tag name"),
        (r#"{ all = [3] }"#, "all[0]: must be a tag name or a table"),
        (
            r#"{ event = "order", within_days = 9, where = { amount = { above = 1 } } }"#,
            "where.amount.above: unknown operator `above`",
        ),
        (
            r#"{ event = "order", within_days = 9, where = { note = { regex = "(" } } }"#,
            "where.note.regex: not a valid regex",
        ),
        (
            r#"{ event = "order", within_days = 9, where = { n = 1 } }"#,
            "where.n: must be a table",
        ),
        (r#"{ event = "", within_days = 9 }"#, "event: touch key"),
        (r#"{}"#, "empty condition"),
    ];
    for (text, want) in cases {
        let said = error(text);
        assert!(
            said.starts_with(want),
            "{text}: said {said:?}, want {want:?}"
        );
    }
    let json = Condition::from_json(&json!({ "any": ["a", { "last_seen_within_days": "30" }] }));
    assert_eq!(json.unwrap_err().path, "any[1].last_seen_within_days");
}

#[test]
fn each_leaf_holds_on_its_own_facts() {
    let lead = lead();
    let now = at(3 * DAY);
    let yes = |text: &str| holds(&cond(text), &lead, &["兴趣:PLC", "行业:汽车"], now);
    assert!(yes(r#"{ tag = "兴趣:PLC" }"#) && !yes(r#"{ tag = "兴趣:HMI" }"#));
    assert!(yes(r#"{ tag_prefix = "行业:" }"#) && !yes(r#"{ tag_prefix = "意向:" }"#));
    assert!(yes(r#"{ channel = "expo-2026" }"#) && yes(r#"{ channel = "website" }"#));
    assert!(!yes(r#"{ channel = "ad" }"#));
    assert!(yes(r#"{ first_channel = "expo-2026" }"#) && !yes(r#"{ first_channel = "website" }"#));
    assert!(yes(r#"{ subscribed = true }"#) && !yes(r#"{ subscribed = false }"#));
    assert!(yes(r#"{ field = "company" }"#) && !yes(r#"{ field = "company", exists = false }"#));
    assert!(!yes(r#"{ field = "phone" }"#), "a blank value is not set");
    assert!(yes(r#"{ field = "email", exists = false }"#));
    assert!(yes(
        r#"{ count = ["click:MENU_PLC", "keyword:PLC"], at_least = 4, within_days = 30 }"#
    ));
    assert!(!yes(
        r#"{ count = ["click:MENU_PLC", "keyword:PLC"], at_least = 5, within_days = 30 }"#
    ));
    assert!(!yes(
        r#"{ count = ["click:MENU_PLC"], at_most = 2, within_days = 30 }"#
    ));
    assert!(yes(
        r#"{ count = ["click:MENU_PLC"], at_least = 2, at_most = 2, within_days = 2 }"#
    ));
    assert!(
        !yes(r#"{ score = { at_least = 0 } }"#),
        "no score configured"
    );
    assert!(yes(r#"{ all = ["兴趣:PLC", { none = ["意向:询价"] }] }"#));
    assert!(!yes(r#"{ any = ["意向:询价", { subscribed = false }] }"#));

    let never = LeadState::default();
    let c = |text: &str| holds(&cond(text), &never, &[], now);
    assert!(
        c(r#"{ inactive_days = 30 }"#),
        "a lead never seen is inactive"
    );
    assert!(!c(r#"{ last_seen_within_days = 30 }"#) && !c(r#"{ first_seen_within_days = 30 }"#));
    assert!(!c(r#"{ channel = "expo-2026" }"#));
}

#[test]
fn windows_hold_to_their_exact_edge() {
    let lead = lead();
    // The last MENU_PLC click is in the hour of T0 + 2 days: it leaves a 1-day window an hour
    // and a day after that hour starts.
    let c = cond(r#"{ count = ["click:MENU_PLC"], at_least = 1, within_days = 1 }"#);
    let leaves = leaves_window(bucket_of(at(2 * DAY)), 1);
    assert_eq!(leaves, at(3 * DAY + BUCKET_SECS));
    assert!(holds(&c, &lead, &[], UnixTime(leaves.0 - 1)));
    assert!(!holds(&c, &lead, &[], leaves));

    let first = cond(r#"{ first_seen_within_days = 7 }"#);
    assert!(holds(&first, &lead, &[], at(7 * DAY - 1)));
    assert!(!holds(&first, &lead, &[], at(7 * DAY)));

    let last_seen = lead.last_seen.unwrap().0;
    let seen = cond(r#"{ last_seen_within_days = 30 }"#);
    let quiet = cond(r#"{ inactive_days = 30 }"#);
    for now in [
        last_seen,
        last_seen + 30 * DAY - 1,
        last_seen + 30 * DAY,
        last_seen + 90 * DAY,
    ] {
        let now = UnixTime(now);
        assert_ne!(
            holds(&seen, &lead, &[], now),
            holds(&quiet, &lead, &[], now)
        );
    }
    assert!(holds(&quiet, &lead, &[], UnixTime(last_seen + 30 * DAY)));
    assert!(!holds(
        &quiet,
        &lead,
        &[],
        UnixTime(last_seen + 30 * DAY - 1)
    ));
}

#[test]
fn events_count_from_history_or_by_their_properties() {
    let mut lead = lead();
    lead.history.record("event:order", at(DAY));
    lead.history.record("event:order", at(2 * DAY));
    let event = |name: &str, at_: i64, props: serde_json::Value| EventRecord {
        name: name.to_owned(),
        at: at(at_),
        props: props.as_object().cloned().unwrap_or_default(),
    };
    lead.events = vec![
        event(
            "order",
            DAY,
            json!({ "amount": 800, "city": "上海", "sku": ["PLC-1"] }),
        ),
        event(
            "order",
            2 * DAY,
            json!({ "amount": "1500", "city": "苏州", "note": "急单 rush" }),
        ),
        event("quote", 2 * DAY, json!({ "amount": 5000 })),
    ];
    let now = at(3 * DAY);
    let n = |text: &str| holds(&cond(text), &lead, &[], now);
    assert!(n(r#"{ event = "order", at_least = 2, within_days = 30 }"#));
    assert!(!n(r#"{ event = "order", at_least = 3, within_days = 30 }"#));
    let one = |filter: &str| {
        let text = format!(
            "{{ event = \"order\", at_least = 1, at_most = 1, within_days = 30, where = {filter} }}"
        );
        n(&text)
    };
    assert!(
        one(r#"{ amount = { at_least = 1000 } }"#),
        "a number written as text counts"
    );
    assert!(one(r#"{ amount = { at_most = 1000 } }"#));
    assert!(one(r#"{ amount = { at_least = 500, at_most = 900 } }"#));
    assert!(one(r#"{ city = { equals = "上海" } }"#));
    assert!(one(r#"{ city = { in = ["苏州", "杭州"] } }"#));
    assert!(one(r#"{ note = { contains = "急单" } }"#));
    assert!(one(r#"{ note = { regex = "(?i)RUSH" } }"#));
    assert!(one(r#"{ note = { exists = true } }"#) && one(r#"{ note = { exists = false } }"#));
    assert!(
        one(r#"{ sku = { contains = "PLC-1" } }"#),
        "contains looks inside a list"
    );
    assert!(
        !one(r#"{ amount = { equals = 5000 } }"#),
        "other events do not count"
    );
    assert!(!n(
        r#"{ event = "order", within_days = 1, where = { amount = { at_most = 1000 } } }"#
    ));
    assert!(
        cond(r#"{ event = "order", within_days = 1 }"#).touch_keys()[0].as_str() == "event:order"
    );
}

#[test]
fn next_change_is_when_the_count_crosses_its_bound() {
    let lead = lead();
    let facts_at = |c: &Condition, now| {
        let held = BTreeSet::new();
        c.next_change(
            &Facts {
                lead: &lead,
                tags: &held,
                score: None,
            },
            now,
        )
    };
    // Four touches; at least 3 holds until the second-oldest bucket (T0 + 1 day) leaves.
    let three =
        cond(r#"{ count = ["click:MENU_PLC", "keyword:PLC"], at_least = 3, within_days = 30 }"#);
    let now = at(3 * DAY);
    let want = leaves_window(bucket_of(at(DAY)), 30);
    assert_eq!(facts_at(&three, now), Some(want));
    assert!(holds(&three, &lead, &[], UnixTime(want.0 - 1)));
    assert!(!holds(&three, &lead, &[], want));
    // At most 2 does not hold until two buckets have left.
    let at_most =
        cond(r#"{ count = ["click:MENU_PLC", "keyword:PLC"], at_most = 2, within_days = 30 }"#);
    assert_eq!(facts_at(&at_most, now), Some(want));
    // Below its bound and only falling: never.
    let five = cond(r#"{ count = ["click:MENU_PLC"], at_least = 5, within_days = 30 }"#);
    assert_eq!(facts_at(&five, now), None);
    // A lead going quiet: the day its last touch is 30 days old.
    let quiet = cond(r#"{ inactive_days = 30 }"#);
    let last = lead.last_seen.unwrap();
    assert_eq!(facts_at(&quiet, now), Some(UnixTime(last.0 + 30 * DAY)));
    assert_eq!(facts_at(&quiet, UnixTime(last.0 + 31 * DAY)), None);
    // A combinator: the earliest of its children; tags alone never change.
    let both =
        cond(r#"{ any = ["兴趣:PLC", { inactive_days = 30 }, { first_seen_within_days = 7 }] }"#);
    assert_eq!(facts_at(&both, now), Some(at(7 * DAY)));
    assert_eq!(
        facts_at(&cond(r#"{ all = ["a", { subscribed = true }] }"#), now),
        None
    );
}

#[test]
fn next_change_follows_the_decaying_score() {
    let lead = LeadState::default();
    let held = BTreeSet::new();
    // 80 points at T0, halving every 30 days.
    let decay = |t: UnixTime| 80.0 * 2f64.powf(-((t.0 - T0) as f64) / (30.0 * DAY as f64));
    let facts = Facts {
        lead: &lead,
        tags: &held,
        score: Some(Score(&decay)),
    };
    let sixty = cond(r#"{ score = { at_least = 60 } }"#);
    assert!(sixty.holds(&facts, at(0)));
    let drop = sixty.next_change(&facts, at(0)).expect("decays below 60");
    assert!(
        decay(UnixTime(drop.0 - 1)) >= 60.0 && decay(drop) < 60.0,
        "{drop:?}"
    );
    assert!(!sixty.holds(&facts, drop));
    // In a band: it enters from above, then leaves below.
    let band = cond(r#"{ score = { at_least = 20, at_most = 40 } }"#);
    let enter = band.next_change(&facts, at(0)).unwrap();
    assert_eq!(enter.0 - T0, 30 * DAY);
    assert!(band.holds(&facts, enter));
    let leave = band.next_change(&facts, enter).unwrap();
    assert_eq!(leave.0 - T0, 60 * DAY + 1);
    assert_eq!(band.next_change(&facts, leave), None);
    // Never earlier than a second ahead.
    let at_now = cond(r#"{ score = { at_least = 80 } }"#);
    assert_eq!(at_now.next_change(&facts, at(0)), Some(at(1)));
}

#[test]
fn explain_says_why_in_words() {
    let lead = lead();
    let held = tags(&["意向:询价"]);
    let score = |_: UnixTime| 62.37;
    let facts = Facts {
        lead: &lead,
        tags: &held,
        score: Some(Score(&score)),
    };
    let now = at(3 * DAY);
    let cases = [
        (
            r#"{ count = ["click:MENU_PLC", "keyword:PLC"], at_least = 3, within_days = 30 }"#,
            "4 touches in 30 days, last 2026-12-03 08:30",
        ),
        (
            r#"{ count = ["click:MENU_PLC"], at_least = 3, within_days = 1 }"#,
            "1 touch in 1 day, last 2026-12-03 08:00 (needs 3)",
        ),
        (
            r#"{ count = ["follow"], within_days = 7 }"#,
            "no touches in 7 days (needs 1)",
        ),
        (r#"{ score = { at_least = 60 } }"#, "score 62.3 ≥ 60"),
        (
            r#"{ score = { at_least = 70, at_most = 90 } }"#,
            "score 62.3 < 70, ≤ 90",
        ),
        (r#"{ first_seen_within_days = 7 }"#, "first seen 2026-12-01"),
        (
            r#"{ first_seen_within_days = 1 }"#,
            "first seen 2026-12-01, over 1 day ago",
        ),
        (
            r#"{ last_seen_within_days = 30 }"#,
            "last seen 2026-12-03 08:30",
        ),
        (r#""意向:询价""#, "has 意向:询价"),
        (r#"{ tag_prefix = "意向:" }"#, "has 意向:询价"),
        (
            r#"{ first_channel = "website" }"#,
            "first came through expo-2026, not website",
        ),
        (r#"{ subscribed = false }"#, "follows"),
        (r#"{ field = "company" }"#, "company is set"),
        // An `all` that holds gives every reason; one that fails only the failing ones.
        (
            r#"{ all = ["意向:询价", { channel = "website" }] }"#,
            "has 意向:询价; came through website",
        ),
        (
            r#"{ all = ["意向:询价", "vip", { subscribed = false }] }"#,
            "no vip; follows",
        ),
        // An `any` that holds gives the reasons that hold; one that fails all of them.
        (r#"{ any = ["vip", "意向:询价"] }"#, "has 意向:询价"),
        (
            r#"{ any = ["vip", "意向:试用"] }"#,
            "any of (no vip; no 意向:试用)",
        ),
        (r#"{ none = ["vip"] }"#, "no vip"),
        (r#"{ none = ["vip", "意向:询价"] }"#, "has 意向:询价"),
    ];
    for (text, want) in cases {
        assert_eq!(cond(text).explain(&facts, now), want, "{text}");
    }
    let quiet = cond(r#"{ inactive_days = 30 }"#).explain(&facts, at(33 * DAY + 1_800));
    assert_eq!(quiet, "no touch for 31 days");
    let mut with_order = lead.clone();
    with_order.events.push(EventRecord {
        name: "order".to_owned(),
        at: at(DAY),
        props: json!({ "amount": 1200 })
            .as_object()
            .cloned()
            .unwrap_or_default(),
    });
    let c =
        cond(r#"{ event = "order", within_days = 90, where = { amount = { at_least = 1000 } } }"#);
    let facts = Facts {
        lead: &with_order,
        ..facts
    };
    assert_eq!(
        c.explain(&facts, now),
        "1 order event with amount ≥ 1000 in 90 days, last 2026-12-02 08:00"
    );
}

#[test]
fn the_helpers_read_the_tree() {
    let c = cond(
        r#"{ any = ["a", { tag = "b" }, { tag_prefix = "c:" }, { none = [{ score = { at_least = 1 } }] },
           { count = ["click:A", "follow"], within_days = 30 }, { event = "order", within_days = 90 },
           { last_seen_within_days = 365 }] }"#,
    );
    let names: Vec<&str> = c.tags().iter().map(|t| t.as_str()).collect();
    assert_eq!(names, ["a", "b"]);
    let keys: Vec<&str> = c.touch_keys().iter().map(|k| k.as_str()).collect();
    assert_eq!(keys, ["click:A", "follow", "event:order"]);
    assert_eq!(
        c.longest_window_days(),
        Some(90),
        "lead dates are not history windows"
    );
    assert!(c.uses_score() && !c.only_tags());
    let tags_only = cond(r#"{ any = ["a", { none = [{ tag_prefix = "c:" }] }] }"#);
    assert!(tags_only.only_tags() && !tags_only.uses_score());
    assert_eq!(tags_only.longest_window_days(), None);
}

#[test]
fn contradictions_are_found_with_their_path() {
    let never = |text: &str| cond(text).contradiction();
    let cases = [
        (
            r#"{ all = ["a", { none = ["a"] }] }"#,
            "all: can never hold: it asks for the tag a and for its absence",
        ),
        (
            r#"{ all = [{ all = ["a"] }, { none = [{ any = ["b", "a"] }] }] }"#,
            "all: can never hold: it asks for the tag a",
        ),
        (
            r#"{ all = [{ subscribed = true }, { subscribed = false }] }"#,
            "all: can never hold: it asks for subscribed = true and subscribed = false",
        ),
        (
            r#"{ all = [{ subscribed = true }, { none = [{ subscribed = true }] }] }"#,
            "all: can never hold: it asks for subscribed",
        ),
        // A lead first seen outside the chat neither follows nor has unfollowed.
        (
            r#"{ all = [{ none = [{ subscribed = true }] }, { none = [{ subscribed = false }] }] }"#,
            "",
        ),
        (
            r#"{ all = [{ first_channel = "a" }, { first_channel = "b" }] }"#,
            "all: can never hold: it asks for two first channels",
        ),
        (
            r#"{ all = [{ field = "x" }, { field = "x", exists = false }] }"#,
            "all: can never hold: it asks for x to be set and not set",
        ),
        (
            r#"{ all = [{ last_seen_within_days = 7 }, { inactive_days = 30 }] }"#,
            "all: can never hold: it asks for a touch within 7 days and for none for 30 days",
        ),
        (
            r#"{ any = ["a", { score = { at_least = 9, at_most = 1 } }] }"#,
            "",
        ),
        (
            r#"{ none = ["x", { score = { at_least = 9, at_most = 1 } }] }"#,
            "",
        ),
        (
            r#"{ all = ["x", { score = { at_least = 9, at_most = 1 } }] }"#,
            "all[1].score: can never hold: at_least 9 is above at_most 1",
        ),
        (
            r#"{ count = ["follow"], at_least = 3, at_most = 2, within_days = 5 }"#,
            "at_least: can never hold: at_least 3 is above at_most 2",
        ),
        (
            r#"{ event = "o", within_days = 5, where = { n = { at_least = 3, at_most = 2 } } }"#,
            "where.n: can never hold: n at_least 3 is above at_most 2",
        ),
        (
            r#"{ any = [{ all = ["a", { none = ["a"] }] }, { subscribed = true }] }"#,
            "",
        ),
        (
            r#"{ any = [{ all = ["a", { none = ["a"] }] }, { score = { at_least = 2, at_most = 1 } }] }"#,
            "any: can never hold: no alternative can hold (the first: any[0].all: can never hold",
        ),
    ];
    for (text, want) in cases {
        let said = never(text).unwrap_or_default();
        assert!(
            if want.is_empty() {
                said.is_empty()
            } else {
                said.starts_with(want)
            },
            "{text}: said {said:?}, want {want:?}"
        );
    }
    assert_eq!(
        never(r#"{ all = [{ last_seen_within_days = 31 }, { inactive_days = 30 }] }"#),
        None
    );
    assert_eq!(
        never(r#"{ all = ["a", { none = ["b"] }, { subscribed = true }] }"#),
        None
    );
}

#[test]
fn check_reports_unknown_touch_keys_long_windows_and_contradictions() {
    let rules = rules(&[(
        "10.toml",
        "[[click]]\nkey = \"MENU_PLC\"\ntags = [\"兴趣:PLC\"]\n\n\
         [[keyword]]\ntext = \"PLC\"\ntags = [\"兴趣:PLC\"]\n\n\
         [[qr]]\nscene = \"expo-2026\"\n",
    )]);
    let ctx = CheckContext::new(&rules, 90);
    let check = |text: &str| check_condition(&cond(text), &ctx);
    assert_eq!(
        check(
            r#"{ count = ["click:MENU_PLC", "keyword:PLC", "qr:expo-2026", "follow", "event:any"], within_days = 90 }"#
        ),
        []
    );
    let said = check(
        r#"{ any = [{ count = ["click:MENU_PCL", "view:https://x/", "form:trial", "link:l1", "qr:nope", "keyword:plc"], within_days = 91 },
                    { event = "order", within_days = 120 }] }"#,
    );
    let errors: Vec<&str> = said
        .iter()
        .filter(|(s, _)| *s == Severity::Error)
        .map(|(_, m)| m.as_str())
        .collect();
    let warnings: Vec<&str> = said
        .iter()
        .filter(|(s, _)| *s == Severity::Warning)
        .map(|(_, m)| m.as_str())
        .collect();
    assert_eq!(errors.len(), 7, "{said:?}");
    assert!(errors[0].starts_with(
        "any[0].count[0]: unknown touch key `click:MENU_PCL`: no [[click]] has key = \"MENU_PCL\""
    ));
    assert!(errors[1].starts_with("any[0].count[1]: unknown touch key `view:https://x/`"));
    assert!(
        errors[2].starts_with(
            "any[0].count[3]: unknown touch key `link:l1`: no [[link]] has id = \"l1\""
        )
    );
    assert!(errors[3].starts_with("any[0].count[4]: unknown touch key `qr:nope`"));
    assert!(errors[4].starts_with("any[0].count[5]: unknown touch key `keyword:plc`"));
    assert!(errors[5].starts_with(
        "any[0].within_days: a window of 91 days is longer than the 90 days of touch history"
    ));
    assert!(errors[6].starts_with("any[1].within_days: a window of 120 days"));
    assert_eq!(
        warnings,
        [
            "any[0].count[2]: touch key `form:trial` counts nothing until a [[form]] with id \"trial\" is written",
        ]
    );
    let contradiction = check(r#"{ all = ["兴趣:PLC", { none = ["兴趣:PLC"] }] }"#);
    assert_eq!(contradiction.len(), 1);
    assert_eq!(contradiction[0].0, Severity::Error);
    assert!(contradiction[0].1.starts_with("all: can never hold"));
    let longer = CheckContext::new(&rules, 400);
    assert_eq!(
        check_condition(&cond(r#"{ event = "o", within_days = 400 }"#), &longer),
        []
    );
}

#[test]
fn odd_input_is_refused_and_odd_facts_never_panic() {
    for value in [
        json!(null),
        json!(42),
        json!([]),
        json!({ "all": null }),
        json!({ "all": [null] }),
        json!({ "count": "click:A", "within_days": 3 }),
        json!({ "count": [7], "within_days": 3 }),
        json!({ "first_seen_within_days": -1 }),
        json!({ "first_seen_within_days": u64::MAX }),
        json!({ "channel": 1e20 }),
        json!({ "event": 5, "within_days": 3 }),
        json!({ "event": "o", "within_days": 3, "where": { "a": { "in": [] } } }),
        json!({ "event": "o", "within_days": 3, "where": { "a": { "equals": null } } }),
        json!({ "score": { "at_least": [] } }),
    ] {
        assert!(Condition::from_json(&value).is_err(), "{value}");
    }
    let lead = LeadState {
        first_seen: Some(UnixTime(i64::MAX - 5)),
        last_seen: Some(UnixTime(i64::MIN + 5)),
        ..lead()
    };
    let c = cond(
        r#"{ any = [{ first_seen_within_days = 3650 }, { inactive_days = 3650 }, { last_seen_within_days = 1 }] }"#,
    );
    let held = BTreeSet::new();
    let facts = Facts {
        lead: &lead,
        tags: &held,
        score: None,
    };
    for now in [UnixTime(i64::MIN + 10), at(0), UnixTime(i64::MAX - 10)] {
        c.holds(&facts, now);
        c.next_change(&facts, now);
        c.explain(&facts, now);
    }
}
