//! The `wxtag` commands. Each parses its arguments here and calls into the library.

mod check;
mod sandbox;
mod send;
mod serve;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::Settings;

pub use send::SendArgs;

/// wxtag: WeChat official-account tagging for B2B leads.
#[derive(Debug, Parser)]
#[command(version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the webhook, admin API and sync worker (sandbox mode without WECHAT_APPID).
    Serve,
    /// Validate the channel rule files and print every mistake as file:line: message.
    Check,
    /// Act as WeChat toward a running bot: sign, encrypt in safe mode, POST, print the reply.
    Send(SendArgs),
    /// Run the WeChat API stand-in alone, with WeChat's limits, error codes and fault injection.
    Sandbox(sandbox::SandboxArgs),
}

/// A command's failure, printed as `error: …` with exit code 1.
pub type Failure = Box<dyn std::error::Error + Send + Sync>;

/// Runs a parsed command line and returns the process exit code.
pub async fn run(cli: Cli) -> ExitCode {
    let settings = match Settings::from_env() {
        Ok(settings) => settings,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(2);
        }
    };
    let result = match cli.command {
        Command::Serve => serve::run(settings).await,
        Command::Check => check::run(&settings),
        Command::Send(args) => send::run(&settings, args).await,
        Command::Sandbox(args) => sandbox::run(args).await,
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}
