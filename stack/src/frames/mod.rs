//! Per-frame records (`--frames-log`): [`FrameRecord`] is what the data path
//! hands over for each frame; [`FramesLog`] is the data path's end of the
//! log (a lock-free ring drained by a writer thread into the file);
//! [`FramesReader`] reads a file back. File layout: docs/frames-log.md.

mod diffs;
mod format;
mod log;
mod reader;
mod record;
mod ring;

pub use diffs::Diff;
pub use format::{
    FramesHeader, HeaderError, HeaderWriteError, LogEnd, Trailer, MAGIC, MAX_HEADER_LEN,
    MAX_STREAMS, MAX_STRING_LEN, TRAILER_MAGIC, VERSION,
};
pub use log::{
    frames_log_report, FramesError, FramesLog, FramesLogConfig, FramesTotals, DEFAULT_CAPACITY,
};
pub use reader::{Ending, FramesReader, ReadError};
pub use record::{
    FrameRecord, RecordError, RecordKind, Stage, FLAG_COUNTED, FLAG_DUPLICATE, FLAG_LATE,
    FLAG_OUTLIER, FLAG_UNSYNCED, RECORD_LEN,
};

/// The names of the flags set in `flags`, in bit order (`counted`,
/// `unsynced`, `late`, `duplicate`, `outlier`, or `0x..` for a bit this
/// build does not know).
pub fn flag_names(flags: u8) -> impl Iterator<Item = std::borrow::Cow<'static, str>> {
    (0..8)
        .filter(move |b| flags & (1 << b) != 0)
        .map(|b| match 1u8 << b {
            FLAG_COUNTED => "counted".into(),
            FLAG_UNSYNCED => "unsynced".into(),
            FLAG_LATE => "late".into(),
            FLAG_DUPLICATE => "duplicate".into(),
            FLAG_OUTLIER => "outlier".into(),
            other => format!("{other:#04x}").into(),
        })
}

/// Now as ns since the Unix epoch (a header's `created_unix_ns`).
pub fn unix_now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests;
