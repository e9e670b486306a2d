//! The schedule clock under PTP: a host clock (a system clock, optionally
//! run at a fixed offset and drift from it, as a second host's clock would
//! be: the `--clock-offset` test aid) with an overlay of offset and rate
//! that a servo steers.
//!
//! The whole mapping from the system clock is one affine function, kept as
//! (system reference, disciplined reference, rate). Readers never lock and
//! never wait for a writer: the writer fills one of [`SLOTS`] slots and then
//! publishes its number, so a writer preempted half-way (a SCHED_OTHER servo
//! thread under a SCHED_FIFO reader on the same CPU) leaves the last
//! published slot intact. A reader only retries when the writer went on to
//! reuse the very slot it was reading, which takes several further updates
//! during one read.
//!
//! The slots also keep the last few mappings: a device timestamp handed
//! over late (a PTP receive or transmit stamp read milliseconds after the
//! frame moved, on a loaded machine) is converted with the mapping that was
//! in force when it was taken, not with a newer rate or after a step, which
//! would bend a peer-delay or offset measurement by the change times the
//! delay.
//!
//! Every step is counted (and backwards steps apart), so a clock that
//! jumped during a run is in its report, never silent.

use super::ClockId;
use std::sync::atomic::{fence, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Slots of published mappings: the newest for `now_ns`, the ones before it
/// as history for `from_system` (SLOTS - 2 of them: the writer may be
/// filling the one after the newest). A servo updates a few times per
/// sync interval at most, so 8 covers a stamp read a few sync intervals
/// late.
const SLOTS: usize = 8;

/// Rates are in femto (1e-15) parts: integer math, 1e-6 ppb resolution.
const RATE_ONE: i128 = 1_000_000_000_000_000;

/// Where the host clock's raw time comes from.
#[derive(Clone, Debug)]
pub enum TimeSource {
    /// A system clock, read with `clock_gettime`.
    System(ClockId),
    /// A clock a test moves by hand (ns); nothing can sleep on it.
    Manual(Arc<AtomicU64>),
}

impl TimeSource {
    fn now_ns(&self) -> u64 {
        match self {
            TimeSource::System(id) => id.now_ns(),
            TimeSource::Manual(t) => t.load(Ordering::Acquire),
        }
    }
}

/// How this host's clock differs from the system clock it reads: a test
/// aid that makes one machine's namespaces behave like hosts whose clocks
/// disagree.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HostSkew {
    /// Host time minus system time at the start, ns.
    pub offset_ns: i64,
    /// How much faster the host clock runs, parts per billion.
    pub drift_ppb: i64,
}

/// One published mapping: `disc = disc_ref + (sys - sys_ref) * (1 + rate)`.
#[derive(Default)]
struct Slot {
    sys_ref: AtomicU64,
    disc_ref: AtomicU64,
    rate_fs: AtomicI64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Mapping {
    sys_ref: u64,
    disc_ref: u64,
    /// Rate against the system clock, femto parts.
    rate_fs: i64,
}

impl Mapping {
    fn apply(&self, sys: u64) -> u64 {
        let dt = i128::from(sys) - i128::from(self.sys_ref);
        let t = i128::from(self.disc_ref) + dt + dt * i128::from(self.rate_fs) / RATE_ONE;
        t.clamp(0, i128::from(u64::MAX)) as u64
    }

    fn invert(&self, disc: u64) -> u64 {
        let dd = i128::from(disc) - i128::from(self.disc_ref);
        let dt = dd * RATE_ONE / (RATE_ONE + i128::from(self.rate_fs));
        (i128::from(self.sys_ref) + dt).clamp(0, i128::from(u64::MAX)) as u64
    }
}

/// What the servo did to the clock so far.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Adjustments {
    /// Steps applied (any direction).
    pub steps: u64,
    /// Steps that moved the clock backwards.
    pub backward_steps: u64,
    /// Largest step by size, ns (signed as applied).
    pub largest_step_ns: i64,
    /// The servo's frequency correction now, ppb against the host clock.
    pub freq_ppb: f64,
    /// Frequency changes applied.
    pub freq_changes: u64,
}

/// The writer's side, one at a time.
struct Servo {
    /// Servo frequency correction against the host clock, ppb.
    freq_ppb: f64,
}

/// A host clock with a servo-steered overlay, shared by the threads of a
/// run (`Arc`). See the module comment.
pub struct DisciplinedClock {
    source: TimeSource,
    skew: HostSkew,
    slots: [Slot; SLOTS],
    /// Generation the writer has begun (its slot is `started % SLOTS`).
    started: AtomicU64,
    /// Generation readers use.
    published: AtomicU64,
    servo: Mutex<Servo>,
    steps: AtomicU64,
    backward_steps: AtomicU64,
    largest_step_ns: AtomicI64,
    freq_changes: AtomicU64,
}

impl std::fmt::Debug for DisciplinedClock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DisciplinedClock")
            .field("source", &self.source)
            .field("skew", &self.skew)
            .field("mapping", &self.mapping())
            .finish()
    }
}

impl DisciplinedClock {
    /// The system clock `id` itself: no skew, no correction yet.
    pub fn system(id: ClockId) -> Arc<Self> {
        Self::new(TimeSource::System(id), HostSkew::default())
    }

    /// A host clock on `source`, skewed by `skew` from it.
    pub fn new(source: TimeSource, skew: HostSkew) -> Arc<Self> {
        let now = source.now_ns();
        let rate_fs = skew.drift_ppb.saturating_mul(1_000_000);
        let first = Mapping {
            sys_ref: now,
            disc_ref: (i128::from(now) + i128::from(skew.offset_ns)).clamp(0, i128::from(u64::MAX))
                as u64,
            rate_fs,
        };
        let clock = DisciplinedClock {
            source,
            skew,
            slots: Default::default(),
            started: AtomicU64::new(0),
            published: AtomicU64::new(0),
            servo: Mutex::new(Servo { freq_ppb: 0.0 }),
            steps: AtomicU64::new(0),
            backward_steps: AtomicU64::new(0),
            largest_step_ns: AtomicI64::new(0),
            freq_changes: AtomicU64::new(0),
        };
        clock.store_slot(0, first);
        Arc::new(clock)
    }

    /// The system clock this one is read from (`None`: a manual clock).
    pub fn system_clock(&self) -> Option<ClockId> {
        match self.source {
            TimeSource::System(id) => Some(id),
            TimeSource::Manual(_) => None,
        }
    }

    pub fn skew(&self) -> HostSkew {
        self.skew
    }

    /// Now, ns on this clock.
    #[inline]
    pub fn now_ns(&self) -> u64 {
        self.mapping().apply(self.source.now_ns())
    }

    /// A reading of the system clock (a device timestamp moved onto it)
    /// as this clock's time, with the mapping in force when it was taken
    /// (the oldest kept one for older readings).
    #[inline]
    pub fn from_system(&self, sys_ns: u64) -> u64 {
        self.mapping_at(sys_ns).apply(sys_ns)
    }

    /// The system clock's reading when this clock shows `t_ns` (for launch
    /// times and sleeps, which the kernel and devices keep on the system
    /// clock).
    #[inline]
    pub fn to_system(&self, t_ns: u64) -> u64 {
        self.mapping().invert(t_ns)
    }

    /// This clock minus the system clock, now (ns).
    pub fn offset_from_system_ns(&self) -> i64 {
        let sys = self.source.now_ns();
        let t = i128::from(self.mapping().apply(sys)) - i128::from(sys);
        t.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
    }

    /// Move the clock by `delta_ns` at once (counted; backwards apart).
    pub fn step(&self, delta_ns: i64) {
        // Held until published: one writer at a time.
        let _writer = self.servo.lock().unwrap_or_else(|e| e.into_inner());
        let now = self.source.now_ns();
        let mut m = self.mapping().rebased(now);
        m.disc_ref =
            (i128::from(m.disc_ref) + i128::from(delta_ns)).clamp(0, i128::from(u64::MAX)) as u64;
        self.publish(m);
        self.steps.fetch_add(1, Ordering::Relaxed);
        if delta_ns < 0 {
            self.backward_steps.fetch_add(1, Ordering::Relaxed);
        }
        let largest = self.largest_step_ns.load(Ordering::Relaxed);
        if delta_ns.unsigned_abs() > largest.unsigned_abs() {
            self.largest_step_ns.store(delta_ns, Ordering::Relaxed);
        }
    }

    /// Run at `ppb` parts per billion against the host clock from now on
    /// (absolute, as a kernel's `adjtimex` frequency: not added to the last).
    pub fn set_frequency_ppb(&self, ppb: f64) {
        let mut servo = self.servo.lock().unwrap_or_else(|e| e.into_inner());
        let now = self.source.now_ns();
        let mut m = self.mapping().rebased(now);
        // (1 + drift)(1 + servo) - 1, in femto parts.
        let host = self.skew.drift_ppb as f64 * 1e-9;
        let servo_rate = if ppb.is_finite() { ppb * 1e-9 } else { 0.0 };
        let total = host + servo_rate + host * servo_rate;
        m.rate_fs = (total * RATE_ONE as f64).clamp(i64::MIN as f64, i64::MAX as f64) as i64;
        self.publish(m);
        servo.freq_ppb = if ppb.is_finite() { ppb } else { 0.0 };
        self.freq_changes.fetch_add(1, Ordering::Relaxed);
    }

    /// Everything the servo did so far.
    pub fn adjustments(&self) -> Adjustments {
        let freq_ppb = self
            .servo
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .freq_ppb;
        Adjustments {
            steps: self.steps.load(Ordering::Relaxed),
            backward_steps: self.backward_steps.load(Ordering::Relaxed),
            largest_step_ns: self.largest_step_ns.load(Ordering::Relaxed),
            freq_ppb,
            freq_changes: self.freq_changes.load(Ordering::Relaxed),
        }
    }

    /// The mapping readers see now. Never waits: see the module comment.
    #[inline]
    fn mapping(&self) -> Mapping {
        loop {
            let gen = self.published.load(Ordering::Acquire);
            let slot = &self.slots[gen as usize % SLOTS];
            let m = Mapping {
                sys_ref: slot.sys_ref.load(Ordering::Relaxed),
                disc_ref: slot.disc_ref.load(Ordering::Relaxed),
                rate_fs: slot.rate_fs.load(Ordering::Relaxed),
            };
            fence(Ordering::Acquire);
            // The writer has not begun reusing this slot: what was read is
            // the published mapping, whole.
            if self.started.load(Ordering::Relaxed) < gen + SLOTS as u64 {
                return m;
            }
            std::hint::spin_loop();
        }
    }

    /// The newest published mapping whose reference is at or before
    /// `sys_ns`, looking back at most SLOTS - 2 generations. Never waits.
    fn mapping_at(&self, sys_ns: u64) -> Mapping {
        loop {
            let gen = self.published.load(Ordering::Acquire);
            let oldest_back = gen.min(SLOTS as u64 - 2);
            let mut found = None;
            let mut back = 0;
            while back <= oldest_back {
                let slot = &self.slots[(gen - back) as usize % SLOTS];
                let m = Mapping {
                    sys_ref: slot.sys_ref.load(Ordering::Relaxed),
                    disc_ref: slot.disc_ref.load(Ordering::Relaxed),
                    rate_fs: slot.rate_fs.load(Ordering::Relaxed),
                };
                found = Some(m);
                if m.sys_ref <= sys_ns {
                    break;
                }
                back += 1;
            }
            fence(Ordering::Acquire);
            // The oldest slot read is reused from generation
            // gen - back + SLOTS on: not begun yet, so every read was whole.
            let oldest_read = gen - back.min(oldest_back);
            if self.started.load(Ordering::Relaxed) < oldest_read + SLOTS as u64 {
                if let Some(m) = found {
                    return m;
                }
            }
            std::hint::spin_loop();
        }
    }

    /// Next generation into its slot, then made visible (writer only,
    /// holding `servo`).
    fn publish(&self, m: Mapping) {
        let gen = self.published.load(Ordering::Relaxed) + 1;
        self.store_slot(gen, m);
    }

    fn store_slot(&self, gen: u64, m: Mapping) {
        self.started.store(gen, Ordering::Relaxed);
        fence(Ordering::Release);
        let slot = &self.slots[gen as usize % SLOTS];
        slot.sys_ref.store(m.sys_ref, Ordering::Relaxed);
        slot.disc_ref.store(m.disc_ref, Ordering::Relaxed);
        slot.rate_fs.store(m.rate_fs, Ordering::Relaxed);
        self.published.store(gen, Ordering::Release);
    }
}

impl Mapping {
    /// The same function with its reference moved to `sys` (so a new rate
    /// applies from now, without a jump).
    fn rebased(&self, sys: u64) -> Mapping {
        Mapping {
            sys_ref: sys,
            disc_ref: self.apply(sys),
            rate_fs: self.rate_fs,
        }
    }
}

/// Something whose time `rt::wait_until` can wait for: a system clock, or
/// a disciplined clock (which sleeps on its system clock).
pub trait Timebase {
    fn now_ns(&self) -> u64;
    /// The system clock and its reading to sleep until for `t_ns`; `None`
    /// when nothing can sleep on this clock (spin instead).
    fn sleep_target(&self, t_ns: u64) -> Option<(ClockId, u64)>;
}

impl Timebase for ClockId {
    #[inline]
    fn now_ns(&self) -> u64 {
        ClockId::now_ns(*self)
    }
    fn sleep_target(&self, t_ns: u64) -> Option<(ClockId, u64)> {
        Some((*self, t_ns))
    }
}

impl Timebase for DisciplinedClock {
    #[inline]
    fn now_ns(&self) -> u64 {
        DisciplinedClock::now_ns(self)
    }
    fn sleep_target(&self, t_ns: u64) -> Option<(ClockId, u64)> {
        self.system_clock().map(|id| (id, self.to_system(t_ns)))
    }
}

impl<T: Timebase + ?Sized> Timebase for &T {
    #[inline]
    fn now_ns(&self) -> u64 {
        (**self).now_ns()
    }
    fn sleep_target(&self, t_ns: u64) -> Option<(ClockId, u64)> {
        (**self).sleep_target(t_ns)
    }
}

impl<T: Timebase + ?Sized> Timebase for Arc<T> {
    #[inline]
    fn now_ns(&self) -> u64 {
        (**self).now_ns()
    }
    fn sleep_target(&self, t_ns: u64) -> Option<(ClockId, u64)> {
        (**self).sleep_target(t_ns)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manual(start: u64, skew: HostSkew) -> (Arc<AtomicU64>, Arc<DisciplinedClock>) {
        let t = Arc::new(AtomicU64::new(start));
        let c = DisciplinedClock::new(TimeSource::Manual(Arc::clone(&t)), skew);
        (t, c)
    }

    #[test]
    fn a_host_skew_is_an_offset_plus_a_drift() {
        let skew = HostSkew {
            offset_ns: 3_700_000,
            drift_ppb: 40_000,
        };
        let (t, c) = manual(1_000_000_000_000, skew);
        assert_eq!(c.now_ns(), 1_000_003_700_000);
        t.fetch_add(1_000_000_000, Ordering::AcqRel); // one second later
        assert_eq!(c.now_ns(), 1_001_003_700_000 + 40_000);
        assert_eq!(c.offset_from_system_ns(), 3_740_000);
        // to_system inverts from_system (within a ns of rounding).
        for sys in [999_000_000_000u64, 1_000_500_000_000, 1_005_000_000_000] {
            let back = c.to_system(c.from_system(sys));
            assert!(back.abs_diff(sys) <= 1, "{sys} -> {back}");
        }
    }

    #[test]
    fn steps_and_frequency_change_the_mapping_without_a_jump() {
        let (t, c) = manual(5_000_000_000, HostSkew::default());
        c.step(-2_000);
        assert_eq!(c.now_ns(), 4_999_998_000);
        c.set_frequency_ppb(100_000.0); // +100 ppm from now on
        let before = c.now_ns();
        assert_eq!(before, 4_999_998_000, "no jump at the change");
        t.fetch_add(10_000_000, Ordering::AcqRel); // 10 ms
        assert_eq!(c.now_ns(), before + 10_000_000 + 1_000);
        c.step(5_000);
        let a = c.adjustments();
        assert_eq!(
            (a.steps, a.backward_steps, a.largest_step_ns),
            (2, 1, 5_000)
        );
        assert_eq!((a.freq_ppb, a.freq_changes), (100_000.0, 1));
    }

    #[test]
    fn the_servo_corrects_against_the_host_clock_not_the_system() {
        // A host 40 ppm fast, steered -40 ppm: runs at the system's rate
        // (to 1.6e-9: (1 + 40e-6)(1 - 40e-6) = 1 - 1.6e-9).
        let skew = HostSkew {
            offset_ns: 0,
            drift_ppb: 40_000,
        };
        let (t, c) = manual(0, skew);
        c.set_frequency_ppb(-40_000.0);
        let a = c.now_ns();
        t.fetch_add(1_000_000_000, Ordering::AcqRel);
        let b = c.now_ns();
        assert!(
            (999_999_998..1_000_000_000).contains(&(b - a)),
            "1 s minus 1.6 ns, not the 40 us a wrong sign would give: {}",
            b - a
        );
    }

    #[test]
    fn a_stamp_is_converted_with_the_mapping_in_force_when_it_was_taken() {
        let (t, c) = manual(1_000_000_000, HostSkew::default());
        let before = 1_000_000_000 + 5_000_000; // 5 ms in, at rate 0
        t.store(1_010_000_000, Ordering::Release);
        c.set_frequency_ppb(1_000_000.0); // +1000 ppm from 10 ms in
        t.store(1_020_000_000, Ordering::Release);
        c.step(-3_000);
        t.store(1_030_000_000, Ordering::Release);
        // Taken before the change, read after it: the old rate, no step.
        assert_eq!(c.from_system(before), before);
        // Between the change and the step: +1000 ppm of 5 ms, no step.
        assert_eq!(c.from_system(1_015_000_000), 1_015_000_000 + 5_000);
        // After the step: 10 ms at +1000 ppm, and the step.
        assert_eq!(c.from_system(1_025_000_000), 1_025_000_000 + 15_000 - 3_000);
        // Older than every mapping kept: the oldest one.
        for _ in 0..SLOTS {
            c.step(0);
        }
        let old = c.from_system(before);
        assert_eq!(old, c.mapping_at(0).apply(before));
    }

    #[test]
    fn absurd_inputs_saturate_rather_than_wrap() {
        let (t, c) = manual(10, HostSkew::default());
        c.step(i64::MIN);
        assert_eq!(c.now_ns(), 0);
        c.step(i64::MAX);
        c.step(i64::MAX);
        c.set_frequency_ppb(f64::NAN);
        c.set_frequency_ppb(1e30);
        t.store(u64::MAX, Ordering::Release);
        let _ = c.now_ns();
        let _ = c.to_system(u64::MAX);
        let _ = c.to_system(0);
    }

    #[test]
    fn readers_see_whole_mappings_while_a_writer_steps() {
        // Every published mapping keeps disc - sys = k * 1000 for k
        // steps of 1000 ns: a torn read would show anything else.
        let (_t, c) = manual(1_000_000, HostSkew::default());
        // The writer starts only once the reader reads: on a loaded
        // machine it could otherwise finish before the reader ran.
        let reading = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let writer = {
            let (c, reading) = (Arc::clone(&c), Arc::clone(&reading));
            std::thread::spawn(move || {
                while !reading.load(std::sync::atomic::Ordering::Acquire) {
                    std::thread::yield_now();
                }
                for _ in 0..20_000 {
                    c.step(1_000);
                }
            })
        };
        loop {
            let d = c.from_system(1_000_000) - 1_000_000;
            assert_eq!(d % 1_000, 0, "torn mapping: offset {d}");
            reading.store(true, std::sync::atomic::Ordering::Release);
            if writer.is_finished() {
                break;
            }
        }
        writer.join().unwrap();
        assert_eq!(c.from_system(1_000_000) - 1_000_000, 20_000 * 1_000);
        assert_eq!(c.adjustments().steps, 20_000);
    }

    #[test]
    fn system_clocks_tick_and_sleep_on_their_own_clock() {
        let c = DisciplinedClock::system(ClockId::Tai);
        let a = c.now_ns();
        let b = ClockId::Tai.now_ns();
        assert!(b >= a && b - a < 1_000_000_000);
        let (id, t) = c.sleep_target(a + 5).unwrap();
        assert_eq!(id, ClockId::Tai);
        assert!(t.abs_diff(a + 5) <= 1);
        let (_m, manual) = manual(0, HostSkew::default());
        assert!(manual.sleep_target(5).is_none());
    }
}
