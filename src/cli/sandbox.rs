//! `wxtag sandbox`: the WeChat API stand-in on its own, for people, tests and benchmarks.

use std::net::SocketAddr;
use std::process::ExitCode;

use clap::Args;

use super::Failure;
use crate::sandbox::{SandboxConfig, SandboxHandle};

/// `wxtag sandbox` arguments: where to listen, and the stand-in's account, limits and faults.
#[derive(Debug, Args)]
pub struct SandboxArgs {
    /// Where to listen; point WECHAT_API_BASE of a bot at http://this.
    #[arg(long, env = "WXTAG_SANDBOX_BIND", default_value = "127.0.0.1:8090")]
    bind: SocketAddr,
    /// The account, limits and faults.
    #[command(flatten)]
    config: SandboxConfig,
}

/// Serves the stand-in until SIGTERM or SIGINT.
pub async fn run(args: SandboxArgs) -> Result<ExitCode, Failure> {
    let listener = std::net::TcpListener::bind(args.bind)
        .map_err(|e| format!("cannot listen on {} (--bind): {e}", args.bind))?;
    tracing::info!(
        appid = %args.config.appid,
        faults = ?args.config.faults,
        "WeChat stand-in at http://{}: API under /cgi-bin, state at /sandbox/state",
        args.bind
    );
    let server = SandboxHandle::new(args.config).serve(listener)?;
    let handle = server.handle();
    let running = tokio::spawn(server);
    crate::startup::shutdown_signal().await;
    handle.stop(true).await;
    running.await??;
    Ok(ExitCode::SUCCESS)
}
