//! Personalised menus: publishing the menus of `channels/` to WeChat, and asking WeChat which
//! menu one lead gets.
//!
//! WeChat has no edit call and matches conditional menus newest first, so a push rebuilds
//! everything in a fixed order: the menu tags are given WeChat ids first (through the sync's
//! tag path, creating those WeChat lacks), then `menu/delete` removes every menu, `menu/create`
//! publishes the default and `menu/addconditional` the `[[menu.for]]` menus from the last of
//! the files to the first, so the first is the newest and WeChat tries it first. What was
//! published (`menuid ↔ tag`, in file order) is kept in Redis; the sync reads it to keep each
//! lead's menu tag among its 20 synced tags and applied last (WeChat matches a lead with
//! several tags on the tag applied last).
//!
//! Nothing is published unless the menus pass `check`'s checks (they are loaded with the
//! rules) and every menu tag has a WeChat id.

use serde_json::{Value, json};
use thiserror::Error;

use crate::domain::{OpenId, TagId, TagName};
use crate::rules::{MenuFor, Menus};
use crate::store::{PublishedMenu, Store, StoreError};
use crate::wechat::api::{Button, MatchRule};
use crate::wechat::client::{Client, ClientError};
use crate::wechat::tag_ids::{self, Ensured};

/// Why a push or a try did not happen, or stopped.
#[derive(Debug, Error)]
pub enum MenuError {
    /// The files define no `[menu]`.
    #[error(
        "the channels folder defines no [menu]; add a [menu] with buttons (and [[menu.for]] \
         menus if you want them), run wxtag check, then push again"
    )]
    NoMenu,
    /// A menu tag could not get a WeChat id; nothing was published.
    #[error("tag \"{tag}\" of a [[menu.for]] has no wechat id: {reason}; nothing was published")]
    Tag {
        /// The tag.
        tag: TagName,
        /// Why.
        reason: String,
    },
    /// A WeChat call failed; `published` says how far the push got.
    #[error("{call} failed: {error}; {published} (run wxtag menu push again once it is fixed)")]
    WeChat {
        /// The call that failed.
        call: &'static str,
        /// What WeChat said.
        error: ClientError,
        /// What WeChat holds now, in words.
        published: String,
    },
    /// Redis failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What a push published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    /// The conditional menus, in file order, with their WeChat ids.
    pub menus: Vec<PublishedMenu>,
    /// The WeChat calls made (tag creation not counted).
    pub calls: usize,
}

/// The calls a push makes, in order, as JSON: `menu/delete`, `menu/create` with the default
/// menu's body, then one `menu/addconditional` per `[[menu.for]]` from the last to the first,
/// each with its tag and the `tag_id` WeChat knows it by (`null` until the push creates it).
/// `wxtag menu push --dry-run` prints it.
pub fn plan_json(menus: &Menus, ids: &[(TagName, Option<TagId>)]) -> Value {
    let id_of = |tag: &TagName| ids.iter().find(|(t, _)| t == tag).and_then(|(_, id)| *id);
    let mut calls = vec![json!({ "call": "menu/delete" })];
    if let Some(default) = &menus.default {
        calls.push(json!({ "call": "menu/create", "body": { "button": default } }));
    }
    for menu in menus.conditional.iter().rev() {
        let tag_id = id_of(&menu.tag).map(|id| id.to_string());
        calls.push(json!({
            "call": "menu/addconditional",
            "tag": menu.tag.as_str(),
            "at": menu.at,
            "body": { "button": menu.buttons, "matchrule": { "tag_id": tag_id } },
        }));
    }
    Value::Array(calls)
}

/// The WeChat id wxtag knows for each menu tag (none for a tag WeChat lacks yet), in file
/// order.
pub async fn menu_tag_ids(
    store: &Store,
    menus: &Menus,
) -> Result<Vec<(TagName, Option<TagId>)>, StoreError> {
    let known = tag_ids::ids_of(&store.tag_sync().await?);
    Ok(menus
        .tags()
        .map(|tag| (tag.clone(), known.get(tag.as_str()).copied()))
        .collect())
}

/// Gives every menu tag a WeChat id, creating the tags WeChat lacks; fails, naming the tag,
/// when one cannot have one.
async fn ids_for(store: &Store, client: &Client, menus: &Menus) -> Result<Vec<TagId>, MenuError> {
    let known = menu_tag_ids(store, menus).await?;
    let missing: Vec<TagName> = (known.iter())
        .filter(|(_, id)| id.is_none())
        .map(|(tag, _)| tag.clone())
        .collect();
    let made = tag_ids::ensure(store, client, missing)
        .await
        .map_err(|error| MenuError::WeChat {
            call: "tags/create",
            error,
            published: "nothing was published".to_owned(),
        })?;
    let mut ids = Vec::with_capacity(known.len());
    for (tag, id) in known {
        let id = match id {
            Some(id) => id,
            None => match made.iter().find(|(t, _)| *t == tag).map(|(_, e)| e) {
                Some(Ensured::Id(id)) => *id,
                Some(Ensured::Unsynced(reason)) => {
                    return Err(MenuError::Tag {
                        tag,
                        reason: reason.clone(),
                    });
                }
                _ => {
                    return Err(MenuError::Tag {
                        tag,
                        reason: "wechat did not create it this time; try again".to_owned(),
                    });
                }
            },
        };
        ids.push(id);
    }
    Ok(ids)
}

/// Publishes the menus: menu tags first, then everything deleted, the default created and the
/// conditional menus added from the last `[[menu.for]]` to the first. Records what was
/// published (also when a call fails halfway, so the sync knows what WeChat holds).
pub async fn publish(
    store: &Store,
    client: &Client,
    menus: &Menus,
) -> Result<Published, MenuError> {
    let default = menus.default.as_deref().ok_or(MenuError::NoMenu)?;
    let ids = ids_for(store, client, menus).await?;
    let failed = |call, error, published: String| MenuError::WeChat {
        call,
        error,
        published,
    };
    client
        .call("menu/delete", |api, token| async move {
            api.delete_menu(&token).await
        })
        .await
        .map_err(|e| failed("menu/delete", e, "wechat still has the menus it had".into()))?;
    store.set_published_menus(&[]).await?;
    client
        .call("menu/create", |api, token| async move {
            api.create_menu(&token, default).await
        })
        .await
        .map_err(|e| failed("menu/create", e, "wechat has no menu now".into()))?;
    let mut published: Vec<PublishedMenu> = Vec::new();
    let mut calls = 2;
    for (menu, id) in menus.conditional.iter().zip(&ids).rev() {
        let rule = MatchRule {
            tag_id: Some(*id),
            client_platform_type: None,
        };
        let (buttons, rule) = (&menu.buttons, &rule);
        let added = client
            .call("menu/addconditional", |api, token| async move {
                api.add_conditional_menu(&token, buttons, rule).await
            })
            .await;
        calls += 1;
        match added {
            Ok(menuid) => published.insert(
                0,
                PublishedMenu {
                    menuid,
                    tag: menu.tag.to_string(),
                },
            ),
            Err(e) => {
                store.set_published_menus(&published).await?;
                let so_far = format!(
                    "wechat has the default menu and {} of the {} conditional menus (the \
                     [[menu.for]] at {} and after it are missing)",
                    published.len(),
                    menus.conditional.len(),
                    menu.at
                );
                return Err(failed("menu/addconditional", e, so_far));
            }
        }
    }
    store.set_published_menus(&published).await?;
    tracing::info!(
        conditional = published.len(),
        "published the default menu and the conditional menus"
    );
    Ok(Published {
        menus: published,
        calls,
    })
}

/// What WeChat shows one lead (`menu/trymatch`), and which menu of the files that is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tried {
    /// The buttons WeChat answered.
    pub buttons: Vec<Button>,
    /// Which menu of the files they are.
    pub menu: Which,
}

/// Which menu of the files WeChat's answer is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Which {
    /// The `[[menu.for]]` for this tag, written at `at`.
    For {
        /// Its tag.
        tag: TagName,
        /// Where it is, `file:line`.
        at: String,
    },
    /// The default `[menu]`.
    Default,
    /// None of the files' menus (they changed since the last push, or staff changed WeChat's).
    Unknown,
}

/// Which of the files' menus has exactly these buttons: the first `[[menu.for]]`, else the
/// default.
pub fn which(menus: &Menus, buttons: &[Button]) -> Which {
    let same = |menu: &&MenuFor| menu.buttons == buttons;
    match menus.conditional.iter().find(same) {
        Some(menu) => Which::For {
            tag: menu.tag.clone(),
            at: menu.at.clone(),
        },
        None if menus.default.as_deref() == Some(buttons) => Which::Default,
        None => Which::Unknown,
    }
}

/// Asks WeChat which menu `openid` gets.
pub async fn try_lead(
    client: &Client,
    menus: &Menus,
    openid: &OpenId,
) -> Result<Tried, ClientError> {
    let user = openid.as_str();
    let buttons = client
        .call("menu/trymatch", |api, token| async move {
            api.try_match_menu(&token, user).await
        })
        .await?;
    let menu = which(menus, &buttons);
    Ok(Tried { buttons, menu })
}

impl Tried {
    /// The answer as `wxtag menu try` prints it: which menu, then the buttons, one a line.
    pub fn describe(&self) -> String {
        let mut out = match &self.menu {
            Which::For { tag, at } => format!("menu for tag \"{tag}\" ([[menu.for]] at {at})\n"),
            Which::Default => "the default menu ([menu])\n".to_owned(),
            Which::Unknown => {
                "a menu the channels folder does not have (run wxtag menu push)\n".to_owned()
            }
        };
        for button in &self.buttons {
            out.push_str(&line(button, "  "));
            for sub in &button.sub_button {
                out.push_str(&line(sub, "    "));
            }
        }
        out
    }
}

/// One button as a line: its name and what it does.
fn line(button: &Button, indent: &str) -> String {
    let action = [
        &button.key,
        &button.url,
        &button.media_id,
        &button.article_id,
    ]
    .into_iter()
    .flatten()
    .next();
    match (&button.kind, action) {
        (Some(kind), Some(action)) => format!("{indent}{} ({kind}: {action})\n", button.name),
        (Some(kind), None) => format!("{indent}{} ({kind})\n", button.name),
        (None, _) => format!("{indent}{}\n", button.name),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn menus() -> Menus {
        Menus {
            default: Some(vec![Button::click("产品", "A")]),
            conditional: vec![
                MenuFor {
                    tag: TagName::parse("来源:销售名片").unwrap(),
                    buttons: vec![Button::click("报价", "Q")],
                    at: "c/60.toml:10".into(),
                },
                MenuFor {
                    tag: TagName::parse("来源:展会").unwrap(),
                    buttons: vec![Button::click("展会", "E")],
                    at: "c/60.toml:20".into(),
                },
            ],
        }
    }

    #[test]
    fn the_plan_adds_the_last_menu_first_so_the_first_is_newest() {
        let menus = menus();
        let ids = vec![
            (menus.conditional[0].tag.clone(), Some(TagId(101))),
            (menus.conditional[1].tag.clone(), None),
        ];
        let plan = plan_json(&menus, &ids);
        let calls: Vec<&str> = (plan.as_array().unwrap().iter())
            .map(|c| c["call"].as_str().unwrap())
            .collect();
        assert_eq!(
            calls,
            [
                "menu/delete",
                "menu/create",
                "menu/addconditional",
                "menu/addconditional"
            ]
        );
        assert_eq!(plan[2]["tag"], "来源:展会");
        assert_eq!(plan[2]["body"]["matchrule"]["tag_id"], Value::Null);
        assert_eq!(plan[3]["tag"], "来源:销售名片");
        assert_eq!(plan[3]["body"]["matchrule"]["tag_id"], "101");
    }

    #[test]
    fn which_names_the_menu_by_its_buttons() {
        let menus = menus();
        assert_eq!(which(&menus, &[Button::click("产品", "A")]), Which::Default);
        let tried = Tried {
            buttons: vec![Button::click("报价", "Q")],
            menu: which(&menus, &[Button::click("报价", "Q")]),
        };
        assert_eq!(
            tried.describe(),
            "menu for tag \"来源:销售名片\" ([[menu.for]] at c/60.toml:10)\n  报价 (click: Q)\n"
        );
        assert_eq!(which(&menus, &[Button::click("x", "X")]), Which::Unknown);
    }
}
