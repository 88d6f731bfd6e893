//! `[[event]]`: tags for a custom event from another system (`POST /api/events`), by its
//! name and, with a `where`, only when its properties pass the tests (the condition
//! language's property operators, through its one parser and evaluator). Several
//! `[[event]]`s may name one event: each whose `where` holds adds its tags, with the source
//! `event:<name>`.

use std::ops::Range;

use super::super::Source;
use super::super::condition::PropFilter;
use super::super::file::RawEvent;
use super::{Builder, FileCtx};
use crate::domain::EventName;

impl Builder {
    pub(super) fn event(&mut self, ctx: &FileCtx, span: Range<usize>, raw: RawEvent) {
        let tags: Vec<_> = raw
            .tags
            .into_iter()
            .filter_map(|t| self.rule_tag(ctx, t))
            .collect();
        let name_span = raw.name.span();
        let name = match EventName::parse(raw.name.get_ref()) {
            Ok(name) => name,
            Err(e) => {
                let message = format!(
                    "[[event]] name \"{}\": {e}; write the name the other system sends, e.g. \
                     order",
                    raw.name.get_ref()
                );
                self.error(ctx, &name_span, message);
                return;
            }
        };
        let filter = match raw.filter {
            None => None,
            Some(raw) => match PropFilter::from_toml(raw.get_ref()) {
                Ok(filter) => Some(filter),
                Err(e) => {
                    self.error(ctx, &raw.span(), format!("[[event]] {e}"));
                    return;
                }
            },
        };
        if tags.is_empty() {
            let message = format!(
                "[[event]] \"{name}\" has no tags, so it does nothing (the event counts as the \
                 touch event:{name} without it)"
            );
            self.warn(ctx, &span, message);
        }
        let rule = self.push(Source::of("event", name.as_str()), tags, None);
        self.rules
            .events
            .entry(name)
            .or_default()
            .push((rule, filter));
    }
}
