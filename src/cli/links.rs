//! `wxtag links rotate-key`: a new key signs the tracked links sent from now on, while every
//! older key keeps verifying the links already out (so no lead's link breaks). A running
//! `serve` picks the new key up within `store::key_ring::REFRESH`.

use std::process::ExitCode;

use clap::Subcommand;

use super::Failure;
use super::sync::open_store;
use crate::config::Settings;
use crate::links::KeyRing;
use crate::redis_server::Local;

/// What to do with the tracked links' signing keys.
#[derive(Debug, Subcommand)]
pub enum LinksCommand {
    /// Make a new signing key current; links already sent keep working.
    RotateKey,
}

/// Runs a links command against the account's Redis.
pub async fn run(settings: &Settings, command: LinksCommand) -> Result<ExitCode, Failure> {
    let (store, local) = open_store(settings).await?;
    let result = match command {
        LinksCommand::RotateKey => KeyRing::default().rotate(&store).await,
    };
    if let Some(Local::Owned(redis)) = local {
        redis.shutdown().await;
    }
    let id = result.map_err(|e| format!("cannot rotate the link key: {e}"))?;
    println!(
        "link key {id} now signs new links; older keys still verify the links already sent \
         (serve picks it up within {} s)",
        crate::store::key_ring::REFRESH.as_secs()
    );
    Ok(ExitCode::SUCCESS)
}
