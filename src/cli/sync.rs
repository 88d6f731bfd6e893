//! `wxtag sync`: one two-way reconcile against WeChat, then the outbox drained; and the
//! connection to Redis and WeChat that `sync` and `qr` share.

use std::process::ExitCode;

use secrecy::ExposeSecret;

use super::Failure;
use crate::config::Settings;
use crate::metrics::Metrics;
use crate::redis_server::{self, Local};
use crate::store::Store;
use crate::sync::{SyncConfig, Worker};

/// WeChat's API, where sandbox mode must not send anything.
const WECHAT_API: &str = "https://api.weixin.qq.com";

/// A sync worker for a one-shot command, and the local Redis it may have started.
pub(super) struct Connected {
    pub(super) worker: Worker,
    /// The account's store the worker uses.
    pub(super) store: Store,
    local: Option<Local>,
}

impl Connected {
    /// Stops the local Redis this command started, if it did.
    pub(super) async fn close(self) {
        if let Some(Local::Owned(redis)) = self.local {
            redis.shutdown().await;
        }
    }
}

/// Connects to Redis (`REDIS_URL`, or the local redis-server, started if need be) and
/// WeChat (`WECHAT_API_BASE`; in sandbox mode it must point at a running `wxtag sandbox`).
pub(super) async fn connect(settings: &Settings) -> Result<Connected, Failure> {
    let account = &settings.account;
    if settings.is_sandbox() && account.api_base == WECHAT_API {
        return Err(
            "WECHAT_APPID is not set (sandbox mode), so there is no WeChat account to talk to: \
             set WECHAT_APPID, WECHAT_APPSECRET and WECHAT_TOKEN, or run `wxtag sandbox` and set \
             WECHAT_API_BASE to its address"
                .into(),
        );
    }
    let (store, local) = open_store(settings).await?;
    let access = account.wechat_access(&account.api_base);
    let config = SyncConfig {
        clock: settings.clock.clone(),
        ..SyncConfig::default()
    };
    let worker = Worker::new(store.clone(), &access, config, Metrics::new())?;
    Ok(Connected {
        worker,
        store,
        local,
    })
}

/// Connects to Redis (`REDIS_URL`, or the local redis-server, started if need be): the
/// account's store, and the local Redis this command may have started.
pub(super) async fn open_store(settings: &Settings) -> Result<(Store, Option<Local>), Failure> {
    let (url, local) = match &settings.redis_url {
        Some(url) => (url.expose_secret().to_owned(), None),
        None => {
            let local = redis_server::attach_or_start(&settings.data_dir.join("redis")).await?;
            (local.url(), Some(local))
        }
    };
    let conn = crate::store::client(url.as_str())?
        .get_connection_manager()
        .await
        .map_err(|e| format!("cannot connect to redis: {e}; check REDIS_URL"))?;
    Ok((Store::new(conn, &settings.account.appid), local))
}

/// Reconciles, drains the outbox of what is now in step, and prints what was done.
pub async fn run(settings: &Settings) -> Result<ExitCode, Failure> {
    let rules = crate::rules::live::load(&settings.channels_dir, settings.history_days)?;
    let rule_tags: Vec<_> = rules.tag_names().cloned().collect();
    let connected = connect(settings).await?;
    let result = reconcile(&connected.worker, &rule_tags).await;
    connected.close().await;
    result
}

async fn reconcile(
    worker: &Worker,
    rule_tags: &[crate::domain::TagName],
) -> Result<ExitCode, Failure> {
    let report = worker.reconcile(rule_tags).await?;
    let mut drained = 0;
    loop {
        let outcome = worker.sync_once().await?;
        drained += outcome.acked;
        if outcome.is_idle() || outcome.acked == 0 {
            break;
        }
    }
    println!(
        "tags: {} created, {} adopted from wechat, {} imported from the wechat console, {} gone from wechat",
        report.tags_created, report.tags_adopted, report.tags_imported, report.tags_forgotten
    );
    println!(
        "leads: {} checked, {} in step with wechat, {} left to the sync worker, {} newly carry a console tag",
        report.leads, report.leads_synced, report.leads_left, report.members_imported
    );
    println!(
        "calls: {} tag calls; {} changes dead-lettered (GET /api/dead-letters); {} outbox entries drained",
        report.calls, report.dead_letters, drained
    );
    for (tag, reason) in &report.unsynced {
        println!("unsynced: {tag}: {reason}");
    }
    Ok(if report.leads_left == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
