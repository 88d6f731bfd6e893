//! Fuzzes the safe-mode decryptor on arbitrary `Encrypt` texts and ciphertexts.
#![no_main]

#[path = "../bodies.rs"]
mod bodies;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    bodies::decrypt(data);
});
