//! Custom menus (wechat-engagement.md §1): the buttons in WeChat's own shape, the match rule
//! of a conditional menu (sent as `tag_id`, a string; read back as `tag_id` or `group_id`,
//! §1.8), the checks WeChat makes of each button (with the errcode it answers), and the calls
//! `menu/create`, `menu/addconditional`, `menu/delconditional`, `menu/get`, `menu/delete` and
//! `menu/trymatch`.

use std::fmt;

use reqwest::{Method, Url};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use super::{AccessToken, Ack, ApiError, WeChatApi};
use crate::domain::TagId;
use crate::wechat::limits::{
    MENU_BUTTONS, MENU_KEY_BYTES, MENU_NAME_BYTES, MENU_SUB_BUTTONS, MENU_SUB_NAME_BYTES,
    MENU_URL_BYTES,
};

/// Button types whose action is a `key` (WeChat pushes an event carrying it).
const KEY_TYPES: [&str; 7] = [
    "click",
    "scancode_push",
    "scancode_waitmsg",
    "pic_sysphoto",
    "pic_photo_or_album",
    "pic_weixin",
    "location_select",
];

/// One menu button, as WeChat takes and answers it: a `type` with its field (`key`, `url`,
/// `media_id`, `article_id`, `appid` + `pagepath`), or `sub_button`s.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Button {
    /// `click`, `view`, `miniprogram`, …; `None` for a button that only opens sub-buttons.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// The label shown.
    #[serde(default)]
    pub name: String,
    /// The key of `click` and the other event types.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// The link of `view` (and the fallback page of `miniprogram`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The material of `media_id` and `view_limited`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_id: Option<String>,
    /// The published article of `article_id` and `article_view_limited`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub article_id: Option<String>,
    /// The mini program of `miniprogram`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub appid: Option<String>,
    /// The mini program page of `miniprogram`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pagepath: Option<String>,
    /// The buttons under a top-level button (none under a sub-button).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sub_button: Vec<Button>,
}

/// What WeChat refuses in a menu, with the errcode it answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ButtonProblem {
    /// No buttons, or more than 3 (40016); more than 5 sub-buttons (40023).
    Count {
        /// How many there are.
        count: usize,
        /// True for the sub-buttons of one button.
        sub: bool,
    },
    /// An empty name, or one over 16 bytes (60 for a sub-button): 40018 / 40025.
    Name {
        /// The name.
        name: String,
        /// True for a sub-button.
        sub: bool,
    },
    /// Neither a type nor sub-buttons (65308).
    NoAction {
        /// The button's name.
        name: String,
    },
    /// Both a type and sub-buttons, or sub-buttons under a sub-button (40017 / 40024).
    Nested {
        /// The button's name.
        name: String,
        /// True for a sub-button.
        sub: bool,
    },
    /// A type WeChat does not know (40017 / 40024).
    UnknownType {
        /// The type as written.
        kind: String,
        /// True for a sub-button.
        sub: bool,
    },
    /// The type's field is missing (a `click` without `key`, …): 40019 / 40020 style.
    Missing {
        /// The type.
        kind: String,
        /// The field it needs.
        field: &'static str,
        /// True for a sub-button.
        sub: bool,
    },
    /// A key over 128 bytes (40019 / 40026).
    KeyTooLong {
        /// Its length in bytes.
        bytes: usize,
        /// True for a sub-button.
        sub: bool,
    },
    /// A url over 1024 bytes (40020 / 40027).
    UrlTooLong {
        /// Its length in bytes.
        bytes: usize,
        /// True for a sub-button.
        sub: bool,
    },
    /// A url that is not an absolute http(s) URL with a host (65317).
    BadUrl {
        /// The url as written.
        url: String,
    },
}

impl ButtonProblem {
    /// The errcode WeChat answers for it.
    pub fn errcode(&self) -> i64 {
        let pick = |sub: bool, top: i64, under: i64| if sub { under } else { top };
        match self {
            Self::Count { sub, .. } => pick(*sub, 40016, 40023),
            Self::Name { sub, .. } => pick(*sub, 40018, 40025),
            Self::NoAction { .. } => 65308,
            Self::Nested { sub, .. } | Self::UnknownType { sub, .. } => pick(*sub, 40017, 40024),
            Self::Missing { field, sub, .. } => match *field {
                "key" => pick(*sub, 40019, 40026),
                "url" => pick(*sub, 40020, 40027),
                _ => pick(*sub, 40017, 40024),
            },
            Self::KeyTooLong { sub, .. } => pick(*sub, 40019, 40026),
            Self::UrlTooLong { sub, .. } => pick(*sub, 40020, 40027),
            Self::BadUrl { .. } => 65317,
        }
    }
}

impl fmt::Display for ButtonProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = |sub: bool| if sub { "sub-button" } else { "button" };
        match self {
            Self::Count { count, sub: false } => write!(
                f,
                "a menu has 1 to {MENU_BUTTONS} top-level buttons; this one has {count}"
            ),
            Self::Count { count, sub: true } => write!(
                f,
                "a button has at most {MENU_SUB_BUTTONS} sub-buttons; this one has {count}"
            ),
            Self::Name { name, sub } => {
                let max = if *sub {
                    MENU_SUB_NAME_BYTES
                } else {
                    MENU_NAME_BYTES
                };
                if name.is_empty() {
                    write!(f, "a {} needs a name", what(*sub))
                } else {
                    write!(
                        f,
                        "{} name \"{name}\" is {} bytes; wechat allows {max} bytes of utf-8 \
                         (about {} chinese characters)",
                        what(*sub),
                        name.len(),
                        max / 3
                    )
                }
            }
            Self::NoAction { name } => write!(
                f,
                "button \"{name}\" has neither a type nor sub_button; give it a type \
                 (e.g. type = \"click\" with a key) or sub-buttons"
            ),
            Self::Nested { name, sub: false } => write!(
                f,
                "button \"{name}\" has both a type and sub_button; a button with sub-buttons \
                 has no type of its own"
            ),
            Self::Nested { name, sub: true } => write!(
                f,
                "sub-button \"{name}\" has sub_button; wechat menus are two levels deep"
            ),
            Self::UnknownType { kind, sub } => write!(
                f,
                "{} type \"{kind}\" is not one wechat knows; use click, view, miniprogram, \
                 scancode_push, scancode_waitmsg, pic_sysphoto, pic_photo_or_album, pic_weixin, \
                 location_select, media_id, view_limited, article_id or article_view_limited",
                what(*sub)
            ),
            Self::Missing { kind, field, sub } => {
                write!(f, "a {} of type \"{kind}\" needs `{field}`", what(*sub))
            }
            Self::KeyTooLong { bytes, sub } => write!(
                f,
                "{} key is {bytes} bytes; wechat allows at most {MENU_KEY_BYTES}",
                what(*sub)
            ),
            Self::UrlTooLong { bytes, sub } => write!(
                f,
                "{} url is {bytes} bytes; wechat allows at most {MENU_URL_BYTES}",
                what(*sub)
            ),
            Self::BadUrl { url } => write!(
                f,
                "url \"{url}\" is not an absolute http:// or https:// url, e.g. \
                 https://example.com/cases/"
            ),
        }
    }
}

impl std::error::Error for ButtonProblem {}

/// The problem with a list of `count` buttons (top-level, or the sub-buttons of one), if any.
pub fn count_problem(count: usize, sub: bool) -> Option<ButtonProblem> {
    let bad = if sub {
        count > MENU_SUB_BUTTONS
    } else {
        count == 0 || count > MENU_BUTTONS
    };
    bad.then_some(ButtonProblem::Count { count, sub })
}

/// The host of an absolute http(s) url.
fn http_host(url: &str) -> Option<String> {
    let parsed = Url::parse(url).ok()?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return None;
    }
    parsed.host_str().map(str::to_ascii_lowercase)
}

impl Button {
    /// What WeChat would refuse in this button itself (not in its sub-buttons); `sub` says
    /// whether it is a sub-button.
    pub fn problem(&self, sub: bool) -> Option<ButtonProblem> {
        let max_name = if sub {
            MENU_SUB_NAME_BYTES
        } else {
            MENU_NAME_BYTES
        };
        if self.name.is_empty() || self.name.len() > max_name {
            return Some(ButtonProblem::Name {
                name: self.name.clone(),
                sub,
            });
        }
        let Some(kind) = self.kind.as_deref() else {
            return match (sub, self.sub_button.is_empty()) {
                (false, false) => None,
                (true, false) => Some(ButtonProblem::Nested {
                    name: self.name.clone(),
                    sub,
                }),
                (_, true) => Some(ButtonProblem::NoAction {
                    name: self.name.clone(),
                }),
            };
        };
        if !self.sub_button.is_empty() {
            return Some(ButtonProblem::Nested {
                name: self.name.clone(),
                sub,
            });
        }
        let needs: &[(&'static str, &Option<String>)] = match kind {
            k if KEY_TYPES.contains(&k) => &[("key", &self.key)],
            "view" => &[("url", &self.url)],
            "media_id" | "view_limited" => &[("media_id", &self.media_id)],
            "article_id" | "article_view_limited" => &[("article_id", &self.article_id)],
            "miniprogram" => &[
                ("url", &self.url),
                ("appid", &self.appid),
                ("pagepath", &self.pagepath),
            ],
            _ => {
                return Some(ButtonProblem::UnknownType {
                    kind: kind.to_owned(),
                    sub,
                });
            }
        };
        for (field, value) in needs {
            if value.as_deref().is_none_or(str::is_empty) {
                return Some(ButtonProblem::Missing {
                    kind: kind.to_owned(),
                    field,
                    sub,
                });
            }
        }
        if let Some(key) = &self.key
            && key.len() > MENU_KEY_BYTES
        {
            return Some(ButtonProblem::KeyTooLong {
                bytes: key.len(),
                sub,
            });
        }
        if let Some(url) = &self.url {
            if url.len() > MENU_URL_BYTES {
                return Some(ButtonProblem::UrlTooLong {
                    bytes: url.len(),
                    sub,
                });
            }
            if http_host(url).is_none() {
                return Some(ButtonProblem::BadUrl { url: url.clone() });
            }
        }
        None
    }

    /// The link domains of this button and its sub-buttons (lowercase hosts).
    pub fn domains(&self) -> Vec<String> {
        let own = self.url.as_deref().and_then(http_host);
        own.into_iter()
            .chain(self.sub_button.iter().flat_map(Button::domains))
            .collect()
    }

    /// The key of this button and of its sub-buttons, for the types that carry one.
    pub fn keys(&self) -> Vec<&str> {
        let own = self
            .key
            .as_deref()
            .filter(|_| self.kind.as_deref().is_some_and(|k| KEY_TYPES.contains(&k)));
        own.into_iter()
            .chain(self.sub_button.iter().flat_map(Button::keys))
            .collect()
    }
}

/// The first problem WeChat would find in a menu's buttons: their count, then each button and
/// its sub-buttons in order.
pub fn check_menu(buttons: &[Button]) -> Result<(), ButtonProblem> {
    if let Some(problem) = count_problem(buttons.len(), false) {
        return Err(problem);
    }
    for button in buttons {
        if let Some(problem) = button.problem(false) {
            return Err(problem);
        }
        if let Some(problem) = count_problem(button.sub_button.len(), true) {
            return Err(problem);
        }
        if let Some(problem) = button.sub_button.iter().find_map(|b| b.problem(true)) {
            return Err(problem);
        }
    }
    Ok(())
}

/// Who a conditional menu is for. wxtag sends only `tag_id` (as a string, as WeChat's own
/// examples do); reading accepts `tag_id` or its old name `group_id`, as a string or a number,
/// because `menu/get` answers `group_id` (§1.8).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct MatchRule {
    /// The user tag the menu is for.
    #[serde(
        serialize_with = "tag_as_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub tag_id: Option<TagId>,
    /// 1 iOS, 2 Android, 3 other; read back, never sent by wxtag.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_platform_type: Option<String>,
}

fn tag_as_string<S: serde::Serializer>(id: &Option<TagId>, s: S) -> Result<S::Ok, S::Error> {
    match id {
        Some(id) => s.serialize_str(&id.to_string()),
        None => s.serialize_none(),
    }
}

/// A string or a number as text; empty for anything else.
fn text_of(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => String::new(),
    }
}

impl<'de> Deserialize<'de> for MatchRule {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Raw {
            #[serde(default)]
            tag_id: Option<Value>,
            #[serde(default)]
            group_id: Option<Value>,
            #[serde(default)]
            client_platform_type: Option<Value>,
        }
        let raw = Raw::deserialize(d)?;
        let tag = raw.tag_id.or(raw.group_id).map(|v| text_of(&v));
        let tag_id = match tag.as_deref() {
            None | Some("") => None,
            Some(t) => Some(TagId(t.parse().map_err(|_| {
                serde::de::Error::custom(format!("tag_id {t:?} is not a tag id"))
            })?)),
        };
        let client_platform_type = raw
            .client_platform_type
            .map(|v| text_of(&v))
            .filter(|t| !t.is_empty());
        Ok(Self {
            tag_id,
            client_platform_type,
        })
    }
}

/// A menu id as WeChat answers it (a number in some answers, a string in others).
fn menu_id<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(text_of(&Value::deserialize(d)?))
}

/// The default menu as `menu/get` answers it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct DefaultMenu {
    /// Its buttons.
    #[serde(default)]
    pub button: Vec<Button>,
}

/// One conditional menu as `menu/get` answers it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ConditionalMenu {
    /// Its buttons.
    #[serde(default)]
    pub button: Vec<Button>,
    /// Who it is for.
    pub matchrule: MatchRule,
    /// Its id, for `menu/delconditional`.
    #[serde(deserialize_with = "menu_id")]
    pub menuid: String,
}

/// Every menu of the account (`menu/get`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct MenuSet {
    /// The default menu.
    pub menu: DefaultMenu,
    /// The conditional menus, oldest first.
    #[serde(default)]
    pub conditionalmenu: Vec<ConditionalMenu>,
}

#[derive(Serialize)]
struct MenuBody<'a> {
    button: &'a [Button],
    #[serde(skip_serializing_if = "Option::is_none")]
    matchrule: Option<&'a MatchRule>,
}

#[derive(Serialize, Deserialize)]
struct MenuIdBody {
    #[serde(deserialize_with = "menu_id")]
    menuid: String,
}

#[derive(Serialize)]
struct TryMatchBody<'a> {
    user_id: &'a str,
}

/// `menu/trymatch` answers `{"button": […]}`; some copies nest it under `menu`.
#[derive(Deserialize)]
struct TryMatchAnswer {
    #[serde(default)]
    button: Vec<Button>,
    #[serde(default)]
    menu: Option<DefaultMenu>,
}

/// WeChat's errcode for `menu/get` of an account without a menu.
const NO_MENU: i64 = 46003;

impl WeChatApi {
    /// Publishes the default menu (`menu/create`), replacing the one there was.
    pub async fn create_menu(
        &self,
        token: &AccessToken,
        buttons: &[Button],
    ) -> Result<(), ApiError> {
        let body = MenuBody {
            button: buttons,
            matchrule: None,
        };
        self.call::<_, Ack>(token, Method::POST, "menu/create", &[], Some(&body))
            .await
            .map(drop)
    }

    /// Adds a conditional menu (`menu/addconditional`); answers its menuid. WeChat matches
    /// the newest first.
    pub async fn add_conditional_menu(
        &self,
        token: &AccessToken,
        buttons: &[Button],
        rule: &MatchRule,
    ) -> Result<String, ApiError> {
        let body = MenuBody {
            button: buttons,
            matchrule: Some(rule),
        };
        let created: MenuIdBody = self
            .call(token, Method::POST, "menu/addconditional", &[], Some(&body))
            .await?;
        Ok(created.menuid)
    }

    /// Deletes one conditional menu (`menu/delconditional`); 65301 for an unknown id.
    pub async fn delete_conditional_menu(
        &self,
        token: &AccessToken,
        menuid: &str,
    ) -> Result<(), ApiError> {
        let body = MenuIdBody {
            menuid: menuid.to_owned(),
        };
        self.call::<_, Ack>(token, Method::POST, "menu/delconditional", &[], Some(&body))
            .await
            .map(drop)
    }

    /// Every menu of the account (`menu/get`); `None` when it has none (46003).
    pub async fn get_menu(&self, token: &AccessToken) -> Result<Option<MenuSet>, ApiError> {
        match self
            .call::<(), MenuSet>(token, Method::GET, "menu/get", &[], None)
            .await
        {
            Ok(set) => Ok(Some(set)),
            Err(e) if e.code() == Some(NO_MENU) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Deletes the default menu and with it every conditional menu (`menu/delete`).
    pub async fn delete_menu(&self, token: &AccessToken) -> Result<(), ApiError> {
        self.call::<(), Ack>(token, Method::GET, "menu/delete", &[], None)
            .await
            .map(drop)
    }

    /// The buttons a user gets (`menu/trymatch`), by openid; 65302 for an unknown user.
    pub async fn try_match_menu(
        &self,
        token: &AccessToken,
        user_id: &str,
    ) -> Result<Vec<Button>, ApiError> {
        let body = TryMatchBody { user_id };
        let answer: TryMatchAnswer = self
            .call(token, Method::POST, "menu/trymatch", &[], Some(&body))
            .await?;
        Ok(match answer.menu {
            Some(menu) if answer.button.is_empty() => menu.button,
            _ => answer.button,
        })
    }
}

#[cfg(test)]
impl Button {
    /// A click button, for tests.
    pub(crate) fn click(name: &str, key: &str) -> Self {
        Self {
            kind: Some("click".into()),
            name: name.into(),
            key: Some(key.into()),
            ..Self::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rule_is_sent_as_a_string_tag_id_and_read_from_either_name() {
        let rule = MatchRule {
            tag_id: Some(TagId(105)),
            client_platform_type: None,
        };
        assert_eq!(serde_json::to_string(&rule).unwrap(), r#"{"tag_id":"105"}"#);
        for raw in [
            r#"{"tag_id":"105"}"#,
            r#"{"group_id":"105"}"#,
            r#"{"group_id":105}"#,
        ] {
            let read: MatchRule = serde_json::from_str(raw).unwrap();
            assert_eq!(read.tag_id, Some(TagId(105)), "{raw}");
        }
        let set: MenuSet = serde_json::from_str(
            r#"{"menu":{"button":[{"type":"click","name":"a","key":"K","sub_button":[]}],"menuid":1},
                "conditionalmenu":[{"button":[],"matchrule":{"group_id":"101","sex":""},"menuid":208379533}]}"#,
        )
        .unwrap();
        assert_eq!(set.menu.button, [Button::click("a", "K")]);
        assert_eq!(set.conditionalmenu[0].menuid, "208379533");
        assert_eq!(set.conditionalmenu[0].matchrule.tag_id, Some(TagId(101)));
    }

    #[test]
    fn buttons_are_checked_as_wechat_checks_them() {
        assert_eq!(check_menu(&[Button::click("产品", "A")]), Ok(()));
        assert_eq!(check_menu(&[]).unwrap_err().errcode(), 40016);
        let four = vec![Button::click("a", "A"); 4];
        assert_eq!(check_menu(&four).unwrap_err().errcode(), 40016);
        let long = Button::click("一二三四五六", "A"); // 18 bytes
        assert_eq!(check_menu(&[long]).unwrap_err().errcode(), 40018);
        let parent = |subs: Vec<Button>| Button {
            name: "更多".into(),
            sub_button: subs,
            ..Button::default()
        };
        assert_eq!(
            check_menu(&[parent(vec![Button::click("a", "A"); 6])])
                .unwrap_err()
                .errcode(),
            40023
        );
        let sub_name = Button::click(&"长".repeat(21), "A"); // 63 bytes
        assert_eq!(
            check_menu(&[parent(vec![sub_name])]).unwrap_err().errcode(),
            40025
        );
        let keyless = Button {
            key: None,
            ..Button::click("a", "A")
        };
        assert_eq!(check_menu(&[keyless]).unwrap_err().errcode(), 40019);
        let odd = Button {
            kind: Some("tap".into()),
            ..Button::click("a", "A")
        };
        assert_eq!(check_menu(&[odd]).unwrap_err().errcode(), 40017);
        let ftp = Button {
            kind: Some("view".into()),
            name: "a".into(),
            url: Some("ftp://example.com/".into()),
            ..Button::default()
        };
        assert_eq!(check_menu(&[ftp]).unwrap_err().errcode(), 65317);
        assert_eq!(
            check_menu(&[parent(Vec::new())]).unwrap_err().errcode(),
            65308
        );
    }

    #[test]
    fn domains_and_keys_come_from_the_buttons_and_their_sub_buttons() {
        let view = Button {
            kind: Some("view".into()),
            name: "案例".into(),
            url: Some("https://Example.com/cases/".into()),
            ..Button::default()
        };
        let parent = Button {
            name: "更多".into(),
            sub_button: vec![view, Button::click("报价", "Q")],
            ..Button::default()
        };
        assert_eq!(parent.domains(), ["example.com"]);
        assert_eq!(parent.keys(), ["Q"]);
    }
}
