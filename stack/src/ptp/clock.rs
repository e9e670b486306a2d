//! statime's `Clock` for the run's disciplined schedule clock: reads are
//! `now_ns`, steps and frequency changes go to the `DisciplinedClock`,
//! which counts them (so every step is in its `adjustments()`).

use std::convert::Infallible;
use std::sync::Arc;

use statime::config::TimePropertiesDS;
use statime::time::{Duration, Time};
use takt_scheduler::clock::DisciplinedClock;

/// ns on the disciplined clock as statime's `Time` (ns since the epoch of
/// the schedule clock, TAI).
pub fn to_time(ns: u64) -> Time {
    Time::from_nanos(ns)
}

/// statime's `Duration` as whole ns, saturating.
pub fn duration_ns(d: Duration) -> i64 {
    d.nanos_rounded()
        .clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
}

/// The port's handle on the disciplined clock.
#[derive(Clone, Debug)]
pub struct PortClock {
    clock: Arc<DisciplinedClock>,
}

impl PortClock {
    pub fn new(clock: Arc<DisciplinedClock>) -> Self {
        PortClock { clock }
    }
}

impl statime::Clock for PortClock {
    type Error = Infallible;

    fn now(&self) -> Time {
        to_time(self.clock.now_ns())
    }

    fn step_clock(&mut self, offset: Duration) -> Result<Time, Self::Error> {
        self.clock.step(duration_ns(offset));
        Ok(self.now())
    }

    /// statime's ppm is absolute against the clock's own rate, as the
    /// disciplined clock's ppb is against the host clock.
    fn set_frequency(&mut self, ppm: f64) -> Result<Time, Self::Error> {
        self.clock.set_frequency_ppb(ppm * 1000.0);
        Ok(self.now())
    }

    /// The master's timescale is kept by the instance (and shown in the
    /// core's status); the schedule clock has no leap-second handling.
    fn set_properties(&mut self, _: &TimePropertiesDS) -> Result<(), Self::Error> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use statime::Clock;
    use std::sync::atomic::AtomicU64;
    use takt_scheduler::clock::{HostSkew, TimeSource};

    #[test]
    fn steps_and_frequency_reach_the_disciplined_clock() {
        let t = Arc::new(AtomicU64::new(1_000_000_000));
        let disc = DisciplinedClock::new(TimeSource::Manual(Arc::clone(&t)), HostSkew::default());
        let mut c = PortClock::new(Arc::clone(&disc));
        assert_eq!(c.now(), Time::from_nanos(1_000_000_000));
        c.step_clock(Duration::from_nanos(-250)).unwrap();
        assert_eq!(disc.now_ns(), 999_999_750);
        c.set_frequency(-40.0).unwrap();
        let a = disc.adjustments();
        assert_eq!((a.steps, a.backward_steps, a.freq_ppb), (1, 1, -40_000.0));
    }
}
