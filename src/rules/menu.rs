//! The menus of `channels/`: the default `[menu]` and the `[[menu.for]]` conditional menus, as
//! loaded (every button already passed WeChat's checks) and in file order, which decides
//! which menu a lead with several menu tags gets: the first.

use crate::domain::TagName;
use crate::wechat::api::Button;

use super::Rules;

/// The menus the files define.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Menus {
    /// The default menu's buttons; `None` when no file has a `[menu]` with `buttons`.
    pub default: Option<Vec<Button>>,
    /// The `[[menu.for]]` menus, in file order then order in the file.
    pub conditional: Vec<MenuFor>,
}

/// One `[[menu.for]]`: the menu leads carrying `tag` get.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MenuFor {
    /// The tag whose leads get this menu.
    pub tag: TagName,
    /// Its buttons.
    pub buttons: Vec<Button>,
    /// Where it is written, `file:line`.
    pub at: String,
}

impl Menus {
    /// True when the files define no menu at all.
    pub fn is_empty(&self) -> bool {
        self.default.is_none() && self.conditional.is_empty()
    }

    /// The menu tags in file order: a lead holding several gets the first one's menu.
    pub fn tags(&self) -> impl Iterator<Item = &TagName> {
        self.conditional.iter().map(|m| &m.tag)
    }
}

impl Rules {
    /// The menus the files define.
    pub fn menus(&self) -> &Menus {
        &self.menus
    }
}
