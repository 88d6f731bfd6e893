//! `[menu]` and `[[menu.for]]`: the default menu and the conditional menus, each button
//! checked against WeChat's limits at its own line. One file gives the default menu; a
//! `[[menu.for]]` may be in any file, and file order decides which menu a lead with several
//! menu tags gets. The checks that span files (a default menu exists, at most 3 link domains
//! across the conditional menus, the tags and click keys the menus name) run once every file
//! is read.

use std::collections::HashMap;
use std::ops::Range;
use std::path::PathBuf;

use toml::Spanned;

use super::super::diagnostics::Diagnostic;
use super::super::file::{RawButton, RawMenu};
use super::super::{MenuFor, Menus, Rules};
use super::{Builder, FileCtx};
use crate::domain::TagName;
use crate::wechat::api::{Button, count_problem};
use crate::wechat::limits::{CONDITIONAL_MENUS, MENU_LINK_DOMAINS};

/// The menus read so far, and where, for the checks that need every file.
#[derive(Debug, Default)]
pub(super) struct MenuBuilder {
    menus: Menus,
    /// `file:line` of the `[menu]` that gave the default menu.
    default_at: Option<String>,
    /// Where each `[[menu.for]]` is, in the order of `menus.conditional`.
    for_at: Vec<(PathBuf, usize)>,
    /// Menu tag → `file:line` of its `[[menu.for]]`.
    tag_at: HashMap<TagName, String>,
    /// Every click key a button sends, with where the button is.
    keys: Vec<((PathBuf, usize), String, String)>,
}

/// A raw button as WeChat's shape, sub-buttons included, before any check.
fn to_button(raw: &RawButton) -> Button {
    Button {
        kind: raw.kind.clone(),
        name: raw.name.clone(),
        key: raw.key.clone(),
        url: raw.url.clone(),
        media_id: raw.media_id.clone(),
        article_id: raw.article_id.clone(),
        appid: raw.appid.clone(),
        pagepath: raw.pagepath.clone(),
        sub_button: raw
            .sub_button
            .iter()
            .map(|s| to_button(s.get_ref()))
            .collect(),
    }
}

impl Builder {
    pub(super) fn menu(&mut self, ctx: &FileCtx, raw: RawMenu) {
        if let Some(buttons) = raw.buttons {
            let span = buttons.span();
            if let Some(prev) = self.menus.default_at.clone() {
                let message = format!(
                    "the default menu is already defined at {prev}; keep one [menu] with buttons"
                );
                self.error(ctx, &span, message);
            } else if let Some(buttons) = self.buttons(ctx, buttons) {
                self.menus.default_at = Some(ctx.at(&span));
                self.menus.menus.default = Some(buttons);
            }
        }
        for item in raw.menus_for {
            let span = item.span();
            let raw = item.into_inner();
            let tag = self.tag(ctx, &raw.tag);
            let buttons = self.buttons(ctx, raw.buttons);
            let (Some(tag), Some(buttons)) = (tag, buttons) else {
                continue;
            };
            let problem = if let Some(prev) = self.menus.tag_at.get(&tag) {
                Some(format!(
                    "tag \"{tag}\" already has a menu at {prev}; a lead gets the first, so this \
                     one is never shown: remove one"
                ))
            } else if self.menus.menus.conditional.len() == CONDITIONAL_MENUS {
                Some(format!(
                    "this is conditional menu number {}; wechat takes at most \
                     {CONDITIONAL_MENUS} (errcode 65305)",
                    CONDITIONAL_MENUS + 1
                ))
            } else {
                None
            };
            if let Some(message) = problem {
                self.error(ctx, &raw.tag.span(), message);
                continue;
            }
            let at = ctx.at(&span);
            self.menus.tag_at.insert(tag.clone(), at.clone());
            self.menus
                .for_at
                .push((ctx.path.to_owned(), ctx.line(&span)));
            self.menus
                .menus
                .conditional
                .push(MenuFor { tag, buttons, at });
        }
    }

    /// A menu's buttons, each checked at its line; `None` when one fails.
    fn buttons(
        &mut self,
        ctx: &FileCtx,
        raw: Spanned<Vec<Spanned<RawButton>>>,
    ) -> Option<Vec<Button>> {
        let span = raw.span();
        let raw = raw.into_inner();
        let mut ok = true;
        if let Some(problem) = count_problem(raw.len(), false) {
            self.error(ctx, &span, problem.to_string());
            ok = false;
        }
        for button in &raw {
            ok &= self.check_button(ctx, button, false);
        }
        ok.then(|| raw.iter().map(|b| to_button(b.get_ref())).collect())
    }

    /// Checks one button and its sub-buttons, each at its own line; true when all pass.
    fn check_button(&mut self, ctx: &FileCtx, raw: &Spanned<RawButton>, sub: bool) -> bool {
        let span: Range<usize> = raw.span();
        let button = to_button(raw.get_ref());
        let mut ok = true;
        if let Some(problem) = button.problem(sub) {
            self.error(ctx, &span, problem.to_string());
            ok = false;
        }
        if !sub {
            if let Some(problem) = count_problem(button.sub_button.len(), true) {
                self.error(ctx, &span, problem.to_string());
                ok = false;
            }
            for child in &raw.get_ref().sub_button {
                ok &= self.check_button(ctx, child, true);
            }
        }
        if ok && button.kind.as_deref() == Some("click") {
            let at = (ctx.path.to_owned(), ctx.line(&span));
            for key in button.keys() {
                let entry = (at.clone(), button.name.clone(), key.to_owned());
                self.menus.keys.push(entry);
            }
        }
        ok
    }
}

impl MenuBuilder {
    /// Runs the checks that need every file and returns the menus.
    pub(super) fn finish(self, rules: &Rules, diags: &mut Vec<Diagnostic>) -> Menus {
        let Self {
            menus,
            for_at,
            keys,
            ..
        } = self;
        let mut domains: Vec<String> = Vec::new();
        for (menu, (file, line)) in menus.conditional.iter().zip(&for_at) {
            if menus.default.is_none() {
                let message = "[[menu.for]] needs a default menu: add a [menu] with buttons to \
                               a file (wechat refuses conditional menus without one, errcode \
                               65303)";
                diags.push(Diagnostic::error(file, *line, message));
            }
            for domain in menu.buttons.iter().flat_map(Button::domains) {
                if domains.contains(&domain) {
                    continue;
                }
                domains.push(domain);
                if domains.len() == MENU_LINK_DOMAINS + 1 {
                    let message = format!(
                        "the conditional menus link to {} domains ({}); wechat allows \
                         {MENU_LINK_DOMAINS} across them (errcode 65316): link fewer sites",
                        domains.len(),
                        domains.join(", ")
                    );
                    diags.push(Diagnostic::error(file, *line, message));
                }
            }
            if !rules.tags.contains(&menu.tag) {
                let message = format!(
                    "no rule, form or tier gives tag \"{}\", so no lead gets this menu; check \
                     the tag's spelling",
                    menu.tag
                );
                diags.push(Diagnostic::warning(file, *line, message));
            }
        }
        for ((file, line), name, key) in keys {
            if !rules.clicks.contains_key(&key) {
                let message = format!(
                    "button \"{name}\" sends click key \"{key}\", but no [[click]] has key = \
                     \"{key}\"; add the [[click]] (its tags and reply) or fix the key"
                );
                diags.push(Diagnostic::warning(&file, line, message));
            }
        }
        menus
    }
}
