//! Building the app on a listener and running it until shutdown.
//!
//! [`Application::build`] connects to Redis, loads the channel rules and binds the routes on
//! a listener the caller made (port 0 works, so tests run side by side);
//! [`Application::run_until_stopped`] serves until the shutdown future resolves, then lets
//! requests in flight finish. Dependencies are built once here and injected by type. At build
//! it checks that Redis keeps what wxtag answers `success` for ([`crate::store::durability`]);
//! while running it keeps the sync worker going ([`crate::sync::supervisor`]) and runs the
//! scheduler of the rules over time ([`crate::scheduler`]).

use std::future::Future;
use std::net::TcpListener;
use std::path::PathBuf;
use std::time::Duration;

use actix_web::{App, HttpResponse, HttpServer, dev::Server, web};
use thiserror::Error;

use crate::admin::client::TrustedProxies;
use crate::admin::{self, Access, AdminToken};
use crate::automation::Automator;
use crate::config::Account;
use crate::config::PublicUrl;
use crate::domain::Clock;
use crate::links::Links;
use crate::metrics::Metrics;
use crate::oauth::{OAuth, OAuthAccess};
use crate::outreach::Sender;
use crate::rules::LiveRules;
use crate::rules::live::{self, RulesError};
use crate::scheduler::Scheduler;
use crate::store::durability::{self, DurabilityError};
use crate::store::{Durability, Store, StoreError};
use crate::sync::supervisor::{self, WorkerParts};
use crate::sync::{SyncConfig, Worker};
use crate::webhook::{self, Intake, PushWitness};
use crate::wechat::client::ClientError;

/// How long requests in flight may take to finish after a shutdown signal.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Why the app could not start.
#[derive(Debug, Error)]
pub enum StartupError {
    /// Redis could not be reached.
    #[error(
        "cannot connect to redis: {0}; check REDIS_URL, or unset it to run a local redis-server"
    )]
    Redis(#[from] redis::RedisError),
    /// Redis answered but the scripts could not be loaded.
    #[error("cannot prepare redis: {0}")]
    Store(#[from] StoreError),
    /// The channel rules are invalid; every mistake is listed.
    #[error("{0}")]
    Rules(#[from] RulesError),
    /// The listener could not be used.
    #[error("cannot serve on the listener: {0}")]
    Io(#[from] std::io::Error),
    /// The WeChat sync could not be set up.
    #[error("cannot set up the wechat sync: {0}")]
    Sync(#[from] ClientError),
    /// Web authorisation could not be set up.
    #[error("cannot set up web authorisation (WECHAT_OAUTH): {0}")]
    OAuth(String),
    /// Redis could lose events answered `success` (or would not say) in strict mode.
    #[error("{0}")]
    Durability(#[from] DurabilityError),
}

/// The durability mode in force and what Redis said, as `/healthz` shows them.
#[derive(Debug, Clone)]
struct DurabilityReport {
    mode: Durability,
    found: String,
}

/// What the app is built from.
#[derive(Debug)]
pub struct AppConfig {
    /// The official account.
    pub account: Account,
    /// The folder of channel rule files.
    pub channels_dir: PathBuf,
    /// The built-in admin credential's token.
    pub admin_token: AdminToken,
    /// The proxies whose `X-Forwarded-For` and `X-Forwarded-Proto` are believed.
    pub trusted_proxies: TrustedProxies,
    /// Where Redis is.
    pub redis_url: String,
    /// Where the WeChat API is: WeChat's, or the sandbox's in sandbox mode.
    pub api_base: String,
    /// How the sync worker keeping WeChat's tags in step runs; `None` runs no worker.
    pub sync: Option<SyncConfig>,
    /// Whether Redis must keep every event answered `success` (checked at build).
    pub durability: Durability,
    /// wxtag's clock (`WXTAG_CLOCK_OFFSET_SECS`): every part that asks for "now" asks it.
    pub clock: Clock,
    /// How many days of touch history each lead keeps (`WXTAG_HISTORY_DAYS`).
    pub history_days: u32,
    /// Where browsers reach wxtag (`WXTAG_PUBLIC_URL`); `None` sends links untracked.
    pub public_url: Option<PublicUrl>,
    /// Where web authorisation sends browsers (`WECHAT_OAUTH=base`: `WECHAT_OAUTH_BASE`, or
    /// the sandbox's URL in sandbox mode); `None`: off. It needs [`AppConfig::public_url`].
    pub oauth_base: Option<String>,
    /// Told of each push that opens a customer-service window (sandbox mode tells its
    /// stand-in for WeChat); `None` for none.
    pub witness: Option<PushWitness>,
}

/// A built app, bound and ready to run.
///
/// Holds the shared pieces other parts (the sync worker) are started with.
pub struct Application {
    port: u16,
    server: Server,
    rules: LiveRules,
    channels_dir: PathBuf,
    worker: Option<(Worker, WorkerParts)>,
    scheduler: Scheduler,
    automator: Option<Automator>,
}

impl std::fmt::Debug for Application {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Application")
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

impl Application {
    /// Connects to Redis, loads the rules and binds the routes on `listener`.
    pub async fn build(config: AppConfig, listener: TcpListener) -> Result<Self, StartupError> {
        let rules = LiveRules::new(live::load(&config.channels_dir, config.history_days)?);
        let redis = crate::store::client(&config.redis_url)?;
        let mut conn = redis.get_connection_manager().await?;
        let persistence = durability::check(&mut conn, config.durability).await?;
        let durability = web::Data::new(DurabilityReport {
            mode: config.durability,
            found: persistence.summary(),
        });
        tracing::info!(
            durability = config.durability.as_str(),
            redis = %durability.found,
            "redis persistence checked"
        );
        let metrics = Metrics::new();
        let store = Store::new(conn, &config.account.appid)
            .counting_corrupt_leads_in(metrics.corrupt_leads.clone());
        store.load_scripts().await?;

        tracing::info!(
            history_days = config.history_days,
            clock_offset_secs = config.clock.offset_secs(),
            "touch history and clock"
        );
        let scheduler = Scheduler::new(rules.clone(), store.clone(), config.clock.clone());
        let worker = match config.sync {
            Some(sync) => {
                // Its own connection: its pipelines of hundreds of commands never hold up
                // the webhook's or the admin's.
                let conn = redis.get_connection_manager().await?;
                let parts = WorkerParts {
                    access: config.account.wechat_access(&config.api_base),
                    store: Store::new(conn, &config.account.appid)
                        .counting_corrupt_leads_in(metrics.corrupt_leads.clone()),
                    config: SyncConfig {
                        clock: config.clock.clone(),
                        ..sync
                    },
                    metrics: metrics.clone(),
                };
                Some((parts.worker()?, parts))
            }
            None => None,
        };
        let access = web::Data::new(Access::new(
            config.admin_token,
            &config.account.appid,
            config.trusted_proxies,
            listener.local_addr()?,
        ));
        let wechat = web::Data::new(worker.as_ref().map(|(w, _)| w.client().clone()));
        let oauth = match (config.oauth_base, &config.public_url) {
            (None, _) => None,
            (Some(_), None) => {
                return Err(StartupError::OAuth(
                    "it needs WXTAG_PUBLIC_URL, where WeChat sends the browser back".to_owned(),
                ));
            }
            (Some(authorize_base), Some(public_url)) => Some(
                OAuth::new(
                    OAuthAccess {
                        appid: config.account.appid.clone(),
                        secret: config.account.secret(),
                        authorize_base,
                        public_url: public_url.clone(),
                        api_base: config.api_base.clone(),
                    },
                    metrics.clone(),
                )
                .map_err(|e| StartupError::OAuth(e.to_string()))?,
            ),
        };
        let oauth = web::Data::new(oauth);
        // One key ring for the process: every worker's intake and the redirect share it.
        let links = Links::new(config.public_url, config.history_days);
        // The automations run where the sync does: their sends need the WeChat client.
        let automator = worker.as_ref().map(|(worker, _)| {
            let sender = Sender::new(
                store.clone(),
                worker.client().clone(),
                config.account.kind,
                metrics.clone(),
            );
            Automator::new(
                rules.clone(),
                store.clone(),
                config.clock.clone(),
                metrics.clone(),
                sender,
                links.clone(),
            )
        });
        let intake = IntakeFactory {
            redis,
            account: config.account,
            rules: rules.clone(),
            links: links.clone(),
            history_days: config.history_days,
            corrupt_leads: metrics.corrupt_leads.clone(),
            witness: config.witness,
        };
        let store = web::Data::new(store);
        let metrics = web::Data::new(metrics);
        let shared_rules = web::Data::new(rules.clone());
        let rules_folder = web::Data::new(admin::RulesFolder {
            dir: config.channels_dir.clone(),
            history_days: config.history_days,
        });
        let clock = web::Data::new(config.clock);
        let links = web::Data::new(links);
        let port = listener.local_addr()?.port();
        let server = HttpServer::new(move || {
            App::new()
                .wrap_fn(observe)
                .app_data(metrics.clone())
                .app_data(wechat.clone())
                .data_factory(intake.for_worker())
                .app_data(store.clone())
                .app_data(access.clone())
                .app_data(shared_rules.clone())
                .app_data(rules_folder.clone())
                .app_data(durability.clone())
                .app_data(clock.clone())
                .app_data(links.clone())
                .app_data(oauth.clone())
                .configure(webhook::http::routes)
                .configure(admin::routes)
                .route("/healthz", web::get().to(healthz))
                .route("/readyz", web::get().to(healthz))
                .route("/metrics", web::get().to(render_metrics))
        })
        .disable_signals()
        .shutdown_timeout(SHUTDOWN_GRACE.as_secs())
        .listen(listener)?
        .run();
        Ok(Self {
            port,
            server,
            rules,
            channels_dir: config.channels_dir,
            worker,
            scheduler,
            automator,
        })
    }

    /// The port the app listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The rules in force, for reloading them from outside (tests, SIGHUP).
    pub fn rules(&self) -> LiveRules {
        self.rules.clone()
    }

    /// Serves (syncs, and runs the scheduler) until `shutdown` resolves, reloading the rules
    /// on SIGHUP; then
    /// finishes the requests in flight and returns.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()>,
    ) -> std::io::Result<()> {
        let handle = self.server.handle();
        let server = tokio::spawn(self.server);
        let reloader = tokio::spawn(reload_on_sighup(self.rules, self.channels_dir));
        let (stop_sync, sync_stopped) = tokio::sync::watch::channel(false);
        let scheduler = tokio::spawn(self.scheduler.run_until_stopped(sync_stopped.clone()));
        let automator = (self.automator)
            .map(|automator| tokio::spawn(automator.run_until_stopped(sync_stopped.clone())));
        let worker = self
            .worker
            .map(|(worker, parts)| tokio::spawn(supervisor::run(worker, parts, sync_stopped)));
        shutdown.await;
        tracing::info!("shutting down: finishing requests in flight");
        let _ = stop_sync.send(true);
        handle.stop(true).await;
        reloader.abort();
        scheduler.await.map_err(std::io::Error::other)?;
        if let Some(automator) = automator {
            automator.await.map_err(std::io::Error::other)?;
        }
        if let Some(worker) = worker {
            worker.await.map_err(std::io::Error::other)?;
        }
        server.await.map_err(std::io::Error::other)?
    }
}

/// What each HTTP worker builds its [`Intake`] from. Every worker has its own Redis
/// connection, driven on the worker's own thread: an event's round trip to Redis then wakes
/// no other thread, and the workers' scripts reach Redis side by side.
#[derive(Clone)]
struct IntakeFactory {
    redis: redis::Client,
    account: Account,
    rules: LiveRules,
    links: Links,
    history_days: u32,
    corrupt_leads: prometheus::IntCounter,
    witness: Option<PushWitness>,
}

impl IntakeFactory {
    /// The future one worker awaits at its start for its intake.
    fn for_worker(&self) -> impl Fn() -> IntakeFuture + use<> {
        let factory = self.clone();
        move || {
            let factory = factory.clone();
            Box::pin(async move {
                let conn = factory.redis.get_connection_manager().await?;
                let store = Store::new(conn, &factory.account.appid)
                    .counting_corrupt_leads_in(factory.corrupt_leads);
                Ok(Intake::new(factory.account, factory.rules, store)
                    .keeping_history_days(factory.history_days)
                    .linking(factory.links)
                    .witnessed_by(factory.witness))
            })
        }
    }
}

/// A worker's intake being built.
type IntakeFuture =
    std::pin::Pin<Box<dyn Future<Output = Result<Intake, redis::RedisError>> + 'static>>;

/// Reloads the rules on every SIGHUP, keeping the old ones (and logging every mistake) when
/// the new are bad.
async fn reload_on_sighup(rules: LiveRules, dir: PathBuf) {
    let Ok(mut hangups) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
    else {
        tracing::warn!("cannot listen for SIGHUP; rules reload only on restart");
        return;
    };
    while hangups.recv().await.is_some() {
        match rules.reload(&dir).await {
            Ok(()) => tracing::info!(dir = %dir.display(), "channel rules reloaded"),
            Err(error) => {
                tracing::error!("channel rules NOT reloaded, keeping the old ones:\n{error}")
            }
        }
    }
}

/// Counts every request by route pattern and status, and times it.
fn observe<S, B>(
    req: actix_web::dev::ServiceRequest,
    service: &S,
) -> impl Future<Output = Result<actix_web::dev::ServiceResponse<B>, actix_web::Error>> + use<S, B>
where
    S: actix_web::dev::Service<
            actix_web::dev::ServiceRequest,
            Response = actix_web::dev::ServiceResponse<B>,
            Error = actix_web::Error,
        >,
{
    let started = std::time::Instant::now();
    let route = req
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_owned());
    let metrics = req.app_data::<web::Data<Metrics>>().cloned();
    let response = service.call(req);
    async move {
        let response = response.await?;
        if let Some(metrics) = metrics {
            let status = response.status().as_u16().to_string();
            metrics
                .requests
                .with_label_values(&[route.as_str(), status.as_str()])
                .inc();
            metrics
                .request_seconds
                .with_label_values(&[route.as_str()])
                .observe(started.elapsed().as_secs_f64());
        }
        Ok(response)
    }
}

/// `GET /metrics`: Prometheus text, no auth.
async fn render_metrics(metrics: web::Data<Metrics>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(metrics.render())
}

/// `GET /healthz` and `/readyz`: 200 when Redis answers, 503 otherwise; both say the
/// durability mode in force and the persistence Redis had at start.
async fn healthz(store: web::Data<Store>, durability: web::Data<DurabilityReport>) -> HttpResponse {
    let (mut response, status, redis) = if store.ping().await {
        (HttpResponse::Ok(), "ok", "ok")
    } else {
        (
            HttpResponse::ServiceUnavailable(),
            "unavailable",
            "unreachable",
        )
    };
    response.json(serde_json::json!({
        "status": status,
        "redis": redis,
        "durability": durability.mode.as_str(),
        "persistence": durability.found,
    }))
}

/// Resolves on SIGTERM or SIGINT: the shutdown future `serve` runs with.
pub async fn shutdown_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        () = terminate => {},
    }
}
