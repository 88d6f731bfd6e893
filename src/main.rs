//! The `wxtag` binary: parse the command line, set up logging, hand off to [`wxtag::cli`].

use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = wxtag::cli::Cli::parse();
    wxtag::telemetry::init(std::io::stderr);
    wxtag::cli::run(cli).await
}
