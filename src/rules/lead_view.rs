//! A lead as sales read it: the stored lead, plus its score, its stage and the why of each
//! tag in words, derived at read time from its touch history (so a detail such as "3
//! touches in 30 days, last 2026-12-01 10:02" is always current). The lead API, the lead
//! page and the sales alerts (`notify`) all show this.

use serde::Serialize;

use super::Rules;
use crate::domain::{OpenId, UnixTime};
use crate::store::{Lead, Store, StoreError};

/// A lead with its score, stage and each tag's detail.
#[derive(Debug, Clone, Serialize)]
pub struct LeadView {
    /// The stored lead; each tag's `detail` is filled.
    #[serde(flatten)]
    pub lead: Lead,
    /// The score now (0 without a `[score]`), decayed to this moment.
    pub score: f64,
    /// The stage tag, e.g. `阶段:沉默`; `None` without a `[lifecycle]`.
    pub stage: Option<String>,
}

/// The lead `openid` as of `now`, with its why; `None` when wxtag does not know it.
pub async fn lead_view(
    store: &Store,
    rules: &Rules,
    openid: &OpenId,
    now: UnixTime,
) -> Result<Option<LeadView>, StoreError> {
    let Some((mut lead, state)) = store.lead_and_state(openid).await? else {
        return Ok(None);
    };
    // A state that does not decode was logged and counted; the lead still shows, without a why.
    let Some(state) = state else {
        return Ok(Some(LeadView {
            lead,
            score: 0.0,
            stage: None,
        }));
    };
    let derivation = rules.derive(&state, now);
    let why = rules.why(&state, now);
    for tag in &mut lead.tags {
        tag.detail = why
            .iter()
            .find(|(name, _)| *name == tag.name)
            .map(|(_, detail)| detail.clone());
    }
    Ok(Some(LeadView {
        lead,
        // Two decimals are what a person reads; the raw value decays every second.
        score: (derivation.score.unwrap_or(0.0) * 100.0).round() / 100.0,
        stage: derivation.stage.map(|stage| stage.to_string()),
    }))
}
