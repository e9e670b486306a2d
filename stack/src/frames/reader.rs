//! Reading a frames log back (`takt frames`): the header, then one record
//! at a time, and at the end whether the file was finished (a trailer) or
//! cut short (a crash, a full disk): a cut file yields its whole records
//! and says how many bytes of a partial one it ignored.

use std::io::{BufReader, Read};
use std::path::Path;

use super::format::{FramesHeader, HeaderError, Trailer};
use super::record::{FrameRecord, RecordError, RECORD_LEN};

/// Why a file cannot be read as a frames log.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Header(#[from] HeaderError),
    #[error("record {index} (byte {offset}): {source}")]
    Record {
        index: u64,
        offset: u64,
        #[source]
        source: RecordError,
    },
    #[error("record {index} (byte {offset}) names stream {stream}; the header lists {streams}")]
    Stream {
        index: u64,
        offset: u64,
        stream: u16,
        streams: usize,
    },
    #[error("{0} bytes after the trailer (a frames log ends with it)")]
    AfterTrailer(u64),
    #[error("the trailer counts {trailer} records; the file holds {read}")]
    Count { trailer: u64, read: u64 },
}

/// How the file ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ending {
    /// The writer finished: the trailer's totals.
    Complete(Trailer),
    /// No trailer: the run did not finish its log. `partial_bytes` of a
    /// last record were ignored.
    Cut { partial_bytes: usize },
}

/// A frames log being read.
pub struct FramesReader<R: Read> {
    input: R,
    header: FramesHeader,
    header_len: u64,
    read: u64,
    ending: Option<Ending>,
}

impl FramesReader<BufReader<std::fs::File>> {
    pub fn open(path: &Path) -> Result<Self, ReadError> {
        Self::new(BufReader::with_capacity(
            1 << 16,
            std::fs::File::open(path)?,
        ))
    }
}

/// Fill `buf` as far as the input goes; the bytes read.
fn read_full(input: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match input.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

impl<R: Read> FramesReader<R> {
    /// Read and check the header.
    pub fn new(mut input: R) -> Result<Self, ReadError> {
        let mut first = [0u8; 16];
        let n = read_full(&mut input, &mut first)?;
        if n < first.len() {
            // Too short to tell: call it what it is when the magic is off.
            if first[..n.min(8)] != super::format::MAGIC[..n.min(8)] {
                return Err(HeaderError::BadMagic.into());
            }
            return Err(HeaderError::ShortFile(n).into());
        }
        let len = FramesHeader::declared_len(&first)? as usize;
        // Bounded by MAX_HEADER_LEN (1 MiB) in declared_len.
        let mut head = vec![0u8; len];
        head[..16].copy_from_slice(&first);
        let n = read_full(&mut input, &mut head[16..])?;
        if n < len - 16 {
            return Err(HeaderError::ShortFile(16 + n).into());
        }
        let header = FramesHeader::decode(&head)?;
        Ok(FramesReader {
            input,
            header,
            header_len: len as u64,
            read: 0,
            ending: None,
        })
    }

    pub fn header(&self) -> &FramesHeader {
        &self.header
    }

    /// Whole records read so far.
    pub fn records_read(&self) -> u64 {
        self.read
    }

    /// How the file ended, once `next_record` returned `Ok(None)`.
    pub fn ending(&self) -> Option<Ending> {
        self.ending
    }

    /// The next record; `Ok(None)` at the trailer or the end of a cut file.
    pub fn next_record(&mut self) -> Result<Option<FrameRecord>, ReadError> {
        if self.ending.is_some() {
            return Ok(None);
        }
        let offset = self.header_len + self.read * RECORD_LEN as u64;
        let mut b = [0u8; RECORD_LEN];
        let n = read_full(&mut self.input, &mut b)?;
        if n < RECORD_LEN {
            self.ending = Some(Ending::Cut { partial_bytes: n });
            return Ok(None);
        }
        if let Some(t) = Trailer::decode(&b) {
            let mut rest = [0u8; 4096];
            let mut extra = 0u64;
            loop {
                match read_full(&mut self.input, &mut rest)? {
                    0 => break,
                    k => extra += k as u64,
                }
            }
            if extra > 0 {
                return Err(ReadError::AfterTrailer(extra));
            }
            if t.written != self.read {
                return Err(ReadError::Count {
                    trailer: t.written,
                    read: self.read,
                });
            }
            self.ending = Some(Ending::Complete(t));
            return Ok(None);
        }
        let index = self.read;
        let rec = FrameRecord::decode(&b).map_err(|source| ReadError::Record {
            index,
            offset,
            source,
        })?;
        if usize::from(rec.stream) >= self.header.streams.len() {
            return Err(ReadError::Stream {
                index,
                offset,
                stream: rec.stream,
                streams: self.header.streams.len(),
            });
        }
        self.read += 1;
        Ok(Some(rec))
    }
}
