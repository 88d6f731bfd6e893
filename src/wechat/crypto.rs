//! Safe-mode (安全模式) message encryption: AES-256-CBC with the EncodingAESKey, the
//! `random16 | length | xml | appid` layout, and PKCS#7 padding to 32-byte blocks.
//!
//! The padding granularity is 32 even though AES blocks are 16 bytes: a stock 16-byte unpadder
//! refuses about half of WeChat's messages (protocol §5.2, pitfall 6).

use std::fmt;

use aes::Aes256;
use aes::cipher::{BlockModeDecrypt, BlockModeEncrypt, InOutBuf, KeyIvInit};
use base64::Engine;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use rand::RngExt;
use rand::distr::Alphanumeric;
use thiserror::Error;

/// Length of an EncodingAESKey as the console shows it.
const KEY_CHARS: usize = 43;
/// WeChat's padding block: PKCS#7 with a block of 32 bytes.
const PAD_BLOCK: usize = 32;
/// Length of the random prefix of every plaintext.
const RANDOM_LEN: usize = 16;
/// Random prefix plus the big-endian length.
const HEADER_LEN: usize = RANDOM_LEN + 4;

/// Decodes the 43-character key; its last character carries 2 spare bits that WeChat's
/// generator does not zero, so they are allowed.
const KEY_ENGINE: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true),
);

/// Why a key, or a ciphertext, was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CryptoError {
    /// The EncodingAESKey is not 43 characters of `[A-Za-z0-9]`.
    #[error(
        "the encoding aes key must be 43 characters of A-Z a-z 0-9 ({found}); copy it again from the wechat console"
    )]
    BadKey {
        /// What was wrong, without the key itself.
        found: String,
    },
    /// The `Encrypt` text is not valid base64.
    #[error("the encrypt text is not valid base64: {reason}")]
    BadBase64 {
        /// The decoder's complaint.
        reason: String,
    },
    /// The ciphertext is empty or not a whole number of AES blocks.
    #[error("the ciphertext is {len} bytes, not a positive multiple of 16")]
    BadLength {
        /// The ciphertext length in bytes.
        len: usize,
    },
    /// The decrypted text does not end in 1..=32 equal padding bytes (wrong key, or tampering).
    #[error("the decrypted text has bad padding (last byte {last}); wrong encoding aes key?")]
    BadPadding {
        /// The last decrypted byte.
        last: u8,
    },
    /// The decrypted text is too short or its length field points past its end.
    #[error("the decrypted text is not random16|length|xml|appid: {reason}")]
    BadLayout {
        /// What did not fit.
        reason: String,
    },
    /// The message was encrypted for another app.
    #[error("the message is for appid {found:?}, not ours; check WECHAT_APPID")]
    AppIdMismatch {
        /// The appid found in the message (cut to 64 characters).
        found: String,
    },
    /// The message text is not UTF-8.
    #[error("the decrypted message is not utf-8")]
    NotUtf8,
}

/// The 32-byte AES key decoded from the console's 43-character EncodingAESKey.
#[derive(Clone)]
pub struct EncodingAesKey([u8; 32]);

impl EncodingAesKey {
    /// Parses the EncodingAESKey: exactly 43 characters of `[A-Za-z0-9]`, base64 for 32 bytes.
    pub fn parse(s: &str) -> Result<Self, CryptoError> {
        if let Some(c) = s.chars().find(|c| !c.is_ascii_alphanumeric()) {
            let found = if c.is_ascii_graphic() {
                format!("the character {c:?}")
            } else {
                "a non-alphanumeric character".to_owned()
            };
            return Err(CryptoError::BadKey { found });
        }
        if s.len() != KEY_CHARS {
            return Err(CryptoError::BadKey {
                found: format!("{} characters", s.len()),
            });
        }
        let bytes = KEY_ENGINE
            .decode(format!("{s}="))
            .map_err(|e| CryptoError::BadKey {
                found: format!("not base64: {e}"),
            })?;
        let key = <[u8; 32]>::try_from(bytes).map_err(|b| CryptoError::BadKey {
            found: format!("{} bytes once decoded", b.len()),
        })?;
        Ok(Self(key))
    }

    /// The IV: WeChat uses the first 16 bytes of the key.
    fn iv(&self) -> [u8; 16] {
        let mut iv = [0; 16];
        iv.copy_from_slice(&self.0[..16]);
        iv
    }
}

impl fmt::Debug for EncodingAesKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EncodingAesKey(redacted)")
    }
}

/// Encrypts and decrypts safe-mode messages for one official account.
#[derive(Debug, Clone)]
pub struct MessageCipher {
    key: EncodingAesKey,
    appid: String,
}

impl MessageCipher {
    /// A cipher for the account `appid` with its EncodingAESKey.
    pub fn new(key: EncodingAesKey, appid: String) -> Self {
        Self { key, appid }
    }

    /// Decrypts an `Encrypt` text into the message XML, checking the padding, layout and appid.
    pub fn decrypt(&self, encrypt_b64: &str) -> Result<String, CryptoError> {
        let mut buf = STANDARD
            .decode(encrypt_b64)
            .map_err(|e| CryptoError::BadBase64 {
                reason: e.to_string(),
            })?;
        if buf.is_empty() || buf.len() % 16 != 0 {
            return Err(CryptoError::BadLength { len: buf.len() });
        }
        let (blocks, _) = InOutBuf::from(buf.as_mut_slice()).into_chunks();
        cbc::Decryptor::<Aes256>::new(&self.key.0.into(), &self.key.iv().into())
            .decrypt_blocks_inout(blocks);
        let body = strip_padding(&buf)?;
        let (xml, appid) = split_layout(body)?;
        if appid != self.appid.as_bytes() {
            return Err(CryptoError::AppIdMismatch {
                found: String::from_utf8_lossy(appid).chars().take(64).collect(),
            });
        }
        String::from_utf8(xml.to_vec()).map_err(|_| CryptoError::NotUtf8)
    }

    /// Encrypts `xml` with a fresh random prefix of 16 alphanumeric bytes.
    pub fn encrypt(&self, xml: &str) -> String {
        let mut rng = rand::rng();
        let random: [u8; RANDOM_LEN] = std::array::from_fn(|_| rng.sample(Alphanumeric));
        self.encrypt_with_random(xml, &random)
    }

    /// Encrypts `xml` with the given random prefix; for test vectors and reproducible output.
    pub fn encrypt_with_random(&self, xml: &str, random: &[u8; 16]) -> String {
        // Invariant: replies are built by wxtag and are far below 4 GiB.
        let len = u32::try_from(xml.len()).expect("a reply under 4 GiB");
        let mut buf = Vec::with_capacity(HEADER_LEN + xml.len() + self.appid.len() + PAD_BLOCK);
        buf.extend_from_slice(random);
        buf.extend_from_slice(&len.to_be_bytes());
        buf.extend_from_slice(xml.as_bytes());
        buf.extend_from_slice(self.appid.as_bytes());
        let pad = PAD_BLOCK - buf.len() % PAD_BLOCK;
        // `pad` is 1..=32, so it fits in a byte.
        buf.resize(buf.len() + pad, pad as u8);
        let (blocks, _) = InOutBuf::from(buf.as_mut_slice()).into_chunks();
        cbc::Encryptor::<Aes256>::new(&self.key.0.into(), &self.key.iv().into())
            .encrypt_blocks_inout(blocks);
        STANDARD.encode(&buf)
    }
}

/// Removes PKCS#7 padding with a 32-byte block: 1..=32 bytes, all equal to their count.
fn strip_padding(buf: &[u8]) -> Result<&[u8], CryptoError> {
    let last = buf.last().copied().unwrap_or(0);
    let pad = usize::from(last);
    if !(1..=PAD_BLOCK).contains(&pad) || pad > buf.len() {
        return Err(CryptoError::BadPadding { last });
    }
    let (body, padding) = buf.split_at(buf.len() - pad);
    if padding.iter().any(|&b| b != last) {
        return Err(CryptoError::BadPadding { last });
    }
    Ok(body)
}

/// Splits `random16 | u32 BE length | xml | appid` into the xml and the appid.
fn split_layout(body: &[u8]) -> Result<(&[u8], &[u8]), CryptoError> {
    let layout = |reason: String| CryptoError::BadLayout { reason };
    let Some((header, rest)) = body.split_at_checked(HEADER_LEN) else {
        return Err(layout(format!(
            "{} bytes is shorter than the 20-byte header",
            body.len()
        )));
    };
    let mut len_bytes = [0; 4];
    len_bytes.copy_from_slice(&header[RANDOM_LEN..]);
    let len = u32::from_be_bytes(len_bytes);
    usize::try_from(len)
        .ok()
        .and_then(|len| rest.split_at_checked(len))
        .ok_or_else(|| {
            layout(format!(
                "the length field says {len} bytes but only {} follow",
                rest.len()
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY_1: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
    const ENCRYPT_1: &str = "hyzAe4OzmOMbd6TvGdIOO6uBmdJoD0Fk53REIHvxYtJlE2B655HuD0m8KUePWB3+LrPXo87wzQ1QLvbeUgmBM4x6F8PGHQHFVAFmOD2LdJF9FrXpbUAh0B5GIItb52sn896wVsMSHGuPE328HnRGBcrS7C41IzDWyWNlZkyyXwon8T332jisa+h6tEDYsVticbSnyU8dKOIbgU6ux5VTjg3yt+WGzjlpKn6NPhRjpA912xMezR4kw6KWwMrCVKSVCZciVGCgavjIQ6X8tCOp3yZbGpy0VxpAe+77TszTfRd5RJSVO/HTnifJpXgCSUdUue1v6h0EIBYYI1BD1DlD+C0CR8e6OewpusjZ4uBl9FyJvnhvQl+q5rv1ixrcpCumEPo5MJSgM9ehVsNPfUM669WuMyVWQLCzpu9GhglF2PE=";
    const XML_1: &str = "<xml><ToUserName><![CDATA[gh_10f6c3c3ac5a]]></ToUserName>\n<FromUserName><![CDATA[oyORnuP8q7ou2gfYjqLzSIWZf0rs]]></FromUserName>\n<CreateTime>1409735668</CreateTime>\n<MsgType><![CDATA[text]]></MsgType>\n<Content><![CDATA[abcdteT]]></Content>\n<MsgId>6054768590064713728</MsgId>\n</xml>";
    const KEY_2: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    const ENCRYPT_2: &str = "D7yzvUNAL930rd28wf21s4hvXhz0L6Uit/p2Di6C5DHyYGpEgdBRnKjBec34JwoQXicwaZC7fOVihW80F4VtsdvE//1vr7oAbqjDv8KenVp+ajKYpJnyQ4zMRhIC+a31fCVOMC03FfzV/QuC94kBP55a+Za3sJgvAn+ZbsNqZI5DkyuzkhQN8OBqCzFhizGmy0xpM0MEA4agpvE+RuNO1rhHTtuJB5yltw1FiYzecSXJ+y/D2r81VkRn2eYjh2ltsoyfbDR7Is6ookXIFxTfyeNyeHxMeT4KN5WpCDmSbTcUYrbBUlkGLJ9n/rU8YOywma6G7aTb7KZKOqCxgfoUlYEZPk4FUL/TK7ShriFDMVCLyjQJ15Ob++agDWtcxhfUfe6HIoIpRW8mKNBQiY/Jd1svvuskA1wLef1RTtzKfMpagSCX/laZINmdnX4zrF6kIaR9P4xQrWXbsTFHTYe0Mg==";
    const XML_2: &str = "<xml><ToUserName><![CDATA[gh_97417a04a28d]]></ToUserName>\n<FromUserName><![CDATA[o9AgO5Kd5ggOC-bXrbNODIiE3bGY]]></FromUserName>\n<CreateTime>1715943329</CreateTime>\n<MsgType><![CDATA[event]]></MsgType>\n<Event><![CDATA[debug_demo]]></Event>\n<debug_str><![CDATA[hello world]]></debug_str>\n</xml>";

    fn cipher(key: &str, appid: &str) -> MessageCipher {
        MessageCipher::new(EncodingAesKey::parse(key).unwrap(), appid.to_owned())
    }

    /// Decrypts without the layout checks, to look at the padding WeChat used.
    fn raw_plaintext(c: &MessageCipher, encrypt: &str) -> Vec<u8> {
        let mut buf = STANDARD.decode(encrypt).unwrap();
        let (blocks, _) = InOutBuf::from(buf.as_mut_slice()).into_chunks();
        cbc::Decryptor::<Aes256>::new(&c.key.0.into(), &c.key.iv().into())
            .decrypt_blocks_inout(blocks);
        buf
    }

    #[test]
    fn key_decodes_to_the_documented_bytes() {
        let key = EncodingAesKey::parse(KEY_1).unwrap();
        assert_eq!(
            hex::encode(key.0),
            "69b71d79f8218a39259a7a29aabb2dbafc31cb3d35db7e39ebbf3d0010831051"
        );
        assert_eq!(hex::encode(key.iv()), "69b71d79f8218a39259a7a29aabb2dba");
        assert_eq!(EncodingAesKey::parse(KEY_2).unwrap().0, [0; 32]);
    }

    #[test]
    fn bad_keys_are_refused_without_echoing_them() {
        for bad in [
            "",
            &KEY_1[..42],
            &format!("{KEY_1}A"),
            "abcdefghijklmnopqrstuvwxyz0123456789ABCDEF=",
            "abcdefghijklmnopqrstuvwxyz0123456789ABCDEF+",
            "abcdefghijklmnopqrstuvwxyz0123456789ABCDE中",
        ] {
            let err = EncodingAesKey::parse(bad).unwrap_err();
            assert!(matches!(err, CryptoError::BadKey { .. }), "{bad:?}");
            assert!(bad.is_empty() || !err.to_string().contains(bad));
        }
        let shown = format!("{:?}", cipher(KEY_1, "wx2c2769f8efd9abc2"));
        assert!(shown.contains("EncodingAesKey(redacted)"));
        assert!(!shown.contains("105"), "no key bytes in {shown}");
    }

    #[test]
    fn vector_1_decrypts_and_re_encrypts_byte_for_byte() {
        let c = cipher(KEY_1, "wx2c2769f8efd9abc2");
        assert_eq!(c.decrypt(ENCRYPT_1).unwrap(), XML_1);
        assert_eq!(*raw_plaintext(&c, ENCRYPT_1).last().unwrap(), 2);
        assert_eq!(c.encrypt_with_random(XML_1, b"89465c840c5f116f"), ENCRYPT_1);
    }

    #[test]
    fn vector_2_decrypts_with_pad_22_and_encrypts_the_reply() {
        let c = cipher(KEY_2, "wx134c8103faa5a59e");
        assert_eq!(*raw_plaintext(&c, ENCRYPT_2).last().unwrap(), 22);
        assert_eq!(c.decrypt(ENCRYPT_2).unwrap(), XML_2);
        let reply = "<xml><demo_resp>[CDATA[good luck]]</demo_resp></xml>";
        assert_eq!(
            c.encrypt_with_random(reply, b"999951349e8ee746"),
            "hE8R6mGXHkJJjU72KxzKUd1GEkKJaEZq7vRL8XgK3o+00k8JGq6+pZJUIlTSyhsX+bxIBQ72g3GyvDdIZcr6+3HAZbSvPT9t/o11MI7d6WELwqrGd7jMnV0zv3Zc9Nq7"
        );
    }

    #[test]
    fn vector_3_encrypts_chinese_text() {
        let c = cipher(KEY_1, "wxb11529c136998cb6");
        let encrypt = c.encrypt_with_random("我是中文abcd123", b"aaaabbbbccccdddd");
        assert_eq!(
            encrypt,
            "jn1L23DB+6ELqJ+6bruv21Y6MD7KeIfP82D6gU39rmkgczbWwt5+3bnyg5K55bgVtVzd832WzZGMhkP72vVOfg=="
        );
        assert_eq!(c.decrypt(&encrypt).unwrap(), "我是中文abcd123");
    }

    #[test]
    fn vector_4_encrypts_with_pad_17() {
        let c = cipher(KEY_1, "wx2c2769f8efd9abc2");
        let msg = "<xml><ToUserName><![CDATA[oyORnuP8q7ou2gfYjqLzSIWZf0rs]]></ToUserName><FromUserName><![CDATA[gh_10f6c3c3ac5a]]></FromUserName><CreateTime>1714112445</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[Thanks! We tagged you as a lead.]]></Content></xml>";
        let expected = "Q3stYC6hdFzMh9T8HCvyDD0CVvaEZnXVJJZgF5jT+34ebuOOndkOAnrnW24W0WWDKiEbsTsx0WjpBijx5Z4ykXbg1hITkKNx1d9p9ayEU1vTmNq7NCKiE4Ajrq3NnYi3qcnxyZUPEkQkZzvm5nRHT1evnUFnMz8C3+T9VX2cGIrYScBMehpLhDtEADpTfzLVY2gQB8Bzm3xPcEBdqe6mt8eCFIjfnVetq/grlWa6KL9oFqmX5SpL+LsuOevXpQOR2naeesLpmNkq9XjFk/hAw/8rCDBrSDkjbXb0pU1hESIEB785gCwl7GouG14cQv/SDT4cTPrXn3E5pEUSRYCjiORrO0GXW0UINoq/ZDwxvpyiKcb/m7xGjMPL2toFDT/U8GRl0T+Iz0uPb4lM5UhhMethA1ycDz5b33riNcSo8DY=";
        assert_eq!(c.encrypt_with_random(msg, b"0123456789abcdef"), expected);
        assert_eq!(*raw_plaintext(&c, expected).last().unwrap(), 17);
        assert_eq!(c.decrypt(expected).unwrap(), msg);
    }

    #[test]
    fn every_pad_value_round_trips() {
        let c = cipher(KEY_1, "wx2c2769f8efd9abc2");
        // Header 20 + appid 18 = 38 bytes around the message.
        let mut seen = [false; 33];
        for len in 0..64 {
            let msg = "x".repeat(len);
            let encrypt = c.encrypt(&msg);
            let pad = *raw_plaintext(&c, &encrypt).last().unwrap();
            seen[usize::from(pad)] = true;
            assert_eq!(c.decrypt(&encrypt).unwrap(), msg, "len {len}");
        }
        assert!(seen[1..].iter().all(|&s| s), "pads seen: {seen:?}");
        assert!(!seen[0]);
    }

    #[test]
    fn random_prefix_is_alphanumeric_and_fresh() {
        let c = cipher(KEY_1, "wx2c2769f8efd9abc2");
        let a = c.encrypt("<xml/>");
        let b = c.encrypt("<xml/>");
        assert_ne!(a, b);
        let plain = raw_plaintext(&c, &a);
        assert!(plain[..16].iter().all(u8::is_ascii_alphanumeric));
    }

    #[test]
    fn wrong_appid_is_refused() {
        let ours = cipher(KEY_1, "wx2c2769f8efd9abc2");
        let theirs = cipher(KEY_1, "wx0000000000000000");
        assert_eq!(
            theirs.decrypt(ENCRYPT_1),
            Err(CryptoError::AppIdMismatch {
                found: "wx2c2769f8efd9abc2".to_owned()
            })
        );
        let short = cipher(KEY_1, "wx2c2769f8efd9abc");
        assert!(matches!(
            short.decrypt(ENCRYPT_1),
            Err(CryptoError::AppIdMismatch { .. })
        ));
        assert!(ours.decrypt(ENCRYPT_1).is_ok());
    }

    #[test]
    fn malformed_ciphertexts_give_typed_errors() {
        let c = cipher(KEY_1, "wx2c2769f8efd9abc2");
        assert!(matches!(
            c.decrypt("not base64!"),
            Err(CryptoError::BadBase64 { .. })
        ));
        assert_eq!(c.decrypt(""), Err(CryptoError::BadLength { len: 0 }));
        assert_eq!(
            c.decrypt(&STANDARD.encode([0u8; 15])),
            Err(CryptoError::BadLength { len: 15 })
        );
        // A wrong key decrypts to noise: refused by padding or layout, never accepted.
        let wrong_key = cipher(KEY_2, "wx2c2769f8efd9abc2");
        assert!(wrong_key.decrypt(ENCRYPT_1).is_err());
        // Flip a byte in the last block: the padding breaks.
        let mut raw = STANDARD.decode(ENCRYPT_1).unwrap();
        let n = raw.len();
        raw[n - 1] ^= 0x55;
        assert!(matches!(
            c.decrypt(&STANDARD.encode(&raw)),
            Err(CryptoError::BadPadding { .. })
        ));
        // Flip a byte in the first block: the length field turns to noise.
        let mut raw = STANDARD.decode(ENCRYPT_1).unwrap();
        raw[3] ^= 0x01;
        assert!(c.decrypt(&STANDARD.encode(&raw)).is_err());
    }

    #[test]
    fn layouts_that_do_not_fit_are_refused() {
        let c = cipher(KEY_1, "wx2c2769f8efd9abc2");
        let encrypt_plain = |plain: &[u8]| {
            let mut buf = plain.to_vec();
            let (blocks, _) = InOutBuf::from(buf.as_mut_slice()).into_chunks();
            cbc::Encryptor::<Aes256>::new(&c.key.0.into(), &c.key.iv().into())
                .encrypt_blocks_inout(blocks);
            STANDARD.encode(&buf)
        };
        // 16 bytes of content + 16 of padding: shorter than the header.
        let mut short = vec![b'a'; 16];
        short.extend([16u8; 16]);
        assert!(matches!(
            c.decrypt(&encrypt_plain(&short)),
            Err(CryptoError::BadLayout { .. })
        ));
        // A length field past the end.
        let mut long = vec![b'a'; 16];
        long.extend(u32::MAX.to_be_bytes());
        long.extend([12u8; 12]);
        assert!(matches!(
            c.decrypt(&encrypt_plain(&long)),
            Err(CryptoError::BadLayout { .. })
        ));
        // Padding bytes that disagree.
        let mut uneven = vec![b'a'; 30];
        uneven.extend([1u8, 2]);
        assert_eq!(
            c.decrypt(&encrypt_plain(&uneven)),
            Err(CryptoError::BadPadding { last: 2 })
        );
        // A pad of 33 or 0 is never valid.
        let mut zero = vec![b'a'; 31];
        zero.push(0);
        assert!(matches!(
            c.decrypt(&encrypt_plain(&zero)),
            Err(CryptoError::BadPadding { last: 0 })
        ));
        // Invalid UTF-8 in the message.
        let mut bad_utf8 = b"0123456789abcdef".to_vec();
        bad_utf8.extend(2u32.to_be_bytes());
        bad_utf8.extend([0xff, 0xfe]);
        bad_utf8.extend(b"wx2c2769f8efd9abc2");
        let pad = 32 - bad_utf8.len() % 32;
        bad_utf8.extend(std::iter::repeat_n(pad as u8, pad));
        assert_eq!(
            c.decrypt(&encrypt_plain(&bad_utf8)),
            Err(CryptoError::NotUtf8)
        );
    }

    #[test]
    fn garbage_never_panics() {
        let c = cipher(KEY_1, "wx2c2769f8efd9abc2");
        let mut rng = rand::rng();
        for len in 0..200 {
            let bytes: Vec<u8> = (0..len).map(|_| rng.random()).collect();
            assert!(c.decrypt(&STANDARD.encode(&bytes)).is_err());
            let text: String = (0..len)
                .map(|_| char::from(rng.random::<u8>() & 0x7f))
                .collect();
            assert!(c.decrypt(&text).is_err());
        }
    }
}
