//! Blocking until a receive ring has something: `ppoll` on the ring's
//! sockets, so a listener that does not spin sleeps in the kernel and is
//! woken by the frame itself (no wake-up interval, no real-time throttling
//! of a thread that never sleeps).

use std::os::fd::RawFd;

/// `pollfd`s waiting for POLLIN on each of `fds`, built once at open.
pub(crate) fn readable_set(fds: &[RawFd]) -> Vec<libc::pollfd> {
    fds.iter()
        .map(|&fd| libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        })
        .collect()
}

/// Sleep until one of `set` is readable or `timeout_ns` has passed (or a
/// signal came). True when something is readable. Allocation-free.
pub(crate) fn wait_readable(set: &mut [libc::pollfd], timeout_ns: u64) -> bool {
    for p in set.iter_mut() {
        p.revents = 0;
    }
    let ts = libc::timespec {
        tv_sec: (timeout_ns / 1_000_000_000) as libc::time_t,
        tv_nsec: (timeout_ns % 1_000_000_000) as libc::c_long,
    };
    // SAFETY: `set` is a valid, exclusively borrowed array of `set.len()`
    // pollfds that ppoll writes `revents` into; `ts` lives across the call;
    // a null sigmask keeps the thread's mask.
    let r = unsafe {
        libc::ppoll(
            set.as_mut_ptr(),
            set.len() as libc::nfds_t,
            &ts,
            std::ptr::null(),
        )
    };
    r > 0
}

/// Several devices' receive descriptors in one set: sleep until any of them
/// has a frame (`frer::Ports` over two `packet:` or `xdp:` ports).
#[derive(Debug)]
pub struct PollSet(Vec<libc::pollfd>);

impl PollSet {
    /// Built once at set-up from the devices' `rx_wait_fds`.
    pub fn new(fds: &[RawFd]) -> Self {
        PollSet(readable_set(fds))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Sleep until one descriptor is readable or `timeout_ns` passed (or a
    /// signal came). True when something is readable. Allocation-free.
    pub fn wait(&mut self, timeout_ns: u64) -> bool {
        wait_readable(&mut self.0, timeout_ns)
    }
}
