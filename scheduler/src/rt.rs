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
