//! The keys that sign tracked links' tokens (`wx:{A}:linkkeys`) and web authorisation's
//! states and identity cookies (`wx:{A}:oauthkeys`): every process of an account reads the
//! same ones, and a key is added with `HSETNX`, so two processes adding the same id at once
//! agree on whose bytes it holds.

use hmac::{Hmac, KeyInit, Mac};
use redis::AsyncCommands;
use sha2::Sha256;

use super::{Store, StoreError};

/// One signing key: its id and its 32 bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct LinkKey {
    /// The key id a token names.
    pub id: u32,
    /// The HMAC key.
    pub bytes: [u8; 32],
}

impl LinkKey {
    /// The HMAC-SHA256 of `payload` under this key, to finalise or verify.
    pub fn mac(&self, payload: &str) -> Hmac<Sha256> {
        // HMAC takes a key of any length: 32 bytes cannot be refused.
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.bytes)
            .unwrap_or_else(|_| unreachable!("HMAC accepts every key length"));
        mac.update(payload.as_bytes());
        mac
    }
}

#[cfg(test)]
impl LinkKey {
    /// A key whose 32 bytes are all `fill`, for tests.
    pub(crate) fn filled(id: u32, fill: u8) -> Self {
        Self {
            id,
            bytes: [fill; 32],
        }
    }
}

impl std::fmt::Debug for LinkKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "LinkKey({}, [redacted])", self.id)
    }
}

/// Which keys: each purpose has its own, so a key of one never verifies the other's values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KeySet {
    /// Tracked links' tokens.
    #[default]
    Links,
    /// Web authorisation's `state` and the identity cookie.
    OAuth,
}

impl Store {
    /// Every key of `set`, by id, lowest first.
    pub async fn signing_keys(&self, set: KeySet) -> Result<Vec<LinkKey>, StoreError> {
        let mut conn = self.conn.clone();
        let key = self.keys.signing_keys(set);
        let raw: Vec<(String, String)> = conn.hgetall(&key).await?;
        let mut keys = raw
            .into_iter()
            .map(|(id, hex)| {
                let bytes = hex::decode(&hex).ok().and_then(|b| b.try_into().ok());
                match (id.parse::<u32>(), bytes) {
                    (Ok(id), Some(bytes)) => Ok(LinkKey { id, bytes }),
                    _ => Err(StoreError::Corrupt {
                        key: key.clone(),
                        what: format!("field {id:?} is not a key id holding 64 hex digits"),
                    }),
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        keys.sort_by_key(|k| k.id);
        Ok(keys)
    }

    /// Adds `key` to `set` unless its id is taken; true when this call added it.
    pub async fn add_signing_key(&self, set: KeySet, key: &LinkKey) -> Result<bool, StoreError> {
        let mut conn = self.conn.clone();
        let added: bool = conn
            .hset_nx(self.keys.signing_keys(set), key.id, hex::encode(key.bytes))
            .await?;
        Ok(added)
    }
}
