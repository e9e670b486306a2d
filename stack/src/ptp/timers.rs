//! The port's timers as deadlines on the caller's monotonic clock:
//! statime's `Reset*Timer { duration }` actions set them, `on_timers` runs
//! the due ones.

/// The timers a port has, plus the core's own BMCA tick.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Timer {
    Announce,
    Sync,
    DelayRequest,
    AnnounceReceipt,
    FilterUpdate,
    Bmca,
}

impl Timer {
    pub const ALL: [Timer; 6] = [
        Timer::Announce,
        Timer::Sync,
        Timer::DelayRequest,
        Timer::AnnounceReceipt,
        Timer::FilterUpdate,
        Timer::Bmca,
    ];
}

/// Deadlines in monotonic ns; `None` = not running.
#[derive(Clone, Debug, Default)]
pub struct Timers {
    deadline: [Option<u64>; Timer::ALL.len()],
}

/// A `core::time::Duration` as ns, saturating.
pub fn duration_to_ns(d: core::time::Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

impl Timers {
    pub fn set(&mut self, timer: Timer, now_ns: u64, after: core::time::Duration) {
        self.deadline[timer as usize] = Some(now_ns.saturating_add(duration_to_ns(after)));
    }

    pub fn stop(&mut self, timer: Timer) {
        self.deadline[timer as usize] = None;
    }

    pub fn deadline(&self, timer: Timer) -> Option<u64> {
        self.deadline[timer as usize]
    }

    /// The earliest deadline of all.
    pub fn next(&self) -> Option<u64> {
        self.deadline.iter().flatten().copied().min()
    }

    /// The timer due first at `now_ns`, stopped (it fires once).
    pub fn take_due(&mut self, now_ns: u64) -> Option<Timer> {
        let (i, _) = self
            .deadline
            .iter()
            .enumerate()
            .filter_map(|(i, d)| d.filter(|&d| d <= now_ns).map(|d| (i, d)))
            .min_by_key(|&(_, d)| d)?;
        self.deadline[i] = None;
        Some(Timer::ALL[i])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::time::Duration;

    #[test]
    fn due_timers_fire_once_in_deadline_order() {
        let mut t = Timers::default();
        t.set(Timer::Sync, 100, Duration::from_nanos(50));
        t.set(Timer::Announce, 100, Duration::from_nanos(20));
        t.set(Timer::Bmca, 100, Duration::from_secs(1));
        assert_eq!(t.next(), Some(120));
        assert_eq!(t.take_due(119), None);
        assert_eq!(t.take_due(200), Some(Timer::Announce));
        assert_eq!(t.take_due(200), Some(Timer::Sync));
        assert_eq!(t.take_due(200), None);
        assert_eq!(t.next(), Some(1_000_000_100));
        t.set(Timer::Sync, u64::MAX - 1, Duration::from_secs(5));
        assert_eq!(t.deadline(Timer::Sync), Some(u64::MAX), "saturates");
    }
}
