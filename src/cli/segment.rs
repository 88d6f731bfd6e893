//! `wxtag segment preview|list|save|delete|export|tag|job`: the segments of the admin API
//! (`/api/segments`, `/api/jobs`) for people who script, against the same Redis.
//!
//! Each command does what its route does, through the same library calls: the same counts
//! and warnings, the same CSV (`admin::export`'s header and rows, streamed page by page from
//! a snapshot), the same refusal of derived tags. `--json` prints the object the route
//! answers. Saving, deleting and starting a job are recorded in the audit list as
//! `cli:$USER` (`cli` when `USER` is unset).
//!
//! A bulk tagging job started here is worked to its end in this process, under its own lease
//! owner, so a `serve` running beside it never works the same step at once. Interrupted
//! (Ctrl-C, or the process killed), the job stays running and resumable: `wxtag segment job
//! ID`, or any `serve`'s scheduler once the lease lapses, finishes it.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Subcommand};
use futures_util::TryStreamExt;

use super::Failure;
use super::sync::open_store;
use crate::admin::{DerivedTag, audit, export, first_derived};
use crate::config::Settings;
use crate::domain::{Clock, SegmentName, TagName, UnixTime};
use crate::redis_server::Local;
use crate::rules::Rules;
use crate::rules::condition::Condition;
use crate::segments::jobs::{self, BulkTags, JobStatus};
use crate::segments::{self, SegmentError};
use crate::store::{Store, rfc3339};

/// What to do with segments.
#[derive(Debug, Subcommand)]
pub enum SegmentCommand {
    /// Count a condition's members without saving it: the count, the time it took, a sample
    /// of members, and warnings (on stderr) for tags and channels the account has never seen.
    Preview {
        /// The condition.
        #[command(flatten)]
        when: WhenArgs,
        /// Print the object `POST /api/segments/preview` answers.
        #[arg(long)]
        json: bool,
    },
    /// List the saved segments: name, members, counted at, updated, by.
    List {
        /// Print the object `GET /api/segments` answers.
        #[arg(long)]
        json: bool,
    },
    /// Save a segment (replacing one of that name) and count it.
    Save {
        /// The segment's name (1 to 64 characters, no `/`).
        name: String,
        /// The condition.
        #[command(flatten)]
        when: WhenArgs,
    },
    /// Delete a saved segment.
    Delete {
        /// The segment's name.
        name: String,
    },
    /// Write a segment's members as CSV: the file `GET /api/segments/{name}/export.csv` gives
    /// (byte-order mark, the columns of `/api/export.csv`, formula-safe cells).
    Export {
        /// The segment's name.
        name: String,
        /// Write to FILE instead of stdout (a file cut off by an error is removed).
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Add and remove tags on every member of a segment (source `segment:<name>`).
    ///
    /// Without --dry-run it starts a job over the members counted now, prints its id, and
    /// works it to the end here with progress (done/total) on stderr. Ctrl-C leaves the job
    /// running and resumable: `wxtag segment job ID` finishes it, and so does a running
    /// `wxtag serve` once the job's 30-second lease lapses. Derived tags (rules, tiers,
    /// stages, preference) are refused.
    Tag {
        /// The segment's name.
        name: String,
        /// Tags to add.
        #[arg(long, num_args = 1.., value_name = "TAG")]
        add: Vec<String>,
        /// Tags to remove.
        #[arg(long, num_args = 1.., value_name = "TAG")]
        remove: Vec<String>,
        /// Only say what it would do: leads, changes, WeChat calls, leads over 20 tags.
        #[arg(long)]
        dry_run: bool,
        /// Print the dry run as the object the API answers.
        #[arg(long, requires = "dry_run")]
        json: bool,
    },
    /// Work a bulk tagging job to its end (one a Ctrl-C left running) and print its state.
    Job {
        /// The job's id, as `wxtag segment tag` printed it.
        id: String,
        /// Print the object `GET /api/jobs/{id}` answers.
        #[arg(long)]
        json: bool,
    },
}

/// Where a condition comes from: exactly one of `--when` and `--file`.
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub struct WhenArgs {
    /// The condition as JSON, e.g. '{"all": ["兴趣:PLC", {"channel": "expo-2026"}]}'.
    #[arg(long, value_name = "JSON")]
    when: Option<String>,
    /// A file holding the condition as JSON; `-` reads it from stdin.
    #[arg(long, value_name = "FILE")]
    file: Option<PathBuf>,
}

/// A condition read and parsed: the JSON as given (a saved segment keeps it) and its tree.
struct Given {
    json: serde_json::Value,
    condition: Condition,
}

impl WhenArgs {
    /// Reads and parses the condition; a mistake names the flag or file and the path inside
    /// the condition.
    fn read(self) -> Result<Given, Failure> {
        let (origin, text) = match (self.when, self.file) {
            (Some(json), _) => ("--when".to_owned(), json),
            (None, Some(path)) if path == Path::new("-") => {
                let mut text = String::new();
                std::io::stdin()
                    .read_to_string(&mut text)
                    .map_err(|e| format!("--file -: cannot read stdin: {e}"))?;
                ("stdin".to_owned(), text)
            }
            (None, Some(path)) => {
                let text = std::fs::read_to_string(&path)
                    .map_err(|e| format!("--file {}: cannot read it: {e}", path.display()))?;
                (path.display().to_string(), text)
            }
            (None, None) => return Err("give the condition: --when JSON or --file FILE".into()),
        };
        let json: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| format!("{origin}: not JSON: {e}; write the condition as JSON"))?;
        let condition = segments::parse(&json).map_err(|e| format!("{origin}: {e}"))?;
        Ok(Given { json, condition })
    }
}

/// Who the audit list and jobs name for these commands: `cli:$USER`, or `cli`.
fn who() -> String {
    match std::env::var("USER") {
        Ok(user) if !user.is_empty() => format!("cli:{user}"),
        _ => "cli".to_owned(),
    }
}

/// A segment error as a person at the shell reads it.
fn failure(error: SegmentError) -> Failure {
    match error {
        SegmentError::NotFound(name) => {
            format!("no segment named {name:?}; `wxtag segment list` shows them").into()
        }
        other => other.into(),
    }
}

/// A segment name from the command line, or a message naming it.
fn segment_name(raw: &str) -> Result<SegmentName, Failure> {
    SegmentName::parse(raw).map_err(|e| format!("segment name {raw:?}: {e}").into())
}

/// Runs a segment command against the account's Redis (`REDIS_URL`, or the local one).
pub async fn run(settings: &Settings, command: SegmentCommand) -> Result<ExitCode, Failure> {
    let (store, local) = open_store(settings).await?;
    let result = act(settings, &store, command).await;
    if let Some(Local::Owned(redis)) = local {
        redis.shutdown().await;
    }
    result
}

async fn act(
    settings: &Settings,
    store: &Store,
    command: SegmentCommand,
) -> Result<ExitCode, Failure> {
    let clock = &settings.clock;
    let rules = || crate::rules::live::load(&settings.channels_dir, settings.history_days);
    match command {
        SegmentCommand::Preview { when, json } => {
            let given = when.read()?;
            let preview =
                segments::preview_with_warnings(store, &rules()?, &given.condition, clock.now())
                    .await?;
            if json {
                println!("{}", serde_json::to_string(&preview)?);
                return Ok(ExitCode::SUCCESS);
            }
            for warning in &preview.warnings {
                eprintln!("warning: {warning}");
            }
            let bound = if preview.complete { "" } else { "at least " };
            println!("{bound}{} leads ({} ms)", preview.count, preview.took_ms);
            if !preview.complete {
                eprintln!(
                    "warning: the count stopped after {} candidates; narrow the condition with \
                     a tag or a channel for an exact count",
                    segments::MAX_CANDIDATES
                );
            }
            for openid in &preview.sample {
                println!("{openid}");
            }
        }
        SegmentCommand::List { json } => list(store, json).await?,
        SegmentCommand::Save { name, when } => {
            let name = segment_name(&name)?;
            let given = when.read()?;
            let rules = rules()?;
            let now = clock.now();
            for warning in segments::warnings(store, &rules, &given.condition).await? {
                eprintln!("warning: {warning}");
            }
            let by = who();
            let (saved, found) = segments::save(store, &rules, &name, given.json, &by, now)
                .await
                .map_err(failure)?;
            audit::record(store, now, &by, "segment.save", name.as_str()).await;
            println!(
                "segment {:?} saved: {} members ({} ms)",
                saved.name.as_str(),
                found.count,
                found.took_ms()
            );
        }
        SegmentCommand::Delete { name } => {
            let name = segment_name(&name)?;
            if !segments::delete(store, &name).await? {
                return Err(failure(SegmentError::NotFound(name.to_string())));
            }
            audit::record(store, clock.now(), &who(), "segment.delete", name.as_str()).await;
            println!("segment {:?} deleted", name.as_str());
        }
        SegmentCommand::Export { name, output } => {
            let name = segment_name(&name)?;
            export_csv(store, &rules()?, clock, &name, output.as_deref()).await?;
        }
        SegmentCommand::Tag {
            name,
            add,
            remove,
            dry_run,
            json,
        } => {
            let name = segment_name(&name)?;
            let rules = rules()?;
            let tags = bulk_tags(&rules, &add, &remove)?;
            let now = clock.now();
            if dry_run {
                let dry = jobs::dry_run(store, &rules, &name, &tags, now)
                    .await
                    .map_err(failure)?;
                if json {
                    println!("{}", serde_json::to_string(&dry)?);
                } else {
                    println!("leads: {}", dry.leads);
                    println!("tag changes: {}", dry.changes);
                    println!("wechat calls: {}", dry.wechat_calls);
                    println!("leads over WeChat's 20 tags: {}", dry.over_20);
                }
                return Ok(ExitCode::SUCCESS);
            }
            let by = who();
            let id = jobs::start(store, &rules, &name, &tags, &by, now)
                .await
                .map_err(failure)?;
            audit::record(store, now, &by, "segment.tags", name.as_str()).await;
            // The id first, so a script has it even if the run is interrupted.
            println!("{id}");
            std::io::stdout().flush()?;
            eprintln!(
                "job {id} started by {by}; Ctrl-C leaves it resumable (`wxtag segment job {id}`)"
            );
            let status = work_to_end(store, clock, &id).await?;
            ended(&id, &status)?;
        }
        SegmentCommand::Job { id, json } => {
            let status = work_to_end(store, clock, &id).await?;
            if json {
                println!("{}", serde_json::to_string(&status)?);
            }
            ended(&id, &status)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `segment list`: a table, or the API's object.
async fn list(store: &Store, json: bool) -> Result<(), Failure> {
    let listed = segments::list(store).await.map_err(failure)?;
    if json {
        println!(
            "{}",
            serde_json::to_string(&serde_json::json!({ "segments": listed }))?
        );
        return Ok(());
    }
    println!("name\tmembers\tcounted at\tupdated\tby");
    for segment in &listed {
        println!(
            "{}\t{}\t{}\t{}\t{}",
            segment.name.as_str(),
            segment
                .members
                .map_or_else(|| "not counted".to_owned(), |n| n.to_string()),
            segment.counted_at.as_deref().unwrap_or("-"),
            segment.updated,
            segment.by
        );
    }
    Ok(())
}

/// The tags of `segment tag`, refused as the API refuses them: nothing to do, a tag on both
/// sides, a derived tag.
fn bulk_tags(rules: &Rules, add: &[String], remove: &[String]) -> Result<BulkTags, Failure> {
    let parse = |flag: &str, raw: &[String]| -> Result<Vec<TagName>, Failure> {
        raw.iter()
            .map(|t| TagName::parse(t).map_err(|e| format!("{flag} {t:?}: {e}").into()))
            .collect()
    };
    let tags = BulkTags {
        add: parse("--add", add)?,
        remove: parse("--remove", remove)?,
    };
    if tags.add.is_empty() && tags.remove.is_empty() {
        return Err("nothing to do: give --add TAG… or --remove TAG…".into());
    }
    if let Some(both) = tags.add.iter().find(|t| tags.remove.contains(t)) {
        return Err(format!(
            "--add and --remove both name {:?}; give it once",
            both.as_str()
        )
        .into());
    }
    if let Some(tag) = first_derived(rules, &tags.add, &tags.remove) {
        let flag = if tags.add.contains(tag) {
            "--add"
        } else {
            "--remove"
        };
        return Err(format!("{flag}: {}", DerivedTag { tag, by: None }).into());
    }
    Ok(tags)
}

/// Writes the segment's CSV to `output` (stdout for `None`), page by page from its snapshot.
async fn export_csv(
    store: &Store,
    rules: &Rules,
    clock: &Clock,
    name: &SegmentName,
    output: Option<&Path>,
) -> Result<(), Failure> {
    let (snapshot, at) = segments::current_snapshot(store, rules, name, clock.now())
        .await
        .map_err(failure)?;
    let (sink, target): (Box<dyn Write>, String) = match output {
        Some(path) => {
            let file = std::fs::File::create(path)
                .map_err(|e| format!("-o {}: cannot create it: {e}", path.display()))?;
            (Box::new(file), path.display().to_string())
        }
        None => (Box::new(std::io::stdout()), "stdout".to_owned()),
    };
    let mut out = std::io::BufWriter::new(sink);
    let written = async {
        out.write_all(export::HEAD.as_bytes())?;
        let mut members = 0;
        let pages = segments::snapshot_leads(store.clone(), snapshot);
        futures_util::pin_mut!(pages);
        while let Some(leads) = pages.try_next().await.map_err(failure)? {
            out.write_all(export::rows(&leads).as_bytes())?;
            members += leads.len();
        }
        out.flush()?;
        Ok::<_, Failure>(members)
    }
    .await;
    match written {
        Ok(members) => {
            eprintln!(
                "{members} members of {:?} (counted at {}) written to {target}",
                name.as_str(),
                rfc3339(UnixTime(at))
            );
            Ok(())
        }
        Err(error) => {
            let Some(path) = output else {
                return Err(format!("export cut off: {error}").into());
            };
            drop(out);
            let removed = match std::fs::remove_file(path) {
                Ok(()) => "removed",
                Err(_) => "left incomplete",
            };
            Err(format!("export cut off: {error}; {target} {removed}").into())
        }
    }
}

/// How long to wait before looking again while another process holds the job.
const HELD_WAIT: Duration = Duration::from_secs(1);

/// Works job `id` to its end in this process, printing `done/total` on stderr as it goes;
/// waits while another process holds it. Ctrl-C stops here and leaves the job resumable.
async fn work_to_end(store: &Store, clock: &Clock, id: &str) -> Result<JobStatus, Failure> {
    let owner = format!("cli-{:016x}", rand::random::<u64>());
    let work = async {
        let mut shown = None;
        let mut waiting = false;
        loop {
            let worked = jobs::work_job(store, id, &owner, 1, clock.now()).await?;
            let Some(status) = jobs::status(store, id).await? else {
                return Err(Failure::from(format!(
                    "no job {id}; `wxtag segment tag` prints the id of the job it starts"
                )));
            };
            if shown != Some(status.done) {
                eprintln!("{}/{}", status.done, status.total);
                shown = Some(status.done);
            }
            if status.state != "running" {
                return Ok(status);
            }
            if worked.steps == 0 {
                if !waiting {
                    eprintln!("another process (a `wxtag serve`?) is working job {id}; waiting");
                    waiting = true;
                }
                tokio::time::sleep(HELD_WAIT).await;
            }
        }
    };
    tokio::select! {
        status = work => status,
        _ = tokio::signal::ctrl_c() => Err(format!(
            "interrupted: job {id} is still running and resumable; `wxtag segment job {id}` \
             finishes it, as does a running `wxtag serve` once its {}-second lease lapses",
            jobs::LEASE_SECS
        )
        .into()),
    }
}

/// Success for a job that is done; a failure saying how it ended otherwise.
fn ended(id: &str, status: &JobStatus) -> Result<(), Failure> {
    match status.state.as_str() {
        "done" => {
            eprintln!(
                "job {id} done: {} of {} members of {:?} tagged",
                status.done, status.total, status.segment
            );
            Ok(())
        }
        state => Err(format!(
            "job {id} {state} after {} of {} members{}",
            status.done,
            status.total,
            status
                .error
                .as_deref()
                .map(|e| format!(": {e}"))
                .unwrap_or_default()
        )
        .into()),
    }
}
