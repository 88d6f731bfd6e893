//! wxtag's integration tests: one binary, real Redis servers, the app on port 0.

mod access; // sessions, a bearer-only API, the Origin check, the login limiter, QR caching
mod admin; // the admin API's guard and shapes
mod automation; // automations: one run per trigger, tag steps, sends in and out of the window, waits over a restart, quiet hours, two processes
mod browser;
mod bulk; // bulk tagging from a segment: dry run, minimum calls, refusals, kill -9 and cancel // headless Chromium uses the dashboard; screenshots in target/screenshots/
mod cli; // the binary as a user runs it: serve, send, check, signals
mod cli_segment; // `wxtag segment`: the API's counts, list and CSV from the shell; bulk tagging worked to the end
mod clock; // WXTAG_CLOCK_OFFSET_SECS: a shifted app, a restart later, send and serve shifted
mod credentials; // named credentials and roles, the route table guard test, account paths, `wxtag token`
mod dashboard; // the dashboard's pages, login cookie and tag form; the CSV export
mod dashboard_over_time; // a lead's score, stage and why; derived tags by kind; the rules preview
mod dashboard_segments; // the segment pages: the builder without JavaScript, preview, save, profile, bulk tags
mod derived_store; // the store side of rules over time: history, state, derived writes, due, backfill
mod english; // the dashboard in English: every page, no Chinese left, the choice kept
mod events; // events from other systems: idempotency, errors by index, 413s, late events, where, sum tiers, identity joins, parked events, updated_since, the ingest role
mod forms; // lead forms: the reply's form link, no pre-fill, submissions on the lead, refusals, double submits, forwards, the funnel
mod funnel; // the funnel by channel: cohorts by first channel and period, stage and tag steps, the page
mod fuzz_corpus; // the fuzz targets' corpus replayed: no panic, a typed error or a value
mod helpers;
mod intake; // the intake flow called directly, with the official vectors and a fixed clock
mod layers; // the one-way structure: no module uses one above or beside it
mod links; // tracked links: the reply's signed link, one touch per hour, tampered, expired and foreign tokens, 404, key rotation
mod lists; // lead lists and the export: cursors, bounded pages, corrupt leads
mod notify; // sales alerts' queue: one delivery per id, claims with a lease, attempts recorded once, dead letters retried by hand
mod oauth; // web authorisation with the sandbox: the redirect chain, forwards, reused codes, tampered states, the cookie, start-up refusals
mod outside; // the flow outside the chat end to end with the shipped channels: 试用, the link, the form, orders and their tier
mod over_time; // rules over time end to end: thresholds, windows, stages, tiers, groups, preference, expiry, backfill, two processes
mod ownership; // sales edits of derived tags: 409 naming the tag and its rule, nothing changed
mod proptests; // arbitrary input never panics the protocol layer or the loader; round trips hold
mod redis_down; // Redis stopped and killed under load: no false success, one effect each
mod refollow; // a re-follow of a tagged lead queues a sync
mod replay; // a plaintext push's signed query cannot carry another body
mod segments; // segments: counts equal brute force, snapshots, the API's save, list, pages, export, mistakes
mod sends; // sends within WeChat's rules: windows and counts, at most once, fallback, blacklist, do_not_contact, the account kind
mod startup; // start-up checks: the durability of Redis
mod sync; // the sync worker, reconcile and CLI against real Redis and the WeChat sandbox
mod sync_hardening; // lost leases, unfollowed leads, tag names WeChat refuses
mod tagging; // channels → tags, replies, counters, reload, the admin views
mod timeline; // the timeline: capped, newest first, bounded cost per event, ≤ 1 KiB per small lead
mod webhook; // POST/GET /wechat: modes, bad input, dedup
