//! Logging with `tracing`: one line per request, structured fields, never a secret or a body.

use std::io::IsTerminal;

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
