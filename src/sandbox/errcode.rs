//! The WeChat error codes the sandbox answers with, and their `errmsg` texts.

use std::fmt;

use super::menus::MenuCode;

/// An error the sandbox answers with, as WeChat would: `{"errcode": N, "errmsg": "…"}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WxError {
    /// -1: system busy.
    Busy,
    /// 40001: the access token is unknown or was replaced.
    InvalidCredential,
    /// 40002: `grant_type` is not `client_credential`.
    InvalidGrantType,
    /// 40003: the openid is malformed or not a follower.
    InvalidOpenid,
    /// 40013: the appid is wrong.
    InvalidAppid,
    /// 40029: the web authorisation code is unknown or expired.
    InvalidCode,
    /// 40032: the openid list is empty or longer than 50.
    InvalidOpenidList,
    /// 40125: the app secret is wrong.
    InvalidAppsecret,
    /// 40163: the web authorisation code was used already.
    CodeUsed,
    /// 41001: no access token was sent.
    MissingToken,
    /// 41002: no appid was sent.
    MissingAppid,
    /// 41004: no app secret was sent.
    MissingSecret,
    /// 41008: no web authorisation code was sent.
    MissingCode,
    /// 42001: the access token has expired.
    TokenExpired,
    /// 45009: the daily API quota is used up.
    DailyQuota,
    /// 45029: too many permanent QR codes.
    QrLimit,
    /// 45056: the account already has 100 tags.
    TooManyTags,
    /// 45057: the tag has more than 100,000 followers and cannot be deleted.
    TagTooBig,
    /// 45058: system tags 0, 1, 2 cannot be changed.
    SystemTag,
    /// 45059: a follower already carries 20 tags.
    UserTagLimit,
    /// 45157: the tag name is invalid or already taken.
    InvalidTagName,
    /// 45158: the tag name is longer than 30.
    TagNameTooLong,
    /// 45159: no tag has this id.
    InvalidTagId,
    /// 47001: the request body is not the JSON this endpoint takes.
    DataFormat,
    /// 40037: the template id is empty or unknown.
    InvalidTemplateId,
    /// 43004: the user does not follow the account.
    RequireSubscribe,
    /// 43019: the user blacklisted the account.
    Blacklisted,
    /// 45015: no customer-service window is open (no action in 48 hours, or unfollowed).
    OutsideWindow,
    /// 45047: the open windows' messages are used up.
    WindowUsed,
    /// 47003: a template field's value is not `{"value": string}`.
    ArgumentInvalid,
    /// 48001: this account may not call this API (e.g. templates on a subscription account).
    ApiUnauthorized,
    /// 48002: the user turned the account's messages off.
    MessagesOff,
    /// A custom menu's refusal (40016-40027, 46003, 65301-65317; see `menus.rs`).
    Menu(MenuCode),
}

impl WxError {
    /// The `errcode`.
    pub fn code(self) -> i64 {
        match self {
            Self::Busy => -1,
            Self::InvalidCredential => 40001,
            Self::InvalidGrantType => 40002,
            Self::InvalidOpenid => 40003,
            Self::InvalidAppid => 40013,
            Self::InvalidCode => 40029,
            Self::InvalidOpenidList => 40032,
            Self::InvalidAppsecret => 40125,
            Self::CodeUsed => 40163,
            Self::MissingToken => 41001,
            Self::MissingAppid => 41002,
            Self::MissingSecret => 41004,
            Self::MissingCode => 41008,
            Self::TokenExpired => 42001,
            Self::DailyQuota => 45009,
            Self::QrLimit => 45029,
            Self::TooManyTags => 45056,
            Self::TagTooBig => 45057,
            Self::SystemTag => 45058,
            Self::UserTagLimit => 45059,
            Self::InvalidTagName => 45157,
            Self::TagNameTooLong => 45158,
            Self::InvalidTagId => 45159,
            Self::DataFormat => 47001,
            Self::InvalidTemplateId => 40037,
            Self::RequireSubscribe => 43004,
            Self::Blacklisted => 43019,
            Self::OutsideWindow => 45015,
            Self::WindowUsed => 45047,
            Self::ArgumentInvalid => 47003,
            Self::ApiUnauthorized => 48001,
            Self::MessagesOff => 48002,
            Self::Menu(m) => m.code(),
        }
    }

    /// The `errmsg`, worded like WeChat's (the sandbox appends a request id, as WeChat does).
    pub fn errmsg(self) -> &'static str {
        match self {
            Self::Busy => "system error",
            Self::InvalidCredential => "invalid credential, access_token is invalid or not latest",
            Self::InvalidGrantType => "invalid grant_type",
            Self::InvalidOpenid => "invalid openid",
            Self::InvalidAppid => "invalid appid",
            Self::InvalidCode => "invalid code",
            Self::InvalidOpenidList => "invalid openid list size",
            Self::InvalidAppsecret => "invalid appsecret",
            Self::CodeUsed => "code been used",
            Self::MissingToken => "access_token missing",
            Self::MissingAppid => "appid missing",
            Self::MissingSecret => "appsecret missing",
            Self::MissingCode => "missing code",
            Self::TokenExpired => "access_token expired",
            Self::DailyQuota => "reach max api daily quota limit",
            Self::QrLimit => "qrcode count out of limit",
            Self::TooManyTags => "too many tags now, no need to add new",
            Self::TagTooBig => "can't delete the tag that has too many fans",
            Self::SystemTag => "can't modify sys tag",
            Self::UserTagLimit => "the user has too many tags",
            Self::InvalidTagName => "invalid tag name, or the name is already used",
            Self::TagNameTooLong => "tag name too long",
            Self::InvalidTagId => "invalid tag id",
            Self::DataFormat => "data format error",
            Self::InvalidTemplateId => "invalid template_id",
            Self::RequireSubscribe => "require subscribe",
            Self::Blacklisted => "user in blacklist",
            Self::OutsideWindow => "response out of time limit or subscription is canceled",
            Self::WindowUsed => "out of response count limit",
            Self::ArgumentInvalid => "argument invalid! data.value is not a string",
            Self::ApiUnauthorized => "api unauthorized",
            Self::MessagesOff => "user refuse to accept the msg",
            Self::Menu(m) => m.errmsg(),
        }
    }

    /// The errors a message send can be told to answer (`POST /sandbox/send_faults`), by code.
    pub fn of_send(code: i64) -> Option<Self> {
        [
            Self::Busy,
            Self::DailyQuota,
            Self::InvalidOpenid,
            Self::RequireSubscribe,
            Self::Blacklisted,
            Self::OutsideWindow,
            Self::WindowUsed,
            Self::ArgumentInvalid,
            Self::MessagesOff,
        ]
        .into_iter()
        .find(|e| e.code() == code)
    }
}

impl fmt::Display for WxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "errcode {}: {}", self.code(), self.errmsg())
    }
}

impl std::error::Error for WxError {}
