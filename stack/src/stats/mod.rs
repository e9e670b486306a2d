//! Histograms and reports.
//!
//! - [`Metric`]: a signed ns distribution in fixed HDR histograms (1 ns ..
//!   60 s, 3 significant figures); recording never allocates.
//! - [`StreamStats`] / [`RunStats`]: per-stream counters plus tx-error and
//!   latency metrics; [`RunStats::total`] merges streams.
//! - Reports: [`text_report`], [`json_report`] (`--report json`),
//!   [`IntervalLog`] (`--hist-log`, HdrHistogram interval log written by a
//!   helper thread), [`write_histfile`] (`--histfile`, cyclictest layout) and
//!   the progress line [`RunStats::write_progress`].
//!
//! Formats, units and how to plot them: docs/reports.md.

mod frer;
mod frer_json;
mod frer_text;
mod hist_log;
mod histfile;
mod json;
mod metric;
pub mod out_file;
mod ptp;
mod round_trip;
mod stream;
mod text;

use std::path::{Path, PathBuf};

pub use frer::{FrerMemberReport, FrerReport, FrerStreamReport, PortReport};
pub use frer_json::{
    FrerJson, FrerMemberJson, FrerParamsJson, FrerStreamJson, PortJson, RecoveryJson,
};
pub use hist_log::{
    merge_interval_logs, sanitize_tag, stream_slot, stream_tags, IntervalLog, IntervalLogConfig,
    IntervalLogStats, DEFAULT_INTERVAL_NS, DEFAULT_SPARE_SETS, MAX_VALUE_DIVISOR,
};
pub use histfile::{
    save_histfile, us_buckets, write_histfile, HistfileColumn, HistfileOptions, OverflowCycles,
    DEFAULT_BUCKETS, MAX_BUCKETS,
};
pub use json::{
    json_line, json_report, ControlReport, DeviceCountersReport, FramesLogReport, RtReportJson,
    RunReport, RxRejectedReport, StageReport, StagesReport, StreamReport, REPORT_VERSION,
};
pub use metric::{Metric, Summary, METRIC_MAX_NS, METRIC_SIGFIG, SUMMARY_QUANTILES};
pub use ptp::{OffsetStats, PtpReport};
pub use round_trip::{MirrorReport, RoundTripReport, RoundTripStats};
pub use stream::{MetricKind, RunStats, RxRejected, StageStats, StreamStats};
pub use text::{
    render_table, summary_header, text_report, write_progress_line, write_us1, write_us3,
};

/// Errors writing reports. Every message names the file.
#[derive(Debug, thiserror::Error)]
pub enum StatsError {
    #[error("cannot write {}: {source}{}", path.display(), io_hint(.source))]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot encode a histogram for {}: {message}", path.display())]
    Encode { path: PathBuf, message: String },
    #[error("cannot write {}: histogram bucket count {buckets} is out of range; give 1 ..= 1000000 (us)", path.display())]
    BadBuckets { path: PathBuf, buckets: u32 },
    #[error("the interval-log writer for {} stopped unexpectedly; the log may be incomplete", path.display())]
    WriterLost { path: PathBuf },
}

/// What to change, for the errors where it is clear.
fn io_hint(e: &std::io::Error) -> &'static str {
    match e.kind() {
        std::io::ErrorKind::NotFound => " (create the directory first, or pick another path)",
        std::io::ErrorKind::PermissionDenied => " (pick a path you may write to)",
        _ => "",
    }
}

/// Writes `contents` (a text or JSON report) to `path`, replacing it.
pub fn write_report_file(path: impl AsRef<Path>, contents: &str) -> Result<(), StatsError> {
    let path = path.as_ref();
    std::fs::write(path, contents).map_err(|source| StatsError::Io {
        path: path.to_path_buf(),
        source,
    })
}
