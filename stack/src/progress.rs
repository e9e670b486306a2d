//! Live figures the data path publishes for a progress line: relaxed
//! atomics only, so publishing costs a few stores and never blocks; the
//! display thread reads them whenever it likes.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

/// `i64::MIN` marks "no value yet" for the latency figures.
const NONE: i64 = i64::MIN;

#[derive(Debug)]
pub struct Progress {
    frames: AtomicU64,
    lost: AtomicU64,
    late: AtomicU64,
    p99_ns: AtomicI64,
    max_ns: AtomicI64,
}

impl Default for Progress {
    fn default() -> Self {
        Progress {
            frames: AtomicU64::new(0),
            lost: AtomicU64::new(0),
            late: AtomicU64::new(0),
            p99_ns: AtomicI64::new(NONE),
            max_ns: AtomicI64::new(NONE),
        }
    }
}

/// One reading of a [`Progress`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Snapshot {
    pub frames: u64,
    pub lost: u64,
    pub late: u64,
    pub p99_ns: Option<i64>,
    pub max_ns: Option<i64>,
}

impl Progress {
    pub fn set_counts(&self, frames: u64, lost: u64, late: u64) {
        self.frames.store(frames, Ordering::Relaxed);
        self.lost.store(lost, Ordering::Relaxed);
        self.late.store(late, Ordering::Relaxed);
    }

    pub fn set_latency(&self, p99_ns: Option<i64>, max_ns: Option<i64>) {
        self.p99_ns.store(p99_ns.unwrap_or(NONE), Ordering::Relaxed);
        self.max_ns.store(max_ns.unwrap_or(NONE), Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> Snapshot {
        let opt = |v: i64| (v != NONE).then_some(v);
        Snapshot {
            frames: self.frames.load(Ordering::Relaxed),
            lost: self.lost.load(Ordering::Relaxed),
            late: self.late.load(Ordering::Relaxed),
            p99_ns: opt(self.p99_ns.load(Ordering::Relaxed)),
            max_ns: opt(self.max_ns.load(Ordering::Relaxed)),
        }
    }
}

impl Snapshot {
    /// "frames 12345  lost 0  late 0  p99 12.3us  max 45.6us"
    pub fn line(&self, what: &str) -> String {
        let us =
            |v: Option<i64>| v.map_or("-".to_string(), |ns| format!("{:.1}us", ns as f64 / 1e3));
        format!(
            "frames {}  lost {}  late {}  {what} p99 {}  max {}",
            self.frames,
            self.lost,
            self.late,
            us(self.p99_ns),
            us(self.max_ns)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publishes_and_reads_back() {
        let p = Progress::default();
        assert_eq!(
            p.snapshot().line("latency"),
            "frames 0  lost 0  late 0  latency p99 -  max -"
        );
        p.set_counts(12345, 2, 1);
        p.set_latency(Some(12_340), Some(45_600));
        assert_eq!(
            p.snapshot().line("latency"),
            "frames 12345  lost 2  late 1  latency p99 12.3us  max 45.6us"
        );
    }
}
