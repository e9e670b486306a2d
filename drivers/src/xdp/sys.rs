//! The AF_XDP socket and the interface queries around it: socket, socket
//! options, bind, ring and UMEM mappings, interface flags. Every system call
//! of the backend except bpf() (`bpf.rs`).

use crate::DriverError;
use std::ffi::{c_int, c_void, CString};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// Used when the driver reports no speed.
pub(super) const FALLBACK_SPEED_BPS: u64 = 10_000_000_000;

pub(super) fn io_err(what: String, source: io::Error) -> DriverError {
    DriverError::Io { what, source }
}

pub(super) fn spec(ifname: &str, queue: u32) -> String {
    format!("xdp:{ifname}@{queue}")
}

/// A missing interface is a device spec naming nothing (the packet
/// backend's wording).
fn no_such_interface(ifname: &str, queue: u32) -> DriverError {
    DriverError::BadSpec {
        spec: spec(ifname, queue),
        reason: format!(
            "no network interface \"{ifname}\" in this network namespace: `ip link` lists the \
             interfaces (`ip -n NAMESPACE link` inside a namespace)"
        ),
    }
}

pub(super) fn interface_down(ifname: &str, queue: u32) -> DriverError {
    DriverError::DeviceNotReady {
        device: spec(ifname, queue),
        what: format!("interface {ifname} is down: bring it up with `ip link set {ifname} up`"),
    }
}

/// ifindex of `ifname` in the calling thread's network namespace.
pub(super) fn ifindex(ifname: &str, queue: u32) -> Result<u32, DriverError> {
    let name = CString::new(ifname).map_err(|_| no_such_interface(ifname, queue))?;
    // SAFETY: `name` is a valid NUL-terminated string that outlives the call.
    let index = unsafe { libc::if_nametoindex(name.as_ptr()) };
    if index != 0 {
        return Ok(index);
    }
    let e = io::Error::last_os_error();
    match e.raw_os_error() {
        Some(libc::ENODEV) | Some(libc::ENXIO) => Err(no_such_interface(ifname, queue)),
        _ => Err(io_err(format!("looking up interface {ifname}"), e)),
    }
}

/// A fresh AF_XDP socket. Creating one needs CAP_NET_RAW.
pub(super) fn xsk_socket(ifname: &str, queue: u32) -> Result<OwnedFd, DriverError> {
    // SAFETY: plain socket(2) call; the result is checked before use.
    let fd = unsafe { libc::socket(libc::AF_XDP, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        let e = io::Error::last_os_error();
        return Err(match e.raw_os_error() {
            Some(libc::EPERM) | Some(libc::EACCES) => DriverError::DeviceNotReady {
                device: spec(ifname, queue),
                what: "opening an AF_XDP socket needs CAP_NET_RAW (run as root)".into(),
            },
            Some(libc::EAFNOSUPPORT) => DriverError::Unsupported(format!(
                "{}: this kernel has no AF_XDP (CONFIG_XDP_SOCKETS): use packet:{ifname}",
                spec(ifname, queue)
            )),
            _ => io_err(format!("{}: socket(AF_XDP)", spec(ifname, queue)), e),
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

pub(super) fn bind(fd: RawFd, ifindex: u32, queue: u32, flags: u16) -> io::Result<()> {
    let sxdp = libc::sockaddr_xdp {
        sxdp_family: libc::AF_XDP as u16,
        sxdp_flags: flags,
        sxdp_ifindex: ifindex,
        sxdp_queue_id: queue,
        sxdp_shared_umem_fd: 0,
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

fn ifreq(ifname: &str) -> libc::ifreq {
    // SAFETY: ifreq is plain old data; all-zero is a valid value.
    let mut r: libc::ifreq = unsafe { std::mem::zeroed() };
    for (d, s) in r
        .ifr_name
        .iter_mut()
        .take(libc::IFNAMSIZ - 1)
        .zip(ifname.bytes())
    {
        *d = s as libc::c_char;
    }
    r
}

fn ioctl(fd: RawFd, req: libc::c_ulong, r: &mut libc::ifreq) -> io::Result<()> {
    // SAFETY: `r` is a live, writable ifreq, which is what these SIOC* requests take.
    if unsafe { libc::ioctl(fd, req as _, r as *mut libc::ifreq) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The interface flags (SIOCGIFFLAGS). `ifr` is built once at open so the
/// data path's link check allocates nothing.
pub(super) fn if_flags(fd: RawFd, ifr: &libc::ifreq) -> io::Result<c_int> {
    let mut r = *ifr;
    ioctl(fd, libc::SIOCGIFFLAGS, &mut r)?;
    // SAFETY: SIOCGIFFLAGS filled in the flags member of the union.
    Ok(c_int::from(unsafe { r.ifr_ifru.ifru_flags }))
}

pub(super) fn ifreq_for(ifname: &str) -> libc::ifreq {
    ifreq(ifname)
}

/// Administratively up and carrier on (IFF_UP and IFF_RUNNING).
pub(super) fn link_ok(flags: c_int) -> bool {
    flags & libc::IFF_UP != 0 && flags & libc::IFF_RUNNING != 0
}

pub(super) fn mac(fd: RawFd, ifname: &str) -> io::Result<[u8; 6]> {
    let mut r = ifreq(ifname);
    ioctl(fd, libc::SIOCGIFHWADDR, &mut r)?;
    // SAFETY: SIOCGIFHWADDR filled in the hwaddr member of the union.
    let sa = unsafe { r.ifr_ifru.ifru_hwaddr };
    let mut mac = [0u8; 6];
    for (m, b) in mac.iter_mut().zip(sa.sa_data.iter()) {
        *m = *b as u8;
    }
    Ok(mac)
}

/// `struct ethtool_cmd` (linux/ethtool.h), for ETHTOOL_GSET.
#[repr(C)]
#[derive(Default)]
struct EthtoolCmd {
    cmd: u32,
    supported: u32,
    advertising: u32,
    speed: u16,
    duplex: u8,
    port: u8,
    phy_address: u8,
    transceiver: u8,
    autoneg: u8,
    mdio_support: u8,
    maxtxpkt: u32,
    maxrxpkt: u32,
    speed_hi: u16,
    eth_tp_mdix: u8,
    eth_tp_mdix_ctrl: u8,
    lp_advertising: u32,
    reserved: [u32; 2],
}

/// `struct ethtool_channels`, for ETHTOOL_GCHANNELS.
#[repr(C)]
#[derive(Default)]
struct EthtoolChannels {
    cmd: u32,
    max_rx: u32,
    max_tx: u32,
    max_other: u32,
    max_combined: u32,
    rx_count: u32,
    tx_count: u32,
    other_count: u32,
    combined_count: u32,
}

const ETHTOOL_GSET: u32 = 0x01;
const ETHTOOL_GCHANNELS: u32 = 0x3c;

/// Link speed in bit/s from the driver, or `None` when it does not know.
pub(super) fn speed_bps(fd: RawFd, ifname: &str) -> Option<u64> {
    let mut cmd = EthtoolCmd {
        cmd: ETHTOOL_GSET,
        ..Default::default()
    };
    let mut r = ifreq(ifname);
    r.ifr_ifru.ifru_data = &mut cmd as *mut EthtoolCmd as *mut libc::c_char;
    ioctl(fd, libc::SIOCETHTOOL, &mut r).ok()?;
    let mbps = (u32::from(cmd.speed_hi) << 16) | u32::from(cmd.speed);
    (mbps != 0 && mbps != u32::MAX && mbps != 0xffff).then_some(u64::from(mbps) * 1_000_000)
}

/// RX queues of the interface (ETHTOOL_GCHANNELS), or `None` when the
/// driver does not say.
pub(super) fn rx_queues(fd: RawFd, ifname: &str) -> Option<u32> {
    let mut ch = EthtoolChannels {
        cmd: ETHTOOL_GCHANNELS,
        ..Default::default()
    };
    let mut r = ifreq(ifname);
    r.ifr_ifru.ifru_data = &mut ch as *mut EthtoolChannels as *mut libc::c_char;
    ioctl(fd, libc::SIOCETHTOOL, &mut r).ok()?;
    let n = ch.rx_count.max(ch.combined_count);
    (n > 0).then_some(n)
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

/// Memory mapped once at open: a ring of the socket (shared with the
/// kernel) or the UMEM (anonymous, prefaulted).
pub(super) struct Mapping {
    pub ptr: *mut u8,
    pub len: usize,
}

impl Mapping {
    /// A ring of socket `fd` at page offset `pgoff` (XDP_PGOFF_*).
    pub fn ring(fd: &OwnedFd, len: usize, pgoff: u64) -> io::Result<Self> {
        // SAFETY: a fresh shared mapping of one of the socket's rings; the
        // kernel checks `len` against the ring it set up. Checked before use.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_POPULATE,
                fd.as_raw_fd(),
                pgoff as libc::off_t,
            )
        };
        Self::checked(p, len)
    }

    /// Anonymous, private, prefaulted memory (the UMEM).
    pub fn anonymous(len: usize) -> io::Result<Self> {
        // SAFETY: a fresh anonymous mapping; checked before use.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_POPULATE,
                -1,
                0,
            )
        };
        Self::checked(p, len)
    }

    fn checked(p: *mut c_void, len: usize) -> io::Result<Self> {
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        Ok(Mapping {
            ptr: p as *mut u8,
            len,
        })
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: `ptr`/`len` are exactly the mapping made in `new`, and no
        // pointer into it outlives the device that owns this Mapping.
        unsafe {
            libc::munmap(self.ptr as *mut c_void, self.len);
        }
    }
}

/// A UDP socket for the interface ioctls (AF_XDP sockets do not answer
/// them). Needs no privileges.
pub(super) fn ctl_socket(ifname: &str, queue: u32) -> Result<OwnedFd, DriverError> {
    // SAFETY: plain socket(2) call; the result is checked before use.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io_err(
            format!(
                "{}: socket(AF_INET) for interface queries",
                spec(ifname, queue)
            ),
            io::Error::last_os_error(),
        ));
    }
    // SAFETY: `fd` is a fresh descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}
