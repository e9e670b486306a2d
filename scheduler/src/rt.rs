//! The calling thread and time: waiting for an absolute time on a clock, and
//! the stop flag that SIGINT/SIGTERM raise so runs end cleanly and still
//! write their reports.

use crate::clock::ClockId;
use nix::sys::signal::{self, SigHandler, Signal};
use nix::sys::time::TimeSpec;
use nix::time::{clock_nanosleep, ClockNanosleepFlags};
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
