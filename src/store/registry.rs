//! The tags a store knows are in the account's tag registry (`wx:{A}:tags`), so that a touch
//! adding one of them to a lead skips the registry write: at thousands of events a second,
//! that write is one Redis command in fifteen, and a tag is registered once in its life.
//!
//! A tag is known once a script that adds it has run: it registered the tag, or the lead
//! already had it (every script that adds a tag registers it). What is known is forgotten
//! every [`FORGET_AFTER`], so a registry emptied behind wxtag's back (a flushed Redis) is
//! written again within that time.

use std::collections::HashSet;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::domain::TagName;

/// How long a tag stays known without a registry write.
pub const FORGET_AFTER: Duration = Duration::from_secs(60);

/// The tags known to be registered, and since when that knowledge holds.
#[derive(Debug)]
pub(super) struct Registered {
    known: Mutex<(Instant, HashSet<TagName>)>,
}

impl Default for Registered {
    fn default() -> Self {
        Self {
            known: Mutex::new((Instant::now(), HashSet::new())),
        }
    }
}

impl Registered {
    /// One byte per tag, in order, for the scripts: `1` when it is known to be registered,
    /// `0` when the script must register it.
    pub(super) fn mask<'a>(&self, tags: impl IntoIterator<Item = &'a TagName>) -> String {
        let mut known = self.known.lock().unwrap_or_else(PoisonError::into_inner);
        if known.0.elapsed() >= FORGET_AFTER {
            *known = (Instant::now(), HashSet::new());
        }
        tags.into_iter()
            .map(|tag| if known.1.contains(tag) { '1' } else { '0' })
            .collect()
    }

    /// Records that these tags are registered (a script that adds them has run).
    pub(super) fn learn<'a>(&self, tags: impl IntoIterator<Item = &'a TagName>) {
        let mut known = self.known.lock().unwrap_or_else(PoisonError::into_inner);
        for tag in tags {
            if !known.1.contains(tag) {
                known.1.insert(tag.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tag_is_known_once_learned_and_until_forgotten() {
        let registered = Registered::default();
        let a = TagName::parse("来源:展会").unwrap();
        let b = TagName::parse("兴趣:A").unwrap();
        assert_eq!(registered.mask([&a, &b]), "00");
        registered.learn([&a]);
        assert_eq!(registered.mask([&a, &b]), "10");
        // The machine has been up for more than a minute.
        registered.known.lock().unwrap().0 = Instant::now().checked_sub(FORGET_AFTER).unwrap();
        assert_eq!(registered.mask([&a, &b]), "00", "forgotten after a while");
    }
}
