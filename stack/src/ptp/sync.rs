//! Whether the schedule clock is in sync now: judged off the data path (by
//! the embedded PTP port's worker, or by the ptp4l watcher) and read by the
//! data path, lock-free, to mark the samples it takes while sync is lost.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

/// Shared between the judge and the data path of one run.
#[derive(Debug, Default)]
pub struct SyncStatus {
    synced: AtomicBool,
    /// In sync -> out of sync transitions.
    losses: AtomicU64,
    /// When sync was first reached, ns on the schedule clock (0: never).
    first_lock_ns: AtomicU64,
}

impl SyncStatus {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// One relaxed load: the data path asks this per sample.
    #[inline]
    pub fn is_synced(&self) -> bool {
        self.synced.load(Ordering::Relaxed)
    }

    /// The judge's verdict at `now_ns` (schedule clock). Counts a loss
    /// when sync goes away, and remembers the first lock.
    pub fn set(&self, synced: bool, now_ns: u64) {
        let was = self.synced.swap(synced, Ordering::AcqRel);
        if synced && !was {
            let _ = self.first_lock_ns.compare_exchange(
                0,
                now_ns.max(1),
                Ordering::AcqRel,
                Ordering::Relaxed,
            );
        }
        if was && !synced {
            self.losses.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Times sync was lost after having been reached.
    pub fn losses(&self) -> u64 {
        self.losses.load(Ordering::Relaxed)
    }

    /// When sync was first reached (schedule clock), if ever.
    pub fn first_lock_ns(&self) -> Option<u64> {
        match self.first_lock_ns.load(Ordering::Acquire) {
            0 => None,
            t => Some(t),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn losses_count_transitions_and_the_first_lock_stays() {
        let s = SyncStatus::new();
        assert!(!s.is_synced());
        s.set(false, 5);
        assert_eq!(
            (s.losses(), s.first_lock_ns()),
            (0, None),
            "never synced: no loss"
        );
        s.set(true, 10);
        s.set(true, 11);
        s.set(false, 20);
        s.set(false, 21);
        s.set(true, 30);
        s.set(false, 40);
        assert_eq!(s.losses(), 2);
        assert_eq!(s.first_lock_ns(), Some(10));
    }
}
