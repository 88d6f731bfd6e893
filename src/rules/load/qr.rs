//! `[[qr]]`: one channel code each, its scene (`scene_str` or `scene_id`), lifetime, tags and
//! reply; a scene may be claimed once across all files, by a `[[qr]]` or a `[[channel]]`.

use std::ops::Range;

use toml::Spanned;

use super::super::file::RawQr;
use super::super::matcher::Answer;
use super::super::{Channel, QrCode, Source};
use super::{Builder, FileCtx, Section};
use crate::domain::{ParseError, Scene, TagName};

/// WeChat's range for a permanent code's `scene_id`.
const MAX_PERMANENT_SCENE_ID: u32 = 100_000;
/// How long a temporary code lives when the file does not say, and the most WeChat allows.
const MAX_EXPIRE_DAYS: u32 = 30;
/// What a scene may hold, for messages.
const SCENE_RULE: &str = "use 1-64 of A-Z a-z 0-9 _ -";

/// A channel as a section describes it, before it has a rule.
pub(super) struct NewChannel {
    pub(super) scene: Scene,
    pub(super) name: Option<String>,
    pub(super) tags: Vec<TagName>,
    pub(super) answer: Option<Answer>,
    pub(super) code: Option<QrCode>,
}

impl Builder {
    pub(super) fn qr(&mut self, ctx: &FileCtx, span: Range<usize>, raw: RawQr) {
        let (tags, answer) = self.common(ctx, Section::Qr, &span, raw.tags, raw.reply, raw.news);
        let expire_days = match raw.expire_days {
            None => MAX_EXPIRE_DAYS,
            Some(days) if raw.permanent => {
                let message = "expire_days has no effect on a permanent code; remove it or set \
                               permanent = false";
                self.warn(ctx, &days.span(), message);
                MAX_EXPIRE_DAYS
            }
            Some(days) => match u32::try_from(*days.get_ref()) {
                Ok(d) if (1..=MAX_EXPIRE_DAYS).contains(&d) => d,
                _ => {
                    let message = format!(
                        "expire_days {} is out of range; a temporary code lives 1-{MAX_EXPIRE_DAYS} days",
                        days.get_ref()
                    );
                    self.error(ctx, &days.span(), message);
                    MAX_EXPIRE_DAYS
                }
            },
        };
        let scene_span = raw.scene.span();
        let Some((scene, scene_id)) = self.scene(ctx, raw.scene, raw.permanent) else {
            return;
        };
        let code = QrCode {
            permanent: raw.permanent,
            expire_days,
            scene_id,
        };
        let channel = NewChannel {
            scene,
            name: raw.name,
            tags,
            answer,
            code: Some(code),
        };
        self.add_channel(ctx, scene_span, channel);
    }

    /// Adds a channel at its scene, unless another channel has the scene already. A QR
    /// channel's touches have the source `qr:<scene>`, a link channel's `channel:<scene>`.
    pub(super) fn add_channel(
        &mut self,
        ctx: &FileCtx,
        scene_span: Range<usize>,
        channel: NewChannel,
    ) {
        let NewChannel {
            scene,
            name,
            tags,
            answer,
            code,
        } = channel;
        if let Some(prev) = self.scene_at.get(&scene) {
            let message = format!(
                "scene \"{scene}\" is already used at {prev}; give each channel its own scene"
            );
            self.error(ctx, &scene_span, message);
            return;
        }
        self.scene_at.insert(scene.clone(), ctx.at(&scene_span));
        let kind = if code.is_some() { "qr" } else { "channel" };
        let rule = self.push(Source::of(kind, scene.as_str()), tags.clone(), answer);
        self.rules
            .scenes
            .insert(scene.clone(), self.rules.channels.len());
        self.rules.channels.push(Channel {
            name: name.unwrap_or_else(|| scene.to_string()),
            scene,
            tags,
            code,
            rule,
        });
    }

    /// A scene as text (`scene_str`) or as a number (`scene_id`, whose range depends on
    /// whether the code is permanent).
    pub(super) fn scene(
        &mut self,
        ctx: &FileCtx,
        raw: Spanned<toml::Value>,
        permanent: bool,
    ) -> Option<(Scene, Option<u32>)> {
        let span = raw.span();
        let message = match raw.into_inner() {
            toml::Value::String(s) => match Scene::parse(&s) {
                Ok(scene) => return Some((scene, None)),
                Err(ParseError::Empty { .. }) => format!("scene is empty; {SCENE_RULE}"),
                Err(ParseError::TooLong { len, .. }) => {
                    format!("scene \"{s}\" is {len} characters; {SCENE_RULE}")
                }
                Err(ParseError::BadChar { found: ' ', .. }) => {
                    format!("scene \"{s}\" has a space; {SCENE_RULE}")
                }
                Err(ParseError::BadChar { found, .. }) => {
                    format!("scene \"{s}\" has {found:?}; {SCENE_RULE}")
                }
            },
            toml::Value::Integer(n) => {
                let (kind, max) = if permanent {
                    ("permanent", MAX_PERMANENT_SCENE_ID)
                } else {
                    ("temporary", u32::MAX)
                };
                match u32::try_from(n) {
                    Ok(id) if (1..=max).contains(&id) => {
                        return Some((Scene::from_id(id), Some(id)));
                    }
                    _ => format!("scene_id {n} is out of range; {kind} codes take 1-{max}"),
                }
            }
            other => format!(
                "scene must be a text (scene_str) or a whole number (scene_id), not a {}",
                other.type_str()
            ),
        };
        self.error(ctx, &span, message);
        None
    }
}
