//! The `wxtag` binary: parse the command line, set up logging, hand off to [`wxtag::cli`].

use clap::Parser;

/// mimalloc instead of the system allocator: an event allocates and frees many small
/// buffers across threads, and glibc's malloc spent about a quarter of `serve`'s CPU on
/// them (README "Performance"). Built without transparent huge pages, which added about
/// 35 MiB to the peak RSS.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = wxtag::cli::Cli::parse();
    // Held until main returns, so every queued log line is flushed on exit.
    let _log = wxtag::telemetry::init_non_blocking(std::io::stderr());
    wxtag::cli::run(cli).await
}
