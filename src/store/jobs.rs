//! Bulk jobs in Redis: a job's definition and progress, the list of recent jobs, and the
//! lease one process holds while it works on a job.

use std::sync::LazyLock;

use redis::{AsyncCommands, Script};
use serde::{Deserialize, Serialize};

use super::{Store, StoreError};

static SET_JOB_STATE: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("lua/set_job_state.lua")));

/// How many jobs are remembered (the newest): 100.
const JOBS_KEPT: isize = 100;

/// How long an ended job's record is kept.
pub const ENDED_JOB_TTL_SECS: u64 = 30 * 86_400;

/// What a bulk tagging job does, as it was started.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobRecord {
    /// The segment it tags.
    pub segment: String,
    /// Tags to add to every member.
    pub add: Vec<String>,
    /// Tags to remove from every member.
    pub remove: Vec<String>,
    /// Who started it (a credential name).
    pub by: String,
    /// The snapshot of members it works through.
    pub snapshot: String,
    /// How many members the snapshot holds.
    pub total: u64,
    /// When it started (unix seconds).
    pub created: i64,
    /// One byte per tag of `add` then `remove`, `1` when an automation starts on its change
    /// (fixed when the job starts, as its tags are); absent in jobs of older versions.
    #[serde(default)]
    pub watched: String,
}

/// A job's record and where it stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobProgress {
    /// What it does.
    pub record: JobRecord,
    /// `running`, `done`, `cancelled` or `failed`.
    pub state: String,
    /// Members worked through.
    pub done: u64,
    /// Why it failed, if it did.
    pub error: Option<String>,
}

impl Store {
    /// Records a new running job, and forgets the oldest past the newest 100.
    pub async fn create_job(&self, id: &str, record: &JobRecord) -> Result<(), StoreError> {
        let json = serde_json::to_string(record).map_err(|e| StoreError::Corrupt {
            key: self.keys.job(id),
            what: e.to_string(),
        })?;
        let () = redis::pipe()
            .hset_multiple(
                self.keys.job(id),
                &[("def", json.as_str()), ("state", "running"), ("done", "0")],
            )
            .ignore()
            .zadd(self.keys.jobs(), id, record.created)
            .ignore()
            .zremrangebyrank(self.keys.jobs(), 0, -JOBS_KEPT - 1)
            .ignore()
            .query_async(&mut self.conn.clone())
            .await?;
        Ok(())
    }

    /// A job's record and progress; `None` when there is no such job (or it was forgotten).
    pub async fn job(&self, id: &str) -> Result<Option<JobProgress>, StoreError> {
        let key = self.keys.job(id);
        let (def, state, done, error): (
            Option<String>,
            Option<String>,
            Option<u64>,
            Option<String>,
        ) = redis::cmd("HMGET")
            .arg(&key)
            .arg(&["def", "state", "done", "error"])
            .query_async(&mut self.conn.clone())
            .await?;
        let (Some(def), Some(state)) = (def, state) else {
            return Ok(None);
        };
        let record = serde_json::from_str(&def).map_err(|e| StoreError::Corrupt {
            key,
            what: e.to_string(),
        })?;
        Ok(Some(JobProgress {
            record,
            state,
            done: done.unwrap_or(0),
            error: error.filter(|e| !e.is_empty()),
        }))
    }

    /// The ids of the remembered jobs, oldest first (at most 100).
    pub async fn job_ids(&self) -> Result<Vec<String>, StoreError> {
        Ok(self.conn.clone().zrange(self.keys.jobs(), 0, -1).await?)
    }

    /// Takes (or renews, for `owner`) the lease on working on a job for `secs`; false when
    /// another process holds it.
    pub async fn lease_job(&self, id: &str, owner: &str, secs: u64) -> Result<bool, StoreError> {
        let key = self.keys.job_lease(id);
        let mut conn = self.conn.clone();
        let taken: Option<String> = redis::cmd("SET")
            .arg(&key)
            .arg(owner)
            .arg("NX")
            .arg("EX")
            .arg(secs)
            .query_async(&mut conn)
            .await?;
        if taken.is_some() {
            return Ok(true);
        }
        let holder: Option<String> = conn.get(&key).await?;
        if holder.as_deref() == Some(owner) {
            let () = conn
                .expire(&key, i64::try_from(secs).unwrap_or(i64::MAX))
                .await?;
            return Ok(true);
        }
        Ok(false)
    }

    /// Records that `n` more members of a job were worked through.
    pub async fn advance_job(&self, id: &str, n: u64) -> Result<(), StoreError> {
        let () = self
            .conn
            .clone()
            .hincr(self.keys.job(id), "done", n)
            .await?;
        Ok(())
    }

    /// Ends a running job as `state` (`done`, `cancelled`, `failed`), with why; false when
    /// it was not running.
    pub async fn end_job(&self, id: &str, state: &str, why: &str) -> Result<bool, StoreError> {
        let changed: i64 = SET_JOB_STATE
            .key(self.keys.job(id))
            .arg(state)
            .arg(why)
            .arg(ENDED_JOB_TTL_SECS)
            .invoke_async(&mut self.conn.clone())
            .await?;
        Ok(changed == 1)
    }

    /// Forgets a snapshot (a job's, once it ended); freed off Redis's main thread.
    pub async fn drop_snapshot(&self, id: &str) -> Result<(), StoreError> {
        let () = self.conn.clone().unlink(self.keys.snapshot(id)).await?;
        Ok(())
    }
}
