//! Request signatures: WeChat's SHA-1 over the sorted token, timestamp and nonce (and, in safe
//! mode, the `Encrypt` text), checked in constant time, plus the timestamp-skew check.
//!
//! The server token here is the one set in the console's server config, not an access token.

use std::fmt;

use secrecy::{ExposeSecret, SecretString};
use sha1::{Digest, Sha1};
use subtle::ConstantTimeEq;
use thiserror::Error;

use crate::domain::UnixTime;

/// How far a request's timestamp may be from our clock, either way, in seconds.
pub const MAX_SKEW_SECS: i64 = 300;

/// The server-config token (令牌) shared with WeChat; never shown in Debug output.
#[derive(Clone)]
pub struct ServerToken(SecretString);

impl ServerToken {
    /// Wraps the token as configured in the WeChat console.
    pub fn new(token: String) -> Self {
        Self(SecretString::from(token))
    }

    fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl fmt::Debug for ServerToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ServerToken(redacted)")
    }
}

/// Why a request's signature or timestamp was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SignatureError {
    /// The `signature` (or `msg_signature`) does not match the one we computed.
    #[error("{param} does not match; check that the server token matches the wechat console")]
    Mismatch {
        /// Which query parameter failed: `signature` or `msg_signature`.
        param: &'static str,
    },
    /// The timestamp is not a decimal integer.
    #[error("timestamp {value:?} is not a whole number of seconds")]
    BadTimestamp {
        /// The timestamp as received (cut to 32 characters).
        value: String,
    },
    /// The timestamp is more than [`MAX_SKEW_SECS`] away from our clock.
    #[error(
        "timestamp {timestamp} is {skew} s away from our clock ({now}); more than {MAX_SKEW_SECS} s is refused, check the server clock"
    )]
    Skewed {
        /// The request's timestamp.
        timestamp: i64,
        /// Our clock when checked.
        now: i64,
        /// The distance between the two, in seconds.
        skew: u64,
    },
}

/// WeChat's signature: sort the parts as byte strings, concatenate them, SHA-1, lowercase hex.
pub fn sign(parts: &[&str]) -> String {
    let mut sorted = parts.to_vec();
    sorted.sort_unstable();
    let mut hasher = Sha1::new();
    for part in sorted {
        hasher.update(part.as_bytes());
    }
    hex::encode(hasher.finalize())
}

/// Checks the `signature` query parameter over `token`, `timestamp` and `nonce`.
pub fn verify_signature(
    token: &ServerToken,
    timestamp: &str,
    nonce: &str,
    signature: &str,
) -> Result<(), SignatureError> {
    compare(
        &signature_of(token, timestamp, nonce),
        signature,
        "signature",
    )
}

/// The `signature` WeChat puts on a push, as `wxtag send` does when it acts as WeChat.
pub fn signature_of(token: &ServerToken, timestamp: &str, nonce: &str) -> String {
    sign(&[token.expose(), timestamp, nonce])
}

/// Checks the safe-mode `msg_signature` over `token`, `timestamp`, `nonce` and the `Encrypt` text.
pub fn verify_msg_signature(
    token: &ServerToken,
    timestamp: &str,
    nonce: &str,
    encrypt: &str,
    msg_signature: &str,
) -> Result<(), SignatureError> {
    let expected = msg_signature_of(token, timestamp, nonce, encrypt);
    compare(&expected, msg_signature, "msg_signature")
}

/// The `msg_signature` WeChat expects over an `Encrypt` text, as put into encrypted replies.
pub fn msg_signature_of(
    token: &ServerToken,
    timestamp: &str,
    nonce: &str,
    encrypt: &str,
) -> String {
    sign(&[token.expose(), timestamp, nonce, encrypt])
}

/// Compares in constant time; hex case is ignored, as it carries no meaning.
fn compare(expected: &str, given: &str, param: &'static str) -> Result<(), SignatureError> {
    let given = given.to_ascii_lowercase();
    if bool::from(expected.as_bytes().ct_eq(given.as_bytes())) {
        Ok(())
    } else {
        Err(SignatureError::Mismatch { param })
    }
}

/// Parses a request timestamp and refuses it when it is more than [`MAX_SKEW_SECS`] from `now`.
pub fn check_timestamp(timestamp: &str, now: UnixTime) -> Result<UnixTime, SignatureError> {
    let bad = || SignatureError::BadTimestamp {
        value: timestamp.chars().take(32).collect(),
    };
    if timestamp.is_empty() || !timestamp.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let parsed: i64 = timestamp.parse().map_err(|_| bad())?;
    let skew = parsed.abs_diff(now.0);
    if skew > MAX_SKEW_SECS.unsigned_abs() {
        return Err(SignatureError::Skewed {
            timestamp: parsed,
            now: now.0,
            skew,
        });
    }
    Ok(UnixTime(parsed))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(s: &str) -> ServerToken {
        ServerToken::new(s.to_owned())
    }

    #[test]
    fn worked_example_sorts_as_strings_not_numbers() {
        let sig = sign(&["my_wx_token_2024", "1714112445", "987654321"]);
        assert_eq!(sig, "08714ac5939e02a328c5de30047c4e7988bc0b35");
        assert_ne!(sig, "8256588031567b5b63add55398edb946039b09df");
        assert!(
            verify_signature(
                &token("my_wx_token_2024"),
                "1714112445",
                "987654321",
                "08714ac5939e02a328c5de30047c4e7988bc0b35"
            )
            .is_ok()
        );
        // The numeric-sort answer must be refused.
        assert_eq!(
            verify_signature(
                &token("my_wx_token_2024"),
                "1714112445",
                "987654321",
                "8256588031567b5b63add55398edb946039b09df"
            ),
            Err(SignatureError::Mismatch { param: "signature" })
        );
    }

    #[test]
    fn every_published_vector_verifies() {
        let vectors = [
            (
                "AAAAA",
                "1714036504",
                "1514711492",
                "f464b24fc39322e44b38aa78f5edd27bd1441696",
            ),
            (
                "AAAAA",
                "1715943329",
                "1590219412",
                "cc0c594499c1634947d5b502f158ee518947db27",
            ),
            (
                "test",
                "1410685589",
                "test",
                "f21891de399b4e33a1a93c9a7b8a8fffb5a443ff",
            ),
            (
                "spamtest",
                "1409735669",
                "1320562132",
                "16120ec1b8dbb870f510d87ce6bc2463eae6ca1a",
            ),
            (
                "789",
                "456",
                "123",
                "f7c3bc1d808e04732adf679965ccc34ca7ae3441",
            ),
        ];
        for (tok, ts, nonce, expected) in vectors {
            assert_eq!(sign(&[tok, ts, nonce]), expected, "token {tok}");
            assert_eq!(verify_signature(&token(tok), ts, nonce, expected), Ok(()));
        }
    }

    #[test]
    fn msg_signature_vectors_verify() {
        // §5.6: official sample, compatible mode.
        let encrypt = "hyzAe4OzmOMbd6TvGdIOO6uBmdJoD0Fk53REIHvxYtJlE2B655HuD0m8KUePWB3+LrPXo87wzQ1QLvbeUgmBM4x6F8PGHQHFVAFmOD2LdJF9FrXpbUAh0B5GIItb52sn896wVsMSHGuPE328HnRGBcrS7C41IzDWyWNlZkyyXwon8T332jisa+h6tEDYsVticbSnyU8dKOIbgU6ux5VTjg3yt+WGzjlpKn6NPhRjpA912xMezR4kw6KWwMrCVKSVCZciVGCgavjIQ6X8tCOp3yZbGpy0VxpAe+77TszTfRd5RJSVO/HTnifJpXgCSUdUue1v6h0EIBYYI1BD1DlD+C0CR8e6OewpusjZ4uBl9FyJvnhvQl+q5rv1ixrcpCumEPo5MJSgM9ehVsNPfUM669WuMyVWQLCzpu9GhglF2PE=";
        assert_eq!(
            verify_msg_signature(
                &token("spamtest"),
                "1409735669",
                "1320562132",
                encrypt,
                "5d197aaffba7e9b25a30732f161a50dee96bd5fa"
            ),
            Ok(())
        );
        // §5.7: the reply half.
        let reply = "hE8R6mGXHkJJjU72KxzKUd1GEkKJaEZq7vRL8XgK3o+00k8JGq6+pZJUIlTSyhsX+bxIBQ72g3GyvDdIZcr6+3HAZbSvPT9t/o11MI7d6WELwqrGd7jMnV0zv3Zc9Nq7";
        assert_eq!(
            msg_signature_of(&token("AAAAA"), "1713424427", "415670741", reply),
            "03e0812039325c2712ef5f0f980fd14c70d6e307"
        );
        // A changed Encrypt text no longer verifies.
        let tampered = encrypt.replacen('h', "H", 1);
        assert_eq!(
            verify_msg_signature(
                &token("spamtest"),
                "1409735669",
                "1320562132",
                &tampered,
                "5d197aaffba7e9b25a30732f161a50dee96bd5fa"
            ),
            Err(SignatureError::Mismatch {
                param: "msg_signature"
            })
        );
    }

    #[test]
    fn tampered_inputs_are_refused() {
        let good = "f464b24fc39322e44b38aa78f5edd27bd1441696";
        let t = token("AAAAA");
        assert!(verify_signature(&t, "1714036504", "1514711492", good).is_ok());
        assert!(verify_signature(&token("AAAAB"), "1714036504", "1514711492", good).is_err());
        assert!(verify_signature(&t, "1714036505", "1514711492", good).is_err());
        assert!(verify_signature(&t, "1714036504", "1514711493", good).is_err());
        assert!(verify_signature(&t, "1714036504", "1514711492", &good[..39]).is_err());
        assert!(verify_signature(&t, "1714036504", "1514711492", "").is_err());
        let mut flipped = good.to_owned();
        flipped.replace_range(39.., "7");
        assert!(verify_signature(&t, "1714036504", "1514711492", &flipped).is_err());
        // Upper-case hex is the same signature.
        assert!(
            verify_signature(&t, "1714036504", "1514711492", &good.to_ascii_uppercase()).is_ok()
        );
    }

    #[test]
    fn timestamps_within_five_minutes_pass_either_way() {
        let now = UnixTime(1_714_112_445);
        assert_eq!(
            check_timestamp("1714112445", now),
            Ok(UnixTime(1_714_112_445))
        );
        assert!(check_timestamp("1714112745", now).is_ok());
        assert!(check_timestamp("1714112145", now).is_ok());
        assert_eq!(
            check_timestamp("1714112746", now),
            Err(SignatureError::Skewed {
                timestamp: 1_714_112_746,
                now: 1_714_112_445,
                skew: 301
            })
        );
        assert!(matches!(
            check_timestamp("1714112144", now),
            Err(SignatureError::Skewed { skew: 301, .. })
        ));
        assert!(matches!(
            check_timestamp("1714112445000", now),
            Err(SignatureError::Skewed { .. })
        ));
    }

    #[test]
    fn non_integer_timestamps_are_refused() {
        let now = UnixTime(1_714_112_445);
        for bad in [
            "",
            "abc",
            "-1714112445",
            "+1714112445",
            " 1714112445",
            "1714112445.0",
            "99999999999999999999999",
        ] {
            assert!(
                matches!(
                    check_timestamp(bad, now),
                    Err(SignatureError::BadTimestamp { .. })
                ),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn token_debug_is_redacted() {
        let shown = format!("{:?}", token("super-secret-token"));
        assert!(!shown.contains("super-secret"));
        assert_eq!(shown, "ServerToken(redacted)");
    }
}
