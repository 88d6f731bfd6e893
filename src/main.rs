//! The `wxtag` binary: parse the command line, set up logging, hand off to [`wxtag::cli`].

use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = wxtag::cli::Cli::parse();
    // Held until main returns, so every queued log line is flushed on exit.
    let _log = wxtag::telemetry::init_non_blocking(std::io::stderr());
    wxtag::cli::run(cli).await
}
