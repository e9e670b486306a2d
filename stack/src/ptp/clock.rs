//! statime's `Clock` for the run's disciplined schedule clock: reads are
//! `now_ns`, steps and frequency changes go to the `DisciplinedClock`,
//! which counts them (so every step is in its `adjustments()`).

use std::sync::atomic::{AtomicU64, Ordering};
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

/// The earliest time a step may land the clock on (ns since the epoch).
pub const MIN_STEP_TARGET_NS: u64 = 1_000_000_000;

/// A step the port's clock refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("refused a step of {delta_ns} ns: the clock would read before 1970-01-01T00:00:01 or beyond 2554")]
pub struct RefusedStep {
    pub delta_ns: i64,
}

/// The port's handle on the disciplined clock.
#[derive(Clone, Debug)]
pub struct PortClock {
    clock: Arc<DisciplinedClock>,
    refused_steps: Arc<AtomicU64>,
}

impl PortClock {
    /// Refused steps are counted in `refused_steps`.
    pub fn new(clock: Arc<DisciplinedClock>, refused_steps: Arc<AtomicU64>) -> Self {
        PortClock {
            clock,
            refused_steps,
        }
    }
}

impl statime::Clock for PortClock {
    type Error = RefusedStep;

    fn now(&self) -> Time {
        to_time(self.clock.now_ns())
    }

    /// Steps that would take the clock to (nearly) the epoch or past
    /// u64 ns are refused: only a forged or broken master asks for them,
    /// and statime's Kalman filter, which moves its own unsigned filter
    /// time by every step it makes, would go below zero following one.
    fn step_clock(&mut self, offset: Duration) -> Result<Time, Self::Error> {
        let delta_ns = duration_ns(offset);
        let target = i128::from(self.clock.now_ns()) + i128::from(delta_ns);
        if target < i128::from(MIN_STEP_TARGET_NS) || target > i128::from(u64::MAX) {
            self.refused_steps.fetch_add(1, Ordering::Relaxed);
            return Err(RefusedStep { delta_ns });
        }
        self.clock.step(delta_ns);
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
    use takt_scheduler::clock::{HostSkew, TimeSource};

    #[test]
    fn steps_and_frequency_reach_the_disciplined_clock() {
        let t = Arc::new(AtomicU64::new(10_000_000_000));
        let disc = DisciplinedClock::new(TimeSource::Manual(Arc::clone(&t)), HostSkew::default());
        let refused = Arc::new(AtomicU64::new(0));
        let mut c = PortClock::new(Arc::clone(&disc), Arc::clone(&refused));
        assert_eq!(c.now(), Time::from_nanos(10_000_000_000));
        c.step_clock(Duration::from_nanos(-250)).unwrap();
        assert_eq!(disc.now_ns(), 9_999_999_750);
        c.set_frequency(-40.0).unwrap();
        let a = disc.adjustments();
        assert_eq!((a.steps, a.backward_steps, a.freq_ppb), (1, 1, -40_000.0));
        // To (nearly) the epoch: refused, counted, the clock untouched.
        assert!(c.step_clock(Duration::from_nanos(-9_000_000_000)).is_err());
        assert_eq!(refused.load(Ordering::Relaxed), 1);
        assert_eq!(disc.now_ns(), 9_999_999_750);
        assert_eq!(disc.adjustments().steps, 1);
    }
}
