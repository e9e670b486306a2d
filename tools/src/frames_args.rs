//! `--frames-log FILE` (and `--frames-log-records N`) on every run: the
//! flags, and opening the log the data path pushes one record per frame
//! into (docs/frames-log.md).

use std::path::PathBuf;

use takt_drivers::RingDevice;
use takt_stack::frames::{
    frames_log_report, FramesHeader, FramesLog, FramesLogConfig, LogEnd, DEFAULT_CAPACITY,
};
use takt_stack::stats::RunStats;
use takt_stack::StackError;

use crate::run::RunError;

/// Most records a ring may be asked to hold (1 GiB of memory).
const MAX_RECORDS: u32 = 1 << 24;

/// The frames-log flags every run takes.
#[derive(clap::Args, Clone, Debug)]
pub struct FramesArgs {
    /// Write one 64-byte record per frame (its stage times S W H T R A)
    /// here; read it with `takt frames FILE` (docs/frames-log.md)
    #[arg(long, value_name = "FILE")]
    pub frames_log: Option<PathBuf>,
    /// Records the --frames-log ring holds (64 bytes each) before records
    /// are dropped (and counted) while the file's writer falls behind
    #[arg(long, value_name = "N", default_value_t = DEFAULT_CAPACITY as u32,
          value_parser = clap::value_parser!(u32).range(1024..=i64::from(MAX_RECORDS)),
          requires = "frames_log")]
    pub frames_log_records: u32,
}

impl FramesArgs {
    pub fn config(&self) -> Option<FramesLogConfig> {
        self.frames_log.as_ref().map(|p| FramesLogConfig {
            path: p.clone(),
            capacity: self.frames_log_records as usize,
        })
    }
}

/// Open the log of one end of a run on `dev` (before the real-time set-up:
/// its writer thread stays unpinned and SCHED_OTHER).
pub fn open(
    cfg: Option<&FramesLogConfig>,
    end: LogEnd,
    dev: &dyn RingDevice,
    clock: takt_scheduler::ClockId,
    names: &[&str],
    now_ns: u64,
) -> Result<Option<FramesLog>, RunError> {
    let Some(cfg) = cfg else { return Ok(None) };
    let info = dev.info();
    let header = FramesHeader {
        end,
        clock: clock.as_str().into(),
        rx_stamps: info.caps.rx_stamps.as_str().into(),
        tx_stamps: info.caps.tx_stamps.as_str().into(),
        device: info.name.clone(),
        streams: names.iter().map(|n| n.to_string()).collect(),
        created_ns: now_ns,
        created_unix_ns: takt_stack::frames::unix_now_ns(),
    };
    let log = FramesLog::create(&cfg.path, &header, cfg.capacity).map_err(StackError::from)?;
    Ok(Some(log))
}

/// Finish the log (every record pushed is written) and put its totals into
/// the report. A failure to write is in the report and on stderr, and the
/// run exits 1 (`run::write_reports`).
pub fn finish(cfg: Option<&FramesLogConfig>, log: Option<FramesLog>, stats: &mut RunStats) {
    if let (Some(cfg), Some(log)) = (cfg, log) {
        stats.frames_log = Some(frames_log_report(&cfg.path, log.finish()));
    }
}
