//! wxtag's integration tests: one binary, real Redis servers, the app on port 0.

mod access; // sessions, a bearer-only API, the Origin check, the login limiter, QR caching
mod admin; // the admin API's guard and shapes
mod browser; // headless Chromium uses the dashboard; screenshots in target/screenshots/
mod cli; // the binary as a user runs it: serve, send, check, signals
mod credentials; // named credentials and roles, the route table guard test, account paths, `wxtag token`
mod dashboard; // the dashboard's pages, login cookie and tag form; the CSV export
mod helpers;
mod intake; // the intake flow called directly, with the official vectors and a fixed clock
mod sync; // the sync worker, reconcile and CLI against real Redis and the WeChat sandbox
mod tagging; // channels → tags, replies, counters, reload, the admin views
mod webhook; // POST/GET /wechat: modes, bad input, dedup
