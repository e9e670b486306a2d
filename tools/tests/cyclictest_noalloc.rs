//! The measurement loop of takt-cyclictest allocates nothing: each wake
//! mode runs 2000 wake-ups at 100 us, with the histogram's overflow cycles
//! and the interval log on, under the counting allocator. No root needed
//! (no SCHED_FIFO, no pinning); nothing about timing is asserted.

use std::sync::Arc;

use takt_scheduler::rt::{self, Wake, WakeConfig, DEFAULT_MARGIN_NS};
use takt_stack::stats::{IntervalLog, IntervalLogConfig};
use takt_tools::cyclictest::measure::{self, Shared, ThreadBuffers, ThreadPlan, CLOCK};

#[global_allocator]
static ALLOC: rt::CountingAllocator = rt::CountingAllocator;

mod common;

fn run(mode: Wake, dir: &common::TempDir) {
    let plan = ThreadPlan {
        index: 0,
        cpu: None,
        priority: None,
        lock_memory: false,
        interval_ns: 100_000,
        loops: 2000,
        wake: WakeConfig {
            mode,
            margin_ns: DEFAULT_MARGIN_NS,
        },
        // 1-us buckets up to 5 us: most wake-ups overflow, so the overflow
        // list fills up and its "full" path runs too.
        overflow_buckets: Some(5),
    };
    let log = IntervalLog::create(
        dir.file(&format!("{mode}.hlog")),
        &["thread0".to_string()],
        CLOCK.now_ns(),
        &IntervalLogConfig {
            // Short intervals: the hand-over to the writer runs in the loop.
            interval_ns: 20_000_000,
            ..IntervalLogConfig::new(std::time::SystemTime::now())
        },
    )
    .expect("create interval log");
    let shared = Arc::new(Shared::new(1));
    let bufs = ThreadBuffers::new(&plan, Some(log));
    let worker = {
        let shared = Arc::clone(&shared);
        let plan = plan.clone();
        std::thread::spawn(move || {
            let _guard = measure::prepare(&plan).expect("prepare without rt options");
            measure::run_thread(&plan, &shared, bufs)
        })
    };
    shared.start.wait();
    let r = worker.join().expect("measurement thread");
    assert_eq!(r.latency.count(), 2000, "{mode}");
    let counts = r.allocations.expect("counting allocator installed");
    assert_eq!(
        (counts.allocs, counts.frees),
        (0, 0),
        "{mode}: heap operations in the measurement loop"
    );
    let o = r.overflows.as_ref().unwrap();
    assert!(o.cycles().len() <= 5);
    let stats = r
        .hist_log
        .unwrap()
        .finish(CLOCK.now_ns())
        .expect("finish log");
    assert!(stats.intervals >= 1);
}

#[test]
fn measurement_loop_does_not_allocate_in_any_wake_mode() {
    assert!(rt::allocation_counting_active());
    let dir = common::TempDir::new("cyclictest-noalloc");
    for mode in [Wake::Nanosleep, Wake::Hybrid, Wake::Spin] {
        run(mode, &dir);
    }
}
