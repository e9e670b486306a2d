//! `--hist-log PATH`: an HdrHistogram interval log (the format of the Java
//! `HistogramLogWriter`, read by `HistogramLogProcessor`, hdr-plot,
//! HdrHistogram.js and hdrhistogram's `IntervalLogIterator`).
//!
//! ```text
//! #[Logged with takt 0.1.0]
//! #[Histogram log format version 1.3]
//! #[StartTime: 1700000000.123 (seconds since epoch), 2023-11-14T22:13:20.123Z]
//! #[BaseTime: 1700000000.123 (seconds since epoch)]
//! #[values in ns; Tag=<stream>.<metric> holds values >= 0, ...]
//! "StartTimestamp","Interval_Length","Interval_Max","Interval_Compressed_Histogram"
//! #[MaxValueDivisor: 1000000.000]
//! Tag=s0.latency,0.000,1.000,0.046,HISTFAAAA...
//! ```
//!
//! One line per interval (~1 s) and tagged histogram, V2 compressed
//! (deflate) and base64-encoded. Timestamps are seconds since BaseTime (the
//! run start); `Interval_Max` is in ms (ns / 1e6), as the Java writer does.
//! HDR histograms hold magnitudes >= 0, so values >= 0 go under
//! `<stream>.<metric>` and the magnitudes of negative values under
//! `<stream>.<metric>.neg`, written only for intervals that had any.
//!
//! # Hand-off
//!
//! The data path records into an *active* set of interval metrics. At an
//! interval boundary ([`IntervalLog::tick`]) it takes an empty spare set from
//! a bounded channel, swaps it in and sends the full set to a writer thread
//! over another bounded channel (`std::sync::mpsc::sync_channel`, both with
//! capacity for every set, so `try_send` never finds them full). The writer
//! serialises, writes, resets and sends the set back as a spare. All sets
//! are allocated in [`IntervalLog::create`]; `record` and `tick` never
//! allocate, block or do I/O. With no spare available the interval just
//! grows until the next tick that finds one.

use std::fs::File;
use std::io::{self, LineWriter, Write};
use std::mem;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, SyncSender, TryRecvError, TrySendError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hdrhistogram::serialization::interval_log::{
    IntervalLogWriterBuilder, IntervalLogWriterError, Tag,
};
use hdrhistogram::serialization::V2DeflateSerializer;

use super::metric::Metric;
use super::stream::MetricKind;
use super::StatsError;

/// Default interval length: 1 s.
pub const DEFAULT_INTERVAL_NS: u64 = 1_000_000_000;
/// Default number of spare interval sets besides the active one.
pub const DEFAULT_SPARE_SETS: usize = 2;
/// `Interval_Max` column = max ns / this (ms, like the Java writer).
pub const MAX_VALUE_DIVISOR: f64 = 1_000_000.0;

/// How an interval log is cut and headed.
#[derive(Clone, Debug)]
pub struct IntervalLogConfig {
    /// Interval length in ns (default 1 s).
    pub interval_ns: u64,
    /// Spare sets of interval metrics (default 2, at least 1). Each set has
    /// one `Metric` (~440 KiB) per tag.
    pub spare_sets: usize,
    /// Wall-clock time of the run start (`base_ns`): the log's StartTime
    /// and BaseTime.
    pub start_time: SystemTime,
    /// Extra header comment lines, e.g. the command line.
    pub comments: Vec<String>,
}

impl IntervalLogConfig {
    pub fn new(start_time: SystemTime) -> Self {
        Self {
            interval_ns: DEFAULT_INTERVAL_NS,
            spare_sets: DEFAULT_SPARE_SETS,
            start_time,
            comments: Vec::new(),
        }
    }
}

/// What the log ended up holding.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IntervalLogStats {
    /// Intervals written (each one line per tag, plus `.neg` lines).
    pub intervals: u64,
    /// Histogram lines written.
    pub histograms: u64,
    /// Boundaries where no spare set was free, so an interval ran longer.
    pub extended: u64,
}

/// A set of interval metrics, one per tag, with its time span.
struct IntervalSet {
    start_ns: u64,
    end_ns: u64,
    metrics: Vec<Metric>,
}

impl IntervalSet {
    fn new(tags: usize) -> Self {
        Self {
            start_ns: 0,
            end_ns: 0,
            metrics: (0..tags).map(|_| Metric::new()).collect(),
        }
    }
}

/// The data path's side of an interval log. See the module docs.
pub struct IntervalLog {
    path: PathBuf,
    tags: Vec<String>,
    active: IntervalSet,
    /// Where an empty set goes if the writer vanished mid-swap (so nothing
    /// is dropped, i.e. freed, on the data path).
    parked: Option<IntervalSet>,
    full_tx: Option<SyncSender<IntervalSet>>,
    spare_rx: Receiver<IntervalSet>,
    worker: Option<JoinHandle<Result<(u64, u64), StatsError>>>,
    interval_ns: u64,
    next_rotate_ns: u64,
    extended: u64,
    waiting_for_spare: bool,
    writer_gone: bool,
}

/// `s` made valid as an interval-log tag: ',', whitespace and control
/// characters become '_'; empty becomes "_".
pub fn sanitize_tag(s: &str) -> String {
    let t: String = s
        .chars()
        .map(|c| {
            if c == ',' || c.is_whitespace() || c.is_control() {
                '_'
            } else {
                c
            }
        })
        .collect();
    if t.is_empty() {
        "_".to_string()
    } else {
        t
    }
}

/// The tags [`IntervalLog::for_streams`] uses: `<stream>.tx_error`,
/// `<stream>.latency` for each stream, in that order.
pub fn stream_tags<S: AsRef<str>>(streams: &[S]) -> Vec<String> {
    streams
        .iter()
        .flat_map(|s| {
            let s = sanitize_tag(s.as_ref());
            MetricKind::ALL.map(|k| format!("{s}.{}", k.name()))
        })
        .collect()
}

/// Slot of `kind` of stream `stream` in a log made by
/// [`IntervalLog::for_streams`].
pub const fn stream_slot(stream: usize, kind: MetricKind) -> usize {
    stream * MetricKind::ALL.len() + kind.index()
}

/// UTC "YYYY-MM-DDTHH:MM:SS.mmmZ" for a time after the epoch.
fn iso8601_utc(secs: u64, millis: u32) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

fn write_header<W: Write>(out: &mut W, config: &IntervalLogConfig) -> io::Result<()> {
    let since = config
        .start_time
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO);
    let (secs, millis) = (since.as_secs(), since.subsec_millis());
    writeln!(out, "#[Logged with takt {}]", env!("CARGO_PKG_VERSION"))?;
    writeln!(out, "#[Histogram log format version 1.3]")?;
    writeln!(
        out,
        "#[StartTime: {secs}.{millis:03} (seconds since epoch), {}]",
        iso8601_utc(secs, millis)
    )?;
    writeln!(out, "#[BaseTime: {secs}.{millis:03} (seconds since epoch)]")?;
    for c in &config.comments {
        for line in c.lines() {
            writeln!(out, "#{line}")?;
        }
    }
    writeln!(
        out,
        "#[values in ns; Tag=<stream>.<metric> holds values >= 0, \
         Tag=<stream>.<metric>.neg the magnitudes of values < 0; \
         Interval_Max in ms]"
    )?;
    writeln!(
        out,
        "\"StartTimestamp\",\"Interval_Length\",\"Interval_Max\",\"Interval_Compressed_Histogram\""
    )
}

fn writer_loop(
    mut out: LineWriter<File>,
    path: &Path,
    tags: &[String],
    base_ns: u64,
    full_rx: Receiver<IntervalSet>,
    spare_tx: SyncSender<IntervalSet>,
) -> Result<(u64, u64), StatsError> {
    let io_err = |source| StatsError::Io {
        path: path.to_path_buf(),
        source,
    };
    let neg_tags: Vec<String> = tags.iter().map(|t| format!("{t}.neg")).collect();
    let (mut intervals, mut lines) = (0u64, 0u64);
    let mut serializer = V2DeflateSerializer::new();
    {
        let mut log = IntervalLogWriterBuilder::new()
            .with_max_value_divisor(MAX_VALUE_DIVISOR)
            .begin_log_with(&mut out, &mut serializer)
            .map_err(io_err)?;
        while let Ok(mut set) = full_rx.recv() {
            let start = Duration::from_nanos(set.start_ns.saturating_sub(base_ns));
            let length = Duration::from_nanos(set.end_ns.saturating_sub(set.start_ns));
            for ((tag, neg_tag), m) in tags.iter().zip(&neg_tags).zip(&set.metrics) {
                if m.count() == 0 {
                    continue; // nothing recorded under this tag in this interval
                }
                let neg = (m.negative_count() > 0).then(|| (m.negative_magnitudes(), neg_tag));
                for (h, t) in std::iter::once((m.non_negative(), tag)).chain(neg) {
                    log.write_histogram(h, start, length, Tag::new(t))
                        .map_err(|e| match e {
                            IntervalLogWriterError::IoError(source) => io_err(source),
                            IntervalLogWriterError::SerializeError(e) => StatsError::Encode {
                                path: path.to_path_buf(),
                                message: e.to_string(),
                            },
                        })?;
                    lines += 1;
                }
            }
            intervals += 1;
            for m in &mut set.metrics {
                m.reset();
            }
            // Capacity covers every set: only fails if the data path is gone.
            let _ = spare_tx.try_send(set);
        }
    }
    out.flush().map_err(io_err)?;
    Ok((intervals, lines))
}

impl IntervalLog {
    /// Creates (truncates) `path`, writes the header, allocates the active
    /// and spare sets (one `Metric` per tag each) and starts the writer
    /// thread. `base_ns` is the run start on the caller's clock: the same
    /// clock `tick` and `finish` get, and the instant `config.start_time`
    /// names. Tags are sanitised with [`sanitize_tag`].
    pub fn create(
        path: impl AsRef<Path>,
        tags: &[String],
        base_ns: u64,
        config: &IntervalLogConfig,
    ) -> Result<Self, StatsError> {
        let path = path.as_ref().to_path_buf();
        match super::out_file::create(&path) {
            Ok(file) => Self::with_file(path, file, tags, base_ns, config),
            Err(source) => Err(StatsError::Io { path, source }),
        }
    }

    /// As [`IntervalLog::create`], into a new `<path>.<tag>.part` file next
    /// to `path` (see `out_file::create_part`: never an existing file or
    /// link); [`IntervalLog::path`] names the part.
    pub fn create_part(
        path: &Path,
        tag: &str,
        tags: &[String],
        base_ns: u64,
        config: &IntervalLogConfig,
    ) -> Result<Self, StatsError> {
        match super::out_file::create_part(path, tag) {
            Ok((part, file)) => Self::with_file(part, file, tags, base_ns, config),
            Err(source) => Err(StatsError::Io {
                path: path.to_path_buf(),
                source,
            }),
        }
    }

    fn with_file(
        path: PathBuf,
        file: File,
        tags: &[String],
        base_ns: u64,
        config: &IntervalLogConfig,
    ) -> Result<Self, StatsError> {
        let io_err = |source| StatsError::Io {
            path: path.clone(),
            source,
        };
        let tags: Vec<String> = tags.iter().map(|t| sanitize_tag(t)).collect();
        let mut out = LineWriter::new(file);
        write_header(&mut out, config).map_err(io_err)?;
        out.flush().map_err(io_err)?;

        let spares = config.spare_sets.max(1);
        let sets = spares + 1;
        let (full_tx, full_rx) = mpsc::sync_channel::<IntervalSet>(sets);
        let (spare_tx, spare_rx) = mpsc::sync_channel::<IntervalSet>(sets);
        for _ in 0..spares {
            // Cannot fail: capacity `sets` > `spares`, receiver alive.
            let _ = spare_tx.try_send(IntervalSet::new(tags.len()));
        }
        let mut active = IntervalSet::new(tags.len());
        active.start_ns = base_ns;

        let worker = {
            let path = path.clone();
            let tags = tags.clone();
            thread::Builder::new()
                .name("takt-hist-log".into())
                .spawn(move || writer_loop(out, &path, &tags, base_ns, full_rx, spare_tx))
                .map_err(io_err)?
        };
        let interval_ns = config.interval_ns.max(1);
        Ok(Self {
            path,
            tags,
            active,
            parked: None,
            full_tx: Some(full_tx),
            spare_rx,
            worker: Some(worker),
            interval_ns,
            next_rotate_ns: base_ns.saturating_add(interval_ns),
            extended: 0,
            waiting_for_spare: false,
            writer_gone: false,
        })
    }

    /// A log with two tags per stream, `<stream>.tx_error` and
    /// `<stream>.latency`; record with [`IntervalLog::record_stream`].
    pub fn for_streams<S: AsRef<str>>(
        path: impl AsRef<Path>,
        streams: &[S],
        base_ns: u64,
        config: &IntervalLogConfig,
    ) -> Result<Self, StatsError> {
        Self::create(path, &stream_tags(streams), base_ns, config)
    }

    /// The file being written.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The (sanitised) tags, in slot order.
    pub fn tags(&self) -> &[String] {
        &self.tags
    }

    /// Slot of a tag, if present.
    pub fn slot(&self, tag: &str) -> Option<usize> {
        self.tags.iter().position(|t| t == tag)
    }

    /// Records `value_ns` into the current interval of `slot`. An unknown
    /// slot is ignored. Never allocates.
    #[inline]
    pub fn record(&mut self, slot: usize, value_ns: i64) {
        if let Some(m) = self.active.metrics.get_mut(slot) {
            m.record(value_ns);
        }
    }

    /// Records into [`stream_slot`]`(stream, kind)`.
    #[inline]
    pub fn record_stream(&mut self, stream: usize, kind: MetricKind, value_ns: i64) {
        self.record(stream_slot(stream, kind), value_ns);
    }

    /// Call often (every frame or wake-up is fine: it is a compare until
    /// the boundary). At or after an interval boundary, hands the interval
    /// to the writer if a spare set is free; returns whether it did. Never
    /// allocates, blocks or does I/O.
    pub fn tick(&mut self, now_ns: u64) -> bool {
        if now_ns < self.next_rotate_ns {
            return false;
        }
        self.rotate(now_ns)
    }

    /// Ends the current interval at `now_ns` now, if a spare set is free.
    /// Never allocates, blocks or does I/O.
    pub fn rotate(&mut self, now_ns: u64) -> bool {
        if self.writer_gone {
            return false;
        }
        let spare = match self.spare_rx.try_recv() {
            Ok(spare) => spare,
            Err(TryRecvError::Empty) => {
                if !self.waiting_for_spare {
                    self.waiting_for_spare = true;
                    self.extended += 1;
                }
                return false;
            }
            Err(TryRecvError::Disconnected) => {
                self.writer_gone = true;
                return false;
            }
        };
        let mut full = mem::replace(&mut self.active, spare);
        full.end_ns = now_ns;
        self.active.start_ns = now_ns;
        let sent = match &self.full_tx {
            Some(tx) => tx.try_send(full),
            None => Err(TrySendError::Disconnected(full)),
        };
        match sent {
            Ok(()) => {
                self.waiting_for_spare = false;
                // Stay on the interval grid; skip boundaries already past.
                // (A rotation forced before the boundary keeps it.)
                if now_ns >= self.next_rotate_ns {
                    let behind = (now_ns - self.next_rotate_ns) / self.interval_ns + 1;
                    self.next_rotate_ns = self
                        .next_rotate_ns
                        .saturating_add(behind.saturating_mul(self.interval_ns));
                }
                true
            }
            Err(TrySendError::Full(full) | TrySendError::Disconnected(full)) => {
                // The writer is gone: keep recording into the full set, park
                // the empty one (so nothing is freed here).
                // Only reached once: rotation stops when the writer is gone.
                self.parked = Some(mem::replace(&mut self.active, full));
                self.writer_gone = true;
                false
            }
        }
    }

    /// Boundaries so far where no spare set was free.
    pub fn extended_intervals(&self) -> u64 {
        self.extended
    }

    /// Ends the last interval at `now_ns`, waits for the writer to write it
    /// and close the file, and reports an I/O error (with the path) if any
    /// write failed. Call at the end of the run and on SIGINT.
    pub fn finish(mut self, now_ns: u64) -> Result<IntervalLogStats, StatsError> {
        let mut last = mem::replace(&mut self.active, IntervalSet::new(0));
        last.end_ns = now_ns.max(last.start_ns);
        if let Some(tx) = self.full_tx.take() {
            // Blocking is fine here; capacity covers every set anyway.
            let _ = tx.send(last);
        }
        let result = match self.worker.take().map(JoinHandle::join) {
            Some(Ok(result)) => result,
            Some(Err(_)) | None => Err(StatsError::WriterLost {
                path: self.path.clone(),
            }),
        };
        let (intervals, histograms) = result?;
        Ok(IntervalLogStats {
            intervals,
            histograms,
            extended: self.extended,
        })
    }
}

/// Merge interval logs written with the same StartTime/BaseTime (e.g. one
/// per thread) into `out`: the first file's header, then every interval
/// line of all files in time order. Off the data path: reads them whole.
pub fn merge_interval_logs(parts: &[PathBuf], out: &Path) -> Result<(), StatsError> {
    let read = |p: &PathBuf| {
        std::fs::read_to_string(p).map_err(|source| StatsError::Io {
            path: p.clone(),
            source,
        })
    };
    let texts = parts.iter().map(read).collect::<Result<Vec<_>, _>>()?;
    let is_header = |l: &&str| l.starts_with('#') || l.starts_with('"');
    let mut merged = String::new();
    if let Some(first) = texts.first() {
        for l in first.lines().filter(is_header) {
            merged.push_str(l);
            merged.push('\n');
        }
    }
    let mut lines: Vec<(f64, &str)> = texts
        .iter()
        .flat_map(|t| t.lines().filter(|l| !l.is_empty() && !is_header(l)))
        .map(|l| (interval_start(l), l))
        .collect();
    lines.sort_by(|a, b| a.0.total_cmp(&b.0));
    for (_, l) in lines {
        merged.push_str(l);
        merged.push('\n');
    }
    // Replaced, not written through: a link at `out` is not followed.
    super::out_file::replace(out, |f| f.write_all(merged.as_bytes())).map_err(|source| {
        StatsError::Io {
            path: out.to_path_buf(),
            source,
        }
    })
}

/// StartTimestamp of an interval line (`[Tag=..,]start,length,max,hist`).
fn interval_start(line: &str) -> f64 {
    let mut fields = line.split(',');
    let first = fields.next().unwrap_or("");
    let start = if first.starts_with("Tag=") {
        fields.next().unwrap_or("")
    } else {
        first
    };
    start.parse().unwrap_or(0.0)
}
