//! WeChat's official-account protocol, as pure functions and types.
//!
//! Pure functions and types, except [`client`]: the API client every part of wxtag calls
//! WeChat through, whose shared access token lives in Redis (through [`crate::store`]). No
//! module here serves HTTP.

pub mod api;
pub mod client;
pub mod crypto;
pub mod inbound;
pub mod limits;
pub mod push_xml;
pub mod qrcode;
pub mod reply;
pub mod signature;
pub mod tag_ids;
mod token;
pub mod xml;
