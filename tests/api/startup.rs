//! Start-up checks: wxtag refuses a Redis that could lose an event it answered `success` for,
//! unless told to accept that, and says which durability mode is in force.

use std::net::TcpListener;

use serde_json::Value;
use wxtag::admin::AdminToken;
use wxtag::redis_server::{Listen, LocalRedis, Options};
use wxtag::startup::{AppConfig, Application};
use wxtag::store::Durability;

use crate::helpers::{ADMIN_TOKEN, TestRedis, Wire, account, free_port};

/// A redis-server as `serve` runs its own: AOF on, fsynced on every write.
struct DurableRedis {
    server: LocalRedis,
    _dir: tempfile::TempDir,
}

impl DurableRedis {
    async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let options = Options {
            dir: dir.path().to_owned(),
            listen: Listen::Tcp(free_port()),
            durable: true,
        };
        let server = LocalRedis::start(options)
            .await
            .expect("redis-server starts");
        Self { server, _dir: dir }
    }

    async fn command(&self, args: &[&str]) {
        let mut conn = redis::Client::open(self.server.url())
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap();
        let mut cmd = redis::cmd(args[0]);
        for arg in &args[1..] {
            cmd.arg(*arg);
        }
        let _: redis::Value = cmd.query_async(&mut conn).await.unwrap();
    }
}

/// Builds the app on Redis at `url` in `mode`; runs it when it builds.
async fn build(url: String, mode: Durability) -> Result<String, String> {
    wxtag::wechat::api::install_crypto_provider();
    let channels = tempfile::tempdir().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let app = Application::build(
        AppConfig {
            account: account(Wire::Plain),
            channels_dir: channels.path().to_owned(),
            admin_token: AdminToken::parse(ADMIN_TOKEN).unwrap(),
            redis_url: url,
            api_base: "http://127.0.0.1:9".to_owned(),
            sync: None,
            durability: mode,
            trusted_proxies: Default::default(),
            clock: Default::default(),
            history_days: wxtag::store::history::DEFAULT_HISTORY_DAYS,
            public_url: None,
            oauth_base: None,
            witness: None,
        },
        listener,
    )
    .await
    .map_err(|e| e.to_string())?;
    let base = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped(std::future::pending()));
    Ok(base)
}

async fn health(base: &str) -> Value {
    reqwest::get(format!("{base}/healthz"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Asserts that `text` says each of `needed`.
fn assert_says(text: &str, needed: &[&str]) {
    for needle in needed {
        assert!(text.contains(needle), "{needle} in: {text}");
    }
}

#[tokio::test]
async fn a_redis_without_the_append_only_file_is_refused_with_the_fix() {
    let redis = TestRedis::start().await;
    let refused = build(redis.url(), Durability::Strict).await.unwrap_err();
    assert_says(
        &refused,
        &[
            "appendonly",
            "CONFIG SET appendonly yes",
            "WXTAG_DURABILITY=relaxed",
        ],
    );
}

#[tokio::test]
async fn an_fsync_policy_other_than_always_is_refused_and_named() {
    let redis = DurableRedis::start().await;
    redis
        .command(&["CONFIG", "SET", "appendfsync", "everysec"])
        .await;
    let refused = build(redis.server.url(), Durability::Strict)
        .await
        .unwrap_err();
    assert_says(
        &refused,
        &[
            "appendfsync",
            "everysec",
            "CONFIG SET appendfsync always",
            "WAITAOF",
            "WXTAG_DURABILITY=relaxed",
        ],
    );
}

#[tokio::test]
async fn a_policy_that_cannot_be_read_is_refused_and_named() {
    let redis = DurableRedis::start().await;
    redis
        .command(&[
            "ACL",
            "SETUSER",
            "app",
            "on",
            ">app-password",
            "~*",
            "&*",
            "+@all",
            "-config",
        ])
        .await;
    let url = redis
        .server
        .url()
        .replace("redis://", "redis://app:app-password@");
    let refused = build(url, Durability::Strict).await.unwrap_err();
    assert_says(&refused, &["appendfsync", "cannot"]);
}

#[tokio::test]
async fn a_durable_redis_starts_strict_and_health_says_so() {
    let redis = DurableRedis::start().await;
    let base = build(redis.server.url(), Durability::Strict)
        .await
        .expect("a durable redis is accepted");
    let health = health(&base).await;
    assert_eq!(health["durability"], "strict", "{health}");
    let found = health["persistence"].as_str().unwrap();
    assert!(
        found.contains("appendonly yes") && found.contains("appendfsync always"),
        "{health}"
    );
}

#[tokio::test]
async fn relaxed_accepts_a_redis_that_can_lose_events_and_says_so() {
    let redis = TestRedis::start().await;
    let base = build(redis.url(), Durability::Relaxed)
        .await
        .expect("relaxed accepts it");
    let health = health(&base).await;
    assert_eq!(health["durability"], "relaxed", "{health}");
    assert!(
        health["persistence"]
            .as_str()
            .unwrap()
            .contains("appendonly no"),
        "{health}"
    );
}
