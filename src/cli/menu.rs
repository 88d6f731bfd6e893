//! `wxtag menu push [--dry-run]` and `wxtag menu try OPENID`: the personalised menus of
//! `channels/` published to WeChat, and which menu one lead gets.

use std::process::ExitCode;

use clap::Subcommand;

use super::Failure;
use super::sync::{connect, open_store};
use crate::config::Settings;
use crate::domain::OpenId;
use crate::menus::{self, MenuError};
use crate::redis_server::Local;
use crate::rules::{self, Menus, Rules};

/// `wxtag menu` commands.
#[derive(Debug, Subcommand)]
pub enum MenuCommand {
    /// Check the menus as `wxtag check` does, then publish the default menu and the
    /// conditional menus (everything on WeChat is replaced); nothing is published when a
    /// check fails.
    Push {
        /// Print the calls as JSON (in order) instead of making them.
        #[arg(long)]
        dry_run: bool,
    },
    /// Print the menu WeChat shows a lead (trymatch) and which [[menu.for]] it is.
    Try {
        /// The lead's openid.
        openid: String,
    },
}

/// Runs a `wxtag menu` command.
pub async fn run(settings: &Settings, command: MenuCommand) -> Result<ExitCode, Failure> {
    let dir = &settings.channels_dir;
    let result = Rules::load_with(dir, settings.history_days);
    let menus = match (&command, result) {
        (_, Ok(loaded)) => loaded.rules.menus().clone(),
        (MenuCommand::Push { .. }, failed @ Err(_)) => {
            let (report, _) = rules::report(dir, &failed);
            print!("{report}");
            eprintln!("error: the channels folder has mistakes (above); nothing was published");
            return Ok(ExitCode::FAILURE);
        }
        (MenuCommand::Try { .. }, Err(failed)) => return Err(failed.into()),
    };
    match command {
        MenuCommand::Push { dry_run: true } => dry_run(settings, &menus).await,
        MenuCommand::Push { dry_run: false } => push(settings, &menus).await,
        MenuCommand::Try { openid } => try_lead(settings, &menus, &openid).await,
    }
}

/// Prints the calls a push would make, with the WeChat ids the menu tags have now.
async fn dry_run(settings: &Settings, menus: &Menus) -> Result<ExitCode, Failure> {
    if menus.default.is_none() {
        return Err(MenuError::NoMenu.into());
    }
    let (store, local) = open_store(settings).await?;
    let ids = menus::menu_tag_ids(&store, menus).await;
    if let Some(Local::Owned(redis)) = local {
        redis.shutdown().await;
    }
    let plan = menus::plan_json(menus, &ids?);
    println!("{}", serde_json::to_string_pretty(&plan)?);
    Ok(ExitCode::SUCCESS)
}

async fn push(settings: &Settings, menus: &Menus) -> Result<ExitCode, Failure> {
    let connected = connect(settings).await?;
    let result = menus::publish(&connected.store, connected.worker.client(), menus).await;
    connected.close().await;
    let published = result?;
    println!(
        "published the default menu and {} conditional menus ({} wechat calls)",
        published.menus.len(),
        published.calls
    );
    for (menu, conditional) in published.menus.iter().zip(&menus.conditional) {
        println!(
            "  {} → menuid {} ({})",
            menu.tag, menu.menuid, conditional.at
        );
    }
    Ok(ExitCode::SUCCESS)
}

async fn try_lead(settings: &Settings, menus: &Menus, openid: &str) -> Result<ExitCode, Failure> {
    let openid = OpenId::parse(openid).map_err(|e| format!("{openid:?}: {e}"))?;
    let connected = connect(settings).await?;
    let result = menus::try_lead(connected.worker.client(), menus, &openid).await;
    connected.close().await;
    let tried = result.map_err(|e| format!("wechat did not say which menu {openid} gets: {e}"))?;
    print!("{openid} gets {}", tried.describe());
    Ok(ExitCode::SUCCESS)
}
