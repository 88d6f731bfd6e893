//! Keeping the sync worker running: a worker whose task ends or panics while `serve` runs is
//! logged at error level, counted in `wxtag_sync_worker_restarts_total` and started again
//! after a pause that backs off, rather than leaving `serve` running silently without sync.

use std::future::Future;
use std::time::Duration;

use super::{SyncConfig, Worker};
use crate::metrics::Metrics;
use crate::store::Store;
use crate::wechat::client::{ClientError, WeChatAccess};

/// What a sync worker is built from, kept to build a fresh one when the running one dies.
#[derive(Debug, Clone)]
pub struct WorkerParts {
    /// The account's store.
    pub store: Store,
    /// Where WeChat's API is and how to log in.
    pub access: WeChatAccess,
    /// How the worker runs.
    pub config: SyncConfig,
    /// The app's metrics (restarts are counted in `wxtag_sync_worker_restarts_total`).
    pub metrics: Metrics,
}

impl WorkerParts {
    /// A fresh worker from these parts.
    pub fn worker(&self) -> Result<Worker, ClientError> {
        Worker::new(
            self.store.clone(),
            &self.access,
            self.config.clone(),
            self.metrics.clone(),
        )
    }
}

/// The first pause before restarting a dead sync worker; it doubles up to [`RESTART_MAX`].
const RESTART_BASE: Duration = Duration::from_secs(1);

/// The longest pause between restarts of a sync worker that keeps dying.
const RESTART_MAX: Duration = Duration::from_secs(60);

/// Runs `start(stop)` on its own task until `stop` turns true. When the task ends or panics
/// before that, logs it at error level, counts it in `restarts` and starts it again after a
/// pause that doubles from `base` (up to [`RESTART_MAX`]; back to `base` after a run longer
/// than that).
///
/// Restarting beats stopping `serve`: the webhook keeps answering WeChat and storing tags,
/// the outbox keeps what the worker has not synced yet, and a fresh worker drains it.
async fn supervise<F, Fut>(
    mut start: F,
    mut stop: tokio::sync::watch::Receiver<bool>,
    restarts: prometheus::IntCounter,
    base: Duration,
) where
    F: FnMut(tokio::sync::watch::Receiver<bool>) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let mut pause = base;
    loop {
        let started = std::time::Instant::now();
        let ended = tokio::spawn(start(stop.clone())).await;
        if *stop.borrow() {
            return;
        }
        if started.elapsed() > RESTART_MAX {
            pause = base;
        }
        match ended {
            Err(error) if error.is_panic() => tracing::error!(
                "the sync worker panicked; restarting it in {pause:?} (tags wait in the outbox)"
            ),
            _ => tracing::error!(
                "the sync worker stopped on its own; restarting it in {pause:?} (tags wait in \
                 the outbox)"
            ),
        }
        restarts.inc();
        tokio::select! {
            _ = stop.wait_for(|stopped| *stopped) => return,
            () = tokio::time::sleep(pause) => {}
        }
        pause = (pause * 2).min(RESTART_MAX);
    }
}

/// Runs the sync worker under `supervise` until `stop` turns true: the one built at start
/// first, then fresh ones from `parts`.
pub async fn run(first: Worker, parts: WorkerParts, stop: tokio::sync::watch::Receiver<bool>) {
    let mut first = Some(first);
    let restarts = parts.metrics.sync_worker_restarts.clone();
    let start = move |mut stop: tokio::sync::watch::Receiver<bool>| {
        let worker = first.take().map_or_else(|| parts.worker(), Ok);
        async move {
            match worker {
                Ok(worker) => {
                    let ran = worker
                        .run_until_stopped(async move {
                            let _ = stop.wait_for(|stopped| *stopped).await;
                        })
                        .await;
                    if let Err(error) = ran {
                        tracing::error!(%error, "the sync worker gave up: no retry can help");
                    }
                }
                Err(error) => tracing::error!(%error, "cannot build a new sync worker"),
            }
        }
    };
    supervise(start, stop, restarts, RESTART_BASE).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[tokio::test]
    async fn a_worker_that_panics_or_ends_is_restarted_counted_and_stopped_on_shutdown() {
        let restarts = prometheus::IntCounter::new("r", "r").unwrap();
        let runs = Arc::new(AtomicU32::new(0));
        let (running, is_running) = tokio::sync::oneshot::channel::<()>();
        let mut running = Some(running);
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let counted = runs.clone();
        let supervisor = tokio::spawn(supervise(
            move |mut stop: tokio::sync::watch::Receiver<bool>| {
                let run = counted.fetch_add(1, Ordering::SeqCst);
                let running = if run == 2 { running.take() } else { None };
                async move {
                    match run {
                        0 => panic!("an injected worker panic"),
                        1 => {}
                        _ => {
                            if let Some(running) = running {
                                let _ = running.send(());
                            }
                            let _ = stop.wait_for(|s| *s).await;
                        }
                    }
                }
            },
            stopped,
            restarts.clone(),
            Duration::from_millis(1),
        ));
        tokio::time::timeout(Duration::from_secs(10), is_running)
            .await
            .expect("the third run starts")
            .unwrap();
        assert_eq!(restarts.get(), 2, "a panic and an end, each restarted");
        stop.send(true).unwrap();
        tokio::time::timeout(Duration::from_secs(10), supervisor)
            .await
            .expect("the supervisor stops with the app")
            .unwrap();
        assert_eq!(runs.load(Ordering::SeqCst), 3, "no restart after shutdown");
    }
}
