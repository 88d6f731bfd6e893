//! Replies: `reply = "…"`, `news = [...]`, or `[[….reply]]` variants chosen by `when`
//! (`all` / `any` / `none` of the lead's tags).

use std::ops::Range;

use toml::Spanned;

use super::super::file::{RawReply, RawVariant, RawWhen, SpannedStrings};
use super::super::matcher::{Answer, Variant, When};
use super::{Builder, FileCtx, Section};
use crate::domain::TagName;
use crate::wechat::limits::NEWS_ARTICLES;
use crate::wechat::reply::{Article, Reply};

/// WeChat's limit on a passive text reply, in bytes.
const MAX_TEXT_BYTES: usize = 2048;

impl Builder {
    /// `reply = "…"`, `news = [...]` or `[[….reply]]` variants; at most one of them.
    pub(super) fn answer(
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

    pub(super) fn variants(
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

    pub(super) fn when(&mut self, ctx: &FileCtx, raw: Spanned<RawWhen>) -> Option<When> {
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

    pub(super) fn text(
        &mut self,
        ctx: &FileCtx,
        span: &Range<usize>,
        text: String,
    ) -> Option<Reply> {
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

    pub(super) fn news(
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
}
