//! Writing what the rules over time derive, and the scheduler's due set: reading leads'
//! states, the version-checked derived write, claiming due leads, and the backfill cursor.

use super::{LeadState, Store, StoreError};
use crate::domain::{OpenId, TagName, UnixTime};

/// The derived changes to one lead, as read at `version`.
#[derive(Debug)]
pub struct DerivedWrite<'a> {
    /// The lead.
    pub openid: &'a OpenId,
    /// The [`LeadState::version`] the changes were computed from; if the lead changed since,
    /// nothing is written (the newer event or the scheduler computes again).
    pub version: u64,
    /// When the changes happen (timeline entries and tag times).
    pub at: UnixTime,
    /// Tags to add, each with its source.
    pub add: &'a [(TagName, String)],
    /// Tags to remove, each with the source that removes it.
    pub remove: &'a [(TagName, String)],
    /// The next moment the lead is due for the scheduler; `None`: never.
    pub next_due: Option<UnixTime>,
}

/// What one step of the backfill did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackfillStep {
    /// This many leads were made due; more remain.
    Enqueued(u64),
    /// Another process took the step less than the pace ago; try again later.
    NotYet,
    /// Every lead has been made due for this fingerprint.
    Done,
}

impl Store {
    /// Reads the states of `openids` in one round trip (`None` for a lead wxtag does not know).
    pub async fn lead_states(
        &self,
        openids: &[OpenId],
    ) -> Result<Vec<Option<LeadState>>, StoreError> {
        todo!("{openids:?}")
    }

    /// Writes derived changes if the lead is still at `write.version`, with timeline entries,
    /// the tag index, the outbox and the next due time, atomically. False: the lead changed
    /// since it was read, and nothing was written.
    pub async fn apply_derived(&self, write: &DerivedWrite<'_>) -> Result<bool, StoreError> {
        todo!("{write:?}")
    }

    /// Claims up to `limit` leads due at `now`: each is pushed `lease_secs` ahead in the due
    /// set so no other process claims it meanwhile; the derived write sets its real due time.
    pub async fn claim_due(
        &self,
        now: UnixTime,
        limit: usize,
        lease_secs: i64,
    ) -> Result<Vec<OpenId>, StoreError> {
        todo!("{now:?} {limit} {lease_secs}")
    }

    /// One step of the backfill for the derived sections' `fingerprint`: makes the next
    /// `chunk` leads due now, at most once per `pace_secs` across every process. A new
    /// fingerprint starts over from the first lead.
    pub async fn backfill_step(
        &self,
        fingerprint: &str,
        chunk: usize,
        pace_secs: i64,
        now: UnixTime,
    ) -> Result<BackfillStep, StoreError> {
        todo!("{fingerprint} {chunk} {pace_secs} {now:?}")
    }
}
