//! WeChat's documented limits (protocol §4, §7, §10), in one place.
//!
//! `wxtag check` refuses rules that pass them, the sync worker stays within them, and the
//! sandbox enforces them as WeChat does: all three read these same numbers.

/// User tags one account may create (errcode 45056 beyond).
pub const TAGS_PER_ACCOUNT: usize = 100;

/// User tags one follower may carry (errcode 45059 beyond).
pub const TAGS_PER_USER: usize = 20;

/// Openids in one `batchtagging` or `batchuntagging` call (errcode 40032 beyond).
pub const OPENIDS_PER_TAGGING_CALL: usize = 50;

/// The longest tag name WeChat takes: 30 UTF-8 bytes, about 10 Chinese characters (its docs
/// also say characters, but WeChat counts bytes: errcode 45158 beyond).
pub const TAG_NAME_LEN: usize = 30;

/// True when WeChat takes `name` as a tag name: at most [`TAG_NAME_LEN`] UTF-8 bytes.
pub fn tag_name_fits(name: &str) -> bool {
    name.len() <= TAG_NAME_LEN
}

/// The longest life of a temporary QR code (`expire_seconds`): 30 days.
pub const QR_TEMPORARY_MAX_SECS: u32 = 2_592_000;

/// The longest passive text reply, in UTF-8 bytes.
pub const TEXT_REPLY_BYTES: usize = 2048;

/// Articles in one news reply; WeChat drops the rest.
pub const NEWS_ARTICLES: usize = 8;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_names_are_measured_in_bytes() {
        assert!(tag_name_fits(&"标".repeat(10)));
        assert!(!tag_name_fits(&"标".repeat(11)));
        assert!(tag_name_fits(&"a".repeat(30)));
        assert!(!tag_name_fits(&"a".repeat(31)));
    }
}
