//! Leases: a key held by one owner for a while, taken, renewed or freed only by that owner
//! (`lua/lease.lua`): the sync worker's per-lead leases and the access token's refresh lock.
//! Also the shared access token itself, cached until shortly before WeChat's expiry.

use std::sync::LazyLock;
use std::time::Duration;

use redis::{AsyncCommands, Script};

use super::{CHUNK, Store, StoreError, millis};
use crate::domain::OpenId;

static LEASE: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("lua/lease.lua")));

/// A lease held in Redis: taken if free, renewed or freed only by its owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaseOp {
    /// Take the lease if nobody holds it (or renew it if the owner does).
    Take,
    /// Extend a lease the owner holds.
    Renew,
    /// Let go of a lease the owner holds.
    Free,
}

impl LeaseOp {
    fn as_str(self) -> &'static str {
        match self {
            Self::Take => "take",
            Self::Renew => "renew",
            Self::Free => "free",
        }
    }
}

/// Whether a writer may count on holding its sync leases, or Redis must check each one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Held {
    /// Taken or renewed less than half a lease ago, and not found lost since: only their
    /// expiry lets another owner take them, so plain commands do.
    Known,
    /// Redis checks each lease's owner in the script that writes.
    Checked,
}

impl Store {
    /// Takes, renews or frees the sync leases of these leads for `owner`; returns, per lead,
    /// whether `owner` holds the lease afterwards (for `Free`: whether it let one go).
    pub async fn lead_leases(
        &self,
        openids: &[OpenId],
        owner: &str,
        ttl: Duration,
        op: LeaseOp,
    ) -> Result<Vec<bool>, StoreError> {
        let keys: Vec<String> = openids.iter().map(|o| self.keys.sync_lease(o)).collect();
        self.leases(&keys, owner, ttl, op).await
    }

    /// Takes or frees the token refresh lock for `owner`.
    pub async fn token_lock(
        &self,
        owner: &str,
        ttl: Duration,
        op: LeaseOp,
    ) -> Result<bool, StoreError> {
        let held = self
            .leases(&[self.keys.access_token_lock()], owner, ttl, op)
            .await?;
        Ok(held.first().copied().unwrap_or(false))
    }

    async fn leases(
        &self,
        keys: &[String],
        owner: &str,
        ttl: Duration,
        op: LeaseOp,
    ) -> Result<Vec<bool>, StoreError> {
        if op == LeaseOp::Take {
            return self.take(keys, owner, ttl).await;
        }
        self.run_lease_script(keys, owner, ttl, op).await
    }

    /// Takes leases with plain `SET NX PX` (a sync cycle takes thousands: a script would cost
    /// Redis twice as much); only the keys already held, perhaps by `owner` itself, go
    /// through the script, which renews them if so.
    async fn take(
        &self,
        keys: &[String],
        owner: &str,
        ttl: Duration,
    ) -> Result<Vec<bool>, StoreError> {
        let mut out = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(CHUNK) {
            let mut pipe = redis::pipe();
            for key in chunk {
                pipe.cmd("SET")
                    .arg(key)
                    .arg(owner)
                    .arg("NX")
                    .arg("PX")
                    .arg(millis(ttl));
            }
            let taken: Vec<Option<String>> = pipe.query_async(&mut self.conn.clone()).await?;
            out.extend(taken.into_iter().map(|t| t.is_some()));
        }
        // One reply per command: the length only differs if Redis broke the protocol.
        out.resize(keys.len(), false);
        let held: Vec<usize> = (0..keys.len()).filter(|&i| !out[i]).collect();
        if !held.is_empty() {
            let again: Vec<String> = held.iter().map(|&i| keys[i].clone()).collect();
            let mine = self
                .run_lease_script(&again, owner, ttl, LeaseOp::Take)
                .await?;
            for (i, mine) in held.into_iter().zip(mine) {
                out[i] = mine;
            }
        }
        Ok(out)
    }

    async fn run_lease_script(
        &self,
        keys: &[String],
        owner: &str,
        ttl: Duration,
        op: LeaseOp,
    ) -> Result<Vec<bool>, StoreError> {
        let mut out = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(CHUNK) {
            let mut invocation = LEASE.prepare_invoke();
            for key in chunk {
                invocation.key(key);
            }
            invocation.arg(owner).arg(millis(ttl)).arg(op.as_str());
            let held: Vec<i64> = invocation.invoke_async(&mut self.conn.clone()).await?;
            out.extend(held.into_iter().map(|h| h == 1));
        }
        Ok(out)
    }

    /// The shared access token, if one is cached.
    pub async fn access_token(&self) -> Result<Option<String>, StoreError> {
        let mut conn = self.conn.clone();
        Ok(conn.get(self.keys.access_token()).await?)
    }

    /// Caches the shared access token for `ttl`.
    pub async fn set_access_token(&self, token: &str, ttl: Duration) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        let _: () = conn
            .pset_ex(self.keys.access_token(), token, millis(ttl))
            .await?;
        Ok(())
    }

    /// Drops the cached access token if it is still `stale` (someone may have replaced it).
    pub async fn drop_access_token(&self, stale: &str) -> Result<(), StoreError> {
        self.leases(
            &[self.keys.access_token()],
            stale,
            Duration::from_millis(1),
            LeaseOp::Free,
        )
        .await
        .map(drop)
    }
}
