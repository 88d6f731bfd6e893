//! The durability check at start: does Redis keep every event wxtag answered `success` for?
//!
//! WeChat does not retry a push answered `success`, so an event lost in a crash afterwards
//! is lost for good. That holds only with the append-only file on and fsynced on every write
//! (`appendonly yes`, `appendfsync always`). wxtag reads the settings with `CONFIG GET`, or
//! `INFO persistence` where a managed Redis forbids `CONFIG` (it shows the AOF but not the
//! fsync policy). In [`Durability::Strict`] a setting that can lose events, or one that
//! cannot be read, stops start-up with the fix; [`Durability::Relaxed`] accepts the loss.

use redis::aio::ConnectionLike;
use thiserror::Error;

/// Whether wxtag insists on a Redis that never loses an answered event (`WXTAG_DURABILITY`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// Refuse to start unless Redis fsyncs the append-only file on every write (the default).
    #[default]
    Strict,
    /// Start on any Redis, accepting that a crash may lose events answered `success`.
    Relaxed,
}

impl Durability {
    /// The mode as `WXTAG_DURABILITY`, `/healthz` and the log spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Durability::Strict => "strict",
            Durability::Relaxed => "relaxed",
        }
    }

    /// Parses `WXTAG_DURABILITY`'s value.
    pub fn parse(raw: &str) -> Result<Self, String> {
        match raw.trim() {
            "strict" => Ok(Durability::Strict),
            "relaxed" => Ok(Durability::Relaxed),
            other => Err(format!(
                "{other:?} is not a durability mode; use strict (the default: refuse a Redis \
                 that can lose events) or relaxed (accept that loss)"
            )),
        }
    }
}

/// What Redis said about its persistence; `None` where it would not say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Persistence {
    /// Whether the append-only file is on.
    pub appendonly: Option<bool>,
    /// The AOF fsync policy: `always`, `everysec` or `no`.
    pub appendfsync: Option<String>,
    /// The server's version, e.g. `7.0.15`.
    pub version: String,
}

impl Persistence {
    /// What was found, for `/healthz` and the start-up log, e.g.
    /// `appendonly yes, appendfsync always (Redis 7.0.15)`.
    pub fn summary(&self) -> String {
        let appendonly = match self.appendonly {
            Some(true) => "yes",
            Some(false) => "no",
            None => "unknown",
        };
        let appendfsync = self.appendfsync.as_deref().unwrap_or("unknown");
        format!(
            "appendonly {appendonly}, appendfsync {appendfsync} (Redis {})",
            self.version
        )
    }

    /// Why an event answered `success` could be lost, with the fix; `None` when it cannot.
    pub fn risk(&self) -> Option<String> {
        let relax = "or set WXTAG_DURABILITY=relaxed if you accept losing events in a crash";
        match (self.appendonly, self.appendfsync.as_deref()) {
            (Some(false), _) => Some(format!(
                "redis has appendonly no: events wxtag answered `success` for are lost if \
                 Redis crashes, and WeChat never resends them; run CONFIG SET appendonly yes \
                 and CONFIG SET appendfsync always (and put both in redis.conf), {relax}"
            )),
            (None, _) => Some(format!(
                "cannot read redis's appendonly setting (CONFIG GET and INFO persistence \
                 refused); make sure the server has appendonly yes and appendfsync always, \
                 {relax}"
            )),
            (Some(true), Some("always")) => None,
            (Some(true), None) => Some(format!(
                "cannot read redis's appendfsync setting (CONFIG GET is refused, and INFO \
                 persistence does not show it); allow CONFIG GET for wxtag's user and make \
                 sure the server has appendfsync always, {relax}"
            )),
            (Some(true), Some(policy)) => Some(format!(
                "redis has appendfsync {policy}: an event answered `success` can be lost in \
                 the last second before a crash; run CONFIG SET appendfsync always (and put \
                 it in redis.conf), {relax}{}",
                if version_at_least(&self.version, (7, 2)) {
                    format!(
                        ". (This Redis {} has WAITAOF, which would make everysec safe; wxtag \
                         does not use it yet.)",
                        self.version
                    )
                } else {
                    format!(
                        ". (Redis 7.2 and later have WAITAOF, which would make everysec safe; \
                         this one is {}.)",
                        self.version
                    )
                }
            )),
        }
    }
}

/// True when `version` (`major.minor.patch`) is at least `want`.
fn version_at_least(version: &str, want: (u32, u32)) -> bool {
    let mut parts = version.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    let major = parts.next().unwrap_or(0);
    let minor = parts.next().unwrap_or(0);
    (major, minor) >= want
}

/// Why start-up stops.
#[derive(Debug, Error)]
pub enum DurabilityError {
    /// Redis could lose an answered event, or would not say; the message has the fix.
    #[error("{0}")]
    Unsafe(String),
    /// Redis did not answer.
    #[error("cannot read redis's persistence settings: {0}")]
    Redis(#[from] redis::RedisError),
}

/// Reads Redis's persistence settings.
pub async fn read(conn: &mut impl ConnectionLike) -> Result<Persistence, redis::RedisError> {
    let server: String = redis::cmd("INFO").arg("server").query_async(conn).await?;
    let version = info_field(&server, "redis_version")
        .unwrap_or("unknown")
        .to_owned();
    let config = redis::cmd("CONFIG")
        .arg("GET")
        .arg("append*")
        .query_async::<Vec<(String, String)>>(conn)
        .await;
    if let Ok(config) = config {
        let get = |name: &str| {
            config
                .iter()
                .find(|(field, _)| field == name)
                .map(|(_, value)| value.clone())
        };
        return Ok(Persistence {
            appendonly: get("appendonly").map(|v| v == "yes"),
            appendfsync: get("appendfsync"),
            version,
        });
    }
    let persistence: Option<String> = redis::cmd("INFO")
        .arg("persistence")
        .query_async(conn)
        .await
        .ok();
    Ok(Persistence {
        appendonly: persistence
            .as_deref()
            .and_then(|info| info_field(info, "aof_enabled"))
            .map(|v| v == "1"),
        appendfsync: None,
        version,
    })
}

/// Reads the settings and, in strict mode, refuses those that can lose an answered event.
/// In relaxed mode a risk is logged as a warning.
pub async fn check(
    conn: &mut impl ConnectionLike,
    mode: Durability,
) -> Result<Persistence, DurabilityError> {
    let found = read(conn).await?;
    match (found.risk(), mode) {
        (Some(risk), Durability::Strict) => Err(DurabilityError::Unsafe(format!(
            "refusing to start (WXTAG_DURABILITY=strict): {risk}"
        ))),
        (Some(risk), Durability::Relaxed) => {
            tracing::warn!("WXTAG_DURABILITY=relaxed, starting anyway: {risk}");
            Ok(found)
        }
        (None, _) => Ok(found),
    }
}

/// The value of `name:` in an `INFO` answer.
fn info_field<'a>(info: &'a str, name: &str) -> Option<&'a str> {
    info.lines().find_map(|line| {
        line.strip_prefix(name)
            .and_then(|rest| rest.strip_prefix(':'))
            .map(str::trim)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(appendonly: Option<bool>, appendfsync: Option<&str>, version: &str) -> Persistence {
        Persistence {
            appendonly,
            appendfsync: appendfsync.map(str::to_owned),
            version: version.to_owned(),
        }
    }

    #[test]
    fn only_an_aof_fsynced_always_is_safe() {
        assert_eq!(found(Some(true), Some("always"), "7.0.15").risk(), None);
        for unsafe_ in [
            found(Some(false), Some("always"), "7.0.15"),
            found(Some(true), Some("everysec"), "7.0.15"),
            found(Some(true), Some("no"), "7.0.15"),
            found(Some(true), None, "7.0.15"),
            found(None, None, "7.0.15"),
        ] {
            let risk = unsafe_.risk().expect("a risk");
            assert!(risk.contains("WXTAG_DURABILITY=relaxed"), "{risk}");
        }
    }

    #[test]
    fn waitaof_is_mentioned_by_version() {
        let old = found(Some(true), Some("everysec"), "7.0.15")
            .risk()
            .unwrap();
        assert!(old.contains("Redis 7.2 and later"), "{old}");
        let new = found(Some(true), Some("everysec"), "7.2.4").risk().unwrap();
        assert!(new.contains("This Redis 7.2.4 has WAITAOF"), "{new}");
    }

    #[test]
    fn info_fields_are_found_by_exact_name() {
        let info = "# Persistence\r\naof_enabled_x:7\r\naof_enabled:1\r\n";
        assert_eq!(info_field(info, "aof_enabled"), Some("1"));
        assert_eq!(info_field(info, "missing"), None);
    }

    #[test]
    fn the_mode_parses_from_its_two_spellings() {
        assert_eq!(Durability::parse("strict"), Ok(Durability::Strict));
        assert_eq!(Durability::parse(" relaxed "), Ok(Durability::Relaxed));
        assert!(Durability::parse("yes").is_err());
    }
}
