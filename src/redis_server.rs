//! A local `redis-server`, started and supervised by wxtag when no `REDIS_URL` is given.
//!
//! `serve` keeps its data in `./data/redis` with the append-only file on and fsynced on every
//! write, so an event answered `success` survives a crash. The server listens on a unix socket
//! in that folder: a second wxtag process (another `serve`, or `wxtag sync`) finds it there and
//! shares it instead of starting a rival server on the same files. The test helpers use the same
//! code to start a throw-away server on a free TCP port.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use thiserror::Error;
use tokio::process::{Child, Command};

/// How long a fresh server may take to answer its first PING.
const START_DEADLINE: Duration = Duration::from_secs(10);

/// Why a local Redis could not be had.
#[derive(Debug, Error)]
pub enum LocalRedisError {
    /// `redis-server` is not installed.
    #[error(
        "no REDIS_URL is set and redis-server is not on PATH; install Redis \
         (Debian/Ubuntu: apt-get install redis-server, macOS: brew install redis) \
         or set REDIS_URL to a running server, e.g. redis://127.0.0.1:6379"
    )]
    NotInstalled,
    /// The data folder could not be made.
    #[error("cannot create the redis data folder {path}: {source}")]
    DataDir {
        /// The folder.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The process could not be started.
    #[error("cannot start redis-server: {0}")]
    Spawn(std::io::Error),
    /// The process started but never answered.
    #[error("redis-server did not answer within {0:?}; see {1}")]
    NoAnswer(Duration, PathBuf),
}

/// Where the server listens.
#[derive(Debug, Clone)]
pub enum Listen {
    /// A unix socket at this path (no TCP port).
    Unix(PathBuf),
    /// A TCP port on 127.0.0.1.
    Tcp(u16),
}

/// How to run a local server.
#[derive(Debug, Clone)]
pub struct Options {
    /// Its working folder: data files and log.
    pub dir: PathBuf,
    /// Where it listens.
    pub listen: Listen,
    /// Keep data on disk (AOF, fsync always); off for throw-away test servers.
    pub durable: bool,
}

impl Options {
    /// The durable, socket-listening server `serve` runs in `dir`.
    pub fn durable_in(dir: impl Into<PathBuf>) -> Self {
        let dir = dir.into();
        Self {
            listen: Listen::Unix(dir.join("redis.sock")),
            dir,
            durable: true,
        }
    }

    /// The `redis://` or `unix://` URL clients use to reach it.
    pub fn url(&self) -> String {
        match &self.listen {
            Listen::Unix(path) => format!("unix://{}", path.display()),
            Listen::Tcp(port) => format!("redis://127.0.0.1:{port}"),
        }
    }
}

/// A running `redis-server` child process; killed when dropped.
#[derive(Debug)]
pub struct LocalRedis {
    options: Options,
    child: Child,
}

/// The result of [`attach_or_start`]: a server this process owns, or one already running.
#[derive(Debug)]
pub enum Local {
    /// This process started it and must keep it alive.
    Owned(Box<LocalRedis>),
    /// Another process runs it; only the URL is needed.
    Shared(String),
}

impl Local {
    /// The URL to connect to.
    pub fn url(&self) -> String {
        match self {
            Local::Owned(redis) => redis.url(),
            Local::Shared(url) => url.clone(),
        }
    }
}

/// Uses the durable server already running in `dir`, or starts one there.
pub async fn attach_or_start(dir: &Path) -> Result<Local, LocalRedisError> {
    let options = Options::durable_in(absolute_dir(dir)?);
    if answers(&options.url()).await {
        return Ok(Local::Shared(options.url()));
    }
    let redis = LocalRedis::start(options).await?;
    Ok(Local::Owned(Box::new(redis)))
}

/// True when a Redis at `url` answers PING.
async fn answers(url: &str) -> bool {
    let Ok(client) = redis::Client::open(url) else {
        return false;
    };
    match client.get_multiplexed_async_connection().await {
        Ok(mut conn) => redis::cmd("PING")
            .query_async::<String>(&mut conn)
            .await
            .is_ok(),
        Err(_) => false,
    }
}

impl LocalRedis {
    /// Starts a server and waits, with a deadline, until it answers PING.
    pub async fn start(options: Options) -> Result<Self, LocalRedisError> {
        let binary = which("redis-server").ok_or(LocalRedisError::NotInstalled)?;
        let options = Options {
            dir: absolute_dir(&options.dir)?,
            ..options
        };
        let child = spawn(&binary, &options)?;
        let redis = Self { options, child };
        redis.wait_until_answering().await?;
        Ok(redis)
    }

    /// The URL clients use to reach it.
    pub fn url(&self) -> String {
        self.options.url()
    }

    /// The server's process id, while it runs (tests stop and continue it with signals).
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Kills the server outright (SIGKILL, as a crash would) and starts it again on the same
    /// folder and address, waiting with a deadline until it answers: what it had fsynced to
    /// its AOF is all it keeps.
    pub async fn kill_and_restart(&mut self) -> Result<(), LocalRedisError> {
        // Killing a process that already exited fails harmlessly: either way it is gone.
        let _ = self.child.kill().await;
        let binary = which("redis-server").ok_or(LocalRedisError::NotInstalled)?;
        self.child = spawn(&binary, &self.options)?;
        self.wait_until_answering().await
    }

    async fn wait_until_answering(&self) -> Result<(), LocalRedisError> {
        let deadline = tokio::time::Instant::now() + START_DEADLINE;
        while !answers(&self.url()).await {
            if tokio::time::Instant::now() > deadline {
                return Err(LocalRedisError::NoAnswer(START_DEADLINE, self.log_path()));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(())
    }

    /// Its log file.
    pub fn log_path(&self) -> PathBuf {
        self.options.dir.join("redis.log")
    }

    /// Keeps the server running, restarting it if it exits, until `stop` resolves; then
    /// shuts it down cleanly. `serve` runs this beside the app.
    pub async fn supervise_until(mut self, stop: impl std::future::Future<Output = ()>) {
        tokio::pin!(stop);
        loop {
            tokio::select! {
                () = &mut stop => break,
                status = self.child.wait() => {
                    tracing::error!(?status, log = %self.log_path().display(), "redis-server exited; restarting it");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    match which("redis-server").map(|binary| spawn(&binary, &self.options)) {
                        Some(Ok(child)) => self.child = child,
                        Some(Err(error)) => tracing::error!(%error, "cannot restart redis-server"),
                        None => tracing::error!("redis-server is no longer on PATH"),
                    }
                }
            }
        }
        self.shutdown().await;
    }

    /// Asks the server to shut down cleanly (flushing the AOF), then waits for it.
    pub async fn shutdown(mut self) {
        if let Ok(client) = redis::Client::open(self.url())
            && let Ok(mut conn) = client.get_multiplexed_async_connection().await
        {
            // The server closes the connection instead of answering: the error is expected.
            let _ = redis::cmd("SHUTDOWN").query_async::<()>(&mut conn).await;
        }
        if tokio::time::timeout(Duration::from_secs(5), self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
        }
    }
}

/// Creates `dir` if needed and returns it as an absolute path: the server runs inside it,
/// so every path handed to it must not depend on our working directory.
fn absolute_dir(dir: &Path) -> Result<PathBuf, LocalRedisError> {
    let failed = |source| LocalRedisError::DataDir {
        path: dir.to_owned(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(failed)?;
    std::fs::canonicalize(dir).map_err(failed)
}

fn spawn(binary: &Path, options: &Options) -> Result<Child, LocalRedisError> {
    let mut command = Command::new(binary);
    command
        .current_dir(&options.dir)
        .arg("--dir")
        .arg(&options.dir)
        .args([
            "--daemonize",
            "no",
            "--bind",
            "127.0.0.1",
            "--protected-mode",
            "yes",
        ])
        .arg("--logfile")
        .arg(options.dir.join("redis.log"));
    match &options.listen {
        Listen::Unix(path) => {
            let _ = std::fs::remove_file(path);
            command
                .args(["--port", "0", "--unixsocketperm", "700", "--unixsocket"])
                .arg(path);
        }
        Listen::Tcp(port) => {
            command.args(["--port", &port.to_string()]);
        }
    }
    if options.durable {
        command.args(["--appendonly", "yes", "--appendfsync", "always"]);
    } else {
        command.args(["--appendonly", "no", "--save", ""]);
    }
    command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(LocalRedisError::Spawn)
}

/// The first executable called `name` on PATH.
fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}
