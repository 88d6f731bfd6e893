//! Lead forms (留资) as the rules know them: a `[[form]]`'s fields, consent text, thanks page
//! and what a submission tags (its `tags`, and one tag per select value through
//! `tag_from_field`).
//!
//! The rules only say what a form asks and what a submission tags; serving it, checking
//! input and storing submissions live in the `forms` module, a layer above.

use sha2::{Digest, Sha256};

use crate::domain::{FieldName, FormId, TagName};

use super::{RuleId, Rules, Source};

/// What kind of input a field is, and so how it is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    /// One line of text.
    Text,
    /// A mainland mobile number, `1[3-9]` and 9 more digits.
    Mobile,
    /// An e-mail address.
    Email,
    /// One of the field's `options`.
    Select,
    /// Several lines of text.
    Textarea,
}

impl FieldKind {
    /// Reads a `kind = "…"`; `None` for a kind wxtag does not know.
    pub fn parse(raw: &str) -> Option<Self> {
        Some(match raw {
            "text" => Self::Text,
            "mobile" => Self::Mobile,
            "email" => Self::Email,
            "select" => Self::Select,
            "textarea" => Self::Textarea,
            _ => return None,
        })
    }

    /// The kind as written in a file.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Text => "text",
            Self::Mobile => "mobile",
            Self::Email => "email",
            Self::Select => "select",
            Self::Textarea => "textarea",
        }
    }
}

/// One field of a form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormField {
    /// The input's name, and the field's key on the lead.
    pub name: FieldName,
    /// What the page shows beside it.
    pub label: String,
    /// How it is entered and checked.
    pub kind: FieldKind,
    /// A submission without it is refused.
    pub required: bool,
    /// A select field's choices, in order (empty for other kinds).
    pub options: Vec<String>,
}

/// A select field whose chosen value tags the lead: `tag_from_field = { product = "兴趣:{}" }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldTags {
    /// The select field.
    pub field: FieldName,
    /// Each option with the tag it makes.
    pub tags: Vec<(String, TagName)>,
}

/// One `[[form]]`.
#[derive(Debug, Clone)]
pub struct Form {
    /// Its id: `/f/<id>`, `{form:<id>}`, touch key `form:<id>`.
    pub id: FormId,
    /// The page's heading.
    pub title: String,
    /// The fields, in page order.
    pub fields: Vec<FormField>,
    /// The PIPL consent text beside the required checkbox.
    pub consent: String,
    /// What the page says after a submission.
    pub thanks: String,
    /// The select fields that tag by their value.
    pub field_tags: Vec<FieldTags>,
    /// A digest of what the form asks (title, fields, consent), stored with each submission
    /// so the consent a person gave can be told apart from a later edit.
    pub version: String,
    /// The digest of the consent text, stored with each submission.
    pub consent_hash: String,
    /// The rule a submission counts as (source `form:<id>`, the form's `tags`).
    pub(super) rule: RuleId,
}

impl Form {
    /// The field named `name`, if the form has it.
    pub fn field(&self, name: &str) -> Option<&FormField> {
        self.fields.iter().find(|f| f.name.as_str() == name)
    }

    /// The tags `tag_from_field` makes from the submitted values (`value(field)`).
    pub fn value_tags<'v>(&self, value: impl Fn(&FieldName) -> Option<&'v str>) -> Vec<&TagName> {
        self.field_tags
            .iter()
            .filter_map(|ft| {
                let chosen = value(&ft.field)?;
                ft.tags.iter().find(|(o, _)| o == chosen).map(|(_, t)| t)
            })
            .collect()
    }
}

/// The hex SHA-256 of `parts`, each ended by a NUL so no two lists digest alike.
pub(super) fn digest<'a>(parts: impl IntoIterator<Item = &'a str>) -> String {
    let mut hash = Sha256::new();
    for part in parts {
        hash.update(part.as_bytes());
        hash.update([0]);
    }
    hex::encode(hash.finalize())
}

impl Rules {
    /// The `[[form]]` with this id, if a file names it.
    pub fn form(&self, id: &FormId) -> Option<&Form> {
        self.forms.get(id)
    }

    /// True when some file declares a `[[form]]`.
    pub fn has_forms(&self) -> bool {
        !self.forms.is_empty()
    }

    /// Why a form's submission tags: its rule's source, `form:<id>`.
    pub fn form_source(&self, form: &Form) -> &Source {
        &self.rules[form.rule].source
    }
}
