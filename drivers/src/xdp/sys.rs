//! The AF_XDP socket: socket, socket options, bind, kicks. Every system
//! call of the backend except bpf() (`bpf.rs`), the interface queries
//! (`crate::netif`) and the ring and UMEM mappings (`crate::mapping`).

use crate::DriverError;
use std::ffi::{c_int, c_void};
use std::io;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};

pub(super) fn io_err(what: String, source: io::Error) -> DriverError {
    DriverError::Io { what, source }
}

/// `xdp:IF@Q`, or `xdp:IF` for every queue.
pub(super) fn spec(ifname: &str, queue: Option<u32>) -> String {
    match queue {
        Some(q) => format!("xdp:{ifname}@{q}"),
        None => format!("xdp:{ifname}"),
    }
}

/// A fresh AF_XDP socket. Creating one needs CAP_NET_RAW.
pub(super) fn xsk_socket(device: &str, ifname: &str) -> Result<OwnedFd, DriverError> {
    // SAFETY: plain socket(2) call; the result is checked before use.
    let fd = unsafe { libc::socket(libc::AF_XDP, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        let e = io::Error::last_os_error();
        return Err(match e.raw_os_error() {
            Some(libc::EPERM) | Some(libc::EACCES) => DriverError::DeviceNotReady {
                device: device.into(),
                what: "opening an AF_XDP socket needs CAP_NET_RAW (run as root)".into(),
            },
            Some(libc::EAFNOSUPPORT) => DriverError::Unsupported(format!(
                "{device}: this kernel has no AF_XDP (CONFIG_XDP_SOCKETS): use packet:{ifname}"
            )),
            _ => io_err(format!("{device}: socket(AF_XDP)"), e),
        });
    }
    // SAFETY: `fd` is a fresh descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

pub(super) fn setsockopt<T>(fd: RawFd, opt: c_int, val: &T) -> io::Result<()> {
    // SAFETY: `val` points to a live T of size_of::<T>() bytes; the kernel only reads it.
    let r = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_XDP,
            opt,
            val as *const T as *const c_void,
            std::mem::size_of::<T>() as libc::socklen_t,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// getsockopt(SOL_XDP) of a plain-old-data struct.
fn getsockopt<T: Copy>(fd: RawFd, opt: c_int, mut val: T) -> io::Result<T> {
    let mut len = std::mem::size_of::<T>() as libc::socklen_t;
    // SAFETY: `val` and `len` are live and writable; the kernel writes at most `len` bytes.
    let r = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_XDP,
            opt,
            &mut val as *mut T as *mut c_void,
            &mut len,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    if len as usize != std::mem::size_of::<T>() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "the kernel answered {len} bytes, expected {}",
                std::mem::size_of::<T>()
            ),
        ));
    }
    Ok(val)
}

/// Where producer, consumer, flags and descriptors sit in each ring's mapping.
pub(super) fn mmap_offsets(fd: RawFd) -> io::Result<libc::xdp_mmap_offsets> {
    // SAFETY: xdp_mmap_offsets is plain old data; all-zero is a valid value.
    getsockopt(fd, libc::XDP_MMAP_OFFSETS, unsafe { std::mem::zeroed() })
}

/// Whether the bound socket runs in zero-copy mode (XDP_OPTIONS).
pub(super) fn zero_copy(fd: RawFd) -> io::Result<bool> {
    let o = getsockopt(fd, libc::XDP_OPTIONS, libc::xdp_options { flags: 0 })?;
    Ok(o.flags & libc::XDP_OPTIONS_ZEROCOPY != 0)
}

/// The kernel's drop counters for this socket (cumulative).
pub(super) fn statistics(fd: RawFd) -> Option<libc::xdp_statistics> {
    // SAFETY: xdp_statistics is plain old data; all-zero is a valid value.
    getsockopt(fd, libc::XDP_STATISTICS, unsafe { std::mem::zeroed() }).ok()
}

/// Bind to `queue`; `shared`: the bound socket whose UMEM this one shares
/// (flags must then be XDP_SHARED_UMEM alone).
pub(super) fn bind(
    fd: RawFd,
    ifindex: u32,
    queue: u32,
    flags: u16,
    shared: Option<RawFd>,
) -> io::Result<()> {
    let sxdp = libc::sockaddr_xdp {
        sxdp_family: libc::AF_XDP as u16,
        sxdp_flags: flags,
        sxdp_ifindex: ifindex,
        sxdp_queue_id: queue,
        sxdp_shared_umem_fd: shared.map_or(0, |f| f as u32),
    };
    // SAFETY: `sxdp` is a live sockaddr_xdp and the length passed is its size.
    let r = unsafe {
        libc::bind(
            fd,
            &sxdp as *const _ as *const libc::sockaddr,
            std::mem::size_of_val(&sxdp) as libc::socklen_t,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Ask the kernel to send what is on the TX ring, without waiting.
pub(super) fn kick_tx(fd: RawFd) -> io::Result<()> {
    // SAFETY: sendto with no data and no address on our own socket: the
    // kernel walks the TX ring.
    let r = unsafe {
        libc::sendto(
            fd,
            std::ptr::null(),
            0,
            libc::MSG_DONTWAIT,
            std::ptr::null(),
            0,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Wake the kernel for the fill ring, without waiting (what libxdp does
/// when the fill ring's need_wakeup flag is set).
pub(super) fn wake_rx(fd: RawFd) {
    // SAFETY: recvfrom with no buffer and no address on our own socket:
    // AF_XDP only uses it as a wake-up, nothing is written.
    unsafe {
        libc::recvfrom(
            fd,
            std::ptr::null_mut(),
            0,
            libc::MSG_DONTWAIT,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
        );
    }
}

/// Now on CLOCK_TAI, ns.
pub(super) fn tai_now_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a live, writable timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_TAI, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// A UDP socket for the interface ioctls (AF_XDP sockets do not answer
/// them). Needs no privileges.
pub(super) fn ctl_socket(device: &str) -> Result<OwnedFd, DriverError> {
    // SAFETY: plain socket(2) call; the result is checked before use.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io_err(
            format!("{device}: socket(AF_INET) for interface queries"),
            io::Error::last_os_error(),
        ));
    }
    // SAFETY: `fd` is a fresh descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}
