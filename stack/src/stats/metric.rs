//! `Metric`: one signed nanosecond quantity (tx error, latency, wake-up
//! lateness) recorded into fixed-size HDR histograms.
//!
//! Two `hdrhistogram::Histogram<u64>`s with the same fixed bounds (1 ns ..
//! 60 s, 3 significant figures, auto-resize off) hold the distribution: one
//! for values >= 0, one for the magnitudes of values < 0. Both are allocated
//! in [`Metric::new`]; [`Metric::record`] never allocates, never resizes and
//! never panics.

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// Largest magnitude a metric resolves: 60 s in ns. Larger values are
/// clamped to it and counted in [`Metric::overflows`].
pub const METRIC_MAX_NS: u64 = 60_000_000_000;
/// Significant decimal figures the histograms keep (0.1 % resolution).
pub const METRIC_SIGFIG: u8 = 3;

/// The percentiles every summary reports, as quantiles.
pub const SUMMARY_QUANTILES: [f64; 4] = [0.50, 0.90, 0.99, 0.999];

/// A signed distribution of nanosecond values with exact count, min, max and
/// sum, and percentiles at 3 significant figures.
#[derive(Clone)]
pub struct Metric {
    /// Values >= 0 (clamped to `METRIC_MAX_NS`).
    pos: Histogram<u64>,
    /// Magnitudes of values < 0 (clamped to `METRIC_MAX_NS`).
    neg: Histogram<u64>,
    count: u64,
    overflows: u64,
    /// Exact, unclamped; meaningful only when `count > 0`.
    min: i64,
    max: i64,
    /// Exact sum of the unclamped values (i128 cannot overflow here).
    sum: i128,
}

/// The numbers a report shows for one metric. All values in ns; `None`
/// (JSON `null`) when nothing was recorded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Smallest value recorded, exact (not clamped).
    pub min: Option<i64>,
    pub p50: Option<i64>,
    pub p90: Option<i64>,
    pub p99: Option<i64>,
    /// 99.9th percentile.
    pub p999: Option<i64>,
    /// Largest value recorded, exact (not clamped).
    pub max: Option<i64>,
    /// Arithmetic mean of the exact values.
    pub mean: Option<f64>,
    pub count: u64,
    /// Values whose magnitude exceeded 60 s (recorded clamped to +-60 s).
    pub overflows: u64,
}

fn new_histogram() -> Histogram<u64> {
    // Constant, valid bounds: creation cannot fail. auto-resize is off by
    // default for new_with_bounds; say so anyway.
    let mut h = Histogram::new_with_bounds(1, METRIC_MAX_NS, METRIC_SIGFIG)
        .expect("1 ns .. 60 s at 3 significant figures are valid histogram bounds");
    h.auto(false);
    h
}

/// Value of the `k`-th smallest recorded entry (1-based) at the histogram's
/// precision, as the bin's (lowest, highest) equivalent values.
fn kth_bin(h: &Histogram<u64>, k: u64) -> Option<(u64, u64)> {
    let mut seen = 0u64;
    for v in h.iter_recorded() {
        seen = seen.saturating_add(v.count_at_value());
        if seen >= k {
            let hi = v.value_iterated_to();
            return Some((h.lowest_equivalent(hi), hi));
        }
    }
    None
}

impl Default for Metric {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for Metric {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metric")
            .field("count", &self.count)
            .field("min", &self.min())
            .field("max", &self.max())
            .field("overflows", &self.overflows)
            .finish()
    }
}

impl Metric {
    /// Allocates both histograms (about 220 KiB each). Call at start-up.
    pub fn new() -> Self {
        Self {
            pos: new_histogram(),
            neg: new_histogram(),
            count: 0,
            overflows: 0,
            min: i64::MAX,
            max: i64::MIN,
            sum: 0,
        }
    }

    /// Records one value. Never allocates, never panics. A magnitude above
    /// 60 s is recorded as +-60 s and counted in `overflows`; min, max and
    /// mean still see the exact value.
    #[inline]
    pub fn record(&mut self, value_ns: i64) {
        self.count += 1;
        self.sum += i128::from(value_ns);
        self.min = self.min.min(value_ns);
        self.max = self.max.max(value_ns);
        let magnitude = value_ns.unsigned_abs();
        let clamped = if magnitude > METRIC_MAX_NS {
            self.overflows += 1;
            METRIC_MAX_NS
        } else {
            magnitude
        };
        let h = if value_ns >= 0 {
            &mut self.pos
        } else {
            &mut self.neg
        };
        // In range by construction; if it ever failed the value is counted
        // as an overflow rather than dropped silently.
        if h.record(clamped).is_err() {
            self.overflows += 1;
        }
    }

    /// Empties the metric, keeping its memory. Never allocates.
    pub fn reset(&mut self) {
        self.pos.reset();
        self.neg.reset();
        self.count = 0;
        self.overflows = 0;
        self.min = i64::MAX;
        self.max = i64::MIN;
        self.sum = 0;
    }

    /// Adds everything `other` recorded to `self`. Never allocates (both
    /// sides have the same fixed bounds).
    pub fn merge(&mut self, other: &Metric) {
        if other.count == 0 {
            return;
        }
        for (dst, src) in [(&mut self.pos, &other.pos), (&mut self.neg, &other.neg)] {
            if dst.add(src).is_err() {
                // Unreachable with identical bounds; fall back bin by bin.
                for v in src.iter_recorded() {
                    let value = v.value_iterated_to().min(METRIC_MAX_NS);
                    let _ = dst.record_n(value, v.count_at_value());
                }
            }
        }
        self.count += other.count;
        self.overflows += other.overflows;
        self.sum += other.sum;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
    }

    /// Number of values recorded.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Values whose magnitude exceeded 60 s.
    pub fn overflows(&self) -> u64 {
        self.overflows
    }

    /// Exact smallest value, `None` if empty.
    pub fn min(&self) -> Option<i64> {
        (self.count > 0).then_some(self.min)
    }

    /// Exact largest value, `None` if empty.
    pub fn max(&self) -> Option<i64> {
        (self.count > 0).then_some(self.max)
    }

    /// Exact sum of all values recorded.
    pub fn sum(&self) -> i128 {
        self.sum
    }

    /// Mean of the exact values, `None` if empty.
    pub fn mean(&self) -> Option<f64> {
        (self.count > 0).then(|| self.sum as f64 / self.count as f64)
    }

    /// Values recorded below zero.
    pub fn negative_count(&self) -> u64 {
        self.neg.len()
    }

    /// Histogram of the values >= 0 (clamped to 60 s).
    pub fn non_negative(&self) -> &Histogram<u64> {
        &self.pos
    }

    /// Histogram of the magnitudes of the values < 0 (clamped to 60 s).
    pub fn negative_magnitudes(&self) -> &Histogram<u64> {
        &self.neg
    }

    /// The value at quantile `q` (0.0 ..= 1.0) of the signed distribution,
    /// at the histogram's precision: the nearest-rank entry, reported as the
    /// highest value equivalent to it (for a negative entry that is minus the
    /// lowest equivalent magnitude), then limited to the exact [min, max].
    /// `None` if empty. Never allocates.
    pub fn value_at_quantile(&self, q: f64) -> Option<i64> {
        let negatives = self.neg.len();
        let total = negatives + self.pos.len();
        if total == 0 {
            return None;
        }
        let q = if q.is_nan() { 0.0 } else { q.clamp(0.0, 1.0) };
        let rank = ((q * total as f64).ceil() as u64).clamp(1, total);
        let value = if rank <= negatives {
            // Ascending signed order walks the magnitudes from the top.
            let (lo, _) = kth_bin(&self.neg, negatives - rank + 1)?;
            -(lo as i64)
        } else {
            let (_, hi) = kth_bin(&self.pos, rank - negatives)?;
            hi as i64
        };
        Some(value.clamp(self.min, self.max))
    }

    /// Percentile (0 ..= 100) version of [`Metric::value_at_quantile`].
    pub fn value_at_percentile(&self, p: f64) -> Option<i64> {
        self.value_at_quantile(p / 100.0)
    }

    /// min, p50, p90, p99, p99.9, max, mean, count, overflows.
    pub fn summary(&self) -> Summary {
        let [p50, p90, p99, p999] = SUMMARY_QUANTILES.map(|q| self.value_at_quantile(q));
        Summary {
            min: self.min(),
            p50,
            p90,
            p99,
            p999,
            max: self.max(),
            mean: self.mean(),
            count: self.count,
            overflows: self.overflows,
        }
    }
}
