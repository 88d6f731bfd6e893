//! Starting runs: what fired, matched against every automation's trigger and `when`.

use std::collections::BTreeSet;

use super::Automator;
use crate::domain::{OpenId, UnixTime};
use crate::rules::Rules;
use crate::rules::automation::{Automation, Fired};
use crate::store::{EnteredEntry, FiredEntry, LeadState, NewRun, StoreError};

/// The id of `automation`'s run for `openid`: one per lead, or with `repeat = true` one per
/// firing (`instance`).
pub fn run_id(automation: &Automation, openid: &OpenId, instance: &str) -> String {
    if automation.repeat {
        format!("{}:{openid}:{instance}", automation.name)
    } else {
        format!("{}:{openid}", automation.name)
    }
}

/// Starts the runs the inbox entries fire, then acknowledges them; how many started.
pub(super) async fn from_inbox(
    worker: &Automator,
    rules: &Rules,
    entries: &[FiredEntry],
    now: UnixTime,
) -> Result<usize, StoreError> {
    let mut started = 0;
    for entry in entries {
        let Some(openid) = &entry.openid else {
            tracing::warn!(id = %entry.id, "an automation inbox entry names no lead; dropped");
            continue;
        };
        let fired = Fired::decode(&entry.fired);
        started += start_matching(worker, rules, openid, &fired, &entry.id, now).await?;
    }
    let ids: Vec<String> = entries.iter().map(|e| e.id.clone()).collect();
    worker.store.ack_fired(&ids).await?;
    Ok(started)
}

/// Starts the runs of `segment_entered` automations, then acknowledges the entries.
pub(super) async fn from_segments(
    worker: &Automator,
    rules: &Rules,
    entries: &[EnteredEntry],
    now: UnixTime,
) -> Result<usize, StoreError> {
    let mut started = 0;
    for entry in entries {
        let (Some(openid), Some(segment)) = (&entry.openid, &entry.segment) else {
            continue;
        };
        let fired = [Fired::SegmentEntered(segment.to_string())];
        started += start_matching(worker, rules, openid, &fired, &entry.id, now).await?;
    }
    let ids: Vec<String> = entries.iter().map(|e| e.id.clone()).collect();
    worker.store.ack_entered(&ids).await?;
    Ok(started)
}

/// Starts a run of every automation a firing in `fired` starts whose `when` holds for the
/// lead now (read once, only when some automation has a `when`).
async fn start_matching(
    worker: &Automator,
    rules: &Rules,
    openid: &OpenId,
    fired: &[Fired],
    entry: &str,
    now: UnixTime,
) -> Result<usize, StoreError> {
    let mut lead: Option<Option<LeadState>> = None;
    let mut started = 0;
    for automation in rules.automations() {
        let Some(firing) = fired.iter().find(|f| automation.on.matches(f)) else {
            continue;
        };
        if let Some(when) = &automation.when {
            if lead.is_none() {
                let state = (worker.store.lead_states(std::slice::from_ref(openid))).await?;
                lead = Some(state.into_iter().next().flatten());
            }
            let Some(Some(state)) = &lead else {
                continue;
            };
            let tags: BTreeSet<String> = state.tags.iter().map(|t| t.name.to_string()).collect();
            if !rules.holds(when, state, &tags, now) {
                continue;
            }
        }
        let instance = firing.instance().unwrap_or_else(|| entry.to_owned());
        let id = run_id(automation, openid, &instance);
        let run = NewRun {
            id: &id,
            automation: automation.name.as_str(),
            openid,
            trigger: &automation.on.describe(),
            at: now,
        };
        if worker.store.start_run(&run).await? {
            started += 1;
            (worker.metrics.automation_runs)
                .with_label_values(&[automation.name.as_str(), "started"])
                .inc();
        }
    }
    Ok(started)
}
