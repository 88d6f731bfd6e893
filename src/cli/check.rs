//! `wxtag check`: validate `channels/`, print every mistake as `file:line: message`.

use std::process::ExitCode;

use super::Failure;
use crate::config::Settings;
use crate::rules::{self, Rules};

/// Prints the report; exits 1 when there is any error (warnings alone pass).
pub fn run(settings: &Settings) -> Result<ExitCode, Failure> {
    let dir = &settings.channels_dir;
    let result = Rules::load(dir);
    let (report, ok) = rules::report(dir, &result);
    print!("{report}");
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
