//! `[[automation]]`: a trigger, an optional `when`, and steps, checked as far as one file
//! allows; what needs every file (stages, derived tags, forms) is checked once they are in
//! ([`check_automations`]).

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::PathBuf;

use toml::Spanned;

use super::super::Rules;
use super::super::automation::{
    Action, Automation, QuietHours, Step, TemplateMessage, Trigger, Watch,
};
use super::super::diagnostics::Diagnostic;
use super::super::file::{RawAutomation, RawSend, RawStep};
use super::{Builder, FileCtx, Section};
use crate::domain::{AutomationName, EventName, FormId, NotifyName, SegmentName, TagName};
use crate::wechat::reply::Reply;

/// The longest wait a step may take: a year.
const MAX_WAIT_SECS: u64 = 365 * 86_400;

/// How long the longest customer-service window lasts (a user message's, 48 hours): a send
/// that waits this long after its trigger can only be outside the window that opened.
const WINDOW_SECS: u64 = 48 * 3600;

/// The longest inactivity an `inactive_days` trigger may wait for.
const MAX_INACTIVE_DAYS: i64 = 3650;

/// What an automation names that only the whole folder can confirm.
#[derive(Debug)]
pub(in crate::rules) enum AutomationRef {
    /// `on = { stage = T }`: T must be a `[lifecycle]` stage.
    Stage(TagName),
    /// `on = { form = ID }`: a warning when no `[[form]]` has the id.
    Form(FormId),
    /// `add_tags` / `remove_tags`: a derived tag belongs to its section alone.
    EditedTag(TagName),
    /// `notify = NAME`: a `[[notify]]` must have the name.
    Notify(NotifyName),
}

impl Builder {
    pub(super) fn automation(&mut self, ctx: &FileCtx, raw: RawAutomation) {
        let name_span = raw.name.span();
        let name = match AutomationName::parse(raw.name.get_ref()) {
            Ok(name) => name,
            Err(e) => {
                let message = format!(
                    "[[automation]] name \"{}\": {e}; e.g. name = \"商机提醒\"",
                    raw.name.get_ref()
                );
                self.error(ctx, &name_span, message);
                return;
            }
        };
        if let Some(prev) = self.automation_at.get(&name) {
            let message = format!(
                "automation \"{name}\" is already defined at {prev}; give each [[automation]] \
                 its own name"
            );
            self.error(ctx, &name_span, message);
            return;
        }
        self.automation_at.insert(name.clone(), ctx.at(&name_span));
        let on = self.trigger(ctx, raw.on);
        let when = raw.when.and_then(|w| self.condition(ctx, w));
        let quiet_hours = raw
            .quiet_hours
            .and_then(|q| match QuietHours::parse(q.get_ref()) {
                Ok(quiet) => Some(quiet),
                Err(message) => {
                    self.error(ctx, &q.span(), message);
                    None
                }
            });
        let max_messages_per_day =
            raw.max_messages_per_day
                .and_then(|max| match u32::try_from(*max.get_ref()) {
                    Ok(n) if n >= 1 => Some(n),
                    _ => {
                        let message =
                            "max_messages_per_day must be 1 or more; leave it out for no cap";
                        self.error(ctx, &max.span(), message);
                        None
                    }
                });
        let steps_span = raw.steps.span();
        let raw_steps = raw.steps.into_inner();
        if raw_steps.is_empty() {
            let message = format!("automation \"{name}\" has no steps, so it does nothing");
            self.error(ctx, &steps_span, message);
        }
        let mut steps = Vec::new();
        let mut waited = 0;
        for raw in raw_steps {
            let step_span = raw.span();
            let Some(step) = self.step(ctx, &name, raw.into_inner(), &step_span) else {
                continue;
            };
            if let Action::Wait(secs) = step.action {
                waited += secs;
            }
            let outside_only =
                waited >= WINDOW_SECS || matches!(on, Some(Trigger::InactiveDays(_)));
            if let (Action::Send { fallback: None, .. }, true) = (&step.action, outside_only) {
                let why = if waited >= WINDOW_SECS {
                    "after a wait of 48 h or more the window its trigger opened has closed"
                } else {
                    "an inactive lead has sent nothing for days, so no window is open"
                };
                let message = format!(
                    "this send can only run outside WeChat's customer-service window ({why}); \
                     add a template fallback (template = \"…\", data = {{ … }}) or use notify \
                     to tell sales instead"
                );
                self.error(ctx, &step_span, message);
            }
            steps.push(step);
        }
        let (Some(on), false) = (on, steps.is_empty()) else {
            return;
        };
        self.rules.automations.push(Automation {
            name,
            on,
            when,
            steps,
            repeat: raw.repeat,
            quiet_hours,
            max_messages_per_day,
        });
    }

    /// `on = { tag_added = T }` and its siblings: exactly one key.
    fn trigger(&mut self, ctx: &FileCtx, raw: Spanned<toml::Value>) -> Option<Trigger> {
        let span = raw.span();
        let kinds = "tag_added, tag_removed, stage, form, event, segment_entered or inactive_days";
        let Some(table) = raw.get_ref().as_table().filter(|t| t.len() == 1) else {
            let message = format!(
                "`on` must be a table with one key, one of {kinds}, e.g. on = {{ tag_added = \
                 \"兴趣:PLC\" }}"
            );
            self.error(ctx, &span, message);
            return None;
        };
        let (key, value) = table.iter().next()?;
        let trigger = match (key.as_str(), value) {
            ("tag_added" | "tag_removed" | "stage", toml::Value::String(s)) => {
                let tag = self.tag(ctx, &Spanned::new(span.clone(), s.clone()))?;
                match key.as_str() {
                    "tag_added" => Trigger::TagAdded(tag),
                    "tag_removed" => Trigger::TagRemoved(tag),
                    _ => {
                        self.automation_refs
                            .push((Self::here(ctx, &span), AutomationRef::Stage(tag.clone())));
                        Trigger::Stage(tag)
                    }
                }
            }
            ("form", toml::Value::String(s)) => match FormId::parse(s) {
                Ok(id) => {
                    let at = Self::here(ctx, &span);
                    self.automation_refs
                        .push((at, AutomationRef::Form(id.clone())));
                    Trigger::Form(id)
                }
                Err(e) => return self.bad(ctx, &span, format!("on.form \"{s}\": {e}")),
            },
            ("event", toml::Value::String(s)) => match EventName::parse(s) {
                Ok(name) => Trigger::Event(name),
                Err(e) => return self.bad(ctx, &span, format!("on.event \"{s}\": {e}")),
            },
            ("segment_entered", toml::Value::String(s)) => match SegmentName::parse(s) {
                Ok(name) => Trigger::SegmentEntered(name),
                Err(e) => return self.bad(ctx, &span, format!("on.segment_entered \"{s}\": {e}")),
            },
            ("inactive_days", toml::Value::Integer(days)) => {
                if !(1..=MAX_INACTIVE_DAYS).contains(days) {
                    let message =
                        format!("on.inactive_days must be 1..={MAX_INACTIVE_DAYS}, not {days}");
                    return self.bad(ctx, &span, message);
                }
                Trigger::InactiveDays(u32::try_from(*days).ok()?)
            }
            ("tag_added" | "tag_removed" | "stage" | "form" | "event" | "segment_entered", _) => {
                return self.bad(ctx, &span, format!("on.{key} must be a string"));
            }
            ("inactive_days", _) => {
                return self.bad(ctx, &span, "on.inactive_days must be a number of days");
            }
            (other, _) => {
                return self.bad(
                    ctx,
                    &span,
                    format!("unknown trigger `{other}`; use {kinds}"),
                );
            }
        };
        Some(trigger)
    }

    /// Reports `message` at `span` and gives nothing.
    fn bad<T>(
        &mut self,
        ctx: &FileCtx,
        span: &Range<usize>,
        message: impl Into<String>,
    ) -> Option<T> {
        self.error(ctx, span, message);
        None
    }

    /// One step: exactly one action (a send's template fallback aside).
    fn step(
        &mut self,
        ctx: &FileCtx,
        automation: &AutomationName,
        raw: RawStep,
        span: &Range<usize>,
    ) -> Option<Step> {
        let when = raw.when.and_then(|w| self.condition(ctx, w));
        let actions = [
            raw.send.is_some(),
            raw.template.is_some() && raw.send.is_none(),
            raw.notify.is_some(),
            raw.add_tags.is_some(),
            raw.remove_tags.is_some(),
            raw.wait.is_some(),
        ];
        if actions.iter().filter(|&&a| a).count() != 1 {
            let message = format!(
                "each step of automation \"{automation}\" does one thing: send, template, notify, \
                 add_tags, remove_tags or wait (a send may also carry template and data, its \
                 fallback outside the window)"
            );
            return self.bad(ctx, span, message);
        }
        let template = match (raw.template, raw.data, raw.url) {
            (Some(id), data, url) => Some(self.template(ctx, id, data, url)?),
            (None, Some(data), _) => {
                return self.bad(
                    ctx,
                    &data.span(),
                    "data without template; name the template id",
                );
            }
            (None, None, Some(url)) => {
                return self.bad(
                    ctx,
                    &url.span(),
                    "url without template; a template message carries it",
                );
            }
            (None, None, None) => None,
        };
        let action = if let Some(send) = raw.send {
            let message = self.send_message(ctx, send)?;
            Action::Send {
                message,
                fallback: template,
            }
        } else if let Some(template) = template {
            Action::Template(template)
        } else if let Some(target) = raw.notify {
            let span = target.span();
            match NotifyName::parse(target.get_ref()) {
                Ok(name) => {
                    let at = Self::here(ctx, &span);
                    self.automation_refs
                        .push((at, AutomationRef::Notify(name.clone())));
                    Action::Notify(name)
                }
                Err(e) => {
                    let message = format!(
                        "notify \"{}\": {e}; write its [[notify]] name",
                        target.get_ref()
                    );
                    return self.bad(ctx, &span, message);
                }
            }
        } else if let Some(tags) = raw.add_tags {
            Action::AddTags(self.edited_tags(ctx, tags)?)
        } else if let Some(tags) = raw.remove_tags {
            Action::RemoveTags(self.edited_tags(ctx, tags)?)
        } else {
            let wait = raw.wait?;
            match parse_wait(wait.get_ref()) {
                Ok(secs) => Action::Wait(secs),
                Err(message) => return self.bad(ctx, &wait.span(), message),
            }
        };
        Some(Step { action, when })
    }

    fn template(
        &mut self,
        ctx: &FileCtx,
        id: Spanned<String>,
        data: Option<Spanned<BTreeMap<String, String>>>,
        url: Option<Spanned<String>>,
    ) -> Option<TemplateMessage> {
        let template_id = id.get_ref().trim().to_owned();
        if template_id.is_empty() {
            return self.bad(
                ctx,
                &id.span(),
                "template names no id; copy it from the WeChat console (模板消息)",
            );
        }
        let Some(data) = data else {
            let message =
                "a template step needs data = { field = \"value\", … } for the template's fields";
            return self.bad(ctx, &id.span(), message);
        };
        if let Some(url) = &url {
            let u = url.get_ref();
            if !(u.starts_with("https://") || u.starts_with("http://")) {
                return self.bad(
                    ctx,
                    &url.span(),
                    format!("template url \"{u}\" is not an http(s) URL"),
                );
            }
        }
        Some(TemplateMessage {
            template_id,
            url: url.map(Spanned::into_inner),
            data: data.into_inner(),
        })
    }

    /// A send's text or its one news article (a customer-service news message carries one).
    fn send_message(&mut self, ctx: &FileCtx, raw: Spanned<RawSend>) -> Option<Reply> {
        let span = raw.span();
        match raw.into_inner() {
            RawSend {
                text: Some(text),
                news: None,
            } => {
                let text_span = text.span();
                self.text(ctx, &text_span, text.into_inner())
            }
            RawSend {
                text: None,
                news: Some(news),
            } => {
                if news.get_ref().len() != 1 {
                    let message = "a customer-service news message carries exactly 1 article";
                    return self.bad(ctx, &news.span(), message);
                }
                self.news(ctx, Section::Automation, news)
            }
            _ => self.bad(
                ctx,
                &span,
                "send needs text = \"…\" or news = [ … ], not both",
            ),
        }
    }

    fn edited_tags(
        &mut self,
        ctx: &FileCtx,
        raw: Spanned<Vec<Spanned<String>>>,
    ) -> Option<Vec<TagName>> {
        let span = raw.span();
        let raw = raw.into_inner();
        if raw.is_empty() {
            return self.bad(ctx, &span, "the step names no tags");
        }
        let mut tags = Vec::new();
        for tag in raw {
            let tag_span = tag.span();
            let tag = self.rule_tag(ctx, tag)?;
            let at = Self::here(ctx, &tag_span);
            self.automation_refs
                .push((at, AutomationRef::EditedTag(tag.clone())));
            tags.push(tag);
        }
        Some(tags)
    }
}

/// `30m`, `12h`, `2d` as seconds.
fn parse_wait(s: &str) -> Result<u64, String> {
    let bad =
        || format!("wait \"{s}\" must be a whole number of minutes, hours or days: 30m, 12h, 2d");
    let unit = match s.chars().last() {
        Some('m') => 60,
        Some('h') => 3600,
        Some('d') => 86_400,
        _ => return Err(bad()),
    };
    let n: u64 = s[..s.len() - 1].parse().map_err(|_| bad())?;
    match n.checked_mul(unit) {
        Some(0) => Err(format!(
            "wait \"{s}\" waits for nothing; leave the step out"
        )),
        Some(secs) if secs <= MAX_WAIT_SECS => Ok(secs),
        _ => Err(format!("wait \"{s}\" is longer than a year")),
    }
}

/// The checks that need every file: stages, forms and derived tags; then the watch the
/// apply path uses.
pub(in crate::rules) fn check_automations(
    rules: &mut Rules,
    refs: Vec<((PathBuf, usize), AutomationRef)>,
    diags: &mut Vec<Diagnostic>,
) {
    for ((file, line), r) in refs {
        match r {
            AutomationRef::Stage(tag) => {
                if !rules.stage_tags().contains(&&tag) {
                    let stages: Vec<String> =
                        rules.stage_tags().iter().map(|t| t.to_string()).collect();
                    let known = if stages.is_empty() {
                        "there is no [lifecycle]".to_owned()
                    } else {
                        format!("the stages are {}", stages.join(", "))
                    };
                    let message = format!(
                        "on.stage \"{tag}\" is not a [lifecycle] stage ({known}); use tag_added \
                         for other tags"
                    );
                    diags.push(Diagnostic::error(&file, line, message));
                }
            }
            AutomationRef::Form(id) => {
                if rules.form(&id).is_none() {
                    let message = format!(
                        "on.form \"{id}\" names no [[form]] yet, so it never fires until one \
                         has id = \"{id}\""
                    );
                    diags.push(Diagnostic::warning(&file, line, message));
                }
            }
            AutomationRef::Notify(name) => {
                if rules.notify_target(&name).is_none() {
                    let message = format!(
                        "notify = \"{name}\" names no [[notify]] target; add one with name = \"{name}\" \
                         (a wecom_robot or a webhook)"
                    );
                    diags.push(Diagnostic::error(&file, line, message));
                }
            }
            AutomationRef::EditedTag(tag) => {
                if rules.is_derived(tag.as_str()) {
                    let message = format!(
                        "\"{tag}\" is derived by the rules over time, so an automation may not \
                         add or remove it; tag with another name, or change the rule"
                    );
                    diags.push(Diagnostic::error(&file, line, message));
                }
            }
        }
    }
    rules.watch = Watch::of(&rules.automations);
}

#[cfg(test)]
mod tests {
    use super::super::super::automation::{Action, Trigger};
    use super::super::super::fixture::load;
    use super::parse_wait;

    /// Every diagnostic as `line: message`.
    fn said(toml: &str) -> Vec<String> {
        match load(&[("a.toml", toml)]) {
            Ok(loaded) => loaded.warnings,
            Err(failed) => failed.errors.into_iter().chain(failed.warnings).collect(),
        }
        .iter()
        .map(|d| format!("{}: {}", d.line, d.message))
        .collect()
    }

    const LIFECYCLE: &str = r#"
[[keyword]]
text = "报价"
tags = ["意向:询价"]

[lifecycle]
stages = [ { tag = "阶段:商机", when = { any = ["意向:询价"] } } ]
"#;

    #[test]
    fn an_automation_loads_with_its_trigger_steps_and_watch() {
        let toml = format!(
            r#"{LIFECYCLE}
[[automation]]
name = "商机提醒"
on = {{ stage = "阶段:商机" }}
quiet_hours = "22:00-08:00"
max_messages_per_day = 2
steps = [
  {{ add_tags = ["跟进:待联系"] }},
  {{ wait = "30m" }},
  {{ send = {{ text = "您好" }}, template = "TPL1", data = {{ thing1 = "样机" }}, when = {{ none = ["意向:试用"] }} }},
]
"#
        );
        let loaded = load(&[("a.toml", &toml)]).expect("loads");
        let automation = &loaded.rules.automations()[0];
        assert_eq!(automation.on, Trigger::Stage("阶段:商机".parse().unwrap()));
        assert_eq!(automation.steps.len(), 3);
        assert!(matches!(automation.steps[1].action, Action::Wait(1800)));
        assert!(matches!(
            &automation.steps[2].action,
            Action::Send { fallback: Some(t), .. } if t.template_id == "TPL1"
        ));
        assert!(automation.steps[2].when.is_some());
        assert_eq!(automation.max_messages_per_day, Some(2));
        assert!(loaded.rules.watch().on_added("阶段:商机"));
        assert!(!loaded.rules.watch().on_added("意向:询价"));
    }

    #[test]
    fn check_names_each_mistake_at_its_line() {
        let toml = format!(
            r#"{LIFECYCLE}
[[automation]]
name = "a"
on = {{ stage = "阶段:不存在" }}
steps = [ {{ add_tags = ["阶段:商机"] }} ]

[[automation]]
name = "a"
on = {{ tag_added = "x" }}
steps = [ {{ wait = "1h" }} ]

[[automation]]
name = "b"
on = {{ tag_added = "x", form = "trial" }}
steps = []

[[automation]]
name = "c"
on = {{ form = "nope" }}
steps = [ {{ wait = "2d" }}, {{ send = {{ text = "hi" }} }}, {{ notify = "s", wait = "1h" }} ]

[[automation]]
name = "d"
on = {{ inactive_days = 7 }}
quiet_hours = "late"
steps = [ {{ send = {{ text = "hi" }} }}, {{ wait = "3w" }} ]
"#
        );
        let said = said(&toml);
        let has = |line: usize, text: &str| {
            assert!(
                said.iter()
                    .any(|s| s.starts_with(&format!("{line}: ")) && s.contains(text)),
                "no {line}: …{text}… in {said:#?}"
            );
        };
        has(11, "not a [lifecycle] stage");
        has(12, "is derived by the rules over time");
        has(15, "already defined at");
        has(21, "`on` must be a table with one key");
        has(22, "has no steps");
        has(26, "names no [[form]] yet");
        has(
            27,
            "can only run outside WeChat's customer-service window (after a wait",
        );
        has(27, "does one thing");
        has(32, "quiet_hours \"late\" must be HH:MM-HH:MM");
        has(33, "an inactive lead has sent nothing");
        has(33, "wait \"3w\"");
        assert_eq!(said.len(), 11, "{said:#?}");
    }

    #[test]
    fn a_send_after_a_long_wait_is_fine_with_a_template_fallback() {
        let toml = r#"
[[automation]]
name = "nurture"
on = { tag_added = "意向:资料" }
steps = [ { wait = "3d" }, { send = { text = "hi" }, template = "T", data = { a = "b" } } ]
"#;
        assert_eq!(said(toml), Vec::<String>::new());
    }

    #[test]
    fn waits_are_minutes_hours_or_days() {
        assert_eq!(parse_wait("30m"), Ok(1800));
        assert_eq!(parse_wait("12h"), Ok(43_200));
        assert_eq!(parse_wait("2d"), Ok(172_800));
        assert!(parse_wait("0m").is_err());
        assert!(parse_wait("2w").is_err());
        assert!(parse_wait("h").is_err());
        assert!(parse_wait("400d").is_err());
    }
}
