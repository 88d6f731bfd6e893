//! The conditional menus on WeChat, as `wxtag menu push` left them: each menu's id and the
//! tag it is for, in file order. The sync reads it (one `GET` per push) to know the menu tags
//! it keeps among each lead's 20 and applies last.

use redis::AsyncCommands;
use serde::{Deserialize, Serialize};

use super::{Store, StoreError};

/// One conditional menu on WeChat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishedMenu {
    /// WeChat's id of the menu, for `menu/delconditional`.
    pub menuid: String,
    /// The tag the menu is for.
    pub tag: String,
}

impl Store {
    /// Records the conditional menus just published (in file order), replacing the last list.
    pub async fn set_published_menus(&self, menus: &[PublishedMenu]) -> Result<(), StoreError> {
        let json = serde_json::to_string(menus).map_err(|e| StoreError::Corrupt {
            key: self.keys.published_menus(),
            what: e.to_string(),
        })?;
        let mut conn = self.conn.clone();
        let () = conn.set(self.keys.published_menus(), json).await?;
        Ok(())
    }

    /// The conditional menus last published, in file order; empty before the first push.
    pub async fn published_menus(&self) -> Result<Vec<PublishedMenu>, StoreError> {
        let mut conn = self.conn.clone();
        let key = self.keys.published_menus();
        let raw: Option<String> = conn.get(&key).await?;
        match raw {
            None => Ok(Vec::new()),
            Some(raw) => serde_json::from_str(&raw).map_err(|e| StoreError::Corrupt {
                key,
                what: format!("not the published menus' json: {e}"),
            }),
        }
    }
}
