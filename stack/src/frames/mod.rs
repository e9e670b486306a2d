//! Per-frame records (`--frames-log`): [`FrameRecord`] is what the data path
//! hands over for each frame; [`FramesLog`] is the data path's end of the log.

mod record;

pub use record::{
    FrameRecord, RecordError, RecordKind, Stage, FLAG_COUNTED, FLAG_DUPLICATE, FLAG_LATE,
    FLAG_OUTLIER, FLAG_UNSYNCED, RECORD_LEN,
};

/// The data path's end of a frames log. `push` never blocks and never
/// allocates; a record that finds no room is counted as dropped.
///
/// SKELETON (issue 14, replaced by the frames-log work): counts pushes only.
#[derive(Debug, Default)]
pub struct FramesLog {
    pushed: u64,
}

impl FramesLog {
    /// Hand one record over. False when it was dropped.
    pub fn push(&mut self, rec: &FrameRecord) -> bool {
        let _ = rec;
        self.pushed += 1;
        true
    }
}
