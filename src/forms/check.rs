//! Checking a submission against its form: every field as its kind says, the consent box,
//! with the messages the page shows in Chinese. Pure functions, no I/O.

use std::collections::BTreeMap;

use crate::domain::FieldName;
use crate::rules::{FieldKind, Form, FormField};

/// The longest value of a one-line field (text, select), in characters.
pub const TEXT_MAX_CHARS: usize = 100;

/// The longest value of a textarea, in characters.
pub const TEXTAREA_MAX_CHARS: usize = 2000;

/// The longest e-mail address (RFC 5321's path limit).
pub const EMAIL_MAX_CHARS: usize = 254;

/// What the person typed, by input name (the first value of each name).
pub type Input = BTreeMap<String, String>;

/// Why a submission is refused, by field name (`consent` for the consent box).
pub type Problems = BTreeMap<String, String>;

/// The name of the consent box's input on the page.
pub const CONSENT_INPUT: &str = "wx.consent";

/// The checked values in the form's order (blank optional fields left out), or every
/// problem found.
pub fn check(form: &Form, input: &Input) -> Result<Vec<(FieldName, String)>, Problems> {
    let mut values = Vec::new();
    let mut problems = Problems::new();
    for field in &form.fields {
        let raw = input.get(field.name.as_str()).map_or("", String::as_str);
        match value(field, raw) {
            Ok(Some(v)) => values.push((field.name.clone(), v)),
            Ok(None) => {}
            Err(message) => {
                problems.insert(field.name.to_string(), message);
            }
        }
    }
    if input.get(CONSENT_INPUT).is_none_or(|v| v.is_empty()) {
        problems.insert(
            CONSENT_INPUT.to_owned(),
            "请阅读并勾选同意个人信息授权说明".to_owned(),
        );
    }
    if problems.is_empty() {
        Ok(values)
    } else {
        Err(problems)
    }
}

/// One field's value, cleaned: trimmed, control characters made spaces (a textarea keeps
/// its line breaks); `None` for a blank optional field.
fn value(field: &FormField, raw: &str) -> Result<Option<String>, String> {
    let keep_lines = field.kind == FieldKind::Textarea;
    let cleaned: String = raw
        .trim()
        .chars()
        .map(|c| match c {
            '\n' if keep_lines => c,
            '\r' if keep_lines => c,
            c if c.is_control() => ' ',
            c => c,
        })
        .collect();
    let label = &field.label;
    if cleaned.is_empty() {
        return match (field.required, field.kind) {
            (false, _) => Ok(None),
            (true, FieldKind::Select) => Err(format!("请选择{label}")),
            (true, _) => Err(format!("请填写{label}")),
        };
    }
    let chars = cleaned.chars().count();
    let max = match field.kind {
        FieldKind::Textarea => TEXTAREA_MAX_CHARS,
        FieldKind::Email => EMAIL_MAX_CHARS,
        _ => TEXT_MAX_CHARS,
    };
    if chars > max {
        return Err(format!("{label}最多 {max} 个字，现在是 {chars} 个"));
    }
    match field.kind {
        FieldKind::Mobile if !is_mobile(&cleaned) => {
            Err("请输入正确的手机号码（11 位数字，以 13 至 19 开头）".to_owned())
        }
        FieldKind::Email if !is_email(&cleaned) => {
            Err("请输入正确的电子邮箱，例如 name@example.com".to_owned())
        }
        FieldKind::Select if !field.options.contains(&cleaned) => {
            Err(format!("请从选项中选择{label}"))
        }
        _ => Ok(Some(cleaned)),
    }
}

/// A mainland mobile number: `1[3-9]\d{9}`.
pub fn is_mobile(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 11
        && b[0] == b'1'
        && (b'3'..=b'9').contains(&b[1])
        && b.iter().all(u8::is_ascii_digit)
}

/// An e-mail address as forms take it: one `@`, something before it, a domain of labels
/// separated by dots (at least two), no white space.
pub fn is_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    let labels: Vec<&str> = domain.split('.').collect();
    !local.is_empty()
        && !s.chars().any(char::is_whitespace)
        && labels.len() >= 2
        && labels
            .iter()
            .all(|l| !l.is_empty() && l.chars().all(|c| c.is_alphanumeric() || c == '-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mainland_mobile_numbers_and_email_addresses() {
        for ok in ["13800138000", "19912345678"] {
            assert!(is_mobile(ok), "{ok}");
        }
        for bad in [
            "12800138000",
            "1380013800",
            "138001380001",
            "1380013800a",
            "+8613800138000",
        ] {
            assert!(!is_mobile(bad), "{bad}");
        }
        for ok in ["a@b.cn", "li.lei+x@mail.example.com", "王@例子.中国"] {
            assert!(is_email(ok), "{ok}");
        }
        for bad in ["a@b", "@b.cn", "a b@c.cn", "a@b..cn", "a.b.cn", "a@b.c_n"] {
            assert!(!is_email(bad), "{bad}");
        }
    }
}
