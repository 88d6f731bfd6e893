//! Why a call to WeChat failed, and what each errcode means: retry, refresh the token once,
//! or stop and tell the operator what to fix. Classification switches on the errcode, never on
//! `errmsg` (it carries a request id).

use thiserror::Error;

/// Why a call to WeChat failed.
#[derive(Debug, Error)]
pub enum ApiError {
    /// WeChat answered with a non-zero `errcode`.
    #[error("{}", describe_wechat(*code, message))]
    WeChat {
        /// The `errcode`.
        code: i64,
        /// The `errmsg`, for people (it carries a request id; never match on it).
        message: String,
    },
    /// WeChat (or something in front of it) answered with a non-2xx HTTP status.
    #[error("wechat answered http status {status}")]
    Http {
        /// The HTTP status code.
        status: u16,
    },
    /// No answer within the client's timeout.
    #[error("the call to wechat timed out; it is retried with backoff")]
    Timeout,
    /// The request could not be sent or the answer not received (DNS, connect, TLS, reset).
    #[error("could not reach wechat: {0}")]
    Transport(String),
    /// The answer was not the JSON this call expects.
    #[error("wechat's answer could not be read: {0}")]
    Decode(String),
    /// The configured API base URL is unusable.
    #[error(
        "the wechat api base url {url:?} is not usable: {reason}; set WECHAT_API_BASE to e.g. https://api.weixin.qq.com"
    )]
    BaseUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// Why WeChat refused a message to one follower for good: recorded, never retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendRefusal {
    /// 45015: outside the 48-hour window (or the user unfollowed).
    OutsideWindow,
    /// 45047: the window's messages are used up.
    WindowUsed,
    /// 43004: the user does not follow the account.
    NotFollowing,
    /// 43019: the user blacklisted the account.
    Blacklisted,
    /// 48002: the user turned the account's messages off.
    MessagesOff,
    /// 47003: a template field's value is not `{"value": string}`, or one is missing.
    BadTemplateData,
    /// 40003: the openid is not one of this account's users.
    InvalidOpenid,
    /// 40037: no such template.
    InvalidTemplate,
    /// 43101: the user did not accept the (subscription) message.
    NotAccepted,
    /// 45008: a news message with more than one article.
    TooManyArticles,
}

impl SendRefusal {
    /// The refusal for a send's errcode; `None` when the errcode is not one of these.
    pub fn of(code: i64) -> Option<Self> {
        Some(match code {
            45015 => Self::OutsideWindow,
            45047 => Self::WindowUsed,
            43004 => Self::NotFollowing,
            43019 => Self::Blacklisted,
            48002 => Self::MessagesOff,
            47003 => Self::BadTemplateData,
            40003 => Self::InvalidOpenid,
            40037 => Self::InvalidTemplate,
            43101 => Self::NotAccepted,
            45008 => Self::TooManyArticles,
            _ => return None,
        })
    }

    /// WeChat's errcode.
    pub fn code(self) -> i64 {
        match self {
            Self::OutsideWindow => 45015,
            Self::WindowUsed => 45047,
            Self::NotFollowing => 43004,
            Self::Blacklisted => 43019,
            Self::MessagesOff => 48002,
            Self::BadTemplateData => 47003,
            Self::InvalidOpenid => 40003,
            Self::InvalidTemplate => 40037,
            Self::NotAccepted => 43101,
            Self::TooManyArticles => 45008,
        }
    }
}

/// Errcodes that mean the token must be refreshed (once) before retrying.
const TOKEN_ERRORS: [i64; 3] = [40001, 40014, 42001];

/// Errcodes that no retry can fix: the operator must change the configuration or the console.
const FATAL_CONFIG_ERRORS: [i64; 12] = [
    40013, 40125, 40164, 40243, 41002, 41004, 48001, 48004, 89501, 89503, 89506, 89507,
];

impl ApiError {
    /// WeChat's errcode, when WeChat answered with one.
    pub fn code(&self) -> Option<i64> {
        match self {
            Self::WeChat { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// True for 40001, 40014, 42001: refresh the token once, then retry.
    pub fn is_token_error(&self) -> bool {
        self.code().is_some_and(|c| TOKEN_ERRORS.contains(&c))
    }

    /// True when trying again later may succeed: busy (-1), quotas (45009, 45011), HTTP 5xx,
    /// timeouts and transport failures.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::WeChat { code, .. } => matches!(code, -1 | 45009 | 45011),
            Self::Http { status } => *status >= 500,
            Self::Timeout | Self::Transport(_) => true,
            Self::Decode(_) | Self::BaseUrl { .. } => false,
        }
    }

    /// The refusal of a message WeChat will not deliver, ever (45015, 45047, 43004, 43019,
    /// 48002, 47003, 40003, 40037, 43101, 45008); `None` for every other failure.
    pub fn send_refusal(&self) -> Option<SendRefusal> {
        self.code().and_then(SendRefusal::of)
    }

    /// True when only the operator can fix it (wrong appid/secret, IP whitelist, frozen
    /// secret, admin confirmation, missing API permission); never retry these in a loop.
    pub fn is_fatal_config(&self) -> bool {
        match self {
            Self::BaseUrl { .. } => true,
            _ => self
                .code()
                .is_some_and(|c| FATAL_CONFIG_ERRORS.contains(&c)),
        }
    }
}

/// The message for a WeChat errcode: for configuration errors, what to fix and where.
fn describe_wechat(code: i64, message: &str) -> String {
    let fix = match code {
        40013 => {
            "wechat refused the appid: set WECHAT_APPID to the official account's AppID from the MP console (设置与开发 → 基本配置)"
        }
        40125 => {
            "wechat refused the app secret: copy the current AppSecret from the MP console (设置与开发 → 基本配置) into WECHAT_APPSECRET; resetting it there voids the old one"
        }
        40164 => {
            "wechat refused this server's ip: add this server's egress IP to the IP whitelist (IP白名单) in the MP console"
        }
        40243 => "the app secret is frozen: unfreeze or reset it in the MP console",
        41002 => "no appid was sent: set WECHAT_APPID",
        41004 => "no app secret was sent: set WECHAT_APPSECRET",
        48001 | 48004 => {
            "this account may not call this api: it needs the permission (usually a verified service account) in the MP console"
        }
        89501 | 89503 => {
            "wechat is waiting for the account admin to confirm calls from this ip: approve the confirmation wechat sent, then retry"
        }
        89506 | 89507 => {
            "the account admin rejected calls from this ip and wechat blocks it for a while: approve the ip in the MP console"
        }
        40001 | 40014 | 42001 => {
            "the access token is invalid or expired: fetch a new one and retry once"
        }
        -1 => "wechat is busy: retry with backoff",
        45009 => {
            "the daily api quota is used up: wait for the daily reset or clear it (clear_quota)"
        }
        45011 => "the per-minute api quota is used up: back off and retry",
        45015 => {
            "the user's customer-service window is closed (no action in 48 hours, or unfollowed)"
        }
        45047 => "the customer-service window's messages are used up",
        43004 => "the user does not follow the account",
        43019 => "the user blacklisted the account",
        48002 => "the user turned this account's messages off",
        47003 => {
            "a template field is missing or not {\"value\": string}: check data against the template"
        }
        40037 => "no such template: copy the template id from the MP console (模板消息)",
        43101 => "the user did not accept this message",
        45008 => "a news message takes one article",
        40029 => "the web authorisation code is unknown, expired or for another account",
        40163 => "the web authorisation code was used already",
        _ => "wechat refused the call",
    };
    format!("{fix} (errcode {code}: {message})")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wechat(code: i64) -> ApiError {
        ApiError::WeChat {
            code,
            message: format!("some text rid: {code}"),
        }
    }

    #[test]
    fn errors_are_classified_by_errcode() {
        for code in [40001, 40014, 42001] {
            assert!(wechat(code).is_token_error(), "{code}");
            assert!(!wechat(code).is_retryable() && !wechat(code).is_fatal_config());
        }
        for code in [-1, 45009, 45011] {
            assert!(wechat(code).is_retryable(), "{code}");
        }
        for code in [40125, 40164, 40013, 40243, 89503] {
            assert!(wechat(code).is_fatal_config(), "{code}");
            assert!(!wechat(code).is_retryable());
        }
        assert!(ApiError::Http { status: 502 }.is_retryable());
        assert!(!ApiError::Http { status: 404 }.is_retryable());
        assert!(ApiError::Timeout.is_retryable());
        assert!(!ApiError::Decode("x".into()).is_retryable());
        assert_eq!(wechat(45157).code(), Some(45157));
        for code in [45015, 45047, 43004, 43019, 48002, 47003, 40003, 43101] {
            let refusal = wechat(code).send_refusal().unwrap();
            assert_eq!(refusal.code(), code);
            assert!(!wechat(code).is_retryable(), "{code}");
        }
        assert_eq!(wechat(-1).send_refusal(), None);
        assert_eq!(ApiError::Timeout.code(), None);
    }

    #[test]
    fn config_errors_say_what_to_fix() {
        let ip = ApiError::WeChat {
            code: 40164,
            message: "invalid ip 1.2.3.4 ipv6 ::ffff:1.2.3.4, not in whitelist".into(),
        };
        let text = ip.to_string();
        assert!(text.contains("IP whitelist"), "{text}");
        assert!(text.contains("1.2.3.4"), "{text}");
        assert!(wechat(40125).to_string().contains("WECHAT_APPSECRET"));
        assert!(wechat(89503).to_string().contains("approve"));
    }
}
