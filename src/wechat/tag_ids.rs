//! Giving tags their WeChat ids: a tag is created on WeChat the first time a lead's projection
//! (or a menu) needs it, and its id kept in Redis (name → id). The sync and the menus share
//! this one path.
//!
//! WeChat has no get-or-create: creating a name that exists answers 45157, and then the id is
//! looked up with `tags/get` (another wxtag process, or staff, made it first). A tag WeChat will
//! never take (45056: the account has 100 tags; 45158: the name is too long; 45157 with no tag
//! of that name: the name is refused) stays in Redis, marked unsynced with the reason.
//! A name over WeChat's 30 UTF-8 bytes is marked so without a call.

use crate::domain::{TagId, TagName};
use std::collections::BTreeMap;

use crate::store::{Store, TagSync};
use crate::wechat::api::WeChatTag;
use crate::wechat::limits;

use crate::wechat::client::{Client, ClientError, refused_for_good};

/// What became of a tag that needed a WeChat id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ensured {
    /// It has this id.
    Id(TagId),
    /// WeChat will never take it, for this reason.
    Unsynced(String),
    /// WeChat did not answer well enough this time; try again later.
    Later,
}

/// Why WeChat refuses a tag, from the errcode of `tags/create`; `None` for errcodes that do
/// not say anything about the tag.
fn refusal(code: Option<i64>) -> Option<&'static str> {
    match code? {
        45056 => Some(
            "wechat's limit of 100 tags per account is reached (errcode 45056): delete unused tags in the wechat console, then run wxtag sync",
        ),
        45157 => Some(
            "wechat refuses the name (errcode 45157): it holds characters wechat does not take; rename the tag",
        ),
        45158 => Some(
            "the name is too long for wechat (errcode 45158: over 30 bytes, i.e. 10 chinese characters); rename the tag",
        ),
        _ => None,
    }
}

/// Why a name over WeChat's 30 bytes is never sent (WeChat would answer 45158).
fn too_long(name: &TagName) -> String {
    format!(
        "the name is {} bytes and wechat takes at most {} bytes (about 10 chinese characters), so it is not sent to wechat; rename the tag",
        name.as_str().len(),
        limits::TAG_NAME_LEN
    )
}

/// The WeChat ids wxtag keeps, by tag name.
pub fn ids_of(sync: &TagSync) -> BTreeMap<String, TagId> {
    sync.wechat_ids
        .iter()
        .filter_map(|(name, id)| Some((name.clone(), TagId(u32::try_from(*id).ok()?))))
        .collect()
}

/// Every tag of the account on WeChat (`tags/get`).
pub(crate) async fn on_wechat(client: &Client) -> Result<Vec<WeChatTag>, ClientError> {
    client
        .call("tags/get", |api, token| async move {
            api.get_tags(&token).await
        })
        .await
}

/// The id of the tag called `name` on WeChat, if there is one.
pub(crate) async fn find(client: &Client, name: &str) -> Result<Option<TagId>, ClientError> {
    let tags = on_wechat(client).await?;
    Ok(tags.into_iter().find(|t| t.name == name).map(|t| t.id))
}

/// Whether a tag with this id exists on WeChat.
pub(crate) async fn exists(client: &Client, id: TagId) -> Result<bool, ClientError> {
    Ok(on_wechat(client).await?.iter().any(|t| t.id == id))
}

/// Creates (or finds) each tag on WeChat and records its id, or marks it unsynced.
///
/// Fails only when syncing must stop (a configuration error) or Redis fails.
pub async fn ensure(
    store: &Store,
    client: &Client,
    names: impl IntoIterator<Item = TagName>,
) -> Result<Vec<(TagName, Ensured)>, ClientError> {
    let mut out = Vec::new();
    for name in names {
        if !limits::tag_name_fits(name.as_str()) {
            let reason = too_long(&name);
            out.push(unsynced(store, name, reason).await?);
            continue;
        }
        let name_ref = &name;
        let created = client
            .call("tags/create", |api, token| async move {
                api.create_tag(&token, name_ref).await
            })
            .await;
        let found = match created {
            Ok(id) => {
                tracing::info!(tag = %name, id = id.0, "created the tag on wechat");
                Some(id)
            }
            Err(ClientError::Api(e)) if e.code() == Some(45157) => {
                find(client, name.as_str()).await?
            }
            Err(ClientError::Api(e)) if refused_for_good(&e) => {
                let reason = refusal(e.code())
                    .map_or_else(|| format!("wechat refused the tag: {e}"), str::to_owned);
                out.push(unsynced(store, name, reason).await?);
                continue;
            }
            Err(e @ (ClientError::Api(_) | ClientError::TokenWait)) => {
                tracing::warn!(tag = %name, error = %e, "could not create the tag on wechat yet; trying again later");
                out.push((name, Ensured::Later));
                continue;
            }
            Err(e) => return Err(e),
        };
        let ensured = match found {
            Some(id) => {
                store.set_wechat_tag_id(&name, id).await?;
                (name, Ensured::Id(id))
            }
            None => {
                let reason = refusal(Some(45157)).unwrap_or_default().to_owned();
                unsynced(store, name, reason).await?
            }
        };
        out.push(ensured);
    }
    Ok(out)
}

async fn unsynced(
    store: &Store,
    name: TagName,
    reason: String,
) -> Result<(TagName, Ensured), ClientError> {
    tracing::warn!(tag = %name, %reason, "the tag stays in redis, unsynced");
    store.mark_unsynced(&name, &reason).await?;
    Ok((name, Ensured::Unsynced(reason)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_say_what_to_do() {
        assert!(refusal(Some(45056)).unwrap().contains("100 tags"));
        assert!(refusal(Some(45158)).unwrap().contains("rename"));
        let long = TagName::parse(&"长".repeat(11)).unwrap();
        assert!(too_long(&long).contains("33 bytes"), "{}", too_long(&long));
        assert_eq!(refusal(Some(-1)), None);
        assert_eq!(refusal(None), None);
    }
}
