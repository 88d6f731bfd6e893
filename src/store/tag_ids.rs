//! Tags and WeChat: the tag name → WeChat id map, the tags that cannot be synced (with why),
//! and the tags staff made in the WeChat console (external), imported with their members
//! (`lua/import_tag.lua`).

use std::sync::LazyLock;

use redis::{AsyncCommands, Script};

use super::{Store, StoreError};
use crate::domain::{OpenId, TagId, TagName, UnixTime};

static IMPORT_TAG: LazyLock<Script> = LazyLock::new(|| {
    super::fields::script(
        &[
            include_str!("lua/changed.lua"),
            include_str!("lua/import_tag.lua"),
        ]
        .concat(),
    )
});

impl Store {
    /// Records a tag's WeChat id; the tag is no longer unsynced.
    pub async fn set_wechat_tag_id(&self, name: &TagName, id: TagId) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        redis::pipe()
            .hset(self.keys.wechat_tag_ids(), name.as_str(), id.0)
            .ignore()
            .hdel(self.keys.unsynced_tags(), name.as_str())
            .ignore()
            .query_async::<()>(&mut conn)
            .await?;
        Ok(())
    }

    /// Forgets a tag's WeChat id (the tag is gone from WeChat).
    pub async fn forget_wechat_tag_id(&self, name: &str) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        let _: i64 = conn.hdel(self.keys.wechat_tag_ids(), name).await?;
        Ok(())
    }

    /// Marks a tag unsynced, with why.
    pub async fn mark_unsynced(&self, name: &TagName, reason: &str) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        let _: i64 = conn
            .hset(self.keys.unsynced_tags(), name.as_str(), reason)
            .await?;
        Ok(())
    }

    /// Clears the unsynced mark of these tags, so the sync tries them again.
    pub async fn clear_unsynced(&self, names: &[String]) -> Result<(), StoreError> {
        if names.is_empty() {
            return Ok(());
        }
        let mut conn = self.conn.clone();
        let _: i64 = conn.hdel(self.keys.unsynced_tags(), names).await?;
        Ok(())
    }

    /// Every tag name ever applied in Redis.
    pub async fn registered_tags(&self) -> Result<Vec<String>, StoreError> {
        let mut conn = self.conn.clone();
        Ok(conn.hkeys(self.keys.tags()).await?)
    }

    /// Imports a console tag and these members of it (see `lua/import_tag.lua`); returns how
    /// many leads newly carry it.
    pub async fn import_external_tag(
        &self,
        name: &TagName,
        id: TagId,
        members: &[OpenId],
        at: UnixTime,
    ) -> Result<u64, StoreError> {
        let keys = &self.keys;
        let mut invocation = IMPORT_TAG.prepare_invoke();
        invocation
            .key(keys.tags())
            .key(keys.tag_members(name))
            .key(keys.leads())
            .key(keys.external_tags())
            .key(keys.wechat_tag_ids());
        for openid in members {
            invocation.key(keys.lead(openid));
        }
        invocation
            .key(keys.changed())
            .key(keys.seen_on(&super::day_of(at)));
        invocation.arg(name.as_str()).arg(id.0).arg(at.0);
        for openid in members {
            invocation.arg(openid.as_str());
        }
        Ok(invocation.invoke_async(&mut self.conn.clone()).await?)
    }
}
