//! WeChat's documented limits (protocol §4, §7, §10; menus: wechat-engagement.md §1.5), in
//! one place.
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

/// Top-level buttons of a custom menu: 1 to 3 (errcode 40016 beyond).
pub const MENU_BUTTONS: usize = 3;

/// Sub-buttons under one top-level button: at most 5 (errcode 40023 beyond).
pub const MENU_SUB_BUTTONS: usize = 5;

/// The longest top-level button name, in UTF-8 bytes (errcode 40018 beyond).
pub const MENU_NAME_BYTES: usize = 16;

/// The longest sub-button name, in UTF-8 bytes (errcode 40025 beyond).
pub const MENU_SUB_NAME_BYTES: usize = 60;

/// The longest button `key`, in bytes (errcode 40019 / 40026 beyond).
pub const MENU_KEY_BYTES: usize = 128;

/// The longest button `url`, in bytes (errcode 40020 / 40027 beyond).
pub const MENU_URL_BYTES: usize = 1024;

/// Distinct link domains across all conditional menus (errcode 65316 beyond).
pub const MENU_LINK_DOMAINS: usize = 3;

/// Conditional menus one account may hold: WeChat documents none, but answers 65305 when
/// there are too many; 20 is the cap clients use (wechat-engagement.md §1.5).
pub const CONDITIONAL_MENUS: usize = 20;

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
