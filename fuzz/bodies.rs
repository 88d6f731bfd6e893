//! The fuzz crate's library: what each target does with one input, shared by the targets and
//! by the test that replays the corpus (`tests/api/fuzz_corpus.rs`), so both run exactly the
//! same code.
//! Each returns what came out: `Ok(())` or the error's message.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use wxtag::wechat::crypto::{EncodingAesKey, MessageCipher};
use wxtag::wechat::inbound::{self, EncryptedEnvelope};
use wxtag::wechat::reply::Reply;

/// The key and appid of WeChat's published safe-mode example (protocol §5.6).
const AES_KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
const APPID: &str = "wx2c2769f8efd9abc2";

/// Target `inbound_parse`: the push, envelope and reply readers. A push that parses must
/// write back to XML that parses to the same push.
pub fn inbound_parse(data: &[u8]) -> Vec<Result<(), String>> {
    let text = String::from_utf8_lossy(data);
    let push = inbound::parse(&text).map(|push| {
        assert_eq!(inbound::parse(&push.to_xml()), Ok(push), "round trip");
    });
    vec![
        push.map_err(|e| e.to_string()),
        EncryptedEnvelope::parse(&text)
            .map(drop)
            .map_err(|e| e.to_string()),
        Reply::parse_xml(&text).map(drop).map_err(|e| e.to_string()),
    ]
}

/// Target `decrypt`: the input as an `Encrypt` text, and as raw ciphertext (base64-encoded
/// first, so the AES, padding and layout checks are reached).
pub fn decrypt(data: &[u8]) -> Vec<Result<(), String>> {
    // The key is a constant of 43 alphanumerics, so it always parses.
    let key = EncodingAesKey::parse(AES_KEY).expect("a valid key");
    let cipher = MessageCipher::new(key, APPID.to_owned());
    [
        String::from_utf8_lossy(data).into_owned(),
        STANDARD.encode(data),
    ]
    .iter()
    .map(|text| cipher.decrypt(text).map(drop).map_err(|e| e.to_string()))
    .collect()
}
