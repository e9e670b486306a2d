//! Interface queries by name for the socket backends (packet, xdp): the
//! ifindex lookup, the SIOCGIF* and ethtool ioctls, and the errors that name
//! a missing or down interface. Each call takes the caller's device label
//! ("packet:eth0", "xdp:eth0@0") so its messages name the device the user
//! asked for; `fd` is any socket of the calling thread's network namespace.

use crate::DriverError;
use std::ffi::{c_int, CString};
use std::io;
use std::os::fd::RawFd;

/// Used when the driver reports no speed (veth says 10000, some say -1).
pub(crate) const FALLBACK_SPEED_BPS: u64 = 10_000_000_000;

/// A missing interface is a device spec naming nothing.
pub(crate) fn no_such_interface(device: &str, ifname: &str) -> DriverError {
    DriverError::BadSpec {
        spec: device.into(),
        reason: format!(
            "no network interface \"{ifname}\" in this network namespace: `ip link` lists the \
             interfaces (`ip -n NAMESPACE link` inside a namespace)"
        ),
    }
}

pub(crate) fn interface_down(device: &str, ifname: &str) -> DriverError {
    DriverError::DeviceNotReady {
        device: device.into(),
        what: format!("interface {ifname} is down: bring it up with `ip link set {ifname} up`"),
    }
}

/// ifindex of `ifname` in the calling thread's network namespace.
pub(crate) fn ifindex(device: &str, ifname: &str) -> Result<u32, DriverError> {
    let name = CString::new(ifname).map_err(|_| no_such_interface(device, ifname))?;
    // SAFETY: `name` is a valid NUL-terminated string that outlives the call.
    let index = unsafe { libc::if_nametoindex(name.as_ptr()) };
    if index != 0 {
        return Ok(index);
    }
    let e = io::Error::last_os_error();
    match e.raw_os_error() {
        Some(libc::ENODEV) | Some(libc::ENXIO) => Err(no_such_interface(device, ifname)),
        _ => Err(DriverError::Io {
            what: format!("looking up interface {ifname}"),
            source: e,
        }),
    }
}

/// An `ifreq` naming `ifname` (cut to IFNAMSIZ - 1 bytes), the rest zero.
/// Built once at open where the data path asks again, so it allocates nothing.
pub(crate) fn ifreq(ifname: &str) -> libc::ifreq {
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

/// The interface flags (SIOCGIFFLAGS) of the interface `ifr` names.
pub(crate) fn flags(fd: RawFd, ifr: &libc::ifreq) -> io::Result<c_int> {
    let mut r = *ifr;
    ioctl(fd, libc::SIOCGIFFLAGS, &mut r)?;
    // SAFETY: SIOCGIFFLAGS filled in the flags member of the union.
    Ok(c_int::from(unsafe { r.ifr_ifru.ifru_flags }))
}

/// Whether the interface is administratively up (IFF_UP).
pub(crate) fn is_up(fd: RawFd, device: &str, ifname: &str) -> Result<bool, DriverError> {
    let flags = flags(fd, &ifreq(ifname)).map_err(|source| DriverError::Io {
        what: format!("{device}: reading the interface flags"),
        source,
    })?;
    Ok(flags & libc::IFF_UP != 0)
}

/// The interface's MTU (SIOCGIFMTU), `None` if it cannot be read.
pub(crate) fn mtu(fd: RawFd, ifname: &str) -> Option<u32> {
    let mut r = ifreq(ifname);
    ioctl(fd, libc::SIOCGIFMTU, &mut r).ok()?;
    // SAFETY: SIOCGIFMTU filled in the mtu member of the union.
    u32::try_from(unsafe { r.ifr_ifru.ifru_mtu }).ok()
}

/// Administratively up and carrier on (IFF_UP and IFF_RUNNING).
pub(crate) fn link_ok(flags: c_int) -> bool {
    flags & libc::IFF_UP != 0 && flags & libc::IFF_RUNNING != 0
}

/// The interface's MAC address (SIOCGIFHWADDR).
pub(crate) fn mac(fd: RawFd, device: &str, ifname: &str) -> Result<[u8; 6], DriverError> {
    let mut r = ifreq(ifname);
    ioctl(fd, libc::SIOCGIFHWADDR, &mut r).map_err(|source| DriverError::Io {
        what: format!("{device}: reading the MAC address"),
        source,
    })?;
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

/// `struct ethtool_channels` (linux/ethtool.h), for ETHTOOL_GCHANNELS.
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

/// SIOCETHTOOL with `cmd`, a `struct ethtool_*` whose first field is the
/// command number; the driver fills in the rest. Private because `T` must
/// be the struct that command writes (the kernel writes its full size).
fn ethtool<T>(fd: RawFd, ifname: &str, cmd: &mut T) -> io::Result<()> {
    let mut r = ifreq(ifname);
    r.ifr_ifru.ifru_data = cmd as *mut T as *mut libc::c_char;
    ioctl(fd, libc::SIOCETHTOOL, &mut r)
}

/// Link speed in bit/s from the driver (ethtool ioctl, which, unlike
/// /sys/class/net, answers for the calling thread's namespace), or `None`
/// when the driver does not know it.
pub(crate) fn speed_bps(fd: RawFd, ifname: &str) -> Option<u64> {
    let mut cmd = EthtoolCmd {
        cmd: ETHTOOL_GSET,
        ..Default::default()
    };
    ethtool(fd, ifname, &mut cmd).ok()?;
    let mbps = (u32::from(cmd.speed_hi) << 16) | u32::from(cmd.speed);
    // SPEED_UNKNOWN is -1 (all ones); 0 means the same.
    (mbps != 0 && mbps != u32::MAX && mbps != 0xffff).then_some(u64::from(mbps) * 1_000_000)
}

/// RX queues in use on the interface (ETHTOOL_GCHANNELS), or `None` when the
/// driver does not say.
pub(crate) fn rx_queues(fd: RawFd, ifname: &str) -> Option<u32> {
    let mut ch = EthtoolChannels {
        cmd: ETHTOOL_GCHANNELS,
        ..Default::default()
    };
    ethtool(fd, ifname, &mut ch).ok()?;
    // Combined channels carry rx and tx; rx channels only rx.
    let n = ch.rx_count.saturating_add(ch.combined_count);
    (n > 0).then_some(n)
}
