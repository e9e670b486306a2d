//! [`FramesLog`]: the data path's end of a frames log, and the writer
//! thread that drains it into the file.
//!
//! Each producer (the talker, the listener) has its own [`Ring`]; one writer
//! thread drains every ring of a file, buffered. The writer never touches
//! what the producer waits on: a write blocked on a full pipe or a slow disk
//! only lets the ring fill, and the records that find it full are dropped
//! and counted.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use super::format::{FramesHeader, HeaderWriteError, Trailer};
use super::record::FrameRecord;
use super::ring::Ring;

/// Records a ring holds unless told otherwise (4 MiB): at 100 000 frames a
/// second the writer may stall for over half a second before one drops.
pub const DEFAULT_CAPACITY: usize = 1 << 16;
/// How long the writer sleeps when every ring is empty.
const IDLE: Duration = Duration::from_millis(2);
/// How long `finish` waits for a writer that makes no progress (a pipe
/// nobody reads) before it gives up on the rest.
const STALL: Duration = Duration::from_secs(5);
/// Bytes of the writer's buffer.
const BUF_BYTES: usize = 256 * 1024;

/// What a finished log holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FramesTotals {
    /// Records in the file.
    pub written: u64,
    /// Records the data path dropped because a ring was full.
    pub dropped: u64,
}

/// Where `--frames-log` writes, and how many records a ring holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FramesLogConfig {
    pub path: PathBuf,
    pub capacity: usize,
}

impl FramesLogConfig {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        FramesLogConfig {
            path: path.into(),
            capacity: DEFAULT_CAPACITY,
        }
    }
}

/// The report's `frames_log` entry for a log finished with `result`
pub fn frames_log_report(
    path: &Path,
    result: Result<FramesTotals, FramesError>,
) -> crate::stats::FramesLogReport {
    let path = path.display().to_string();
    match result {
        Ok(t) => crate::stats::FramesLogReport {
            path,
            written: t.written,
            dropped: t.dropped,
            error: None,
        },
        Err(e) => {
            let (written, dropped) = match &e {
                FramesError::Write {
                    written, dropped, ..
                }
                | FramesError::Stalled {
                    written, dropped, ..
                } => (*written, *dropped),
                _ => (0, 0),
            };
            crate::stats::FramesLogReport {
                path,
                written,
                dropped,
                error: Some(e.to_string()),
            }
        }
    }
}

/// Why a frames log could not be opened or written. Every message names the
/// file.
#[derive(Debug, thiserror::Error)]
pub enum FramesError {
    #[error("cannot create the frames log {}: {source}", path.display())]
    Create {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write the frames log {}: {source} ({written} records written, the rest lost)", path.display())]
    Write {
        path: PathBuf,
        written: u64,
        dropped: u64,
        #[source]
        source: std::io::Error,
    },
    #[error("frames log {}: {source}", path.display())]
    Header {
        path: PathBuf,
        #[source]
        source: HeaderWriteError,
    },
    #[error("the frames-log writer for {} stopped unexpectedly; the log may be incomplete", path.display())]
    WriterLost { path: PathBuf },
    #[error("the frames log {} took nothing for {} s (a pipe nobody reads?): gave up with {written} records written, {dropped} dropped or lost", path.display(), STALL.as_secs())]
    Stalled {
        path: PathBuf,
        written: u64,
        dropped: u64,
    },
}

/// State the producers and the writer share.
#[derive(Debug)]
struct Shared {
    rings: Vec<Ring>,
    stop: AtomicBool,
    /// Records written so far: `finish` watches it for progress.
    written: AtomicU64,
}

/// The writer thread, owned by one of the file's logs.
#[derive(Debug)]
struct Writer {
    path: PathBuf,
    thread: JoinHandle<Result<u64, (u64, std::io::Error)>>,
}

/// The data path's end of a frames log: `push` never blocks, never
/// allocates and never makes a syscall; a record that finds the ring full
/// is dropped and counted.
#[derive(Debug)]
pub struct FramesLog {
    shared: Arc<Shared>,
    ring: usize,
    path: PathBuf,
    /// No file, no writer: `in_memory`.
    memory: bool,
    writer: Option<Writer>,
}

impl FramesLog {
    /// Create `path` (a link there is refused), write the header and start
    /// the writer thread. Call before the real-time set-up, so the writer
    /// stays unpinned and SCHED_OTHER.
    pub fn create(
        path: &Path,
        header: &FramesHeader,
        capacity: usize,
    ) -> Result<FramesLog, FramesError> {
        let mut logs = Self::create_many(path, header, capacity, 1)?;
        Ok(logs.remove(0))
    }

    /// One file, two producers (`takt loopback`: talker and listener), each
    /// with a ring of `capacity`. The first log owns the writer: finish it
    /// last, after the second one's producer stopped.
    pub fn create_pair(
        path: &Path,
        header: &FramesHeader,
        capacity: usize,
    ) -> Result<(FramesLog, FramesLog), FramesError> {
        let mut logs = Self::create_many(path, header, capacity, 2)?;
        let second = logs.pop();
        let first = logs.pop();
        match (first, second) {
            (Some(a), Some(b)) => Ok((a, b)),
            _ => unreachable!("create_many returns as many logs as asked"),
        }
    }

    fn create_many(
        path: &Path,
        header: &FramesHeader,
        capacity: usize,
        producers: usize,
    ) -> Result<Vec<FramesLog>, FramesError> {
        let head = header.encode().map_err(|source| FramesError::Header {
            path: path.to_path_buf(),
            source,
        })?;
        let file = crate::stats::out_file::create(path).map_err(|source| FramesError::Create {
            path: path.to_path_buf(),
            source,
        })?;
        Ok(Self::start(path, Box::new(file), head, capacity, producers))
    }

    /// Logs writing to any sink (tests: a pipe), `head` written first.
    fn start(
        path: &Path,
        sink: Box<dyn Write + Send>,
        head: Vec<u8>,
        capacity: usize,
        producers: usize,
    ) -> Vec<FramesLog> {
        let shared = Arc::new(Shared {
            rings: (0..producers).map(|_| Ring::new(capacity)).collect(),
            stop: AtomicBool::new(false),
            written: AtomicU64::new(0),
        });
        let s = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("frames-log".into())
            .spawn(move || drain(&s, sink, &head))
            .map(|thread| Writer {
                path: path.to_path_buf(),
                thread,
            });
        // No thread: nothing drains; records are counted dropped once the
        // ring is full, and finish says the writer is lost.
        let mut writer = thread.ok();
        (0..producers)
            .map(|ring| FramesLog {
                shared: Arc::clone(&shared),
                ring,
                path: path.to_path_buf(),
                memory: false,
                writer: if ring == 0 { writer.take() } else { None },
            })
            .collect()
    }

    /// A log with no file: a ring of `capacity` records that nothing drains
    /// (tests: what the data path pushed, via [`FramesLog::take_records`]).
    /// Once full, pushes are dropped and counted, as with a file.
    pub fn in_memory(capacity: usize) -> FramesLog {
        FramesLog {
            shared: Arc::new(Shared {
                rings: vec![Ring::new(capacity)],
                stop: AtomicBool::new(false),
                written: AtomicU64::new(0),
            }),
            ring: 0,
            path: PathBuf::new(),
            writer: None,
            memory: true,
        }
    }

    /// The records an [`in_memory`](FramesLog::in_memory) log holds, oldest
    /// first, emptying it. Empty for a log with a file (its writer owns
    /// the other end of the ring).
    pub fn take_records(&mut self) -> Vec<FrameRecord> {
        let mut out = Vec::new();
        if self.memory {
            while let Some(b) = self.shared.rings[self.ring].pop() {
                // Encoded by push: decodes.
                if let Ok(r) = FrameRecord::decode(&b) {
                    out.push(r);
                }
            }
        }
        out
    }

    /// Hand one record over. False when the ring was full (counted).
    #[inline]
    pub fn push(&mut self, rec: &FrameRecord) -> bool {
        self.shared.rings[self.ring].push(&rec.encode())
    }

    /// Records this producer dropped so far.
    pub fn dropped(&self) -> u64 {
        self.shared.rings[self.ring].dropped()
    }

    /// Records this producer handed over so far (not dropped).
    pub fn pushed(&self) -> u64 {
        self.shared.rings[self.ring].published()
    }

    /// Records a ring holds.
    pub fn capacity(&self) -> usize {
        self.shared.rings[self.ring].capacity()
    }

    /// After the run (every producer of the file stopped): write every
    /// record pushed so far, then the trailer, and close the file. A log
    /// that does not own the writer (the second of a pair) returns its own
    /// counts and leaves the rest to the first.
    pub fn finish(mut self) -> Result<FramesTotals, FramesError> {
        let Some(w) = self.writer.take() else {
            if self.ring == 0 && !self.memory {
                return Err(FramesError::WriterLost {
                    path: self.path.clone(),
                });
            }
            return Ok(FramesTotals {
                written: self.pushed(),
                dropped: self.dropped(),
            });
        };
        self.shared.stop.store(true, Ordering::Release);
        w.thread.thread().unpark();
        let dropped = self.shared.rings.iter().map(Ring::dropped).sum();
        // Join only a writer that ends or keeps making progress: a write
        // blocked for good must not hold the run's end (and its report).
        let mut seen = self.shared.written.load(Ordering::Relaxed);
        let mut since = std::time::Instant::now();
        while !w.thread.is_finished() {
            std::thread::sleep(Duration::from_millis(5));
            let now = self.shared.written.load(Ordering::Relaxed);
            if now != seen {
                (seen, since) = (now, std::time::Instant::now());
            } else if since.elapsed() >= STALL {
                // What never reached the file (still in a ring, or taken by
                // the blocked writer) is lost too: counted with the drops,
                // so written + dropped is every record of the run.
                let handed: u64 = self.shared.rings.iter().map(Ring::published).sum();
                return Err(FramesError::Stalled {
                    path: w.path,
                    written: now,
                    dropped: dropped + handed.saturating_sub(now),
                });
            }
        }
        match w.thread.join() {
            Ok(Ok(written)) => Ok(FramesTotals { written, dropped }),
            Ok(Err((written, source))) => Err(FramesError::Write {
                path: w.path,
                written,
                dropped,
                source,
            }),
            Err(_) => Err(FramesError::WriterLost { path: w.path }),
        }
    }
}

impl Default for FramesLog {
    /// An in-memory log of 1024 records (no file).
    fn default() -> Self {
        FramesLog::in_memory(1024)
    }
}

impl Drop for FramesLog {
    /// A log dropped without `finish` (a run that failed) still lets its
    /// writer write what it has and end; nobody waits for it.
    fn drop(&mut self) {
        if let Some(w) = &self.writer {
            self.shared.stop.store(true, Ordering::Release);
            w.thread.thread().unpark();
        }
    }
}

/// The writer thread: header, then records from every ring until told to
/// stop and every ring is empty, then the trailer. Returns the records
/// written; on a write error keeps emptying the rings (so producers see
/// room, not a stall) and returns the error with what was written.
fn drain(
    shared: &Shared,
    sink: Box<dyn Write + Send>,
    head: &[u8],
) -> Result<u64, (u64, std::io::Error)> {
    let mut out = BufWriter::with_capacity(BUF_BYTES, sink);
    let mut error = out.write_all(head).err();
    let mut written = 0u64;
    loop {
        // Read before draining: what was pushed before stop was set is
        // then seen by this pass.
        let stopping = shared.stop.load(Ordering::Acquire);
        let mut moved = 0u64;
        for ring in &shared.rings {
            while let Some(rec) = ring.pop() {
                moved += 1;
                if error.is_none() {
                    match out.write_all(&rec) {
                        Ok(()) => {
                            written += 1;
                            shared.written.store(written, Ordering::Relaxed);
                        }
                        Err(e) => error = Some(e),
                    }
                }
            }
        }
        if stopping {
            break;
        }
        if moved == 0 {
            if error.is_none() {
                if let Err(e) = out.flush() {
                    error = Some(e);
                }
            }
            std::thread::park_timeout(IDLE);
        }
    }
    if let Some(e) = error {
        return Err((written, e));
    }
    let dropped = shared.rings.iter().map(Ring::dropped).sum();
    let trailer = Trailer {
        written,
        dropped,
        finished_unix_ns: super::unix_now_ns(),
    };
    out.write_all(&trailer.encode())
        .and_then(|()| out.flush())
        .map_err(|e| (written, e))?;
    Ok(written)
}

#[cfg(test)]
pub(crate) fn start_on(
    sink: Box<dyn Write + Send>,
    header: &FramesHeader,
    capacity: usize,
) -> FramesLog {
    let head = header.encode().expect("test header");
    FramesLog::start(Path::new("test-sink"), sink, head, capacity, 1).remove(0)
}

#[cfg(test)]
pub(crate) fn start_many_on(
    sink: Box<dyn Write + Send>,
    head: Vec<u8>,
    capacity: usize,
    producers: usize,
) -> Vec<FramesLog> {
    FramesLog::start(Path::new("test-sink"), sink, head, capacity, producers)
}
