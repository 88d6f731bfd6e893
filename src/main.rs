//! The `wxtag` binary: parse the command line, set up logging, hand off to [`wxtag::cli`].

use clap::Parser;

/// mimalloc instead of the system allocator: the request path allocates a lot of small,
/// short-lived buffers, and glibc's malloc was a fifth of serve's time under load.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = wxtag::cli::Cli::parse();
    wxtag::telemetry::init(std::io::stderr);
    wxtag::cli::run(cli).await
}
