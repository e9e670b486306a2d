//! The calling thread and time: waiting for an absolute time on a clock,
//! pinning, timer slack, the stop flag that SIGINT/SIGTERM raise so runs end
//! cleanly and still write their reports, and the counting allocator that
//! proves the data path allocates nothing.

use crate::clock::ClockId;
use nix::sys::signal::{self, SigHandler, Signal};
use nix::sys::time::TimeSpec;
use nix::time::{clock_nanosleep, ClockNanosleepFlags};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, Ordering};

/// Sleep until `t_ns` on `clock` with an absolute clock_nanosleep, so a
/// late wake-up does not push every later one back. Returns early (without
/// error) when a signal arrives, so the caller can look at [`stop_requested`].
pub fn sleep_until(clock: ClockId, t_ns: u64) {
    let ts = TimeSpec::new(
        (t_ns / 1_000_000_000) as libc::time_t,
        (t_ns % 1_000_000_000) as libc::c_long,
    );
    // EINTR is the only error a valid absolute sleep on these clocks gets.
    let _ = clock_nanosleep(clock.to_nix(), ClockNanosleepFlags::TIMER_ABSTIME, &ts);
}

/// Let the calling thread's timers fire on time: a normal thread's wake-ups
/// are otherwise grouped up to 50 us late (timer slack). SCHED_FIFO threads
/// have no slack anyway; this is for everything else.
pub fn minimize_timer_slack() -> Result<(), nix::Error> {
    nix::sys::prctl::set_timerslack(1)
}

/// Pin the calling thread to one CPU.
pub fn pin_to_cpu(cpu: usize) -> Result<(), nix::Error> {
    let mut set = nix::sched::CpuSet::new();
    set.set(cpu)?;
    nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(0), &set)
}

/// CPUs this process may run on, in order.
pub fn allowed_cpus() -> Vec<usize> {
    let Ok(set) = nix::sched::sched_getaffinity(nix::unistd::Pid::from_raw(0)) else {
        return Vec::new();
    };
    (0..nix::sched::CpuSet::count())
        .filter(|&c| set.is_set(c).unwrap_or(false))
        .collect()
}

/// A global allocator that counts the heap operations of threads that opt
/// in with [`count_allocations`]: how tests prove the data path allocates
/// nothing after start-up. Install it in a test binary with
/// `#[global_allocator] static A: CountingAllocator = CountingAllocator;`.
/// Counting is per thread, so helper threads (an interval-log writer) and
/// other tests running in parallel are not counted.
pub struct CountingAllocator;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
    static FREES: Cell<u64> = const { Cell::new(0) };
}

fn note(counter: &'static std::thread::LocalKey<Cell<u64>>) {
    if COUNTING.try_with(Cell::get).unwrap_or(false) {
        let _ = counter.try_with(|c| c.set(c.get() + 1));
    }
}

// SAFETY: every method forwards to `System` unchanged; the flag and counters
// are const-initialised thread-locals without destructors, which never
// allocate, so counting cannot recurse into the allocator.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(&ALLOCS);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(&ALLOCS);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(&ALLOCS);
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        note(&FREES);
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
}

/// Heap operations one thread made inside [`count_allocations`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AllocCounts {
    /// Allocations and reallocations.
    pub allocs: u64,
    pub frees: u64,
}

/// Whether [`CountingAllocator`] is the global allocator of this program
/// (so [`count_allocations`] measures something).
pub fn allocation_counting_active() -> bool {
    let (_, n) = count_allocations(|| drop(std::hint::black_box(Box::new(0u8))));
    n.allocs > 0
}

/// Run `f` on this thread with its allocations counted (only when
/// [`CountingAllocator`] is the global allocator; otherwise counts are 0).
pub fn count_allocations<R>(f: impl FnOnce() -> R) -> (R, AllocCounts) {
    let read = || (ALLOCS.with(Cell::get), FREES.with(Cell::get));
    let (a0, f0) = read();
    COUNTING.with(|c| c.set(true));
    let r = f();
    COUNTING.with(|c| c.set(false));
    let (a1, f1) = read();
    (
        r,
        AllocCounts {
            allocs: a1 - a0,
            frees: f1 - f0,
        },
    )
}

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_stop_signal(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst); // async-signal-safe: one atomic store
}

/// Make SIGINT and SIGTERM set the stop flag instead of killing the
/// process. Without SA_RESTART, so a sleeping data path wakes at once.
pub fn install_stop_signals() -> Result<(), nix::Error> {
    let action = signal::SigAction::new(
        SigHandler::Handler(on_stop_signal),
        signal::SaFlags::empty(),
        signal::SigSet::empty(),
    );
    for sig in [Signal::SIGINT, Signal::SIGTERM] {
        // SAFETY: the handler only stores to a static atomic, which is
        // async-signal-safe; no other handler state is replaced unsafely.
        unsafe { signal::sigaction(sig, &action) }?;
    }
    Ok(())
}

/// Whether SIGINT/SIGTERM arrived (or [`request_stop`] was called).
pub fn stop_requested() -> bool {
    STOP.load(Ordering::Relaxed)
}

/// Ask running loops to stop, as a signal would.
pub fn request_stop() {
    STOP.store(true, Ordering::SeqCst);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_to_an_allowed_cpu_and_refuses_a_missing_one() {
        let cpus = allowed_cpus();
        assert!(!cpus.is_empty());
        std::thread::spawn(move || {
            pin_to_cpu(cpus[0]).unwrap();
            assert_eq!(allowed_cpus(), vec![cpus[0]]);
            assert!(pin_to_cpu(nix::sched::CpuSet::count()).is_err());
        })
        .join()
        .unwrap();
    }

    #[test]
    fn timer_slack_goes_down_to_one_ns() {
        minimize_timer_slack().unwrap();
        assert_eq!(nix::sys::prctl::get_timerslack().unwrap(), 1);
    }

    #[test]
    fn sleep_until_wakes_at_or_after_the_deadline() {
        for clock in [ClockId::Monotonic, ClockId::Tai] {
            let t = clock.now_ns() + 2_000_000;
            sleep_until(clock, t);
            assert!(clock.now_ns() >= t, "{clock}: woke before the deadline");
        }
        // a deadline in the past returns at once
        let c = ClockId::Monotonic;
        let before = c.now_ns();
        sleep_until(c, before - 1_000_000);
        assert!(c.now_ns() - before < 1_000_000_000);
    }
}
