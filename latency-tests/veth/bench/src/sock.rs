//! UDP sockets for the baseline and the UDP flood, through nix (no unsafe
//! here): create, set options, bind or connect.

use std::net::SocketAddrV4;
use std::os::fd::OwnedFd;
use std::time::Duration;

use nix::sys::socket::{self, sockopt, AddressFamily, SockFlag, SockType, SockaddrIn};
use nix::sys::time::TimeVal;

use crate::BenchError;

/// Socket buffers asked for on both ends (the kernel doubles and caps them;
/// as root SO_*BUFFORCE passes the cap): room for bursts in the flood.
pub const SOCKET_BUFFER: usize = 4 << 20;

fn udp() -> Result<OwnedFd, BenchError> {
    socket::socket(
        AddressFamily::Inet,
        SockType::Datagram,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .map_err(BenchError::sys("socket(AF_INET, SOCK_DGRAM)"))
}

/// A UDP socket connected to `dest`, with SO_PRIORITY `priority` (the
/// stream's PCP: what an egress VLAN qos map would put in the tag).
pub fn connected(dest: SocketAddrV4, priority: i32) -> Result<OwnedFd, BenchError> {
    use std::os::fd::AsRawFd;
    let fd = udp()?;
    socket::setsockopt(&fd, sockopt::Priority, &priority)
        .map_err(BenchError::sys(format!("SO_PRIORITY {priority}")))?;
    if socket::setsockopt(&fd, sockopt::SndBufForce, &SOCKET_BUFFER).is_err() {
        // Not root: the ordinary option, capped by wmem_max.
        let _ = socket::setsockopt(&fd, sockopt::SndBuf, &SOCKET_BUFFER);
    }
    socket::connect(fd.as_raw_fd(), &SockaddrIn::from(dest))
        .map_err(BenchError::sys(format!("connect to {dest}")))?;
    Ok(fd)
}

/// A UDP socket bound to `addr` whose blocking receives give up after
/// `timeout` (so the caller can look at the clock and the stop flag), with
/// kernel receive timestamps (SO_TIMESTAMPNS) when `timestamps`.
pub fn bound(
    addr: SocketAddrV4,
    timeout: Duration,
    timestamps: bool,
) -> Result<OwnedFd, BenchError> {
    use std::os::fd::AsRawFd;
    let fd = udp()?;
    if timestamps {
        socket::setsockopt(&fd, sockopt::ReceiveTimestampns, &true)
            .map_err(BenchError::sys("SO_TIMESTAMPNS"))?;
    }
    if socket::setsockopt(&fd, sockopt::RcvBufForce, &SOCKET_BUFFER).is_err() {
        let _ = socket::setsockopt(&fd, sockopt::RcvBuf, &SOCKET_BUFFER);
    }
    let tv = TimeVal::new(timeout.as_secs() as _, timeout.subsec_micros() as _);
    socket::setsockopt(&fd, sockopt::ReceiveTimeout, &tv)
        .map_err(BenchError::sys("SO_RCVTIMEO"))?;
    socket::bind(fd.as_raw_fd(), &SockaddrIn::from(addr))
        .map_err(BenchError::sys(format!("bind {addr}")))?;
    Ok(fd)
}

/// True for the errors a receive with SO_RCVTIMEO returns when nothing came.
pub fn is_timeout(e: nix::Error) -> bool {
    matches!(e, nix::Error::EAGAIN | nix::Error::EINTR)
}

/// Hold a UDP socket with SO_TIMESTAMPNS for `max` or until a stop signal.
/// The option turns on the kernel's global receive timestamping (the
/// `netstamp_needed` static key): from then on every frame is stamped when
/// it enters the receive backlog (`netif_rx`, for a veth on the sender's
/// CPU), whichever socket reads it. Without it, AF_PACKET stamps frames
/// later, when its socket gets them, and rows would not compare.
pub fn hold_timestamps(max: Duration) -> Result<(), BenchError> {
    let fd = udp()?;
    socket::setsockopt(&fd, sockopt::ReceiveTimestampns, &true)
        .map_err(BenchError::sys("SO_TIMESTAMPNS"))?;
    let end = std::time::Instant::now() + max;
    while std::time::Instant::now() < end && !takt_scheduler::rt::stop_requested() {
        std::thread::sleep(Duration::from_millis(50));
    }
    drop(fd);
    Ok(())
}
