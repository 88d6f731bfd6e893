//! Running a run's current step, and moving the run on.
//!
//! Sends go through [`crate::outreach::Sender`], which records each attempt before its
//! call (at most once: a send cut off by a crash is "unknown", never repeated) and puts the
//! result on the lead's timeline; quiet hours delay a send to their end, and past
//! `max_messages_per_day` it is skipped. A notify is enqueued under the delivery id
//! `<run>:<step>`, so enqueueing it again after a crash delivers it once.

use std::collections::BTreeSet;
use std::time::Duration;

use super::Automator;
use crate::domain::{OpenId, UnixTime};
use sha1::{Digest, Sha1};

use crate::domain::DeliveryId;
use crate::notify::{self, Notice, NoticeEvent};
use crate::outreach::{AttemptId, Outbound, SendOutcome, TemplateSend};
use crate::rules::Rules;
use crate::rules::automation::{Action, Automation, TemplateMessage, Trigger};
use crate::store::{LeadState, RunNext, RunState, StoreError, day_of};
use crate::wechat::reply::Reply;

/// How long the record of a repeatable automation's ended run is kept (one that runs once
/// per lead keeps its record for good: it is what says the lead ran it).
const REPEAT_RUN_KEPT: Duration = Duration::from_secs(30 * 86_400);

/// A run's step and where it was claimed.
struct At<'a> {
    id: &'a str,
    run: &'a RunState,
    automation: &'a Automation,
}

impl At<'_> {
    /// Where the run goes after its current step: the next step due at `due`, or its end.
    fn after(&self, due: UnixTime) -> RunNext {
        let index = self.run.step + 1;
        if index < self.automation.steps.len() {
            RunNext::Step { index, due }
        } else {
            RunNext::End {
                index,
                state: "done",
                keep: self.automation.repeat.then_some(REPEAT_RUN_KEPT),
            }
        }
    }

    /// The timeline's words for the current step.
    fn step_name(&self) -> String {
        let kind = self.automation.steps[self.run.step].action.kind();
        format!(
            "{} step {} ({kind})",
            self.automation.name,
            self.run.step + 1
        )
    }
}

/// Runs the current step of the claimed run `id` (`None`: its record is gone) and moves it
/// on; a run whose automation left `channels/` stops.
pub(super) async fn run_step(
    worker: &Automator,
    rules: &Rules,
    id: &str,
    run: Option<RunState>,
    now: UnixTime,
) -> Result<(), StoreError> {
    let store = &worker.store;
    let Some(run) = run.filter(|r| r.state == "running") else {
        return store.forget_run(id).await;
    };
    let Some(automation) = (rules.automations().iter()).find(|a| a.name.as_str() == run.automation)
    else {
        let note = format!(
            "{} stopped: no [[automation]] has this name any more",
            run.automation
        );
        let end = RunNext::End {
            index: run.step,
            state: "stopped",
            keep: Some(REPEAT_RUN_KEPT),
        };
        let moved = store.advance_run(
            id,
            &run.openid,
            run.step,
            end,
            Some(("automation", &note)),
            now,
        );
        moved.await?;
        return Ok(());
    };
    let at = At {
        id,
        run: &run,
        automation,
    };
    let Some(step) = automation.steps.get(run.step) else {
        return advance(worker, &at, at.after(now), None, "done", now).await;
    };
    if let Some(when) = &step.when {
        let Some(lead) = lead_state(worker, &run.openid).await? else {
            return stop_gone(worker, &at, now).await;
        };
        let tags: BTreeSet<String> = lead.tags.iter().map(|t| t.name.to_string()).collect();
        if !rules.holds(when, &lead, &tags, now) {
            let note = format!("{} skipped: its when does not hold", at.step_name());
            return advance(worker, &at, at.after(now), Some(&note), "skipped", now).await;
        }
    }
    match &step.action {
        Action::Wait(secs) => {
            let due = UnixTime(
                now.0
                    .saturating_add(i64::try_from(*secs).unwrap_or(i64::MAX)),
            );
            advance(worker, &at, at.after(due), None, "done", now).await
        }
        Action::AddTags(tags) | Action::RemoveTags(tags) => {
            let (add, remove): (&[_], &[_]) = match &step.action {
                Action::AddTags(_) => (tags, &[]),
                _ => (&[], tags),
            };
            let source = format!("automation:{}", automation.name);
            let watched = rules.watch().edited_mask(add, remove);
            match store
                .edit_tags(&run.openid, add, remove, &source, &watched, now)
                .await?
            {
                Some(_) => advance(worker, &at, at.after(now), None, "done", now).await,
                None => stop_gone(worker, &at, now).await,
            }
        }
        Action::Send { message, fallback } => {
            let personal = (worker
                .links
                .personalise(message, rules, store, &run.openid, now))
            .await;
            let message = match personal.into_owned() {
                Reply::Text(text) => Outbound::Text(text),
                Reply::News(mut articles) if !articles.is_empty() => {
                    Outbound::News(articles.remove(0))
                }
                // The loader gives a send a text or one article, nothing else.
                _ => return advance(worker, &at, at.after(now), None, "skipped", now).await,
            };
            let fallback = fallback.as_ref().map(template_send);
            let openid = &run.openid;
            send(worker, &at, now, |attempt| async move {
                (worker.sender)
                    .send(openid, &message, fallback.as_ref(), &attempt, now)
                    .await
            })
            .await
        }
        Action::Template(template) => {
            let template = template_send(template);
            let openid = &run.openid;
            send(worker, &at, now, |attempt| async move {
                (worker.sender)
                    .send_template(openid, &template, &attempt, now, None)
                    .await
            })
            .await
        }
        Action::Notify(target) => {
            let notice = Notice {
                target: target.clone(),
                event: notice_event(&automation.on),
                detail: automation.on.describe(),
                openid: run.openid.clone(),
                delivery: delivery_id(id, run.step),
            };
            notify::enqueue(store, &notice, now).await?;
            let note = format!("{} queued for {target}", at.step_name());
            advance(worker, &at, at.after(now), Some(&note), "done", now).await
        }
    }
}

/// A send or template step: delayed by quiet hours, skipped past the daily cap, else made
/// through `call` with the attempt id `<run>:<step>` and counted for the day when it went.
async fn send<F, Fut>(
    worker: &Automator,
    at: &At<'_>,
    now: UnixTime,
    call: F,
) -> Result<(), StoreError>
where
    F: FnOnce(AttemptId) -> Fut,
    Fut: std::future::Future<Output = Result<SendOutcome, StoreError>>,
{
    let automation = at.automation;
    if let Some(end) = automation.quiet_hours.and_then(|q| q.end_after(now)) {
        let delay = RunNext::Step {
            index: at.run.step,
            due: end,
        };
        return advance(worker, at, delay, None, "delayed", now).await;
    }
    let day = day_of(now);
    let name = automation.name.as_str();
    if let Some(max) = automation.max_messages_per_day
        && worker.store.sent_on(&at.run.openid, &day, name).await? >= max
    {
        let note = format!(
            "{} skipped: max_messages_per_day ({max}) reached today",
            at.step_name()
        );
        return advance(worker, at, at.after(now), Some(&note), "skipped", now).await;
    }
    let Ok(attempt) = AttemptId::parse(&format!("{}:{}", at.id, at.run.step)) else {
        let note = format!(
            "{} skipped: its run id is too long to record",
            at.step_name()
        );
        return advance(worker, at, at.after(now), Some(&note), "failed", now).await;
    };
    let outcome = call(attempt).await?;
    let result = match outcome {
        SendOutcome::Sent | SendOutcome::SentTemplate { .. } => {
            worker.store.count_sent(&at.run.openid, &day, name).await?;
            "done"
        }
        SendOutcome::Skipped(_) => "skipped",
        SendOutcome::Failed(_) | SendOutcome::Unknown => "failed",
    };
    advance(worker, at, at.after(now), None, result, now).await
}

/// What the alert says happened: the trigger's kind.
fn notice_event(trigger: &Trigger) -> NoticeEvent {
    match trigger {
        Trigger::TagAdded(_) => NoticeEvent::TagAdded,
        Trigger::TagRemoved(_) => NoticeEvent::TagRemoved,
        Trigger::Stage(_) => NoticeEvent::Stage,
        Trigger::Form(_) => NoticeEvent::Form,
        Trigger::Event(_) => NoticeEvent::Event,
        Trigger::SegmentEntered(_) => NoticeEvent::SegmentEntered,
        Trigger::InactiveDays(_) => NoticeEvent::InactiveDays,
    }
}

/// The delivery id of run `id`'s step: the same for the step however often it is enqueued
/// (a digest, as run ids hold names and openids a delivery id does not take).
fn delivery_id(id: &str, step: usize) -> DeliveryId {
    let digest = hex::encode(&Sha1::digest(id.as_bytes())[..10]);
    // 20 hex digits, a colon and a number: always a delivery id.
    DeliveryId::parse(&format!("run-{digest}:{step}")).expect("hex digits and a number")
}

/// The template message as the sender takes it.
fn template_send(template: &TemplateMessage) -> TemplateSend {
    TemplateSend {
        template_id: template.template_id.clone(),
        url: template.url.clone(),
        data: template.data.clone(),
    }
}

/// Moves the run on with `note` on the timeline, counting the step as `outcome` and the run
/// as done when it ends here.
async fn advance(
    worker: &Automator,
    at: &At<'_>,
    next: RunNext,
    note: Option<&str>,
    outcome: &str,
    now: UnixTime,
) -> Result<(), StoreError> {
    let note = note.map(|n| ("automation", n));
    if !(worker.store)
        .advance_run(at.id, &at.run.openid, at.run.step, next, note, now)
        .await?
    {
        return Ok(());
    }
    if let Some(step) = at.automation.steps.get(at.run.step) {
        (worker.metrics.automation_steps)
            .with_label_values(&[step.action.kind(), outcome])
            .inc();
    }
    if let RunNext::End { state, .. } = next {
        (worker.metrics.automation_runs)
            .with_label_values(&[at.automation.name.as_str(), state])
            .inc();
    }
    Ok(())
}

/// The run stops: its lead is gone.
async fn stop_gone(worker: &Automator, at: &At<'_>, now: UnixTime) -> Result<(), StoreError> {
    let end = RunNext::End {
        index: at.run.step,
        state: "stopped",
        keep: at.automation.repeat.then_some(REPEAT_RUN_KEPT),
    };
    advance(worker, at, end, None, "failed", now).await
}

/// The lead's state, `None` when wxtag no longer knows it.
async fn lead_state(worker: &Automator, openid: &OpenId) -> Result<Option<LeadState>, StoreError> {
    let states = worker
        .store
        .lead_states(std::slice::from_ref(openid))
        .await?;
    Ok(states.into_iter().next().flatten())
}
