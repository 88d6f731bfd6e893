//! WeChat's official-account protocol, as pure functions and types.
//!
//! Nothing here touches Redis or HTTP servers: the webhook and the sync worker call into it.

pub mod api;
pub mod crypto;
pub mod inbound;
pub mod limits;
pub mod push_xml;
pub mod qrcode;
pub mod reply;
pub mod signature;
pub mod xml;
