//! The one audit hook: every data-changing admin action (sales' tag edits, credentials made
//! and revoked, logins and logouts) goes through [`record`], which says who did what to
//! what, and when.
//!
//! Today it writes a capped Redis list and an info log line; the audit log's API will read
//! the list. The target (an openid, a credential name) is logged at debug level only, and no
//! secret is ever passed in.

use crate::domain::UnixTime;
use crate::store::Store;
use crate::store::access::AuditRecord;

/// Records that `who` (a credential name) did `what` (e.g. `tags.edit`) to `target` at
/// `at` (wxtag's clock).
///
/// The action has happened already, so a Redis failure here is logged, not returned.
pub async fn record(store: &Store, at: UnixTime, who: &str, what: &str, target: &str) {
    let record = AuditRecord {
        who,
        what,
        target,
        at: at.0,
    };
    tracing::info!(who, what, "admin action");
    tracing::debug!(who, what, target, "admin action target");
    if let Err(error) = store.append_audit(&record).await {
        tracing::error!(who, what, %error, "could not write the audit record");
    }
}
