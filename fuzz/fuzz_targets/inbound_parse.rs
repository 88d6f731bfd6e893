//! Fuzzes the XML readers WeChat's pushes go through: inbound parsing, the safe-mode
//! envelope and reply parsing. Any input must give a value or a typed error, never a panic.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    wxtag_fuzz::inbound_parse(data);
});
