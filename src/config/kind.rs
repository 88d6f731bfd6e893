//! The account's kind (`WECHAT_ACCOUNT_KIND`, `WECHAT_VERIFIED`) and what it may use: a
//! feature the account cannot use is refused at start with the reason, and the parts that
//! send (automation's check, broadcasts) ask [`AccountKind::can`] first.

use std::fmt;

use super::ConfigError;

/// 服务号 or 公众号 (the former 订阅号), as the MP console says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Kind {
    /// 服务号: a service account.
    #[default]
    Service,
    /// 公众号 (订阅号): a subscription account.
    Subscription,
}

/// A WeChat feature only some accounts have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feature {
    /// Customer-service messages inside the 48-hour window (verified accounts of both kinds).
    CustomerService,
    /// Template messages (verified service accounts).
    Templates,
    /// Web authorisation, `snsapi_base` (verified service accounts).
    WebAuthorisation,
    /// Broadcasts to a list of openids (`mass/send`, verified service accounts).
    OpenIdBroadcast,
}

impl Feature {
    /// What the feature is called in messages.
    fn name(self) -> &'static str {
        match self {
            Self::CustomerService => "customer-service messages",
            Self::Templates => "template messages",
            Self::WebAuthorisation => "web authorisation (WECHAT_OAUTH=base)",
            Self::OpenIdBroadcast => "broadcasts to a list of openids",
        }
    }
}

/// The account's kind and whether WeChat verified it (认证).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccountKind {
    /// 服务号 or 公众号.
    pub kind: Kind,
    /// Whether the account is verified.
    pub verified: bool,
}

impl Default for AccountKind {
    /// A verified service account: what every feature needs, and the defaults.
    fn default() -> Self {
        Self {
            kind: Kind::Service,
            verified: true,
        }
    }
}

/// Why the account cannot use a feature, in words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cannot {
    /// The feature.
    pub feature: Feature,
    /// The account's kind.
    pub account: AccountKind,
}

impl fmt::Display for Cannot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let needs = match self.feature {
            Feature::CustomerService => "a verified account",
            _ => "a verified service account (服务号)",
        };
        write!(
            f,
            "{} need {needs}, and this is {} (WECHAT_ACCOUNT_KIND, WECHAT_VERIFIED)",
            self.feature.name(),
            self.account
        )
    }
}

impl fmt::Display for AccountKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verified = if self.verified {
            "a verified"
        } else {
            "an unverified"
        };
        let kind = match self.kind {
            Kind::Service => "service account (服务号)",
            Kind::Subscription => "subscription account (公众号/订阅号)",
        };
        write!(f, "{verified} {kind}")
    }
}

impl AccountKind {
    /// Whether the account may use `feature`; the reason in words when it may not.
    pub fn can(&self, feature: Feature) -> Result<(), Cannot> {
        let may = match feature {
            Feature::CustomerService => self.verified,
            Feature::Templates | Feature::WebAuthorisation | Feature::OpenIdBroadcast => {
                self.verified && self.kind == Kind::Service
            }
        };
        if may {
            Ok(())
        } else {
            Err(Cannot {
                feature,
                account: *self,
            })
        }
    }
}

/// `WECHAT_ACCOUNT_KIND` (`service`, the default, or `subscription`) and `WECHAT_VERIFIED`
/// (`true`, the default, or `false`).
pub(super) fn account_kind(
    get: &impl Fn(&str) -> Option<String>,
) -> Result<AccountKind, ConfigError> {
    let kind = match get("WECHAT_ACCOUNT_KIND").as_deref().map(str::trim) {
        None | Some("service") => Kind::Service,
        Some("subscription") => Kind::Subscription,
        Some(other) => {
            return Err(ConfigError {
                var: "WECHAT_ACCOUNT_KIND",
                problem: format!(
                    "{other:?} is not an account kind; write service (服务号, the default) or \
                     subscription (公众号/订阅号), as the MP console's 账号详情 says"
                ),
            });
        }
    };
    let verified = match get("WECHAT_VERIFIED").as_deref().map(str::trim) {
        None | Some("true") => true,
        Some("false") => false,
        Some(other) => {
            return Err(ConfigError {
                var: "WECHAT_VERIFIED",
                problem: format!(
                    "{other:?} is not true or false; write true (the default) when the MP \
                     console shows the account verified (已认证), else false"
                ),
            });
        }
    };
    Ok(AccountKind { kind, verified })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_verified_service_account_has_templates_and_web_authorisation() {
        let service = AccountKind::default();
        for feature in [
            Feature::CustomerService,
            Feature::Templates,
            Feature::WebAuthorisation,
            Feature::OpenIdBroadcast,
        ] {
            assert!(service.can(feature).is_ok(), "{feature:?}");
        }
        let subscription = AccountKind {
            kind: Kind::Subscription,
            verified: true,
        };
        assert!(subscription.can(Feature::CustomerService).is_ok());
        let why = subscription
            .can(Feature::Templates)
            .unwrap_err()
            .to_string();
        assert!(
            why.contains("template messages need a verified service account"),
            "{why}"
        );
        assert!(why.contains("subscription account"), "{why}");
        let unverified = AccountKind {
            kind: Kind::Service,
            verified: false,
        };
        assert!(unverified.can(Feature::WebAuthorisation).is_err());
        assert!(unverified.can(Feature::CustomerService).is_err());
    }
}
