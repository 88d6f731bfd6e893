//! `[[click]]`: menu buttons by key; a key may be claimed once across all files.

use std::ops::Range;

use super::super::Source;
use super::super::file::RawClick;
use super::{Builder, FileCtx, Section};

/// WeChat's limit on a menu CLICK key, in bytes.
const MAX_KEY_BYTES: usize = 128;

impl Builder {
    pub(super) fn click(&mut self, ctx: &FileCtx, span: Range<usize>, raw: RawClick) {
        let (tags, answer) = self.common(ctx, Section::Click, &span, raw.tags, raw.reply, raw.news);
        let key_span = raw.key.span();
        let key = raw.key.into_inner();
        let problem = if key.is_empty() {
            Some("click key is empty; write the button's key, e.g. MENU_PRODUCT_A".to_owned())
        } else if key.len() > MAX_KEY_BYTES {
            Some(format!(
                "click key \"{key}\" is {} bytes; WeChat allows at most {MAX_KEY_BYTES}",
                key.len()
            ))
        } else {
            self.click_at.get(&key).map(|prev| {
                format!(
                    "click key \"{key}\" is already used at {prev}; give each button its own key"
                )
            })
        };
        if let Some(message) = problem {
            self.error(ctx, &key_span, message);
            return;
        }
        self.click_at.insert(key.clone(), ctx.at(&key_span));
        let rule = self.push(Source::of("click", &key), tags, answer);
        self.rules.clicks.insert(key, rule);
    }
}
