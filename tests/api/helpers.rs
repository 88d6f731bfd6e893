//! The test harness: a real redis-server on a free port, the app on port 0, and a client
//! that talks to it as WeChat and as an admin would.

use std::net::TcpListener;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::Value;
use tokio::sync::oneshot;
use wxtag::admin::AdminToken;
use wxtag::config::{Account, Mode};
use wxtag::domain::{Clock, UnixTime};
use wxtag::redis_server::{Listen, LocalRedis, Options};
use wxtag::rules::LiveRules;
use wxtag::startup::{AppConfig, Application};
use wxtag::store::Durability;
use wxtag::store::history::DEFAULT_HISTORY_DAYS;
use wxtag::sync::SyncConfig;
use wxtag::wechat::crypto::{EncodingAesKey, MessageCipher};
use wxtag::wechat::inbound::EncryptedEnvelope;
use wxtag::wechat::signature::{self, ServerToken};

/// The server token test apps sign with.
pub const TOKEN: &str = "spamtest";
/// The EncodingAESKey test apps use in compatible and safe mode (protocol §5.6).
pub const AES_KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
/// The AppID test apps run as.
pub const APPID: &str = "wx2c2769f8efd9abc2";
/// The admin token test apps accept.
pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789";

/// How a test app receives pushes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wire {
    /// 明文模式: plain XML.
    Plain,
    /// 兼容模式: plain fields and `<Encrypt>` side by side.
    Compatible,
    /// 安全模式: only `<Encrypt>`.
    Safe,
}

/// A throw-away redis-server on a free TCP port, killed when dropped.
pub struct TestRedis {
    pub server: LocalRedis,
    _dir: tempfile::TempDir,
}

impl TestRedis {
    /// Starts one; retries on the rare race for a free port.
    pub async fn start() -> Self {
        Self::start_with(false).await
    }

    /// Starts one, keeping its data in an AOF fsynced on every write when `durable`.
    pub async fn start_with(durable: bool) -> Self {
        let mut last_error = None;
        for _ in 0..5 {
            let dir = tempfile::tempdir().expect("temp dir");
            let port = free_port();
            let options = Options {
                dir: dir.path().to_owned(),
                listen: Listen::Tcp(port),
                durable,
            };
            match LocalRedis::start(options).await {
                Ok(server) => return Self { server, _dir: dir },
                Err(error) => last_error = Some(error),
            }
        }
        panic!("cannot start redis-server: {last_error:?}");
    }

    /// Its URL.
    pub fn url(&self) -> String {
        self.server.url()
    }

    /// A store on it, for the account of the tests, as the app would make one.
    pub async fn store(&self) -> wxtag::store::Store {
        let conn = redis::Client::open(self.url())
            .unwrap()
            .get_connection_manager()
            .await
            .unwrap();
        wxtag::store::Store::new(conn, APPID)
    }

    /// A plain connection, to look at what the app wrote.
    pub async fn conn(&self) -> redis::aio::MultiplexedConnection {
        redis::Client::open(self.url())
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap()
    }
}

/// A nonce no other push of this test binary used.
fn next_nonce() -> String {
    static NONCE: AtomicU64 = AtomicU64::new(1320562132);
    NONCE.fetch_add(1, Ordering::Relaxed).to_string()
}

/// A port no one listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// How to build a test app.
pub struct Spawn {
    /// The wire mode.
    pub wire: Wire,
    /// Channel rule files: (file name, TOML).
    pub channels: Vec<(String, String)>,
    /// The WeChat API (a sandbox's URL) the app's sync worker talks to; `None` runs no worker.
    pub wechat: Option<String>,
    /// Run the app's Redis as `serve` runs its own: AOF on, fsynced on every write.
    pub durable_redis: bool,
    /// `WXTAG_CLOCK_OFFSET_SECS`: seconds the app's clock runs ahead of (or behind) the real one.
    pub clock_offset_secs: i64,
    /// `WXTAG_PUBLIC_URL`; `None` sends tracked links untracked.
    pub public_url: Option<String>,
    /// `WECHAT_OAUTH=base` with this `WECHAT_OAUTH_BASE` (a sandbox's URL); `None`: off.
    pub oauth_base: Option<String>,
}

/// The shipped example's file of tags from behaviour over time (rule tags, score, tiers,
/// lifecycle, …), which [`Spawn::shipped_channels`] leaves out.
pub const OVER_TIME_FILE: &str = "50-over-time.toml";

impl Spawn {
    /// A plaintext app with the shipped example `channels/` folder's touch rules: every file
    /// but [`OVER_TIME_FILE`], so a touch gives exactly the tags its rules name.
    pub fn shipped_channels() -> Self {
        let mut spawn = Self::shipped_channels_over_time();
        spawn.channels.retain(|(name, _)| name != OVER_TIME_FILE);
        spawn
    }

    /// A plaintext app with the whole shipped example `channels/` folder, tags from
    /// behaviour over time included.
    pub fn shipped_channels_over_time() -> Self {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("channels");
        let mut channels = Vec::new();
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            channels.push((name, std::fs::read_to_string(&path).unwrap()));
        }
        Self {
            channels,
            ..Self::default()
        }
    }
}

impl Default for Spawn {
    fn default() -> Self {
        Self {
            wire: Wire::Plain,
            channels: Vec::new(),
            wechat: None,
            durable_redis: false,
            clock_offset_secs: 0,
            public_url: None,
            oauth_base: None,
        }
    }
}

/// A running app with its own Redis.
pub struct TestApp {
    pub base: String,
    pub http: reqwest::Client,
    pub redis: TestRedis,
    pub wire: Wire,
    pub rules: LiveRules,
    pub channels_dir: tempfile::TempDir,
    /// The app's clock (`WXTAG_CLOCK_OFFSET_SECS`), shared with the running app: advancing it
    /// moves the app's time (its scheduler's too) with no restart.
    pub clock: Clock,
    /// The WeChat API the app's sync worker talks to, if it runs one.
    wechat: Option<String>,
    /// `WXTAG_PUBLIC_URL`, kept for restarts.
    public_url: Option<String>,
    /// `WECHAT_OAUTH_BASE` with web authorisation on, kept for restarts.
    oauth_base: Option<String>,
    cipher: MessageCipher,
    stop: Option<oneshot::Sender<()>>,
    running: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Another `serve` process of a [`TestApp`]'s account; stopped when dropped.
pub struct SecondProcess {
    /// Its clock, shared with it.
    pub clock: Clock,
    stop: Option<oneshot::Sender<()>>,
}

impl Drop for SecondProcess {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// One app process's run: where it listens, its rules, and how to stop it.
struct Running {
    base: String,
    rules: LiveRules,
    stop: oneshot::Sender<()>,
    handle: tokio::task::JoinHandle<std::io::Result<()>>,
}

/// Builds an app on `redis_url` with the rules in `channels_dir` and runs it.
async fn run_app(
    wire: Wire,
    redis_url: String,
    channels_dir: &std::path::Path,
    wechat: Option<String>,
    clock: Clock,
    public_url: Option<String>,
    oauth_base: Option<String>,
) -> Running {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let app = Application::build(
        AppConfig {
            account: account(wire),
            channels_dir: channels_dir.to_owned(),
            admin_token: AdminToken::parse(ADMIN_TOKEN).unwrap(),
            trusted_proxies: Default::default(),
            redis_url,
            sync: wechat.is_some().then(SyncConfig::default),
            // Test servers keep nothing on disk: they are not durable, on purpose.
            durability: Durability::Relaxed,
            api_base: wechat.unwrap_or_else(|| "http://127.0.0.1:9".to_owned()),
            clock,
            history_days: DEFAULT_HISTORY_DAYS,
            public_url: public_url.map(|url| wxtag::config::PublicUrl::parse(&url).unwrap()),
            oauth_base,
            witness: None,
        },
        listener,
    )
    .await
    .expect("the app builds");
    let base = format!("http://127.0.0.1:{}", app.port());
    let rules = app.rules();
    let (stop, stopped) = oneshot::channel();
    let handle = tokio::spawn(app.run_until_stopped(async {
        let _ = stopped.await;
    }));
    Running {
        base,
        rules,
        stop,
        handle,
    }
}

pub fn account(wire: Wire) -> Account {
    Account {
        appid: APPID.to_owned(),
        mode: Mode::Sandbox,
        token: ServerToken::new(TOKEN.to_owned()),
        aes_key: (wire != Wire::Plain).then(|| EncodingAesKey::parse(AES_KEY).unwrap()),
        api_base: "http://127.0.0.1:9".to_owned(),
        kind: Default::default(),
    }
}

impl TestApp {
    /// A plaintext app with no channel rules.
    pub async fn spawn() -> Self {
        Self::spawn_with(Spawn::default()).await
    }

    /// An app built as `spawn` says.
    pub async fn spawn_with(spawn: Spawn) -> Self {
        wxtag::telemetry::init(|| -> Box<dyn std::io::Write> {
            if std::env::var_os("TEST_LOG").is_some() {
                Box::new(std::io::stderr())
            } else {
                Box::new(std::io::sink())
            }
        });
        wxtag::wechat::api::install_crypto_provider();
        let redis = TestRedis::start_with(spawn.durable_redis).await;
        let channels_dir = tempfile::tempdir().unwrap();
        for (name, toml) in &spawn.channels {
            std::fs::write(channels_dir.path().join(name), toml).unwrap();
        }
        let clock = Clock::shifted(spawn.clock_offset_secs);
        let running = run_app(
            spawn.wire,
            redis.url(),
            channels_dir.path(),
            spawn.wechat.clone(),
            clock.clone(),
            spawn.public_url.clone(),
            spawn.oauth_base.clone(),
        )
        .await;
        Self {
            base: running.base,
            http: reqwest::Client::new(),
            redis,
            wire: spawn.wire,
            rules: running.rules,
            channels_dir,
            clock,
            wechat: spawn.wechat,
            public_url: spawn.public_url,
            oauth_base: spawn.oauth_base,
            cipher: MessageCipher::new(EncodingAesKey::parse(AES_KEY).unwrap(), APPID.to_owned()),
            stop: Some(running.stop),
            running: Some(running.handle),
        }
    }

    /// Stops the app (requests in flight finish) and starts it again on the same Redis and
    /// channels folder with its clock shifted by `clock_offset_secs`: `serve` restarted
    /// "later". The app listens on a new port afterwards (`base` says which).
    pub async fn restart(&mut self, clock_offset_secs: i64) {
        let clock = Clock::shifted(clock_offset_secs);
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(running) = self.running.take() {
            running
                .await
                .expect("the app's task ends")
                .expect("the app stops cleanly");
        }
        let running = self.run_another(clock.clone()).await;
        self.base = running.base;
        self.rules = running.rules;
        self.clock = clock;
        self.stop = Some(running.stop);
        self.running = Some(running.handle);
    }

    /// Another run of this app's `serve` on its Redis and channels folder, at `clock`.
    async fn run_another(&self, clock: Clock) -> Running {
        run_app(
            self.wire,
            self.redis.url(),
            self.channels_dir.path(),
            self.wechat.clone(),
            clock,
            self.public_url.clone(),
            self.oauth_base.clone(),
        )
        .await
    }

    /// A second `serve` process on the same Redis and channels folder, with a clock of its
    /// own (`clock_offset_secs`): two processes sharing one account's work.
    pub async fn second_process(&self, clock_offset_secs: i64) -> SecondProcess {
        let clock = Clock::shifted(clock_offset_secs);
        let running = self.run_another(clock.clone()).await;
        SecondProcess {
            clock,
            stop: Some(running.stop),
        }
    }

    /// Now on the app's clock: the real time shifted by its offset.
    pub fn now(&self) -> UnixTime {
        self.clock.now()
    }

    /// The query and body WeChat would send for `xml`, in this app's wire mode, now (on the
    /// app's clock: WeChat and a shifted app agree on the time), with a nonce of its own (as
    /// WeChat's: a plaintext query vouches for one body only).
    pub fn signed(&self, xml: &str) -> (Vec<(String, String)>, String) {
        let timestamp = self.now().0.to_string();
        self.signed_at(xml, &timestamp, &next_nonce())
    }

    /// The same, signed at the real time whatever the app's clock says.
    pub fn signed_now(&self, xml: &str) -> (Vec<(String, String)>, String) {
        let timestamp = UnixTime::now().0.to_string();
        self.signed_at(xml, &timestamp, &next_nonce())
    }

    /// The same with a given timestamp and nonce.
    pub fn signed_at(
        &self,
        xml: &str,
        timestamp: &str,
        nonce: &str,
    ) -> (Vec<(String, String)>, String) {
        let mut query = vec![
            (
                "signature".to_owned(),
                signature::sign(&[TOKEN, timestamp, nonce]),
            ),
            ("timestamp".to_owned(), timestamp.to_owned()),
            ("nonce".to_owned(), nonce.to_owned()),
        ];
        let body = match self.wire {
            Wire::Plain => xml.to_owned(),
            Wire::Compatible | Wire::Safe => {
                let encrypt = self.cipher.encrypt(xml);
                query.push(("encrypt_type".to_owned(), "aes".to_owned()));
                query.push((
                    "msg_signature".to_owned(),
                    signature::sign(&[TOKEN, timestamp, nonce, &encrypt]),
                ));
                if self.wire == Wire::Safe {
                    EncryptedEnvelope {
                        to_user_name: Some("gh_10f6c3c3ac5a".to_owned()),
                        encrypt,
                    }
                    .to_xml()
                } else {
                    // Compatible mode: the plaintext fields, then <Encrypt>, in one document.
                    xml.replacen(
                        "</xml>",
                        &format!("<Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>"),
                        1,
                    )
                }
            }
        };
        (query, body)
    }

    /// POSTs a message as WeChat would (signed, encrypted in this app's mode).
    pub async fn post_event(&self, xml: &str) -> reqwest::Response {
        let (query, body) = self.signed(xml);
        self.post_raw(&query, body).await
    }

    /// POSTs whatever the test says to `/wechat`.
    pub async fn post_raw(
        &self,
        query: &[(String, String)],
        body: impl Into<reqwest::Body>,
    ) -> reqwest::Response {
        self.http
            .post(format!("{}/wechat", self.base))
            .query(query)
            .body(body)
            .send()
            .await
            .expect("the app answers")
    }

    /// The reply to a push as plain XML: decrypted (and its MsgSignature checked) in
    /// compatible and safe mode. `None` for the bare `success`.
    pub async fn reply_to(&self, xml: &str) -> Option<String> {
        let response = self.post_event(xml).await;
        assert_eq!(response.status(), StatusCode::OK);
        let body = response.text().await.unwrap();
        if body == "success" {
            return None;
        }
        Some(match self.wire {
            Wire::Plain => body,
            Wire::Compatible | Wire::Safe => {
                let sealed =
                    wxtag::wechat::reply::EncryptedReply::parse(&body).expect("an encrypted reply");
                assert_eq!(
                    sealed.msg_signature,
                    signature::sign(&[TOKEN, &sealed.timestamp, &sealed.nonce, &sealed.encrypt]),
                    "the reply's MsgSignature holds"
                );
                self.cipher
                    .decrypt(&sealed.encrypt)
                    .expect("the reply decrypts")
            }
        })
    }

    /// GETs an admin path with the admin token.
    pub async fn admin_get(&self, path: &str) -> reqwest::Response {
        self.http
            .get(format!("{}{path}", self.base))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .expect("the app answers")
    }

    /// Logs in to the dashboard with `token`; the `Cookie` header the browser then sends.
    pub async fn session_cookie(&self, token: &str) -> String {
        let login = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
            .post(format!("{}/login", self.base))
            .form(&[("token", token)])
            .send()
            .await
            .expect("the app answers");
        assert_eq!(login.status(), StatusCode::SEE_OTHER, "the login works");
        let cookie = login.headers()[reqwest::header::SET_COOKIE]
            .to_str()
            .unwrap();
        cookie.split(';').next().unwrap().to_owned()
    }

    /// A lead as JSON; panics unless the app answers 200.
    pub async fn lead(&self, openid: &str) -> Value {
        let response = self.admin_get(&format!("/api/leads/{openid}")).await;
        assert_eq!(response.status(), StatusCode::OK, "lead {openid}");
        response.json().await.unwrap()
    }

    /// `GET /metrics` as text.
    pub async fn metrics_text(&self) -> String {
        let url = format!("{}/metrics", self.base);
        self.http
            .get(url)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// The status `/healthz` answers, `None` when the app does not answer at all.
    pub async fn health(&self) -> Option<StatusCode> {
        let response = self.http.get(format!("{}/healthz", self.base)).send().await;
        response.ok().map(|r| r.status())
    }

    /// One channel's row of `/api/channels`; panics when the channel is not reported.
    pub async fn channel_report(&self, scene: &str) -> Value {
        let report: Value = self.admin_get("/api/channels").await.json().await.unwrap();
        report["channels"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["scene"] == scene)
            .cloned()
            .unwrap_or_else(|| panic!("channel {scene} is not reported: {report}"))
    }

    /// How many entries the sync outbox holds.
    pub async fn outbox_len(&self) -> u64 {
        let mut conn = self.redis.conn().await;
        redis::cmd("XLEN")
            .arg(format!("wx:{{{APPID}}}:outbox"))
            .query_async(&mut conn)
            .await
            .unwrap()
    }

    /// How many leads the app has stored.
    pub async fn lead_count(&self) -> u64 {
        let mut conn = self.redis.conn().await;
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg("*:lead:*")
            .query_async(&mut conn)
            .await
            .unwrap();
        keys.len() as u64
    }
}

/// Polls `check` until it returns `Some`, failing the test after `within`.
pub async fn eventually<T, F, Fut>(within: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + within;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "condition not met within {within:?}"
        );
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// WeChat's XML for the pushes tests send, written out as WeChat writes them.
pub mod xml {
    use wxtag::domain::UnixTime;

    fn now() -> i64 {
        UnixTime::now().0
    }

    fn event(openid: &str, created: i64, fields: &str) -> String {
        format!(
            "<xml><ToUserName><![CDATA[gh_10f6c3c3ac5a]]></ToUserName>\
             <FromUserName><![CDATA[{openid}]]></FromUserName>\
             <CreateTime>{created}</CreateTime>\
             <MsgType><![CDATA[event]]></MsgType>{fields}</xml>"
        )
    }

    /// A follow, through a QR scene when given.
    pub fn follow(openid: &str, scene: Option<&str>) -> String {
        follow_at(openid, scene, now())
    }

    /// A follow at a given CreateTime.
    pub fn follow_at(openid: &str, scene: Option<&str>, created: i64) -> String {
        let key = scene.map(|s| format!("qrscene_{s}")).unwrap_or_default();
        event(
            openid,
            created,
            &format!("<Event><![CDATA[subscribe]]></Event><EventKey><![CDATA[{key}]]></EventKey>"),
        )
    }

    /// A QR scan by a follower.
    pub fn scan(openid: &str, scene: &str) -> String {
        event(
            openid,
            now(),
            &format!(
                "<Event><![CDATA[SCAN]]></Event><EventKey><![CDATA[{scene}]]></EventKey><Ticket><![CDATA[gQH47joAAAAAAAAAASxodHRwOi8v]]></Ticket>"
            ),
        )
    }

    /// An unfollow.
    pub fn unfollow(openid: &str) -> String {
        unfollow_at(openid, now())
    }

    /// An unfollow at a given CreateTime.
    pub fn unfollow_at(openid: &str, created: i64) -> String {
        event(openid, created, "<Event><![CDATA[unsubscribe]]></Event>")
    }

    /// A CLICK menu event.
    pub fn click(openid: &str, key: &str) -> String {
        click_at(openid, key, now())
    }

    /// A CLICK at a given CreateTime (WeChat's dedup key for events: clicks in the same
    /// second by the same lead are one delivery).
    pub fn click_at(openid: &str, key: &str, created: i64) -> String {
        event(
            openid,
            created,
            &format!("<Event><![CDATA[CLICK]]></Event><EventKey><![CDATA[{key}]]></EventKey>"),
        )
    }

    /// A VIEW menu event.
    pub fn view(openid: &str, url: &str) -> String {
        event(
            openid,
            now(),
            &format!(
                "<Event><![CDATA[VIEW]]></Event><EventKey><![CDATA[{url}]]></EventKey><MenuId>433418371</MenuId>"
            ),
        )
    }

    /// A LOCATION report.
    pub fn location(openid: &str, created: i64) -> String {
        event(
            openid,
            created,
            "<Event><![CDATA[LOCATION]]></Event><Latitude>23.137466</Latitude><Longitude>113.352425</Longitude><Precision>119.385040</Precision>",
        )
    }

    /// A text message.
    pub fn text(openid: &str, content: &str, msg_id: u64) -> String {
        text_at(openid, content, msg_id, now())
    }

    /// A text message at a given CreateTime.
    pub fn text_at(openid: &str, content: &str, msg_id: u64, created: i64) -> String {
        format!(
            "<xml><ToUserName><![CDATA[gh_10f6c3c3ac5a]]></ToUserName>\
             <FromUserName><![CDATA[{openid}]]></FromUserName>\
             <CreateTime>{}</CreateTime><MsgType><![CDATA[text]]></MsgType>\
             <Content><![CDATA[{content}]]></Content><MsgId>{msg_id}</MsgId></xml>",
            created
        )
    }
}
