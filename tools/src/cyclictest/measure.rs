//! One measurement thread: wake at absolute deadlines `interval` apart on
//! CLOCK_MONOTONIC (as cyclictest) and record each wake-up's latency =
//! the clock read right after waking − the deadline.
//!
//! [`Cycle`] is the sans-I/O core (next deadline, latency, skipping
//! deadlines a stall has passed); [`run_thread`] is the thin loop around it.
//! Everything the loop touches is allocated before it starts, and the loop
//! runs inside `rt::count_allocations` so the result says how many heap
//! operations it made (the house rule, and `tests/cyclictest_noalloc.rs`: 0).

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::Barrier;

use takt_scheduler::rt::{self, AllocCounts, RtConfig, RtError, WakeConfig};
use takt_scheduler::ClockId;
use takt_stack::stats::{IntervalLog, Metric, OverflowCycles};

/// The clock cyclictest measures on by default.
pub const CLOCK: ClockId = ClockId::Monotonic;

/// Stack the loop may use, touched before measuring so no page fault lands
/// inside it (cyclictest prefaults its stack the same way).
pub const PREFAULT_STACK_BYTES: usize = 64 * 1024;

/// What one thread does, from the flags.
#[derive(Clone, Debug, PartialEq)]
pub struct ThreadPlan {
    pub index: usize,
    pub cpu: Option<usize>,
    /// SCHED_FIFO priority; `None` leaves the thread SCHED_OTHER.
    pub priority: Option<u8>,
    pub lock_memory: bool,
    pub interval_ns: u64,
    /// 0 = until stopped.
    pub loops: u64,
    pub wake: WakeConfig,
    /// `-h N`: remember the cycle numbers of values >= N us.
    pub overflow_buckets: Option<u32>,
}

/// Deadlines of one thread and the latency of each wake-up. Pure: fed
/// with clock readings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cycle {
    next_ns: u64,
    interval_ns: u64,
    cycles: u64,
}

impl Cycle {
    /// The first deadline is one interval after `start_ns`, as cyclictest.
    pub fn new(start_ns: u64, interval_ns: u64) -> Self {
        let interval_ns = interval_ns.max(1);
        Self {
            next_ns: start_ns.saturating_add(interval_ns),
            interval_ns,
            cycles: 0,
        }
    }

    /// The deadline to wait for.
    pub fn deadline(&self) -> u64 {
        self.next_ns
    }

    /// Wake-ups recorded so far.
    pub fn cycles(&self) -> u64 {
        self.cycles
    }

    /// The thread woke at `now_ns` for [`Cycle::deadline`]: returns the
    /// latency (negative if it woke early, e.g. on a signal) and moves to
    /// the next deadline after `now_ns`. Deadlines a stall has passed are
    /// skipped, not caught up in a burst (cyclictest does the same), so one
    /// stall is one large value rather than a run of them.
    pub fn woke(&mut self, now_ns: u64) -> i64 {
        let latency = now_ns as i64 - self.next_ns as i64;
        self.cycles += 1;
        self.next_ns = self.next_ns.saturating_add(self.interval_ns);
        if now_ns >= self.next_ns {
            let missed = (now_ns - self.next_ns) / self.interval_ns + 1;
            self.next_ns = self
                .next_ns
                .saturating_add(missed.saturating_mul(self.interval_ns));
        }
        latency
    }
}

/// Figures a thread publishes while it runs, for the live lines (relaxed
/// atomics: a reader may see a line a wake-up behind, never a torn value).
#[derive(Debug)]
pub struct Live {
    pub tid: AtomicI64,
    pub cycles: AtomicU64,
    pub act_ns: AtomicI64,
    pub min_ns: AtomicI64,
    pub max_ns: AtomicI64,
    pub sum_ns: AtomicI64,
}

impl Default for Live {
    fn default() -> Self {
        Self {
            tid: AtomicI64::new(0),
            cycles: AtomicU64::new(0),
            act_ns: AtomicI64::new(0),
            min_ns: AtomicI64::new(i64::MAX),
            max_ns: AtomicI64::new(i64::MIN),
            sum_ns: AtomicI64::new(0),
        }
    }
}

impl Live {
    #[inline]
    fn publish(&self, cycles: u64, latency_ns: i64) {
        self.cycles.store(cycles, Ordering::Relaxed);
        self.act_ns.store(latency_ns, Ordering::Relaxed);
        if latency_ns < self.min_ns.load(Ordering::Relaxed) {
            self.min_ns.store(latency_ns, Ordering::Relaxed);
        }
        if latency_ns > self.max_ns.load(Ordering::Relaxed) {
            self.max_ns.store(latency_ns, Ordering::Relaxed);
        }
        let sum = self.sum_ns.load(Ordering::Relaxed);
        self.sum_ns
            .store(sum.saturating_add(latency_ns), Ordering::Relaxed);
    }

    /// (cycles, min, act, avg, max) in ns; min/avg/max 0 before the first wake-up.
    pub fn snapshot(&self) -> (u64, i64, i64, i64, i64) {
        let c = self.cycles.load(Ordering::Relaxed);
        if c == 0 {
            return (0, 0, 0, 0, 0);
        }
        let sum = self.sum_ns.load(Ordering::Relaxed);
        (
            c,
            self.min_ns.load(Ordering::Relaxed),
            self.act_ns.load(Ordering::Relaxed),
            sum / c as i64,
            self.max_ns.load(Ordering::Relaxed),
        )
    }
}

/// What the threads share: the stop flag (set by the first thread to
/// finish its loops, by the duration or by a signal) and the start line.
pub struct Shared {
    pub stop: AtomicBool,
    /// Every thread plus the main thread: measuring starts once all are set up.
    pub start: Barrier,
    pub live: Vec<Live>,
}

impl Shared {
    pub fn new(threads: usize) -> Self {
        Self {
            stop: AtomicBool::new(false),
            start: Barrier::new(threads + 1),
            live: (0..threads).map(|_| Live::default()).collect(),
        }
    }

    fn stopping(&self) -> bool {
        self.stop.load(Ordering::Relaxed) || rt::stop_requested()
    }
}

/// What a thread measured.
pub struct ThreadResult {
    pub index: usize,
    pub tid: i64,
    pub cpu: Option<usize>,
    pub interval_ns: u64,
    /// The last latency recorded (cyclictest's "Act"), ns.
    pub last_ns: i64,
    pub latency: Metric,
    pub overflows: Option<OverflowCycles>,
    /// Heap operations inside the measurement loop (`None`: not counted,
    /// the counting allocator is not installed).
    pub allocations: Option<AllocCounts>,
    pub hist_log: Option<IntervalLog>,
}

/// Buffers a thread needs, made before it measures.
pub struct ThreadBuffers {
    pub latency: Metric,
    pub overflows: Option<OverflowCycles>,
    pub hist_log: Option<IntervalLog>,
}

impl ThreadBuffers {
    pub fn new(plan: &ThreadPlan, hist_log: Option<IntervalLog>) -> Self {
        Self {
            latency: Metric::new(),
            // cyclictest remembers as many overflow cycles as it has buckets.
            overflows: plan
                .overflow_buckets
                .map(|n| OverflowCycles::new(n, n as usize)),
            hist_log,
        }
    }
}

/// The set-up step of a thread: pin, SCHED_FIFO, mlockall, dma latency.
pub fn prepare(plan: &ThreadPlan) -> Result<rt::RtGuard, RtError> {
    rt::prepare(&RtConfig {
        cpu: plan.cpu,
        priority: plan.priority,
        lock_memory: plan.lock_memory,
        prefault_stack_bytes: PREFAULT_STACK_BYTES,
        dma_latency: dma_latency_writable(),
    })
}

/// cyclictest holds /dev/cpu_dma_latency at 0 when it may and runs on
/// without it otherwise; so does takt-cyclictest (the header then says
/// "cpu_dma_latency not held").
fn dma_latency_writable() -> bool {
    nix::unistd::access("/dev/cpu_dma_latency", nix::unistd::AccessFlags::W_OK).is_ok()
}

/// The measurement loop of thread `plan.index` (already prepared): waits on
/// `shared.start`, then measures until its loops are done or
/// `shared.stop` / a signal. Setting `shared.stop` when its loops are done
/// ends the other threads too, as in cyclictest.
pub fn run_thread(plan: &ThreadPlan, shared: &Shared, bufs: ThreadBuffers) -> ThreadResult {
    let live = &shared.live[plan.index];
    let tid = i64::from(nix::unistd::gettid().as_raw());
    live.tid.store(tid, Ordering::Relaxed);
    let ThreadBuffers {
        mut latency,
        mut overflows,
        mut hist_log,
    } = bufs;
    let counting = rt::allocation_counting_active();
    shared.start.wait();

    let mut last_ns = 0;
    let ((), counts) = rt::count_allocations(|| {
        let mut cycle = Cycle::new(CLOCK.now_ns(), plan.interval_ns);
        while !shared.stopping() {
            let now = rt::wait_until(CLOCK, cycle.deadline(), plan.wake);
            if shared.stopping() {
                break; // woken by the signal, not by the deadline
            }
            let n = cycle.cycles();
            let lat = cycle.woke(now);
            latency.record(lat);
            if let Some(o) = overflows.as_mut() {
                o.record(n, lat);
            }
            if let Some(log) = hist_log.as_mut() {
                log.record(0, lat);
                log.tick(now);
            }
            live.publish(cycle.cycles(), lat);
            last_ns = lat;
            if plan.loops != 0 && cycle.cycles() >= plan.loops {
                shared.stop.store(true, Ordering::Relaxed);
                break;
            }
        }
    });
    ThreadResult {
        index: plan.index,
        tid,
        cpu: plan.cpu,
        interval_ns: plan.interval_ns,
        last_ns,
        latency,
        overflows,
        allocations: counting.then_some(counts),
        hist_log,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_is_wake_minus_deadline() {
        let mut c = Cycle::new(1_000, 100);
        assert_eq!(c.deadline(), 1_100);
        assert_eq!(c.woke(1_107), 7);
        assert_eq!(c.deadline(), 1_200);
        assert_eq!(c.woke(1_195), -5);
        assert_eq!((c.deadline(), c.cycles()), (1_300, 2));
    }

    #[test]
    fn a_stall_is_one_late_wake_up_not_a_burst() {
        let mut c = Cycle::new(0, 100);
        // Deadline 100; woke at 450: 350 late, deadlines 200..400 skipped.
        assert_eq!(c.woke(450), 350);
        assert_eq!(c.deadline(), 500);
        // Exactly on a later deadline: that one is passed too.
        assert_eq!(c.woke(600), 100);
        assert_eq!(c.deadline(), 700);
    }

    #[test]
    fn live_figures() {
        let l = Live::default();
        assert_eq!(l.snapshot(), (0, 0, 0, 0, 0));
        l.publish(1, 10_000);
        l.publish(2, 4_000);
        l.publish(3, 7_000);
        assert_eq!(l.snapshot(), (3, 4_000, 7_000, 7_000, 10_000));
    }
}
