//! Replays the fuzz corpus (`fuzz/corpus/<target>/`) through the same code the `cargo fuzz`
//! targets run (`fuzz/bodies.rs`), so every input a fuzz run kept, crashes found and fixed
//! included, stays a regression test without a nightly toolchain.

use std::fs;
use std::path::Path;

#[path = "../../fuzz/bodies.rs"]
mod bodies;

/// Every file of one target's corpus, fed to `run`: no panic, and every error has a message.
/// Returns how many inputs were accepted and how many refused, for the caller to check.
fn replay(target: &str, run: fn(&[u8]) -> Vec<Result<(), String>>) -> (usize, usize) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let entries = fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let (mut ok, mut refused) = (0, 0);
    for entry in entries {
        let path = entry.expect("a corpus entry").path();
        let data = fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        for outcome in run(&data) {
            match outcome {
                Ok(()) => ok += 1,
                Err(message) => {
                    assert!(
                        !message.trim().is_empty(),
                        "{}: an empty error",
                        path.display()
                    );
                    refused += 1;
                }
            }
        }
    }
    (ok, refused)
}

#[test]
fn the_inbound_parse_corpus_gives_values_or_typed_errors() {
    let (ok, refused) = replay("inbound_parse", bodies::inbound_parse);
    assert!(ok >= 10, "only {ok} corpus inputs parse");
    assert!(refused >= 10, "only {refused} corpus inputs are refused");
}

#[test]
fn the_decrypt_corpus_gives_plaintext_or_typed_errors() {
    let (ok, refused) = replay("decrypt", bodies::decrypt);
    assert!(ok >= 1, "the official vector no longer decrypts");
    assert!(refused >= 5, "only {refused} corpus inputs are refused");
}
