//! `[[notify]]`: sales alert targets, by name; a name may be claimed once across all files.
//! Also `${NAME}` values: any string in `channels/` may take (part of) its value from the
//! environment at load. What the environment gave is a secret: every message `check` prints
//! has it replaced by its `${NAME}` again ([`redact_secrets`]).

use std::collections::HashMap;

use serde::Deserialize;
use toml::Spanned;
use toml::de::DeValue;

use super::super::diagnostics::Diagnostic;
use super::super::notify::{NotifyTarget, TargetKind};
use super::{Builder, FileCtx};
use crate::domain::{NotifyName, ParseError};

/// `[[notify]]`: a WeCom group robot or a signed webhook.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawNotify {
    name: Spanned<String>,
    wecom_robot: Option<Spanned<String>>,
    webhook: Option<Spanned<String>>,
    secret: Option<Spanned<String>>,
}

/// The longest target URL accepted, in bytes.
const MAX_URL_BYTES: usize = 2048;

impl Builder {
    /// One target: its name claimed once, exactly one of `wecom_robot` and `webhook`, an
    /// absolute http(s) URL, and a secret for (only) a webhook.
    pub(super) fn notify(&mut self, ctx: &FileCtx, span: std::ops::Range<usize>, raw: RawNotify) {
        let name_span = raw.name.span();
        let Some(name) = self.claim_name(ctx, raw.name) else {
            return;
        };
        let (url, webhook) = match (raw.wecom_robot, raw.webhook) {
            (Some(url), None) => (url, false),
            (None, Some(url)) => (url, true),
            (Some(_), Some(_)) | (None, None) => {
                let message = format!(
                    "[[notify]] \"{name}\" needs exactly one of wecom_robot = URL or webhook = URL \
                     (with secret); give it one"
                );
                self.error(ctx, &span, message);
                return;
            }
        };
        let url_span = url.span();
        let url = url.into_inner();
        if let Some(problem) = url_problem(&url) {
            self.error(ctx, &url_span, format!("[[notify]] \"{name}\": {problem}"));
            return;
        }
        let kind = match (webhook, raw.secret) {
            (true, Some(secret)) if !secret.get_ref().is_empty() => TargetKind::Webhook {
                url: url.into(),
                secret: secret.into_inner().into(),
            },
            (true, _) => {
                let message = format!(
                    "[[notify]] \"{name}\" is a webhook without a secret; add secret = \
                     \"${{HOOK_SECRET}}\" (the receiver checks X-Wxtag-Signature with it)"
                );
                self.error(ctx, &url_span, message);
                return;
            }
            (false, Some(secret)) => {
                let message = format!(
                    "[[notify]] \"{name}\": a wecom_robot takes no secret (its key is in the URL); \
                     remove secret"
                );
                self.error(ctx, &secret.span(), message);
                return;
            }
            (false, None) => TargetKind::Robot { url: url.into() },
        };
        self.notify_at.insert(name.clone(), ctx.at(&name_span));
        self.rules
            .notify
            .insert(name.clone(), NotifyTarget { name, kind });
    }

    /// A target's name, parsed and not taken already.
    fn claim_name(&mut self, ctx: &FileCtx, raw: Spanned<String>) -> Option<NotifyName> {
        let span = raw.span();
        let raw = raw.into_inner();
        let name = match NotifyName::parse(&raw) {
            Ok(name) => name,
            Err(ParseError::TooLong { len, max, .. }) => {
                let message = format!("notify name \"{raw}\" is {len} characters; at most {max}");
                self.error(ctx, &span, message);
                return None;
            }
            Err(_) => {
                let message = format!(
                    "notify name \"{raw}\" must be 1-32 of A-Z a-z 0-9 _ -, e.g. sales-robot"
                );
                self.error(ctx, &span, message);
                return None;
            }
        };
        if let Some(prev) = self.notify_at.get(&name) {
            let message = format!(
                "notify name \"{name}\" is already used at {prev}; give each [[notify]] its own name"
            );
            self.error(ctx, &span, message);
            return None;
        }
        Some(name)
    }

    /// Replaces every `${NAME}` in the file's string values by the environment's value, at
    /// any depth; a name the environment does not hold is an error at its line.
    pub(super) fn fill_env(&mut self, ctx: &FileCtx, value: &mut Spanned<DeValue>) {
        let span = value.span();
        match value.get_mut() {
            DeValue::String(text) if text.contains("${") => {
                match substitute(text, |name| std::env::var(name).ok()) {
                    Ok((filled, used)) => {
                        self.secrets.extend(used);
                        *text = filled.into();
                    }
                    Err(name) => {
                        let message = format!(
                            "${{{name}}} is not set in the environment; set it, or write the value"
                        );
                        self.error(ctx, &span, message);
                    }
                }
            }
            DeValue::Array(items) => items.iter_mut().for_each(|v| self.fill_env(ctx, v)),
            DeValue::Table(table) => table.iter_mut().for_each(|(_, v)| self.fill_env(ctx, v)),
            _ => {}
        }
    }
}

/// Every message's secrets (values the environment gave → their names) written back as
/// `${NAME}`, so `check`, the dashboard and the logs never show them.
pub(super) fn redact_secrets(diags: &mut [Diagnostic], secrets: HashMap<String, String>) {
    let mut secrets: Vec<(String, String)> = secrets.into_iter().collect();
    // The longest first, so a value holding a shorter one is replaced whole.
    secrets.sort_by_key(|(value, _)| std::cmp::Reverse(value.len()));
    for d in diags {
        for (value, name) in &secrets {
            if !value.is_empty() && d.message.contains(value.as_str()) {
                d.message = d.message.replace(value.as_str(), &format!("${{{name}}}"));
            }
        }
    }
}

/// `text` with every `${NAME}` (NAME: `A-Z a-z 0-9 _`, not starting with a digit) replaced by
/// `env(NAME)`, and the values used (value → name); the first name `env` lacks is the error.
/// A `$` not followed by a well-formed `${NAME}` stays as written.
fn substitute(
    text: &str,
    env: impl Fn(&str) -> Option<String>,
) -> Result<(String, HashMap<String, String>), String> {
    let mut out = String::with_capacity(text.len());
    let mut used = HashMap::new();
    let mut rest = text;
    while let Some(at) = rest.find("${") {
        out.push_str(&rest[..at]);
        let after = &rest[at + 2..];
        let name = after.split('}').next().unwrap_or_default();
        let well_formed = after.len() > name.len()
            && !name.is_empty()
            && !name.starts_with(|c: char| c.is_ascii_digit())
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !well_formed {
            out.push_str("${");
            rest = after;
            continue;
        }
        let value = env(name).ok_or_else(|| name.to_owned())?;
        out.push_str(&value);
        used.insert(value, name.to_owned());
        rest = &after[name.len() + 1..];
    }
    out.push_str(rest);
    Ok((out, used))
}

/// What is wrong with a target's URL, if anything: not absolute http(s) with a host, too
/// long, or holding white space.
fn url_problem(url: &str) -> Option<String> {
    if url.len() > MAX_URL_BYTES {
        return Some(format!(
            "the URL is {} bytes; at most {MAX_URL_BYTES}",
            url.len()
        ));
    }
    let parsed = match reqwest::Url::parse(url) {
        Ok(parsed) => parsed,
        Err(e) => {
            return Some(format!(
                "\"{url}\" is not a URL ({e}); write an absolute https:// URL, e.g. \
                 https://crm.example.com/hooks/wxtag"
            ));
        }
    };
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Some(format!(
            "\"{url}\" is not an http:// or https:// URL; write e.g. https://crm.example.com/hooks/wxtag"
        ));
    }
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Some(format!("\"{url}\" holds white space; escape it (%20)"));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        (name == "ROBOT_KEY").then(|| "k-123".to_owned())
    }

    #[test]
    fn a_name_inside_a_value_is_filled_and_remembered() {
        let (filled, used) = substitute(
            "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=${ROBOT_KEY}",
            env,
        )
        .unwrap();
        assert_eq!(
            filled,
            "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k-123"
        );
        assert_eq!(used.get("k-123").map(String::as_str), Some("ROBOT_KEY"));
    }

    #[test]
    fn a_missing_name_is_the_error_and_a_stray_dollar_stays() {
        assert_eq!(substitute("${NOPE}", env), Err("NOPE".to_owned()));
        let (kept, used) = substitute("price $5, ${ not a name}, ${1X}", env).unwrap();
        assert_eq!(kept, "price $5, ${ not a name}, ${1X}");
        assert!(used.is_empty());
    }

    #[test]
    fn urls_must_be_absolute_http() {
        assert!(url_problem("https://crm.example.com/hook").is_none());
        assert!(url_problem("ftp://crm.example.com/hook").is_some());
        assert!(url_problem("crm.example.com/hook").is_some());
        assert!(url_problem("https://").is_some());
    }
}
