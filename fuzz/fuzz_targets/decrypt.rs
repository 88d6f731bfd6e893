//! Fuzzes the safe-mode decryptor on arbitrary `Encrypt` texts and ciphertexts.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    wxtag_fuzz::decrypt(data);
});
