//! `[[view]]`: menu links, matched by URL prefix.

use std::ops::Range;

use super::super::Source;
use super::super::file::RawView;
use super::{Builder, FileCtx, Section};

/// WeChat's limit on a menu VIEW URL, in bytes.
const MAX_URL_BYTES: usize = 1024;

impl Builder {
    pub(super) fn view(&mut self, ctx: &FileCtx, span: Range<usize>, raw: RawView) {
        let (tags, answer) = self.common(ctx, Section::View, &span, raw.tags, raw.reply, raw.news);
        let url_span = raw.url.span();
        let url = raw.url.into_inner();
        if url.is_empty() {
            let message =
                "view url is empty; write the start of the link, e.g. https://example.com/cases/";
            self.error(ctx, &url_span, message);
            return;
        }
        if url.len() > MAX_URL_BYTES {
            let message = format!(
                "view url is {} bytes; WeChat allows at most {MAX_URL_BYTES}",
                url.len()
            );
            self.error(ctx, &url_span, message);
            return;
        }
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            let message = format!(
                "view url \"{url}\" does not start with http:// or https://, so no menu link will match it"
            );
            self.warn(ctx, &url_span, message);
        }
        let rule = self.push(Source::of("view", &url), tags, answer);
        self.rules.views.insert(&url, rule);
    }
}
