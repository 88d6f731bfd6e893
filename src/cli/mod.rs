//! The `wxtag` commands. Each parses its arguments here and calls into the library.

mod check;
mod links;
mod menu;
mod qr;
mod sandbox;
mod segment;
mod send;
mod serve;
mod sync;
mod token;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::Settings;

pub use check::CheckArgs;
pub use links::LinksCommand;
pub use menu::MenuCommand;
pub use qr::QrArgs;
pub use segment::{SegmentCommand, WhenArgs};
pub use send::SendArgs;
pub use token::TokenCommand;

/// wxtag: WeChat official-account tagging for B2B leads.
#[derive(Debug, Parser)]
#[command(version, about, long_about = None)]
pub struct Cli {
    /// The account (AppID) to act on; today it must be the configured WECHAT_APPID.
    /// `token create` binds the new credential to it.
    #[arg(long, global = true, value_name = "APPID")]
    pub account: Option<String>,
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
    Check(CheckArgs),
    /// Act as WeChat toward a running bot: sign, encrypt in safe mode, POST, print the reply.
    Send(SendArgs),
    /// Run the WeChat API stand-in alone, with WeChat's limits, error codes and fault injection.
    Sandbox(sandbox::SandboxArgs),
    /// One reconcile pass against WeChat: create missing tags, push every lead's tags, import
    /// tags staff made in the WeChat console.
    Sync,
    /// Create a channel's QR code through the WeChat API and render it to PNG locally.
    Qr(QrArgs),
    /// Named credentials of the admin API and dashboard: create, list, revoke.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Segments for scripts: preview, list, save, delete, export (CSV), tag (bulk jobs).
    #[command(subcommand)]
    Segment(SegmentCommand),
    /// Tracked links' signing keys: rotate-key makes a new one sign, old links keep working.
    #[command(subcommand)]
    Links(LinksCommand),
    /// Personalised menus: push publishes `[menu]` and `[[menu.for]]`, try shows a lead's menu.
    #[command(subcommand)]
    Menu(MenuCommand),
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
    if let Some(account) = &cli.account
        && *account != settings.account.appid
    {
        eprintln!(
            "error: --account {account}: this wxtag serves one account, {} (WECHAT_APPID); \
             leave --account out, or use {}",
            settings.account.appid, settings.account.appid
        );
        return ExitCode::from(2);
    }
    let result = match cli.command {
        Command::Serve => serve::run(settings).await,
        Command::Check(args) => check::run(&settings, args).await,
        Command::Send(args) => send::run(&settings, args).await,
        Command::Sandbox(args) => sandbox::run(args).await,
        Command::Sync => sync::run(&settings).await,
        Command::Qr(args) => qr::run(&settings, args).await,
        Command::Token(command) => token::run(&settings, cli.account, command).await,
        Command::Segment(command) => segment::run(&settings, command).await,
        Command::Links(command) => links::run(&settings, command).await,
        Command::Menu(command) => menu::run(&settings, command).await,
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}
