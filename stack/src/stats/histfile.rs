//! `--histfile PATH`: the histogram file rt-tests' cyclictest writes with
//! `-h N --histfile PATH` (`print_hist()` in src/cyclictest/cyclictest.c),
//! byte for byte in layout, with one column per [`HistfileColumn`] where
//! cyclictest has one per thread:
//!
//! ```text
//! # Histogram
//! 000000 000000\t000000          "%06d " then "%06lu" per column, tab-separated
//! ...                             one line per 1 us bucket, 0 .. N-1
//! # Total: 000001000 000001000   " %09llu" per column
//! # Min Latencies: 00005 00006   " %05lu" per column, us
//! # Avg Latencies: 00007 00007
//! # Max Latencies: 00012 00015
//! # Histogram Overflows: 00000 00000
//! # Histogram Overflow at cycle number:
//! # Thread 0:                    " %05lu" per recorded cycle, then " # %05lu others"
//! # Thread 1:
//! (empty line)
//! ```
//!
//! With `histofall` (cyclictest `-H`) and more than one column, an extra
//! summary column is appended to the bucket lines, `# Total`, `# Max
//! Latencies` (max of maxes) and `# Histogram Overflows` (sum), as cyclictest
//! does.
//!
//! Differences forced by the data, all documented in docs/reports.md:
//! buckets come from a 3-significant-figure HDR histogram, so they are exact
//! below 16.384 us and otherwise a value can land one bucket low when its HDR
//! bin straddles a microsecond boundary (each bin is placed by its lowest
//! value); negative values (cyclictest has none) are counted in bucket 0,
//! while Min/Avg/Max show the signed value (`%05ld`-style, e.g. `-0012`); an
//! empty column prints 00000 for min/avg/max.

use std::io::{self, Write};
use std::path::Path;

use super::metric::Metric;
use super::StatsError;

/// cyclictest's `-h` default in takt (cyclictest itself has none).
pub const DEFAULT_BUCKETS: u32 = 1000;
/// cyclictest's `HIST_MAX`.
pub const MAX_BUCKETS: u32 = 1_000_000;

/// Layout options: cyclictest's `-h N` / `-H N`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HistfileOptions {
    /// Number of 1 us buckets; values >= `buckets` us are overflows.
    pub buckets: u32,
    /// Add cyclictest's `-H` summary column.
    pub histofall: bool,
}

impl Default for HistfileOptions {
    fn default() -> Self {
        Self {
            buckets: DEFAULT_BUCKETS,
            histofall: false,
        }
    }
}

/// Cycle numbers at which a column's value overflowed the histfile range,
/// kept on the data path like cyclictest's `outliers` array: fixed capacity
/// allocated up front, [`OverflowCycles::record`] never allocates.
#[derive(Clone, Debug)]
pub struct OverflowCycles {
    threshold_ns: i64,
    cycles: Vec<u64>,
    count: u64,
}

impl OverflowCycles {
    /// Overflow threshold `buckets` us (as `-h buckets`); remembers up to
    /// `capacity` cycle numbers (cyclictest keeps `buckets` of them).
    pub fn new(buckets: u32, capacity: usize) -> Self {
        Self {
            threshold_ns: i64::from(buckets) * 1000,
            cycles: Vec::with_capacity(capacity),
            count: 0,
        }
    }

    /// Notes `cycle` if `value_ns` is an overflow. Never allocates.
    #[inline]
    pub fn record(&mut self, cycle: u64, value_ns: i64) {
        if value_ns >= self.threshold_ns {
            self.count += 1;
            if self.cycles.len() < self.cycles.capacity() {
                self.cycles.push(cycle);
            }
        }
    }

    /// Cycle numbers remembered, in order.
    pub fn cycles(&self) -> &[u64] {
        &self.cycles
    }

    /// All overflows seen, remembered or not.
    pub fn count(&self) -> u64 {
        self.count
    }
}

/// One column of the histfile (one thread in cyclictest, one stream here).
#[derive(Clone, Copy, Debug)]
pub struct HistfileColumn<'a> {
    pub metric: &'a Metric,
    /// Where the overflows happened, if the loop kept track.
    pub overflow_cycles: Option<&'a OverflowCycles>,
}

impl<'a> HistfileColumn<'a> {
    pub fn new(metric: &'a Metric) -> Self {
        Self {
            metric,
            overflow_cycles: None,
        }
    }

    pub fn with_overflow_cycles(mut self, cycles: &'a OverflowCycles) -> Self {
        self.overflow_cycles = Some(cycles);
        self
    }
}

/// 1 us bucket counts of one metric and the number of overflows (values >=
/// `buckets` us); `sum(counts) + overflows == metric.count()`.
pub fn us_buckets(metric: &Metric, buckets: u32) -> (Vec<u64>, u64) {
    let n = buckets as usize;
    let mut counts = vec![0u64; n];
    let mut overflows = 0u64;
    let negatives = metric.negative_count();
    if negatives > 0 {
        match counts.first_mut() {
            Some(c) => *c += negatives,
            None => overflows += negatives,
        }
    }
    let h = metric.non_negative();
    for v in h.iter_recorded() {
        let us = h.lowest_equivalent(v.value_iterated_to()) / 1000;
        match counts.get_mut(us as usize) {
            Some(c) if us < u64::from(buckets) => *c += v.count_at_value(),
            _ => overflows += v.count_at_value(),
        }
    }
    (counts, overflows)
}

fn ns_to_us(ns: i64) -> i64 {
    ns / 1000
}

/// Writes the histfile for `columns` to `out`.
pub fn write_histfile<W: Write>(
    out: &mut W,
    columns: &[HistfileColumn<'_>],
    opts: &HistfileOptions,
) -> io::Result<()> {
    if opts.buckets == 0 || opts.buckets > MAX_BUCKETS {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "histogram bucket count {} is out of range: use 1 ..= {MAX_BUCKETS}",
                opts.buckets
            ),
        ));
    }
    let n = columns.len();
    let sum_column = opts.histofall && n > 1;
    let data: Vec<(Vec<u64>, u64)> = columns
        .iter()
        .map(|c| us_buckets(c.metric, opts.buckets))
        .collect();

    let mut w = io::BufWriter::new(out);
    writeln!(w, "# Histogram")?;
    let mut totals = vec![0u64; n + 1];
    for i in 0..opts.buckets as usize {
        write!(w, "{i:06} ")?;
        let mut all = 0u64;
        for (j, (counts, _)) in data.iter().enumerate() {
            let c = counts[i];
            write!(w, "{c:06}")?;
            if j + 1 < n {
                write!(w, "\t")?;
            }
            totals[j] += c;
            all += c;
        }
        if sum_column {
            write!(w, "\t{all:06}")?;
            totals[n] += all;
        }
        writeln!(w)?;
    }

    write!(w, "# Total:")?;
    for t in &totals[..n] {
        write!(w, " {t:09}")?;
    }
    if sum_column {
        write!(w, " {:09}", totals[n])?;
    }
    writeln!(w)?;

    write!(w, "# Min Latencies:")?;
    for c in columns {
        write!(w, " {:05}", c.metric.min().map_or(0, ns_to_us))?;
    }
    writeln!(w)?;

    write!(w, "# Avg Latencies:")?;
    for c in columns {
        let m = c.metric;
        let avg = if m.count() > 0 {
            (m.sum() / (i128::from(m.count()) * 1000)) as i64
        } else {
            0
        };
        write!(w, " {avg:05}")?;
    }
    writeln!(w)?;

    write!(w, "# Max Latencies:")?;
    let mut maxmax = 0i64;
    for c in columns {
        let max = c.metric.max().map_or(0, ns_to_us);
        write!(w, " {max:05}")?;
        maxmax = maxmax.max(max);
    }
    if sum_column {
        write!(w, " {maxmax:05}")?;
    }
    writeln!(w)?;

    write!(w, "# Histogram Overflows:")?;
    let mut all_overflows = 0u64;
    for (_, overflows) in &data {
        write!(w, " {overflows:05}")?;
        all_overflows += overflows;
    }
    if sum_column {
        write!(w, " {all_overflows:05}")?;
    }
    writeln!(w)?;

    writeln!(w, "# Histogram Overflow at cycle number:")?;
    for (i, (c, (_, overflows))) in columns.iter().zip(&data).enumerate() {
        write!(w, "# Thread {i}:")?;
        let listed = c.overflow_cycles.map_or(&[][..], OverflowCycles::cycles);
        for cycle in listed {
            write!(w, " {cycle:05}")?;
        }
        let listed = listed.len() as u64;
        if listed < *overflows {
            write!(w, " # {:05} others", overflows - listed)?;
        }
        writeln!(w)?;
    }
    writeln!(w)?;
    w.flush()
}

/// [`write_histfile`] to a new file at `path` (replaced if it exists).
pub fn save_histfile(
    path: &Path,
    columns: &[HistfileColumn<'_>],
    opts: &HistfileOptions,
) -> Result<(), StatsError> {
    if opts.buckets == 0 || opts.buckets > MAX_BUCKETS {
        return Err(StatsError::BadBuckets {
            path: path.to_path_buf(),
            buckets: opts.buckets,
        });
    }
    let io_err = |source| StatsError::Io {
        path: path.to_path_buf(),
        source,
    };
    // Replaced, not written through: a link at `path` is not followed.
    super::out_file::replace(path, |f| write_histfile(f, columns, opts)).map_err(io_err)
}
