//! `[[link]]`: tracked links, by id; an id may be claimed once across all files. The links
//! that replies name (`{link:ID}` in a text, `url = "link:ID"` in a news article) are checked
//! once every file is read, so a reply may name a link of a later file.

use std::ops::Range;

use toml::Spanned;

use super::super::Source;
use super::super::diagnostics::Diagnostic;
use super::super::file::RawLink;
use super::super::link::{Link, RefKind};
use super::{Builder, FileCtx};
use crate::domain::{FormId, LinkId, ParseError};

/// The longest destination accepted, in bytes (WeChat's limit on a menu VIEW URL).
const MAX_URL_BYTES: usize = 1024;

impl Builder {
    /// A link with no tags still counts its clicks as touches, so it gets no warning.
    pub(super) fn link(&mut self, ctx: &FileCtx, raw: RawLink) {
        let tags = raw
            .tags
            .into_iter()
            .filter_map(|t| self.rule_tag(ctx, t))
            .collect();
        let id_span = raw.id.span();
        let example = "whitepaper-2026";
        let Some(id) = self.claim_id(ctx, raw.id, "link", example, LinkId::parse, |b, id| {
            b.link_at.get(id)
        }) else {
            return;
        };
        let url_span = raw.url.span();
        let url = raw.url.into_inner();
        let absolute = ["https://", "http://"].iter().any(|scheme| {
            url.strip_prefix(scheme)
                .is_some_and(|rest| !rest.is_empty())
        });
        let problem = if !absolute {
            Some(format!(
                "link url \"{url}\" is not an absolute http:// or https:// URL, e.g. \
                 https://example.com/whitepaper.pdf"
            ))
        } else if url.len() > MAX_URL_BYTES {
            Some(format!(
                "link url is {} bytes; at most {MAX_URL_BYTES}",
                url.len()
            ))
        } else if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
            Some(format!(
                "link url \"{url}\" holds white space; escape it (%20)"
            ))
        } else {
            None
        };
        if let Some(message) = problem {
            self.error(ctx, &url_span, message);
            return;
        }
        self.link_at.insert(id.clone(), ctx.at(&id_span));
        let rule = self.push(Source::of("link", id.as_str()), tags, None);
        self.rules.links.insert(id, Link { url, rule });
    }

    /// An id a section claims once across all files (a link's, a form's): parsed by `parse`
    /// (1-32 of A-Z a-z 0-9 _ -) and not taken already (`taken` says where it was), else the
    /// mistake is reported at its line.
    pub(super) fn claim_id<T: std::fmt::Display>(
        &mut self,
        ctx: &FileCtx,
        raw: Spanned<String>,
        what: &str,
        example: &str,
        parse: fn(&str) -> Result<T, ParseError>,
        taken: for<'a> fn(&'a Self, &T) -> Option<&'a String>,
    ) -> Option<T> {
        let span = raw.span();
        let raw = raw.into_inner();
        let id = match parse(&raw) {
            Ok(id) => id,
            Err(e) => {
                let message = match e {
                    ParseError::TooLong { len, max, .. } => {
                        format!("{what} id \"{raw}\" is {len} characters; at most {max}")
                    }
                    _ => format!(
                        "{what} id \"{raw}\" must be 1-32 of A-Z a-z 0-9 _ -, e.g. {example}"
                    ),
                };
                self.error(ctx, &span, message);
                return None;
            }
        };
        if let Some(prev) = taken(self, &id).cloned() {
            let message = format!(
                "{what} id \"{id}\" is already used at {prev}; give each {what} its own id"
            );
            self.error(ctx, &span, message);
            return None;
        }
        Some(id)
    }

    /// Remembers that a reply at `span` names the link or form `id`, to check once all links
    /// and forms are in.
    pub(super) fn link_ref(&mut self, ctx: &FileCtx, span: &Range<usize>, kind: RefKind, id: &str) {
        let at = (ctx.path.to_owned(), ctx.line(span));
        self.link_refs.push((at, kind, id.to_owned()));
    }

    /// Every link a reply names must be a `[[link]]` of some file, every form a `[[form]]`.
    pub(super) fn check_link_refs(&mut self) {
        for ((file, line), kind, id) in std::mem::take(&mut self.link_refs) {
            let known = match kind {
                RefKind::Link => {
                    LinkId::parse(&id).is_ok_and(|id| self.rules.links.contains_key(&id))
                }
                RefKind::Form => {
                    FormId::parse(&id).is_ok_and(|id| self.rules.forms.contains_key(&id))
                }
            };
            if !known {
                let kind = kind.as_str();
                let message = format!(
                    "the reply names {kind} \"{id}\", but no [[{kind}]] has id = \"{id}\"; add \
                     the [[{kind}]] or fix the id"
                );
                self.diags.push(Diagnostic::error(&file, line, message));
            }
        }
    }
}
