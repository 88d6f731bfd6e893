//! The loader's tests: every mistake at its `file:line`, with a message that says what to do.

use super::super::LINK_URL_MAX_BYTES;
use super::super::fixture::{folder, load};
use super::*;
use crate::domain::{EventName, FieldName, FormId};

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

#[test]
fn a_bad_when_is_reported_at_its_line_with_the_path_inside_it() {
    let text = r#"[[click]]
key = "MENU_PLC"
tags = ["兴趣:PLC"]

[[keyword]]
text = "试用"
[[keyword.reply]]
when = { all = ["兴趣:PLC", "x", { count = ["click:MENU_PLC"], within_days = 4000 }] }
text = "a"
[[keyword.reply]]
when = { any = [{ count = ["click:MENU_PCL", "form:trial"], at_least = 2, within_days = 30 }] }
text = "b"
[[keyword.reply]]
when = { all = [{ last_seen_within_days = 7 }, { inactive_days = 30 }] }
text = "c"
[[keyword.reply]]
when = { any = ["兴趣:PLC", { count = ["click:MENU_PLC"], within_days = 91 }] }
text = "d"
"#;
    // The touch key MENU_PLC of 20-later.toml's rule is known although it comes later.
    let later = "[[keyword]]\ntext = \"x\"\n[[keyword.reply]]\n\
                 when = { count = [\"click:LATER\"], within_days = 1 }\ntext = \"e\"\n";
    let r = load(&[
        ("w.toml", text),
        ("20-later.toml", later),
        (
            "30-menu.toml",
            "[[click]]\nkey = \"LATER\"\ntags = [\"t\"]\n",
        ),
    ]);
    assert_eq!(
        said(&r),
        [
            "w.toml:8: all[2].within_days: must be 1..=3650",
            "w.toml:11: any[0].count[0]: unknown touch key `click:MENU_PCL`: no [[click]] has \
             key = \"MENU_PCL\"; check the spelling against the rules",
            "w.toml:14: all: can never hold: it asks for a touch within 7 days and for none for \
             30 days",
            "w.toml:17: any[1].within_days: a window of 91 days is longer than the 90 days of \
             touch history kept (WXTAG_HISTORY_DAYS); shorten it or keep more history (at most \
             400 days)",
            "w.toml:11: warning: any[0].count[1]: touch key `form:trial` counts nothing until a \
             [[form]] with id \"trial\" is written",
        ]
    );
}

#[test]
fn links_load_and_replies_may_name_links_of_later_files() {
    let r = load(&[
        (
            "10-replies.toml",
            "[[keyword]]\ntext = \"白皮书\"\nreply = \"请看 {link:wp}\"\n\n\
             [[click]]\nkey = \"CASES\"\nnews = [{ title = \"案例\", url = \"link:wp\" }]\n",
        ),
        (
            "20-links.toml",
            "[[link]]\nid = \"wp\"\nurl = \"https://example.com/wp.pdf\"\ntags = [\"内容:白皮书\"]\n",
        ),
    ]);
    assert_eq!(said(&r), Vec::<String>::new());
    let rules = r.unwrap().rules;
    let id = LinkId::parse("wp").unwrap();
    assert_eq!(rules.link(&id).unwrap().url, "https://example.com/wp.pdf");
    let o = rules.evaluate(&super::super::Touch::Link {
        id: &id,
        channel: None,
    });
    let tags: Vec<String> = o.tags.iter().map(|(t, s)| format!("{t} <- {s}")).collect();
    assert_eq!(tags, ["内容:白皮书 <- link:wp"]);
}

#[test]
fn link_mistakes_are_reported_at_their_line() {
    let links = "[[link]]\nid = \"wp\"\nurl = \"https://example.com/a\"\n\n\
                 [[link]]\nid = \"wp\"\nurl = \"https://example.com/b\"\n\n\
                 [[link]]\nid = \"bad id\"\nurl = \"https://example.com/c\"\n\n\
                 [[link]]\nid = \"rel\"\nurl = \"/whitepaper.pdf\"\n\n\
                 [[link]]\nid = \"x\"\n";
    let replies = "[[keyword]]\ntext = \"a\"\nreply = \"see {link:nope}\"\n\n\
                   [[keyword]]\ntext = \"b\"\nnews = [{ title = \"t\", url = \"link:gone\" }]\n\n\
                   [[keyword]]\ntext = \"c\"\nreply = \"see {link:wp\"\n";
    let r = load(&[("l.toml", links), ("r.toml", replies)]);
    let got = said(&r);
    assert!(
        got[0].starts_with("l.toml:6: link id \"wp\" is already used at ")
            && got[0].ends_with("l.toml:2; give each link its own id"),
        "{got:?}"
    );
    assert_eq!(
        got[1..],
        [
            "l.toml:10: link id \"bad id\" must be 1-32 of A-Z a-z 0-9 _ -, e.g. whitepaper-2026"
                .to_owned(),
            "l.toml:15: link url \"/whitepaper.pdf\" is not an absolute http:// or https:// URL, \
             e.g. https://example.com/whitepaper.pdf"
                .to_owned(),
            "l.toml:17: [[link]]: missing field `url`".to_owned(),
            "r.toml:3: the reply names link \"nope\", but no [[link]] has id = \"nope\"; add the \
             [[link]] or fix the id"
                .to_owned(),
            "r.toml:7: the reply names link \"gone\", but no [[link]] has id = \"gone\"; add the \
             [[link]] or fix the id"
                .to_owned(),
            "r.toml:11: reply text has \"{link:wp\", not a link reference; write {link:ID} or \
             {form:ID} with the id of a [[link]] or [[form]] (1-32 of A-Z a-z 0-9 _ -)"
                .to_owned(),
        ]
    );
}

#[test]
fn a_reply_text_counts_each_link_as_the_longest_tracked_url() {
    let link = "[[link]]\nid = \"wp\"\nurl = \"https://example.com/wp\"\n";
    let fits = "回".repeat((2048 - LINK_URL_MAX_BYTES) / 3);
    let over = "回".repeat((2048 - LINK_URL_MAX_BYTES) / 3 + 1);
    let text = format!(
        "{link}\n[[click]]\nkey = \"A\"\nreply = \"{fits}{{link:wp}}\"\n\
         [[click]]\nkey = \"B\"\nreply = \"{over}{{link:wp}}\"\n"
    );
    let got = said(&load(&[("r.toml", &text)]));
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(
        got[0].starts_with("r.toml:10: reply text is 2051 bytes with each of its 1 links counted"),
        "{got:?}"
    );
}

#[test]
fn a_link_channel_has_no_code_shares_the_scenes_and_tags_what_comes_through_it() {
    let r = load(&[
        (
            "10.toml",
            "[[qr]]\nscene = \"expo\"\n\n[[channel]]\nscene = \"ad-baidu\"\nname = \"百度广告\"\n\
             tags = [\"来源:百度\"]\n\n[[link]]\nid = \"wp\"\nurl = \"https://example.com/wp\"\n",
        ),
        (
            "20.toml",
            "[[channel]]\nscene = \"expo\"\n\n[[channel]]\nscene = 7\n\n[[channel]]\nscene = \"a b\"\n",
        ),
    ]);
    assert_eq!(
        at(&r),
        ["20.toml:2", "20.toml:5", "20.toml:8"],
        "{:?}",
        said(&r)
    );
    let said = said(&r);
    assert!(
        said[0].contains("scene \"expo\" is already used at ") && said[0].contains("10.toml:2"),
        "{said:?}"
    );
    assert!(said[1].contains("expected a string"), "{said:?}");
    assert!(said[2].contains("has a space"), "{said:?}");

    let rules = load(&[("10.toml", "[[qr]]\nscene = \"expo\"\n[[channel]]\nscene = \"ad-baidu\"\nname = \"百度广告\"\ntags = [\"来源:百度\"]\n[[link]]\nid = \"wp\"\nurl = \"https://example.com/wp\"\n")])
        .unwrap()
        .rules;
    let ad = Scene::parse("ad-baidu").unwrap();
    let channel = rules.channel(&ad).unwrap();
    assert_eq!(channel.name, "百度广告");
    assert!(channel.qr_request().is_none(), "a link channel has no code");
    assert!(channel.no_code().contains("?ch=ad-baidu"));
    let expo = Scene::parse("expo").unwrap();
    assert!(rules.channel(&expo).unwrap().qr_request().is_some());
    let id = LinkId::parse("wp").unwrap();
    let o = rules.evaluate(&super::super::Touch::Link {
        id: &id,
        channel: Some(&ad),
    });
    let tags: Vec<String> = o.tags.iter().map(|(t, s)| format!("{t} <- {s}")).collect();
    assert_eq!(tags, ["来源:百度 <- channel:ad-baidu"]);
    assert_eq!(o.channel.map(|c| c.scene.as_str()), Some("ad-baidu"));
}

/// A form of every field kind, as the contract shows it.
const FORM: &str = r#"[[form]]
id = "trial"
title = "申请试用"
consent = "同意收集姓名和手机号。"
tags = ["意向:试用"]
fields = [
  { name = "mobile", label = "手机", kind = "mobile", required = true },
  { name = "product", label = "产品", kind = "select", options = ["PLC", "伺服"] },
  { name = "company", label = "公司", kind = "text" },
  { name = "mail", label = "邮件", kind = "email" },
  { name = "ask", label = "问题", kind = "textarea" },
]
tag_from_field = { product = "兴趣:{}" }
"#;

#[test]
fn a_form_loads_with_every_tag_it_can_make_and_replies_may_name_it() {
    let replies = "[[keyword]]\ntext = \"试用\"\nreply = \"请填写：{form:trial}\"\n\n\
                   [[click]]\nkey = \"TRIAL\"\nnews = [{ title = \"试用\", url = \"form:trial\" }]\n\n\
                   [[rule]]\nname = \"填表\"\ntags = [\"意向:高\"]\nwhen = { count = [\"form:trial\"], within_days = 30, at_least = 1 }\n";
    let r = load(&[("10-replies.toml", replies), ("20-form.toml", FORM)]);
    let loaded = r.unwrap_or_else(|failed| panic!("{failed}"));
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    let rules = loaded.rules;
    let form = rules.form(&FormId::parse("trial").unwrap()).unwrap();
    assert_eq!(form.fields.len(), 5);
    assert_eq!(form.fields[1].options, ["PLC", "伺服"]);
    assert_eq!(form.version.len(), 16);
    let tags: Vec<&str> = rules.tag_names().map(|t| t.as_str()).collect();
    for tag in ["意向:试用", "兴趣:PLC", "兴趣:伺服"] {
        assert!(tags.contains(&tag), "{tag} counted among {tags:?}");
    }
    // A submission adds the form's tags; the value tags come from the value chosen.
    let id = form.id.clone();
    let o = rules.evaluate(&super::super::Touch::Form {
        id: &id,
        channel: None,
    });
    let given: Vec<String> = o.tags.iter().map(|(t, s)| format!("{t} <- {s}")).collect();
    assert_eq!(given, ["意向:试用 <- form:trial"]);
    let product = FieldName::parse("product").unwrap();
    let chosen = form.value_tags(|f| (*f == product).then_some("伺服"));
    assert_eq!(chosen.len(), 1);
    assert_eq!(chosen[0].as_str(), "兴趣:伺服");
}

#[test]
fn form_mistakes_are_reported_at_their_line() {
    let forms = "[[form]]\nid = \"a\"\ntitle = \"A\"\nconsent = \"同意\"\n\
                 fields = [{ name = \"x\", label = \"X\", kind = \"phone\" }]\n\n\
                 [[form]]\nid = \"b\"\ntitle = \"B\"\nconsent = \"同意\"\n\
                 fields = [{ name = \"x\", label = \"X\", kind = \"text\", options = [\"1\"] }]\n\n\
                 [[form]]\nid = \"c\"\ntitle = \"C\"\nconsent = \"同意\"\n\
                 tag_from_field = { x = \"兴趣:{}\", nope = \"y:{}\" }\n\
                 fields = [{ name = \"x\", label = \"X\", kind = \"text\" }]\n\n\
                 [[form]]\nid = \"d\"\ntitle = \"D\"\nconsent = \"同意\"\n\
                 fields = [{ name = \"x\", label = \"X\", kind = \"text\" }, { name = \"x\", label = \"Y\", kind = \"email\" }]\n\n\
                 [[form]]\nid = \"d\"\ntitle = \"D2\"\nconsent = \"同意\"\n\
                 fields = [{ name = \"x\", label = \"X\", kind = \"text\" }]\n\n\
                 [[form]]\nid = \"e\"\ntitle = \"E\"\nconsent = \" \"\n\
                 fields = [{ name = \"p\", label = \"P\", kind = \"select\" }]\n\n\
                 [[form]]\nid = \"f\"\ntitle = \"F\"\nconsent = \"同意\"\ntag_from_field = { p = \"偏好:{}\" }\n\
                 fields = [{ name = \"p\", label = \"P\", kind = \"select\", options = [\"PLC\"] }]\n\n\
                 [[preference]]\nname = \"主要兴趣\"\namong = \"兴趣:\"\ntag = \"偏好:{}\"\nwithin_days = 90\n\n\
                 [[keyword]]\ntext = \"k\"\nreply = \"{form:gone}\"\n";
    let got = said(&load(&[("f.toml", forms)]));
    let expected = [
        "f.toml:5: field \"x\" has kind \"phone\"; use text, mobile, email, select or textarea",
        "f.toml:11: field \"x\" is text but has options; only a select field has options",
        "f.toml:17: tag_from_field names field \"nope\", but form \"c\" has no such field",
        "f.toml:17: tag_from_field names field \"x\", which is text; only a select field can tag, so that every tag it makes is known",
        "f.toml:24: field name \"x\" is used twice in this form; give each field its own name",
    ];
    for (want, got_one) in expected.iter().zip(&got) {
        assert_eq!(got_one, want, "{got:#?}");
    }
    let rest = &got[expected.len()..];
    let has = |needle: &str| rest.iter().any(|g| g.contains(needle));
    assert!(
        has("f.toml:35: [[form]] consent (the PIPL consent text) is empty"),
        "{rest:?}"
    );
    assert!(has("select field \"p\" has no options"), "{rest:?}");
    assert!(
        has("tag \"偏好:PLC\" is derived by [[preference]] \"主要兴趣\" and also given by form:f"),
        "{rest:?}"
    );
    assert!(
        has("the reply names form \"gone\", but no [[form]] has id = \"gone\""),
        "{rest:?}"
    );

    let twice = format!("{FORM}\n{FORM}");
    let got = said(&load(&[("t.toml", &twice)]));
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(
        got[0].starts_with("t.toml:16: form id \"trial\" is already used at ")
            && got[0].ends_with("t.toml:2; give each form its own id"),
        "{got:?}"
    );
}

#[test]
fn a_form_touch_key_of_no_form_is_a_warning() {
    let rule = "[[rule]]\nname = \"x\"\ntags = [\"意向:高\"]\nwhen = { count = [\"form:nope\"], within_days = 30, at_least = 1 }\n";
    let got = said(&load(&[("r.toml", rule)]));
    assert_eq!(
        got,
        [
            "r.toml:4: warning: count[0]: touch key `form:nope` counts nothing until a [[form]] with id \"nope\" is written"
        ]
    );
}

#[test]
fn event_rules_tag_by_name_and_where_and_their_props_are_kept_only_when_read() {
    let r = load(&[(
        "e.toml",
        "[[event]]\nname = \"webinar\"\nwhere = { topic = { contains = \"PLC\" } }\n\
         tags = [\"兴趣:PLC网课\"]\n\n\
         [[event]]\nname = \"webinar\"\ntags = [\"参会:网课\"]\n\n\
         [[rule]]\nname = \"大单\"\nwhen = { event = \"order\", within_days = 30, \
         where = { amount = { at_least = 1000 } } }\ntags = [\"意向:大单\"]\n",
    )]);
    assert_eq!(said(&r), Vec::<String>::new());
    let rules = r.unwrap().rules;
    assert_eq!(
        rules.stats().tags,
        3,
        "check counts the tags [[event]]s can make"
    );
    let webinar = EventName::parse("webinar").unwrap();
    let tags = |topic: &str| -> Vec<String> {
        let props = serde_json::json!({ "topic": topic });
        let touch = super::super::Touch::Event {
            name: &webinar,
            props: props.as_object().unwrap(),
        };
        let o = rules.evaluate(&touch);
        o.tags.iter().map(|(t, s)| format!("{t} <- {s}")).collect()
    };
    assert_eq!(
        tags("PLC 入门"),
        [
            "兴趣:PLC网课 <- event:webinar",
            "参会:网课 <- event:webinar"
        ]
    );
    assert_eq!(tags("伺服"), ["参会:网课 <- event:webinar"]);
    assert!(rules.keeps_event_props(&EventName::parse("order").unwrap()));
    assert!(
        !rules.keeps_event_props(&webinar),
        "no where or sum reads its props"
    );
}

#[test]
fn event_rule_mistakes_are_reported_at_their_line() {
    let r = load(&[(
        "e.toml",
        "[[event]]\nname = \"bad name\"\ntags = [\"a\"]\n\n\
         [[event]]\nname = \"order\"\nwhere = { amount = { more_than = 5 } }\ntags = [\"b\"]\n\n\
         [[event]]\nname = \"quiet\"\n\n\
         [[event]]\nname = \"x\"\nwhen = {}\n",
    )]);
    assert_eq!(
        said(&r),
        [
            "e.toml:2: [[event]] name \"bad name\": event name holds ' ', which is not allowed \
             (A-Z a-z 0-9 _ - .); write the name the other system sends, e.g. order",
            "e.toml:7: [[event]] where.amount.more_than: unknown operator `more_than`; use one \
             of equals, contains, regex, in, at_least, at_most, exists",
            "e.toml:15: [[event]]: unknown field `when`, expected one of `name`, `where`, `tags`",
            "e.toml:10: warning: [[event]] \"quiet\" has no tags, so it does nothing (the event \
             counts as the touch event:quiet without it)",
            "e.toml:13: warning: [[event]] \"x\" has no tags, so it does nothing (the event \
             counts as the touch event:x without it)",
        ]
    );
}

#[test]
fn notify_targets_are_checked_at_their_lines() {
    let r = load(&[(
        "a.toml",
        "[[notify]]\nname = \"sales\"\nwecom_robot = \"https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k\"\n\
         [[notify]]\nname = \"sales\"\nwebhook = \"https://crm.example.com/h\"\nsecret = \"s\"\n\
         [[notify]]\nname = \"both\"\nwebhook = \"https://crm.example.com/h\"\nwecom_robot = \"https://x.example.com/\"\nsecret = \"s\"\n\
         [[notify]]\nname = \"nosecret\"\nwebhook = \"https://crm.example.com/h\"\n\
         [[notify]]\nname = \"ftp\"\nwebhook = \"ftp://crm.example.com/h\"\nsecret = \"s\"\n\
         [[notify]]\nwebhook = \"https://crm.example.com/h\"\nsecret = \"s\"\n",
    )]);
    let said = said(&r);
    assert!(
        said.iter()
            .any(|s| s.starts_with("a.toml:5:") && s.contains("already used at")),
        "{said:?}"
    );
    assert!(
        said.iter()
            .any(|s| s.starts_with("a.toml:8:") && s.contains("exactly one of")),
        "{said:?}"
    );
    assert!(
        said.iter()
            .any(|s| s.starts_with("a.toml:15:") && s.contains("without a secret")),
        "{said:?}"
    );
    assert!(
        said.iter()
            .any(|s| s.starts_with("a.toml:18:") && s.contains("not an http")),
        "{said:?}"
    );
    assert!(
        said.iter().any(|s| s.contains("missing field `name`")),
        "{said:?}"
    );
}

#[test]
fn env_values_fill_any_section_and_a_missing_one_is_an_error_at_its_line() {
    // HOME is set wherever the tests run; its value must never appear in a message.
    let home = std::env::var("HOME").expect("HOME is set");
    let ok = load(&[(
        "a.toml",
        "[[notify]]\nname = \"crm\"\nwebhook = \"https://crm.example.com/h\"\nsecret = \"${HOME}\"\n",
    )]);
    let rules = ok.expect("loads").rules;
    let target = rules
        .notify_target(&crate::domain::NotifyName::parse("crm").unwrap())
        .expect("the target is in force");
    let super::super::notify::TargetKind::Webhook { secret, .. } = &target.kind else {
        panic!("a webhook");
    };
    assert_eq!(secrecy::ExposeSecret::expose_secret(secret), home);
    assert!(
        !format!("{target:?}").contains(&home),
        "Debug hides the secret"
    );

    let missing = load(&[(
        "a.toml",
        "[[link]]\nid = \"wp\"\nurl = \"https://example.com/${WXTAG_TEST_SURELY_UNSET}\"\n\
         [[link]]\nid = \"bad\"\nurl = \"${HOME}\"\n",
    )]);
    let said = said(&missing);
    assert!(
        said.iter().any(|s| s.starts_with("a.toml:3:")
            && s.contains("${WXTAG_TEST_SURELY_UNSET} is not set in the environment")),
        "{said:?}"
    );
    assert!(
        said.iter()
            .any(|s| s.starts_with("a.toml:6:") && s.contains("${HOME}")),
        "{said:?}"
    );
    assert!(
        said.iter().all(|s| !s.contains(&home)),
        "the value never shows: {said:?}"
    );
}

#[test]
fn menus_are_checked_against_wechat_limits_at_each_button() {
    let r = load(&[
        ("10.toml", "[[click]]\nkey = \"A\"\ntags = [\"兴趣:A\"]\n"),
        (
            "20.toml",
            r#"[menu]
buttons = [
  { type = "click", name = "一二三四五六", key = "A" },
  { name = "更多", sub_button = [
    { type = "view", name = "x", url = "ftp://example.com/" },
    { type = "tap", name = "y", key = "A" },
  ] },
  { name = "空" },
]

[[menu.for]]
tag = "兴趣:A"
buttons = [
  { type = "click", name = "a", key = "A" },
  { type = "click", name = "b", key = "A" },
  { type = "click", name = "c", key = "A" },
  { type = "click", name = "d", key = "A" },
]
"#,
        ),
    ]);
    let said = said(&r);
    let expected = [
        "20.toml:3: button name \"一二三四五六\" is 18 bytes; wechat allows 16 bytes",
        "20.toml:5: url \"ftp://example.com/\" is not an absolute http:// or https:// url",
        "20.toml:6: sub-button type \"tap\" is not one wechat knows",
        "20.toml:8: button \"空\" has neither a type nor sub_button",
        "20.toml:13: a menu has 1 to 3 top-level buttons; this one has 4",
    ];
    for want in expected {
        assert!(said.iter().any(|s| s.starts_with(want)), "{want}\n{said:?}");
    }
    assert_eq!(said.len(), expected.len(), "{said:?}");
}

#[test]
fn conditional_menus_need_a_default_known_tags_click_rules_and_three_domains() {
    let view =
        |site: &str| format!("{{ type = \"view\", name = \"v\", url = \"https://{site}/\" }}");
    let r = load(&[(
        "m.toml",
        &format!(
            "[[menu.for]]\ntag = \"无人给\"\nbuttons = [{}, {}]\n\n[[menu.for]]\ntag = \"也无\"\n\
             buttons = [{}, {}, {{ type = \"click\", name = \"k\", key = \"NO_RULE\" }}]\n",
            view("a.com"),
            view("b.com"),
            view("c.com"),
            view("d.com")
        ),
    )]);
    let said = said(&r);
    assert!(
        said.iter().any(|s| s
            .starts_with("m.toml:1: [[menu.for]] needs a default menu: add a [menu] with buttons")),
        "{said:?}"
    );
    assert!(said.iter().any(|s| s.starts_with(
        "m.toml:5: the conditional menus link to 4 domains (a.com, b.com, c.com, d.com); wechat allows 3"
    )), "{said:?}");
    assert!(said.iter().any(|s| s.starts_with(
        "m.toml:1: warning: no rule, form or tier gives tag \"无人给\""
    )), "{said:?}");
    assert!(
        said.iter().any(|s| s.starts_with(
            "m.toml:7: warning: button \"k\" sends click key \"NO_RULE\", but no [[click]] has key"
        )),
        "{said:?}"
    );
    assert!(r.is_err());
}

#[test]
fn menus_load_in_file_order_with_their_buttons() {
    let r = load(&[
        (
            "10.toml",
            "[[click]]\nkey = \"A\"\ntags = [\"t:a\"]\n\n[[keyword]]\ntext = \"b\"\ntags = [\"t:b\"]\n\n\
             [[menu.for]]\ntag = \"t:b\"\nbuttons = [{ type = \"click\", name = \"b\", key = \"A\" }]\n",
        ),
        (
            "20.toml",
            "[menu]\nbuttons = [{ type = \"click\", name = \"d\", key = \"A\" }]\n\n\
             [[menu.for]]\ntag = \"t:a\"\nbuttons = [{ type = \"click\", name = \"a\", key = \"A\" }]\n",
        ),
    ]);
    let loaded = r.unwrap_or_else(|e| panic!("{e}"));
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    let menus = loaded.rules.menus();
    let tags: Vec<&str> = menus.tags().map(TagName::as_str).collect();
    assert_eq!(tags, ["t:b", "t:a"]);
    assert_eq!(menus.default.as_ref().unwrap()[0].name, "d");
    assert!(
        menus.conditional[0].at.ends_with("10.toml:9"),
        "{}",
        menus.conditional[0].at
    );
    let twice = load(&[
        (
            "a.toml",
            "[menu]\nbuttons = [{ type = \"click\", name = \"d\", key = \"A\" }]\n",
        ),
        (
            "b.toml",
            "[menu]\nbuttons = [{ type = \"click\", name = \"e\", key = \"A\" }]\n",
        ),
    ]);
    assert!(
        said(&twice)
            .iter()
            .any(|s| s.starts_with("b.toml:2: the default menu is already defined at"))
    );
}
