//! `wxtag token create|list|revoke`: the named credentials of the admin API and dashboard.
//!
//! A new token is printed once, on stdout alone (so scripts can capture it); Redis keeps only
//! its SHA-256. Making and revoking a credential goes through the audit hook, as `cli` (the
//! operator at the shell holds no credential).

use std::process::ExitCode;

use clap::Subcommand;

use super::Failure;
use super::sync::open_store;
use crate::admin::audit;
use crate::config::Settings;
use crate::domain::{Clock, UnixTime};
use crate::redis_server::Local;
use crate::store::access::{Credential, Role, check_name};
use crate::store::{Store, rfc3339};

/// Who the audit records name for commands run at the shell.
const CLI: &str = "cli";

/// What to do with credentials.
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Make a credential and print its token, once.
    Create {
        /// Who holds it: a person or a system (1-64 of A-Z a-z 0-9 _ . -).
        name: String,
        /// admin (everything), sales (read, edit lead tags), read (no export), ingest.
        #[arg(long, value_parser = Role::parse)]
        role: Role,
    },
    /// List the credentials: name, role, account, created, last used.
    List,
    /// Revoke a credential: its token and its dashboard logins stop working at once.
    Revoke {
        /// The credential's name.
        name: String,
    },
}

/// Runs a token command; `account` is the global `--account`, which binds a new credential
/// to that account.
pub async fn run(
    settings: &Settings,
    account: Option<String>,
    command: TokenCommand,
) -> Result<ExitCode, Failure> {
    let (store, local) = open_store(settings).await?;
    let result = act(&store, settings.clock.clone(), account, command).await;
    if let Some(Local::Owned(redis)) = local {
        redis.shutdown().await;
    }
    result
}

async fn act(
    store: &Store,
    clock: Clock,
    account: Option<String>,
    command: TokenCommand,
) -> Result<ExitCode, Failure> {
    match command {
        TokenCommand::Create { name, role } => {
            check_name(&name)?;
            let credential = Credential {
                name,
                role,
                account,
                created: clock.now().0,
            };
            let Some(token) = store.create_credential(&credential).await? else {
                return Err(format!(
                    "a credential named {:?} exists; revoke it first (`wxtag token revoke {}`) \
                     or pick another name",
                    credential.name, credential.name
                )
                .into());
            };
            audit::record(store, clock.now(), CLI, "token.create", &credential.name).await;
            println!("{token}");
            eprintln!(
                "credential {:?} (role {}) made; this is the only time its token is shown",
                credential.name,
                credential.role.as_str()
            );
        }
        TokenCommand::List => {
            println!("name\trole\taccount\tcreated\tlast used");
            for entry in store.credentials().await? {
                let c = &entry.credential;
                println!(
                    "{}\t{}\t{}\t{}\t{}",
                    c.name,
                    c.role.as_str(),
                    c.account.as_deref().unwrap_or("(every account)"),
                    rfc3339(UnixTime(c.created)),
                    entry
                        .last_used
                        .map_or_else(|| "never".to_owned(), |at| rfc3339(UnixTime(at)))
                );
            }
        }
        TokenCommand::Revoke { name } => {
            if !store.revoke_credential(&name).await? {
                return Err(
                    format!("no credential named {name:?}; `wxtag token list` shows them").into(),
                );
            }
            audit::record(store, clock.now(), CLI, "token.revoke", &name).await;
            println!("credential {name:?} revoked");
        }
    }
    Ok(ExitCode::SUCCESS)
}
