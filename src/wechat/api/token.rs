//! Access tokens and the app secret, as WeChat's token endpoints grant and take them: secret
//! types whose `Debug` never shows them, and what a grant holds.

use std::fmt;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};

/// Declares a secret string newtype whose `Debug` says only that it is redacted.
macro_rules! secret_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone)]
        pub struct $name(SecretString);

        impl $name {
            /// Wraps the secret text.
            pub fn new(value: impl Into<String>) -> Self {
                Self(SecretString::from(value.into()))
            }

            /// The secret text, for sending it where it belongs and nowhere else.
            pub fn expose(&self) -> &str {
                self.0.expose_secret()
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(concat!(stringify!($name), "(<redacted>)"))
            }
        }

        impl std::str::FromStr for $name {
            type Err = std::convert::Infallible;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Ok(Self::new(s))
            }
        }
    };
}

secret_type!(
    /// An access token for WeChat's API (`access_token`); `Debug` never shows it.
    AccessToken
);

secret_type!(
    /// An official account's AppSecret (开发者密码); `Debug` never shows it.
    AppSecret
);

/// An access token as WeChat granted it.
#[derive(Debug, Clone)]
pub struct TokenGrant {
    /// The token.
    pub token: AccessToken,
    /// How long it stays valid from now (for `stable_token`: the remaining lifetime).
    pub expires_in: Duration,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_redacted_in_debug() {
        let token = AccessToken::new("tok-123");
        let secret = AppSecret::new("sec-456");
        let grant = TokenGrant {
            token: token.clone(),
            expires_in: Duration::from_secs(1),
        };
        let shown = format!("{token:?} {secret:?} {grant:?}");
        assert!(
            !shown.contains("tok-123") && !shown.contains("sec-456"),
            "{shown}"
        );
        assert_eq!(token.expose(), "tok-123");
    }
}
