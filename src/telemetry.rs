//! Logging with `tracing`: one line per request, structured fields, never a secret or a body.
//!
//! The binary logs through a non-blocking writer: a request thread only queues its line, and
//! a logging thread writes it, so a slow terminal or pipe never stalls the async threads.
//! When the queue is full (a stuck reader), new lines are dropped rather than waited for.

use std::io::IsTerminal;

use tracing_appender::non_blocking::WorkerGuard;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

/// Installs the global subscriber writing to `sink`, filtered by `RUST_LOG` (default `info`).
///
/// Tests pass `std::io::sink` to stay quiet; `serve` passes `std::io::stderr`. Colours only
/// when stderr is a terminal, so log files and collectors get plain text. Installing twice
/// is harmless: the second call does nothing.
pub fn init<W>(sink: W)
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(sink)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}

/// Installs the global subscriber writing to `sink` through a logging thread.
///
/// Keep the guard for the process's life: dropping it flushes the lines still queued.
pub fn init_non_blocking(sink: impl std::io::Write + Send + 'static) -> WorkerGuard {
    let (writer, guard) = tracing_appender::non_blocking(sink);
    init(writer);
    guard
}
