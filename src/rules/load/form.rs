//! `[[form]]`: lead forms, by id; an id may be claimed once across all files. Every tag a
//! form can make is known here (its `tags`, and each select option through
//! `tag_from_field`), so the tag limit and the derived-tag checks count them all.

use std::collections::{BTreeMap, HashSet};
use std::ops::Range;

use toml::Spanned;

use super::super::Source;
use super::super::file::{RawField, RawForm};
use super::super::form::{FieldKind, FieldTags, Form, FormField, digest};
use super::{Builder, FileCtx};
use crate::domain::{FieldName, FormId, TagName};

/// The most fields a form may have (each submission's work stays small).
pub(in crate::rules) const MAX_FIELDS: usize = 20;

/// The most options a select field may have.
const MAX_OPTIONS: usize = 50;

/// The thanks page's text when a form gives none.
const DEFAULT_THANKS: &str = "提交成功，感谢您的信任！我们会尽快与您联系。";

impl Builder {
    pub(super) fn form(&mut self, ctx: &FileCtx, raw: RawForm) {
        let id_span = raw.id.span();
        let Some(id) = self.claim_id(ctx, raw.id, "form", "trial-2026", FormId::parse, |b, id| {
            b.form_at.get(id)
        }) else {
            return;
        };
        let mut ok = true;
        let title = self.non_empty(ctx, raw.title, "title", &mut ok);
        let consent = self.non_empty(ctx, raw.consent, "consent (the PIPL consent text)", &mut ok);
        let thanks = match raw.thanks {
            Some(thanks) => self.non_empty(ctx, thanks, "thanks", &mut ok),
            None => DEFAULT_THANKS.to_owned(),
        };
        let fields_span = raw.fields.span();
        let fields = self.fields(ctx, &fields_span, raw.fields.into_inner(), &mut ok);
        let tags: Vec<TagName> = raw
            .tags
            .into_iter()
            .filter_map(|t| self.rule_tag(ctx, t))
            .collect();
        let field_tags = match raw.tag_from_field {
            Some(table) => self.field_tags(ctx, &id, &fields, table, &mut ok),
            None => Vec::new(),
        };
        if !ok {
            return;
        }
        self.form_at.insert(id.clone(), ctx.at(&id_span));
        let source = Source::of("form", id.as_str());
        // The value tags have a rule of their own that no touch matches: the tag limit, the
        // derived-tag checks and the tags page see them, and a submission adds only the one
        // its value makes.
        let value_tags: Vec<TagName> = field_tags
            .iter()
            .flat_map(|ft| ft.tags.iter().map(|(_, t)| t.clone()))
            .collect();
        if !value_tags.is_empty() {
            self.push(source.clone(), value_tags, None);
        }
        let rule = self.push(source, tags, None);
        let mut parts: Vec<String> = vec![title.clone(), consent.clone()];
        for f in &fields {
            parts.extend([
                f.name.to_string(),
                f.label.clone(),
                f.kind.as_str().to_owned(),
                f.required.to_string(),
            ]);
            parts.extend(f.options.iter().cloned());
        }
        let form = Form {
            version: digest(parts.iter().map(String::as_str))[..16].to_owned(),
            consent_hash: digest([consent.as_str()]),
            id: id.clone(),
            title,
            fields,
            consent,
            thanks,
            field_tags,
            rule,
        };
        self.rules.forms.insert(id, form);
    }

    /// A text that must not be blank.
    fn non_empty(
        &mut self,
        ctx: &FileCtx,
        raw: Spanned<String>,
        what: &str,
        ok: &mut bool,
    ) -> String {
        if raw.get_ref().trim().is_empty() {
            self.error(
                ctx,
                &raw.span(),
                format!("[[form]] {what} is empty; write it"),
            );
            *ok = false;
        }
        raw.into_inner()
    }

    /// The fields, each checked; names unique within the form.
    fn fields(
        &mut self,
        ctx: &FileCtx,
        span: &Range<usize>,
        raw: Vec<Spanned<RawField>>,
        ok: &mut bool,
    ) -> Vec<FormField> {
        if raw.is_empty() || raw.len() > MAX_FIELDS {
            let message = format!("[[form]] has {} fields; give 1 to {MAX_FIELDS}", raw.len());
            self.error(ctx, span, message);
            *ok = false;
        }
        let mut seen: HashSet<FieldName> = HashSet::new();
        let mut out = Vec::new();
        for field in raw {
            let at = field.span();
            match self.field(ctx, &at, field.into_inner()) {
                Some(f) if !seen.insert(f.name.clone()) => {
                    let message = format!(
                        "field name \"{}\" is used twice in this form; give each field its own name",
                        f.name
                    );
                    self.error(ctx, &at, message);
                    *ok = false;
                }
                Some(f) => out.push(f),
                None => *ok = false,
            }
        }
        out
    }

    /// One field: a valid name, a known kind, options exactly on a select.
    fn field(&mut self, ctx: &FileCtx, at: &Range<usize>, raw: RawField) -> Option<FormField> {
        let name_span = raw.name.span();
        let name = match FieldName::parse(raw.name.get_ref()) {
            Ok(name) => name,
            Err(_) => {
                let message = format!(
                    "field name \"{}\" must be 1-32 of A-Z a-z 0-9 _ -, e.g. mobile",
                    raw.name.get_ref()
                );
                self.error(ctx, &name_span, message);
                return None;
            }
        };
        let Some(kind) = FieldKind::parse(raw.kind.get_ref()) else {
            let message = format!(
                "field \"{name}\" has kind \"{}\"; use text, mobile, email, select or textarea",
                raw.kind.get_ref()
            );
            self.error(ctx, &raw.kind.span(), message);
            return None;
        };
        if raw.label.get_ref().trim().is_empty() {
            let message = format!("field \"{name}\" has an empty label; write what it asks");
            self.error(ctx, &raw.label.span(), message);
            return None;
        }
        let options = match (kind, raw.options) {
            (FieldKind::Select, None) => {
                let message =
                    format!("select field \"{name}\" has no options; list them in options = [...]");
                self.error(ctx, at, message);
                return None;
            }
            (FieldKind::Select, Some(options)) => {
                let span = options.span();
                let options = options.into_inner();
                let mut seen = HashSet::new();
                let problem = if options.is_empty() || options.len() > MAX_OPTIONS {
                    Some(format!(
                        "select field \"{name}\" has {} options; give 1 to {MAX_OPTIONS}",
                        options.len()
                    ))
                } else if let Some(o) = options.iter().find(|o| o.trim().is_empty()) {
                    Some(format!(
                        "select field \"{name}\" has an empty option {o:?}; remove it"
                    ))
                } else {
                    options.iter().find(|o| !seen.insert(*o)).map(|o| {
                        format!("select field \"{name}\" lists option \"{o}\" twice; list it once")
                    })
                };
                if let Some(message) = problem {
                    self.error(ctx, &span, message);
                    return None;
                }
                options
            }
            (_, Some(options)) => {
                let message = format!(
                    "field \"{name}\" is {} but has options; only a select field has options",
                    kind.as_str()
                );
                self.error(ctx, &options.span(), message);
                return None;
            }
            (_, None) => Vec::new(),
        };
        Some(FormField {
            name,
            label: raw.label.into_inner(),
            kind,
            required: raw.required,
            options,
        })
    }

    /// `tag_from_field = { <select field> = "<prefix>{}" }`: each option's tag, checked and
    /// counted like any rule's tag.
    fn field_tags(
        &mut self,
        ctx: &FileCtx,
        id: &FormId,
        fields: &[FormField],
        table: Spanned<BTreeMap<String, Spanned<String>>>,
        ok: &mut bool,
    ) -> Vec<FieldTags> {
        let table_span = table.span();
        let mut out = Vec::new();
        for (name, pattern) in table.into_inner() {
            let Some(field) = fields.iter().find(|f| f.name.as_str() == name) else {
                let message = format!(
                    "tag_from_field names field \"{name}\", but form \"{id}\" has no such field"
                );
                self.error(ctx, &table_span, message);
                *ok = false;
                continue;
            };
            if field.kind != FieldKind::Select {
                let message = format!(
                    "tag_from_field names field \"{name}\", which is {}; only a select field \
                     can tag, so that every tag it makes is known",
                    field.kind.as_str()
                );
                self.error(ctx, &table_span, message);
                *ok = false;
                continue;
            }
            let span = pattern.span();
            let pattern = pattern.into_inner();
            if pattern.matches("{}").count() != 1 {
                let message = format!(
                    "tag_from_field pattern \"{pattern}\" must hold {{}} once, where the chosen \
                     value goes, e.g. \"兴趣:{{}}\""
                );
                self.error(ctx, &span, message);
                *ok = false;
                continue;
            }
            let mut tags = Vec::new();
            for option in &field.options {
                let raw = Spanned::new(span.clone(), pattern.replace("{}", option));
                match self.rule_tag(ctx, raw) {
                    Some(tag) => tags.push((option.clone(), tag)),
                    None => *ok = false,
                }
            }
            out.push(FieldTags {
                field: field.name.clone(),
                tags,
            });
        }
        out
    }
}
