//! The port's servo: one of statime's filters, wrapped so every
//! measurement's offset from the master (ptp4l's "master offset": the sync
//! exchange's raw offset minus the mean path delay) and every mean delay
//! reaches the core, which the port otherwise keeps to itself.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex};

use statime::filters::{
    BasicFilter, FilterEstimate, FilterUpdate, KalmanConfiguration, KalmanFilter,
};
use statime::port::Measurement;
use statime::time::Time;
use statime::Clock;

use super::clock::duration_ns;

/// Which of statime's filters steers the clock.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Servo {
    /// statime's Kalman filter with its default configuration (steps above
    /// 1 ms, steers over 2 s): the default, see `docs/architecture.md`.
    Kalman,
    /// statime's averaging filter with this gain (statime-linux uses 0.25).
    Basic { gain: f64 },
}

/// One offset measurement: when (disciplined clock, ns) and how far from
/// the master (ns, positive: this clock is ahead).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sample {
    pub disc_ns: u64,
    pub offset_ns: i64,
}

/// Capacity between two core calls: one port call makes at most one
/// measurement.
const FRESH: usize = 8;

/// What the filter hands the core (shared: the port owns the filter).
#[derive(Debug, Default)]
pub struct Sink {
    fresh: heapless::Vec<Sample, FRESH>,
    /// Samples that did not fit before the core collected them.
    pub overflowed: u64,
    /// Mean path (E2E) or link (P2P) delay, ns, as last reported.
    pub mean_delay_ns: Option<i64>,
    /// Measurements not given to the servo (`plausible`).
    pub implausible: u64,
    /// Times the servo broke down and was started afresh.
    pub servo_resets: u64,
}

impl Sink {
    /// The samples since the last call, oldest first.
    pub fn drain(&mut self, mut f: impl FnMut(Sample)) {
        for s in self.fresh.iter() {
            f(*s);
        }
        self.fresh.clear();
    }

    fn push(&mut self, s: Sample) {
        if self.fresh.push(s).is_err() {
            self.overflowed += 1;
        }
    }
}

pub type SharedSink = Arc<Mutex<Sink>>;

/// statime's `Filter::Config`: the servo and the sink (a port makes a new
/// filter from this whenever its master changes).
#[derive(Clone, Debug)]
pub struct FilterConfig {
    pub servo: Servo,
    pub sink: SharedSink,
}

enum Inner {
    Kalman(Box<KalmanFilter>),
    Basic(BasicFilter),
}

/// The recording filter.
pub struct RecordingFilter {
    servo: Servo,
    inner: Inner,
    sink: SharedSink,
}

impl Inner {
    fn new(servo: Servo) -> Inner {
        match servo {
            Servo::Kalman => Inner::Kalman(Box::new(
                <KalmanFilter as statime::filters::Filter>::new(KalmanConfiguration::default()),
            )),
            Servo::Basic { gain } => {
                Inner::Basic(<BasicFilter as statime::filters::Filter>::new(gain))
            }
        }
    }
}

fn time_ns(t: Time) -> u64 {
    t.nanos().saturating_to_num::<u64>()
}

/// The master's clock must read at least this (ns since the epoch) for a
/// measurement to count, and a delay may be this long at most.
const PLAUSIBLE_NS: i128 = 1_000_000_000;

/// Whether a measurement is one the servo may act on. A master whose time
/// is (nearly) the epoch, or a delay beyond a second, can only be forged
/// or broken, and statime's Kalman filter would step its own unsigned
/// filter time below zero following it (a panic, or a wrap in release).
pub fn plausible(m: &Measurement) -> bool {
    let at = i128::from(time_ns(m.event_time));
    let master_time_ok = |o: Option<statime::time::Duration>| {
        o.is_none_or(|o| at - i128::from(duration_ns(o)) >= PLAUSIBLE_NS)
    };
    let delay_ok = |d: Option<statime::time::Duration>| {
        d.is_none_or(|d| i128::from(duration_ns(d)).abs() <= PLAUSIBLE_NS)
    };
    at >= PLAUSIBLE_NS
        && master_time_ok(m.raw_sync_offset)
        && master_time_ok(m.raw_delay_offset)
        && master_time_ok(m.offset)
        && delay_ok(m.delay)
        && delay_ok(m.peer_delay)
}

impl RecordingFilter {
    /// Runs the servo; if it breaks down, starts it afresh. statime's
    /// filters turn their f64 state into fixed-point durations, which
    /// panics on NaN or overflow (also in release), and a run of forged
    /// but plausible measurements can drive the Kalman filter's state
    /// there; the clock keeps its last frequency, the new filter relearns.
    fn guarded(&mut self, f: impl FnOnce(&mut Inner) -> FilterUpdate) -> FilterUpdate {
        match catch_unwind(AssertUnwindSafe(|| f(&mut self.inner))) {
            // The port subtracts the mean delay from every offset: keep an
            // absurd one (a broken-down filter's) from reaching it.
            Ok(mut update) => {
                if update
                    .mean_delay
                    .is_some_and(|d| i128::from(duration_ns(d)).abs() > PLAUSIBLE_NS)
                {
                    update.mean_delay = None;
                }
                update
            }
            Err(_) => {
                self.inner = Inner::new(self.servo);
                self.sink
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .servo_resets += 1;
                FilterUpdate::default()
            }
        }
    }

    fn note(&self, m: Option<&Measurement>, update: &FilterUpdate) {
        let mut sink = self.sink.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(m) = m {
            if let Some(offset) = m.offset {
                sink.push(Sample {
                    disc_ns: time_ns(m.event_time),
                    offset_ns: duration_ns(offset),
                });
            }
        }
        if let Some(d) = update.mean_delay {
            sink.mean_delay_ns = Some(duration_ns(d));
        }
    }
}

impl statime::filters::Filter for RecordingFilter {
    type Config = FilterConfig;

    fn new(config: FilterConfig) -> Self {
        RecordingFilter {
            servo: config.servo,
            inner: Inner::new(config.servo),
            sink: config.sink,
        }
    }

    fn measurement<C: Clock>(&mut self, m: Measurement, clock: &mut C) -> FilterUpdate {
        if !plausible(&m) {
            self.sink
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .implausible += 1;
            return FilterUpdate::default();
        }
        let update = self.guarded(|inner| match inner {
            Inner::Kalman(k) => k.measurement(m, clock),
            Inner::Basic(b) => b.measurement(m, clock),
        });
        self.note(Some(&m), &update);
        update
    }

    fn update<C: Clock>(&mut self, clock: &mut C) -> FilterUpdate {
        let update = self.guarded(|inner| match inner {
            Inner::Kalman(k) => k.update(clock),
            Inner::Basic(b) => b.update(clock),
        });
        self.note(None, &update);
        update
    }

    fn demobilize<C: Clock>(self, clock: &mut C) {
        let _ = catch_unwind(AssertUnwindSafe(|| match self.inner {
            Inner::Kalman(k) => k.demobilize(clock),
            Inner::Basic(b) => b.demobilize(clock),
        }));
    }

    fn current_estimates(&self) -> FilterEstimate {
        catch_unwind(AssertUnwindSafe(|| match &self.inner {
            Inner::Kalman(k) => k.current_estimates(),
            Inner::Basic(b) => b.current_estimates(),
        }))
        .unwrap_or(FilterEstimate {
            offset_from_master: statime::time::Duration::ZERO,
            mean_delay: statime::time::Duration::ZERO,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use statime::filters::Filter;
    use statime::time::Duration;

    fn filter() -> (RecordingFilter, SharedSink) {
        let sink = SharedSink::default();
        let f = RecordingFilter::new(FilterConfig {
            servo: Servo::Kalman,
            sink: Arc::clone(&sink),
        });
        (f, sink)
    }

    #[test]
    fn a_servo_that_breaks_down_is_started_afresh_and_counted() {
        let (mut f, sink) = filter();
        let update = f.guarded(|_| panic!("NaN"));
        assert_eq!(update, FilterUpdate::default());
        assert_eq!(sink.lock().unwrap().servo_resets, 1);
        // An absurd mean delay never reaches the port.
        let update = f.guarded(|_| FilterUpdate {
            next_update: None,
            mean_delay: Some(Duration::from_secs(5)),
        });
        assert_eq!(update.mean_delay, None);
    }

    #[test]
    fn measurements_from_a_master_near_the_epoch_are_kept_from_the_servo() {
        let at = Time::from_nanos(1_700_000_000_000_000_000);
        let m = |offset_ns: i64| Measurement {
            event_time: at,
            raw_sync_offset: Some(Duration::from_nanos(offset_ns)),
            ..Measurement::default()
        };
        assert!(plausible(&m(3_700_000)));
        assert!(
            !plausible(&m(1_700_000_000_000_000_000)),
            "master at the epoch"
        );
        let delay = Measurement {
            event_time: at,
            peer_delay: Some(Duration::from_secs(2)),
            ..Measurement::default()
        };
        assert!(!plausible(&delay));
    }
}
