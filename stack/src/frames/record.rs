//! One frame's stage times as a fixed 64-byte record: what the data path
//! hands the frames log (`--frames-log`), and what `takt frames` reads back.
//!
//! ```text
//!  0  kind u8      1 = tx (talker sent), 2 = rx (listener received),
//!                  3 = return (talker received a mirrored frame back),
//!                  4 = mirror (the mirror sent a frame back)
//!  1  present u8   bit i set = times[i] holds stage i (absent stages are not 0, they are absent)
//!  2  flags u8     FLAG_* below
//!  3  reserved u8  0
//!  4  stream u16   index of the stream in the schedule
//!  6  reserved u16 0
//!  8  seq u64      the frame's sequence number
//! 16  times 6 x u64  ns, index = Stage: S W H T R A
//! ```
//!
//! All fields little-endian. Times are on the clock of the end that wrote the
//! record, except S and H of an rx record, which the frame carried (the
//! talker's clock). docs/frames-log.md has the file around the records.

/// Bytes of one encoded record.
pub const RECORD_LEN: usize = 64;

/// The stages of one frame's life, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Stage {
    /// S: the scheduled launch time.
    Scheduled = 0,
    /// W: the talker thread woke up for it.
    Wake = 1,
    /// H: handed over to the device (the frame's `tx_ns`).
    HandOver = 2,
    /// T: the kernel's or driver's transmit stamp.
    TxStamp = 3,
    /// R: the device's receive stamp.
    RxStamp = 4,
    /// A: the receiving code has the frame.
    App = 5,
}

impl Stage {
    pub const ALL: [Stage; 6] = [
        Stage::Scheduled,
        Stage::Wake,
        Stage::HandOver,
        Stage::TxStamp,
        Stage::RxStamp,
        Stage::App,
    ];

    /// The one-letter name reports, CSV headers and docs use.
    pub const fn letter(self) -> char {
        match self {
            Stage::Scheduled => 'S',
            Stage::Wake => 'W',
            Stage::HandOver => 'H',
            Stage::TxStamp => 'T',
            Stage::RxStamp => 'R',
            Stage::App => 'A',
        }
    }
}

/// Which end wrote a record, and of what.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum RecordKind {
    /// The talker sent (or, with FLAG_LATE, did not send) the frame.
    #[default]
    Tx = 1,
    /// The listener received it.
    Rx = 2,
    /// The talker received the frame back from a mirror.
    Return = 3,
    /// The mirror sent the frame back.
    Mirror = 4,
}

impl RecordKind {
    pub fn from_u8(v: u8) -> Option<Self> {
        Some(match v {
            1 => RecordKind::Tx,
            2 => RecordKind::Rx,
            3 => RecordKind::Return,
            4 => RecordKind::Mirror,
            _ => return None,
        })
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            RecordKind::Tx => "tx",
            RecordKind::Rx => "rx",
            RecordKind::Return => "return",
            RecordKind::Mirror => "mirror",
        }
    }
}

/// The frame's differences went into the report's histograms.
pub const FLAG_COUNTED: u8 = 0x01;
/// Measured while the clock was out of sync (the report's `unsynced` histograms).
pub const FLAG_UNSYNCED: u8 = 0x02;
/// Talker: not sent, its window had closed (counted `late`).
pub const FLAG_LATE: u8 = 0x04;
/// Listener: a duplicate (not in the histograms).
pub const FLAG_DUPLICATE: u8 = 0x08;
/// Round trip beyond the outlier threshold.
pub const FLAG_OUTLIER: u8 = 0x10;

/// One frame at one end.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FrameRecord {
    pub kind: RecordKind,
    pub flags: u8,
    pub stream: u16,
    pub seq: u64,
    present: u8,
    times: [u64; 6],
}

/// Why 64 bytes are not a record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    #[error("unknown record kind {0} (this build writes 1..=4)")]
    BadKind(u8),
    #[error("presence bits {0:#04x} name a stage past A")]
    BadPresence(u8),
}

impl FrameRecord {
    pub fn new(kind: RecordKind, stream: u16, seq: u64) -> Self {
        FrameRecord {
            kind,
            stream,
            seq,
            ..Self::default()
        }
    }

    /// Set a stage's time (it becomes present).
    pub fn set(&mut self, stage: Stage, ns: u64) {
        self.times[stage as usize] = ns;
        self.present |= 1 << stage as u8;
    }

    /// A stage's time, `None` when the end could not see it.
    pub fn get(&self, stage: Stage) -> Option<u64> {
        (self.present & (1 << stage as u8) != 0).then_some(self.times[stage as usize])
    }

    /// `to - from` in ns when both are present (and the difference fits an i64).
    pub fn diff(&self, from: Stage, to: Stage) -> Option<i64> {
        let (a, b) = (self.get(from)?, self.get(to)?);
        i64::try_from(i128::from(b) - i128::from(a)).ok()
    }

    pub fn encode(&self) -> [u8; RECORD_LEN] {
        let mut out = [0u8; RECORD_LEN];
        out[0] = self.kind as u8;
        out[1] = self.present;
        out[2] = self.flags;
        out[4..6].copy_from_slice(&self.stream.to_le_bytes());
        out[8..16].copy_from_slice(&self.seq.to_le_bytes());
        for (i, t) in self.times.iter().enumerate() {
            out[16 + 8 * i..24 + 8 * i].copy_from_slice(&t.to_le_bytes());
        }
        out
    }

    pub fn decode(b: &[u8; RECORD_LEN]) -> Result<Self, RecordError> {
        let kind = RecordKind::from_u8(b[0]).ok_or(RecordError::BadKind(b[0]))?;
        if b[1] & !0x3f != 0 {
            return Err(RecordError::BadPresence(b[1]));
        }
        let u64_at = |o: usize| {
            let mut w = [0u8; 8];
            w.copy_from_slice(&b[o..o + 8]);
            u64::from_le_bytes(w)
        };
        let mut times = [0u64; 6];
        for (i, t) in times.iter_mut().enumerate() {
            *t = u64_at(16 + 8 * i);
        }
        Ok(FrameRecord {
            kind,
            present: b[1],
            flags: b[2],
            stream: u16::from_le_bytes([b[4], b[5]]),
            seq: u64_at(8),
            times,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_survives_encoding_and_absent_stages_stay_absent() {
        let mut r = FrameRecord::new(RecordKind::Rx, 3, 77);
        r.flags = FLAG_COUNTED;
        r.set(Stage::Scheduled, 1_000);
        r.set(Stage::RxStamp, 5_000);
        r.set(Stage::App, 5_400);
        let back = FrameRecord::decode(&r.encode()).unwrap();
        assert_eq!(back, r);
        assert_eq!(back.get(Stage::Wake), None);
        assert_eq!(back.diff(Stage::RxStamp, Stage::App), Some(400));
        assert_eq!(back.diff(Stage::Wake, Stage::App), None);
        let mut bad = r.encode();
        bad[0] = 9;
        assert_eq!(FrameRecord::decode(&bad), Err(RecordError::BadKind(9)));
        bad[0] = 2;
        bad[1] = 0x40;
        assert!(FrameRecord::decode(&bad).is_err());
    }
}
