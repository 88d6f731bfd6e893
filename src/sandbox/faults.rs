//! Fault injection: the unhappy paths of WeChat's API, on demand and reproducibly.
//!
//! Every call to a `/cgi-bin/` endpoint first waits `latency_ms`, then rolls, in this order
//! and each with its own probability: a hang (`timeout_rate`), an HTTP 500 (`http_500_rate`),
//! `errcode -1` (`busy_rate`) and `errcode 45009` (`quota_rate`). The first that comes up is the
//! answer; when none does, the call is served normally. The `/sandbox/` endpoints never fail.

use std::time::Duration;

use rand::RngExt;
use rand::rngs::StdRng;
use serde::{Deserialize, Serialize};

use super::errcode::WxError;

/// How long a hung call waits before it answers (as busy), unless told otherwise.
pub const DEFAULT_HANG_MS: u64 = 30_000;

/// Which faults the sandbox injects; every field is a flag of `wxtag sandbox` and an env var.
///
/// Rates are fractions of calls, from 0 to 1 (the flags refuse anything else; values set
/// through the handle or `POST /sandbox/faults` outside that range act as 0 or 1).
#[derive(Debug, Clone, PartialEq, clap::Args, Serialize, Deserialize)]
#[serde(default)]
pub struct Faults {
    /// Fraction of API calls answered `errcode -1` (system busy).
    #[arg(long, env = "WXTAG_SANDBOX_BUSY_RATE", default_value_t = 0.0, value_parser = parse_rate)]
    pub busy_rate: f64,
    /// Fraction of API calls answered `errcode 45009` (daily quota used up).
    #[arg(long, env = "WXTAG_SANDBOX_QUOTA_RATE", default_value_t = 0.0, value_parser = parse_rate)]
    pub quota_rate: f64,
    /// Fraction of API calls answered with HTTP 500 and no JSON.
    #[arg(long, env = "WXTAG_SANDBOX_HTTP_500_RATE", default_value_t = 0.0, value_parser = parse_rate)]
    pub http_500_rate: f64,
    /// Fraction of API calls that hang for `hang_ms` (longer than any sane client timeout).
    #[arg(long, env = "WXTAG_SANDBOX_TIMEOUT_RATE", default_value_t = 0.0, value_parser = parse_rate)]
    pub timeout_rate: f64,
    /// How long a hung call hangs, in milliseconds, before it answers `errcode -1`.
    #[arg(long, env = "WXTAG_SANDBOX_HANG_MS", default_value_t = DEFAULT_HANG_MS)]
    pub hang_ms: u64,
    /// Milliseconds added to every API call.
    #[arg(long, env = "WXTAG_SANDBOX_LATENCY_MS", default_value_t = 0)]
    pub latency_ms: u64,
    /// Seed for the sandbox's random numbers (faults and tokens), for reproducible runs;
    /// random when unset.
    #[arg(long, env = "WXTAG_SANDBOX_SEED")]
    pub seed: Option<u64>,
}

impl Default for Faults {
    fn default() -> Self {
        Self {
            busy_rate: 0.0,
            quota_rate: 0.0,
            http_500_rate: 0.0,
            timeout_rate: 0.0,
            hang_ms: DEFAULT_HANG_MS,
            latency_ms: 0,
            seed: None,
        }
    }
}

/// Parses a rate flag: a number from 0 to 1.
fn parse_rate(raw: &str) -> Result<f64, String> {
    match raw.trim().parse::<f64>() {
        Ok(rate) if (0.0..=1.0).contains(&rate) => Ok(rate),
        _ => Err(format!(
            "{raw:?} is not a rate: give a fraction of calls from 0 to 1, e.g. 0.1"
        )),
    }
}

/// A fault chosen for one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Fault {
    /// Wait this long, then answer busy.
    Hang(Duration),
    /// Answer HTTP 500.
    Http500,
    /// Answer this errcode.
    Errcode(WxError),
}

impl Fault {
    /// How the fault is counted in the state's call counts.
    pub(super) fn outcome(self) -> String {
        match self {
            Self::Hang(_) => "timeout".to_owned(),
            Self::Http500 => "http_500".to_owned(),
            Self::Errcode(e) => e.code().to_string(),
        }
    }
}

/// What happens to one call: a delay, then perhaps a fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Plan {
    /// Added latency.
    pub(super) latency: Duration,
    /// The fault, if one came up.
    pub(super) fault: Option<Fault>,
}

impl Faults {
    /// Rolls the dice for one call.
    pub(super) fn roll(&self, rng: &mut StdRng) -> Plan {
        let mut hit = |rate: f64| rng.random::<f64>() < rate;
        let fault = if hit(self.timeout_rate) {
            Some(Fault::Hang(Duration::from_millis(self.hang_ms)))
        } else if hit(self.http_500_rate) {
            Some(Fault::Http500)
        } else if hit(self.busy_rate) {
            Some(Fault::Errcode(WxError::Busy))
        } else if hit(self.quota_rate) {
            Some(Fault::Errcode(WxError::DailyQuota))
        } else {
            None
        };
        Plan {
            latency: Duration::from_millis(self.latency_ms),
            fault,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use rand::SeedableRng;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        faults: Faults,
    }

    #[test]
    fn flags_parse_and_rates_outside_zero_to_one_are_refused() {
        let cli = Cli::try_parse_from([
            "x",
            "--busy-rate",
            "0.25",
            "--http-500-rate",
            "1",
            "--latency-ms",
            "5",
            "--seed",
            "7",
        ])
        .unwrap();
        assert_eq!(cli.faults.busy_rate, 0.25);
        assert_eq!(cli.faults.http_500_rate, 1.0);
        assert_eq!(cli.faults.latency_ms, 5);
        assert_eq!(cli.faults.seed, Some(7));
        assert_eq!(cli.faults.hang_ms, DEFAULT_HANG_MS);
        assert!(Cli::try_parse_from(["x", "--quota-rate", "1.5"]).is_err());
        assert!(Cli::try_parse_from(["x", "--timeout-rate", "-0.1"]).is_err());
        assert!(Cli::try_parse_from(["x", "--busy-rate", "NaN"]).is_err());
    }

    #[test]
    fn certain_and_impossible_faults() {
        let mut rng = StdRng::seed_from_u64(1);
        let none = Faults::default();
        assert_eq!(none.roll(&mut rng).fault, None);
        let busy = Faults {
            busy_rate: 1.0,
            ..Faults::default()
        };
        assert_eq!(
            busy.roll(&mut rng).fault,
            Some(Fault::Errcode(WxError::Busy))
        );
        let hang_first = Faults {
            busy_rate: 1.0,
            timeout_rate: 1.0,
            hang_ms: 5,
            ..Faults::default()
        };
        assert_eq!(
            hang_first.roll(&mut rng).fault,
            Some(Fault::Hang(Duration::from_millis(5)))
        );
    }

    #[test]
    fn the_same_seed_gives_the_same_faults() {
        let faults = Faults {
            busy_rate: 0.3,
            quota_rate: 0.3,
            http_500_rate: 0.2,
            ..Faults::default()
        };
        let run = |seed| {
            let mut rng = StdRng::seed_from_u64(seed);
            (0..200)
                .map(|_| faults.roll(&mut rng).fault)
                .collect::<Vec<_>>()
        };
        assert_eq!(run(42), run(42));
        assert_ne!(run(42), run(43));
        let busy = run(42)
            .iter()
            .filter(|f| **f == Some(Fault::Errcode(WxError::Busy)))
            .count();
        assert!((20..100).contains(&busy), "{busy} busy answers of 200");
    }
}
