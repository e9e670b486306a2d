//! Socket busy polling (SO_BUSY_POLL, SO_PREFER_BUSY_POLL,
//! SO_BUSY_POLL_BUDGET) for the `packet:` and `xdp:` sockets, and the
//! tuning a caller passes to [`crate::spec::open_tuned`]. What the options
//! do on each backend is in docs/backends.md: AF_XDP polls the queue's
//! NAPI context from `rx_burst`; AF_PACKET accepts them but never records
//! a NAPI id, so the kernel has nothing to poll for it.

use crate::DriverError;
use std::ffi::{c_int, c_void};
use std::io;
use std::os::fd::RawFd;

// asm-generic/socket.h (x86_64, aarch64, riscv)
const SO_BUSY_POLL: c_int = 46;
const SO_INCOMING_NAPI_ID: c_int = 56;
const SO_PREFER_BUSY_POLL: c_int = 69;
const SO_BUSY_POLL_BUDGET: c_int = 70;

/// Busy-poll settings of one socket; all zero/false (the default) sets nothing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BusyPoll {
    /// SO_BUSY_POLL: microseconds a receive call may poll the device
    /// queue before sleeping (0: off).
    pub usec: u32,
    /// SO_PREFER_BUSY_POLL: keep the queue's interrupts masked while the
    /// application polls, so softirq processing does not race it.
    pub prefer: bool,
    /// SO_BUSY_POLL_BUDGET: frames one poll may process (0: the kernel's
    /// default, 8).
    pub budget: u16,
}

impl BusyPoll {
    /// Nothing asked for.
    pub fn is_off(&self) -> bool {
        *self == BusyPoll::default()
    }
}

/// What [`crate::spec::open_tuned`] changes on a device beyond its ring
/// sizes. The default changes nothing (what [`crate::spec::open_for`] opens).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DeviceTuning {
    /// Socket busy polling (`packet:` and `xdp:`).
    pub busy_poll: BusyPoll,
    /// `xdp:` only: bind with XDP_USE_NEED_WAKEUP (`None`: the default, on).
    pub xdp_need_wakeup: Option<bool>,
}

impl DeviceTuning {
    /// Nothing asked for.
    pub fn is_default(&self) -> bool {
        *self == DeviceTuning::default()
    }
}

fn set_int(fd: RawFd, opt: c_int, val: c_int) -> io::Result<()> {
    // SAFETY: `val` is a live c_int and the length passed is its size.
    let r = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            opt,
            &val as *const c_int as *const c_void,
            std::mem::size_of::<c_int>() as libc::socklen_t,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn get_int(fd: RawFd, opt: c_int) -> io::Result<c_int> {
    let mut val: c_int = 0;
    let mut len = std::mem::size_of::<c_int>() as libc::socklen_t;
    // SAFETY: `val` and `len` are live and writable; the kernel writes at most `len` bytes.
    let r = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            opt,
            &mut val as *mut c_int as *mut c_void,
            &mut len,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(val)
}

/// Set `bp` on `fd` (nothing when it is off). The kernel refuses
/// SO_PREFER_BUSY_POLL and SO_BUSY_POLL_BUDGET without CAP_NET_ADMIN (and,
/// on kernels that check it, a SO_BUSY_POLL above net.core.busy_read;
/// 6.18 takes one): the error names the capability and the option.
pub(crate) fn apply(fd: RawFd, bp: &BusyPoll, device: &str) -> Result<(), DriverError> {
    let set = |opt, name: &str, val: c_int, why: &str| {
        set_int(fd, opt, val).map_err(|e| match e.raw_os_error() {
            Some(libc::EPERM) | Some(libc::EACCES) => DriverError::DeviceNotReady {
                device: device.into(),
                what: format!(
                    "setting {name} {val} needs CAP_NET_ADMIN{why}: run as root, or leave \
                     the busy-poll flags out"
                ),
            },
            _ => DriverError::Io {
                what: format!("{device}: setting {name} {val}"),
                source: e,
            },
        })
    };
    if bp.usec > 0 {
        let usec = c_int::try_from(bp.usec).map_err(|_| DriverError::BadOptions {
            device: device.into(),
            reason: format!("busy-poll time {} us is too large", bp.usec),
        })?;
        set(
            SO_BUSY_POLL,
            "SO_BUSY_POLL",
            usec,
            " when above net.core.busy_read (or raise that sysctl)",
        )?;
    }
    if bp.prefer {
        set(SO_PREFER_BUSY_POLL, "SO_PREFER_BUSY_POLL", 1, "")?;
    }
    if bp.budget > 0 {
        set(
            SO_BUSY_POLL_BUDGET,
            "SO_BUSY_POLL_BUDGET",
            c_int::from(bp.budget),
            "",
        )?;
    }
    Ok(())
}

/// The busy-poll settings `fd` has now, read back with getsockopt. The
/// kernel has no getsockopt for SO_BUSY_POLL_BUDGET (ENOPROTOOPT on 6.18):
/// `budget` is 0 here; that [`apply`] succeeded is what says it was set.
pub fn read(fd: RawFd) -> io::Result<BusyPoll> {
    Ok(BusyPoll {
        usec: get_int(fd, SO_BUSY_POLL)?.max(0) as u32,
        prefer: get_int(fd, SO_PREFER_BUSY_POLL)? != 0,
        budget: 0,
    })
}

/// The NAPI context the socket last received from (SO_INCOMING_NAPI_ID):
/// 0 when none was recorded, and then busy polling has nothing to poll.
pub fn incoming_napi_id(fd: RawFd) -> io::Result<u32> {
    Ok(get_int(fd, SO_INCOMING_NAPI_ID)? as u32)
}
