//! Replies: `reply = "…"`, `news = [...]`, or `[[….reply]]` variants chosen by `when` (any
//! condition of the condition language), and the conditions' own diagnostics.

use std::ops::Range;

use toml::Spanned;

use super::super::condition::{CheckContext, Condition, check_condition};
use super::super::diagnostics::{Diagnostic, Severity};
use super::super::file::{RawReply, RawVariant};
use super::super::link::{
    ARTICLE_FORM_PREFIX, ARTICLE_LINK_PREFIX, FORM_URL_MAX_BYTES, LINK_URL_MAX_BYTES, RefKind,
    link_refs,
};
use super::super::matcher::{Answer, Variant};
use super::{Builder, FileCtx, Section};
use crate::wechat::limits::{NEWS_ARTICLES, TEXT_REPLY_BYTES};
use crate::wechat::reply::{Article, Reply};

/// A reply `when` that is empty, or that puts more than one of `all`, `any` and `none` side
/// by side (the mistakes of the tag-only `when` of old, worded as before): what to write.
fn old_shape_mistake(when: &toml::Value) -> Option<&'static str> {
    let table = when.as_table()?;
    let combinators = ["all", "any", "none"]
        .iter()
        .filter(|k| table.contains_key(**k))
        .count();
    if table.is_empty() {
        Some("`when` is empty; use one of all, any or none")
    } else if combinators > 1 {
        Some(
            "`when` has more than one of all, any and none; use one per variant and split the \
             rest into more variants",
        )
    } else {
        None
    }
}

impl Builder {
    /// `reply = "…"`, `news = [...]` or `[[….reply]]` variants; at most one of them.
    pub(super) fn answer(
        &mut self,
        ctx: &FileCtx,
        section: Section,
        reply: Option<Spanned<RawReply>>,
        news: Option<Spanned<Vec<Article>>>,
    ) -> Option<Answer> {
        let always = |reply| Answer(vec![Variant { when: None, reply }]);
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
                    Some(None)
                }
                Some(w) => match old_shape_mistake(w.get_ref()) {
                    Some(message) => {
                        self.error(ctx, &w.span(), message);
                        None
                    }
                    None => self.condition(ctx, w).map(Some),
                },
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

    /// A condition (a reply's `when`; the derived sections' too): a parse error is reported
    /// at its line with the path inside it. The checks that need every rule (which touch keys
    /// exist) run once all files are read, in [`Self::check_conditions`].
    pub(in crate::rules) fn condition(
        &mut self,
        ctx: &FileCtx,
        raw: Spanned<toml::Value>,
    ) -> Option<Condition> {
        let span = raw.span();
        match Condition::from_toml(raw.get_ref()) {
            Ok(condition) => {
                // Each tag must fit WeChat, as a rule's tags must: checked at the `when`.
                let names: Vec<String> = condition.tags().iter().map(|t| t.to_string()).collect();
                let mut fit = true;
                for name in names {
                    fit &= self.tag(ctx, &Spanned::new(span.clone(), name)).is_some();
                }
                let at = (ctx.path.to_owned(), ctx.line(&span));
                self.conditions.push((at, condition.clone()));
                fit.then_some(condition)
            }
            Err(e) if e.path.is_empty() => {
                self.error(ctx, &span, format!("`when`: {}", e.message));
                None
            }
            Err(e) => {
                self.error(ctx, &span, e.to_string());
                None
            }
        }
    }

    /// Checks every condition read against the whole rule set: touch keys no rule gives,
    /// windows longer than the history, conditions that can never hold.
    pub(super) fn check_conditions(&mut self) {
        let ctx = CheckContext::new(&self.rules, self.history_days);
        for ((file, line), condition) in &self.conditions {
            for (severity, message) in check_condition(condition, &ctx) {
                self.diags.push(match severity {
                    Severity::Error => Diagnostic::error(file, *line, message),
                    Severity::Warning => Diagnostic::warning(file, *line, message),
                });
            }
        }
    }

    /// A reply text: not empty, and within WeChat's limit with each `{link:ID}` counted
    /// as the longest tracked URL it can become.
    pub(super) fn text(
        &mut self,
        ctx: &FileCtx,
        span: &Range<usize>,
        text: String,
    ) -> Option<Reply> {
        let refs = match link_refs(&text) {
            Ok(refs) => refs,
            Err(at) => {
                let found: String = text[at..].chars().take(40).collect();
                let message = format!(
                    "reply text has {found:?}, not a link reference; write {{link:ID}} or \
                     {{form:ID}} with the id of a [[link]] or [[form]] (1-32 of A-Z a-z 0-9 _ -)"
                );
                self.error(ctx, span, message);
                return None;
            }
        };
        for r in &refs {
            self.link_ref(ctx, span, r.kind, r.id);
        }
        let written: usize = refs.iter().map(|r| r.span.len()).sum();
        let longest: usize = refs
            .iter()
            .map(|r| match r.kind {
                RefKind::Link => LINK_URL_MAX_BYTES,
                RefKind::Form => FORM_URL_MAX_BYTES,
            })
            .sum();
        let bytes = text.len() - written + longest;
        let problem = if text.trim().is_empty() {
            "reply text is empty; write a message or remove the reply".to_owned()
        } else if bytes > TEXT_REPLY_BYTES && refs.is_empty() {
            format!("reply text is {bytes} bytes; WeChat allows at most {TEXT_REPLY_BYTES}")
        } else if bytes > TEXT_REPLY_BYTES {
            format!(
                "reply text is {bytes} bytes with each of its {} links counted as \
                 {LINK_URL_MAX_BYTES} and each form as {FORM_URL_MAX_BYTES} (the longest \
                 tracked URLs); WeChat allows at most {TEXT_REPLY_BYTES}",
                refs.len()
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
            let named: Vec<(RefKind, String)> = news
                .get_ref()
                .iter()
                .filter_map(|a| {
                    let link = a
                        .url
                        .strip_prefix(ARTICLE_LINK_PREFIX)
                        .map(|id| (RefKind::Link, id));
                    let form = || {
                        a.url
                            .strip_prefix(ARTICLE_FORM_PREFIX)
                            .map(|id| (RefKind::Form, id))
                    };
                    link.or_else(form).map(|(kind, id)| (kind, id.to_owned()))
                })
                .collect();
            for (kind, id) in named {
                self.link_ref(ctx, &news.span(), kind, &id);
            }
            return Some(Reply::News(news.into_inner()));
        };
        self.error(ctx, &news.span(), problem);
        None
    }
}
