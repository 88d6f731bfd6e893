//! wxtag's integration tests: one binary, real Redis servers, the app on port 0.

mod admin; // the admin API's guard and shapes
mod browser; // headless Chromium uses the dashboard; screenshots in target/screenshots/
mod dashboard; // the dashboard's pages, login cookie and tag form; the CSV export
mod helpers;
mod intake; // the intake flow called directly, with the official vectors and a fixed clock
mod webhook; // POST/GET /wechat: modes, bad input, dedup
