//! The counting allocator: how tests prove the data path allocates nothing
//! after start-up.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

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
