//! The recording path and the interval hand-off allocate nothing.
//!
//! `rt::CountingAllocator` counts allocations, reallocations and frees made
//! by the *current thread* inside `count_allocations`. Counting is
//! per thread on purpose: the interval-log writer thread serialises and
//! deflates (and so allocates) off the data path, and the test harness runs
//! other tests on other threads; neither must be counted.

use std::time::{Duration, Instant, UNIX_EPOCH};

use takt_scheduler::rt::{count_allocations, CountingAllocator};
use takt_stack::stats::{
    IntervalLog, IntervalLogConfig, Metric, MetricKind, OverflowCycles, RunStats,
};

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

/// Runs `f` with this thread's allocations counted; returns (allocations +
/// reallocations, frees) it made.
fn count<R>(f: impl FnOnce() -> R) -> (R, u64, u64) {
    let (r, n) = count_allocations(f);
    (r, n.allocs, n.frees)
}

#[test]
fn the_counter_sees_allocations() {
    let (_, allocs, frees) = count(|| drop(vec![1u8; 100]));
    assert_eq!((allocs, frees), (1, 1));
}

#[test]
fn recording_metrics_and_counters_allocates_nothing() {
    let mut run = RunStats::new(["a", "b"]);
    let mut overflow_cycles = OverflowCycles::new(1000, 64);
    let mut merged = Metric::new();
    let mut line = String::with_capacity(128);

    let (_, allocs, frees) = count(|| {
        for i in 0..100_000i64 {
            let s = &mut run.streams[(i % 2) as usize];
            s.frames_sent += 1;
            s.frames_received += 1;
            // Negatives, zero, in range, and beyond +-60 s.
            let v = match i % 1000 {
                0 => 90_000_000_000,
                1 => -90_000_000_000,
                2 => i64::MIN,
                _ => (i * 7919) % 2_000_000 - 100_000,
            };
            s.tx_error_ns.record(v);
            s.latency_ns.record(v / 3);
            overflow_cycles.record(i as u64, v);
        }
        // The once-a-second work a loop might do itself.
        let _ = run.streams[0].latency_ns.summary();
        merged.merge(&run.streams[0].latency_ns);
        line.clear();
        let _ = run.write_progress(&mut line);
    });
    assert_eq!(
        (allocs, frees),
        (0, 0),
        "allocations / frees while recording"
    );
    assert_eq!(run.streams[0].tx_error_ns.count(), 50_000);
    assert!(run.streams[0].tx_error_ns.overflows() > 0);
    assert!(line.starts_with("frames 100000 lost 0 p99 "), "{line}");
    assert_eq!(overflow_cycles.cycles().len(), 64);
}

#[test]
fn interval_hand_off_allocates_nothing() {
    let path = std::env::temp_dir().join(format!("takt-noalloc-{}.hlog", std::process::id()));
    let mut config = IntervalLogConfig::new(UNIX_EPOCH + Duration::from_secs(1_700_000_000));
    config.interval_ns = 1_000_000; // fake clock: 1 ms intervals, 1 frame / us
    config.spare_sets = 2;
    let names = ["a", "b"];
    let mut log = IntervalLog::for_streams(&path, &names, 0, &config).unwrap();

    // One "frame" every 1 us of fake time: record both metrics of one
    // stream, then tick. With `wait`, a boundary spins (yield_now, no
    // allocation) until the writer has returned a spare, so it always swaps.
    let frame = |log: &mut IntervalLog, i: u64, wait: bool| -> bool {
        let stream = (i % 2) as usize;
        let v = (i as i64 % 5000) - 1000;
        log.record_stream(stream, MetricKind::TxError, v);
        log.record_stream(stream, MetricKind::Latency, v * 10);
        let now = i * 1000;
        if !wait || i == 0 || !i.is_multiple_of(1000) {
            return log.tick(now);
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if log.tick(now) {
                return true;
            }
            std::thread::yield_now();
        }
        false
    };

    // Counted from the first frame after start-up (no warm-up needed):
    // 100k frames = 100 boundaries, each one swapped (waiting for the
    // writer when it is behind), then 100k frames ticking without waiting,
    // where an interval gets longer when no spare is free.
    let mut i = 0u64;
    let ((swaps, fast_swaps), allocs, frees) = count(|| {
        let mut swaps = 0u64;
        for _ in 0..=100_000 {
            swaps += u64::from(frame(&mut log, i, true));
            i += 1;
        }
        let mut fast_swaps = 0u64;
        for _ in 0..100_000 {
            fast_swaps += u64::from(frame(&mut log, i, false));
            i += 1;
        }
        (swaps, fast_swaps)
    });
    assert_eq!(
        (allocs, frees),
        (0, 0),
        "allocations / frees on the data path"
    );
    assert_eq!(swaps, 100, "every boundary swapped");
    assert!(fast_swaps >= 1, "no swap without waiting");

    let stats = log.finish(i * 1000).unwrap();
    std::fs::remove_file(&path).unwrap();
    // Every swapped interval, plus the last one written by finish.
    assert_eq!(stats.intervals, swaps + fast_swaps + 1);
}
