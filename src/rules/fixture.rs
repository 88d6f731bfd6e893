//! Test helpers: write a `channels/` folder to a temporary directory and load it.

use std::fs;

use tempfile::TempDir;

use super::{CheckFailed, Loaded, Rules};

/// Writes `files` (name, content) into a fresh temporary folder.
pub(super) fn folder(files: &[(&str, &str)]) -> TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    for (name, text) in files {
        fs::write(dir.path().join(name), text).expect("write fixture");
    }
    dir
}

/// Loads `files` as a `channels/` folder.
pub(super) fn load(files: &[(&str, &str)]) -> Result<Loaded, CheckFailed> {
    let dir = folder(files);
    Rules::load(dir.path())
}

/// Loads `files`, which must be free of errors.
pub(super) fn rules(files: &[(&str, &str)]) -> Rules {
    match load(files) {
        Ok(loaded) => loaded.rules,
        Err(failed) => panic!("fixture should load: {failed}"),
    }
}
