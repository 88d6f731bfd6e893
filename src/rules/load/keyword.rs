//! `[[keyword]]`: what a follower writes, matched exactly, by containment or by regex.

use std::ops::Range;

use regex::Regex;

use super::super::Source;
use super::super::file::{MatchKind, RawKeyword};
use super::{Builder, FileCtx, Section, one_line};

impl Builder {
    pub(super) fn keyword(&mut self, ctx: &FileCtx, span: Range<usize>, raw: RawKeyword) {
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
        self.rules.rules[rule].do_not_contact = raw.do_not_contact;
        match raw.kind {
            MatchKind::Exact => self.keywords.exact(text, rule),
            MatchKind::Contains => self.keywords.contains(text, rule),
            MatchKind::Regex => self.keywords.regex(text, rule),
        }
    }
}

/// The gist of a regex error: the syntax error's last `error:` line, or the whole message.
fn regex_problem(e: &regex::Error) -> String {
    let text = e.to_string();
    text.lines()
        .rev()
        .find_map(|l| l.trim().strip_prefix("error: ").map(str::to_owned))
        .unwrap_or_else(|| one_line(&text))
}
