//! wxtag's integration tests: one binary, real Redis servers, the app on port 0.

mod admin; // the admin API's guard and shapes
mod browser; // headless Chromium uses the dashboard; screenshots in target/screenshots/
mod cli; // the binary as a user runs it: serve, send, check, signals
mod dashboard; // the dashboard's pages, login cookie and tag form; the CSV export
mod fuzz_corpus; // the fuzz targets' corpus replayed: no panic, a typed error or a value
mod helpers;
mod intake; // the intake flow called directly, with the official vectors and a fixed clock
mod proptests; // arbitrary input never panics the protocol layer or the loader; round trips hold
mod sync; // the sync worker, reconcile and CLI against real Redis and the WeChat sandbox
mod tagging; // channels → tags, replies, counters, reload, the admin views
mod webhook; // POST/GET /wechat: modes, bad input, dedup
