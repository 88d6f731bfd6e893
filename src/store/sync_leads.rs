//! The leads as the sync worker reads them (first channel, subscription, tags with when and
//! why, and the raw `w`: what it recorded WeChat holds) and the lease-checked write of `w`
//! (`lua/set_applied.lua`: only the lead's lease holder writes it), with the leases freed in
//! the same call at the end of a push. The format of `w` is the sync's; the store keeps it as
//! text.

use std::sync::LazyLock;

use redis::{AsyncCommands, Script};

use super::{CHUNK, Held, Store, StoreError, fields};
use crate::domain::{OpenId, TagName};

static SET_APPLIED: LazyLock<Script> =
    LazyLock::new(|| super::fields::script(include_str!("lua/set_applied.lua")));

/// One tag on a lead, as the sync ranks it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncTag {
    /// The tag.
    pub name: TagName,
    /// When it was first applied (unix s).
    pub at: i64,
    /// Why it was applied, e.g. `qr:expo-2026`.
    pub source: String,
}

/// A lead as the sync worker reads it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncLead {
    /// The scene of the lead's first channel, if any.
    pub first_channel: Option<String>,
    /// Every tag the lead carries in Redis.
    pub tags: Vec<SyncTag>,
    /// Whether the lead follows the account now (`sub`; a lead without it was first seen
    /// outside the chat and has not followed, so it is not synced).
    pub subscribed: bool,
    /// The raw `w` field: what the sync recorded WeChat holds (its format is the sync's).
    pub applied_raw: String,
}

impl SyncLead {
    fn decode(fields: Vec<(String, String)>) -> Self {
        let mut lead = Self::default();
        for (field, value) in fields {
            match field.as_str() {
                fields::FIRST_CHANNEL if !value.is_empty() => lead.first_channel = Some(value),
                fields::SUBSCRIBED => lead.subscribed = value == "1",
                fields::ON_WECHAT => lead.applied_raw = value,
                _ => {
                    let Some(name) = field.strip_prefix(fields::TAG_PREFIX) else {
                        continue;
                    };
                    let Ok(name) = TagName::parse(name) else {
                        continue;
                    };
                    let (at, source) = value.split_once(' ').unwrap_or((&value, ""));
                    lead.tags.push(SyncTag {
                        name,
                        // A malformed time ranks the tag oldest rather than stopping the sync.
                        at: at.parse().unwrap_or(0),
                        source: source.to_owned(),
                    });
                }
            }
        }
        lead
    }
}

impl Store {
    /// The sync view of these leads, in order (an unknown lead reads as having no tags).
    pub async fn sync_leads(&self, openids: &[OpenId]) -> Result<Vec<SyncLead>, StoreError> {
        let mut conn = self.conn.clone();
        let mut out = Vec::with_capacity(openids.len());
        for chunk in openids.chunks(CHUNK) {
            let mut pipe = redis::pipe();
            for openid in chunk {
                pipe.hgetall(self.keys.lead(openid));
            }
            let leads: Vec<Vec<(String, String)>> = pipe.query_async(&mut conn).await?;
            out.extend(leads.into_iter().map(SyncLead::decode));
        }
        Ok(out)
    }

    /// Records what WeChat holds of each lead's tags (the raw `w` field) while `owner` holds
    /// their sync leases: as plain writes when the leases are [`Held::Known`], otherwise only
    /// where Redis finds `owner` holding the lease (`lua/set_applied.lua`). Returns, per lead,
    /// whether it was written.
    pub async fn set_applied(
        &self,
        owner: &str,
        leads: &[(&OpenId, String)],
        held: Held,
    ) -> Result<Vec<bool>, StoreError> {
        if held == Held::Checked {
            let rows: Vec<_> = leads.iter().map(|(o, w)| (*o, Some(w.as_str()))).collect();
            return self.run_set_applied(owner, "keep", &rows).await;
        }
        for chunk in leads.chunks(CHUNK) {
            let mut pipe = redis::pipe();
            for (openid, applied) in chunk {
                pipe.hset(self.keys.lead(openid), fields::ON_WECHAT, applied)
                    .ignore();
            }
            let () = pipe.query_async(&mut self.conn.clone()).await?;
        }
        Ok(vec![true; leads.len()])
    }

    /// Ends a push in one script call per chunk: records the `w` of `leads`, then frees the
    /// sync leases of those and of `free`, each only where `owner` still holds it. Returns,
    /// per lead (`leads`, then `free`), whether `owner` held its lease.
    pub async fn settle_leases(
        &self,
        owner: &str,
        leads: &[(OpenId, String)],
        free: &[OpenId],
    ) -> Result<Vec<bool>, StoreError> {
        let rows: Vec<_> = leads
            .iter()
            .map(|(o, w)| (o, Some(w.as_str())))
            .chain(free.iter().map(|o| (o, None)))
            .collect();
        self.run_set_applied(owner, "free", &rows).await
    }

    /// `lua/set_applied.lua` over `rows` (a lead, and its new `w` if it is written), in
    /// chunks; the rows with a `w` come first, as the script expects.
    async fn run_set_applied(
        &self,
        owner: &str,
        mode: &str,
        rows: &[(&OpenId, Option<&str>)],
    ) -> Result<Vec<bool>, StoreError> {
        let mut held = Vec::with_capacity(rows.len());
        for chunk in rows.chunks(CHUNK) {
            let mut invocation = SET_APPLIED.prepare_invoke();
            invocation.arg(owner).arg(mode);
            for (openid, applied) in chunk {
                invocation
                    .key(self.keys.lead(openid))
                    .key(self.keys.sync_lease(openid));
                if let Some(applied) = applied {
                    invocation.arg(*applied);
                }
            }
            let done: Vec<i64> = invocation.invoke_async(&mut self.conn.clone()).await?;
            held.extend(done.into_iter().map(|d| d == 1));
        }
        Ok(held)
    }

    /// Up to `count` lead openids from position `start` of the leads index (oldest first).
    pub async fn lead_ids(&self, start: usize, count: usize) -> Result<Vec<OpenId>, StoreError> {
        if count == 0 {
            return Ok(Vec::new());
        }
        let mut conn = self.conn.clone();
        let stop = isize::try_from(start + count - 1).unwrap_or(isize::MAX);
        let start = isize::try_from(start).unwrap_or(isize::MAX);
        let raw: Vec<String> = conn.lrange(self.keys.leads(), start, stop).await?;
        Ok(raw.iter().filter_map(|o| OpenId::parse(o).ok()).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lead_hash_decodes_for_the_sync() {
        let lead = SyncLead::decode(vec![
            ("fc".into(), "expo".into()),
            ("w".into(), "100 ?101".into()),
            ("t:来源:展会".into(), "10 qr:expo".into()),
            ("t:兴趣:A".into(), "bad click:A".into()),
            ("sub".into(), "1".into()),
        ]);
        assert_eq!(lead.first_channel.as_deref(), Some("expo"));
        assert_eq!(lead.tags.len(), 2);
        assert_eq!(lead.tags[0].source, "qr:expo");
        assert_eq!(lead.tags[1].at, 0, "a malformed time ranks oldest");
        assert_eq!(lead.applied_raw, "100 ?101");
        assert!(lead.subscribed);
    }
}
