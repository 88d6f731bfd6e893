//! The channel rules in force: loaded at start, swapped whole on reload (SIGHUP), read by the
//! webhook and the admin views.
//!
//! A reload reads the files and builds the matchers (automata, regex sets) on a blocking
//! thread, never on the async threads serving requests. Readers get an `Arc` snapshot, not a
//! borrow guard, so holding the rules across an `.await` pins one set without blocking a
//! swap.

use std::path::Path;
use std::sync::Arc;

use arc_swap::ArcSwap;
use thiserror::Error;

use super::{CheckFailed, Rules};

/// Why the rules could not be loaded or reloaded.
#[derive(Debug, Error)]
pub enum RulesError {
    /// The folder has mistakes; every one is listed.
    #[error("{0}")]
    Invalid(#[from] CheckFailed),
    /// The blocking load was cancelled or panicked.
    #[error("the channel rules load did not finish: {0}")]
    Interrupted(#[from] tokio::task::JoinError),
}

/// Loads the rules of `dir` for a touch history of `history_days`, logging their warnings;
/// fails with every mistake in them.
///
/// Blocking: file reads and matcher builds. Call it at start or off the async threads.
pub fn load(dir: &Path, history_days: u32) -> Result<Rules, RulesError> {
    let loaded = Rules::load_with(dir, history_days)?;
    for warning in &loaded.warnings {
        tracing::warn!("{warning}");
    }
    Ok(loaded.rules)
}

/// The rules in force, shared by every part that matches or shows them; cheap to clone.
#[derive(Debug, Clone)]
pub struct LiveRules(Arc<ArcSwap<Rules>>);

impl LiveRules {
    /// Puts `rules` in force.
    pub fn new(rules: Rules) -> Self {
        Self(Arc::new(ArcSwap::from_pointee(rules)))
    }

    /// The rules in force now, as a snapshot that a reload does not change.
    pub fn load(&self) -> Arc<Rules> {
        self.0.load_full()
    }

    /// Loads `dir` on a blocking thread, for the touch history the rules in force were loaded
    /// for, and puts its rules in force; keeps the old ones when the new have mistakes.
    pub async fn reload(&self, dir: &Path) -> Result<(), RulesError> {
        let dir = dir.to_owned();
        let history_days = self.load().history_days();
        let fresh = tokio::task::spawn_blocking(move || load(&dir, history_days)).await??;
        self.0.store(Arc::new(fresh));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::fixture::folder;

    const QR: &str = "[[qr]]\nscene = \"expo-2026\"\ntags = [\"来源:展会\"]\n";

    #[tokio::test(flavor = "current_thread")]
    async fn a_reload_swaps_good_rules_keeps_on_bad_and_never_changes_a_snapshot() {
        let live = LiveRules::new(Rules::default());
        let before = live.load();
        let dir = folder(&[("10.toml", QR)]);
        live.reload(dir.path()).await.unwrap();
        assert_eq!(before.channels().count(), 0, "a snapshot is a snapshot");
        assert_eq!(live.load().channels().count(), 1);

        std::fs::write(dir.path().join("10.toml"), "[[qr]]\nbogus = 1\n").unwrap();
        let refused = live.reload(dir.path()).await.unwrap_err().to_string();
        assert!(refused.contains("10.toml"), "{refused}");
        assert_eq!(live.load().channels().count(), 1, "the old rules stay");
    }
}
