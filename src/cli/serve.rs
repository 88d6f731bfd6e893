//! `wxtag serve`: Redis (given or local), the rules, the app; until SIGTERM or SIGINT.

use std::io::{IsTerminal, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::process::ExitCode;

use secrecy::ExposeSecret;

use super::Failure;
use crate::admin::AdminToken;
use crate::config::Kind;
use crate::config::{OAuthSetting, PublicUrl, Settings, WECHAT_OAUTH_BASE};
use crate::redis_server::{self, Local};
use crate::sandbox::{self, Interaction, SandboxConfig, SandboxHandle};
use crate::startup::{AppConfig, Application, shutdown_signal};
use crate::store::Window;
use crate::sync::SyncConfig;
use crate::webhook::PushWitness;

/// Runs the bot until a shutdown signal.
pub async fn run(settings: Settings) -> Result<ExitCode, Failure> {
    if settings.clock.offset_secs() != 0 {
        tracing::warn!(
            offset_secs = settings.clock.offset_secs(),
            "clock shifted by {} s: for tests and demos only (WXTAG_CLOCK_OFFSET_SECS)",
            settings.clock.offset_secs()
        );
    }
    let (api_base, witness) = if settings.is_sandbox() {
        let (base, sandbox) = start_sandbox(&settings)?;
        tracing::warn!(
            "SANDBOX MODE: WECHAT_APPID is not set, so wxtag talks to its built-in WeChat \
             stand-in at {base}, not to WeChat (see what it holds at {base}/sandbox/state). \
             Set WECHAT_APPID, WECHAT_APPSECRET and WECHAT_TOKEN to serve a real account."
        );
        (base, Some(witness(sandbox)))
    } else {
        (settings.account.api_base.clone(), None)
    };
    let oauth_base = match &settings.oauth {
        OAuthSetting::Off => None,
        OAuthSetting::Base {
            authorize_base: Some(base),
        } => Some(base.clone()),
        // The sandbox serves web authorisation too, so the flow runs offline.
        OAuthSetting::Base {
            authorize_base: None,
        } if settings.is_sandbox() => Some(api_base.clone()),
        OAuthSetting::Base {
            authorize_base: None,
        } => Some(WECHAT_OAUTH_BASE.to_owned()),
    };
    let (redis_url, local) = match &settings.redis_url {
        Some(url) => (url.expose_secret().to_owned(), None),
        None => {
            let local = redis_server::attach_or_start(&settings.data_dir.join("redis")).await?;
            match &local {
                Local::Owned(redis) => tracing::info!(
                    url = %redis.url(),
                    "started a local redis-server (data in {}, AOF on)",
                    settings.data_dir.join("redis").display()
                ),
                Local::Shared(url) => {
                    tracing::info!(%url, "using the local redis-server already running")
                }
            }
            (local.url(), Some(local))
        }
    };
    let admin_token = match settings.admin_token.clone() {
        Some(token) => token,
        None => {
            let token = AdminToken::generate();
            hand_out(&token, &settings.data_dir)?;
            token
        }
    };
    let listener = std::net::TcpListener::bind(settings.bind)
        .map_err(|e| format!("cannot listen on {} (WXTAG_BIND): {e}", settings.bind))?;
    let public_url = match settings.public_url {
        Some(url) => Some(url),
        None if settings.is_sandbox() => sandbox_public_url(&listener),
        None => None,
    };
    let app = Application::build(
        AppConfig {
            account: settings.account,
            channels_dir: settings.channels_dir,
            admin_token,
            trusted_proxies: settings.trusted_proxies,
            redis_url,
            api_base,
            sync: Some(SyncConfig::default()),
            durability: settings.durability,
            clock: settings.clock,
            history_days: settings.history_days,
            public_url,
            oauth_base,
            witness,
        },
        listener,
    )
    .await?;
    tracing::info!(addr = %settings.bind, "wxtag is serving: webhook at /wechat, admin API at /api");

    let supervisor = match local {
        Some(Local::Owned(redis)) => Some(*redis),
        _ => None,
    };
    match supervisor {
        Some(redis) => {
            let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
            let supervised = tokio::spawn(redis.supervise_until(async {
                let _ = stopped.await;
            }));
            let served = app.run_until_stopped(shutdown_signal()).await;
            let _ = stop.send(());
            let _ = supervised.await;
            served?;
        }
        None => app.run_until_stopped(shutdown_signal()).await?,
    }
    tracing::info!("stopped");
    Ok(ExitCode::SUCCESS)
}

/// Hands a generated admin token to the person starting wxtag, never to the log: printed
/// when stdout is a terminal, else written to `data_dir/admin-token` (owner-only, mode 0600)
/// and only its path printed, so a service manager's journal never holds it.
fn hand_out(token: &AdminToken, data_dir: &Path) -> Result<(), Failure> {
    if std::io::stdout().is_terminal() {
        println!(
            "WXTAG_ADMIN_TOKEN is not set; this run's admin token is:\n\n    {}\n\n\
             Use it as `Authorization: Bearer <token>`. Set WXTAG_ADMIN_TOKEN to keep one.",
            token.reveal()
        );
        return Ok(());
    }
    let path = data_dir.join("admin-token");
    let failed = |e: std::io::Error| {
        format!(
            "cannot write the generated admin token to {} ({e}); set WXTAG_ADMIN_TOKEN, or \
             WXTAG_DATA to a folder wxtag may write",
            path.display()
        )
    };
    std::fs::create_dir_all(data_dir).map_err(failed)?;
    // Removed first, so the file is made afresh with mode 0600 whatever a stale one had.
    match std::fs::remove_file(&path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(failed(e).into()),
        _ => {}
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .map_err(failed)?;
    writeln!(file, "{}", token.reveal()).map_err(failed)?;
    println!(
        "WXTAG_ADMIN_TOKEN is not set; this run's admin token is in {} (readable by you \
         only). Use it as `Authorization: Bearer <token>`. Set WXTAG_ADMIN_TOKEN to keep one.",
        path.display()
    );
    Ok(())
}

/// In sandbox mode without `WXTAG_PUBLIC_URL`, links and forms are served where this
/// machine's browser reaches wxtag (the loopback address for a wildcard bind), so the whole
/// flow outside the chat runs offline.
fn sandbox_public_url(listener: &std::net::TcpListener) -> Option<PublicUrl> {
    let url = local_public_url(listener.local_addr().ok()?)?;
    tracing::info!(%url, "sandbox mode: tracked links and forms are served at {url} (set WXTAG_PUBLIC_URL to change it)");
    Some(url)
}

/// `http://<addr>`, the loopback address for a wildcard one: where this machine's browser
/// reaches a `serve` listening on `addr` (sandbox mode's public URL without one set).
pub(super) fn local_public_url(mut addr: std::net::SocketAddr) -> Option<PublicUrl> {
    if addr.ip().is_unspecified() {
        addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    PublicUrl::parse(&format!("http://{addr}")).ok()
}

/// Starts the WeChat stand-in in this process on a free loopback port; returns its URL.
/// The sandbox told of every push that opens a window, as WeChat knows what its users do:
/// the bot's customer-service sends then meet WeChat's window rules offline.
fn witness(sandbox: SandboxHandle) -> PushWitness {
    PushWitness::new(move |openid, window, at| {
        let kind = match window {
            Window::Message => Interaction::Message,
            Window::Interaction => Interaction::Click,
        };
        if let Err(error) = sandbox.interact(openid, kind, Some(at)) {
            tracing::debug!(%error, "the sandbox did not take the push's window");
        }
    })
}

fn start_sandbox(settings: &Settings) -> Result<(String, SandboxHandle), Failure> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let base = format!("http://{}", listener.local_addr()?);
    let kind = settings.account.kind;
    let config = SandboxConfig {
        appid: settings.account.appid.clone(),
        secret: settings.account.secret(),
        account_kind: match kind.kind {
            Kind::Service => sandbox::AccountKind::Service,
            Kind::Subscription => sandbox::AccountKind::Subscription,
        },
        verified: kind.verified,
        ..SandboxConfig::default()
    };
    let sandbox = SandboxHandle::new(config);
    tokio::spawn(sandbox.serve(listener)?);
    Ok((base, sandbox))
}
