//! The access token, shared by every wxtag process through Redis.
//!
//! The token comes from `stable_token` (normal mode: fetching it again returns the same token,
//! so processes never void each other's) and is cached in Redis until 5 minutes before it
//! expires (half its life when that is shorter), then refreshed ahead of expiry. A refresh is
//! single-flight: one process takes a lock key (a single-key lease, so it works on Redis
//! Cluster too), fetches and stores the token; the others wait for it to appear. Inside one
//! process a mutex makes one task do the waiting. Each process also remembers the token for
//! up to a minute, as WeChat's guidance suggests.
//!
//! After WeChat refused a token (40001, 40014, 42001), [`Tokens::refresh`] drops it from
//! Redis unless someone already replaced it, and fetches the next one.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::metrics::Metrics;
use crate::store::{LeaseOp, Store};

use super::api::{AccessToken, AppSecret, WeChatApi};
use super::client::{ClientError, Retry, count_call, random_id};

/// How long a process trusts the token it last saw without asking Redis again.
const REMEMBER: Duration = Duration::from_secs(60);

/// How long ahead of WeChat's expiry the cached token is dropped (WeChat rotates stable tokens
/// in their last 5 minutes).
const REFRESH_AHEAD: Duration = Duration::from_secs(300);

/// How long the refresh lock lives if its holder dies.
const LOCK_TTL: Duration = Duration::from_secs(15);

/// How long a process waits for another to finish a refresh before giving up for now.
const WAIT_FOR_OTHERS: Duration = Duration::from_secs(20);

/// How often a waiting process looks for the new token.
const POLL: Duration = Duration::from_millis(25);

/// The shared access token of one account.
pub(crate) struct Tokens {
    api: WeChatApi,
    store: Store,
    appid: String,
    secret: AppSecret,
    retry: Retry,
    metrics: Metrics,
    remembered: Mutex<Option<(AccessToken, Instant)>>,
    one_at_a_time: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokens")
            .field("appid", &self.appid)
            .finish_non_exhaustive()
    }
}

/// How long to cache a token WeChat says lives `expires_in`.
fn cache_for(expires_in: Duration) -> Duration {
    expires_in.saturating_sub(REFRESH_AHEAD.min(expires_in / 2))
}

impl Tokens {
    /// The token source for the account `appid`.
    pub(crate) fn new(
        api: WeChatApi,
        store: Store,
        appid: String,
        secret: AppSecret,
        retry: Retry,
        metrics: Metrics,
    ) -> Self {
        Self {
            api,
            store,
            appid,
            secret,
            retry,
            metrics,
            remembered: Mutex::new(None),
            one_at_a_time: tokio::sync::Mutex::new(()),
        }
    }

    /// The current token: remembered, cached in Redis, or fetched.
    pub(crate) async fn get(&self) -> Result<AccessToken, ClientError> {
        if let Some(token) = self.remembered() {
            return Ok(token);
        }
        let _one = self.one_at_a_time.lock().await;
        if let Some(token) = self.remembered() {
            return Ok(token);
        }
        self.shared(None).await
    }

    /// A token other than `stale`, which WeChat refused.
    pub(crate) async fn refresh(&self, stale: &AccessToken) -> Result<AccessToken, ClientError> {
        let _one = self.one_at_a_time.lock().await;
        if let Some(token) = self.remembered()
            && token.expose() != stale.expose()
        {
            return Ok(token);
        }
        self.forget();
        self.store.drop_access_token(stale.expose()).await?;
        self.shared(Some(stale)).await
    }

    fn remembered(&self) -> Option<AccessToken> {
        let remembered = self
            .remembered
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        remembered
            .as_ref()
            .filter(|(_, until)| Instant::now() < *until)
            .map(|(token, _)| token.clone())
    }

    fn remember(&self, token: &AccessToken, for_at_most: Duration) {
        let until = Instant::now() + REMEMBER.min(for_at_most);
        *self
            .remembered
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some((token.clone(), until));
    }

    fn forget(&self) {
        *self
            .remembered
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = None;
    }

    /// The token in Redis unless it is `stale`.
    async fn cached(
        &self,
        stale: Option<&AccessToken>,
    ) -> Result<Option<AccessToken>, ClientError> {
        let cached = self.store.access_token().await?;
        Ok(cached
            .filter(|raw| stale.is_none_or(|s| s.expose() != raw))
            .map(AccessToken::new))
    }

    /// The token from Redis, or fetched by whichever process takes the lock first.
    async fn shared(&self, stale: Option<&AccessToken>) -> Result<AccessToken, ClientError> {
        let owner = random_id();
        let deadline = Instant::now() + WAIT_FOR_OTHERS;
        loop {
            if let Some(token) = self.cached(stale).await? {
                self.remember(&token, REMEMBER);
                return Ok(token);
            }
            if self
                .store
                .token_lock(&owner, LOCK_TTL, LeaseOp::Take)
                .await?
            {
                let fetched = self.fetch_under_lock(stale).await;
                self.store
                    .token_lock(&owner, LOCK_TTL, LeaseOp::Free)
                    .await?;
                return fetched;
            }
            if Instant::now() > deadline {
                return Err(ClientError::TokenWait);
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Fetches a token while holding the lock, unless another process stored one just before.
    async fn fetch_under_lock(
        &self,
        stale: Option<&AccessToken>,
    ) -> Result<AccessToken, ClientError> {
        if let Some(token) = self.cached(stale).await? {
            self.remember(&token, REMEMBER);
            return Ok(token);
        }
        let mut attempt = 0;
        let grant = loop {
            let result = self
                .api
                .stable_token(&self.appid, &self.secret, false)
                .await;
            count_call(&self.metrics, "stable_token", &result);
            match result {
                Ok(grant) => break grant,
                Err(e) if e.is_retryable() && attempt + 1 < self.retry.attempts => {
                    tracing::warn!(error = %e, "fetching the access token failed; retrying");
                    tokio::time::sleep(self.retry.delay(attempt)).await;
                    attempt += 1;
                }
                Err(e) => return Err(e.into()),
            }
        };
        let ttl = cache_for(grant.expires_in);
        if !ttl.is_zero() {
            self.store
                .set_access_token(grant.token.expose(), ttl)
                .await?;
            self.remember(&grant.token, ttl);
        }
        tracing::info!(
            expires_in = grant.expires_in.as_secs(),
            "fetched a new access token"
        );
        Ok(grant.token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_cached_until_five_minutes_before_expiry_or_half_their_life() {
        assert_eq!(
            cache_for(Duration::from_secs(7200)),
            Duration::from_secs(6900)
        );
        assert_eq!(
            cache_for(Duration::from_secs(400)),
            Duration::from_secs(200)
        );
        assert_eq!(cache_for(Duration::ZERO), Duration::ZERO);
    }
}
