//! The parts every section shares: its tags (checked against WeChat's limits on names and on
//! tags per account) and its reply.

use std::ops::Range;

use toml::Spanned;

use super::super::file::{RawReply, SpannedStrings};
use super::super::matcher::Answer;
use super::{Builder, FileCtx, Section};
use crate::domain::{ParseError, TagName};
use crate::wechat::limits::{TAG_NAME_LEN, TAGS_PER_ACCOUNT};
use crate::wechat::reply::Article;

impl Builder {
    /// The parts every section shares: tags and a reply.
    pub(super) fn common(
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
    pub(in crate::rules) fn rule_tag(
        &mut self,
        ctx: &FileCtx,
        raw: Spanned<String>,
    ) -> Option<TagName> {
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
    pub(in crate::rules) fn tag(
        &mut self,
        ctx: &FileCtx,
        raw: &Spanned<String>,
    ) -> Option<TagName> {
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
}
