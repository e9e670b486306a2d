//! The AF_PACKET socket: every system call of the backend except the
//! per-burst `sendto` kick, the ring accesses in `mod.rs`, the interface
//! queries (`crate::netif`) and the ring mapping (`crate::mapping`).

use crate::DriverError;
use std::ffi::{c_int, c_void};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

fn io_err(what: String, source: io::Error) -> DriverError {
    DriverError::Io { what, source }
}

/// A raw AF_PACKET socket bound to nothing yet (protocol 0: it receives
/// nothing until `bind`, so no frame of another interface slips in while
/// the rings are set up).
pub(crate) fn packet_socket(ifname: &str) -> Result<OwnedFd, DriverError> {
    // SAFETY: plain socket(2) call; the result is checked before use.
    let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        let e = io::Error::last_os_error();
        return Err(match e.raw_os_error() {
            Some(libc::EPERM) | Some(libc::EACCES) => DriverError::DeviceNotReady {
                device: format!("packet:{ifname}"),
                what: "opening an AF_PACKET socket needs CAP_NET_RAW (run as root)".into(),
            },
            _ => io_err(format!("packet:{ifname}: socket(AF_PACKET)"), e),
        });
    }
    // SAFETY: `fd` is a fresh descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

pub(super) fn setsockopt<T>(fd: RawFd, opt: c_int, val: &T, what: &str) -> Result<(), DriverError> {
    // SAFETY: `val` points to a live T of size_of::<T>() bytes; the kernel only reads it.
    let r = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_PACKET,
            opt,
            val as *const T as *const c_void,
            std::mem::size_of::<T>() as libc::socklen_t,
        )
    };
    if r < 0 {
        return Err(io_err(what.into(), io::Error::last_os_error()));
    }
    Ok(())
}

/// PACKET_STATISTICS: packets and drops since the last call (the kernel
/// resets them on read).
pub(super) fn take_stats(fd: RawFd) -> Option<libc::tpacket_stats> {
    // SAFETY: tpacket_stats (TPACKET_V2's) is plain old data; all-zero is a valid value.
    let mut st: libc::tpacket_stats = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of_val(&st) as libc::socklen_t;
    // SAFETY: `st` and `len` are live and writable; the kernel writes at most `len` bytes.
    let r = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_PACKET,
            libc::PACKET_STATISTICS,
            &mut st as *mut _ as *mut c_void,
            &mut len,
        )
    };
    (r == 0).then_some(st)
}

/// PACKET_ADD_MEMBERSHIP: a multicast group (`Some(mac)`) or promiscuous
/// mode (`None`) on `ifindex`, held as long as the socket is open.
pub(super) fn add_membership(
    fd: RawFd,
    ifindex: u32,
    mac: Option<[u8; 6]>,
    what: &str,
) -> Result<(), DriverError> {
    // SAFETY: packet_mreq is plain old data; all-zero is a valid value.
    let mut mr: libc::packet_mreq = unsafe { std::mem::zeroed() };
    mr.mr_ifindex = ifindex as c_int;
    match mac {
        Some(m) => {
            mr.mr_type = libc::PACKET_MR_MULTICAST as u16;
            mr.mr_alen = 6;
            mr.mr_address[..6].copy_from_slice(&m);
        }
        None => mr.mr_type = libc::PACKET_MR_PROMISC as u16,
    }
    setsockopt(fd, libc::PACKET_ADD_MEMBERSHIP, &mr, what)
}

/// Join the multicast groups among `macs` on `ifindex`, and turn on
/// promiscuous mode if one is a unicast address other than `dev`'s own.
/// The memberships are the socket's `fd`: they go when it closes.
pub(crate) fn join_destinations(
    fd: RawFd,
    ifindex: u32,
    dev: &crate::DeviceInfo,
    macs: &[[u8; 6]],
) -> Result<(), DriverError> {
    for &mac in macs {
        let shown = crate::format_mac(mac);
        if mac[0] & 1 == 1 {
            let what = format!("{}: joining multicast group {shown}", dev.name);
            add_membership(fd, ifindex, Some(mac), &what)?;
        } else if mac != dev.mac {
            let what = format!("{}: promiscuous mode for unicast {shown}", dev.name);
            add_membership(fd, ifindex, None, &what)?;
        }
    }
    Ok(())
}

pub(super) fn bind(fd: &OwnedFd, ifindex: u32, ifname: &str) -> Result<(), DriverError> {
    bind_protocol(fd, ifindex, libc::ETH_P_ALL as u16, ifname)
}

/// Bind to `ifindex` receiving `protocol` (0: nothing, a send-only socket).
pub(super) fn bind_protocol(
    fd: &OwnedFd,
    ifindex: u32,
    protocol: u16,
    ifname: &str,
) -> Result<(), DriverError> {
    // SAFETY: sockaddr_ll is plain old data; all-zero is a valid value.
    let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    sll.sll_family = libc::AF_PACKET as u16;
    sll.sll_protocol = protocol.to_be();
    sll.sll_ifindex = ifindex as c_int;
    // SAFETY: `sll` is a live sockaddr_ll and the length passed is its size.
    let r = unsafe {
        libc::bind(
            fd.as_raw_fd(),
            &sll as *const _ as *const libc::sockaddr,
            std::mem::size_of_val(&sll) as libc::socklen_t,
        )
    };
    if r < 0 {
        return Err(io_err(
            format!("packet:{ifname}: binding to the interface"),
            io::Error::last_os_error(),
        ));
    }
    Ok(())
}

// linux/net_tstamp.h, asm-generic/socket.h, linux/errqueue.h, linux/if_packet.h
// (not all in the libc crate for every target).
const SO_TXTIME: c_int = 61;
pub(super) const SCM_TXTIME: c_int = SO_TXTIME;
const SO_EE_ORIGIN_TXTIME: u8 = 6;
const SO_EE_ORIGIN_TIMESTAMPING: u8 = 4;
/// `ee_info` of a stamp taken when the driver got the frame.
const SCM_TSTAMP_SND: u32 = 0;
/// SO_TIMESTAMPING(_OLD); the kernel answers with the same cmsg type, or
/// SO_TIMESTAMPING_NEW (same layout on 64-bit).
const SO_TIMESTAMPING: c_int = 37;
const SO_TIMESTAMPING_NEW: c_int = 65;
/// Software stamp when the driver takes the frame.
pub(super) const TS_TX_SOFTWARE: u32 = 1 << 1;
/// Report software stamps (on the error queue).
pub(super) const TS_SOFTWARE: u32 = 1 << 4;
/// Number the stamped sends (ee_data), from 0 when turned on.
pub(super) const TS_OPT_ID: u32 = 1 << 7;
/// The error-queue entry carries the stamp only, not the frame.
pub(super) const TS_OPT_TSONLY: u32 = 1 << 11;
const SO_EE_CODE_TXTIME_MISSED: u8 = 2;
const PACKET_TX_TIMESTAMP: c_int = 16;

/// SO_TXTIME: this socket gives frames launch times on `clockid`; the
/// qdisc reports frames it drops on the socket's error queue.
pub(super) fn set_txtime(
    fd: RawFd,
    clockid: i32,
    deadline_mode: bool,
    ifname: &str,
) -> Result<(), DriverError> {
    let cfg = libc::sock_txtime {
        clockid,
        flags: libc::SOF_TXTIME_REPORT_ERRORS
            | if deadline_mode {
                libc::SOF_TXTIME_DEADLINE_MODE
            } else {
                0
            },
    };
    // SAFETY: `cfg` is a live sock_txtime and the length passed is its size.
    let r = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            SO_TXTIME,
            &cfg as *const _ as *const c_void,
            std::mem::size_of_val(&cfg) as libc::socklen_t,
        )
    };
    if r < 0 {
        let e = io::Error::last_os_error();
        return Err(match e.raw_os_error() {
            Some(libc::EPERM) => DriverError::DeviceNotReady {
                device: format!("packet:{ifname}"),
                what: "SO_TXTIME on a clock other than CLOCK_MONOTONIC needs CAP_NET_ADMIN \
                       (run as root)"
                    .into(),
            },
            _ => io_err(format!("packet:{ifname}: setting SO_TXTIME"), e),
        });
    }
    Ok(())
}

/// Room for an SCM_TXTIME (u64) and an SO_TIMESTAMPING (u32) control
/// message: CMSG_SPACE(8) + CMSG_SPACE(4) on 64-bit.
pub(super) const SEND_CMSG_SPACE: usize = 48;

/// A control buffer aligned for `cmsghdr`.
#[repr(C, align(8))]
pub(super) struct CmsgBuf<const N: usize>(pub [u8; N]);

/// SO_TIMESTAMPING on `fd`: which stamps its frames get and how they come
/// back (`TS_*` flags).
pub(super) fn set_timestamping(fd: RawFd, flags: u32) -> io::Result<()> {
    // SAFETY: `flags` is a live u32 and the length passed is its size.
    let r = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            SO_TIMESTAMPING,
            &flags as *const u32 as *const c_void,
            std::mem::size_of::<u32>() as libc::socklen_t,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Send one frame without blocking: with its launch time (`txtime_ns` on
/// the SO_TXTIME clock) when given, and with a software transmit stamp
/// asked for this frame alone when `stamp` (a per-message SO_TIMESTAMPING).
/// `cmsg` is the device's fixed control buffer.
pub(super) fn send_frame(
    fd: RawFd,
    frame: &[u8],
    txtime_ns: Option<u64>,
    stamp: bool,
    cmsg: &mut CmsgBuf<SEND_CMSG_SPACE>,
) -> io::Result<()> {
    let mut iov = libc::iovec {
        iov_base: frame.as_ptr() as *mut c_void,
        iov_len: frame.len(),
    };
    // SAFETY: msghdr is plain old data; all-zero is a valid value.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    // SAFETY: CMSG_SPACE is a pure size computation.
    let space = unsafe {
        txtime_ns.map_or(0, |_| libc::CMSG_SPACE(8)) + if stamp { libc::CMSG_SPACE(4) } else { 0 }
    } as usize;
    debug_assert!(space <= SEND_CMSG_SPACE);
    if space > 0 {
        cmsg.0[..space].fill(0);
        msg.msg_control = cmsg.0.as_mut_ptr() as *mut c_void;
        msg.msg_controllen = space as _;
        // SAFETY: msg_control points to `space` (<= SEND_CMSG_SPACE) aligned
        // bytes that outlive `msg`, laid out as the CMSG_SPACE sum above, so
        // FIRSTHDR/NXTHDR return headers whose data lie inside the buffer.
        unsafe {
            let mut c = libc::CMSG_FIRSTHDR(&msg);
            if let Some(t) = txtime_ns {
                (*c).cmsg_level = libc::SOL_SOCKET;
                (*c).cmsg_type = SCM_TXTIME;
                (*c).cmsg_len = libc::CMSG_LEN(8) as _;
                std::ptr::write_unaligned(libc::CMSG_DATA(c) as *mut u64, t);
                c = libc::CMSG_NXTHDR(&msg, c);
            }
            if stamp {
                (*c).cmsg_level = libc::SOL_SOCKET;
                (*c).cmsg_type = SO_TIMESTAMPING;
                (*c).cmsg_len = libc::CMSG_LEN(4) as _;
                std::ptr::write_unaligned(libc::CMSG_DATA(c) as *mut u32, TS_TX_SOFTWARE);
            }
        }
    }
    // SAFETY: `msg` points to live iovec/control buffers; the kernel only
    // reads the frame (bound socket: no address needed).
    let r = unsafe { libc::sendmsg(fd, &msg, libc::MSG_DONTWAIT) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Launch-time errors read off the socket's error queue.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct TxtimeErrors {
    /// SO_EE_CODE_TXTIME_INVALID_PARAM: refused at enqueue (launch time in
    /// the past, before an earlier frame's, or the wrong clock).
    pub invalid: u64,
    /// SO_EE_CODE_TXTIME_MISSED: dequeued too late to leave on time.
    pub missed: u64,
}

/// One entry of a socket's error queue that takt reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum ErrEntry {
    /// ETF refused the frame with this launch time at enqueue
    /// (SO_EE_CODE_TXTIME_INVALID_PARAM: in the past, before an earlier
    /// frame's, or the wrong clock).
    TxtimeInvalid { txtime_ns: u64 },
    /// ETF dequeued it too late to leave on time (SO_EE_CODE_TXTIME_MISSED).
    TxtimeMissed { txtime_ns: u64 },
    /// The software transmit stamp of the stamped send numbered `key`
    /// (SOF_TIMESTAMPING_OPT_ID), CLOCK_REALTIME.
    Stamp { key: u32, realtime_ns: u64 },
}

/// Whether the control message at byte `at` of the control buffer, with
/// `cmsg_len` `len`, carries `n` bytes of data inside the `reported` bytes
/// the kernel filled. The kernel sets cmsg_len (shortened if it truncated
/// the message), but a length past what it reported is not trusted.
fn cmsg_carries(at: usize, len: usize, reported: usize, n: usize) -> bool {
    // SAFETY: CMSG_LEN is a pure size computation.
    let need = unsafe { libc::CMSG_LEN(n as u32) } as usize;
    len >= need && at.checked_add(len).is_some_and(|end| end <= reported)
}

/// Read the socket's error queue without blocking, handing each entry to
/// `on`. `data` and `ctrl` are the device's fixed buffers (a frame copy in
/// `data` is truncated and thrown away). Bounded: a queue refilled while
/// it is read is read next time.
pub(super) fn drain_errqueue(
    fd: RawFd,
    data: &mut [u8],
    ctrl: &mut CmsgBuf<256>,
    mut on: impl FnMut(ErrEntry),
) {
    for _ in 0..256 {
        let mut iov = libc::iovec {
            iov_base: data.as_mut_ptr() as *mut c_void,
            iov_len: data.len(),
        };
        // SAFETY: msghdr is plain old data; all-zero is a valid value.
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = ctrl.0.as_mut_ptr() as *mut c_void;
        msg.msg_controllen = ctrl.0.len() as _;
        // SAFETY: `msg` points to live, writable buffers of the sizes given.
        let r = unsafe { libc::recvmsg(fd, &mut msg, libc::MSG_ERRQUEUE | libc::MSG_DONTWAIT) };
        if r < 0 {
            break; // EAGAIN: the queue is empty
        }
        let mut stamp_ns = None;
        let mut ee = None;
        // SAFETY: the kernel filled `msg_controllen` bytes of control
        // messages; CMSG_FIRSTHDR/NXTHDR stay inside them.
        let mut c = unsafe { libc::CMSG_FIRSTHDR(&msg) };
        while !c.is_null() {
            // SAFETY: `c` is a control message header inside `ctrl`.
            let (level, kind, len) = unsafe { ((*c).cmsg_level, (*c).cmsg_type, (*c).cmsg_len) };
            let at = c as usize - ctrl.0.as_ptr() as usize;
            let reported = (msg.msg_controllen as usize).min(ctrl.0.len());
            let has = |n: usize| cmsg_carries(at, len, reported, n);
            if level == libc::SOL_PACKET
                && kind == PACKET_TX_TIMESTAMP
                && has(std::mem::size_of::<libc::sock_extended_err>())
            {
                // SAFETY: this message carries a sock_extended_err: its
                // cmsg_len covers one and it lies inside the control bytes
                // the kernel reported (`has`); read unaligned from `ctrl`.
                ee = Some(unsafe {
                    std::ptr::read_unaligned(libc::CMSG_DATA(c) as *const libc::sock_extended_err)
                });
            } else if level == libc::SOL_SOCKET
                && (kind == SO_TIMESTAMPING || kind == SO_TIMESTAMPING_NEW)
                && has(3 * std::mem::size_of::<libc::timespec>())
            {
                // SAFETY: struct scm_timestamping: three timespecs, the
                // first the software stamp (length checked).
                let ts: libc::timespec =
                    unsafe { std::ptr::read_unaligned(libc::CMSG_DATA(c) as *const _) };
                if ts.tv_sec > 0 && (0..1_000_000_000).contains(&ts.tv_nsec) {
                    stamp_ns = Some(ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64);
                }
            }
            // SAFETY: as above; NXTHDR returns null past the last message.
            c = unsafe { libc::CMSG_NXTHDR(&msg, c) };
        }
        let Some(ee) = ee else { continue };
        let txtime_ns = u64::from(ee.ee_data) << 32 | u64::from(ee.ee_info);
        match ee.ee_origin {
            SO_EE_ORIGIN_TXTIME if ee.ee_code == SO_EE_CODE_TXTIME_MISSED => {
                on(ErrEntry::TxtimeMissed { txtime_ns })
            }
            SO_EE_ORIGIN_TXTIME => on(ErrEntry::TxtimeInvalid { txtime_ns }),
            SO_EE_ORIGIN_TIMESTAMPING if ee.ee_info == SCM_TSTAMP_SND => {
                if let Some(realtime_ns) = stamp_ns {
                    on(ErrEntry::Stamp {
                        key: ee.ee_data,
                        realtime_ns,
                    })
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::cmsg_carries;

    #[test]
    fn a_control_message_is_read_only_where_the_kernel_wrote_it() {
        let ee = std::mem::size_of::<libc::sock_extended_err>(); // 16
        let full = 16 + ee; // CMSG_LEN(16) on 64-bit
                            // A whole sock_extended_err at the start of 256 reported bytes.
        assert!(cmsg_carries(0, full, 256, ee));
        // cmsg_len too short for one (a truncated message).
        assert!(!cmsg_carries(0, full - 1, 256, ee));
        assert!(!cmsg_carries(0, 0, 256, ee));
        // cmsg_len reaching past the bytes the kernel reported.
        assert!(!cmsg_carries(240, full, 256, ee));
        assert!(!cmsg_carries(0, full, full - 1, ee));
        assert!(!cmsg_carries(8, usize::MAX, 256, ee), "no overflow");
        assert!(
            cmsg_carries(256 - full, full, 256, ee),
            "ends exactly there"
        );
    }
}
