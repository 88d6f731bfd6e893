//! WeChat calls as wxtag makes them (the sync worker, QR codes, the CLI): with the shared
//! access token (refreshed once when WeChat refuses it, see `token.rs`), retried with
//! exponential backoff and jitter while the failure may pass (busy, quota, HTTP 5xx,
//! timeouts), and counted by endpoint and errcode.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use thiserror::Error;

use crate::metrics::Metrics;
use crate::store::{Store, StoreError};

use super::api::{AccessToken, ApiError, AppSecret, QrRequest, QrTicket, WeChatApi};
use super::token::Tokens;

/// Why a call through the [`Client`] failed.
#[derive(Debug, Error)]
pub enum ClientError {
    /// Only the operator can fix this (wrong AppID or AppSecret, IP not whitelisted, …).
    #[error("wechat calls are stopped until the configuration is fixed: {0}")]
    Config(ApiError),
    /// WeChat failed and retries did not help.
    #[error("wechat: {0}")]
    Api(ApiError),
    /// Redis failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Another wxtag process holds the token refresh lock and no token arrived.
    #[error("no access token arrived while another wxtag process was fetching one; trying again")]
    TokenWait,
}

impl From<ApiError> for ClientError {
    fn from(e: ApiError) -> Self {
        if e.is_fatal_config() {
            Self::Config(e)
        } else {
            Self::Api(e)
        }
    }
}

impl ClientError {
    /// True when trying again later may succeed.
    pub fn may_pass(&self) -> bool {
        match self {
            Self::Api(e) => e.is_retryable() || e.is_token_error(),
            Self::TokenWait => true,
            Self::Config(_) | Self::Store(_) => false,
        }
    }
}

/// True when WeChat refused a call for good with an errcode: no retry helps, and it is not the
/// operator's configuration (those stop the sync instead).
pub(crate) fn refused_for_good(e: &ApiError) -> bool {
    e.code().is_some() && !e.is_retryable() && !e.is_token_error() && !e.is_fatal_config()
}

/// Where WeChat's API is and how to log in to it.
#[derive(Debug, Clone)]
pub struct WeChatAccess {
    /// The API base URL, e.g. `https://api.weixin.qq.com` or a sandbox's `http://127.0.0.1:port`.
    pub base_url: String,
    /// The AppID.
    pub appid: String,
    /// The AppSecret.
    pub secret: AppSecret,
}

/// A random hex id, for consumer names and lock owners.
pub(crate) fn random_id() -> String {
    format!("{:016x}", rand::random::<u64>())
}

/// How failed calls are retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retry {
    /// Attempts per call, the first included.
    pub attempts: u32,
    /// The wait before the second attempt; it doubles with each further attempt.
    pub base: Duration,
    /// The longest wait.
    pub cap: Duration,
}

impl Default for Retry {
    fn default() -> Self {
        Self {
            attempts: 6,
            base: Duration::from_millis(200),
            cap: Duration::from_secs(10),
        }
    }
}

impl Retry {
    /// The wait after failed attempt `attempt` (0-based): `base · 2^attempt`, capped, then a
    /// random point in its upper half, so processes that failed together retry apart.
    pub fn delay(&self, attempt: u32) -> Duration {
        let full = self
            .base
            .saturating_mul(2u32.saturating_pow(attempt))
            .min(self.cap);
        let half = full / 2;
        let jitter = u64::try_from(half.as_micros()).unwrap_or(u64::MAX);
        half + Duration::from_micros(rand::random_range(0..=jitter))
    }
}

/// Counts one call by endpoint and outcome: the errcode (`0` for success), or `http`,
/// `timeout`, `transport`, `decode` when WeChat gave no errcode.
pub(crate) fn count_call<T>(metrics: &Metrics, endpoint: &str, result: &Result<T, ApiError>) {
    let outcome = match result {
        Ok(_) => "0".to_owned(),
        Err(ApiError::WeChat { code, .. }) => code.to_string(),
        Err(ApiError::Http { .. }) => "http".to_owned(),
        Err(ApiError::Timeout) => "timeout".to_owned(),
        Err(ApiError::Transport(_)) => "transport".to_owned(),
        Err(ApiError::Decode(_)) => "decode".to_owned(),
        Err(ApiError::BaseUrl { .. }) => "config".to_owned(),
    };
    metrics
        .api_calls
        .with_label_values(&[endpoint, outcome.as_str()])
        .inc();
}

/// The WeChat API with the shared token, retries and metrics; cheap to clone.
#[derive(Debug, Clone)]
pub struct Client {
    api: WeChatApi,
    tokens: Arc<Tokens>,
    retry: Retry,
    metrics: Metrics,
}

impl Client {
    /// A client for the account `access` names, caching its token in `store`'s Redis and
    /// giving up on any one call after `timeout`.
    pub fn new(
        store: Store,
        access: &WeChatAccess,
        timeout: Duration,
        retry: Retry,
        metrics: Metrics,
    ) -> Result<Self, ClientError> {
        let api = WeChatApi::new(&access.base_url, timeout)?;
        let tokens = Tokens::new(
            api.clone(),
            store,
            access.appid.clone(),
            access.secret.clone(),
            retry,
            metrics.clone(),
        );
        Ok(Self {
            api,
            tokens: Arc::new(tokens),
            retry,
            metrics,
        })
    }

    /// How this client retries.
    pub fn retry(&self) -> Retry {
        self.retry
    }

    /// This client (the same token and pool), retrying as `retry` says.
    pub fn retrying(mut self, retry: Retry) -> Self {
        self.retry = retry;
        self
    }

    /// One attempt of a call with the shared token; when WeChat refuses the token, it is
    /// refreshed once and the call made again.
    pub(crate) async fn attempt<T, F, Fut>(
        &self,
        endpoint: &'static str,
        call: &F,
    ) -> Result<T, ClientError>
    where
        F: Fn(WeChatApi, AccessToken) -> Fut,
        Fut: Future<Output = Result<T, ApiError>>,
    {
        let token = self.tokens.get().await?;
        let result = call(self.api.clone(), token.clone()).await;
        count_call(&self.metrics, endpoint, &result);
        match result {
            Err(e) if e.is_token_error() => {
                tracing::info!(
                    endpoint,
                    errcode = e.code(),
                    "wechat refused the access token; refreshing it once"
                );
                let fresh = self.tokens.refresh(&token).await?;
                let result = call(self.api.clone(), fresh).await;
                count_call(&self.metrics, endpoint, &result);
                Ok(result?)
            }
            other => Ok(other?),
        }
    }

    /// A call, attempted again after a backoff while its failure may pass.
    pub(crate) async fn call<T, F, Fut>(
        &self,
        endpoint: &'static str,
        call: F,
    ) -> Result<T, ClientError>
    where
        F: Fn(WeChatApi, AccessToken) -> Fut,
        Fut: Future<Output = Result<T, ApiError>>,
    {
        let mut attempt = 0;
        loop {
            match self.attempt(endpoint, &call).await {
                Err(e) if e.may_pass() && attempt + 1 < self.retry.attempts => {
                    tracing::debug!(endpoint, error = %e, attempt, "call failed; retrying");
                    tokio::time::sleep(self.retry.delay(attempt)).await;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    /// Makes sure there is an access token: WeChat takes the AppID and AppSecret.
    pub async fn check(&self) -> Result<(), ClientError> {
        self.tokens.get().await.map(drop)
    }

    /// Creates a parametric QR code.
    pub async fn create_qrcode(&self, request: &QrRequest) -> Result<QrTicket, ClientError> {
        self.call("qrcode/create", |api, token| async move {
            api.create_qrcode(&token, request).await
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap_with_jitter_in_the_upper_half() {
        let retry = Retry {
            attempts: 10,
            base: Duration::from_millis(100),
            cap: Duration::from_secs(1),
        };
        for _ in 0..50 {
            let first = retry.delay(0);
            assert!(first >= Duration::from_millis(50) && first <= Duration::from_millis(100));
            let third = retry.delay(2);
            assert!(third >= Duration::from_millis(200) && third <= Duration::from_millis(400));
            let late = retry.delay(30);
            assert!(late >= Duration::from_millis(500) && late <= Duration::from_secs(1));
        }
    }

    #[test]
    fn calls_are_counted_by_errcode_or_failure_kind() {
        let metrics = Metrics::new();
        count_call(&metrics, "tags/get", &Ok::<(), ApiError>(()));
        count_call::<()>(
            &metrics,
            "tags/get",
            &Err(ApiError::WeChat {
                code: -1,
                message: "busy".into(),
            }),
        );
        count_call::<()>(&metrics, "tags/get", &Err(ApiError::Timeout));
        let text = metrics.render();
        for outcome in ["0", "-1", "timeout"] {
            assert!(
                text.contains(&format!(
                    "wxtag_wechat_api_calls_total{{endpoint=\"tags/get\",errcode=\"{outcome}\"}} 1"
                )),
                "{text}"
            );
        }
    }
}
