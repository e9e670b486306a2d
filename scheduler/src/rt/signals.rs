//! The stop flag SIGINT/SIGTERM raise, so runs end cleanly and still write
//! their reports.

use nix::sys::signal::{self, SigHandler, Signal};
use std::sync::atomic::{AtomicBool, Ordering};

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
