//! Tracked links as the rules know them: a `[[link]]`'s destination and its rule, and the
//! `{link:ID}` and `{form:ID}` references in reply texts (`url = "link:ID"` and
//! `url = "form:ID"` in news articles).
//!
//! The rules only say where a link goes and what a click tags; the per-lead token and the
//! redirect live in the `links` module, a layer above.

use std::ops::Range;

use crate::config::PublicUrl;
use crate::domain::LinkId;

use super::{RuleId, Rules};

/// What the loader counts each `{link:ID}` in a reply text as, in bytes, when it checks the
/// text against WeChat's limit: a `WXTAG_PUBLIC_URL` of at most [`PublicUrl::MAX_LEN`]
/// bytes, `/l/`, and a token of at most 217 characters (an openid of 64 and a link id of 32).
pub const LINK_URL_MAX_BYTES: usize = PublicUrl::MAX_LEN + 3 + 217;

/// The prefix of a news article's `url` that names a `[[link]]`: `url = "link:ID"`.
pub const ARTICLE_LINK_PREFIX: &str = "link:";

/// The prefix of a news article's `url` that names a `[[form]]`: `url = "form:ID"`.
pub const ARTICLE_FORM_PREFIX: &str = "form:";

/// What the loader counts each `{form:ID}` in a reply text as, in bytes: a
/// `WXTAG_PUBLIC_URL` of at most [`PublicUrl::MAX_LEN`] bytes, `/f/`, a form id of 32, `?t=`
/// and a token of at most 220 characters (an openid of 64 and a form id of 32).
pub const FORM_URL_MAX_BYTES: usize = PublicUrl::MAX_LEN + 3 + 32 + 3 + 220;

/// One `[[link]]`: where it goes, and its rule (source `link:<id>`, its tags).
#[derive(Debug, Clone)]
pub struct Link {
    /// The destination, an absolute http(s) URL.
    pub url: String,
    /// The rule a click counts as.
    pub(super) rule: RuleId,
}

/// What a reference in a reply names: a `[[link]]` or a `[[form]]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefKind {
    /// `{link:ID}`.
    Link,
    /// `{form:ID}`.
    Form,
}

impl RefKind {
    /// `link` or `form`, as written between `{` and `:`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Link => "link",
            Self::Form => "form",
        }
    }
}

/// A reference to a link or a form in a reply text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkRef<'t> {
    /// Where `{link:ID}` (or `{form:ID}`) stands in the text, braces included.
    pub span: Range<usize>,
    /// What it names.
    pub kind: RefKind,
    /// The id between `{link:` (or `{form:`) and `}`, unparsed.
    pub id: &'t str,
}

/// Every `{link:…}` and `{form:…}` in `text`, in order; `Err` with the byte offset of the
/// first that does not close with `}` on a valid id (link and form ids are alike).
pub fn link_refs(text: &str) -> Result<Vec<LinkRef<'_>>, usize> {
    const OPENS: [(&str, RefKind); 2] = [("{link:", RefKind::Link), ("{form:", RefKind::Form)];
    let mut refs = Vec::new();
    let mut from = 0;
    loop {
        let next = OPENS
            .iter()
            .filter_map(|(open, kind)| text[from..].find(open).map(|i| (from + i, *open, *kind)))
            .min_by_key(|(at, _, _)| *at);
        let Some((at, open, kind)) = next else {
            break;
        };
        let start = at + open.len();
        let Some(len) = text[start..].find('}') else {
            return Err(at);
        };
        let id = &text[start..start + len];
        if LinkId::parse(id).is_err() {
            return Err(at);
        }
        refs.push(LinkRef {
            span: at..start + len + 1,
            kind,
            id,
        });
        from = start + len + 1;
    }
    Ok(refs)
}

/// `text` with each reference replaced by `url(reference)`.
pub fn fill_links(text: &str, refs: &[LinkRef], mut url: impl FnMut(&LinkRef) -> String) -> String {
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for r in refs {
        out.push_str(&text[last..r.span.start]);
        out.push_str(&url(r));
        last = r.span.end;
    }
    out.push_str(&text[last..]);
    out
}

impl Rules {
    /// The `[[link]]` with this id, if a file names it.
    pub fn link(&self, id: &LinkId) -> Option<&Link> {
        self.links.get(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_are_found_and_filled_in_order() {
        let text = "白皮书 {link:wp-2026} 与 {form:trial} 与 {link:trial}。";
        let refs = link_refs(text).unwrap();
        let ids: Vec<(&str, &str)> = refs.iter().map(|r| (r.kind.as_str(), r.id)).collect();
        assert_eq!(
            ids,
            [("link", "wp-2026"), ("form", "trial"), ("link", "trial")]
        );
        let filled = fill_links(text, &refs, |r| format!("<{}>", r.id));
        assert_eq!(filled, "白皮书 <wp-2026> 与 <trial> 与 <trial>。");
        assert_eq!(link_refs("no links {here}").unwrap(), []);
        for bad in [
            "{link:}",
            "{link:a b}",
            "see {link:open",
            "{link:a.b}",
            "{form:x",
        ] {
            assert!(link_refs(bad).is_err(), "{bad}");
        }
    }
}
