//! Applying one touch together with what the rules over time derive from the lead with it
//! applied, in the touch's own script: the webhook's path, and that of every touch from
//! outside the chat (links, forms, events: [`apply_outside`]).

use super::Derivation;
use crate::domain::UnixTime;
use crate::rules::Rules;
use crate::store::{Applied, Effect, LeadState, OtherBody, Store, StoreError, TouchRecord};

/// How often the touch and its derived changes are computed again when other events on the
/// same lead keep landing in between, before the derived part is left to the scheduler.
const DERIVE_ATTEMPTS: usize = 3;

/// What a touch applied with its derived changes came to: what was applied, the lead after
/// it, and the derivation (both `None` when the derived part was left to the scheduler).
pub type AppliedDeriving = (Applied, Option<LeadState>, Option<Derivation>);

/// Reads the lead (a follow first guesses it new), derives from it with `record` applied,
/// and writes the touch and the derived changes in one script, checked against the lead's
/// version (a concurrent event on the lead, or a wrong guess, means reading again). After
/// three attempts the touch is applied alone and the lead is left due for the
/// scheduler. The touch's identity is remembered for `dedup_secs`. `Ok(Err(OtherBody))`
/// when the replay guard refused it.
pub async fn apply_deriving(
    store: &Store,
    rules: &Rules,
    record: &TouchRecord<'_>,
    now: UnixTime,
    dedup_secs: u64,
) -> Result<Result<AppliedDeriving, OtherBody>, StoreError> {
    let openid = record.openid;
    // A follow is most often someone new: guess so and skip the read; if the lead is known
    // after all, the version check says so and the lead is read as usual.
    let mut guess_new = record.effect == Effect::Follow;
    for _ in 0..DERIVE_ATTEMPTS + usize::from(guess_new) {
        let before = if std::mem::take(&mut guess_new) {
            None
        } else {
            store
                .lead_states(std::slice::from_ref(openid))
                .await?
                .pop()
                .flatten()
        };
        let after = LeadState::touched(before.as_ref(), record);
        let derivation = rules.derive(&after, now);
        let version = before.as_ref().map_or(0, |lead| lead.version);
        let write = derivation.write(openid, version, now);
        match store
            .apply_deriving(record, &write, before.is_some(), dedup_secs)
            .await?
        {
            Err(OtherBody) => return Ok(Err(OtherBody)),
            Ok(None) => continue,
            Ok(Some(applied)) if applied.fresh => {
                return Ok(Ok((applied, Some(after), Some(derivation))));
            }
            // A delivery handled before: the lead read is the lead after it.
            Ok(Some(applied)) => {
                let Some(lead) = before else {
                    return Ok(Ok((applied, None, None)));
                };
                let derivation = rules.derive(&lead, now);
                return Ok(Ok((applied, Some(lead), Some(derivation))));
            }
        }
    }
    tracing::info!(%openid, "the lead kept changing: its derived tags are left to the scheduler");
    Ok(store
        .apply_remembering(record, dedup_secs)
        .await?
        .map(|applied| (applied, None, None)))
}

/// A touch from outside the chat (a link click, a form, an event), which chooses no reply:
/// with rules over time, applied with its derived changes ([`apply_deriving`]); without,
/// alone. The touch's identity is remembered for `dedup_secs`.
pub async fn apply_outside(
    store: &Store,
    rules: &Rules,
    record: &TouchRecord<'_>,
    now: UnixTime,
    dedup_secs: u64,
) -> Result<Result<Applied, OtherBody>, StoreError> {
    if rules.derives() {
        Ok(apply_deriving(store, rules, record, now, dedup_secs)
            .await?
            .map(|(applied, _, _)| applied))
    } else {
        store.apply_remembering(record, dedup_secs).await
    }
}
