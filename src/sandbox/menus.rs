//! The sandbox's custom menus (wechat-engagement.md §1): `menu/create`, `menu/get`,
//! `menu/delete`, `menu/addconditional`, `menu/delconditional` and `menu/trymatch`, with
//! WeChat's checks and errcodes.
//!
//! - Buttons are checked as WeChat checks them ([`check_menu`]): 40016-40027, 65308, 65317.
//! - A conditional menu needs the default menu (65303), a non-empty rule (65304), room
//!   ([`CONDITIONAL_MENUS`], then 65305) and at most [`MENU_LINK_DOMAINS`] link domains across
//!   all conditional menus (65316). Deleting the default menu deletes every conditional menu.
//! - `menu/get` reads the rule back as `group_id`, as WeChat does (§1.8); 46003 without a menu.
//! - `menu/trymatch` follows WeChat's rule: the follower is matched on the tag applied to them
//!   last (`batchtagging` order; applying a tag they carry does not move it), conditional
//!   menus newest first, else the default menu; 65302 for a user who does not follow.

use actix_web::{HttpRequest, web};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::errcode::WxError;
use super::routes::{Shared, ok, parse, serve_call};
use super::state::Account;
use crate::domain::TagId;
use crate::wechat::api::{Button, MatchRule, check_menu};
use crate::wechat::limits::{CONDITIONAL_MENUS, MENU_LINK_DOMAINS};

/// A custom menu's errcode, with WeChat's `errmsg`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MenuCode(i64);

impl MenuCode {
    /// 46003: the account has no menu.
    pub const NO_MENU: Self = Self(46003);
    /// 65301: no conditional menu has this menuid.
    pub const NO_CONDITIONAL_MENU: Self = Self(65301);
    /// 65302: no such user (trymatch).
    pub const NO_SUCH_USER: Self = Self(65302);
    /// 65303: a conditional menu needs the default menu first.
    pub const NO_DEFAULT_MENU: Self = Self(65303);
    /// 65304: the match rule is empty.
    pub const EMPTY_RULE: Self = Self(65304);
    /// 65305: too many conditional menus.
    pub const TOO_MANY_MENUS: Self = Self(65305);
    /// 65316: too many link domains across the conditional menus.
    pub const TOO_MANY_DOMAINS: Self = Self(65316);

    /// The `errcode`.
    pub fn code(self) -> i64 {
        self.0
    }

    /// The `errmsg`, worded like WeChat's.
    pub fn errmsg(self) -> &'static str {
        match self.0 {
            40016 => "invalid button size",
            40017 => "invalid button type",
            40018 => "invalid button name size",
            40019 => "invalid button key size",
            40020 => "invalid button url size",
            40023 => "invalid sub button size",
            40024 => "invalid sub button type",
            40025 => "invalid sub button name size",
            40026 => "invalid sub button key size",
            40027 => "invalid sub button url size",
            46003 => "menu no exist",
            65301 => "no conditional menu with this menuid",
            65302 => "no such user",
            65303 => "there is no selfmenu, please create selfmenu first",
            65304 => "match rule empty",
            65305 => "menu count limit",
            65308 => "button lack of sub_button or type",
            65316 => "the domain count of the menus' urls exceeds the limit",
            65317 => "invalid url",
            _ => "invalid menu",
        }
    }
}

/// One conditional menu the sandbox holds.
#[derive(Debug, Clone)]
struct Conditional {
    menuid: u64,
    buttons: Vec<Button>,
    rule: MatchRule,
}

/// The account's menus.
#[derive(Debug, Clone, Default)]
pub(super) struct MenuBook {
    default: Option<Vec<Button>>,
    /// Oldest first; matched newest first.
    conditional: Vec<Conditional>,
    /// The last menuid given.
    last_id: u64,
}

/// The menus as `GET /sandbox/state` shows them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MenusView {
    /// The default menu's buttons; `None` without a menu.
    pub default: Option<Vec<Button>>,
    /// The conditional menus, oldest first.
    pub conditional: Vec<ConditionalView>,
}

/// One conditional menu in the state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConditionalView {
    /// Its id.
    pub menuid: String,
    /// The tag it is for.
    pub tag_id: Option<TagId>,
    /// Its buttons.
    pub button: Vec<Button>,
}

/// A body's buttons, checked as WeChat checks them.
fn checked(buttons: Vec<Button>) -> Result<Vec<Button>, WxError> {
    check_menu(&buttons).map_err(|p| WxError::Menu(MenuCode(p.errcode())))?;
    Ok(buttons)
}

impl MenuBook {
    fn create(&mut self, buttons: Vec<Button>) -> Result<(), WxError> {
        self.default = Some(checked(buttons)?);
        self.last_id += 1;
        Ok(())
    }

    fn add_conditional(&mut self, buttons: Vec<Button>, rule: MatchRule) -> Result<u64, WxError> {
        if self.default.is_none() {
            return Err(WxError::Menu(MenuCode::NO_DEFAULT_MENU));
        }
        if rule.tag_id.is_none() && rule.client_platform_type.is_none() {
            return Err(WxError::Menu(MenuCode::EMPTY_RULE));
        }
        let buttons = checked(buttons)?;
        if self.conditional.len() >= CONDITIONAL_MENUS {
            return Err(WxError::Menu(MenuCode::TOO_MANY_MENUS));
        }
        let mut domains: Vec<String> = (self.conditional.iter())
            .flat_map(|c| c.buttons.iter().flat_map(Button::domains))
            .chain(buttons.iter().flat_map(Button::domains))
            .collect();
        domains.sort();
        domains.dedup();
        if domains.len() > MENU_LINK_DOMAINS {
            return Err(WxError::Menu(MenuCode::TOO_MANY_DOMAINS));
        }
        self.last_id += 1;
        self.conditional.push(Conditional {
            menuid: self.last_id,
            buttons,
            rule,
        });
        Ok(self.last_id)
    }

    fn delete_conditional(&mut self, menuid: &str) -> Result<(), WxError> {
        let at = (self.conditional.iter())
            .position(|c| c.menuid.to_string() == menuid)
            .ok_or(WxError::Menu(MenuCode::NO_CONDITIONAL_MENU))?;
        self.conditional.remove(at);
        Ok(())
    }

    fn get(&self) -> Result<Value, WxError> {
        let default = self
            .default
            .as_ref()
            .ok_or(WxError::Menu(MenuCode::NO_MENU))?;
        let conditional: Vec<Value> = (self.conditional.iter())
            .map(|c| {
                let group = c.rule.tag_id.map(|id| id.to_string()).unwrap_or_default();
                json!({
                    "button": c.buttons,
                    "matchrule": {
                        "group_id": group,
                        "client_platform_type": c.rule.client_platform_type.clone().unwrap_or_default(),
                    },
                    "menuid": c.menuid,
                })
            })
            .collect();
        let mut answer = json!({ "menu": { "button": default, "menuid": 1 } });
        if !conditional.is_empty() {
            answer["conditionalmenu"] = Value::Array(conditional);
        }
        Ok(answer)
    }

    /// The buttons a follower whose last applied tag is `last` gets.
    fn try_match(&self, last: Option<TagId>) -> Result<Vec<Button>, WxError> {
        let default = self
            .default
            .as_ref()
            .ok_or(WxError::Menu(MenuCode::NO_MENU))?;
        let matched = (self.conditional.iter().rev())
            .find(|c| last.is_some() && c.rule.tag_id == last)
            .map_or(default, |c| &c.buttons);
        Ok(matched.clone())
    }

    /// The menus for `GET /sandbox/state`.
    pub(super) fn view(&self) -> MenusView {
        MenusView {
            default: self.default.clone(),
            conditional: (self.conditional.iter())
                .map(|c| ConditionalView {
                    menuid: c.menuid.to_string(),
                    tag_id: c.rule.tag_id,
                    button: c.buttons.clone(),
                })
                .collect(),
        }
    }
}

/// The menu endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    Create,
    Get,
    Delete,
    AddConditional,
    DelConditional,
    TryMatch,
}

impl Endpoint {
    const ALL: [Self; 6] = [
        Self::Create,
        Self::Get,
        Self::Delete,
        Self::AddConditional,
        Self::DelConditional,
        Self::TryMatch,
    ];

    fn path(self) -> &'static str {
        match self {
            Self::Create => "/cgi-bin/menu/create",
            Self::Get => "/cgi-bin/menu/get",
            Self::Delete => "/cgi-bin/menu/delete",
            Self::AddConditional => "/cgi-bin/menu/addconditional",
            Self::DelConditional => "/cgi-bin/menu/delconditional",
            Self::TryMatch => "/cgi-bin/menu/trymatch",
        }
    }
}

#[derive(Deserialize)]
struct TokenQuery {
    access_token: Option<String>,
}

#[derive(Deserialize)]
struct MenuBody {
    #[serde(default)]
    button: Vec<Button>,
    #[serde(default)]
    matchrule: Option<MatchRule>,
}

#[derive(Deserialize)]
struct MenuIdBody {
    menuid: Value,
}

#[derive(Deserialize)]
struct TryMatchBody {
    user_id: String,
}

/// Registers the menu endpoints.
pub(super) fn configure(cfg: &mut web::ServiceConfig) {
    for endpoint in Endpoint::ALL {
        let route = match endpoint {
            Endpoint::Get | Endpoint::Delete => web::get(),
            _ => web::post(),
        };
        cfg.route(
            endpoint.path(),
            route.to(
                move |shared: Shared,
                      query: web::Query<TokenQuery>,
                      body: web::Bytes,
                      req: HttpRequest| async move {
                    let token = query.into_inner().access_token;
                    let work = move |account: &mut Account, _: &str| {
                        account.authorize(token.as_deref())?;
                        dispatch(account, endpoint, &body)
                    };
                    serve_call(shared, endpoint.path(), &req, work).await
                },
            ),
        );
    }
}

fn dispatch(account: &mut Account, endpoint: Endpoint, body: &[u8]) -> Result<Value, WxError> {
    match endpoint {
        Endpoint::Create => {
            let req: MenuBody = parse(body)?;
            account.menus.create(req.button).map(|()| ok())
        }
        Endpoint::Get => account.menus.get(),
        Endpoint::Delete => {
            account.menus = MenuBook {
                last_id: account.menus.last_id,
                ..MenuBook::default()
            };
            Ok(ok())
        }
        Endpoint::AddConditional => {
            let req: MenuBody = parse(body)?;
            let rule = req.matchrule.unwrap_or_default();
            if rule.tag_id.is_some_and(|id| !account.has_tag(id)) {
                return Err(WxError::InvalidTagId);
            }
            let menuid = account.menus.add_conditional(req.button, rule)?;
            Ok(json!({ "menuid": menuid.to_string() }))
        }
        Endpoint::DelConditional => {
            let req: MenuIdBody = parse(body)?;
            let menuid = match req.menuid {
                Value::String(s) => s,
                other => other.to_string(),
            };
            account.menus.delete_conditional(&menuid).map(|()| ok())
        }
        Endpoint::TryMatch => {
            let req: TryMatchBody = parse(body)?;
            let last = account.menu_user(&req.user_id)?;
            let buttons = account.menus.try_match(last)?;
            Ok(json!({ "button": buttons }))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(name: &str, url: &str) -> Button {
        Button {
            kind: Some("view".into()),
            name: name.into(),
            url: Some(url.into()),
            ..Button::default()
        }
    }

    fn rule(tag: u32) -> MatchRule {
        MatchRule {
            tag_id: Some(TagId(tag)),
            client_platform_type: None,
        }
    }

    fn code(e: WxError) -> i64 {
        e.code()
    }

    #[test]
    fn conditional_menus_need_the_default_a_rule_and_few_domains() {
        let mut book = MenuBook::default();
        let err = book.add_conditional(vec![Button::click("a", "A")], rule(100));
        assert_eq!(err.map_err(code), Err(65303));
        book.create(vec![Button::click("a", "A")]).unwrap();
        let err = book.add_conditional(vec![Button::click("a", "A")], MatchRule::default());
        assert_eq!(err.map_err(code), Err(65304));
        let sites = ["https://a.com/", "https://b.com/", "https://c.com/"];
        let three: Vec<Button> = sites.iter().map(|u| view("x", u)).collect();
        book.add_conditional(three, rule(100)).unwrap();
        let err = book.add_conditional(vec![view("d", "https://d.com/")], rule(101));
        assert_eq!(err.map_err(code), Err(65316));
        let err = book.add_conditional(vec![Button::click("", "A")], rule(101));
        assert_eq!(err.map_err(code), Err(40018));
        for i in 1..CONDITIONAL_MENUS {
            book.add_conditional(vec![Button::click("a", "A")], rule(200 + i as u32))
                .unwrap();
        }
        let err = book.add_conditional(vec![Button::click("a", "A")], rule(999));
        assert_eq!(err.map_err(code), Err(65305));
    }

    #[test]
    fn trymatch_takes_the_newest_menu_for_the_last_applied_tag_else_the_default() {
        let mut book = MenuBook::default();
        assert_eq!(book.try_match(None).map_err(code), Err(46003));
        book.create(vec![Button::click("默认", "D")]).unwrap();
        book.add_conditional(vec![Button::click("旧", "O")], rule(100))
            .unwrap();
        book.add_conditional(vec![Button::click("新", "N")], rule(100))
            .unwrap();
        book.add_conditional(vec![Button::click("别", "B")], rule(101))
            .unwrap();
        assert_eq!(
            book.try_match(Some(TagId(100))).unwrap(),
            [Button::click("新", "N")]
        );
        assert_eq!(
            book.try_match(Some(TagId(101))).unwrap(),
            [Button::click("别", "B")]
        );
        assert_eq!(
            book.try_match(Some(TagId(7))).unwrap(),
            [Button::click("默认", "D")]
        );
        assert_eq!(book.try_match(None).unwrap(), [Button::click("默认", "D")]);
        let menuid = book.view().conditional[0].menuid.clone();
        book.delete_conditional(&menuid).unwrap();
        assert_eq!(book.delete_conditional(&menuid).map_err(code), Err(65301));
        let got = book.get().unwrap();
        assert_eq!(got["conditionalmenu"][0]["matchrule"]["group_id"], "100");
    }
}
