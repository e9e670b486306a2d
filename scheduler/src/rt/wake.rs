//! Waiting for an absolute time on a clock, three ways: an absolute
//! `clock_nanosleep` (cheap, but each wake-up is as late as the timer and
//! the scheduler make it), a sleep to `t - margin` followed by a spin on the
//! clock (the sleep's lateness is absorbed by the margin), or a pure spin
//! (the lowest jitter, one whole CPU burnt).

use crate::clock::{ClockId, Timebase};
use nix::sys::time::TimeSpec;
use nix::time::{clock_nanosleep, ClockNanosleepFlags};
use std::fmt;
use std::str::FromStr;

/// How [`wait_until`] waits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Wake {
    /// Absolute `clock_nanosleep` to the time itself.
    #[default]
    Nanosleep,
    /// `clock_nanosleep` to the time minus a margin, then spin on the clock.
    Hybrid,
    /// Spin on the clock the whole way.
    Spin,
}

impl Wake {
    pub const NAMES: [&'static str; 3] = ["nanosleep", "hybrid", "spin"];

    pub fn as_str(self) -> &'static str {
        match self {
            Wake::Nanosleep => "nanosleep",
            Wake::Hybrid => "hybrid",
            Wake::Spin => "spin",
        }
    }
}

impl fmt::Display for Wake {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Wake {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "nanosleep" => Ok(Wake::Nanosleep),
            "hybrid" => Ok(Wake::Hybrid),
            "spin" => Ok(Wake::Spin),
            _ => Err(format!(
                "unknown wake mode \"{s}\": use one of {}",
                Wake::NAMES.join(", ")
            )),
        }
    }
}

/// Hybrid wake: how long before the deadline the sleep ends and the spin
/// starts. 50 us covers a normal thread's timer slack and the wake-up
/// latency of an idle VM; a SCHED_FIFO thread on an isolated CPU needs less.
pub const DEFAULT_MARGIN_NS: u64 = 50_000;

/// How [`wait_until`] waits, and (hybrid) how early the spin starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WakeConfig {
    pub mode: Wake,
    /// Hybrid only: sleep until `t - margin_ns`, then spin.
    pub margin_ns: u64,
}

impl Default for WakeConfig {
    fn default() -> Self {
        WakeConfig {
            mode: Wake::Nanosleep,
            margin_ns: DEFAULT_MARGIN_NS,
        }
    }
}

impl fmt::Display for WakeConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.mode {
            Wake::Hybrid => write!(f, "hybrid (margin {} ns)", self.margin_ns),
            m => f.write_str(m.as_str()),
        }
    }
}

/// Wait until `t_ns` on `clock` in the chosen way and return the clock
/// reading taken right after waking: for hybrid and spin the reading that
/// ended the spin, for nanosleep one reading after the sleep. `clock` is a
/// system clock or a disciplined one (which sleeps on its system clock,
/// converting `t_ns` at the start: a step during the wait moves the
/// wake-up with it only for hybrid and spin).
///
/// A signal (EINTR) ends the wait early, without spinning further, so the
/// caller can look at [`super::stop_requested`]; a spin also ends early once
/// a stop was requested. A `t_ns` in the past returns at once.
pub fn wait_until(clock: impl Timebase, t_ns: u64, wake: WakeConfig) -> u64 {
    match wake.mode {
        Wake::Nanosleep => {
            if let Some((id, sys)) = clock.sleep_target(t_ns) {
                sleep_abs(id, sys);
                return clock.now_ns();
            }
            spin_until(&clock, t_ns)
        }
        Wake::Hybrid => {
            let sleep_to = t_ns.saturating_sub(wake.margin_ns);
            if clock.now_ns() < sleep_to {
                if let Some((id, sys)) = clock.sleep_target(sleep_to) {
                    if !sleep_abs(id, sys) {
                        return clock.now_ns();
                    }
                }
            }
            spin_until(&clock, t_ns)
        }
        Wake::Spin => spin_until(&clock, t_ns),
    }
}

/// Sleep until `t_ns` on `clock` with an absolute clock_nanosleep, so a
/// late wake-up does not push every later one back. Returns early (without
/// error) when a signal arrives, so the caller can look at
/// [`super::stop_requested`]. The same as [`wait_until`] with
/// [`Wake::Nanosleep`].
pub fn sleep_until(clock: ClockId, t_ns: u64) {
    sleep_abs(clock, t_ns);
}

/// Absolute sleep; false when a signal cut it short.
fn sleep_abs(clock: ClockId, t_ns: u64) -> bool {
    let ts = TimeSpec::new(
        (t_ns / 1_000_000_000) as libc::time_t,
        (t_ns % 1_000_000_000) as libc::c_long,
    );
    // EINTR is the only error a valid absolute sleep on these clocks gets.
    clock_nanosleep(clock.to_nix(), ClockNanosleepFlags::TIMER_ABSTIME, &ts).is_ok()
}

/// Read the clock until it reaches `t_ns` (or a stop is requested).
fn spin_until(clock: &impl Timebase, t_ns: u64) -> u64 {
    loop {
        let now = clock.now_ns();
        if now >= t_ns || super::stop_requested() {
            return now;
        }
        std::hint::spin_loop();
    }
}

/// Let the calling thread's timers fire on time: a normal thread's wake-ups
/// are otherwise grouped up to 50 us late (timer slack). SCHED_FIFO threads
/// have no slack anyway; this is for everything else.
pub fn minimize_timer_slack() -> Result<(), nix::Error> {
    nix::sys::prctl::set_timerslack(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timer_slack_goes_down_to_one_ns() {
        minimize_timer_slack().unwrap();
        assert_eq!(nix::sys::prctl::get_timerslack().unwrap(), 1);
    }

    #[test]
    fn wake_modes_parse_and_print() {
        for name in Wake::NAMES {
            assert_eq!(name.parse::<Wake>().unwrap().to_string(), name);
        }
        assert_eq!(
            "busy".parse::<Wake>().unwrap_err(),
            "unknown wake mode \"busy\": use one of nanosleep, hybrid, spin"
        );
        assert_eq!(WakeConfig::default().mode, Wake::Nanosleep);
        assert_eq!(WakeConfig::default().margin_ns, DEFAULT_MARGIN_NS);
    }

    // No upper bound on how late: these VMs stall for milliseconds.
    #[test]
    fn every_mode_wakes_at_or_after_the_deadline() {
        for mode in [Wake::Nanosleep, Wake::Hybrid, Wake::Spin] {
            for clock in [ClockId::Monotonic, ClockId::Tai] {
                let wake = WakeConfig {
                    mode,
                    margin_ns: 500_000,
                };
                let t = clock.now_ns() + 2_000_000;
                let woke = wait_until(clock, t, wake);
                assert!(woke >= t, "{mode} on {clock}: woke at {woke} before {t}");
                assert!(clock.now_ns() >= woke);
            }
        }
    }

    #[test]
    fn a_past_deadline_returns_at_once() {
        let c = ClockId::Monotonic;
        for mode in [Wake::Nanosleep, Wake::Hybrid, Wake::Spin] {
            let before = c.now_ns();
            let woke = wait_until(c, before - 1_000_000, WakeConfig { mode, margin_ns: 0 });
            assert!(woke >= before);
            // "At once" without a timing bound: it did not wait a whole
            // second (a stall on this VM is milliseconds).
            assert!(woke - before < 1_000_000_000);
        }
        let before = c.now_ns();
        sleep_until(c, before - 1_000_000);
        assert!(c.now_ns() - before < 1_000_000_000);
    }

    #[test]
    fn a_margin_larger_than_the_time_spins_from_the_start() {
        let c = ClockId::Monotonic;
        let t = c.now_ns() + 1_000_000;
        let wake = WakeConfig {
            mode: Wake::Hybrid,
            margin_ns: u64::MAX,
        };
        assert!(wait_until(c, t, wake) >= t);
    }
}
