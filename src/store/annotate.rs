//! Notes on a lead that touch nothing else (no touch, no counters, no tags): the `forward`
//! entry on a sender's timeline when someone else opened their link, and the unionid web
//! authorisation gave. Both only for a lead wxtag knows (`annotate.lua`).

use super::lead::TimelineEntry;
use super::{Store, StoreError, fields};
use crate::domain::{OpenId, UnionId, UnixTime};

impl Store {
    /// Writes the timeline entry (`at`, `kind`, `detail`) and the fields on `openid`'s lead,
    /// if wxtag knows it; false (nothing written) when it does not.
    async fn annotate(
        &self,
        openid: &OpenId,
        entry: Option<(UnixTime, &str, &str)>,
        lead_fields: &[(&str, &str)],
    ) -> Result<bool, StoreError> {
        let keys = &self.keys;
        let mut invocation = self.annotate.prepare_invoke();
        invocation
            .key(keys.lead(openid))
            .key(keys.timeline_head(openid))
            .key(keys.timeline_older(openid))
            .arg(
                entry
                    .map(|(at, kind, detail)| TimelineEntry::encode(at, kind, detail))
                    .unwrap_or_default(),
            );
        for (field, value) in lead_fields {
            invocation.arg(*field).arg(*value);
        }
        let written: i64 = invocation.invoke_async(&mut self.conn.clone()).await?;
        Ok(written == 1)
    }

    /// A `forward` entry on `sender`'s timeline at `at`: `clicker` opened the link `link`
    /// the sender was sent. False when wxtag does not know the sender.
    pub async fn note_forward(
        &self,
        sender: &OpenId,
        clicker: &OpenId,
        link: &str,
        at: UnixTime,
    ) -> Result<bool, StoreError> {
        let detail = format!("{link} {clicker}");
        self.annotate(sender, Some((at, "forward", &detail)), &[])
            .await
    }

    /// Keeps `unionid` on `openid`'s lead. False when wxtag does not know the lead.
    pub async fn set_unionid(
        &self,
        openid: &OpenId,
        unionid: &UnionId,
    ) -> Result<bool, StoreError> {
        self.annotate(openid, None, &[(fields::UNIONID, unionid.as_str())])
            .await
    }
}
