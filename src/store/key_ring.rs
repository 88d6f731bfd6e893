//! The keys wxtag signs with, kept in Redis ([`Store::signing_keys`]) and cached in memory:
//! tracked links' tokens, and web authorisation's own ring ([`KeyRing::of`]).
//!
//! The first token an account ever signs makes key 1 (`HSETNX`, so two processes starting
//! together agree on its bytes). The highest key id signs; every key verifies, so
//! [`KeyRing::rotate`] makes a new key current without breaking the links already sent.
//! The cache is read again every [`REFRESH`] (so a rotation by another process is picked up)
//! and whenever a token names a key id above the highest one cached.

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use super::{KeySet, LinkKey, Store, StoreError};

/// How long the cached keys are used before Redis is asked again.
pub const REFRESH: Duration = Duration::from_secs(300);

/// The keys as last read from Redis.
#[derive(Debug)]
struct Cached {
    /// Every key, lowest id first; never empty.
    keys: Vec<LinkKey>,
    read: Instant,
}

/// The signing keys of one account, shared by every worker of the process; the default
/// ring is the tracked links'.
#[derive(Debug, Clone, Default)]
pub struct KeyRing {
    set: KeySet,
    cached: Arc<RwLock<Option<Arc<Cached>>>>,
}

impl KeyRing {
    /// The ring of `set`'s keys.
    pub fn of(set: KeySet) -> Self {
        Self {
            set,
            cached: Arc::default(),
        }
    }

    /// The cached keys, if fresh enough.
    fn fresh(&self) -> Option<Arc<Cached>> {
        let cached = self.cached.read().ok()?.clone()?;
        (cached.read.elapsed() < REFRESH).then_some(cached)
    }

    /// Reads the keys from Redis, making key 1 first if the account has none.
    async fn load(&self, store: &Store) -> Result<Arc<Cached>, StoreError> {
        let mut keys = store.signing_keys(self.set).await?;
        if keys.is_empty() {
            store.add_signing_key(self.set, &new_key(1)).await?;
            keys = store.signing_keys(self.set).await?;
        }
        let cached = Arc::new(Cached {
            keys,
            read: Instant::now(),
        });
        if let Ok(mut slot) = self.cached.write() {
            *slot = Some(cached.clone());
        }
        Ok(cached)
    }

    /// The key that signs new tokens: the highest id.
    pub async fn signing_key(&self, store: &Store) -> Result<LinkKey, StoreError> {
        let cached = match self.fresh() {
            Some(cached) => cached,
            None => self.load(store).await?,
        };
        cached
            .keys
            .last()
            .cloned()
            .ok_or_else(|| StoreError::Corrupt {
                key: store.keys().signing_keys(self.set),
                what: "no key after adding one".to_owned(),
            })
    }

    /// The key with this id, if the account has it; Redis is asked again when the id is
    /// above every cached one (another process may have rotated).
    pub async fn key(&self, store: &Store, id: u32) -> Result<Option<LinkKey>, StoreError> {
        let cached = match self.fresh() {
            Some(cached) if cached.keys.last().is_some_and(|k| k.id >= id) => cached,
            _ => self.load(store).await?,
        };
        Ok(cached.keys.iter().find(|k| k.id == id).cloned())
    }

    /// Makes a new key current (the highest id plus one); old keys keep verifying. Returns
    /// the new current key id. Two rotations at once make one new key.
    pub async fn rotate(&self, store: &Store) -> Result<u32, StoreError> {
        let current = self.load(store).await?;
        let next = current.keys.last().map_or(1, |k| k.id.saturating_add(1));
        store.add_signing_key(self.set, &new_key(next)).await?;
        let after = self.load(store).await?;
        Ok(after.keys.last().map_or(next, |k| k.id))
    }
}

/// A fresh random key.
fn new_key(id: u32) -> LinkKey {
    LinkKey {
        id,
        bytes: rand::random(),
    }
}
