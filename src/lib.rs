//! wxtag: a WeChat official-account (公众号) tagging bot for B2B lead tracking.
//!
//! WeChat pushes follows, QR scans, menu clicks and messages to the webhook; wxtag turns each
//! touch into tags on the lead, keeps the lead's history in Redis, answers with tag-driven
//! replies, and keeps the account's WeChat user tags in step.
//!
//! # Layout
//!
//! The flow of one event, `POST /wechat` to the reply, reads top to bottom in [`webhook`].
//!
//! | module | owns |
//! |---|---|
//! | [`domain`] | parsed values: `OpenId`, `UnionId`, `Scene`, `TagName`, `TagId` (WeChat's tag ids), `UnixTime` |
//! | [`config`] | typed settings from the environment and `.env`, secrets redacted: the account, the admin token, trusted proxies, durability |
//! | [`wechat`] | WeChat's protocol: signatures, AES safe mode, inbound parsing, pushes written as XML, the shared XML reader and writer, passive replies, the API's types and errors (`api`), and the one API client every part calls through, with the shared token and retries (`client`) |
//! | [`webhook`] | the intake: verify, decrypt, parse, match, apply, reply; its policy (dedup key, timeline name) |
//! | [`rules`] | `channels/*.toml`: loading, `check` diagnostics, matching a touch to tags and a reply; the live, reloadable set ([`rules::live`]) |
//! | [`outreach`] | messages to one lead within WeChat's rules: the windows a user's action opens and their counts, at most once per attempt, template fallback, `do_not_contact`, the blacklist, the account kind |
//! | [`store`] | Redis: every key, the Lua scripts, leads, tags, timelines, counters; for the sync its outbox, leases, tag ids and dead letters (no WeChat types, no sync logic) |
//! | [`oauth`] | web authorisation (snsapi_base): the signed state and identity cookie, starting an authorisation, the callback's logic, the identity of a request |
//! | [`forms`] | lead forms (留资): `/f/<id>` pages with their CSRF token, honeypot and rate limit, the fields checked, who submits (one function), and a submission stored as a contact and, on its lead, as fields, a `form` touch and tags |
//! | [`links`] | tracked links: the per-lead signed tokens, a reply's links filled in for its lead, and `GET /l/<token>` (the clicker identified first with OAuth on, the click's touch, forwards, then the redirect) |
//! | [`events`] | events from other systems (`POST /api/events`): each one parsed, applied to its lead as a touch `event:<name>` with its derived changes, or parked until the lead appears; identity joins (`external_id`) |
//! | [`segments`] | named conditions over the leads: where to look (the tag, channel and seen-on-day sets, or every lead), the chunked walk the one evaluator decides, saved segments, counts per day and profiles, member snapshots for paging and export, bulk jobs |
//! | [`notify`] | sales alerts to `[[notify]]` targets: the notice and its enqueue, one delivery per delivery id (the queue is in `store`) |
//! | [`automation`] | `[[automation]]` runs: started from what fired (the inbox the apply scripts write, segment entries), each step once, waits on the runs' due set, sends through [`outreach`], alerts through [`notify`] |
//! | [`menus`] | personalised menus: publishing `[menu]` and `[[menu.for]]` in WeChat's order (the menu tags given ids first), `menuid ↔ tag` kept, and which menu one lead gets (trymatch) |
//! | [`scheduler`] | time-driven work: the due set of leads whose derived tags change when only time passes, claimed in batches by every `serve`; the backfill after the derived sections change |
//! | [`sync`] | the worker that drains the outbox into WeChat's user-tag API: projection, what WeChat holds (`w`), batching in waves, reconcile, its supervisor |
//! | [`sandbox`] | a local stand-in for WeChat's API, with its limits, error codes and faults |
//! | [`admin`] | the admin API and the dashboard: one guarded route table, credentials and roles, sessions, the audit hook |
//! | [`cli`] | the commands: `serve`, `check`, `send`, … |
//! | [`metrics`] | Prometheus metrics at `/metrics` |
//! | [`startup`] | wiring the parts: building the app on a listener and running it until shutdown |
//! | [`redis_server`], [`telemetry`] | the local `redis-server`; logging |
//!
//! # Layers
//!
//! Dependencies point down: [`domain`] (and [`metrics`], [`telemetry`], [`redis_server`]) →
//! [`store`] → [`wechat`] → [`sandbox`] → [`config`] → [`rules`], [`outreach`] → [`oauth`] → [`segments`], [`links`], [`events`], [`notify`], [`menus`] →
//! [`forms`] → [`webhook`], [`sync`], [`scheduler`], [`admin`], [`automation`] → [`startup`] → [`cli`]. A module uses only the modules to its
//! left; the jobs (webhook, scheduler, sync, admin, automation) never use each other, nor do segments,
//! links, events, notify and menus.
//!
//! # Names
//!
//! One name per concept, in every layer:
//! - a **push** is one HTTP request WeChat sends to `POST /wechat`; its body is an inbound
//!   [`wechat::inbound::Inbound`], a message or an [`wechat::inbound::Event`] (WeChat's own
//!   word for its event pushes: follow, scan, click, …);
//! - a **touch** is what the lead did, as the contract says: [`rules::Touch`] is what the
//!   rules match, [`store::TouchRecord`] is the same touch ready to be applied to Redis;
//! - a touch's **effect** ([`store::Effect`]) is what it does to the lead's subscription and
//!   the channel counters (follow, scan, unfollow, location, other);
//! - a **timeline entry** is a touch as the lead's history shows it;
//! - a **delivery** is one push among WeChat's retries of it; the dedup key names it.

pub mod admin;
pub mod automation;
pub mod cli;
pub mod config;
pub mod domain;
pub mod events;
pub mod forms;
pub mod links;
pub mod menus;
pub mod metrics;
pub mod notify;
pub mod oauth;
pub mod outreach;
pub mod redis_server;
pub mod rules;
pub mod sandbox;
pub mod scheduler;
pub mod segments;
pub mod startup;
pub mod store;
pub mod sync;
pub mod telemetry;
pub mod webhook;
pub mod wechat;
