//! What the tools write for run.sh and plot.py: takt's own JSON run report
//! (docs/reports.md) for the UDP baseline, so it reads like takt-listener's,
//! and a small flood report for the pps runs.

use std::path::Path;

use serde::Serialize;
use takt_stack::stats::{json_report, write_report_file, RunStats};

use crate::BenchError;

/// One side of a pps flood.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct FloodReport {
    /// `tx` or `rx`.
    pub role: String,
    /// `packet`, `xdp`, `udp`.
    pub backend: String,
    /// Device spec or socket address.
    pub device: String,
    /// Frames per tx_burst / sendmmsg / recvmmsg call asked for.
    pub batch: usize,
    /// Ethernet frame size with FCS of every frame (64 = minimum).
    pub frame_size: usize,
    /// Frames sent (taken by the ring / the kernel) or received.
    pub frames: u64,
    /// tx: from the first send to the end; rx: from the first to the last
    /// frame received.
    pub elapsed_ns: u64,
    /// frames / elapsed.
    pub pps: f64,
    /// Calls that moved no frame (ring full / EAGAIN / ENOBUFS).
    pub stalls: u64,
    /// Frames received that were not the flood's (e.g. IPv6 ND).
    pub other_frames: u64,
}

impl FloodReport {
    /// Fill in `pps` from `frames` and `elapsed_ns`.
    pub fn with_rate(mut self) -> Self {
        self.pps = rate(self.frames, self.elapsed_ns);
        self
    }
}

/// Frames per second; 0 over no time.
pub fn rate(frames: u64, elapsed_ns: u64) -> f64 {
    if elapsed_ns == 0 {
        0.0
    } else {
        frames as f64 * 1e9 / elapsed_ns as f64
    }
}

/// Write `text` to `path`, or to stdout when there is none.
pub fn emit(path: Option<&Path>, text: &str) -> Result<(), BenchError> {
    match path {
        Some(p) => write_report_file(p, text).map_err(BenchError::from),
        None => {
            println!("{}", text.trim_end());
            Ok(())
        }
    }
}

/// A run report in takt's JSON layout.
pub fn emit_run(path: Option<&Path>, stats: &RunStats) -> Result<(), BenchError> {
    emit(path, &json_report(stats))
}

/// Any serialisable value as pretty JSON.
pub fn emit_json<T: Serialize>(path: Option<&Path>, value: &T) -> Result<(), BenchError> {
    // Plain data with string keys: serialisation cannot fail.
    let text = serde_json::to_string_pretty(value).unwrap_or_default();
    emit(path, &text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_is_frames_per_second() {
        assert_eq!(rate(1_000, 500_000_000), 2_000.0);
        assert_eq!(rate(5, 0), 0.0);
        let r = FloodReport {
            frames: 64,
            elapsed_ns: 1_000_000,
            ..FloodReport::default()
        }
        .with_rate();
        assert_eq!(r.pps, 64_000.0);
    }
}
