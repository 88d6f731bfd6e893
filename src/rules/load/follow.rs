//! `[follow]`: a follow with no QR scene; its tags and the welcome reply.

use std::ops::Range;

use super::super::Source;
use super::super::file::RawFollow;
use super::{Builder, FileCtx, Section};

impl Builder {
    pub(super) fn follow(&mut self, ctx: &FileCtx, span: Range<usize>, raw: RawFollow) {
        let (tags, answer) =
            self.common(ctx, Section::Follow, &span, raw.tags, raw.reply, raw.news);
        let id = self.push(Source::follow(), tags, answer);
        self.rules.follow.push(id);
    }
}
