//! `[[channel]]`: a channel with no QR code (加参链接: an ad, a partner's site, a mail), whose
//! links and forms carry `?ch=<scene>`. It shares the scenes of `[[qr]]`, so a scene names
//! one channel whichever section gives it, and its touches have the source `channel:<scene>`.

use toml::Spanned;

use super::super::file::RawChannel;
use super::qr::NewChannel;
use super::{Builder, FileCtx};

impl Builder {
    pub(super) fn channel(&mut self, ctx: &FileCtx, raw: RawChannel) {
        let tags = raw
            .tags
            .into_iter()
            .filter_map(|t| self.rule_tag(ctx, t))
            .collect();
        let span = raw.scene.span();
        let scene = Spanned::new(span.clone(), toml::Value::String(raw.scene.into_inner()));
        // Text only: a link's `?ch=` is text, and no code needs a `scene_id`.
        let Some((scene, _)) = self.scene(ctx, scene, false) else {
            return;
        };
        let channel = NewChannel {
            scene,
            name: raw.name,
            tags,
            answer: None,
            code: None,
        };
        self.add_channel(ctx, span, channel);
    }
}
