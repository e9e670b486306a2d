//! The AF_PACKET socket and the interface queries around it: every system
//! call of the backend except the per-burst `sendto` kick and the ring
//! accesses in `mod.rs`.

use crate::DriverError;
use std::ffi::{c_int, c_void, CString};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// Used when the driver reports no speed (veth says 10000, some say -1).
pub(super) const FALLBACK_SPEED_BPS: u64 = 10_000_000_000;

fn io_err(what: String, source: io::Error) -> DriverError {
    DriverError::Io { what, source }
}

/// A missing interface is a device spec naming nothing.
fn no_such_interface(ifname: &str) -> DriverError {
    DriverError::BadSpec {
        spec: format!("packet:{ifname}"),
        reason: format!(
            "no network interface \"{ifname}\" in this network namespace: `ip link` lists the \
             interfaces (`ip -n NAMESPACE link` inside a namespace)"
        ),
    }
}

pub(super) fn interface_down(ifname: &str) -> DriverError {
    DriverError::DeviceNotReady {
        device: format!("packet:{ifname}"),
        what: format!("interface {ifname} is down: bring it up with `ip link set {ifname} up`"),
    }
}

/// ifindex of `ifname` in the calling thread's network namespace.
pub(crate) fn ifindex(ifname: &str) -> Result<u32, DriverError> {
    let name = CString::new(ifname).map_err(|_| no_such_interface(ifname))?;
    // SAFETY: `name` is a valid NUL-terminated string that outlives the call.
    let index = unsafe { libc::if_nametoindex(name.as_ptr()) };
    if index != 0 {
        return Ok(index);
    }
    let e = io::Error::last_os_error();
    match e.raw_os_error() {
        Some(libc::ENODEV) | Some(libc::ENXIO) => Err(no_such_interface(ifname)),
        _ => Err(io_err(format!("looking up interface {ifname}"), e)),
    }
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

/// Whether the interface is administratively up (IFF_UP).
pub(super) fn is_up(fd: RawFd, ifname: &str) -> Result<bool, DriverError> {
    let mut r = ifreq(ifname);
    ioctl(fd, libc::SIOCGIFFLAGS, &mut r)
        .map_err(|e| io_err(format!("packet:{ifname}: reading the interface flags"), e))?;
    // SAFETY: SIOCGIFFLAGS filled in the flags member of the union.
    let flags = unsafe { r.ifr_ifru.ifru_flags };
    Ok(flags as c_int & libc::IFF_UP != 0)
}

pub(super) fn mac(fd: RawFd, ifname: &str) -> Result<[u8; 6], DriverError> {
    let mut r = ifreq(ifname);
    ioctl(fd, libc::SIOCGIFHWADDR, &mut r)
        .map_err(|e| io_err(format!("packet:{ifname}: reading the MAC address"), e))?;
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

const ETHTOOL_GSET: u32 = 1;

/// Link speed in bit/s from the driver (ethtool ioctl, which, unlike
/// /sys/class/net, answers for the calling thread's namespace), or `None`
/// when the driver does not know it.
pub(super) fn speed_bps(fd: RawFd, ifname: &str) -> Option<u64> {
    let mut cmd = EthtoolCmd {
        cmd: ETHTOOL_GSET,
        ..Default::default()
    };
    let mut r = ifreq(ifname);
    r.ifr_ifru.ifru_data = &mut cmd as *mut EthtoolCmd as *mut libc::c_char;
    ioctl(fd, libc::SIOCETHTOOL, &mut r).ok()?;
    let mbps = (u32::from(cmd.speed_hi) << 16) | u32::from(cmd.speed);
    // SPEED_UNKNOWN is -1 (all ones); 0 means the same.
    (mbps != 0 && mbps != u32::MAX && mbps != 0xffff).then_some(u64::from(mbps) * 1_000_000)
}

/// The kernel-shared ring memory: RX ring, then TX ring, one mapping.
pub(super) struct Mapping {
    pub ptr: *mut u8,
    pub len: usize,
}

impl Mapping {
    pub fn new(fd: RawFd, len: usize, ifname: &str) -> Result<Self, DriverError> {
        // SAFETY: a fresh shared mapping of the socket's rings; the kernel
        // checks `len` against the rings it set up. Checked before use.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_POPULATE,
                fd,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(io_err(
                format!("packet:{ifname}: mapping the rings ({len} bytes)"),
                io::Error::last_os_error(),
            ));
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
