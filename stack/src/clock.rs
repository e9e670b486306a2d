//! The data path's view of time: the run's schedule clock (a disciplined
//! clock over a system clock, steered by PTP when it runs) and how a
//! device's timestamps and launch times map onto it.

use std::sync::Arc;
use takt_scheduler::clock::{ClockId, DisciplinedClock, Timebase};

/// A run's schedule clock plus the offset of the device's clock from the
/// system clock the schedule clock is read from. Cheap to clone.
#[derive(Clone, Debug)]
pub struct SchedClock {
    clock: Arc<DisciplinedClock>,
    /// System clock minus device clock, ns (0: the device stamps on it).
    device_offset_ns: i64,
}

impl SchedClock {
    /// `clock`, with device timestamps `device_offset_ns` behind its system
    /// clock (`run::rx_offset_ns` measures that).
    pub fn new(clock: Arc<DisciplinedClock>, device_offset_ns: i64) -> Self {
        SchedClock {
            clock,
            device_offset_ns,
        }
    }

    /// The system clock `id` as it is, for a device that stamps on it.
    pub fn system(id: ClockId) -> Self {
        Self::new(DisciplinedClock::system(id), 0)
    }

    #[inline]
    pub fn now_ns(&self) -> u64 {
        self.clock.now_ns()
    }

    pub fn disciplined(&self) -> &Arc<DisciplinedClock> {
        &self.clock
    }

    pub fn device_offset_ns(&self) -> i64 {
        self.device_offset_ns
    }

    /// A device timestamp as schedule-clock time.
    #[inline]
    pub fn from_device(&self, dev_ns: u64) -> u64 {
        self.clock
            .from_system(dev_ns.saturating_add_signed(self.device_offset_ns))
    }

    /// A schedule-clock time as the device's clock will read it (launch
    /// times).
    #[inline]
    pub fn to_device(&self, t_ns: u64) -> u64 {
        self.clock
            .to_system(t_ns)
            .saturating_add_signed(self.device_offset_ns.saturating_neg())
    }
}

impl Timebase for SchedClock {
    #[inline]
    fn now_ns(&self) -> u64 {
        self.clock.now_ns()
    }
    fn sleep_target(&self, t_ns: u64) -> Option<(ClockId, u64)> {
        self.clock.sleep_target(t_ns)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU64;
    use takt_scheduler::clock::{HostSkew, TimeSource};

    #[test]
    fn device_times_map_both_ways_through_the_offset_and_the_overlay() {
        let sys = Arc::new(AtomicU64::new(1_000_000_000));
        let disc = DisciplinedClock::new(
            TimeSource::Manual(sys),
            HostSkew {
                offset_ns: 5_000,
                drift_ppb: 0,
            },
        );
        // The device's clock runs 37 s behind the system clock.
        let c = SchedClock::new(disc, 37_000_000_000);
        let dev = 2_000_000_000u64;
        assert_eq!(c.from_device(dev), 39_000_005_000);
        assert_eq!(c.to_device(c.from_device(dev)), dev);
        assert_eq!(SchedClock::system(ClockId::Tai).device_offset_ns(), 0);
    }
}
