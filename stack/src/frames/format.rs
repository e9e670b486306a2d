//! The frames-log file around the records (docs/frames-log.md): a header
//! padded to a multiple of 64 bytes, whole 64-byte records, and a 64-byte
//! trailer that only a finished log has.

use super::record::RECORD_LEN;

/// First 8 bytes of a frames log.
pub const MAGIC: [u8; 8] = *b"TAKTFRMS";
/// First 8 bytes of the trailer (a record never starts so: its first byte
/// is a kind, 1..=4).
pub const TRAILER_MAGIC: [u8; 8] = *b"TAKTEND\0";
/// Version of the layout this build writes and reads.
pub const VERSION: u16 = 1;
/// Largest header a reader accepts (a real one is a few KiB).
pub const MAX_HEADER_LEN: u32 = 1 << 20;
/// Most streams a header may name (the schedule's bound).
pub const MAX_STREAMS: usize = takt_scheduler::schedule::MAX_STREAMS;
/// Longest string in a header, bytes.
pub const MAX_STRING_LEN: usize = 4096;
/// Bytes of the fixed part before the strings.
const FIXED_LEN: usize = 48;

/// Which end wrote the log.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LogEnd {
    #[default]
    Talker,
    Listener,
    /// `takt loopback`: talker (tx) and listener (rx) records in one file.
    Loopback,
    Mirror,
}

impl LogEnd {
    pub fn from_u8(v: u8) -> Option<Self> {
        Some(match v {
            1 => LogEnd::Talker,
            2 => LogEnd::Listener,
            3 => LogEnd::Loopback,
            4 => LogEnd::Mirror,
            _ => return None,
        })
    }

    pub const fn as_u8(self) -> u8 {
        match self {
            LogEnd::Talker => 1,
            LogEnd::Listener => 2,
            LogEnd::Loopback => 3,
            LogEnd::Mirror => 4,
        }
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            LogEnd::Talker => "talker",
            LogEnd::Listener => "listener",
            LogEnd::Loopback => "loopback",
            LogEnd::Mirror => "mirror",
        }
    }
}

/// Everything needed to read the records.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FramesHeader {
    pub end: LogEnd,
    /// The schedule clock the times are on: `tai`, `monotonic`, `realtime`.
    pub clock: String,
    /// How the device took R (`drivers::StampSource::as_str`).
    pub rx_stamps: String,
    /// How the device took T.
    pub tx_stamps: String,
    /// The device as the report names it.
    pub device: String,
    /// Stream names; a record's `stream` indexes this list.
    pub streams: Vec<String>,
    /// When the log was opened, ns on the schedule clock.
    pub created_ns: u64,
    /// The same moment as ns since the Unix epoch (CLOCK_REALTIME).
    pub created_unix_ns: u64,
}

/// Why the bytes are not a frames log this build reads.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    #[error(
        "not a takt frames log (it does not start with TAKTFRMS; write one with --frames-log)"
    )]
    BadMagic,
    #[error("frames-log version {0}: this build reads version {VERSION}")]
    Version(u16),
    #[error("record length {0}: this build reads {RECORD_LEN}-byte records")]
    RecordLen(u16),
    #[error("header length {0} is not a multiple of 64 in 64 ..= {MAX_HEADER_LEN}")]
    HeaderLen(u32),
    #[error("unknown writer end {0} (1 talker, 2 listener, 3 loopback, 4 mirror)")]
    End(u8),
    #[error("the header names {0} streams; at most {MAX_STREAMS}")]
    StreamCount(u32),
    #[error("the header's {0} runs past the header's end")]
    Truncated(&'static str),
    #[error("the header's {0} is not UTF-8")]
    NotUtf8(&'static str),
    #[error("the file ends inside the header ({0} bytes)")]
    ShortFile(usize),
}

/// Why a header cannot be written.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum HeaderWriteError {
    #[error("{0} streams: a frames log holds at most {MAX_STREAMS}")]
    TooManyStreams(usize),
    #[error("a name of {0} bytes: a frames log holds names up to {MAX_STRING_LEN} bytes")]
    LongString(usize),
}

fn put_str(out: &mut Vec<u8>, s: &str) -> Result<(), HeaderWriteError> {
    let len = u16::try_from(s.len())
        .ok()
        .filter(|&l| usize::from(l) <= MAX_STRING_LEN)
        .ok_or(HeaderWriteError::LongString(s.len()))?;
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(s.as_bytes());
    Ok(())
}

impl FramesHeader {
    /// The header's bytes, padded with zeros to a multiple of 64.
    pub fn encode(&self) -> Result<Vec<u8>, HeaderWriteError> {
        if self.streams.len() > MAX_STREAMS {
            return Err(HeaderWriteError::TooManyStreams(self.streams.len()));
        }
        let mut out = Vec::with_capacity(256);
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&VERSION.to_le_bytes());
        out.extend_from_slice(&(RECORD_LEN as u16).to_le_bytes());
        out.extend_from_slice(&[0; 4]); // header length, below
        out.push(self.end.as_u8());
        out.extend_from_slice(&[0; 7]);
        out.extend_from_slice(&self.created_ns.to_le_bytes());
        out.extend_from_slice(&self.created_unix_ns.to_le_bytes());
        out.extend_from_slice(&(self.streams.len() as u32).to_le_bytes());
        out.extend_from_slice(&[0; 4]);
        debug_assert_eq!(out.len(), FIXED_LEN);
        for s in [&self.clock, &self.rx_stamps, &self.tx_stamps, &self.device] {
            put_str(&mut out, s)?;
        }
        for s in &self.streams {
            put_str(&mut out, s)?;
        }
        out.resize(out.len().div_ceil(64) * 64, 0);
        let len = out.len() as u32; // <= 64 + 133 * (2 + 4096): fits
        out[12..16].copy_from_slice(&len.to_le_bytes());
        Ok(out)
    }

    /// The header length the first 16 bytes declare, checked.
    pub fn declared_len(first: &[u8; 16]) -> Result<u32, HeaderError> {
        if first[..8] != MAGIC {
            return Err(HeaderError::BadMagic);
        }
        let version = u16::from_le_bytes([first[8], first[9]]);
        if version != VERSION {
            return Err(HeaderError::Version(version));
        }
        let rec = u16::from_le_bytes([first[10], first[11]]);
        if usize::from(rec) != RECORD_LEN {
            return Err(HeaderError::RecordLen(rec));
        }
        let len = u32::from_le_bytes([first[12], first[13], first[14], first[15]]);
        if !(64..=MAX_HEADER_LEN).contains(&len) || !len.is_multiple_of(64) {
            return Err(HeaderError::HeaderLen(len));
        }
        Ok(len)
    }

    /// Parse a whole header (`declared_len` bytes). Every number is checked
    /// against the bytes there are before use.
    pub fn decode(b: &[u8]) -> Result<Self, HeaderError> {
        let first: &[u8; 16] = b
            .get(..16)
            .and_then(|f| f.try_into().ok())
            .ok_or(HeaderError::ShortFile(b.len()))?;
        let len = Self::declared_len(first)? as usize;
        let b = b.get(..len).ok_or(HeaderError::ShortFile(b.len()))?;
        let u64_at = |o: usize| {
            let mut w = [0u8; 8];
            w.copy_from_slice(&b[o..o + 8]);
            u64::from_le_bytes(w)
        };
        let end = LogEnd::from_u8(b[16]).ok_or(HeaderError::End(b[16]))?;
        let count = u32::from_le_bytes([b[40], b[41], b[42], b[43]]);
        if count as usize > MAX_STREAMS {
            return Err(HeaderError::StreamCount(count));
        }
        let mut at = FIXED_LEN;
        let mut take = |what: &'static str| -> Result<String, HeaderError> {
            let l = b
                .get(at..at + 2)
                .map(|l| usize::from(u16::from_le_bytes([l[0], l[1]])))
                .ok_or(HeaderError::Truncated(what))?;
            let s = b
                .get(at + 2..at + 2 + l)
                .ok_or(HeaderError::Truncated(what))?;
            at += 2 + l;
            String::from_utf8(s.to_vec()).map_err(|_| HeaderError::NotUtf8(what))
        };
        let clock = take("clock")?;
        let rx_stamps = take("rx stamp source")?;
        let tx_stamps = take("tx stamp source")?;
        let device = take("device")?;
        let mut streams = Vec::with_capacity(count as usize);
        for _ in 0..count {
            streams.push(take("stream name")?);
        }
        Ok(FramesHeader {
            end,
            clock,
            rx_stamps,
            tx_stamps,
            device,
            streams,
            created_ns: u64_at(24),
            created_unix_ns: u64_at(32),
        })
    }
}

/// The last 64 bytes of a finished log.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Trailer {
    /// Records in the file.
    pub written: u64,
    /// Records the data path dropped (the ring was full).
    pub dropped: u64,
    /// When the log was finished, ns since the Unix epoch.
    pub finished_unix_ns: u64,
}

impl Trailer {
    pub fn encode(&self) -> [u8; RECORD_LEN] {
        let mut out = [0u8; RECORD_LEN];
        out[..8].copy_from_slice(&TRAILER_MAGIC);
        out[8..16].copy_from_slice(&self.written.to_le_bytes());
        out[16..24].copy_from_slice(&self.dropped.to_le_bytes());
        out[24..32].copy_from_slice(&self.finished_unix_ns.to_le_bytes());
        out
    }

    /// `None` when the block is not a trailer (then it is a record).
    pub fn decode(b: &[u8; RECORD_LEN]) -> Option<Self> {
        if b[..8] != TRAILER_MAGIC {
            return None;
        }
        let u64_at = |o: usize| {
            let mut w = [0u8; 8];
            w.copy_from_slice(&b[o..o + 8]);
            u64::from_le_bytes(w)
        };
        Some(Trailer {
            written: u64_at(8),
            dropped: u64_at(16),
            finished_unix_ns: u64_at(24),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn header() -> FramesHeader {
        FramesHeader {
            end: LogEnd::Loopback,
            clock: "tai".into(),
            rx_stamps: "simulated".into(),
            tx_stamps: "none".into(),
            device: "sim:a -> sim:b".into(),
            streams: vec!["ctl".into(), "vídeo, \"hd\"".into()],
            created_ns: 123,
            created_unix_ns: 456,
        }
    }

    #[test]
    fn a_header_survives_encoding_and_is_padded_to_64() {
        let h = header();
        let b = h.encode().unwrap();
        assert_eq!(b.len() % 64, 0);
        assert_eq!(FramesHeader::decode(&b).unwrap(), h);
        let t = Trailer {
            written: 7,
            dropped: 2,
            finished_unix_ns: 9,
        };
        assert_eq!(Trailer::decode(&t.encode()), Some(t));
        let too_many = FramesHeader {
            streams: vec![String::new(); MAX_STREAMS + 1],
            ..header()
        };
        assert!(too_many.encode().is_err());
    }

    #[test]
    fn hostile_header_values_are_refused_without_panic() {
        let good = header().encode().unwrap();
        let with = |o: usize, bytes: &[u8]| {
            let mut b = good.clone();
            b[o..o + bytes.len()].copy_from_slice(bytes);
            FramesHeader::decode(&b)
        };
        assert_eq!(with(0, b"TAKTFRMZ"), Err(HeaderError::BadMagic));
        assert_eq!(with(8, &2u16.to_le_bytes()), Err(HeaderError::Version(2)));
        assert_eq!(
            with(10, &65u16.to_le_bytes()),
            Err(HeaderError::RecordLen(65))
        );
        for len in [0u32, 63, 65, u32::MAX, MAX_HEADER_LEN + 64] {
            assert_eq!(
                with(12, &len.to_le_bytes()),
                Err(HeaderError::HeaderLen(len))
            );
        }
        // Longer than the bytes there are.
        assert!(matches!(
            with(12, &(64u32 * 100).to_le_bytes()),
            Err(HeaderError::ShortFile(_))
        ));
        assert_eq!(with(16, &[9]), Err(HeaderError::End(9)));
        assert_eq!(
            with(40, &u32::MAX.to_le_bytes()),
            Err(HeaderError::StreamCount(u32::MAX))
        );
        // 100 streams in a header that holds 2 names: runs past the end.
        assert!(matches!(
            with(40, &100u32.to_le_bytes()),
            Err(HeaderError::Truncated(_))
        ));
        // A string length past the end.
        assert!(matches!(
            with(FIXED_LEN, &u16::MAX.to_le_bytes()),
            Err(HeaderError::Truncated("clock"))
        ));
        assert!(matches!(
            with(FIXED_LEN + 2, &[0xff]),
            Err(HeaderError::NotUtf8("clock"))
        ));
        assert!(FramesHeader::decode(&good[..10]).is_err());
    }
}
