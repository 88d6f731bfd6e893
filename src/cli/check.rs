//! `wxtag check`: validate `channels/`, print every mistake as `file:line: message`; with
//! `--preview`, also what the rules over time would do to the existing leads now.

use std::process::ExitCode;

use clap::Args;

use super::Failure;
use crate::config::Settings;
use crate::rules::{self, Rules, preview};

/// `wxtag check` options.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Also read every lead in Redis and print, for each rule, tier list, stage and
    /// preference, how many leads it would tag and untag now.
    #[arg(long)]
    pub preview: bool,
}

/// Prints the report (and the preview); exits 1 when there is any error (warnings alone pass).
pub async fn run(settings: &Settings, args: CheckArgs) -> Result<ExitCode, Failure> {
    let dir = &settings.channels_dir;
    let result = Rules::load_with(dir, settings.history_days);
    let (report, ok) = rules::report(dir, &result);
    print!("{report}");
    let Ok(loaded) = result else {
        return Ok(ExitCode::FAILURE);
    };
    if args.preview {
        let (store, local) = super::sync::open_store(settings).await?;
        let now = settings.clock.now();
        let outcome = preview::preview(&[&loaded.rules], &store, now, None).await;
        if let Some(crate::redis_server::Local::Owned(redis)) = local {
            redis.shutdown().await;
        }
        for preview in outcome? {
            print!("{}", preview::render(&preview));
        }
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
