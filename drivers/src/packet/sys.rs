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
pub(super) fn take_stats(fd: RawFd) -> Option<libc::tpacket_stats_v3> {
    // SAFETY: tpacket_stats_v3 is plain old data; all-zero is a valid value.
    let mut st: libc::tpacket_stats_v3 = unsafe { std::mem::zeroed() };
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
    // SAFETY: sockaddr_ll is plain old data; all-zero is a valid value.
    let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    sll.sll_family = libc::AF_PACKET as u16;
    sll.sll_protocol = (libc::ETH_P_ALL as u16).to_be();
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
const SO_EE_CODE_TXTIME_INVALID_PARAM: u8 = 1;
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

/// Room for one SCM_TXTIME control message (a u64): CMSG_SPACE(8) on 64-bit.
pub(super) const TXTIME_CMSG_SPACE: usize = 32;

/// A control buffer aligned for `cmsghdr`.
#[repr(C, align(8))]
pub(super) struct CmsgBuf<const N: usize>(pub [u8; N]);

/// Send one frame with its launch time (`txtime_ns` on the SO_TXTIME
/// clock), without blocking. `cmsg` is the device's fixed control buffer.
pub(super) fn send_with_txtime(
    fd: RawFd,
    frame: &[u8],
    txtime_ns: u64,
    cmsg: &mut CmsgBuf<TXTIME_CMSG_SPACE>,
) -> io::Result<()> {
    let mut iov = libc::iovec {
        iov_base: frame.as_ptr() as *mut c_void,
        iov_len: frame.len(),
    };
    // SAFETY: msghdr is plain old data; all-zero is a valid value.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cmsg.0.as_mut_ptr() as *mut c_void;
    // SAFETY: CMSG_SPACE is a pure size computation.
    msg.msg_controllen = unsafe { libc::CMSG_SPACE(8) } as _;
    debug_assert!(msg.msg_controllen <= TXTIME_CMSG_SPACE);
    // SAFETY: msg_control points to TXTIME_CMSG_SPACE (>= CMSG_SPACE(8))
    // aligned bytes that outlive `msg`, so CMSG_FIRSTHDR is non-null and
    // its header and 8 data bytes are inside the buffer.
    unsafe {
        let c = libc::CMSG_FIRSTHDR(&msg);
        (*c).cmsg_level = libc::SOL_SOCKET;
        (*c).cmsg_type = SCM_TXTIME;
        (*c).cmsg_len = libc::CMSG_LEN(8) as _;
        std::ptr::write_unaligned(libc::CMSG_DATA(c) as *mut u64, txtime_ns);
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

/// Drain the socket's error queue without blocking, counting ETF's
/// reports. `data` and `ctrl` are the device's fixed buffers (the frame
/// copy in `data` is truncated and thrown away).
pub(super) fn drain_txtime_errors(
    fd: RawFd,
    data: &mut [u8],
    ctrl: &mut CmsgBuf<128>,
) -> TxtimeErrors {
    let mut n = TxtimeErrors::default();
    // Bounded: a queue refilled while we read is read next time.
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
        // SAFETY: the kernel filled `msg_controllen` bytes of control
        // messages; CMSG_FIRSTHDR/NXTHDR stay inside them.
        let mut c = unsafe { libc::CMSG_FIRSTHDR(&msg) };
        while !c.is_null() {
            // SAFETY: `c` is a control message header inside `ctrl`.
            let (level, kind) = unsafe { ((*c).cmsg_level, (*c).cmsg_type) };
            if level == libc::SOL_PACKET && kind == PACKET_TX_TIMESTAMP {
                // SAFETY: this message carries a sock_extended_err (then the
                // offender's address); read unaligned from inside `ctrl`.
                let ee: libc::sock_extended_err =
                    unsafe { std::ptr::read_unaligned(libc::CMSG_DATA(c) as *const _) };
                if ee.ee_origin == SO_EE_ORIGIN_TXTIME {
                    match ee.ee_code {
                        SO_EE_CODE_TXTIME_INVALID_PARAM => n.invalid += 1,
                        SO_EE_CODE_TXTIME_MISSED => n.missed += 1,
                        _ => n.invalid += 1,
                    }
                }
            }
            // SAFETY: as above; NXTHDR returns null past the last message.
            c = unsafe { libc::CMSG_NXTHDR(&msg, c) };
        }
    }
    n
}
