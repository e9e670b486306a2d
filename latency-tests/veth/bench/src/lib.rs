//! takt-veth-bench: the pieces of `latency-tests/veth/run.sh` that are not
//! takt-talker / takt-listener themselves: the kernel UDP baseline on the
//! same schedule, the batch-32 pps floods (takt backends and UDP), and a
//! percentile table read from an HdrHistogram interval log so the plot
//! script needs no HDR decoding.

pub mod clocks;
pub mod flood;
pub mod flood_udp;
pub mod payload;
pub mod percentiles;
pub mod ptp_flood;
pub mod report;
pub mod sock;
pub mod udp_listener;
pub mod udp_talker;

use std::path::PathBuf;

/// Exit status: the run ended and its report was written.
pub const EXIT_OK: u8 = 0;
/// A runtime failure (socket, device, file).
pub const EXIT_RUNTIME: u8 = 1;
/// Bad input: a flag or the schedule file.
pub const EXIT_BAD_INPUT: u8 = 2;
/// The backend asked for is not built yet (run.sh records "not built").
pub const EXIT_NOT_BUILT: u8 = 3;

/// The crate's one error type.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("{0}")]
    Schedule(String),
    #[error("{what}: {source}")]
    Sys {
        what: String,
        #[source]
        source: nix::Error,
    },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {reason}")]
    BadLog { path: PathBuf, reason: String },
    #[error(transparent)]
    Driver(#[from] takt_drivers::DriverError),
    #[error(transparent)]
    Stats(#[from] takt_stack::stats::StatsError),
    #[error(transparent)]
    Wire(#[from] takt_stack::wire::WireError),
}

impl BenchError {
    /// Exit status for this error (see the `EXIT_*` constants).
    pub fn exit_code(&self) -> u8 {
        match self {
            BenchError::Schedule(_) => EXIT_BAD_INPUT,
            BenchError::Driver(takt_drivers::DriverError::NotBuilt { .. }) => EXIT_NOT_BUILT,
            BenchError::Driver(takt_drivers::DriverError::BadSpec { .. }) => EXIT_BAD_INPUT,
            _ => EXIT_RUNTIME,
        }
    }

    /// Wrap a syscall error with what was being done.
    pub fn sys(what: impl Into<String>) -> impl FnOnce(nix::Error) -> BenchError {
        let what = what.into();
        move |source| BenchError::Sys { what, source }
    }
}

/// Load a schedule file with full validation; warnings are printed.
pub fn load_schedule(path: &std::path::Path) -> Result<takt_scheduler::Schedule, BenchError> {
    let loaded = takt_scheduler::config::load_file_with(path, takt_scheduler::Validation::Full)
        .map_err(|e| BenchError::Schedule(e.to_string()))?;
    for (d, _) in &loaded.warnings {
        eprintln!("{}", d.warning());
    }
    Ok(loaded.schedule)
}

/// The first cycle starts at least this long after set-up (as takt's tools).
pub const LEAD_NS: u64 = 20_000_000;
