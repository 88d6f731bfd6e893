//! The `wxtag` binary as a user runs it: serve, send, check, signals, start-up errors.

use std::process::{Command, Stdio};
use std::time::Duration;

use reqwest::StatusCode;

use crate::helpers::{
    ADMIN_TOKEN, AES_KEY, APPID, Spawn, TOKEN, TestApp, TestRedis, Wire, eventually, free_port,
};

const BIN: &str = env!("CARGO_BIN_EXE_wxtag");

/// `wxtag` with a clean environment: nothing from the developer's shell or a `.env`.
pub(crate) fn wxtag(dir: &std::path::Path) -> Command {
    let mut command = Command::new(BIN);
    command
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        // Test Redis servers keep nothing on disk, on purpose: accept that.
        .env("WXTAG_DURABILITY", "relaxed");
    command
}

/// A `wxtag serve` child process, killed when dropped.
pub(crate) struct Serve {
    child: std::process::Child,
    base: String,
    dir: tempfile::TempDir,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Serve {
    /// Starts `serve` in a fresh folder holding `channels`, with extra environment, and waits
    /// until /healthz answers.
    pub(crate) async fn start(channels: &str, env: &[(&str, String)]) -> Self {
        wxtag::wechat::api::install_crypto_provider();
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("channels")).unwrap();
        std::fs::write(dir.path().join("channels/10.toml"), channels).unwrap();
        let port = free_port();
        let mut command = wxtag(dir.path());
        command
            .arg("serve")
            .env("WXTAG_BIND", format!("127.0.0.1:{port}"))
            .env("WXTAG_ADMIN_TOKEN", ADMIN_TOKEN)
            .env("WECHAT_TOKEN", TOKEN)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("serve.log")).unwrap());
        for (key, value) in env {
            command.env(key, value);
        }
        let child = command.spawn().unwrap();
        let serve = Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
            dir,
        };
        let http = reqwest::Client::new();
        eventually(Duration::from_secs(20), || async {
            let ok = http
                .get(format!("{}/healthz", serve.base))
                .send()
                .await
                .ok()?
                .status()
                .is_success();
            ok.then_some(())
        })
        .await;
        serve
    }

    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("serve.log")).unwrap_or_default()
    }

    fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        assert!(status.success());
    }

    async fn lead_tags(&self, openid: &str) -> Vec<String> {
        let lead: serde_json::Value = reqwest::Client::new()
            .get(format!("{}/api/leads/{openid}", self.base))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        lead["tags"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap().to_owned())
            .collect()
    }
}

/// Runs `wxtag send` without blocking the runtime the in-process test apps serve on.
async fn send(dir: &std::path::Path, url: &str, wire: Wire, args: &[&str]) -> std::process::Output {
    let mut command = wxtag(dir);
    command
        .arg("send")
        .args(args)
        .arg("--url")
        .arg(url)
        .env("WECHAT_TOKEN", TOKEN);
    if wire != Wire::Plain {
        command
            .env("WECHAT_APPID", APPID)
            .env("WECHAT_APPSECRET", "x")
            .env("WECHAT_AES_KEY", AES_KEY);
    }
    tokio::process::Command::from(command)
        .output()
        .await
        .unwrap()
}

#[tokio::test]
async fn send_acts_as_wechat_in_plaintext_and_safe_mode() {
    for wire in [Wire::Plain, Wire::Safe] {
        let app = TestApp::spawn_with(Spawn {
            wire,
            ..Spawn::shipped_channels()
        })
        .await;
        let dir = tempfile::tempdir().unwrap();

        let out = send(
            dir.path(),
            &format!("{}/wechat", app.base),
            wire,
            &["follow", "--scene", "expo-2026", "--openid", "oSend1"],
        )
        .await;

        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{wire:?}: {stdout} {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            stdout.contains("text reply: 感谢在工博会展台关注"),
            "{wire:?}: the reply, decrypted: {stdout}"
        );
        assert_eq!(app.lead("oSend1").await["first_channel"], "expo-2026");
    }
}

#[tokio::test]
async fn send_as_a_load_generator_reports_throughput_and_latency() {
    let app = TestApp::spawn_with(Spawn::shipped_channels()).await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("channels")).unwrap();
    for entry in std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/channels")).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(
            &path,
            dir.path().join("channels").join(path.file_name().unwrap()),
        )
        .unwrap();
    }

    let out = send(
        dir.path(),
        &format!("{}/wechat", app.base),
        Wire::Plain,
        &[
            "--count",
            "40",
            "--concurrency",
            "4",
            "--mix",
            "qr=70,click=20,text=10",
        ],
    )
    .await;

    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    for line in [
        "events      40",
        "events/s",
        "p50",
        "p99",
        "max",
        "non-2xx     0",
    ] {
        assert!(stdout.contains(line), "missing {line:?} in {stdout}");
    }
    assert_eq!(app.lead_count().await, 40, "a new openid per request");
}

#[test]
fn check_passes_the_shipped_folder_and_fails_with_file_and_line() {
    let ok = wxtag(env!("CARGO_MANIFEST_DIR").as_ref())
        .arg("check")
        .output()
        .unwrap();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stdout)
    );

    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("channels")).unwrap();
    std::fs::write(
        dir.path().join("channels/10-expo.toml"),
        "[[qr]]\nscene = \"expo 2026\"\ntags = [\"来源:展会\"]\n\n[[keyword]]\nmatch = \"regex\"\ntext = \"(unclosed\"\n",
    )
    .unwrap();
    let bad = wxtag(dir.path()).arg("check").output().unwrap();
    let report = String::from_utf8_lossy(&bad.stdout);
    assert_eq!(bad.status.code(), Some(1), "{report}");
    assert!(report.contains("channels/10-expo.toml:2:"), "{report}");
    assert!(report.contains("channels/10-expo.toml:7:"), "{report}");
}

#[test]
fn a_bad_setting_stops_start_up_naming_the_variable() {
    let dir = tempfile::tempdir().unwrap();
    let out = wxtag(dir.path())
        .arg("serve")
        .env("WECHAT_AES_KEY", "short")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("WECHAT_AES_KEY"));
}

#[test]
fn a_bad_public_url_or_web_authorisation_stops_serve_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    for (vars, says) in [
        (
            &[("WXTAG_PUBLIC_URL", "wx.example.com")][..],
            "WXTAG_PUBLIC_URL: \"wx.example.com\" is not an http:// or https:// URL",
        ),
        (
            &[
                ("WECHAT_OAUTH", "base"),
                ("WECHAT_APPID", APPID),
                ("WECHAT_APPSECRET", "s3cret"),
                ("WECHAT_TOKEN", TOKEN),
            ][..],
            "WECHAT_OAUTH: base needs WXTAG_PUBLIC_URL",
        ),
        (
            &[("WECHAT_OAUTH", "userinfo")][..],
            "WECHAT_OAUTH: \"userinfo\" is not off or base",
        ),
    ] {
        let out = wxtag(dir.path())
            .arg("serve")
            .envs(vars.iter().copied())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(says), "{stderr}");
        assert!(
            stderr.contains("e.g.") || stderr.contains("WECHAT_OAUTH=off"),
            "{stderr}"
        );
    }
}

#[test]
fn without_redis_url_or_redis_server_serve_says_how_to_get_one() {
    let dir = tempfile::tempdir().unwrap();
    let out = wxtag(dir.path())
        .arg("serve")
        .env("PATH", dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("redis-server is not on PATH") && stderr.contains("REDIS_URL"),
        "{stderr}"
    );
}

#[tokio::test]
async fn serve_refuses_an_invalid_channels_folder() {
    let redis = TestRedis::start().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("channels")).unwrap();
    std::fs::write(
        dir.path().join("channels/10.toml"),
        "[[click]]\nkye = \"A\"\n",
    )
    .unwrap();
    let out = wxtag(dir.path())
        .arg("serve")
        .env("REDIS_URL", redis.url())
        .env("WXTAG_BIND", format!("127.0.0.1:{}", free_port()))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("10.toml:2"));
}

#[tokio::test]
async fn sighup_reloads_the_rules_and_a_bad_reload_keeps_them() {
    let redis = TestRedis::start().await;
    let serve = Serve::start(
        "[[click]]\nkey = \"A\"\ntags = [\"兴趣:旧\"]\n",
        &[("REDIS_URL", redis.url())],
    )
    .await;
    let url = format!("{}/wechat", serve.base);
    let channels = serve.dir.path().join("channels/10.toml");

    std::fs::write(&channels, "[[click]]\nkey = \"A\"\ntags = [\"兴趣:新\"]\n").unwrap();
    serve.signal("HUP");
    eventually(Duration::from_secs(10), || async {
        serve.log().contains("channel rules reloaded").then_some(())
    })
    .await;
    assert!(
        send(
            serve.dir.path(),
            &url,
            Wire::Plain,
            &["click", "A", "--openid", "oHup1"]
        )
        .await
        .status
        .success()
    );
    assert_eq!(serve.lead_tags("oHup1").await, ["兴趣:新"]);

    std::fs::write(
        &channels,
        "[[click]]\nkey = \"A\"\ntags = [\"兴趣:坏\"]\nwrong = true\n",
    )
    .unwrap();
    serve.signal("HUP");
    eventually(Duration::from_secs(10), || async {
        serve.log().contains("NOT reloaded").then_some(())
    })
    .await;
    assert!(serve.log().contains("10.toml:4"), "every mistake is logged");
    assert!(
        send(
            serve.dir.path(),
            &url,
            Wire::Plain,
            &["click", "A", "--openid", "oHup2"]
        )
        .await
        .status
        .success()
    );
    assert_eq!(serve.lead_tags("oHup2").await, ["兴趣:新"]);
}

#[tokio::test]
async fn serve_runs_a_local_redis_logs_no_secret_and_stops_cleanly_on_sigterm() {
    let secrets = [
        ("WECHAT_APPID", APPID.to_owned()),
        ("WECHAT_APPSECRET", "app-secret-must-not-leak".to_owned()),
        ("WECHAT_TOKEN", TOKEN.to_owned()),
        ("WECHAT_AES_KEY", AES_KEY.to_owned()),
        ("WECHAT_API_BASE", "http://127.0.0.1:9".to_owned()),
    ];
    let mut serve = Serve::start("", &secrets).await;
    let url = format!("{}/wechat", serve.base);
    let out = send(
        serve.dir.path(),
        &url,
        Wire::Safe,
        &["text", "hello", "--openid", "oTerm1"],
    )
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        serve.dir.path().join("data/redis/redis.sock").exists(),
        "a local redis in data/redis"
    );

    serve.signal("TERM");
    let status = tokio::task::spawn_blocking(move || {
        let status = serve.child.wait().unwrap();
        (status, serve)
    })
    .await
    .unwrap();
    let (status, serve) = status;

    assert!(status.success(), "a clean exit: {status:?}");
    assert!(
        !serve.dir.path().join("data/redis/redis.sock").exists(),
        "the local redis stopped too"
    );
    assert!(
        serve.dir.path().join("data/redis/appendonlydir").exists(),
        "with its AOF on disk"
    );
    let log = serve.log();
    assert!(
        log.contains("oTerm1") && log.contains("kind=\"text\""),
        "one line per request: {log}"
    );
    for (_, secret) in &secrets[1..4] {
        assert!(
            !log.contains(secret.as_str()),
            "a secret in the log: {secret}"
        );
    }
    assert!(!log.contains(ADMIN_TOKEN));
    let after = reqwest::Client::new()
        .get(format!("{}/healthz", serve.base))
        .send()
        .await;
    assert!(
        after.is_err() || after.unwrap().status() != StatusCode::OK,
        "stopped"
    );
}

#[tokio::test]
async fn a_generated_admin_token_goes_to_an_owner_only_file_when_stdout_is_no_terminal() {
    use std::os::unix::fs::PermissionsExt;

    wxtag::wechat::api::install_crypto_provider();
    let redis = TestRedis::start().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("channels")).unwrap();
    let port = free_port();
    let stdout = dir.path().join("serve.out");
    let child = wxtag(dir.path())
        .arg("serve")
        .env("REDIS_URL", redis.url())
        .env("WXTAG_BIND", format!("127.0.0.1:{port}"))
        .env("WXTAG_DATA", dir.path().join("state"))
        .stdout(std::fs::File::create(&stdout).unwrap())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let serve = Serve {
        child,
        base: format!("http://127.0.0.1:{port}"),
        dir,
    };
    let file = serve.dir.path().join("state/admin-token");
    let printed = eventually(Duration::from_secs(20), || async {
        let out = std::fs::read_to_string(&stdout).ok()?;
        out.contains("admin-token").then_some(out)
    })
    .await;
    let token = std::fs::read_to_string(&file).expect("the token file");
    let token = token.trim();
    assert!(
        printed.contains(&file.display().to_string()),
        "the path is printed: {printed}"
    );
    assert!(
        !printed.contains(token),
        "the token itself is not: {printed}"
    );
    let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "readable by the owner only");
    let http = reqwest::Client::new();
    let status = eventually(Duration::from_secs(20), || async {
        let response = http
            .get(format!("{}/api/leads", serve.base))
            .bearer_auth(token)
            .send()
            .await
            .ok()?;
        Some(response.status())
    })
    .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the file's token is the admin token"
    );
}

#[tokio::test]
async fn in_sandbox_mode_links_are_served_at_the_local_address_unless_a_public_url_is_set() {
    let rules = "[[link]]\nid = \"wp\"\nurl = \"https://example.com/wp.pdf\"\n\n\
                 [[keyword]]\ntext = \"白皮书\"\nreply = \"请看 {link:wp}\"\n";
    let redis = TestRedis::start().await;
    let serve = Serve::start(rules, &[("REDIS_URL", redis.url())]).await;
    let url = format!("{}/wechat", serve.base);
    let args = ["text", "白皮书", "--openid", "oLocalLink1"];
    let out = send(serve.dir.path(), &url, Wire::Plain, &args).await;
    let said = String::from_utf8_lossy(&out.stdout);
    let prefix = format!("{}/l/", serve.base);
    let at = said
        .find(&prefix)
        .unwrap_or_else(|| panic!("{prefix} in {said}"));
    let link: String = said[at..]
        .chars()
        .take_while(|c| !c.is_whitespace())
        .collect();
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let clicked = client.get(&link).send().await.unwrap();
    assert_eq!(clicked.status(), StatusCode::FOUND, "{link}");
    assert_eq!(clicked.headers()["location"], "https://example.com/wp.pdf");
    drop(serve);

    let public = ("WXTAG_PUBLIC_URL", "https://wx.example.test".to_owned());
    let serve = Serve::start(rules, &[("REDIS_URL", redis.url()), public]).await;
    let url = format!("{}/wechat", serve.base);
    let out = send(serve.dir.path(), &url, Wire::Plain, &args).await;
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("https://wx.example.test/l/"), "{said}");
}
